//! Each task's target model comes from the per-tenant model seam: a job never stamps one global
//! version on its tasks. Embedded stores (SQLite in a temporary directory), an in-process queue.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use mtx_shared::config::{JobsConfig, ModelSource};
use mtx_shared::control::ControlStore;
use mtx_shared::control::sqlite::SqliteControlStore;
use mtx_shared::deploy::Deployer;
use mtx_shared::jobs::service::{JobService, TenantSelection};
use mtx_shared::model::ModelVersion;
use mtx_shared::plan::plan_upgrade;
use mtx_shared::scheduler::Limits;
use mtx_shared::scheduler::memory::MemoryScheduler;
use mtx_shared::tenant::StorageLocation;
use mtx_shared::tenant::TenantStore as _;
use mtx_shared::tenant::store::sqlite::SqliteTenantStore;
use mtx_shared::tenant_models::TenantModels;
use mtx_shared::versions::{ModelVersions, VersionError};
use mtx_shared::vocab::{DatabaseId, ModelHash, TenantId, UpgradeOptions};

/// Tenants named in `special` run `special`'s model; everyone else the base model.
#[derive(Debug)]
struct PerTenant {
    versions: Arc<ModelVersions>,
    special: HashMap<TenantId, Arc<ModelVersion>>,
}

#[async_trait]
impl TenantModels for PerTenant {
    async fn targets(&self, tenants: &[TenantId]) -> Result<Vec<Arc<ModelVersion>>, VersionError> {
        let base = self.versions.current().await?;
        Ok(tenants
            .iter()
            .map(|t| self.special.get(t).cloned().unwrap_or_else(|| base.clone()))
            .collect())
    }
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("valid tenant id")
}

fn v2() -> ModelVersion {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/bookshop/v2/csn.json");
    ModelVersion::load(&path).expect("the bookshop v2 model loads")
}

struct Fixture {
    jobs: JobService,
    control: Arc<dyn ControlStore>,
    database: DatabaseId,
    deployer: Deployer,
    base: ModelHash,
    extended: ModelHash,
    dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn fixture(special_tenant: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("mtx-tenant-models-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let control: Arc<dyn ControlStore> = Arc::new(
        SqliteControlStore::open(&dir)
            .await
            .expect("control plane opens"),
    );
    let tenants = Arc::new(SqliteTenantStore::new(dir.clone(), "db".into()));
    let scheduler = Arc::new(MemoryScheduler::new(Limits {
        worker_size: 4,
        cluster_size: 3,
    }));
    let versions = Arc::new(
        ModelVersions::load(ModelSource::Builtin, control.clone()).expect("built-in model"),
    );
    let base = versions.current().await.expect("base model").hash.clone();
    // The tenant's own model must be in the control plane, as any real composition stores it.
    let extended = Arc::new(v2());
    control
        .put_model(&extended.hash, &extended.csn_json)
        .await
        .expect("store the tenant's model");
    let models = Arc::new(PerTenant {
        versions: versions.clone(),
        special: HashMap::from([(tenant(special_tenant), extended.clone())]),
    });
    let database = tenants
        .databases()
        .first()
        .cloned()
        .expect("the embedded store has a database");
    let jobs = JobService::new(
        control.clone(),
        scheduler,
        tenants.clone(),
        models.clone(),
        JobsConfig::default(),
    );
    let deployer = Deployer::new(tenants, control.clone(), versions, models);
    Fixture {
        jobs,
        control,
        database,
        deployer,
        base,
        extended: extended.hash.clone(),
        dir,
    }
}

#[tokio::test]
async fn subscribe_and_upgrade_plan_each_task_towards_its_tenants_model() {
    let f = fixture("b").await;
    assert_ne!(f.base, f.extended);

    let a = f
        .jobs
        .subscribe(tenant("a"), serde_json::json!({}), None, None)
        .await
        .expect("subscribe a");
    let b = f
        .jobs
        .subscribe(tenant("b"), serde_json::json!({}), None, None)
        .await
        .expect("subscribe b");
    assert_eq!(a.tasks[0].model.as_ref(), Some(&f.base));
    assert_eq!(b.tasks[0].model.as_ref(), Some(&f.extended));

    // Nothing runs these jobs; the upgrade is planned from the control plane's tenant rows,
    // which a subscribe only writes when it runs, so record the tenants first.
    for id in ["a", "b"] {
        let location = StorageLocation::Sqlite {
            database: f.database.clone(),
            path: f.dir.join(format!("db-{id}.sqlite")),
        };
        f.control
            .upsert_tenant(&tenant(id), &serde_json::json!({}), &location)
            .await
            .expect("record tenant");
    }
    let upgrade = f
        .jobs
        .upgrade(TenantSelection::All, serde_json::Map::new(), None)
        .await
        .expect("upgrade")
        .expect("a job");
    let targets: Vec<_> = upgrade
        .tasks
        .iter()
        .map(|t| (t.tenant.to_string(), t.model.clone()))
        .collect();
    assert_eq!(
        targets,
        vec![
            ("a".to_owned(), Some(f.base.clone())),
            ("b".to_owned(), Some(f.extended.clone())),
        ]
    );

    let plans = plan_upgrade(
        &f.jobs,
        &f.deployer,
        TenantSelection::All,
        UpgradeOptions::default(),
    )
    .await
    .expect("plan");
    let groups: Vec<_> = plans
        .iter()
        .map(|p| (p.to.clone(), p.tenants.clone()))
        .collect();
    let mut want = vec![
        (f.base.clone(), vec![tenant("a")]),
        (f.extended.clone(), vec![tenant("b")]),
    ];
    want.sort();
    let mut got = groups;
    got.sort();
    assert_eq!(got, want, "one plan per target model");
}
