//! Process lifecycle shared by both binaries: logging set-up and shutdown signals.

use tokio_util::sync::CancellationToken;

use crate::config::{LogConfig, LogFormat};

/// Structured logging to stderr, filtered and formatted as `log` says (`RUST_LOG`,
/// `MTX_LOG_FORMAT`, read by the configuration).
pub fn init_tracing(log: &LogConfig) {
    // The configuration has parsed the filter already; `info` only if that ever changes.
    let filter = tracing_subscriber::EnvFilter::builder()
        .parse(&log.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // Already initialised (tests start several servers in one process): keep the first.
    let _ = result;
}

/// A token cancelled on SIGINT or SIGTERM.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {}
            () = term => {}
        }
        tracing::info!("shutdown requested");
        trigger.cancel();
    });
    token
}

/// A sub-command a binary accepts besides serving: its name and a usage line for its
/// arguments.
#[derive(Debug, Clone, Copy)]
pub struct Command {
    pub name: &'static str,
    pub usage: &'static str,
}

/// The common `main` of both binaries: load and validate the configuration (exit 2 naming the
/// key on error), answer `<binary> config` by printing every key's effective value (secrets
/// masked, [`crate::config::Config::effective`]), check `preflight`, set up logging, and run `run` on a multi-threaded runtime.
pub fn main<F, Fut>(
    binary: &str,
    preflight: fn(&crate::config::Config) -> Result<(), String>,
    run: F,
) -> std::process::ExitCode
where
    F: FnOnce(crate::config::Config) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    main_with_commands(binary, &[], preflight, |config, _| run(config))
}

/// Like [`main`], for a binary that also has `commands`: `run` receives the command line after
/// the binary's name (empty: serve) once its first word is known to be one of `commands`;
/// anything else is answered with the usage and exit code 2.
pub fn main_with_commands<F, Fut>(
    binary: &str,
    commands: &[Command],
    preflight: fn(&crate::config::Config) -> Result<(), String>,
    run: F,
) -> std::process::ExitCode
where
    F: FnOnce(crate::config::Config, Vec<String>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    use std::process::ExitCode;
    let config = match crate::config::Config::from_process_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{binary}: {e}");
            return ExitCode::from(2);
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => {}
        Some("config") => {
            return match serde_json::to_string_pretty(&config.effective()) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{binary}: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(name) if commands.iter().any(|c| c.name == name) => {}
        Some(other) => {
            let mut usage = format!("usage: {binary} [config]");
            for command in commands {
                usage.push_str(&format!(
                    "\n       {binary} {} {}",
                    command.name, command.usage
                ));
            }
            eprintln!("{binary}: unknown argument '{other}'\n{usage}");
            return ExitCode::from(2);
        }
    }
    if let Err(message) = preflight(&config) {
        eprintln!("{binary}: {message}");
        return ExitCode::from(2);
    }
    init_tracing(&config.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{binary}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{binary}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
