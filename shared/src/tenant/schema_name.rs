use sha2::{Digest, Sha256};

use crate::vocab::TenantId;

/// The PostgreSQL schema that holds a tenant's tables.
///
/// Deterministic and collision-free: a readable prefix of the id (lower-cased, `.`/`-` → `_`)
/// plus 10 hex digits of its SHA-256, so `Acme` and `acme` get different schemas, and the result
/// always fits PostgreSQL's 63-byte identifier limit. The name is also recorded in the control
/// plane, so this function is only consulted when a tenant is first placed.
pub fn schema_name_for(tenant: &TenantId) -> String {
    let readable: String = tenant
        .as_str()
        .chars()
        .take(40)
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    let digest = Sha256::digest(tenant.as_str().as_bytes());
    let hex: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    format!("tenant_{readable}_{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_distinct_and_bounded() {
        let a = schema_name_for(&TenantId::parse("Acme").expect("valid"));
        let b = schema_name_for(&TenantId::parse("acme").expect("valid"));
        assert_ne!(a, b);
        let long = schema_name_for(&TenantId::parse(&"x".repeat(100)).expect("valid"));
        assert!(long.len() <= 63, "{long}");
        assert!(a.starts_with("tenant_acme_"));
    }
}
