//! The README's configuration table, rendered from the key declarations. A test compares it
//! with `README.md` and prints the expected table when they differ (or rewrites it with
//! `MTX_UPDATE_README=1`).

use super::keys::{CdsKey, Fallback, KEYS, Key};

/// The table's first line; the table runs from it to the first line that is not a table row.
pub(super) const HEADER: &str = "| variable | `mtx.json` key | cds-mtxs key | default | meaning |";

/// The Markdown table of every declared key.
pub(super) fn table() -> String {
    let mut out = String::new();
    out.push_str(HEADER);
    out.push_str("\n|---|---|---|---|---|\n");
    for key in KEYS {
        let row = [
            key.env.map_or_else(|| "—".to_owned(), code),
            file_keys(key),
            cds(key.cds),
            default(key),
            meaning(key),
        ];
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}

fn code(s: &str) -> String {
    format!("`{s}`")
}

fn file_keys(key: &Key) -> String {
    let names: Vec<String> = key.file_keys().map(code).collect();
    if names.is_empty() {
        "—".to_owned()
    } else {
        names.join(", ")
    }
}

fn cds(cds: Option<CdsKey>) -> String {
    match cds {
        None => "—".to_owned(),
        Some(CdsKey::Jobs(k)) => format!("`…jobs.{k}`"),
        Some(CdsKey::SaasProvisioning(k)) => {
            format!("`[\"cds.xt.SaasProvisioningService\"].{k}`")
        }
        Some(CdsKey::RegistryCredentials) => "`multitenancy.credentials`".to_owned(),
    }
}

fn default(key: &Key) -> String {
    match key.default {
        Fallback::Unset => "—".to_owned(),
        Fallback::Described(text) => text.to_owned(),
        Fallback::Value(value) => match key.name().ends_with("_MS").then(|| readable_ms(value)) {
            Some(Some(readable)) => format!("`{value}` ({readable})"),
            _ => code(value),
        },
    }
}

/// `604800000` → `7 days`: the largest unit that divides the value, for values of a second or
/// more.
fn readable_ms(value: &str) -> Option<String> {
    let ms: u64 = value.parse().ok()?;
    const UNITS: [(u64, &str, &str); 4] = [
        (86_400_000, "day", "days"),
        (3_600_000, "h", "h"),
        (60_000, "min", "min"),
        (1_000, "s", "s"),
    ];
    UNITS.iter().find_map(|&(size, one, many)| {
        (ms >= size && ms.is_multiple_of(size)).then(|| {
            let n = ms / size;
            format!("{n} {}", if n == 1 { one } else { many })
        })
    })
}

fn meaning(key: &Key) -> String {
    if key.secret {
        format!("{} (secret: masked by `config`)", key.about)
    } else {
        key.about.to_owned()
    }
}

/// `readme` with its configuration table replaced by `table`; `None` without a table.
pub(super) fn replace_table(readme: &str, table: &str) -> Option<String> {
    let start = readme.find(HEADER)?;
    let rest = &readme[start..];
    let mut end = start;
    for line in rest.split_inclusive('\n') {
        if !line.starts_with('|') {
            break;
        }
        end += line.len();
    }
    Some(format!("{}{table}{}", &readme[..start], &readme[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_configuration_table_matches_the_declarations() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
        let readme = std::fs::read_to_string(&path).expect("README.md is readable");
        let expected = table();
        let updated = replace_table(&readme, &expected)
            .expect("README.md has a configuration table starting with the header line");
        if updated == readme {
            return;
        }
        if std::env::var("MTX_UPDATE_README").is_ok_and(|v| v == "1") {
            std::fs::write(&path, updated).expect("README.md is writable");
            return;
        }
        panic!(
            "README.md's configuration table differs from the key declarations \
             (shared/src/config/keys.rs); paste this, or run with MTX_UPDATE_README=1:\n\n{expected}"
        );
    }

    #[test]
    fn milliseconds_read_in_the_largest_whole_unit() {
        assert_eq!(readable_ms("604800000").as_deref(), Some("7 days"));
        assert_eq!(readable_ms("86400000").as_deref(), Some("1 day"));
        assert_eq!(readable_ms("1800000").as_deref(), Some("30 min"));
        assert_eq!(readable_ms("1500").as_deref(), None);
        assert_eq!(readable_ms("0").as_deref(), None);
    }
}
