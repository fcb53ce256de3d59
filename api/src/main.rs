//! `mtx-api`: the sidecar server. `mtx-api config` prints the effective configuration; the
//! operator commands (`plan`, `drift`, `repair`) are in [`mtx_api::cli`].

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use mtx_shared::config::Config;
use mtx_shared::lifecycle;
use mtx_shared::system::System;

fn main() -> ExitCode {
    lifecycle::main_with_commands("mtx-api", mtx_api::cli::COMMANDS, |_| Ok(()), run)
}

async fn run(config: Config, args: Vec<String>) -> anyhow::Result<()> {
    if !args.is_empty() {
        return mtx_api::cli::run(config, &args).await;
    }
    let addr = format!("{}:{}", config.host, config.port);
    let system = Arc::new(System::build(config).await?);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let shutdown = lifecycle::shutdown_on_signals();
    mtx_api::serve(listener, system, shutdown).await
}
