use anyhow::Context as _;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};

use super::owner::{NAME_PREFIX, Owner};
use super::{block_on_own_runtime, database_url, sweep_once, url_with_database};

/// A fresh PostgreSQL database on the test server ([`database_url`]), dropped when this guard
/// is dropped, whether the test passed or panicked. `WITH (FORCE)` ends the connections pools
/// of the code under test still hold.
#[derive(Debug)]
pub struct ScratchDatabase {
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates a database named `mtx_test_<pid>_<start>_<random>` (see the module doc). The
    /// first one of a process sweeps the leftovers of dead test processes first.
    pub async fn create() -> anyhow::Result<Self> {
        sweep_once();
        let name = Owner::fresh_name();
        let mut admin = admin_connection().await?;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .with_context(|| format!("creating the scratch database {name}"))?;
        Ok(Self {
            url: url_with_database(&database_url(), &name),
            name,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of this database (the test server's URL with the database replaced).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A pool of at most `max_connections` on this database.
    pub async fn pool(&self, max_connections: u32) -> anyhow::Result<sqlx::PgPool> {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(&self.url)
            .await
            .with_context(|| format!("connecting to the scratch database {}", self.name))
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        let dropped = block_on_own_runtime(async move {
            let mut admin = admin_connection().await?;
            drop_database(&mut admin, &name).await
        });
        // Never a panic here: it may run while a failed test unwinds. A database left behind is
        // swept by a later run.
        if let Err(e) | Ok(Err(e)) = dropped {
            tracing::warn!(error = %e, "could not drop a scratch database");
        }
    }
}

async fn admin_connection() -> anyhow::Result<PgConnection> {
    let url = database_url();
    PgConnection::connect(&url)
        .await
        .with_context(|| format!("connecting to the test PostgreSQL server at {url}"))
}

async fn drop_database(admin: &mut PgConnection, name: &str) -> anyhow::Result<()> {
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(admin)
    .await
    .with_context(|| format!("dropping the scratch database {name}"))?;
    Ok(())
}

/// Drops every scratch database whose owner is gone.
pub(super) async fn sweep_orphans() -> anyhow::Result<()> {
    let mut admin = admin_connection().await?;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)")
            .bind(NAME_PREFIX)
            .fetch_all(&mut admin)
            .await
            .context("listing the scratch databases")?;
    for name in names {
        if Owner::of(&name).is_some_and(|owner| owner.is_gone()) {
            // Another process may be sweeping the same leftover: losing that race is fine.
            if let Err(e) = drop_database(&mut admin, &name).await {
                tracing::warn!(error = %e, "could not drop a leftover scratch database");
            }
        }
    }
    Ok(())
}
