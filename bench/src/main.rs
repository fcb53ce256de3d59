//! `mtx-bench`: see `mtx_bench` (the library) for the layout and `bench/README.md` for how to
//! run it and what the numbers mean.

use std::process::ExitCode;

use anyhow::Context;
use mtx_bench::args::{self, Command, Common, USAGE};
use mtx_bench::client::Sidecar;
use mtx_bench::scenario::{Report, enqueue_latency, poll_latency, provision};

#[tokio::main]
async fn main() -> ExitCode {
    let command = match args::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("mtx-bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mtx-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    let code = match command {
        Command::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Provision(params) => {
            let client = client(&params.common)?;
            emit(&params.common, &provision::run(&client, &params).await)?
        }
        Command::EnqueueLatency(params) => {
            let client = client(&params.common)?;
            emit(
                &params.common,
                &enqueue_latency::run(&client, &params).await,
            )?
        }
        Command::PollLatency(params) => {
            let client = client(&params.common)?;
            emit(&params.common, &poll_latency::run(&client, &params).await)?
        }
    };
    Ok(code)
}

fn client(common: &Common) -> anyhow::Result<Sidecar> {
    Sidecar::new(common.client.clone()).context("building the HTTP client")
}

/// Prints the report (and its JSON line with `--json`); the exit status says whether it failed.
fn emit(common: &Common, report: &impl Report) -> anyhow::Result<ExitCode> {
    print!("{report}");
    if common.json {
        println!(
            "{}",
            serde_json::to_string(report).context("serialising the report")?
        );
    }
    Ok(if report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
