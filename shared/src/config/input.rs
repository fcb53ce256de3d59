//! One raw setting on its way in, from the environment or a config file, and the rules that
//! read it. Every rule reports under the name the operator wrote (`MTX_WORKER_SIZE`,
//! `jobs.workerSize`, `package.json: cds.requires.multitenancy.jobs.workerSize`), so a message
//! always names the key whichever source the value came from.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::ConfigError;

/// Where a raw value was written: an environment variable's text (also the form of the
/// declared defaults) or a JSON value of a config file.
#[derive(Debug, Clone, Copy)]
pub(super) enum Raw<'a> {
    Env(&'a str),
    File(&'a Value),
}

/// A raw value with the name errors report and, for a file, the folder relative paths are
/// resolved against.
#[derive(Debug, Clone, Copy)]
pub(super) struct Input<'a> {
    pub raw: Raw<'a>,
    pub name: &'a str,
    base: &'a Path,
}

impl<'a> Input<'a> {
    pub(super) fn env(text: &'a str, name: &'a str) -> Self {
        Self {
            raw: Raw::Env(text),
            name,
            base: Path::new(""),
        }
    }

    pub(super) fn file(value: &'a Value, name: &'a str, base: &'a Path) -> Self {
        Self {
            raw: Raw::File(value),
            name,
            base,
        }
    }

    /// An error naming this key.
    pub(super) fn bad(&self, message: impl Into<String>) -> ConfigError {
        bad(self.name, message)
    }

    pub(super) fn text(&self) -> Result<String, ConfigError> {
        match self.raw {
            Raw::Env(s) => Ok(s.to_owned()),
            Raw::File(v) => string(v, self.name),
        }
    }

    pub(super) fn uint(&self) -> Result<u64, ConfigError> {
        match self.raw {
            Raw::Env(s) => s
                .parse::<u64>()
                .map_err(|_| self.bad(format!("must be a non-negative integer, got '{s}'"))),
            Raw::File(v) => number(v, self.name),
        }
    }

    pub(super) fn positive(&self) -> Result<u64, ConfigError> {
        positive(self.uint()?, self.name)
    }

    pub(super) fn positive_u32(&self) -> Result<u32, ConfigError> {
        let n = self.positive()?;
        u32::try_from(n).map_err(|_| self.bad(format!("{n} is too large")))
    }

    pub(super) fn positive_usize(&self) -> Result<usize, ConfigError> {
        let n = self.positive()?;
        usize::try_from(n).map_err(|_| self.bad(format!("{n} is too large")))
    }

    /// Milliseconds, zero allowed.
    pub(super) fn millis(&self) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(self.uint()?))
    }

    /// Milliseconds, at least one.
    pub(super) fn positive_millis(&self) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(self.positive()?))
    }

    pub(super) fn port(&self) -> Result<u16, ConfigError> {
        let text = match self.raw {
            Raw::Env(s) => s.to_owned(),
            Raw::File(v) => number(v, self.name)?.to_string(),
        };
        text.parse::<u16>()
            .map_err(|_| self.bad(format!("must be a port number 0-65535, got '{text}'")))
    }

    pub(super) fn boolean(&self) -> Result<bool, ConfigError> {
        match self.raw {
            Raw::Env("true" | "1" | "yes") => Ok(true),
            Raw::Env("false" | "0" | "no") => Ok(false),
            Raw::Env(other) => Err(self.bad(format!("must be true or false, got '{other}'"))),
            Raw::File(v) => v.as_bool().ok_or_else(|| self.bad("must be true or false")),
        }
    }

    /// A path; one written in a config file is relative to the file's folder.
    pub(super) fn path(&self) -> Result<PathBuf, ConfigError> {
        match self.raw {
            Raw::Env(s) => Ok(PathBuf::from(s)),
            Raw::File(v) => Ok(self.base.join(string(v, self.name)?)),
        }
    }

    /// A JSON value; the environment carries it as JSON text.
    pub(super) fn json(&self) -> Result<Value, ConfigError> {
        match self.raw {
            Raw::Env(s) => {
                serde_json::from_str(s).map_err(|e| self.bad(format!("is not valid JSON: {e}")))
            }
            Raw::File(v) => Ok(v.clone()),
        }
    }

    /// A list of strings: comma-separated in the environment, an array in a file.
    pub(super) fn list(&self) -> Result<Vec<String>, ConfigError> {
        match self.raw {
            Raw::Env(s) => Ok(s
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect()),
            Raw::File(v) => string_list(v, self.name),
        }
    }
}

/// A configuration problem; the message names the key.
pub(super) fn bad(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        message: message.into(),
    }
}

pub(super) fn string(v: &Value, key: &str) -> Result<String, ConfigError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| bad(key, format!("must be a string, got {v}")))
}

pub(super) fn number(v: &Value, key: &str) -> Result<u64, ConfigError> {
    v.as_u64()
        .ok_or_else(|| bad(key, format!("must be a non-negative integer, got {v}")))
}

pub(super) fn positive(n: u64, key: &str) -> Result<u64, ConfigError> {
    if n == 0 {
        Err(bad(key, "must be at least 1"))
    } else {
        Ok(n)
    }
}

pub(super) fn string_list(v: &Value, key: &str) -> Result<Vec<String>, ConfigError> {
    v.as_array()
        .ok_or_else(|| bad(key, "must be an array of strings"))?
        .iter()
        .map(|x| string(x, key))
        .collect()
}
