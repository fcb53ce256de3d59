//! Who made a fixture: the process id and start time of the test process, encoded in every name
//! the fixtures create (`mtx_test_<pid>_<start>_<random>`), so that a later run can tell a
//! leftover of a dead process from the fixture of a test still running.
//!
//! The start time (clock ticks since boot, `/proc/<pid>/stat` field 22) guards against a
//! recycled pid: a live process with the same pid but another start time is not the owner.

use std::sync::OnceLock;

/// The start of every name the fixtures create.
pub(super) const NAME_PREFIX: &str = "mtx_test_";

/// A test process, as named in its fixtures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Owner {
    pid: u32,
    start: u64,
}

impl Owner {
    /// This process.
    pub(super) fn current() -> Self {
        static CURRENT: OnceLock<Owner> = OnceLock::new();
        *CURRENT.get_or_init(|| {
            let pid = std::process::id();
            Owner {
                pid,
                // Without /proc the start is unknown; 0 never matches a sweep's reading, but
                // then no sweep runs at all (see `is_gone`).
                start: start_time(pid).unwrap_or(0),
            }
        })
    }

    /// A fresh name owned by this process: `mtx_test_<pid>_<start>_<16 hex digits>`, valid as
    /// an unquoted PostgreSQL identifier and as a Redis prefix.
    pub(super) fn fresh_name() -> String {
        let owner = Self::current();
        let random = uuid::Uuid::new_v4().simple().to_string();
        format!(
            "{NAME_PREFIX}{}_{}_{}",
            owner.pid,
            owner.start,
            &random[..16]
        )
    }

    /// The owner a fixture name encodes; `None` for names not made by [`Owner::fresh_name`].
    pub(super) fn of(name: &str) -> Option<Self> {
        let mut parts = name.strip_prefix(NAME_PREFIX)?.split('_');
        let pid = parts.next()?.parse().ok()?;
        let start = parts.next()?.parse().ok()?;
        let random = parts.next()?;
        let well_formed = random.len() == 16
            && random.bytes().all(|b| b.is_ascii_hexdigit())
            && parts.next().is_none();
        well_formed.then_some(Self { pid, start })
    }

    /// Whether the owner is certainly no longer running. Where `/proc` cannot be read, nothing
    /// is ever considered gone.
    pub(super) fn is_gone(&self) -> bool {
        if start_time(std::process::id()).is_none() {
            return false;
        }
        start_time(self.pid) != Some(self.start)
    }
}

/// The start time of process `pid`, in clock ticks since boot.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain anything: count the fields
    // after its closing one, which starts with field 3.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(22 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_name_names_this_process_as_its_owner() {
        let name = Owner::fresh_name();
        assert_eq!(Owner::of(&name), Some(Owner::current()));
        assert!(!Owner::current().is_gone());
        assert!(name.len() <= 63, "{name} is too long for PostgreSQL");
    }

    #[test]
    fn other_names_have_no_owner() {
        for name in [
            "postgres",
            "mtx_test_does_not_exist",
            "mtx_test_0c9f2b3e4d5a6b7c8d9e0f1a2b3c4d5e",
            "mtx_test_12_34_not-hex-digits!!",
            "mtx_test_12_34_0123456789abcdef_more",
        ] {
            assert_eq!(Owner::of(name), None, "{name}");
        }
    }

    #[test]
    fn an_owner_with_another_start_time_is_gone() {
        let current = Owner::current();
        if current.start == 0 {
            return; // no /proc: nothing is ever gone
        }
        let recycled = Owner {
            pid: current.pid,
            start: current.start + 1,
        };
        assert!(recycled.is_gone());
    }
}
