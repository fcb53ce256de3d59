//! Our DDL against the CAP compiler's over the whole fixture corpus (`models/corpus`), both
//! dialects, as a ratchet: `models/corpus/known-gaps.txt` lists the model versions and dialects
//! whose DDL does not match yet. The test fails when a case outside that list breaks (a
//! regression) and when a listed case starts to match (the list must shrink with the fix).
//! `MTX_CORPUS_BLESS=1` rewrites the list from what the test sees.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use super::{compiler_ddl, model_dir, ours, parse};
use crate::csn::Csn;
use crate::sql::{Dialect, PersistenceModel};

const VERSIONS: [&str; 2] = ["v1", "v2"];
const DIALECTS: [Dialect; 2] = [Dialect::Postgres, Dialect::Sqlite];

fn known_gaps_file() -> PathBuf {
    crate::testing::corpus_dir().join("known-gaps.txt")
}

fn dialect_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "postgres",
        Dialect::Sqlite => "sqlite",
    }
}

/// Every case as `corpus/<model>/<version>`, in order.
pub(super) fn corpus_cases() -> Vec<String> {
    crate::testing::corpus_models()
        .iter()
        .flat_map(|model| VERSIONS.map(|version| format!("corpus/{model}/{version}")))
        .collect()
}

/// A case's persistence model, or why it cannot be derived.
fn derive(case: &str) -> Result<PersistenceModel, String> {
    let csn = read_csn(&model_dir(case)).map_err(|e| format!("csn: {e}"))?;
    PersistenceModel::from_csn(&csn).map_err(|e| format!("derive: {e}"))
}

/// A case's persistence model; `None` for the cases we cannot derive yet (known gaps).
pub(crate) fn derive_case(case: &str) -> Option<PersistenceModel> {
    derive(case).ok()
}

/// Why one case does not match, in one line; `None` when our DDL equals the compiler's.
fn mismatch(case: &str, dialect: Dialect) -> Option<String> {
    let model = match derive(case) {
        Ok(model) => model,
        Err(reason) => return Some(reason),
    };
    let compared = catch_unwind(AssertUnwindSafe(|| {
        let expected = parse(&compiler_ddl(case, dialect), dialect, None);
        let actual = parse(&ours(&model, dialect, None), dialect, None);
        first_difference(&expected, &actual)
    }));
    match compared {
        Ok(difference) => difference,
        Err(_) => Some("our DDL does not parse".to_owned()),
    }
}

fn read_csn(dir: &Path) -> Result<Csn, String> {
    let text = std::fs::read_to_string(dir.join("csn.json")).map_err(|e| e.to_string())?;
    let value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Csn::from_value(value).map_err(|e| e.to_string())
}

fn first_difference(expected: &super::Schema, actual: &super::Schema) -> Option<String> {
    differing("table", &expected.tables, &actual.tables)
        .or_else(|| differing("view", &expected.views, &actual.views))
}

/// The first object missing, differing or extra in `actual`, named.
fn differing<T: PartialEq>(
    kind: &str,
    expected: &BTreeMap<String, T>,
    actual: &BTreeMap<String, T>,
) -> Option<String> {
    let missing_or_different = expected
        .iter()
        .find_map(|(name, want)| match actual.get(name) {
            None => Some(format!("{kind} {name} missing")),
            Some(have) if have != want => Some(format!("{kind} {name} differs")),
            Some(_) => None,
        });
    missing_or_different.or_else(|| {
        actual
            .keys()
            .find(|name| !expected.contains_key(*name))
            .map(|name| format!("{kind} {name} not in the compiler's DDL"))
    })
}

/// `model/version dialect` → reason, as the known-gaps file lists them.
fn read_known_gaps() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(known_gaps_file()).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| match line.split_once(" # ") {
            Some((case, reason)) => (case.trim().to_owned(), reason.trim().to_owned()),
            None => (line.to_owned(), String::new()),
        })
        .collect()
}

fn write_known_gaps(gaps: &BTreeMap<String, String>) {
    let mut text = String::from(
        "# Corpus cases whose DDL does not yet equal the CAP compiler's: `model/version dialect # first difference`.\n\
         # Written by `MTX_CORPUS_BLESS=1 cargo test -p mtx-shared corpus`; every fix removes lines.\n",
    );
    for (case, reason) in gaps {
        text.push_str(&format!("{case} # {reason}\n"));
    }
    std::fs::write(known_gaps_file(), text).expect("known-gaps.txt is writable");
}

#[test]
fn corpus_ddl_matches_the_compiler_except_for_the_known_gaps() {
    let models = crate::testing::corpus_models();
    assert!(models.len() >= 30, "the corpus has {} models", models.len());
    let mut gaps = BTreeMap::new();
    let mut cases = 0;
    for model in &models {
        for version in VERSIONS {
            let case = format!("corpus/{model}/{version}");
            assert!(
                model_dir(&case).join("csn.json").is_file(),
                "{case}: compiled (scripts/corpus/generate.sh)"
            );
            for dialect in DIALECTS {
                cases += 1;
                if let Some(reason) = mismatch(&case, dialect) {
                    gaps.insert(
                        format!("{model}/{version} {}", dialect_name(dialect)),
                        reason,
                    );
                }
            }
        }
    }
    if std::env::var_os("MTX_CORPUS_BLESS").is_some() {
        write_known_gaps(&gaps);
        return;
    }
    let known = read_known_gaps();
    let regressions: Vec<String> = gaps
        .iter()
        .filter(|(case, _)| !known.contains_key(*case))
        .map(|(case, reason)| format!("{case}: {reason}"))
        .collect();
    let fixed: Vec<&String> = known
        .keys()
        .filter(|case| !gaps.contains_key(*case))
        .collect();
    assert!(
        regressions.is_empty() && fixed.is_empty(),
        "{} of {cases} corpus cases match the compiler.\nNew mismatches:\n  {}\nNow matching (remove from known-gaps.txt, or bless):\n  {}",
        cases - gaps.len(),
        regressions.join("\n  "),
        fixed
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
    );
}
