//! The security part of the configuration: authentication (`MTX_AUTH`), the SaaS registry's
//! credentials (status callbacks) and how callbacks are delivered. Their keys are declared in
//! [`super::keys`]; this module holds the types and the checks that span several keys (what
//! each auth mode needs).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::input::{bad, string, string_list};
use super::{ConfigError, Secret, millis};
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
    /// Development and tests: CAP's mock users (`alice`, `bob`, … `yves`, and any other name
    /// without roles), merged with the users of the config file.
    Mocked,
}

/// How callers are authenticated.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// The users of the basic and mocked modes, by name (for mocked: CAP's defaults merged
    /// with the config file's).
    pub users: BTreeMap<String, BasicUser>,
    /// Token verification of the jwt mode.
    pub jwt: Option<JwtConfig>,
    /// The dummy and mocked modes were explicitly allowed on PostgreSQL storage.
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

/// A user of the basic or mocked mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BasicUser {
    /// Always set in the basic mode; a mocked user without one admits any password.
    pub password: Option<Secret>,
    pub roles: Vec<Role>,
    /// The tenant the user belongs to; `None` for provider users.
    pub tenant: Option<TenantId>,
}

impl BasicUser {
    /// Compares `given` with the configured password in time independent of where they differ
    /// (both are hashed first, so neither length nor content leaks through timing). A user
    /// without a password admits any, as CAP's mock users do.
    pub fn password_matches(&self, given: &str) -> bool {
        use sha2::{Digest, Sha256};
        let Some(password) = &self.password else {
            return true;
        };
        let a = Sha256::digest(password.expose().as_bytes());
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
    /// The application name `$XSAPPNAME` stands for in scope names.
    pub xsappname: Option<String>,
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

impl CallbacksConfig {
    /// Nothing set: what the declared defaults are applied to.
    pub(super) fn blank() -> Self {
        Self {
            deadline: Duration::ZERO,
            first_retry: Duration::ZERO,
            max_retry: Duration::ZERO,
            rate_per_second: 0,
            poll: Duration::ZERO,
            request_timeout: Duration::ZERO,
        }
    }
}

impl Default for CallbacksConfig {
    /// The declared defaults of the `MTX_CALLBACK_*` keys.
    fn default() -> Self {
        super::load::Builder::with_defaults().callbacks
    }
}

/// The auth settings gathered from the defaults, the config file and the environment, before
/// [`AuthSettings::finish`] checks that the chosen mode has what it needs.
#[derive(Debug)]
pub(super) struct AuthSettings {
    pub mode: Option<AuthMode>,
    pub users: BTreeMap<String, BasicUser>,
    /// `auth.users` as written, for the mocked mode to merge over CAP's defaults field by field.
    pub users_file: Option<Value>,
    pub jwks_url: Option<String>,
    pub jwks: Option<Value>,
    pub keys: Vec<String>,
    pub issuer: Option<String>,
    pub audience: Vec<String>,
    pub leeway: Duration,
    pub tenant_claim: String,
    pub xsappname: Option<String>,
    pub scopes: BTreeMap<Role, String>,
    pub allow_dummy_in_production: bool,
}

impl AuthSettings {
    /// Nothing set: what the declared defaults are applied to.
    pub(super) fn blank() -> Self {
        Self {
            mode: None,
            users: BTreeMap::new(),
            users_file: None,
            jwks_url: None,
            jwks: None,
            keys: Vec::new(),
            issuer: None,
            audience: Vec::new(),
            leeway: Duration::ZERO,
            tenant_claim: String::new(),
            xsappname: None,
            scopes: BTreeMap::new(),
            allow_dummy_in_production: false,
        }
    }
}

impl Default for AuthSettings {
    /// The declared defaults of the auth keys.
    fn default() -> Self {
        super::load::Builder::with_defaults().auth
    }
}

pub(super) fn auth_mode(v: &str, key: &str) -> Result<AuthMode, ConfigError> {
    match v {
        "dummy" => Ok(AuthMode::Dummy),
        "basic" => Ok(AuthMode::Basic),
        "jwt" => Ok(AuthMode::Jwt),
        "mocked" => Ok(AuthMode::Mocked),
        other => Err(bad(
            key,
            format!("unknown auth mode '{other}' (supported: dummy, basic, jwt, mocked)"),
        )),
    }
}

impl AuthSettings {
    /// `"auth"` of our config file: a mode name or an object, read through the same key
    /// declarations as a whole file (for tests of the auth part alone).
    #[cfg(test)]
    pub(super) fn apply_file(&mut self, v: &Value) -> Result<(), ConfigError> {
        let mut builder = super::load::Builder::blank();
        builder.auth = std::mem::replace(self, Self::blank());
        let applied = builder.apply_own_subtree("auth", v, std::path::Path::new(""));
        *self = builder.auth;
        applied
    }

    /// Validates the settings of the chosen mode. `production` is true on PostgreSQL storage,
    /// where the dummy and mocked modes are refused unless explicitly allowed.
    pub(super) fn finish(mut self, production: bool) -> Result<AuthConfig, ConfigError> {
        let mode = self.mode.unwrap_or(AuthMode::Dummy);
        if production && !self.allow_dummy_in_production {
            let lax = match mode {
                AuthMode::Dummy => Some("the dummy mode lets every request through"),
                AuthMode::Mocked => Some(
                    "the mocked mode admits well-known users and any user name without a password",
                ),
                AuthMode::Basic | AuthMode::Jwt => None,
            };
            if let Some(lax) = lax {
                return Err(bad(
                    "MTX_AUTH",
                    format!(
                        "{lax} and is refused with PostgreSQL storage; set MTX_AUTH=jwt (or \
                         basic), or force it with MTX_AUTH_ALLOW_DUMMY=true"
                    ),
                ));
            }
        }
        if mode == AuthMode::Basic {
            if self.users.is_empty() {
                return Err(bad("auth.users", "the basic mode needs at least one user"));
            }
            if let Some(name) = self
                .users
                .iter()
                .find_map(|(n, u)| u.password.is_none().then_some(n))
            {
                return Err(bad(
                    &format!("auth.users.{name}.password"),
                    "a non-empty password is required",
                ));
            }
        }
        if mode == AuthMode::Mocked {
            self.users = mocked_users(self.users_file.as_ref())?;
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
                leeway: self.leeway,
                tenant_claim: self.tenant_claim,
                xsappname: (!xsappname.is_empty()).then_some(xsappname),
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

/// `auth.users` of the config file; a role the sidecar does not know is refused.
pub(super) fn users(v: &Value) -> Result<BTreeMap<String, BasicUser>, ConfigError> {
    parse_users(v, UnknownRoles::Refuse)
}

/// What a role unknown to the sidecar does to a user's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnknownRoles {
    /// Refused, naming the key: a typo in the config file.
    Refuse,
    /// Dropped: CAP's own mock users carry roles (`admin`) that grant nothing here.
    Ignore,
}

/// CAP's mock users (`@sap/cds` 10, `cds.requires.auth` of kind `mocked`), minus their feature
/// toggles. `*` stands for any other user name, admitted without roles or tenant.
fn cap_mock_users() -> Value {
    serde_json::json!({
        "alice": { "tenant": "t1", "roles": ["admin"] },
        "bob":   { "tenant": "t1", "roles": ["cds.ExtensionDeveloper"] },
        "carol": { "tenant": "t1", "roles": ["admin", "cds.ExtensionDeveloper"] },
        "dave":  { "tenant": "t1", "roles": ["admin"] },
        "erin":  { "tenant": "t2", "roles": ["admin", "cds.ExtensionDeveloper"] },
        "fred":  { "tenant": "t2" },
        "me":    { "tenant": "t1" },
        "yves":  { "roles": ["internal-user"] },
    })
}

/// The users of the mocked mode: CAP's defaults with the config file's merged over them as
/// `cds.env` merges them, field by field (`{"alice":{"password":"x"}}` keeps alice's tenant
/// and roles). A user given as a string is a password, as in CAP.
fn mocked_users(file: Option<&Value>) -> Result<BTreeMap<String, BasicUser>, ConfigError> {
    let mut merged = cap_mock_users();
    if let (Some(Value::Object(given)), Value::Object(defaults)) = (file, &mut merged) {
        for (name, user) in given {
            let user = match user {
                Value::String(password) => serde_json::json!({ "password": password }),
                other => other.clone(),
            };
            match (defaults.get_mut(name), user) {
                (Some(Value::Object(default)), Value::Object(fields)) => default.extend(fields),
                (_, user) => {
                    defaults.insert(name.clone(), user);
                }
            }
        }
    }
    parse_users(&merged, UnknownRoles::Ignore)
}

fn parse_users(
    v: &Value,
    unknown_roles: UnknownRoles,
) -> Result<BTreeMap<String, BasicUser>, ConfigError> {
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
            // An empty password is no password, as in CAP: checked per mode in `finish`.
            let password = u
                .get("password")
                .map(|p| string(p, &format!("{key}.password")))
                .transpose()?
                .filter(|p| !p.is_empty())
                .map(Secret::new);
            let roles = match u.get("roles") {
                None => Vec::new(),
                Some(r) => string_list(r, &format!("{key}.roles"))?
                    .iter()
                    .filter_map(|r| match (r.parse::<Role>(), unknown_roles) {
                        (Ok(role), _) => Some(Ok(role)),
                        (Err(_), UnknownRoles::Ignore) => None,
                        (Err(e), UnknownRoles::Refuse) => {
                            Some(Err(bad(&format!("{key}.roles"), e)))
                        }
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
                    password,
                    roles,
                    tenant,
                },
            ))
        })
        .collect()
}

pub(super) fn jwks(v: &Value, key: &str) -> Result<Value, ConfigError> {
    if v.get("keys").is_some_and(Value::is_array) {
        Ok(v.clone())
    } else {
        Err(bad(key, "must be a JWKS document ({\"keys\":[…]})"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_compare_exactly() {
        let u = BasicUser {
            password: Some(Secret::new("s3cret")),
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

    #[test]
    fn mocked_users_are_caps_with_the_config_files_merged_over_them() {
        let mut s = AuthSettings::default();
        s.apply_file(&serde_json::json!({"kind":"mocked","users":{
            "alice":{"password":"wonderland"},
            "yves":"secret",
            "sam":{"roles":["cds.Subscriber"],"tenant":"t3"}
        }}))
        .expect("valid");
        let auth = s.finish(false).expect("mocked is fine without PostgreSQL");
        let alice = &auth.users["alice"];
        assert!(alice.password_matches("wonderland") && !alice.password_matches(""));
        assert_eq!(alice.tenant.as_ref().map(TenantId::as_str), Some("t1"));
        assert!(alice.roles.is_empty(), "admin grants nothing here");
        assert_eq!(auth.users["yves"].roles, vec![Role::InternalUser]);
        assert!(!auth.users["yves"].password_matches(""));
        assert_eq!(auth.users["sam"].roles, vec![Role::Subscriber]);
        assert!(auth.users["bob"].password_matches("anything"));
        assert_eq!(auth.users.len(), 9);
    }

    #[test]
    fn mocked_auth_is_refused_in_production_unless_forced() {
        let mocked = || AuthSettings {
            mode: Some(AuthMode::Mocked),
            ..AuthSettings::default()
        };
        assert_eq!(
            mocked().finish(true).map_err(|e| e.key).err().as_deref(),
            Some("MTX_AUTH")
        );
        let forced = AuthSettings {
            allow_dummy_in_production: true,
            ..mocked()
        };
        assert_eq!(
            forced.finish(true).map(|a| a.mode).ok(),
            Some(AuthMode::Mocked)
        );
    }

    #[test]
    fn basic_users_need_a_password() {
        let mut s = AuthSettings::default();
        s.apply_file(
            &serde_json::json!({"kind":"basic","users":{"a":{"roles":["cds.Subscriber"]}}}),
        )
        .expect("parses");
        assert_eq!(
            s.finish(false).map_err(|e| e.key).err().as_deref(),
            Some("auth.users.a.password")
        );
    }
}
