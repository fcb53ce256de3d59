//! Values that must never be printed.

use std::fmt;

use serde::Serialize;

/// A value that must never be printed (URLs with passwords, client secrets): `Debug` and
/// `Serialize` show only [`Secret::masked`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`; from here on it prints only masked.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it (a connection, a token request).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A printable form: URLs keep scheme, user and host with the password masked; anything
    /// else is fully masked.
    pub fn masked(&self) -> String {
        mask_url(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.masked())
    }
}

fn mask_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return "***".into();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let tail = tail.split('?').next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => format!("{scheme}://{authority}{tail}"),
    }
}
