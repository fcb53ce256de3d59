//! Authentication and authorization at the edge.
//!
//! [`require_roles`] runs before every route: it authenticates the request (dummy, basic or JWT,
//! per `MTX_AUTH`), checks the roles the route needs ([`requirement`], the cds-mtxs table) and
//! puts the [`Caller`] into the request's extensions for the handlers, which then apply tenant
//! isolation with [`ensure_access`] and [`Caller::may_see_all`].
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
use mtx_shared::access::{Caller, Role};
use mtx_shared::config::{AuthConfig, AuthMode, BasicUser};
use mtx_shared::vocab::TenantId;

use crate::error::ApiError;

/// Roles cds-mtxs requires of the provisioning service.
const PROVISIONING: &[Role] = &[Role::Subscriber, Role::Mtcallback, Role::InternalUser];
/// Roles cds-mtxs requires of the deployment service.
const DEPLOYMENT: &[Role] = &[Role::Subscriber, Role::InternalUser];
/// Any authenticated caller.
const AUTHENTICATED: &[Role] = &[];

/// What a path requires: `None` for open paths, else any one of the roles (none: authenticated).
pub fn requirement(path: &str) -> Option<&'static [Role]> {
    let under = |base: &str| path == base || path.starts_with(&format!("{base}/"));
    if path == "/health" {
        None
    } else if under("/-/cds/saas-provisioning") {
        Some(PROVISIONING)
    } else if under("/-/cds/deployment") {
        Some(DEPLOYMENT)
    } else {
        // The jobs service (tenant isolation applies in its handlers) and unknown paths: an
        // anonymous caller cannot even learn which paths exist.
        Some(AUTHENTICATED)
    }
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
    Jwt(Box<jwt::Verifier>),
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
            Kind::Basic(_) | Kind::Dummy => "Basic realm=\"Users\"",
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
            Kind::Basic(users) => basic(users, header()?),
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

fn basic(users: &BTreeMap<String, BasicUser>, header: &str) -> Result<Caller, AuthError> {
    let encoded = scheme_value(header, "Basic").ok_or(AuthError::Malformed)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| AuthError::Malformed)?;
    let decoded = String::from_utf8(decoded).map_err(|_| AuthError::Malformed)?;
    let (name, password) = decoded.split_once(':').ok_or(AuthError::Malformed)?;
    let Some(user) = users.get(name) else {
        // Compare anyway, so an unknown name takes as long as a wrong password.
        let _ = BasicUser {
            password: mtx_shared::config::Secret::new("-"),
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

/// The middleware: authenticate, check the route's roles, hand the [`Caller`] on.
pub async fn require_roles(
    State(auth): State<Arc<Authenticator>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(required) = requirement(req.uri().path()) else {
        return next.run(req).await;
    };
    let caller = match auth.authenticate(req.headers()).await {
        Ok(caller) => caller,
        Err(reason) => {
            tracing::debug!(%reason, path = req.uri().path(), "request not authenticated");
            return ApiError::Unauthorized {
                challenge: auth.challenge(),
            }
            .into_response();
        }
    };
    if !caller.has_any(required) {
        return ApiError::Forbidden(format!(
            "User '{}' is lacking required roles: [{}]",
            caller.name,
            required
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ))
        .into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> BTreeMap<String, BasicUser> {
        [(
            "alice".to_owned(),
            BasicUser {
                password: mtx_shared::config::Secret::new("wonderland"),
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
        let caller = basic(&users(), &format!("Basic {}", b64("alice:wonderland"))).expect("valid");
        assert_eq!(caller.name, "alice");
        assert!(caller.roles.contains(&Role::Subscriber));
        assert_eq!(caller.tenant.as_ref().map(TenantId::as_str), Some("t1"));
        assert!(basic(&users(), &format!("basic {}", b64("alice:wonderland"))).is_ok());
        assert!(matches!(
            basic(&users(), &format!("Basic {}", b64("alice:wrong"))),
            Err(AuthError::BadPassword)
        ));
        assert!(matches!(
            basic(&users(), &format!("Basic {}", b64("bob:wonderland"))),
            Err(AuthError::BadPassword)
        ));
        assert!(matches!(
            basic(&users(), &format!("Basic {}", b64("alice"))),
            Err(AuthError::Malformed)
        ));
        assert!(matches!(
            basic(&users(), "Basic !!!"),
            Err(AuthError::Malformed)
        ));
        assert!(matches!(
            basic(&users(), "Bearer x"),
            Err(AuthError::Malformed)
        ));
    }

    #[test]
    fn requirements_follow_cds_mtxs() {
        assert_eq!(requirement("/health"), None);
        assert_eq!(
            requirement("/-/cds/saas-provisioning/tenant/t1"),
            Some(PROVISIONING)
        );
        assert_eq!(requirement("/-/cds/deployment/subscribe"), Some(DEPLOYMENT));
        assert_eq!(
            requirement("/-/cds/jobs/pollJob(ID='x')"),
            Some(AUTHENTICATED)
        );
        assert_eq!(
            requirement("/-/cds/saas-provisioningX"),
            Some(AUTHENTICATED)
        );
        assert_eq!(requirement("/nowhere"), Some(AUTHENTICATED));
    }
}
