//! Who may do what: the roles cds-mtxs knows, the authenticated caller, and tenant isolation.
//!
//! Authentication (dummy, basic, JWT) happens at the HTTP edge and yields a [`Caller`]; the
//! rules here decide, without any I/O, which tenants that caller may see and act on.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::vocab::TenantId;

/// A role as cds-mtxs names it. The order of the variants is the order roles are listed in
/// messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Role {
    /// A subscriber's administrator: provisioning and deployment of its own tenant.
    #[serde(rename = "cds.Subscriber")]
    Subscriber,
    /// The SaaS registry calling back (`$XSAPPNAME.mtcallback`): acts on every tenant.
    #[serde(rename = "mtcallback")]
    Mtcallback,
    /// A technical user of the application itself: acts on every tenant.
    #[serde(rename = "internal-user")]
    InternalUser,
    /// May extend its own tenant's model.
    #[serde(rename = "cds.ExtensionDeveloper")]
    ExtensionDeveloper,
    /// May develop (read models) for its own tenant.
    #[serde(rename = "cds.Developer")]
    Developer,
}

impl Role {
    /// Every role, in listing order.
    pub const ALL: [Role; 5] = [
        Role::Subscriber,
        Role::Mtcallback,
        Role::InternalUser,
        Role::ExtensionDeveloper,
        Role::Developer,
    ];

    /// The role's name as cds-mtxs writes it (and as scopes name it after the `xsappname.`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Subscriber => "cds.Subscriber",
            Role::Mtcallback => "mtcallback",
            Role::InternalUser => "internal-user",
            Role::ExtensionDeveloper => "cds.ExtensionDeveloper",
            Role::Developer => "cds.Developer",
        }
    }

    /// Whether the role acts for the provider across all tenants (not bound to one tenant).
    pub fn is_privileged(self) -> bool {
        matches!(self, Role::Mtcallback | Role::InternalUser)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role '{s}' (known: {})",
                    Role::ALL.map(Role::as_str).join(", ")
                )
            })
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user or client name, for messages and logs.
    pub name: String,
    pub roles: BTreeSet<Role>,
    /// The tenant the caller belongs to (the token's zone/tenant claim), if any.
    pub tenant: Option<TenantId>,
}

/// The tenants a caller may see and act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    /// Every tenant: `internal-user` and `mtcallback` callers.
    All,
    /// Only its own tenant.
    Own(TenantId),
    /// No tenant at all: a caller bound to no tenant and without a privileged role.
    Nothing,
}

impl Caller {
    /// The development caller of the dummy mode: every role, no tenant.
    pub fn privileged(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            roles: Role::ALL.into_iter().collect(),
            tenant: None,
        }
    }

    /// Whether the caller has at least one of `any_of` (an empty list requires nothing).
    pub fn has_any(&self, any_of: &[Role]) -> bool {
        any_of.is_empty() || any_of.iter().any(|r| self.roles.contains(r))
    }

    /// Which tenants the caller may touch.
    pub fn scope(&self) -> TenantScope {
        if self.roles.iter().any(|r| r.is_privileged()) {
            return TenantScope::All;
        }
        match &self.tenant {
            Some(t) => TenantScope::Own(t.clone()),
            None => TenantScope::Nothing,
        }
    }

    /// Whether the caller may see (and act on) `tenant`.
    pub fn may_access(&self, tenant: &TenantId) -> bool {
        match self.scope() {
            TenantScope::All => true,
            TenantScope::Own(own) => own == *tenant,
            TenantScope::Nothing => false,
        }
    }

    /// Whether the caller may see a job that covers `tenants`: only if it may access every one
    /// of them (a job spanning other tenants would reveal them).
    pub fn may_see_all<'a>(&self, mut tenants: impl Iterator<Item = &'a TenantId>) -> bool {
        match self.scope() {
            TenantScope::All => true,
            TenantScope::Own(own) => tenants.all(|t| *t == own),
            TenantScope::Nothing => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str) -> TenantId {
        TenantId::parse(id).expect("valid tenant id")
    }

    fn caller(roles: &[Role], tenant: Option<&str>) -> Caller {
        Caller {
            name: "u".into(),
            roles: roles.iter().copied().collect(),
            tenant: tenant.map(t),
        }
    }

    #[test]
    fn role_names_round_trip_and_unknown_names_are_refused() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
            assert_eq!(
                serde_json::to_value(r).ok(),
                Some(serde_json::json!(r.as_str()))
            );
        }
        assert!("admin".parse::<Role>().is_err());
    }

    #[test]
    fn privileged_roles_see_every_tenant() {
        let c = caller(&[Role::Mtcallback], Some("provider"));
        assert_eq!(c.scope(), TenantScope::All);
        assert!(c.may_access(&t("other")));
        let c = caller(&[Role::InternalUser], None);
        assert!(c.may_see_all([t("a"), t("b")].iter()));
    }

    #[test]
    fn tenant_bound_callers_see_only_their_own_tenant() {
        let c = caller(&[Role::Subscriber], Some("t1"));
        assert_eq!(c.scope(), TenantScope::Own(t("t1")));
        assert!(c.may_access(&t("t1")));
        assert!(!c.may_access(&t("t2")));
        assert!(c.may_see_all([t("t1")].iter()));
        assert!(
            !c.may_see_all([t("t1"), t("t2")].iter()),
            "a job spanning t2 is hidden"
        );
    }

    #[test]
    fn callers_without_tenant_or_privilege_see_nothing() {
        let c = caller(&[Role::Subscriber], None);
        assert_eq!(c.scope(), TenantScope::Nothing);
        assert!(!c.may_access(&t("t1")));
        assert!(!c.may_see_all([t("t1")].iter()));
    }

    #[test]
    fn role_requirements_are_any_of() {
        let c = caller(&[Role::Developer], Some("t1"));
        assert!(c.has_any(&[]));
        assert!(c.has_any(&[Role::Subscriber, Role::Developer]));
        assert!(!c.has_any(&[Role::Subscriber, Role::InternalUser]));
    }
}
