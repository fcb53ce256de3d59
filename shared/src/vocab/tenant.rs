//! Tenants and the databases they are placed on, as identifiers validated once at the edge.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest tenant id we accept (the SaaS registry's tenant ids are GUIDs or subdomains).
pub const MAX_TENANT_ID_LEN: usize = 100;

/// A tenant id that is safe to use in file names, schema names, URLs, headers and logs.
///
/// The safe set: 1 to 100 ASCII letters, digits, `-`, `_` and `.`; it does not start with `.` or
/// `-` and contains no `..`. That covers the SaaS registry's GUIDs and subdomains and keeps every
/// character that could escape a path, a quoted identifier or a header out.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

/// Why a tenant id was refused; the message names the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantIdError {
    #[error("tenant id must not be empty")]
    Empty,
    #[error("tenant id is longer than {MAX_TENANT_ID_LEN} characters")]
    TooLong,
    #[error("tenant id '*' is reserved (it means all tenants in an upgrade)")]
    Wildcard,
    #[error(
        "tenant id contains {0:?}; allowed are ASCII letters, digits, '-', '_' and '.' (not leading, no '..')"
    )]
    InvalidCharacter(char),
    #[error("tenant id must not contain '..' or start with '.' or '-'")]
    InvalidDots,
}

impl TenantId {
    /// Validates `raw` against the safe set.
    pub fn parse(raw: &str) -> Result<Self, TenantIdError> {
        if raw.is_empty() {
            return Err(TenantIdError::Empty);
        }
        if raw == "*" {
            return Err(TenantIdError::Wildcard);
        }
        if raw.chars().count() > MAX_TENANT_ID_LEN {
            return Err(TenantIdError::TooLong);
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(TenantIdError::InvalidCharacter(bad));
        }
        if raw.contains("..") || raw.starts_with('.') || raw.starts_with('-') {
            return Err(TenantIdError::InvalidDots);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        TenantId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Identifies one tenant database (a PostgreSQL server/database, or the embedded data
/// directory). Limits (`workerSize`) apply per database.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatabaseId(String);

impl DatabaseId {
    /// Database ids appear in config keys and Redis keys: 1–64 of `[A-Za-z0-9_-]`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > 64 {
            return Err(format!("database id '{raw}' must have 1 to 64 characters"));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "database id '{raw}' may contain only ASCII letters, digits, '_' and '-'"
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DatabaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_guids_and_subdomains() {
        for ok in [
            "t1",
            "0c6b7a2e-0000-4000-8000-000000000001",
            "acme.eu10",
            "a_b",
        ] {
            assert!(TenantId::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_unsafe_ids() {
        let long = "a".repeat(101);
        let cases: &[(&str, TenantIdError)] = &[
            ("", TenantIdError::Empty),
            ("*", TenantIdError::Wildcard),
            (&long, TenantIdError::TooLong),
            ("a/b", TenantIdError::InvalidCharacter('/')),
            ("a b", TenantIdError::InvalidCharacter(' ')),
            ("a'b", TenantIdError::InvalidCharacter('\'')),
            ("a\"b", TenantIdError::InvalidCharacter('"')),
            ("a\nb", TenantIdError::InvalidCharacter('\n')),
            ("a\\b", TenantIdError::InvalidCharacter('\\')),
            ("a;b", TenantIdError::InvalidCharacter(';')),
            ("ä", TenantIdError::InvalidCharacter('ä')),
            ("a..b", TenantIdError::InvalidDots),
            ("..", TenantIdError::InvalidDots),
            (".hidden", TenantIdError::InvalidDots),
            ("-x", TenantIdError::InvalidDots),
        ];
        for (raw, want) in cases {
            assert_eq!(TenantId::parse(raw).as_ref(), Err(want), "{raw:?}");
        }
    }
}
