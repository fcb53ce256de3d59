//! The SaaS provisioning rules that do not depend on HTTP: which application URL a subscriber
//! is shown, and what a subdomain must look like to become part of a host name.

/// The placeholder of `SUBSCRIPTION_URL` that the subscriber's subdomain replaces.
pub const SUBDOMAIN_PLACEHOLDER: &str = "${tenant_subdomain}";

/// What a successful subscription answers when no application URL is known.
pub const NO_APPLICATION_URL: &str = "Tenant successfully subscribed - no application URL provided";

/// The subdomain cannot become part of a host name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Field 'subscribedSubdomain' must be a DNS label ([A-Za-z0-9-], at most 63)")]
pub struct InvalidSubdomain;

/// Whether `candidate` is a DNS label as a subdomain needs it: 1 to 63 of `[A-Za-z0-9-]`, not
/// starting with `-`.
pub fn is_dns_label(candidate: &str) -> bool {
    !candidate.is_empty()
        && candidate.len() <= 63
        && candidate
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !candidate.starts_with('-')
}

/// The application URL the SaaS registry shows the subscriber: `explicit` (the request's
/// `application_url`) when non-empty, else `template` (`SUBSCRIPTION_URL`) with
/// [`SUBDOMAIN_PLACEHOLDER`] replaced by `subdomain`, which must then be a DNS label. `None`
/// when there is no URL to show: no template, or a template with a placeholder but no
/// subdomain.
pub fn application_url(
    explicit: Option<&str>,
    template: Option<&str>,
    subdomain: Option<&str>,
) -> Result<Option<String>, InvalidSubdomain> {
    if let Some(url) = explicit.filter(|u| !u.is_empty()) {
        return Ok(Some(url.to_owned()));
    }
    let Some(template) = template else {
        return Ok(None);
    };
    if !template.contains(SUBDOMAIN_PLACEHOLDER) {
        return Ok(Some(template.to_owned()));
    }
    let Some(subdomain) = subdomain else {
        return Ok(None);
    };
    if !is_dns_label(subdomain) {
        return Err(InvalidSubdomain);
    }
    Ok(Some(template.replace(SUBDOMAIN_PLACEHOLDER, subdomain)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "https://${tenant_subdomain}.app.example.com";

    #[test]
    fn dns_labels_are_letters_digits_and_inner_hyphens_up_to_63() {
        assert!(is_dns_label("t1-sub"));
        assert!(is_dns_label(&"a".repeat(63)));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label("-t1"));
        assert!(!is_dns_label("a.b"));
        assert!(!is_dns_label("a_b"));
        assert!(!is_dns_label("ä"));
    }

    #[test]
    fn an_explicit_url_wins_unless_empty() {
        assert_eq!(
            application_url(Some("https://given"), Some(TEMPLATE), Some("x")),
            Ok(Some("https://given".into()))
        );
        assert_eq!(
            application_url(Some(""), Some(TEMPLATE), Some("x")),
            Ok(Some("https://x.app.example.com".into()))
        );
    }

    #[test]
    fn the_template_takes_the_subdomain_when_it_has_the_placeholder() {
        assert_eq!(
            application_url(None, Some(TEMPLATE), Some("t1-sub")),
            Ok(Some("https://t1-sub.app.example.com".into()))
        );
        assert_eq!(
            application_url(None, Some("https://fixed"), Some("not a label")),
            Ok(Some("https://fixed".into()))
        );
        assert_eq!(application_url(None, Some(TEMPLATE), None), Ok(None));
        assert_eq!(application_url(None, None, Some("x")), Ok(None));
    }

    #[test]
    fn a_subdomain_that_is_no_dns_label_is_refused() {
        assert_eq!(
            application_url(None, Some(TEMPLATE), Some("a.b")),
            Err(InvalidSubdomain)
        );
    }
}
