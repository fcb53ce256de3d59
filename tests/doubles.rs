//! Test doubles of the services the sidecar talks to, as real HTTP servers on loopback:
//!
//! - [`TokenServer`]: the identity service. It issues OAuth client-credentials tokens
//!   (`POST /oauth/token`), publishes its signing keys (`GET /token_keys`, a JWKS) and signs
//!   user tokens for the tests ([`TokenServer::sign`]).
//! - [`Registry`]: the SaaS registry. It records every status callback (`PUT` on any path),
//!   accepts only bearer tokens the token server issued, and can be made unavailable (503).
//!
//! The signing keys are test-only fixtures in `tests/fixtures/`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The OAuth client of the sidecar, as the registry's credentials name it.
pub const CLIENT_ID: &str = "sb-bookshop!t1";
pub const CLIENT_SECRET: &str = "s3cr3t-client";
/// `xsappname` of the application: scopes are `<XSAPPNAME>.<role>`.
pub const XSAPPNAME: &str = "bookshop!t1";
/// The audience of user tokens.
pub const AUDIENCE: &str = "bookshop!t1";

/// The test signing keys (PKCS#8 PEM).
pub const RSA_KEY: &str = include_str!("fixtures/jwt-rsa.pem");
pub const EC_KEY: &str = include_str!("fixtures/jwt-ec.pem");
/// A key the identity service does not know: tokens signed with it are forgeries.
pub const ATTACKER_KEY: &str = include_str!("fixtures/jwt-rsa-attacker.pem");

async fn stop_on(shutdown: CancellationToken) {
    shutdown.cancelled().await;
}

/// A key the token server publishes.
#[derive(Debug, Clone)]
pub struct PublishedKey {
    pub kid: String,
    pub alg: Algorithm,
    pub pem: &'static str,
}

#[derive(Debug, Default)]
struct TokenState {
    issued: BTreeSet<String>,
    token_requests: usize,
    published: Vec<PublishedKey>,
    jwks_fetches: usize,
}

/// The identity service double.
#[derive(Debug, Clone)]
pub struct TokenServer {
    pub base: String,
    state: Arc<Mutex<TokenState>>,
    shutdown: CancellationToken,
}

impl TokenServer {
    /// Starts on `127.0.0.1:0`, publishing the RSA test key as `rsa-1`.
    pub async fn start() -> anyhow::Result<Self> {
        let state = Arc::new(Mutex::new(TokenState {
            published: vec![PublishedKey {
                kid: "rsa-1".into(),
                alg: Algorithm::RS256,
                pem: RSA_KEY,
            }],
            ..TokenState::default()
        }));
        let app = Router::new()
            .route("/oauth/token", post(issue_token))
            .route("/token_keys", get(jwks))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let shutdown = CancellationToken::new();
        let stop = stop_on(shutdown.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        });
        Ok(Self {
            base,
            state,
            shutdown,
        })
    }

    /// The issuer of the tokens it signs.
    pub fn issuer(&self) -> String {
        format!("{}/oauth/token", self.base)
    }

    /// Publishes another key (a key rotation).
    pub fn publish(&self, key: PublishedKey) {
        self.lock().published.push(key);
    }

    /// Whether `token` was issued by `/oauth/token`.
    pub fn issued(&self, token: &str) -> bool {
        self.lock().issued.contains(token)
    }

    pub fn token_requests(&self) -> usize {
        self.lock().token_requests
    }

    pub fn jwks_fetches(&self) -> usize {
        self.lock().jwks_fetches
    }

    /// A token signed with `pem` (any PKCS#8 key) as `alg`, with key id `kid`.
    pub fn sign(
        claims: &Value,
        alg: Algorithm,
        pem: &str,
        kid: Option<&str>,
    ) -> anyhow::Result<String> {
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes())?,
            _ => EncodingKey::from_rsa_pem(pem.as_bytes())?,
        };
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        Ok(jsonwebtoken::encode(&header, claims, &key)?)
    }

    /// The claims of a valid user token: issuer, audience, an hour of validity, the scopes
    /// (`<XSAPPNAME>.<role>`) and the tenant (`zid`).
    pub fn claims(&self, user: &str, roles: &[&str], tenant: Option<&str>) -> Value {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": self.issuer(),
            "aud": [AUDIENCE],
            "sub": user,
            "user_name": user,
            "iat": now,
            "exp": now + 3600,
            "scope": roles.iter().map(|r| format!("{XSAPPNAME}.{r}")).collect::<Vec<_>>(),
        });
        if let Some(t) = tenant {
            claims["zid"] = json!(t);
        }
        claims
    }

    /// A valid RS256 user token.
    pub fn token(
        &self,
        user: &str,
        roles: &[&str],
        tenant: Option<&str>,
    ) -> anyhow::Result<String> {
        Self::sign(
            &self.claims(user, roles, tenant),
            Algorithm::RS256,
            RSA_KEY,
            Some("rsa-1"),
        )
    }

    /// The registry credentials (cds shape) pointing at this token server and `registry`.
    pub fn credentials(&self, registry: &Registry) -> String {
        json!({
            "saas_registry_url": registry.base,
            "url": self.base,
            "clientid": CLIENT_ID,
            "clientsecret": CLIENT_SECRET,
        })
        .to_string()
    }

    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TokenState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn issue_token(
    State(state): State<Arc<Mutex<TokenState>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let authorized =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str());
    let form: Vec<(String, String)> = url_pairs(&body);
    let grant = form
        .iter()
        .any(|(k, v)| k == "grant_type" && v == "client_credentials");
    let client = form.iter().any(|(k, v)| k == "client_id" && v == CLIENT_ID);
    let response_type = uri
        .query()
        .is_some_and(|q| q.contains("response_type=token"));
    if !(authorized && grant && client && response_type) {
        return (StatusCode::UNAUTHORIZED, "bad client credentials").into_response();
    }
    let mut s = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    s.token_requests += 1;
    let token = format!("cc-token-{}", uuid::Uuid::new_v4().simple());
    s.issued.insert(token.clone());
    axum::Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 3600}))
        .into_response()
}

/// The pairs of a form-encoded body, decoded.
fn url_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    reqwest::Url::parse(&format!("http://form.invalid/?{text}"))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

async fn jwks(State(state): State<Arc<Mutex<TokenState>>>) -> Response {
    let mut s = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    s.jwks_fetches += 1;
    let keys: Vec<Jwk> = s
        .published
        .iter()
        .filter_map(|k| {
            let key = match k.alg {
                Algorithm::ES256 => EncodingKey::from_ec_pem(k.pem.as_bytes()).ok()?,
                _ => EncodingKey::from_rsa_pem(k.pem.as_bytes()).ok()?,
            };
            let mut jwk = Jwk::from_encoding_key(&key, k.alg).ok()?;
            jwk.common.key_id = Some(k.kid.clone());
            Some(jwk)
        })
        .collect();
    axum::Json(JwkSet { keys }).into_response()
}

/// A status callback the registry received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    /// What the registry answered.
    pub status: u16,
}

#[derive(Debug)]
struct RegistryState {
    available: bool,
    received: Vec<Received>,
    tokens: TokenServer,
}

/// The SaaS registry double.
#[derive(Debug, Clone)]
pub struct Registry {
    pub base: String,
    state: Arc<Mutex<RegistryState>>,
    shutdown: CancellationToken,
}

impl Registry {
    /// Starts on `127.0.0.1:0`, accepting tokens `tokens` issued.
    pub async fn start(tokens: &TokenServer) -> anyhow::Result<Self> {
        let state = Arc::new(Mutex::new(RegistryState {
            available: true,
            received: Vec::new(),
            tokens: tokens.clone(),
        }));
        let app = Router::new()
            .route("/{*path}", put(callback))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let shutdown = CancellationToken::new();
        let stop = stop_on(shutdown.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        });
        Ok(Self {
            base,
            state,
            shutdown,
        })
    }

    /// While unavailable, every callback is answered 503 (and still recorded).
    pub fn set_available(&self, available: bool) {
        self.lock().available = available;
    }

    /// Every callback received, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// Callbacks answered with success.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.status < 300)
            .collect()
    }

    /// Waits until `n` callbacks were accepted; fails after `timeout`.
    pub async fn wait_accepted(
        &self,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Received>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let accepted = self.accepted();
            if accepted.len() >= n {
                return Ok(accepted);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{} of {n} callbacks accepted within {timeout:?}; received: {:?}",
                accepted.len(),
                self.received()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until at least `n` callbacks were received (accepted or not).
    pub async fn wait_received(
        &self,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Received>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= n {
                return Ok(received);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{} of {n} callbacks received",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RegistryState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn callback(
    State(state): State<Arc<Mutex<RegistryState>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut s = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let token_ok = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| s.tokens.issued(t));
    let status = if !s.available {
        StatusCode::SERVICE_UNAVAILABLE
    } else if !token_ok {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    s.received.push(Received {
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned()),
        authorization,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        status: status.as_u16(),
    });
    status.into_response()
}
