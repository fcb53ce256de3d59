//! Schema evolution through the real server: bookshop v1 → v2 → v3 against the compiler's DDL,
//! destructive upgrades refused and allowed, dry-run plans, drift (report, failure naming it,
//! repair, adopt), a failure mid-upgrade, and time limits that make an attempt retryable.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use mtx_shared::drift::{DatabaseSchema, normalize_type};
use mtx_shared::sql::Dialect;
use mtx_shared::tenant::{SchemaChange, StorageLocation};
use mtx_shared::vocab::{ModelHash, TenantId};
use mtx_tests::{Mode, ModelFile, TestServer, model_dir};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_modes;

const UPGRADE: &str = "/-/cds/saas-provisioning/upgrade";
const REPAIR: &str = "/-/cds/deployment/repair";

fn csn(version: &str) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(&std::fs::read_to_string(
        model_dir(version).join("csn.json"),
    )?)?)
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("valid test tenant id")
}

async fn location(s: &TenantServer<'_>, id: &str) -> anyhow::Result<StorageLocation> {
    Ok(s.0
        .system
        .control()
        .get_tenant(&tenant(id))
        .await?
        .context("tenant is subscribed")?
        .location)
}

/// Short-hands on a [`TestServer`] for evolution tests.
struct TenantServer<'a>(&'a TestServer);

impl TenantServer<'_> {
    fn dialect(&self) -> Dialect {
        self.0.system.tenants().dialect()
    }

    /// The tenant's schema as its store introspects it, in comparable form.
    async fn schema(&self, id: &str) -> anyhow::Result<DatabaseSchema> {
        let location = location(self, id).await?;
        let actual = self
            .0
            .system
            .tenants()
            .introspect(&tenant(id), &location)
            .await?;
        Ok(comparable(actual, self.dialect()))
    }

    /// A fresh storage, on the same store, where the compiler's DDL of `version` ran; its
    /// introspected schema in comparable form. The storage is removed again.
    async fn compiler_schema(&self, version: &str) -> anyhow::Result<DatabaseSchema> {
        let file = match self.dialect() {
            Dialect::Postgres => "schema.postgres.sql",
            Dialect::Sqlite => "schema.sqlite.sql",
        };
        let ddl = std::fs::read_to_string(model_dir(version).join(file))?;
        let store = self.0.system.tenants();
        let reference = tenant("compiler-reference");
        let location = store.locate(&reference, &store.databases()[0])?;
        // The compiler's DDL is unqualified: on PostgreSQL it runs with the reference schema on
        // the search path of this one transaction.
        let statement = match &location {
            StorageLocation::Postgres { schema, .. } => format!(
                "SET LOCAL search_path TO {}; {ddl}",
                mtx_shared::sql::quote_ident(schema)
            ),
            StorageLocation::Sqlite { .. } => ddl,
        };
        let change = SchemaChange {
            statements: vec![statement],
            from: None,
            to: ModelHash::of(version),
        };
        store.apply(&reference, &location, &change).await?;
        let schema = store.introspect(&reference, &location).await;
        store.drop_storage(&reference, &location).await?;
        Ok(comparable(schema?, self.dialect()))
    }

    async fn books(&self, id: &str) -> anyhow::Result<Vec<Vec<Value>>> {
        self.0
            .tenant_sql(
                id,
                "SELECT ID, title, author_ID, stock FROM my_bookshop_Books ORDER BY ID",
            )
            .await
    }

    async fn insert_books(&self, id: &str) -> anyhow::Result<()> {
        for sql in [
            "INSERT INTO my_bookshop_Authors (ID, name) VALUES ('a1', 'Emily Brontë')",
            "INSERT INTO my_bookshop_Books (ID, title, author_ID, stock) VALUES \
             ('b1', 'Wuthering Heights', 'a1', 12), ('b2', 'Jane Eyre', 'a1', 7)",
        ] {
            self.0.tenant_sql(id, sql).await?;
        }
        Ok(())
    }

    async fn upgrade(&self, body: Value) -> anyhow::Result<mtx_tests::Reply> {
        self.0
            .request(Method::POST, UPGRADE, &[], Some(&body.to_string()))
            .await
    }

    /// The version the tenant's storage marker and the control plane record.
    async fn versions(&self, id: &str) -> anyhow::Result<(Option<ModelHash>, Option<ModelHash>)> {
        let location = location(self, id).await?;
        let marker = self
            .0
            .system
            .tenants()
            .deployed_version(&tenant(id), &location)
            .await?;
        let control = self
            .0
            .system
            .control()
            .get_tenant(&tenant(id))
            .await?
            .and_then(|r| r.model);
        Ok((marker, control))
    }
}

/// Column order is not compared (both dialects append added columns; the compiler may not),
/// and types are compared in the dialect's normal form.
fn comparable(mut schema: DatabaseSchema, dialect: Dialect) -> DatabaseSchema {
    for table in schema.tables.values_mut() {
        for column in &mut table.columns {
            column.ty = normalize_type(dialect, &column.ty);
        }
        table.columns.sort_by(|a, b| a.name.cmp(&b.name));
    }
    schema
}

both_modes!(
    v1_to_v2_keeps_every_row_and_yields_the_compilers_v2_schema,
    v1_to_v2
);
async fn v1_to_v2(mode: Mode) -> anyhow::Result<()> {
    let model = ModelFile::bookshop("v1")?;
    let s = TestServer::start(mode, &[("MTX_MODEL", &model.path())]).await?;
    let t = TenantServer(&s);
    s.subscribe("shop").await?;
    ensure!(t.schema("shop").await? == t.compiler_schema("v1").await?);
    t.insert_books("shop").await?;
    let before = t.books("shop").await?;

    model.switch_to("v2")?;
    let r = t.upgrade(json!({"tenants": ["*"]})).await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "{} {}",
        r.status,
        r.text
    );

    let (actual, expected) = (t.schema("shop").await?, t.compiler_schema("v2").await?);
    ensure!(
        actual == expected,
        "upgraded schema differs from the compiler's v2 DDL:\nactual   {actual:?}\nexpected {expected:?}"
    );
    ensure!(t.books("shop").await? == before, "rows changed");
    let v2 = model.hash()?;
    ensure!(t.versions("shop").await? == (Some(v2.clone()), Some(v2)));
    let report = s.get("/-/cds/deployment/drift(tenant='shop')").await?;
    ensure!(
        report.status == StatusCode::OK && report.json()["drift"] == json!([]),
        "{} {}",
        report.status,
        report.text
    );
    s.stop().await
}

both_modes!(
    v2_to_v3_is_refused_naming_each_destructive_change_and_applies_with_auto_undeploy,
    v2_to_v3
);
async fn v2_to_v3(mode: Mode) -> anyhow::Result<()> {
    let model = ModelFile::bookshop("v2")?;
    let mut s = TestServer::start(mode, &[("MTX_MODEL", &model.path())]).await?;
    // Teardown accepts failed jobs: the destructive upgrade is refused: its job fails.
    s.expect_failed_jobs();
    let t = TenantServer(&s);
    s.subscribe("shop").await?;
    t.insert_books("shop").await?;
    let (schema, rows, v2) = (
        t.schema("shop").await?,
        t.books("shop").await?,
        model.hash()?,
    );

    model.switch_to("v3")?;
    let r = t.upgrade(json!({"tenants": ["shop"]})).await?;
    ensure!(
        r.status == StatusCode::INTERNAL_SERVER_ERROR,
        "{} {}",
        r.status,
        r.text
    );
    let job = s
        .wait_job(&r.header("x-job-id").unwrap_or_default())
        .await?;
    ensure!(job["status"] == "FAILED", "{job}");
    let message = job["tenants"]["shop"]["error"].as_str().unwrap_or_default();
    for change in [
        "autoUndeploy",
        "my.bookshop.Books.title: length reduction 111 → 50",
        "my.bookshop.Books.genre: column genre_ID dropped",
        "my.bookshop.Books.rating: column rating dropped",
        "my.bookshop.Genres: table my_bookshop_Genres dropped",
        "CatalogService.Genres: view CatalogService_Genres dropped",
    ] {
        ensure!(message.contains(change), "'{change}' not in: {message}");
    }
    ensure!(t.schema("shop").await? == schema, "schema changed");
    ensure!(t.books("shop").await? == rows, "rows changed");
    ensure!(t.versions("shop").await? == (Some(v2.clone()), Some(v2)));

    let r = t
        .upgrade(json!({"tenants": ["shop"], "options": {"autoUndeploy": true}}))
        .await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "{} {}",
        r.status,
        r.text
    );
    ensure!(t.schema("shop").await? == t.compiler_schema("v3").await?);
    ensure!(t.books("shop").await? == rows, "rows changed");
    s.stop().await
}

both_modes!(
    dry_run_returns_one_plan_per_deployed_version_and_changes_nothing,
    dry_run
);
async fn dry_run(mode: Mode) -> anyhow::Result<()> {
    let model = ModelFile::bookshop("v1")?;
    let s = TestServer::start(mode, &[("MTX_MODEL", &model.path())]).await?;
    let t = TenantServer(&s);
    s.subscribe("a").await?;
    s.subscribe("b").await?;
    let v1 = model.hash()?;
    model.switch_to("v2")?;
    s.subscribe("c").await?;
    let v2 = model.hash()?;
    let jobs = s.system.control().list_jobs(100).await?.len();
    let schema_a = t.schema("a").await?;

    let r = t
        .upgrade(json!({"tenants": ["*"], "options": {"dryRun": true}}))
        .await?;
    ensure!(r.status == StatusCode::OK, "{} {}", r.status, r.text);
    let plans = r.json();
    let by_from: BTreeMap<String, &Value> = plans
        .as_array()
        .context("an array of plans")?
        .iter()
        .map(|p| (p["from"].as_str().unwrap_or_default().to_owned(), p))
        .collect();
    ensure!(by_from.len() == 2, "{plans}");
    let from_v1 = by_from.get(v1.as_str()).context("a plan from v1")?;
    ensure!(from_v1["to"] == v2.as_str() && from_v1["tenants"] == json!(["a", "b"]));
    ensure!(from_v1["renderedFor"] == "a" && from_v1["refused"] == false);
    let statements: Vec<&str> = from_v1["statements"]
        .as_array()
        .context("statements")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ensure!(
        statements
            .iter()
            .any(|s| s.to_lowercase().contains("create table")
                && s.to_lowercase().contains("my_bookshop_genres")),
        "{statements:?}"
    );
    let from_v2 = by_from.get(v2.as_str()).context("a plan from v2")?;
    ensure!(from_v2["tenants"] == json!(["c"]) && from_v2["statements"] == json!([]));

    // Nothing happened: no job, tenants where they were.
    ensure!(s.system.control().list_jobs(100).await?.len() == jobs);
    ensure!(t.schema("a").await? == schema_a);
    ensure!(t.versions("a").await? == (Some(v1.clone()), Some(v1)));

    // A destructive target: the plan says it is refused and why, and what autoUndeploy runs.
    model.switch_to("v3")?;
    let r = t
        .upgrade(json!({"tenants": ["c"], "options": {"dryRun": true}}))
        .await?;
    let plan = &r.json()[0];
    ensure!(
        plan["refused"] == true && plan["statements"] == json!([]),
        "{plan}"
    );
    ensure!(
        plan["destructive"].as_array().is_some_and(|d| d.len() == 5
            && d.contains(&json!("my.bookshop.Books.title: length reduction 111 → 50"))),
        "{plan}"
    );
    let r = t
        .upgrade(json!({"tenants": ["c"], "options": {"dryRun": true, "autoUndeploy": true}}))
        .await?;
    let plan = &r.json()[0];
    ensure!(
        plan["refused"] == false && plan["statements"].as_array().is_some_and(|s| !s.is_empty()),
        "{plan}"
    );
    s.stop().await
}

both_modes!(
    drift_is_reported_named_by_the_failing_upgrade_and_repaired,
    drift_and_repair
);
async fn drift_and_repair(mode: Mode) -> anyhow::Result<()> {
    let model = ModelFile::bookshop("v1")?;
    let mut s = TestServer::start(mode, &[("MTX_MODEL", &model.path())]).await?;
    // Teardown accepts failed jobs: the upgrade over the drift fails on purpose.
    s.expect_failed_jobs();
    let t = TenantServer(&s);
    s.subscribe("d").await?;
    t.insert_books("d").await?;
    // Someone creates, by hand, a table the next version will create.
    s.tenant_sql("d", "CREATE TABLE my_bookshop_Genres (code INTEGER)")
        .await?;
    let report = s.get("/-/cds/deployment/drift(tenant='d')").await?;
    ensure!(report.status == StatusCode::OK, "{}", report.text);
    ensure!(
        report.json()["drift"]
            == json!([{"object": table_name(mode, "my_bookshop_Genres"), "kind": "unexpected_table",
                       "expected": null, "actual": "table"}]),
        "{}",
        report.text
    );

    model.switch_to("v2")?;
    let r = t.upgrade(json!({"tenants": ["d"]})).await?;
    ensure!(r.status == StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text);
    let message = r.error_message();
    ensure!(
        message.contains("differs from its recorded model version")
            && message.contains(&format!(
                "{}: unexpected table",
                table_name(mode, "my_bookshop_Genres")
            ))
            && message.contains("/-/cds/deployment/repair"),
        "{message}"
    );

    // Repairing means dropping the stray table: refused unless destructive repairs are allowed.
    let r = s
        .request(
            Method::POST,
            REPAIR,
            &[],
            Some(r#"{"tenant":"d","mode":"repair"}"#),
        )
        .await?;
    ensure!(
        r.status == StatusCode::CONFLICT && r.error_message().contains("dropped"),
        "{} {}",
        r.status,
        r.text
    );
    let r = s
        .request(
            Method::POST,
            REPAIR,
            &[],
            Some(r#"{"tenant":"d","mode":"repair","allowDestructive":true}"#),
        )
        .await?;
    ensure!(r.status == StatusCode::OK, "{} {}", r.status, r.text);
    ensure!(r.json()["drift"] == json!([]), "{}", r.text);
    let r = t.upgrade(json!({"tenants": ["d"]})).await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "{} {}",
        r.status,
        r.text
    );
    ensure!(t.books("d").await?.len() == 2, "rows kept");
    s.stop().await
}

/// What a run of the `mtx-api` binary printed, and how it exited.
struct CliRun {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `mtx-api <args>` on the system `s` serves (its configuration, its files and databases).
async fn mtx_api(s: &TestServer, args: &[&str]) -> anyhow::Result<CliRun> {
    let binary = mtx_tests::processes::bin_dir()?.join("mtx-api");
    let out = tokio::process::Command::new(&binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .envs(s.env())
        .args(args)
        .output()
        .await
        .with_context(|| {
            format!(
                "running {} (built by `cargo build --bins`)",
                binary.display()
            )
        })?;
    Ok(CliRun {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

both_modes!(
    the_cli_reports_drift_repairs_it_and_plans_an_upgrade,
    cli_drift_repair_plan
);
/// The operator's commands as the binary runs them beside the server: JSON on stdout and exit 0;
/// a refused repair or a bad command line exits non-zero naming the problem.
async fn cli_drift_repair_plan(mode: Mode) -> anyhow::Result<()> {
    let model = ModelFile::bookshop("v1")?;
    let s = TestServer::start(mode, &[("MTX_MODEL", &model.path())]).await?;
    let t = TenantServer(&s);
    s.subscribe("c").await?;
    t.insert_books("c").await?;
    s.tenant_sql("c", "CREATE TABLE my_bookshop_Genres (code INTEGER)")
        .await?;

    let run = mtx_api(&s, &["drift", "c"]).await?;
    ensure!(run.success, "drift: {}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).context("drift prints JSON")?;
    ensure!(
        report["drift"]
            == json!([{"object": table_name(mode, "my_bookshop_Genres"), "kind": "unexpected_table",
                       "expected": null, "actual": "table"}]),
        "{report}"
    );

    let run = mtx_api(&s, &["repair", "c", "--repair"]).await?;
    ensure!(
        !run.success && run.stderr.contains("dropped"),
        "a destructive repair must be refused, naming the change: {} {}",
        run.stdout,
        run.stderr
    );
    let run = mtx_api(&s, &["repair", "c", "--repair", "--allow-destructive"]).await?;
    ensure!(run.success, "repair: {}", run.stderr);
    let repaired: Value = serde_json::from_str(&run.stdout).context("repair prints JSON")?;
    ensure!(repaired["drift"] == json!([]), "{repaired}");
    ensure!(t.books("c").await?.len() == 2, "rows kept");

    model.switch_to("v2")?;
    let run = mtx_api(&s, &["plan"]).await?;
    ensure!(run.success, "plan: {}", run.stderr);
    let plans: Value = serde_json::from_str(&run.stdout).context("plan prints JSON")?;
    ensure!(
        plans[0]["refused"] == false
            && plans[0]["statements"]
                .as_array()
                .is_some_and(|s| !s.is_empty()),
        "{plans}"
    );
    ensure!(
        t.versions("c").await?.0.as_ref() != Some(&model.hash()?),
        "a plan changes nothing"
    );

    let run = mtx_api(&s, &["drift"]).await?;
    ensure!(
        !run.success && run.stderr.contains("give exactly one tenant"),
        "{} {}",
        run.stdout,
        run.stderr
    );
    s.stop().await
}

fn table_name(mode: Mode, name: &str) -> String {
    match mode {
        Mode::Postgres => name.to_lowercase(),
        Mode::Embedded => name.to_owned(),
    }
}

both_modes!(
    adopt_records_a_schema_changed_by_hand_as_the_current_version,
    adopt
);
async fn adopt(mode: Mode) -> anyhow::Result<()> {
    let model = ModelFile::bookshop("v1")?;
    let s = TestServer::start(mode, &[("MTX_MODEL", &model.path())]).await?;
    let t = TenantServer(&s);
    s.subscribe("h").await?;
    let v1 = model.hash()?;
    model.switch_to("v2")?;
    let v2 = model.hash()?;
    // Adopting v2 while the schema is still v1 is refused, naming the differences.
    let r = s
        .request(
            Method::POST,
            REPAIR,
            &[],
            Some(r#"{"tenant":"h","mode":"adopt"}"#),
        )
        .await?;
    ensure!(
        r.status == StatusCode::CONFLICT && r.error_message().contains("column missing"),
        "{} {}",
        r.status,
        r.text
    );
    ensure!(t.versions("h").await? == (Some(v1.clone()), Some(v1)));

    // The operator applies v2's DDL by hand (here: the statements the dry run shows).
    let r = t
        .upgrade(json!({"tenants": ["h"], "options": {"dryRun": true}}))
        .await?;
    for statement in r.json()[0]["statements"]
        .as_array()
        .context("statements")?
        .iter()
        .filter_map(Value::as_str)
    {
        s.tenant_sql("h", statement).await?;
    }
    let r = s
        .request(
            Method::POST,
            REPAIR,
            &[],
            Some(r#"{"tenant":"h","mode":"adopt"}"#),
        )
        .await?;
    ensure!(r.status == StatusCode::OK, "{} {}", r.status, r.text);
    ensure!(
        r.json()["version"] == v2.as_str() && r.json()["statements"] == json!([]),
        "{}",
        r.text
    );
    ensure!(t.versions("h").await? == (Some(v2.clone()), Some(v2)));
    // The tenant is at the target: the upgrade does not touch it.
    let r = t.upgrade(json!({"tenants": ["h"]})).await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "{} {}",
        r.status,
        r.text
    );
    s.stop().await
}

both_modes!(
    a_failure_mid_upgrade_leaves_the_tenant_exactly_at_its_old_version,
    failure_mid_upgrade
);
async fn failure_mid_upgrade(mode: Mode) -> anyhow::Result<()> {
    let model = ModelFile::bookshop("v1")?;
    let mut s = TestServer::start(mode, &[("MTX_MODEL", &model.path())]).await?;
    // Teardown accepts failed jobs: the upgrade fails on purpose.
    s.expect_failed_jobs();
    let t = TenantServer(&s);
    s.subscribe("f").await?;
    t.insert_books("f").await?;
    let (schema, rows, v1) = (t.schema("f").await?, t.books("f").await?, model.hash()?);

    // v2 with Books.isbn NOT NULL and no default: the plan creates Genres and recreates views
    // fine, then adding isbn fails because Books has rows.
    let mut broken = csn("v2")?;
    broken["definitions"]["my.bookshop.Books"]["elements"]["isbn"]["notNull"] = json!(true);
    model.write_json(&broken)?;
    let r = t
        .upgrade(json!({"tenants": ["f"], "options": {"dryRun": true}}))
        .await?;
    let planned = r.json()[0]["statements"].as_array().map_or(0, Vec::len);
    ensure!(
        planned > 2,
        "the failing statement comes after others: {}",
        r.text
    );

    let r = t.upgrade(json!({"tenants": ["f"]})).await?;
    ensure!(r.status == StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text);
    ensure!(
        r.error_message().to_lowercase().contains("isbn"),
        "{}",
        r.text
    );
    ensure!(t.schema("f").await? == schema, "schema changed");
    ensure!(t.books("f").await? == rows, "rows changed");
    ensure!(t.versions("f").await? == (Some(v1.clone()), Some(v1)));
    s.stop().await
}

/// A lock held by the application's traffic makes the attempt fail on the lock timeout; the
/// task is requeued (retryable) with a message saying so, and finishes once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lock_timeout_fails_the_attempt_as_retryable() -> anyhow::Result<()> {
    let model = ModelFile::bookshop("v1")?;
    let s = TestServer::start(
        Mode::Postgres,
        &[
            ("MTX_MODEL", &model.path()),
            ("MTX_PG_LOCK_TIMEOUT_MS", "200"),
            ("MTX_MAX_ATTEMPTS", "5"),
        ],
    )
    .await?;
    s.subscribe("busy").await?;
    let StorageLocation::Postgres { schema, .. } = location(&TenantServer(&s), "busy").await?
    else {
        anyhow::bail!("a PostgreSQL tenant");
    };
    let db = s.database.as_ref().context("a database")?;
    let holder = sqlx::PgPool::connect(db.url()).await?;
    let mut traffic = holder.begin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE \"{schema}\".my_bookshop_books IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *traffic)
    .await?;

    model.switch_to("v2")?;
    let r = s
        .request(
            Method::POST,
            UPGRADE,
            &[("prefer", "respond-async")],
            Some(r#"{"tenants":["busy"]}"#),
        )
        .await?;
    ensure!(r.status == StatusCode::ACCEPTED, "{} {}", r.status, r.text);
    let job_id = r.json()["ID"].as_str().unwrap_or_default().to_owned();
    let id = mtx_shared::vocab::JobId::parse(&job_id)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let retried = loop {
        let job = s.system.control().get_job(&id).await?.context("the job")?;
        let task = &job.tasks[0];
        if task
            .error
            .as_ref()
            .is_some_and(|e| e.contains("lock timeout"))
        {
            break task.clone();
        }
        ensure!(!job.job.status.is_terminal(), "job ended: {job:?}");
        ensure!(tokio::time::Instant::now() < deadline, "no retry: {job:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    ensure!(!retried.status.is_terminal(), "{retried:?}");
    let message = retried.error.unwrap_or_default();
    ensure!(
        message.contains("busy") && message.contains("55P03") && message.contains("retried"),
        "{message}"
    );
    traffic.rollback().await?;
    holder.close().await;
    let done = s.wait_job(&job_id).await?;
    ensure!(done["status"] == "FINISHED", "{done}");
    s.stop().await
}

both_modes!(
    a_stale_control_plane_version_is_corrected_from_the_tenants_marker,
    stale_control_plane_version
);
/// The control plane's record of a tenant's version is what an upgrade plans from; the tenant's
/// own marker decides. A record left behind (bookkeeping lost in a crash) costs one refused
/// attempt inside the transaction, then the plan from the marker's version.
async fn stale_control_plane_version(mode: Mode) -> anyhow::Result<()> {
    let model = ModelFile::bookshop("v1")?;
    let s = TestServer::start(mode, &[("MTX_MODEL", &model.path())]).await?;
    let t = TenantServer(&s);
    s.subscribe("shop").await?;
    t.insert_books("shop").await?;
    let before = t.books("shop").await?;
    let v1 = model.hash()?;
    model.switch_to("v2")?;
    let v2 = model.hash()?;
    let r = t.upgrade(json!({"tenants": ["*"]})).await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "{} {}",
        r.status,
        r.text
    );

    s.system
        .control()
        .set_tenant_model(&tenant("shop"), &v1)
        .await?;
    ensure!(t.versions("shop").await? == (Some(v2.clone()), Some(v1)));
    let r = t.upgrade(json!({"tenants": ["*"]})).await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "{} {}",
        r.status,
        r.text
    );

    ensure!(
        t.versions("shop").await? == (Some(v2.clone()), Some(v2)),
        "the control plane records the marker's version again"
    );
    ensure!(t.schema("shop").await? == t.compiler_schema("v2").await?);
    ensure!(t.books("shop").await? == before, "rows changed");
    s.stop().await
}
