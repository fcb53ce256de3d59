//! Where a status callback may go: only to the SaaS registry's own origin.
//!
//! A `status_callback` header is a path that cds-mtxs appends to `saas_registry_url`; the Java
//! variant `mtx_status_callback` is a full URL. Either way, whatever the request says must not
//! make the sidecar send its bearer token anywhere else (SSRF), so both are checked twice: the
//! raw text against a conservative character set (no `//host`, no backslashes, no user info, no
//! control characters), and the resolved URL against the registry's scheme, host and port.

use url::Url;

/// Why a callback target was refused; the message is safe to show the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid callback path: {0}")]
pub struct InvalidTarget(pub String);

/// The longest callback path or URL accepted.
const MAX_LEN: usize = 2048;

/// Resolves the callback headers of a request against the registry's base URL. `path` wins over
/// `full_url` when both are given. `Ok(None)` when neither is given.
pub fn resolve(
    registry_base: &str,
    path: Option<&str>,
    full_url: Option<&str>,
) -> Result<Option<String>, InvalidTarget> {
    let base = Url::parse(registry_base).map_err(|_| InvalidTarget(registry_base.to_owned()))?;
    match (path, full_url) {
        (Some(path), _) => resolve_path(&base, registry_base, path).map(Some),
        (None, Some(url)) => resolve_url(&base, url).map(Some),
        (None, None) => Ok(None),
    }
}

/// Whether `url` is on the registry's origin (checked again before every delivery, in case the
/// configuration changed since the callback was recorded).
pub fn same_origin(registry_base: &str, url: &str) -> bool {
    match (Url::parse(registry_base), Url::parse(url)) {
        (Ok(base), Ok(url)) => on_origin(&base, &url),
        _ => false,
    }
}

fn resolve_path(base: &Url, base_text: &str, path: &str) -> Result<String, InvalidTarget> {
    let refuse = || InvalidTarget(printable(path));
    if path.len() > MAX_LEN
        || !path.starts_with('/')
        || path.starts_with("//")
        || !path.chars().all(allowed_in_path)
    {
        return Err(refuse());
    }
    // Appended as text, as cds-mtxs does, then parsed: the result must still be on the origin.
    let joined = format!("{}{path}", base_text.trim_end_matches('/'));
    let url = Url::parse(&joined).map_err(|_| refuse())?;
    if !on_origin(base, &url) {
        return Err(refuse());
    }
    Ok(url.to_string())
}

fn resolve_url(base: &Url, raw: &str) -> Result<String, InvalidTarget> {
    let refuse = || InvalidTarget(printable(raw));
    let Some((_, rest)) = raw.split_once("://") else {
        return Err(refuse());
    };
    if raw.len() > MAX_LEN || !rest.chars().all(allowed_in_path) {
        return Err(refuse());
    }
    let url = Url::parse(raw).map_err(|_| refuse())?;
    if !on_origin(base, &url) {
        return Err(refuse());
    }
    Ok(url.to_string())
}

fn on_origin(base: &Url, url: &Url) -> bool {
    url.scheme() == base.scheme()
        && url.host() == base.host()
        && url.port_or_known_default() == base.port_or_known_default()
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
}

/// Unreserved and sub-delimiter characters, `/`, `:`, `%` (escapes) and `?`/`=`/`&` (queries);
/// never `\`, `@`, `#`, whitespace or control characters.
fn allowed_in_path(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '/' | '-' | '.' | '_' | '~' | '%' | '?' | '=' | '&' | ':' | '+' | ',' | ';' | '!'
        )
}

/// The refused value, cut and with control characters replaced, for the error message.
fn printable(raw: &str) -> String {
    raw.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://127.0.0.1:4099";

    #[test]
    fn a_plain_path_resolves_on_the_registry() {
        assert_eq!(
            resolve(
                BASE,
                Some("/saas-manager/v1/subscription-callback/123/result"),
                None
            ),
            Ok(Some(
                "http://127.0.0.1:4099/saas-manager/v1/subscription-callback/123/result".into()
            ))
        );
        assert_eq!(
            resolve("https://reg.example/api/", Some("/cb?x=1"), None),
            Ok(Some("https://reg.example/api/cb?x=1".into()))
        );
        assert_eq!(resolve(BASE, None, None), Ok(None));
    }

    #[test]
    fn paths_that_could_leave_the_origin_are_refused() {
        for evil in [
            "//evil.example/x",
            "evil.example/x",
            "http://evil.example/x",
            "/\\evil.example/x",
            "\\\\evil.example\\x",
            "/x@evil.example",
            "@evil.example/x",
            ":80@evil.example/x",
            "/x#frag",
            "/x y",
            "/x\r\nHost: evil",
            "/x\t",
            "",
            "/%0d%0aX:%20y\u{0}",
        ] {
            assert!(
                resolve(BASE, Some(evil), None).is_err(),
                "accepted {evil:?}"
            );
        }
        // A port change through the text join (base without trailing slash + ":1/x").
        assert!(resolve(BASE, Some(":1/x"), None).is_err());
    }

    #[test]
    fn full_urls_must_be_on_the_registry_origin() {
        assert_eq!(
            resolve(BASE, None, Some("http://127.0.0.1:4099/custom/cb2")),
            Ok(Some("http://127.0.0.1:4099/custom/cb2".into()))
        );
        for evil in [
            "http://127.0.0.1:4100/custom",
            "https://127.0.0.1:4099/custom",
            "http://user:pw@127.0.0.1:4099/custom",
            "http://127.0.0.1:4099@evil.example/custom",
            "http://evil.example/custom",
            "http://127.0.0.1:4099\\@evil.example/",
            "/custom",
            "file:///etc/passwd",
        ] {
            assert!(
                resolve(BASE, None, Some(evil)).is_err(),
                "accepted {evil:?}"
            );
        }
    }

    #[test]
    fn same_origin_compares_scheme_host_and_port() {
        assert!(same_origin(BASE, "http://127.0.0.1:4099/a"));
        assert!(same_origin(
            "https://reg.example",
            "https://reg.example:443/a"
        ));
        assert!(!same_origin(BASE, "http://localhost:4099/a"));
        assert!(!same_origin(BASE, "not a url"));
    }

    #[test]
    fn error_messages_are_printable() {
        let err = resolve(BASE, Some("//evil\r\n"), None).expect_err("refused");
        assert_eq!(err.to_string(), "Invalid callback path: //evil??");
    }
}
