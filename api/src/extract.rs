//! Parsing request pieces into domain input, with our error shapes: JSON bodies as typed
//! structs ([`body`]), the arguments of OData-style function calls ([`call`]) and the `prefer`
//! header.

pub(crate) mod body;
pub(crate) mod call;

pub(crate) use body::{Body, JsonRequest};

pub(crate) use call::{Args, Call};

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::Value;

use crate::error::ApiError;

/// The request body as JSON, read with our own error messages (never the framework's text);
/// `None` for an empty body. For a handler that must check something before the body's shape;
/// [`Body`] reads it as a typed struct.
#[derive(Debug)]
pub(crate) struct RawJson(pub Option<Value>);

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        read_json(req, state).await.map(RawJson)
    }
}

async fn read_json<S: Send + Sync>(req: Request, state: &S) -> Result<Option<Value>, ApiError> {
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        let response = rejection.into_response();
        if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest("The request body could not be read".into())
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ApiError::BadRequest(format!("Malformed JSON in the request body: {e}")))
}

/// Whether the client asked for an asynchronous answer (`prefer: respond-async`).
pub(crate) fn prefers_async(headers: &HeaderMap) -> bool {
    headers.get_all("prefer").iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
