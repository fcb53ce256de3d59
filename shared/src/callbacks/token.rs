//! OAuth2 client credentials for the SaaS registry: `POST <url>/oauth/token` as cds-mtxs sends
//! it, the token cached until shortly before it expires.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::SaasRegistryConfig;

/// Tokens are renewed this long before they expire, so none expires in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// How long a token without `expires_in` is used.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// Why no token could be had. Messages never contain the client secret.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token request failed: {0}")]
    Request(String),
    #[error("token server answered {0}")]
    Status(u16),
    #[error("token server answer has no access_token")]
    Malformed,
}

/// Fetches and caches client-credentials tokens.
#[derive(Debug)]
pub struct TokenClient {
    http: reqwest::Client,
    credentials: SaasRegistryConfig,
    cached: Mutex<Option<(String, Instant)>>,
}

impl TokenClient {
    pub fn new(http: reqwest::Client, credentials: SaasRegistryConfig) -> Self {
        Self {
            http,
            credentials,
            cached: Mutex::new(None),
        }
    }

    /// A valid access token: the cached one, or a new one. Concurrent callers wait for one
    /// request rather than each sending their own.
    pub async fn token(&self) -> Result<String, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        let until = Instant::now()
            + lifetime
                .saturating_sub(EXPIRY_MARGIN)
                .max(Duration::from_secs(1));
        *cached = Some((token.clone(), until));
        Ok(token)
    }

    /// Drops the cached token (the registry refused it: it may have been revoked).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self) -> Result<(String, Duration), TokenError> {
        let c = &self.credentials;
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &c.clientid)
            .append_pair("grant_type", "client_credentials")
            .finish();
        let response = self
            .http
            .post(format!("{}/oauth/token?response_type=token", c.url))
            .basic_auth(&c.clientid, Some(c.clientsecret.expose()))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| TokenError::Request(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(TokenError::Status(status.as_u16()));
        }
        let body: serde_json::Value = response.json().await.map_err(|_| TokenError::Malformed)?;
        let token = body
            .get("access_token")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or(TokenError::Malformed)?
            .to_owned();
        let lifetime = body
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        Ok((token, lifetime))
    }
}
