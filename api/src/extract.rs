//! Parsing request pieces into domain input, with our error shapes.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::Value;

use crate::error::ApiError;

/// A JSON request body, parsed with our own error messages (never the framework's text).
/// `None` for an empty body.
#[derive(Debug)]
pub struct JsonBody(pub Option<Value>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let response = rejection.into_response();
            if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("The request body could not be read".into())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(None));
        }
        serde_json::from_slice(&bytes)
            .map(|v| JsonBody(Some(v)))
            .map_err(|e| ApiError::BadRequest(format!("Malformed JSON in the request body: {e}")))
    }
}

/// Whether the client asked for an asynchronous answer (`prefer: respond-async`).
pub fn prefers_async(headers: &HeaderMap) -> bool {
    headers.get_all("prefer").iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
        })
    })
}

/// An OData-style function call in a path segment: `pollJob(ID='…')`, `pollJob(ID=…)`,
/// `getTenants()`, or a bare name.
#[derive(Debug, PartialEq, Eq)]
pub struct Call {
    pub name: String,
    pub args: Vec<(String, String)>,
}

impl Call {
    pub fn parse(segment: &str) -> Result<Self, ApiError> {
        let Some(open) = segment.find('(') else {
            return Ok(Call {
                name: segment.to_owned(),
                args: Vec::new(),
            });
        };
        let name = &segment[..open];
        let inner = segment[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| ApiError::BadRequest(format!("Malformed function call '{segment}'")))?;
        let mut args = Vec::new();
        for part in inner.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                ApiError::BadRequest(format!("Malformed parameter '{part}' in '{segment}'"))
            })?;
            let value = value.trim();
            let value = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(value)
                .replace("''", "'");
            args.push((key.trim().to_owned(), value));
        }
        Ok(Call {
            name: name.to_owned(),
            args,
        })
    }

    /// A parameter from the call's parentheses, else from the query string.
    pub fn arg(&self, key: &str, query: &[(String, String)]) -> Option<String> {
        self.args
            .iter()
            .chain(query.iter())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_unquoted_and_bare_calls() {
        let c = Call::parse("pollJob(ID='abc')").expect("parses");
        assert_eq!(c.name, "pollJob");
        assert_eq!(c.args, vec![("ID".into(), "abc".into())]);
        let c = Call::parse("pollJob(ID=abc)").expect("parses");
        assert_eq!(c.args, vec![("ID".into(), "abc".into())]);
        let c = Call::parse("getTenants()").expect("parses");
        assert_eq!((c.name.as_str(), c.args.len()), ("getTenants", 0));
        assert_eq!(Call::parse("Jobs").expect("parses").name, "Jobs");
        assert!(Call::parse("pollJob(ID='abc'").is_err());
    }

    #[test]
    fn prefer_header_is_matched_as_a_token() {
        let mut h = HeaderMap::new();
        h.insert(
            "prefer",
            "return=minimal, respond-async".parse().expect("header"),
        );
        assert!(prefers_async(&h));
        let mut h = HeaderMap::new();
        h.insert("prefer", "respond-asyncx".parse().expect("header"));
        assert!(!prefers_async(&h));
    }
}
