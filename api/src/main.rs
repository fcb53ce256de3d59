//! `mtx-api`: the sidecar server. `mtx-api config` prints the effective configuration.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use mtx_shared::config::Config;
use mtx_shared::lifecycle;
use mtx_shared::system::System;

fn main() -> ExitCode {
    lifecycle::main("mtx-api", |_| Ok(()), run)
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
