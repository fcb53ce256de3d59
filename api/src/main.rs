//! `mtx-api`: the sidecar server. `mtx-api config` prints the effective configuration.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use mtx_shared::config::Config;
use mtx_shared::lifecycle;
use mtx_shared::system::System;

fn main() -> ExitCode {
    let config = match Config::from_process_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mtx-api: {e}");
            return ExitCode::from(2);
        }
    };
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("config") => {
            return match serde_json::to_string_pretty(&config) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("mtx-api: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(other) => {
            eprintln!("mtx-api: unknown argument '{other}'\nusage: mtx-api [config]");
            return ExitCode::from(2);
        }
    }
    lifecycle::init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mtx-api: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mtx-api: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let addr = format!("{}:{}", config.host, config.port);
    let system = Arc::new(System::build(config).await?);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let shutdown = lifecycle::shutdown_on_signals();
    mtx_api::serve(listener, system, shutdown).await
}
