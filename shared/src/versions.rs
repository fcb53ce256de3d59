//! The model versions the system knows: the current one (from the configured source, reloaded
//! when its file changes) and every version a tenant may be deployed from (in the control plane,
//! cached here).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::config::ModelSource;
use crate::control::{ControlError, ControlStore};
use crate::model::{ModelError, ModelPackage, ModelVersion, resolve_model_file};
use crate::vocab::{ModelHash, TenantId};

/// Why a model version could not be had.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("model version {0} is not in the control plane")]
    Unknown(ModelHash),
    /// A [`crate::tenant_models::TenantModels`] implementation answered no model for a tenant.
    #[error("no target model for tenant {0}")]
    NoTarget(TenantId),
}

#[derive(Debug)]
struct Current {
    version: Arc<ModelVersion>,
    package: ModelPackage,
    /// The file and its modification time when it was read (`None` for the built-in model).
    file: Option<(PathBuf, Option<SystemTime>)>,
    published: bool,
}

/// Model versions by hash, and the current one.
#[derive(Debug)]
pub struct ModelVersions {
    source: ModelSource,
    control: Arc<dyn ControlStore>,
    current: Mutex<Current>,
    cache: Mutex<HashMap<ModelHash, Arc<ModelVersion>>>,
}

fn modified(path: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl ModelVersions {
    /// Loads the configured model; an error here stops start-up (the message names the file).
    pub fn load(source: ModelSource, control: Arc<dyn ControlStore>) -> Result<Self, ModelError> {
        let current = Self::read(&source)?;
        let cache = HashMap::from([(current.version.hash.clone(), current.version.clone())]);
        Ok(Self {
            source,
            control,
            current: Mutex::new(current),
            cache: Mutex::new(cache),
        })
    }

    fn read(source: &ModelSource) -> Result<Current, ModelError> {
        match source {
            ModelSource::Builtin => Ok(Current {
                version: Arc::new(ModelVersion::builtin()?),
                package: ModelPackage::default(),
                file: None,
                published: false,
            }),
            ModelSource::Path(path) => {
                let file = resolve_model_file(path)?;
                let stamp = modified(&file);
                Ok(Current {
                    version: Arc::new(ModelVersion::load(&file)?),
                    package: ModelPackage::load(&file)?,
                    file: Some((file, stamp)),
                    published: false,
                })
            }
        }
    }

    /// The current model, re-read first if its file changed since it was loaded (so an upgrade
    /// after a model change deploys the new model without a restart), and stored in the control
    /// plane so that every worker can fetch it by hash.
    pub async fn current(&self) -> Result<Arc<ModelVersion>, VersionError> {
        let stale = {
            let current = self.lock_current();
            match &current.file {
                Some((path, stamp)) => modified(path) != *stamp,
                None => false,
            }
        };
        if stale {
            let fresh = Self::read(&self.source)?;
            let mut current = self.lock_current();
            if fresh.version.hash != current.version.hash {
                tracing::info!(
                    model.hash = fresh.version.hash.short(),
                    "model file changed; new version loaded"
                );
            }
            *current = fresh;
        }
        let (version, published) = {
            let current = self.lock_current();
            (current.version.clone(), current.published)
        };
        if !published {
            self.control
                .put_model(&version.hash, &version.csn_json)
                .await?;
            self.remember(version.clone());
            let mut current = self.lock_current();
            if current.version.hash == version.hash {
                current.published = true;
            }
        }
        Ok(version)
    }

    /// The current model with what its build output holds beside it (texts, resources), both
    /// from the same reading of the model files.
    pub async fn current_package(&self) -> Result<(Arc<ModelVersion>, ModelPackage), VersionError> {
        self.current().await?;
        // Read under one lock: the file may have changed again since `current()`, and the
        // version and its package must come from the same reading.
        let current = self.lock_current();
        Ok((current.version.clone(), current.package.clone()))
    }

    /// A version by hash: from the cache, else from the control plane.
    pub async fn get(&self, hash: &ModelHash) -> Result<Arc<ModelVersion>, VersionError> {
        if let Some(found) = self.lock_cache().get(hash) {
            return Ok(found.clone());
        }
        let csn = self
            .control
            .get_model(hash)
            .await?
            .ok_or_else(|| VersionError::Unknown(hash.clone()))?;
        let version = Arc::new(ModelVersion::from_json(
            &format!("model version {}", hash.short()),
            &csn,
        )?);
        self.remember(version.clone());
        Ok(version)
    }

    fn remember(&self, version: Arc<ModelVersion>) {
        self.lock_cache().insert(version.hash.clone(), version);
    }

    fn lock_current(&self) -> std::sync::MutexGuard<'_, Current> {
        // A poisoned lock only means a panic elsewhere while holding it; the data is still whole.
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<ModelHash, Arc<ModelVersion>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}
