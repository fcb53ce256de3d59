use redis::Commands as _;

use super::owner::{NAME_PREFIX, Owner};
use super::{redis_url, sweep_once};

/// A key prefix of its own on the test Redis ([`redis_url`]), for a scheduler's hash tag
/// (`{<prefix>}…`): every key under it is deleted when this guard is dropped.
#[derive(Debug)]
pub struct RedisPrefix {
    prefix: String,
}

impl RedisPrefix {
    /// A fresh prefix, `mtx_test_<pid>_<start>_<random>` (see the module doc). The first fixture
    /// of a process sweeps the leftovers of dead test processes first.
    pub fn new() -> Self {
        sweep_once();
        Self {
            prefix: Owner::fresh_name(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Deletes every key of this prefix now, as a Redis restart without persistence (or a
    /// `FLUSHALL`) would for this queue alone (the Redis is shared with other tests); returns how
    /// many there were.
    pub fn flush(&self) -> redis::RedisResult<usize> {
        let mut conn = redis::Client::open(redis_url())?.get_connection()?;
        delete_keys(&mut conn, &self.prefix)
    }
}

impl Default for RedisPrefix {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        // Synchronous, and never a panic: it may run while a failed test unwinds. Keys left
        // behind are swept by a later run.
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, prefix = %self.prefix, "could not delete a test prefix's keys");
        }
    }
}

/// Deletes every key under the hash tag `{prefix}`; returns how many there were.
fn delete_keys(conn: &mut redis::Connection, prefix: &str) -> redis::RedisResult<usize> {
    let keys: Vec<String> = conn
        .scan_match::<_, String>(format!("{{{prefix}}}*"))?
        .collect::<Result<_, _>>()?;
    for chunk in keys.chunks(500) {
        let _: () = conn.del(chunk)?;
    }
    Ok(keys.len())
}

/// Deletes the keys of every test prefix whose owner is gone.
pub(super) fn sweep_orphans() -> redis::RedisResult<()> {
    let mut conn = redis::Client::open(redis_url())?.get_connection()?;
    let keys: Vec<String> = conn
        .scan_match::<_, String>(format!("{{{NAME_PREFIX}*"))?
        .collect::<Result<_, _>>()?;
    let mut orphaned: Vec<&str> = keys
        .iter()
        .filter_map(|key| key.strip_prefix('{')?.split_once('}'))
        .map(|(prefix, _)| prefix)
        .filter(|prefix| Owner::of(prefix).is_some_and(|owner| owner.is_gone()))
        .collect();
    orphaned.sort_unstable();
    orphaned.dedup();
    for prefix in orphaned {
        delete_keys(&mut conn, prefix)?;
    }
    Ok(())
}
