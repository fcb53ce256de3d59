//! The application's model: loaded from disk, named by its content.
//!
//! A [`ModelVersion`] is the compiled CSN of one application version together with its
//! [`ModelHash`] (SHA-256 of the compact JSON). Versions are stored in the control plane, so a
//! task can name the version it deploys and any worker can run it, whatever model files that
//! worker has on its own disk (rolling deploys).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::csn::Csn;
use crate::i18n::{I18nBundles, I18nError};
use crate::schema::PersistenceModel;
use crate::vocab::ModelHash;

/// The bookshop example shipped with the sidecar, used when no model is configured.
pub const BUILTIN_BOOKSHOP: &str = include_str!("../../models/bookshop/v1/csn.json");

/// Why a model could not be loaded; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model {0}: neither a csn.json file nor a folder containing srv/csn.json or csn.json")]
    NotFound(PathBuf),
    #[error("model {path}: not valid CSN: {message}")]
    Invalid { path: String, message: String },
    #[error(transparent)]
    Texts(#[from] I18nError),
}

/// One version of the application's model: its CSN, its persistence model and its hash.
#[derive(Debug, Clone)]
pub struct ModelVersion {
    pub hash: ModelHash,
    /// The CSN as compact JSON (what the control plane stores and the hash covers).
    pub csn_json: Arc<str>,
    pub persistence: Arc<PersistenceModel>,
}

impl ModelVersion {
    /// Parses CSN text; `origin` names where it came from in error messages.
    pub fn from_json(origin: &str, text: &str) -> Result<Self, ModelError> {
        let invalid = |message: String| ModelError::Invalid {
            path: origin.to_owned(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let canonical = serde_json::to_string(&value).map_err(|e| invalid(e.to_string()))?;
        let csn = Csn::from_value(value).map_err(|e| invalid(e.to_string()))?;
        let persistence = PersistenceModel::from_csn(&csn).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            hash: ModelHash::of(&canonical),
            csn_json: canonical.into(),
            persistence: Arc::new(persistence),
        })
    }

    /// The built-in bookshop example.
    pub fn builtin() -> Result<Self, ModelError> {
        Self::from_json("(built-in bookshop example)", BUILTIN_BOOKSHOP)
    }

    /// Loads a model from a `csn.json` file or from a `cds build` output folder (`srv/csn.json`,
    /// else `csn.json` in the folder itself).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let file = resolve_model_file(path)?;
        let text = std::fs::read_to_string(&file).map_err(|source| ModelError::Read {
            path: file.clone(),
            source,
        })?;
        Self::from_json(&file.display().to_string(), &text)
    }
}

/// What `cds build` writes beside a model's CSN that is not part of its version: the texts
/// and the resources archive the model provider serves. Read with the model and re-read with it.
#[derive(Debug, Clone, Default)]
pub struct ModelPackage {
    /// `_i18n/i18n.json` beside the CSN file (empty when there is none).
    pub texts: Arc<I18nBundles>,
    /// `resources.tgz` of the build output, when there is one.
    pub resources: Option<PathBuf>,
}

impl ModelPackage {
    /// The package around the CSN file `csn_file` (as [`resolve_model_file`] found it).
    pub fn load(csn_file: &Path) -> Result<Self, ModelError> {
        let csn_dir = csn_file.parent().unwrap_or(Path::new("."));
        let texts = I18nBundles::load(&csn_dir.join("_i18n").join("i18n.json"))?;
        // `srv/csn.json` sits one level below the build output's root (`_main/`).
        let root = if csn_dir.file_name().is_some_and(|name| name == "srv") {
            csn_dir.parent().unwrap_or(csn_dir)
        } else {
            csn_dir
        };
        let resources = Some(root.join("resources.tgz")).filter(|file| file.is_file());
        Ok(Self {
            texts: Arc::new(texts),
            resources,
        })
    }
}

/// Finds the CSN file a model path stands for: the file itself, else in the folder
/// `_main/srv/csn.json` (a sidecar's `cds build` output), `srv/csn.json` or `csn.json`.
pub fn resolve_model_file(path: &Path) -> Result<PathBuf, ModelError> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if path.is_dir() {
        for candidate in [
            path.join("_main").join("srv").join("csn.json"),
            path.join("srv").join("csn.json"),
            path.join("csn.json"),
        ] {
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(ModelError::NotFound(path.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sidecar_fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/sidecar/bookshop")
    }

    #[test]
    fn a_sidecar_build_output_is_found_under_main() -> Result<(), ModelError> {
        let file = resolve_model_file(&sidecar_fixture())?;
        assert!(file.ends_with("_main/srv/csn.json"), "{}", file.display());
        let package = ModelPackage::load(&file)?;
        assert_eq!(package.texts.texts(Some("de"))["CreatedBy"], "Angelegt von");
        assert_eq!(package.resources, None);
        Ok(())
    }

    #[test]
    fn a_model_without_a_bundle_has_no_texts() -> Result<(), ModelError> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/bookshop/v1");
        let package = ModelPackage::load(&resolve_model_file(&dir)?)?;
        assert!(package.texts.texts(None).is_empty());
        Ok(())
    }
}
