//! The model provider (`/-/cds/model-provider`) a CAP app with
//! `"cds.xt.ModelProviderService": "from-sidecar"` calls: the tenant's CSN and EDMX (with
//! content-hash ETags), its texts, and the answers cds-mtxs gives while no tenant is extended.

use anyhow::ensure;
use mtx_tests::{ConfigFile, Mode, Reply, TestServer, basic_auth, model_dir};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_modes;

const MP: &str = "/-/cds/model-provider";
const XML: &str = "application/xml; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

async fn call(s: &TestServer, operation: &str, body: &Value) -> anyhow::Result<Reply> {
    post(s, operation, body, &[]).await
}

async fn post(
    s: &TestServer,
    operation: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> anyhow::Result<Reply> {
    s.request(
        Method::POST,
        &format!("{MP}/{operation}"),
        headers,
        Some(&body.to_string()),
    )
    .await
}

/// The bookshop fixture in the layout `cds build` writes for a sidecar, with its texts.
fn sidecar_model() -> String {
    model_dir("v1")
        .join("..")
        .join("..")
        .join("sidecar")
        .join("bookshop")
        .display()
        .to_string()
}

fn ensure_error(r: &Reply, status: StatusCode, message: &str) -> anyhow::Result<()> {
    ensure!(r.status == status, "{}: {}", r.status, r.text);
    ensure!(r.error_message() == message, "{}", r.text);
    Ok(())
}

async fn answers_the_tenants_csn(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    s.subscribe("t1").await?;

    let r = call(&s, "getCsn", &json!({"tenant": "t1"})).await?;
    ensure!(r.status == StatusCode::OK, "{}: {}", r.status, r.text);
    ensure!(r.header("content-type").as_deref() == Some(JSON));
    let csn = r.json();
    ensure!(csn["definitions"]["CatalogService"]["kind"] == "service");
    ensure!(csn["meta"]["extended"] == json!(false), "{}", csn["meta"]);

    let r = call(
        &s,
        "getCsn",
        &json!({"tenant": "t1", "toggles": ["*"], "for": "nodejs"}),
    )
    .await?;
    ensure!(r.status == StatusCode::OK, "{}: {}", r.status, r.text);

    let r = call(&s, "getCsn", &json!({"tenant": "t1", "toggles": ["../x"]})).await?;
    ensure_error(
        &r,
        StatusCode::BAD_REQUEST,
        "Unsupported input toggle param ../x",
    )?;
    s.stop().await
}
both_modes!(get_csn_answers_the_tenants_model, answers_the_tenants_csn);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_edmx_equals_the_compilers_and_names_bad_services() -> anyhow::Result<()> {
    let s = TestServer::start(Mode::Embedded, &[]).await?;
    s.subscribe("t1").await?;

    let r = call(
        &s,
        "getEdmx",
        &json!({"tenant": "t1", "service": "CatalogService"}),
    )
    .await?;
    ensure!(r.status == StatusCode::OK, "{}: {}", r.status, r.text);
    ensure!(r.header("content-type").as_deref() == Some(XML));
    let expected = std::fs::read_to_string(model_dir("v1").join("CatalogService.edmx.xml"))?;
    ensure!(r.text.trim_end() == expected.trim_end(), "{}", r.text);

    // The bookshop defines one service: it is the one meant.
    let r = call(&s, "getEdmx", &json!({"tenant": "t1"})).await?;
    ensure!(r.text.trim_end() == expected.trim_end(), "{}", r.text);

    // Names that could reach a file are refused before the operation, as JSON; the
    // operation's own errors carry its XML content type.
    for (service, status, message, content_type) in [
        (
            "NoSuchService",
            StatusCode::INTERNAL_SERVER_ERROR,
            "No service definition matching NoSuchService found in given model(s).",
            XML,
        ),
        (
            "all",
            StatusCode::NOT_IMPLEMENTED,
            "Edmx request for 'all' services not supported",
            XML,
        ),
        (
            "../x",
            StatusCode::BAD_REQUEST,
            "Unsupported input service param ../x",
            "application/json",
        ),
    ] {
        let r = call(&s, "getEdmx", &json!({"tenant": "t1", "service": service})).await?;
        ensure_error(&r, status, message)?;
        ensure!(
            r.header("content-type").as_deref() == Some(content_type),
            "{service}: {:?}",
            r.header("content-type")
        );
    }
    s.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_answer_is_not_sent_again() -> anyhow::Result<()> {
    let s = TestServer::start(Mode::Embedded, &[("MTX_MODEL", &sidecar_model())]).await?;
    s.subscribe("t1").await?;
    for body in [
        json!({"tenant": "t1"}),
        json!({"tenant": "t1", "service": "CatalogService"}),
    ] {
        let operation = if body.get("service").is_some() {
            "getEdmx"
        } else {
            "getCsn"
        };
        let first = call(&s, operation, &body).await?;
        let etag = first.header("etag").unwrap_or_default();
        ensure!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
            "{operation}: {etag}"
        );
        let again = post(&s, operation, &body, &[("if-none-match", &etag)]).await?;
        ensure!(again.status == StatusCode::NOT_MODIFIED, "{}", again.status);
        ensure!(again.text.is_empty(), "{}", again.text);
        ensure!(again.header("etag").as_deref() == Some(etag.as_str()));

        let stale = post(&s, operation, &body, &[("if-none-match", "\"other\"")]).await?;
        ensure!(stale.status == StatusCode::OK && stale.text == first.text);
    }
    // Another locale is another answer.
    let plain = call(&s, "getEdmx", &json!({"service": "CatalogService"})).await?;
    let german = call(
        &s,
        "getEdmx",
        &json!({"service": "CatalogService", "locale": "de"}),
    )
    .await?;
    ensure!(plain.header("etag") != german.header("etag"));
    s.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn texts_come_from_the_build_outputs_i18n_bundle() -> anyhow::Result<()> {
    let s = TestServer::start(Mode::Embedded, &[("MTX_MODEL", &sidecar_model())]).await?;
    s.subscribe("t1").await?;

    let r = call(
        &s,
        "getEdmx",
        &json!({"tenant": "t1", "service": "CatalogService", "locale": "de"}),
    )
    .await?;
    ensure!(r.status == StatusCode::OK, "{}: {}", r.status, r.text);
    ensure!(r.text.contains(r#"String="Angelegt am""#), "{}", r.text);
    // A key German lacks falls back to the fallback bundle.
    ensure!(r.text.contains(r#"String="User ID""#), "{}", r.text);
    ensure!(!r.text.contains("{i18n>"), "{}", r.text);

    let r = call(&s, "getI18n", &json!({"tenant": "t1", "locale": "de"})).await?;
    ensure!(r.status == StatusCode::OK && r.header("content-type").as_deref() == Some(JSON));
    ensure!(r.json()["CreatedBy"] == "Angelegt von", "{}", r.text);
    ensure!(r.json()["UserID.Description"] == "User ID", "{}", r.text);

    let r = call(&s, "getI18n", &json!({"tenant": "t1"})).await?;
    ensure!(r.json()["CreatedBy"] == "Created By", "{}", r.text);
    s.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tenant_is_extended_yet() -> anyhow::Result<()> {
    let s = TestServer::start(Mode::Embedded, &[]).await?;
    s.subscribe("t1").await?;
    for body in [json!({"tenant": "t1"}), json!({})] {
        let r = call(&s, "isExtended", &body).await?;
        ensure!(
            r.status == StatusCode::OK && r.text == "false",
            "{}",
            r.text
        );
    }
    let r = call(&s, "getExtensions", &json!({"tenant": "t1"})).await?;
    ensure_error(&r, StatusCode::NOT_FOUND, "Missing extensions")?;
    // The built-in model has no texts.
    let r = call(&s, "getI18n", &json!({"tenant": "t1"})).await?;
    ensure!(
        r.status == StatusCode::OK && r.json() == json!({}),
        "{}",
        r.text
    );
    s.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_apps_technical_user_may_call() -> anyhow::Result<()> {
    let config = ConfigFile::write(&json!({"auth": {"kind": "basic", "users": {
        "alice": {"password": "pw-alice", "roles": ["cds.Subscriber"], "tenant": "t1"},
        "yves": {"password": "pw-yves", "roles": ["internal-user"]}
    }}}))?;
    let s = TestServer::start(Mode::Embedded, &[("MTX_CONFIG", &config.path())]).await?;
    let body = json!({"tenant": "t1"});
    let alice = basic_auth("alice", "pw-alice");
    let r = post(&s, "getCsn", &body, &[("authorization", &alice)]).await?;
    ensure!(
        r.status == StatusCode::FORBIDDEN,
        "{}: {}",
        r.status,
        r.text
    );
    let r = post(&s, "getCsn", &body, &[]).await?;
    ensure!(
        r.status == StatusCode::UNAUTHORIZED,
        "{}: {}",
        r.status,
        r.text
    );
    let yves = basic_auth("yves", "pw-yves");
    let r = post(&s, "getCsn", &body, &[("authorization", &yves)]).await?;
    ensure!(r.status == StatusCode::OK, "{}: {}", r.status, r.text);
    s.stop().await
}
