//! Bearer token verification: RS256/ES256 signatures against static keys or a JWKS URL (cached,
//! refetched when a token names an unknown key id, at most every [`MIN_REFRESH`]), then issuer,
//! audience, expiry and not-before with a small clock-skew tolerance. Scopes become roles by the
//! configured scope names; the tenant comes from the configured claim (XSUAA: `zid`).

use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mtx_shared::access::Caller;
use mtx_shared::config::JwtConfig;
use mtx_shared::vocab::TenantId;
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use super::AuthError;

/// The least time between two JWKS fetches: an attacker sending made-up key ids must not turn
/// the sidecar into a load generator against the identity service.
const MIN_REFRESH: Duration = Duration::from_secs(2);
/// Signatures accepted. Symmetric algorithms are never accepted (a public key must not double
/// as an HMAC secret), nor `none`.
const ALGORITHMS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

/// A verification key, with the one algorithm it is used for.
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({:?}, {:?})", self.kid, self.alg)
    }
}

#[derive(Debug, Default)]
struct Fetched {
    keys: Vec<Key>,
    at: Option<Instant>,
}

/// Verifies bearer tokens.
#[derive(Debug)]
pub(super) struct Verifier {
    config: JwtConfig,
    static_keys: Vec<Key>,
    fetched: RwLock<Fetched>,
    /// Serializes JWKS fetches.
    fetching: Mutex<()>,
    http: reqwest::Client,
}

impl Verifier {
    /// Parses the static keys (JWKS document and PEM keys); fails when one is unusable.
    pub(super) fn new(config: JwtConfig) -> anyhow::Result<Self> {
        let mut static_keys = Vec::new();
        if let Some(jwks) = &config.jwks {
            let set: JwkSet = serde_json::from_value(jwks.clone())
                .map_err(|e| anyhow::anyhow!("auth.jwks: not a JWKS document: {e}"))?;
            static_keys.extend(keys_of(&set));
        }
        for (i, pem) in config.keys.iter().enumerate() {
            let key = DecodingKey::from_rsa_pem(pem.as_bytes())
                .map(|k| (Algorithm::RS256, k))
                .or_else(|_| {
                    DecodingKey::from_ec_pem(pem.as_bytes()).map(|k| (Algorithm::ES256, k))
                })
                .map_err(|_| {
                    anyhow::anyhow!("auth.keys[{i}]: not an RSA or EC P-256 public key in PEM")
                })?;
            static_keys.push(Key {
                kid: None,
                alg: key.0,
                key: key.1,
            });
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            config,
            static_keys,
            fetched: RwLock::new(Fetched::default()),
            fetching: Mutex::new(()),
            http,
        })
    }

    /// The caller a valid token stands for.
    pub(super) async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Token(e.to_string()))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(AuthError::Token(format!(
                "algorithm {:?} not accepted",
                header.alg
            )));
        }
        let kid = header.kid.as_deref();
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&self.config.audience);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.config.leeway.as_secs();

        let mut last_error = None;
        let mut refreshed = false;
        loop {
            let claims = {
                let fetched = self.fetched.read().await;
                let candidates = self
                    .static_keys
                    .iter()
                    .chain(fetched.keys.iter())
                    .filter(|k| {
                        k.alg == header.alg
                            && (kid.is_none() || k.kid.is_none() || k.kid.as_deref() == kid)
                    });
                let mut found = None;
                for key in candidates {
                    match jsonwebtoken::decode::<Value>(token, &key.key, &validation) {
                        Ok(data) => {
                            found = Some(data.claims);
                            break;
                        }
                        Err(e) => last_error = Some(e.to_string()),
                    }
                }
                found
            };
            if let Some(claims) = claims {
                return self.caller(&claims);
            }
            // Unknown key (or none fetched yet): fetch the JWKS once, then give up.
            if refreshed || self.config.jwks_url.is_none() || !self.refresh().await {
                return Err(AuthError::Token(
                    last_error.unwrap_or_else(|| "no matching key".to_owned()),
                ));
            }
            refreshed = true;
        }
    }

    /// Fetches the JWKS unless that was done less than [`MIN_REFRESH`] ago; whether new keys
    /// were loaded.
    async fn refresh(&self) -> bool {
        let Some(url) = &self.config.jwks_url else {
            return false;
        };
        let _one_at_a_time = self.fetching.lock().await;
        if self
            .fetched
            .read()
            .await
            .at
            .is_some_and(|at| at.elapsed() < MIN_REFRESH)
        {
            return false;
        }
        let result = async {
            let response = self.http.get(url).send().await?.error_for_status()?;
            response.json::<JwkSet>().await
        }
        .await;
        let mut fetched = self.fetched.write().await;
        fetched.at = Some(Instant::now());
        match result {
            Ok(set) => {
                fetched.keys = keys_of(&set);
                tracing::info!(keys = fetched.keys.len(), "fetched the token signing keys");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e.without_url(), "could not fetch the token signing keys");
                false
            }
        }
    }

    fn caller(&self, claims: &Value) -> Result<Caller, AuthError> {
        let scopes: Vec<&str> = match claims.get("scope") {
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(s)) => s.split_whitespace().collect(),
            _ => Vec::new(),
        };
        let roles = self
            .config
            .scopes
            .iter()
            .filter(|(_, scope)| scopes.contains(&scope.as_str()))
            .map(|(role, _)| *role)
            .collect();
        let tenant = match claims.get(&self.config.tenant_claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(raw)) => Some(
                TenantId::parse(raw).map_err(|e| AuthError::Token(format!("tenant claim: {e}")))?,
            ),
            Some(_) => return Err(AuthError::Token("tenant claim is not a string".into())),
        };
        let name = ["user_name", "client_id", "sub"]
            .iter()
            .find_map(|c| claims.get(*c).and_then(Value::as_str))
            .unwrap_or("unknown")
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        Ok(Caller {
            name,
            roles,
            tenant,
        })
    }
}

/// The usable keys of a JWKS: RSA keys for RS256, P-256 keys for ES256; others are skipped.
fn keys_of(set: &JwkSet) -> Vec<Key> {
    set.keys
        .iter()
        .filter_map(|jwk: &Jwk| {
            let alg = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                _ => return None,
            };
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some(Key {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            })
        })
        .collect()
}
