//! The security part of the configuration: authentication (`MTX_AUTH`), the SaaS registry's
//! credentials (status callbacks) and how callbacks are delivered.
//!
//! File shapes (in `mtx.json`):
//! - `"auth": "dummy"`, or an object `{"kind":"basic","users":{"alice":{"password":"…",
//!   "roles":["cds.Subscriber"],"tenant":"t1"}}}`, or `{"kind":"jwt","jwksUrl":"https://…",
//!   "issuer":"…","audience":["…"],"leewaySecs":30,"tenantClaim":"zid","xsappname":"app!t1",
//!   "scopes":{"mtcallback":"$XSAPPNAME.mtcallback"},"jwks":{…},"keys":["-----BEGIN PUBLIC KEY…"]}`;
//!   `"allowDummyInProduction": true` forces the dummy mode on PostgreSQL.
//! - `"saasRegistry": {"saas_registry_url":"…","url":"…","clientid":"…","clientsecret":"…"}`
//!   (the credential shape cds uses; also read from a CAP project's
//!   `cds.requires.multitenancy.credentials` and from `MTX_SAAS_CREDENTIALS`).
//! - `"callbacks": {"deadlineMs":…,"retryMs":…,"maxRetryMs":…,"ratePerSecond":…,"pollMs":…,
//!   "timeoutMs":…}`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::{ConfigError, Secret, bad, millis, number, positive, string, string_list};
use crate::access::Role;
use crate::vocab::TenantId;

/// The authentication mode (`MTX_AUTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Development: every request is allowed, as a privileged user.
    Dummy,
    /// Users, passwords and roles from the config file: tests and local use.
    Basic,
    /// Production: signed bearer tokens (RS256/ES256) from the identity service.
    Jwt,
}

/// How callers are authenticated.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// The users of the basic mode, by name.
    pub users: BTreeMap<String, BasicUser>,
    /// Token verification of the jwt mode.
    pub jwt: Option<JwtConfig>,
    /// The dummy mode was explicitly allowed on PostgreSQL storage.
    pub allow_dummy_in_production: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::Dummy,
            users: BTreeMap::new(),
            jwt: None,
            allow_dummy_in_production: false,
        }
    }
}

/// A user of the basic mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BasicUser {
    pub password: Secret,
    pub roles: Vec<Role>,
    /// The tenant the user belongs to; `None` for provider users.
    pub tenant: Option<TenantId>,
}

impl BasicUser {
    /// Compares `given` with the configured password in time independent of where they differ
    /// (both are hashed first, so neither length nor content leaks through timing).
    pub fn password_matches(&self, given: &str) -> bool {
        use sha2::{Digest, Sha256};
        let a = Sha256::digest(self.password.expose().as_bytes());
        let b = Sha256::digest(given.as_bytes());
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

/// Token verification settings of the jwt mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtConfig {
    /// Where the signing keys are published (fetched, cached, refreshed on an unknown key id).
    pub jwks_url: Option<String>,
    /// Static keys: a JWKS document.
    pub jwks: Option<Value>,
    /// Static keys: PEM public keys (RSA or EC P-256).
    pub keys: Vec<String>,
    /// The only accepted `iss`.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one.
    pub audience: Vec<String>,
    /// Clock-skew tolerance for `exp` and `nbf`.
    #[serde(with = "millis")]
    pub leeway: Duration,
    /// The claim naming the caller's tenant (XSUAA: `zid`).
    pub tenant_claim: String,
    /// The scope that grants each role (`$XSAPPNAME` already replaced).
    pub scopes: BTreeMap<Role, String>,
}

/// The SaaS registry's service credentials, as cds reads them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SaasRegistryConfig {
    /// Base of the callback URLs; a `status_callback` path is resolved against it and must stay
    /// on its origin.
    pub saas_registry_url: String,
    /// The OAuth server; tokens come from `<url>/oauth/token`.
    pub url: String,
    pub clientid: String,
    pub clientsecret: Secret,
}

/// How status callbacks are delivered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbacksConfig {
    /// How long after its job ended a callback is still retried.
    #[serde(with = "millis")]
    pub deadline: Duration,
    /// The wait after the first failed attempt; doubled after each further one.
    #[serde(with = "millis")]
    pub first_retry: Duration,
    /// The longest wait between attempts.
    #[serde(with = "millis")]
    pub max_retry: Duration,
    /// Callback requests one process sends per second at most.
    pub rate_per_second: u32,
    /// How often a process looks for due callbacks.
    #[serde(with = "millis")]
    pub poll: Duration,
    /// Upper bound of one callback (or token) request.
    #[serde(with = "millis")]
    pub request_timeout: Duration,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(24 * 3600),
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(300),
            rate_per_second: 20,
            poll: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// What the auth part of a config file said, before the environment is applied.
#[derive(Debug, Default)]
pub(super) struct AuthSettings {
    pub mode: Option<AuthMode>,
    pub users: BTreeMap<String, BasicUser>,
    pub jwks_url: Option<String>,
    pub jwks: Option<Value>,
    pub keys: Vec<String>,
    pub issuer: Option<String>,
    pub audience: Vec<String>,
    pub leeway: Option<Duration>,
    pub tenant_claim: Option<String>,
    pub xsappname: Option<String>,
    pub scopes: BTreeMap<Role, String>,
    pub allow_dummy_in_production: bool,
}

pub(super) fn auth_mode(v: &str, key: &str) -> Result<AuthMode, ConfigError> {
    match v {
        "dummy" => Ok(AuthMode::Dummy),
        "basic" => Ok(AuthMode::Basic),
        "jwt" => Ok(AuthMode::Jwt),
        other => Err(bad(
            key,
            format!("unknown auth mode '{other}' (supported: dummy, basic, jwt)"),
        )),
    }
}

impl AuthSettings {
    /// `"auth"` of the config file: a mode name or an object.
    pub fn apply_file(&mut self, v: &Value) -> Result<(), ConfigError> {
        if let Some(mode) = v.as_str() {
            self.mode = Some(auth_mode(mode, "auth")?);
            return Ok(());
        }
        let Some(obj) = v.as_object() else {
            return Err(bad(
                "auth",
                "must be a mode name or an object with \"kind\"",
            ));
        };
        const KNOWN: &[&str] = &[
            "kind",
            "users",
            "jwksUrl",
            "jwks",
            "keys",
            "issuer",
            "audience",
            "leewaySecs",
            "tenantClaim",
            "xsappname",
            "scopes",
            "allowDummyInProduction",
        ];
        if let Some(unknown) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(bad(
                &format!("auth.{unknown}"),
                format!("unknown key (known: {})", KNOWN.join(", ")),
            ));
        }
        if let Some(x) = obj.get("kind") {
            self.mode = Some(auth_mode(&string(x, "auth.kind")?, "auth.kind")?);
        }
        if let Some(x) = obj.get("users") {
            self.users = users(x)?;
        }
        if let Some(x) = obj.get("jwksUrl") {
            self.jwks_url = Some(http_url(&string(x, "auth.jwksUrl")?, "auth.jwksUrl")?);
        }
        if let Some(x) = obj.get("jwks") {
            self.jwks = Some(jwks(x, "auth.jwks")?);
        }
        if let Some(x) = obj.get("keys") {
            self.keys = string_list(x, "auth.keys")?;
        }
        if let Some(x) = obj.get("issuer") {
            self.issuer = Some(string(x, "auth.issuer")?);
        }
        if let Some(x) = obj.get("audience") {
            self.audience = match x {
                Value::String(s) => vec![s.clone()],
                other => string_list(other, "auth.audience")?,
            };
        }
        if let Some(x) = obj.get("leewaySecs") {
            self.leeway = Some(Duration::from_secs(number(x, "auth.leewaySecs")?));
        }
        if let Some(x) = obj.get("tenantClaim") {
            self.tenant_claim = Some(string(x, "auth.tenantClaim")?);
        }
        if let Some(x) = obj.get("xsappname") {
            self.xsappname = Some(string(x, "auth.xsappname")?);
        }
        if let Some(x) = obj.get("scopes") {
            let Some(map) = x.as_object() else {
                return Err(bad("auth.scopes", "must map role names to scope names"));
            };
            for (role, scope) in map {
                let key = format!("auth.scopes.{role}");
                let role: Role = role.parse().map_err(|e: String| bad(&key, e))?;
                self.scopes.insert(role, string(scope, &key)?);
            }
        }
        if let Some(x) = obj.get("allowDummyInProduction") {
            self.allow_dummy_in_production = x
                .as_bool()
                .ok_or_else(|| bad("auth.allowDummyInProduction", "must be true or false"))?;
        }
        Ok(())
    }

    pub fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("MTX_AUTH") {
            self.mode = Some(auth_mode(&v, "MTX_AUTH")?);
        }
        if let Some(v) = get("MTX_AUTH_ALLOW_DUMMY") {
            self.allow_dummy_in_production = boolean(&v, "MTX_AUTH_ALLOW_DUMMY")?;
        }
        if let Some(v) = get("MTX_JWT_JWKS_URL") {
            self.jwks_url = Some(http_url(&v, "MTX_JWT_JWKS_URL")?);
        }
        if let Some(v) = get("MTX_JWT_JWKS") {
            let value: Value = serde_json::from_str(&v)
                .map_err(|e| bad("MTX_JWT_JWKS", format!("is not valid JSON: {e}")))?;
            self.jwks = Some(jwks(&value, "MTX_JWT_JWKS")?);
        }
        if let Some(v) = get("MTX_JWT_ISSUER") {
            self.issuer = Some(v);
        }
        if let Some(v) = get("MTX_JWT_AUDIENCE") {
            self.audience = v
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = get("MTX_JWT_LEEWAY_SECS") {
            let secs = v.parse::<u64>().map_err(|_| {
                bad(
                    "MTX_JWT_LEEWAY_SECS",
                    format!("must be a non-negative integer, got '{v}'"),
                )
            })?;
            self.leeway = Some(Duration::from_secs(secs));
        }
        if let Some(v) = get("MTX_JWT_TENANT_CLAIM") {
            self.tenant_claim = Some(v);
        }
        if let Some(v) = get("MTX_XSAPPNAME") {
            self.xsappname = Some(v);
        }
        Ok(())
    }

    /// Validates the settings of the chosen mode. `production` is true on PostgreSQL storage,
    /// where the dummy mode is refused unless explicitly allowed.
    pub fn finish(self, production: bool) -> Result<AuthConfig, ConfigError> {
        let mode = self.mode.unwrap_or(AuthMode::Dummy);
        if mode == AuthMode::Dummy && production && !self.allow_dummy_in_production {
            return Err(bad(
                "MTX_AUTH",
                "the dummy mode lets every request through and is refused with PostgreSQL \
                 storage; set MTX_AUTH=jwt (or basic), or force it with MTX_AUTH_ALLOW_DUMMY=true",
            ));
        }
        if mode == AuthMode::Basic && self.users.is_empty() {
            return Err(bad("auth.users", "the basic mode needs at least one user"));
        }
        let jwt = if mode == AuthMode::Jwt {
            let issuer = self
                .issuer
                .ok_or_else(|| bad("MTX_JWT_ISSUER", "the jwt mode needs the token issuer"))?;
            if self.audience.is_empty() {
                return Err(bad(
                    "MTX_JWT_AUDIENCE",
                    "the jwt mode needs at least one audience",
                ));
            }
            if self.jwks_url.is_none() && self.jwks.is_none() && self.keys.is_empty() {
                return Err(bad(
                    "MTX_JWT_JWKS_URL",
                    "the jwt mode needs signing keys: a JWKS URL, a JWKS document or PEM keys",
                ));
            }
            let xsappname = self.xsappname.unwrap_or_default();
            let scopes = Role::ALL
                .into_iter()
                .map(|role| {
                    let template = self.scopes.get(&role).cloned().unwrap_or_else(|| {
                        if xsappname.is_empty() {
                            role.as_str().to_owned()
                        } else {
                            format!("$XSAPPNAME.{role}")
                        }
                    });
                    (role, template.replace("$XSAPPNAME", &xsappname))
                })
                .collect();
            Some(JwtConfig {
                jwks_url: self.jwks_url,
                jwks: self.jwks,
                keys: self.keys,
                issuer,
                audience: self.audience,
                leeway: self.leeway.unwrap_or(Duration::from_secs(30)),
                tenant_claim: self.tenant_claim.unwrap_or_else(|| "zid".to_owned()),
                scopes,
            })
        } else {
            None
        };
        Ok(AuthConfig {
            mode,
            users: self.users,
            jwt,
            allow_dummy_in_production: self.allow_dummy_in_production,
        })
    }
}

fn users(v: &Value) -> Result<BTreeMap<String, BasicUser>, ConfigError> {
    let Some(map) = v.as_object() else {
        return Err(bad(
            "auth.users",
            "must map user names to {\"password\",\"roles\",\"tenant\"}",
        ));
    };
    map.iter()
        .map(|(name, u)| {
            let key = format!("auth.users.{name}");
            if name.is_empty() || name.contains(':') {
                return Err(bad(
                    &key,
                    "a user name must be non-empty and contain no ':'",
                ));
            }
            let password = u
                .get("password")
                .map(|p| string(p, &format!("{key}.password")))
                .transpose()?
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    bad(
                        &format!("{key}.password"),
                        "a non-empty password is required",
                    )
                })?;
            let roles = match u.get("roles") {
                None => Vec::new(),
                Some(r) => string_list(r, &format!("{key}.roles"))?
                    .iter()
                    .map(|r| {
                        r.parse()
                            .map_err(|e: String| bad(&format!("{key}.roles"), e))
                    })
                    .collect::<Result<_, _>>()?,
            };
            let tenant = u
                .get("tenant")
                .map(|t| {
                    let raw = string(t, &format!("{key}.tenant"))?;
                    TenantId::parse(&raw).map_err(|e| bad(&format!("{key}.tenant"), e.to_string()))
                })
                .transpose()?;
            Ok((
                name.clone(),
                BasicUser {
                    password: Secret::new(password),
                    roles,
                    tenant,
                },
            ))
        })
        .collect()
}

fn jwks(v: &Value, key: &str) -> Result<Value, ConfigError> {
    if v.get("keys").is_some_and(Value::is_array) {
        Ok(v.clone())
    } else {
        Err(bad(key, "must be a JWKS document ({\"keys\":[…]})"))
    }
}

fn boolean(v: &str, key: &str) -> Result<bool, ConfigError> {
    match v {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => Err(bad(key, format!("must be true or false, got '{other}'"))),
    }
}

/// An `http(s)` URL without user info. Plain `http` only for loopback hosts: credentials and
/// tokens must not cross a network in clear text.
pub(super) fn http_url(raw: &str, key: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(raw).map_err(|e| bad(key, format!("'{raw}' is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(key, "must not contain user info"));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(bad(key, "must name a host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(bad(key, "must be https (plain http only on loopback)")),
        other => return Err(bad(key, format!("unsupported scheme '{other}'"))),
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// The cds credential shape `{"saas_registry_url","url","clientid","clientsecret"}`.
pub(super) fn saas_registry(v: &Value, key: &str) -> Result<SaasRegistryConfig, ConfigError> {
    let field = |name: &str| -> Result<String, ConfigError> {
        v.get(name)
            .map(|x| string(x, &format!("{key}.{name}")))
            .transpose()?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad(&format!("{key}.{name}"), "is required"))
    };
    Ok(SaasRegistryConfig {
        saas_registry_url: http_url(
            &field("saas_registry_url")?,
            &format!("{key}.saas_registry_url"),
        )?,
        url: http_url(&field("url")?, &format!("{key}.url"))?,
        clientid: field("clientid")?,
        clientsecret: Secret::new(field("clientsecret")?),
    })
}

/// `"callbacks"` of the config file.
pub(super) fn apply_callbacks(c: &mut CallbacksConfig, v: &Value) -> Result<(), ConfigError> {
    let Some(obj) = v.as_object() else {
        return Err(bad("callbacks", "must be an object"));
    };
    for (k, v) in obj {
        let key = format!("callbacks.{k}");
        let ms = || -> Result<Duration, ConfigError> {
            Ok(Duration::from_millis(positive(number(v, &key)?, &key)?))
        };
        match k.as_str() {
            "deadlineMs" => c.deadline = ms()?,
            "retryMs" => c.first_retry = ms()?,
            "maxRetryMs" => c.max_retry = ms()?,
            "pollMs" => c.poll = ms()?,
            "timeoutMs" => c.request_timeout = ms()?,
            "ratePerSecond" => {
                c.rate_per_second = u32::try_from(positive(number(v, &key)?, &key)?)
                    .map_err(|_| bad(&key, "is too large"))?;
            }
            _ => return Err(bad(&key, "unknown callbacks setting")),
        }
    }
    Ok(())
}

/// The `MTX_CALLBACK_*` variables.
pub(super) fn apply_callbacks_env(
    c: &mut CallbacksConfig,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let num = |k: &str| -> Result<Option<u64>, ConfigError> {
        get(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| bad(k, format!("must be a non-negative integer, got '{v}'")))
                    .and_then(|n| positive(n, k))
            })
            .transpose()
    };
    if let Some(n) = num("MTX_CALLBACK_DEADLINE_MS")? {
        c.deadline = Duration::from_millis(n);
    }
    if let Some(n) = num("MTX_CALLBACK_RETRY_MS")? {
        c.first_retry = Duration::from_millis(n);
    }
    if let Some(n) = num("MTX_CALLBACK_MAX_RETRY_MS")? {
        c.max_retry = Duration::from_millis(n);
    }
    if let Some(n) = num("MTX_CALLBACK_POLL_MS")? {
        c.poll = Duration::from_millis(n);
    }
    if let Some(n) = num("MTX_CALLBACK_TIMEOUT_MS")? {
        c.request_timeout = Duration::from_millis(n);
    }
    if let Some(n) = num("MTX_CALLBACK_RATE")? {
        c.rate_per_second =
            u32::try_from(n).map_err(|_| bad("MTX_CALLBACK_RATE", "is too large"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_compare_exactly() {
        let u = BasicUser {
            password: Secret::new("s3cret"),
            roles: vec![],
            tenant: None,
        };
        assert!(u.password_matches("s3cret"));
        assert!(!u.password_matches("s3cre"));
        assert!(!u.password_matches("s3cret "));
        assert!(!u.password_matches(""));
    }

    #[test]
    fn urls_must_be_https_except_on_loopback_and_carry_no_userinfo() {
        assert!(
            http_url("https://registry.example/api/", "k")
                .is_ok_and(|u| u == "https://registry.example/api")
        );
        assert!(http_url("http://127.0.0.1:4099", "k").is_ok());
        assert!(http_url("http://localhost:4099", "k").is_ok());
        assert_eq!(
            http_url("http://registry.example", "k").map_err(|e| e.key),
            Err("k".to_owned())
        );
        assert!(http_url("https://user:pw@registry.example", "k").is_err());
        assert!(http_url("ftp://registry.example", "k").is_err());
        assert!(http_url("not a url", "k").is_err());
    }

    #[test]
    fn dummy_auth_is_refused_in_production_unless_forced() {
        let s = AuthSettings::default();
        let err = s.finish(true).expect_err("refused");
        assert_eq!(err.key, "MTX_AUTH");
        let s = AuthSettings {
            allow_dummy_in_production: true,
            ..AuthSettings::default()
        };
        assert_eq!(s.finish(true).map(|a| a.mode).ok(), Some(AuthMode::Dummy));
        assert_eq!(
            AuthSettings::default().finish(false).map(|a| a.mode).ok(),
            Some(AuthMode::Dummy)
        );
    }

    #[test]
    fn jwt_mode_needs_issuer_audience_and_keys_and_expands_xsappname() {
        let mut s = AuthSettings {
            mode: Some(AuthMode::Jwt),
            ..AuthSettings::default()
        };
        assert_eq!(
            s.finish(true).map_err(|e| e.key).err().as_deref(),
            Some("MTX_JWT_ISSUER")
        );
        s = AuthSettings {
            mode: Some(AuthMode::Jwt),
            issuer: Some("https://idp".into()),
            audience: vec!["app".into()],
            jwks_url: Some("https://idp/keys".into()),
            xsappname: Some("bookshop!t1".into()),
            scopes: [(Role::Subscriber, "Subscribe".to_owned())]
                .into_iter()
                .collect(),
            ..AuthSettings::default()
        };
        let auth = s.finish(true).expect("valid");
        let jwt = auth.jwt.expect("jwt settings");
        assert_eq!(jwt.scopes[&Role::Mtcallback], "bookshop!t1.mtcallback");
        assert_eq!(jwt.scopes[&Role::Subscriber], "Subscribe");
        assert_eq!(jwt.tenant_claim, "zid");
    }

    #[test]
    fn basic_users_are_validated_naming_the_key() {
        let mut s = AuthSettings::default();
        let err = s
            .apply_file(&serde_json::json!({"kind":"basic","users":{"a":{"password":"p","roles":["admin"]}}}))
            .expect_err("unknown role");
        assert_eq!(err.key, "auth.users.a.roles");
        let err = s
            .apply_file(
                &serde_json::json!({"kind":"basic","users":{"a":{"password":"p","tenant":"x y"}}}),
            )
            .expect_err("bad tenant");
        assert_eq!(err.key, "auth.users.a.tenant");
        s.apply_file(&serde_json::json!({"kind":"basic","users":{"a":{"password":"p","roles":["cds.Subscriber"],"tenant":"t1"}}}))
            .expect("valid");
        let auth = s.finish(true).expect("basic is fine in production");
        assert_eq!(auth.users["a"].roles, vec![Role::Subscriber]);
        assert!(!format!("{auth:?}").contains("\"p\""), "password printed");
    }

    #[test]
    fn saas_credentials_need_every_field() {
        let ok = serde_json::json!({"saas_registry_url":"http://127.0.0.1:1","url":"http://127.0.0.1:2","clientid":"c","clientsecret":"s"});
        let c = saas_registry(&ok, "MTX_SAAS_CREDENTIALS").expect("valid");
        assert_eq!(c.clientsecret.masked(), "***");
        let mut missing = ok.clone();
        missing["clientsecret"] = Value::Null;
        let err = saas_registry(&missing, "MTX_SAAS_CREDENTIALS").expect_err("refused");
        assert_eq!(err.key, "MTX_SAAS_CREDENTIALS.clientsecret");
    }
}
