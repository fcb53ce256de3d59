//! End-to-end tests: the real server on port 0, in both modes, over HTTP.
//!
//! Each capability has a module; every scenario runs in the embedded mode (SQLite) and on
//! PostgreSQL through [`both_modes!`]. `distributed` runs the production mode as real
//! processes (`mtx-api`, `mtx-worker`s) on Redis and PostgreSQL.

mod auth;
mod bad_input;
mod callbacks;
mod cleanup;
mod distributed;
mod evolve;
mod hygiene;
mod jobs;
mod model_provider;
mod provisioning;
mod startup;
mod upgrade;

/// Generates `embedded_<name>` and `postgres_<name>` tests running `$body(mode)`.
#[macro_export]
macro_rules! both_modes {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() -> anyhow::Result<()> {
                super::$body(mtx_tests::Mode::Embedded).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                super::$body(mtx_tests::Mode::Postgres).await
            }
        }
    };
}
