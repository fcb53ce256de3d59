//! Start-up: configuration and model problems stop the server with a message naming the cause.

use anyhow::ensure;
use mtx_shared::config::Config;
use mtx_shared::system::System;

fn env(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn build_error(pairs: &[(&str, &str)]) -> anyhow::Result<String> {
    let config = Config::load(&env(pairs))?;
    match System::build(config).await {
        Ok(_) => anyhow::bail!("start-up succeeded with {pairs:?}"),
        Err(e) => Ok(format!("{e:#}")),
    }
}

#[tokio::test]
async fn a_model_that_cannot_be_loaded_stops_start_up_naming_the_file() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("mtx-bad-model-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let bad = dir.join("csn.json");
    std::fs::write(
        &bad,
        r#"{"definitions": {"x.Books": {"kind": "entity", "elements": {"ID": {"key": true, "type": "cds.NoSuchType"}}}}}"#,
    )?;
    let data = dir.join("data");
    let data = data.display().to_string();

    let message = build_error(&[
        ("MTX_MODEL", &bad.display().to_string()),
        ("MTX_DATA_DIR", &data),
    ])
    .await?;
    ensure!(message.contains(&bad.display().to_string()), "{message}");
    ensure!(
        message.contains("NoSuchType"),
        "the message must say what is wrong: {message}"
    );

    std::fs::write(&bad, "{ not json")?;
    let message = build_error(&[
        ("MTX_MODEL", &bad.display().to_string()),
        ("MTX_DATA_DIR", &data),
    ])
    .await?;
    ensure!(
        message.contains(&bad.display().to_string()) && message.contains("not valid"),
        "{message}"
    );

    let missing = dir.join("nowhere");
    let message = build_error(&[
        ("MTX_MODEL", &missing.display().to_string()),
        ("MTX_DATA_DIR", &data),
    ])
    .await?;
    ensure!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

#[test]
fn invalid_settings_name_the_key() {
    for (key, value) in [
        ("PORT", "http"),
        ("MTX_WORKER_SIZE", "-1"),
        ("MTX_QUEUE_SIZE", "0"),
        ("MTX_DATABASE_URL", "mysql://x"),
        ("MTX_AUTH", "none"),
        ("MTX_DATABASES", "a"),
    ] {
        let err = Config::load(&env(&[(key, value)])).expect_err("must be refused");
        assert_eq!(err.key, key, "{err}");
    }
}
