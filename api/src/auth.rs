//! Authentication and authorization at the edge.
//!
//! [`guard`] runs before every route, with the [`Access`] the route declares: it authenticates
//! the request (dummy, basic, mocked or JWT, per `MTX_AUTH`), checks the roles the route needs and puts
//! the [`Caller`] into the request's extensions for the handlers, which then apply tenant
//! isolation with [`ensure_access`], [`ensure_selection`] and [`Caller::may_see_all`].
//!
//! A refused request learns nothing about why: every authentication failure is the same 401
//! (with `WWW-Authenticate`), the reason is only logged at debug level.

mod jwt;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use mtx_shared::access::{Caller, Role, TenantScope};
use mtx_shared::config::{AuthConfig, AuthMode, BasicUser};
use mtx_shared::jobs::service::TenantSelection;
use mtx_shared::vocab::TenantId;

use crate::error::ApiError;

/// Who may call a route; every route declares one (see `routing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials needed (`/health`).
    Open,
    /// Any authenticated caller; the handlers apply tenant isolation.
    Authenticated,
    /// An authenticated caller with at least one of the roles.
    AnyRole(&'static [Role]),
}

impl Access {
    /// Roles cds-mtxs requires of the provisioning service.
    pub const PROVISIONING: Access =
        Access::AnyRole(&[Role::Subscriber, Role::Mtcallback, Role::InternalUser]);
    /// Roles cds-mtxs requires of the deployment service.
    pub const DEPLOYMENT: Access = Access::AnyRole(&[Role::Subscriber, Role::InternalUser]);
}

/// Verifies credentials per the configured mode.
#[derive(Debug)]
pub struct Authenticator {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Dummy,
    Basic(BTreeMap<String, BasicUser>),
    /// CAP's mock users: like basic, but any other user name is admitted without roles.
    Mocked(BTreeMap<String, BasicUser>),
    Jwt(Box<jwt::Verifier>),
}

/// Whether a user name the configuration does not list is admitted (CAP's `"*": true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnknownUsers {
    Refuse,
    AdmitWithoutRoles,
}

/// Why a request is not authenticated; only logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials")]
    Missing,
    #[error("malformed credentials")]
    Malformed,
    #[error("unknown user or wrong password")]
    BadPassword,
    #[error("token refused: {0}")]
    Token(String),
}

impl Authenticator {
    /// The authenticator of the configured mode. Fails on unusable static keys.
    pub fn from_config(config: &AuthConfig) -> anyhow::Result<Self> {
        let kind = match config.mode {
            AuthMode::Dummy => Kind::Dummy,
            AuthMode::Basic => Kind::Basic(config.users.clone()),
            AuthMode::Mocked => Kind::Mocked(config.users.clone()),
            AuthMode::Jwt => {
                let jwt = config
                    .jwt
                    .clone()
                    .ok_or_else(|| anyhow::anyhow!("the jwt mode needs its settings"))?;
                Kind::Jwt(Box::new(jwt::Verifier::new(jwt)?))
            }
        };
        Ok(Self { kind })
    }

    /// The `WWW-Authenticate` challenge of a 401.
    pub fn challenge(&self) -> &'static str {
        match self.kind {
            Kind::Jwt(_) => "Bearer",
            Kind::Basic(_) | Kind::Mocked(_) | Kind::Dummy => "Basic realm=\"Users\"",
        }
    }

    /// The caller behind the request's `Authorization` header.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        let header = || {
            headers
                .get("authorization")
                .ok_or(AuthError::Missing)
                .and_then(|v| v.to_str().map_err(|_| AuthError::Malformed))
        };
        match &self.kind {
            Kind::Dummy => Ok(Caller::privileged("dummy")),
            Kind::Basic(users) => basic(users, UnknownUsers::Refuse, header()?),
            Kind::Mocked(users) => basic(users, UnknownUsers::AdmitWithoutRoles, header()?),
            Kind::Jwt(verifier) => {
                let token = scheme_value(header()?, "Bearer").ok_or(AuthError::Malformed)?;
                verifier.verify(token).await
            }
        }
    }
}

/// The value after `scheme ` in an `Authorization` header (scheme matched case-insensitively).
fn scheme_value<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, value) = header.split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| value.trim())
        .filter(|v| !v.is_empty())
}

fn basic(
    users: &BTreeMap<String, BasicUser>,
    unknown: UnknownUsers,
    header: &str,
) -> Result<Caller, AuthError> {
    let encoded = scheme_value(header, "Basic").ok_or(AuthError::Malformed)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| AuthError::Malformed)?;
    let decoded = String::from_utf8(decoded).map_err(|_| AuthError::Malformed)?;
    let (name, password) = decoded.split_once(':').ok_or(AuthError::Malformed)?;
    let Some(user) = users.get(name) else {
        if unknown == UnknownUsers::AdmitWithoutRoles && !name.is_empty() {
            return Ok(Caller {
                name: name.to_owned(),
                roles: Default::default(),
                tenant: None,
            });
        }
        // Compare anyway, so an unknown name takes as long as a wrong password.
        let _ = BasicUser {
            password: Some(mtx_shared::config::Secret::new("-")),
            roles: Vec::new(),
            tenant: None,
        }
        .password_matches(password);
        return Err(AuthError::BadPassword);
    };
    if !user.password_matches(password) {
        return Err(AuthError::BadPassword);
    }
    Ok(Caller {
        name: name.to_owned(),
        roles: user.roles.iter().copied().collect(),
        tenant: user.tenant.clone(),
    })
}

/// The caller, if `access` admits the request: `None` for open routes, else the authenticated
/// caller holding one of the required roles; 401 (the same for every reason) or 403 otherwise.
pub async fn authorize(
    auth: &Authenticator,
    access: Access,
    path: &str,
    headers: &HeaderMap,
) -> Result<Option<Caller>, ApiError> {
    let required: &[Role] = match access {
        Access::Open => return Ok(None),
        Access::Authenticated => &[],
        Access::AnyRole(roles) => roles,
    };
    let caller = auth.authenticate(headers).await.map_err(|reason| {
        tracing::debug!(%reason, path, "request not authenticated");
        ApiError::Unauthorized {
            challenge: auth.challenge(),
        }
    })?;
    if !caller.has_any(required) {
        return Err(ApiError::Forbidden(format!(
            "User '{}' is lacking required roles: [{}]",
            caller.name,
            required
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(",")
        )));
    }
    Ok(Some(caller))
}

/// The middleware of a route declaring `access`: authorize, then hand the [`Caller`] on in the
/// request's extensions.
pub async fn guard(
    State((auth, access)): State<(Arc<Authenticator>, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    match authorize(&auth, access, req.uri().path(), req.headers()).await {
        Ok(caller) => {
            if let Some(caller) = caller {
                req.extensions_mut().insert(caller);
            }
            next.run(req).await
        }
        Err(refused) => refused.into_response(),
    }
}

/// 403 unless the caller may act on `tenant`.
pub fn ensure_access(caller: &Caller, tenant: &TenantId) -> Result<(), ApiError> {
    if caller.may_access(tenant) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "User '{}' has no permission for tenant {tenant}",
            caller.name
        )))
    }
}

/// 403 unless the caller may act on every selected tenant (`*` needs access to all tenants).
pub fn ensure_selection(caller: &Caller, selection: &TenantSelection) -> Result<(), ApiError> {
    match selection {
        TenantSelection::All if caller.scope() != TenantScope::All => Err(ApiError::Forbidden(
            format!("User '{}' has no permission for all tenants", caller.name),
        )),
        TenantSelection::All => Ok(()),
        TenantSelection::Only(ids) => ids.iter().try_for_each(|t| ensure_access(caller, t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> BTreeMap<String, BasicUser> {
        [(
            "alice".to_owned(),
            BasicUser {
                password: Some(mtx_shared::config::Secret::new("wonderland")),
                roles: vec![Role::Subscriber],
                tenant: Some(TenantId::parse("t1").expect("valid")),
            },
        )]
        .into_iter()
        .collect()
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn basic_credentials_are_checked() {
        let caller = basic(
            &users(),
            UnknownUsers::Refuse,
            &format!("Basic {}", b64("alice:wonderland")),
        )
        .expect("valid");
        assert_eq!(caller.name, "alice");
        assert!(caller.roles.contains(&Role::Subscriber));
        assert_eq!(caller.tenant.as_ref().map(TenantId::as_str), Some("t1"));
        assert!(
            basic(
                &users(),
                UnknownUsers::Refuse,
                &format!("basic {}", b64("alice:wonderland"))
            )
            .is_ok()
        );
        assert!(matches!(
            basic(
                &users(),
                UnknownUsers::Refuse,
                &format!("Basic {}", b64("alice:wrong"))
            ),
            Err(AuthError::BadPassword)
        ));
        assert!(matches!(
            basic(
                &users(),
                UnknownUsers::Refuse,
                &format!("Basic {}", b64("bob:wonderland"))
            ),
            Err(AuthError::BadPassword)
        ));
        assert!(matches!(
            basic(
                &users(),
                UnknownUsers::Refuse,
                &format!("Basic {}", b64("alice"))
            ),
            Err(AuthError::Malformed)
        ));
        assert!(matches!(
            basic(&users(), UnknownUsers::Refuse, "Basic !!!"),
            Err(AuthError::Malformed)
        ));
        assert!(matches!(
            basic(&users(), UnknownUsers::Refuse, "Bearer x"),
            Err(AuthError::Malformed)
        ));
    }

    fn mocked() -> Authenticator {
        let env = [("MTX_AUTH".to_owned(), "mocked".to_owned())]
            .into_iter()
            .collect();
        let config = mtx_shared::config::Config::load(&env).expect("mocked loads");
        Authenticator::from_config(&config.auth).expect("mocked authenticator")
    }

    async fn mocked_login(auth: &Authenticator, credentials: &str) -> Result<Caller, AuthError> {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", b64(credentials));
        headers.insert("authorization", value.parse().expect("header value"));
        auth.authenticate(&headers).await
    }

    #[tokio::test]
    async fn mocked_users_have_caps_roles_and_tenants() {
        let auth = mocked();
        let expected: [(&str, &[Role], Option<&str>); 8] = [
            // `admin` grants nothing in the sidecar, so alice and dave hold no role of ours.
            ("alice", &[], Some("t1")),
            ("bob", &[Role::ExtensionDeveloper], Some("t1")),
            ("carol", &[Role::ExtensionDeveloper], Some("t1")),
            ("dave", &[], Some("t1")),
            ("erin", &[Role::ExtensionDeveloper], Some("t2")),
            ("fred", &[], Some("t2")),
            ("me", &[], Some("t1")),
            ("yves", &[Role::InternalUser], None),
        ];
        for (name, roles, tenant) in expected {
            let caller = mocked_login(&auth, &format!("{name}:"))
                .await
                .unwrap_or_else(|e| panic!("{name} refused: {e}"));
            assert_eq!(caller.name, name);
            assert_eq!(caller.roles, roles.iter().copied().collect(), "{name}");
            assert_eq!(
                caller.tenant.as_ref().map(TenantId::as_str),
                tenant,
                "{name}"
            );
        }
        assert_eq!(auth.challenge(), "Basic realm=\"Users\"");
    }

    #[tokio::test]
    async fn mocked_users_without_a_password_admit_any_and_unknown_names_get_no_roles() {
        let auth = mocked();
        assert!(mocked_login(&auth, "yves:").await.is_ok());
        assert!(mocked_login(&auth, "yves:wrong").await.is_ok());
        let someone = mocked_login(&auth, "someone:x")
            .await
            .expect("admitted under *");
        assert!(someone.roles.is_empty());
        assert_eq!(someone.tenant, None);
        assert!(matches!(
            mocked_login(&auth, ":x").await,
            Err(AuthError::BadPassword)
        ));
        assert!(matches!(
            auth.authenticate(&HeaderMap::new()).await,
            Err(AuthError::Missing)
        ));
    }

    #[test]
    fn a_configured_password_of_a_mocked_user_is_checked() {
        let users = users();
        let alice = |given: &str| {
            basic(
                &users,
                UnknownUsers::AdmitWithoutRoles,
                &format!("Basic {}", b64(given)),
            )
        };
        assert!(alice("alice:wonderland").is_ok());
        assert!(matches!(alice("alice:"), Err(AuthError::BadPassword)));
        assert!(matches!(alice("alice:wrong"), Err(AuthError::BadPassword)));
    }
}
