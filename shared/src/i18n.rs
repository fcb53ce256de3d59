//! The text bundles `cds build` writes beside a model (`srv/_i18n/i18n.json`:
//! `{"<locale>": {"Key": "text"}}`), and which texts a locale gets.
//!
//! A locale's texts fall back as `@sap/cds` does: the locale itself, then its language
//! (`de` for `de_CH`), then the default language (`en`), then the fallback bundle (`""`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Why a text bundle could not be read; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum I18nError {
    #[error("texts {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "texts {origin}: not an i18n bundle ({{\"<locale>\": {{\"key\": \"text\"}}}}): {message}"
    )]
    Invalid { origin: String, message: String },
}

/// The language whose texts stand in for a locale without its own (`cds.env.i18n.default_language`).
const DEFAULT_LANGUAGE: &str = "en";
/// The bundle every locale falls back to last (`cds.env.i18n.fallback_bundle`).
const FALLBACK_BUNDLE: &str = "";

/// The texts of a model, by locale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct I18nBundles {
    by_locale: BTreeMap<String, HashMap<String, String>>,
}

impl I18nBundles {
    /// Parses an `i18n.json`; `origin` names the file in errors.
    pub fn from_json(origin: &str, text: &str) -> Result<Self, I18nError> {
        let by_locale = serde_json::from_str(text).map_err(|e| I18nError::Invalid {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Self { by_locale })
    }

    /// Reads `file`; a missing file is a model without texts.
    pub fn load(file: &Path) -> Result<Self, I18nError> {
        match std::fs::read_to_string(file) {
            Ok(text) => Self::from_json(&file.display().to_string(), &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(I18nError::Read {
                path: file.to_path_buf(),
                source,
            }),
        }
    }

    /// The texts of `locale` (the default language when `None`), each key from the most
    /// specific bundle that has it.
    pub fn texts(&self, locale: Option<&str>) -> HashMap<String, String> {
        let mut chain = vec![FALLBACK_BUNDLE, DEFAULT_LANGUAGE];
        if let Some(locale) = locale.filter(|l| !l.is_empty()) {
            if let Some((language, _)) = locale.split_once(['_', '-']) {
                chain.push(language);
            }
            chain.push(locale);
        }
        let mut texts = HashMap::new();
        for name in chain {
            if let Some(bundle) = self.bundle(name) {
                texts.extend(bundle.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        texts
    }

    /// A bundle by locale name, matching `de-CH` and `de_ch` alike.
    fn bundle(&self, name: &str) -> Option<&HashMap<String, String>> {
        let normal = |s: &str| s.replace('-', "_").to_lowercase();
        self.by_locale
            .iter()
            .find(|(locale, _)| normal(locale) == normal(name))
            .map(|(_, bundle)| bundle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundles() -> I18nBundles {
        I18nBundles::from_json(
            "test",
            r#"{"": {"A": "fallback", "B": "fallback", "C": "fallback"},
                "en": {"B": "english", "C": "english"},
                "de": {"C": "deutsch"}}"#,
        )
        .expect("valid bundle")
    }

    #[test]
    fn a_locale_falls_back_to_its_language_then_english_then_the_fallback_bundle() {
        let texts = bundles().texts(Some("de_CH"));
        assert_eq!(texts["A"], "fallback");
        assert_eq!(texts["B"], "english");
        assert_eq!(texts["C"], "deutsch");
    }

    #[test]
    fn no_locale_gets_the_default_language() {
        let texts = bundles().texts(None);
        assert_eq!(texts["C"], "english");
    }

    #[test]
    fn a_model_without_bundles_has_no_texts() {
        assert!(I18nBundles::default().texts(Some("de")).is_empty());
    }

    #[test]
    fn a_bundle_that_is_not_locale_to_texts_is_refused() {
        assert!(I18nBundles::from_json("x", r#"{"en": "text"}"#).is_err());
    }
}
