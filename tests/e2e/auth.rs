//! Authentication and authorization: JWT verification (forged, expired, wrong issuer or
//! audience, unsigned tokens are all the same 401), role requirements per service (403), tenant
//! isolation (another tenant's records and jobs are invisible, operations on them 403), the
//! basic and mocked modes, body limits and the production refusal of the dummy mode.

use std::time::Duration;

use anyhow::ensure;
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use mtx_tests::doubles::{
    ATTACKER_KEY, AUDIENCE, EC_KEY, PublishedKey, RSA_KEY, TokenServer, XSAPPNAME,
};
use mtx_tests::{ConfigFile, Mode, Reply, TestServer, basic_auth};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_modes;

const TENANT: &str = "/-/cds/saas-provisioning/tenant";
const UPGRADE: &str = "/-/cds/saas-provisioning/upgrade";

async fn jwt_server(
    mode: Mode,
    tokens: &TokenServer,
    extra: &[(&str, &str)],
) -> anyhow::Result<TestServer> {
    let jwks = format!("{}/token_keys", tokens.base);
    let issuer = tokens.issuer();
    let mut env = vec![
        ("MTX_AUTH", "jwt"),
        ("MTX_JWT_JWKS_URL", jwks.as_str()),
        ("MTX_JWT_ISSUER", issuer.as_str()),
        ("MTX_JWT_AUDIENCE", AUDIENCE),
        ("MTX_XSAPPNAME", XSAPPNAME),
    ];
    env.extend_from_slice(extra);
    TestServer::start(mode, &env).await
}

async fn call(
    s: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> anyhow::Result<Reply> {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("authorization", b.as_str()))
        .collect();
    s.request(method, path, &headers, body).await
}

/// A request with the Basic credentials `user:password`.
async fn as_basic_user(
    s: &TestServer,
    (user, password): (&str, &str),
    method: Method,
    path: &str,
    body: Option<&str>,
) -> anyhow::Result<Reply> {
    let header = basic_auth(user, password);
    s.request(method, path, &[("authorization", header.as_str())], body)
        .await
}

fn b64url(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// The one 401 every refused token gets: nothing about why.
fn is_plain_401(r: &Reply, challenge: &str) -> bool {
    r.status == StatusCode::UNAUTHORIZED
        && r.header("www-authenticate").as_deref() == Some(challenge)
        && r.json() == json!({"error":{"message":"Unauthorized","code":"401"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_tokens_are_all_refused_with_the_same_401() -> anyhow::Result<()> {
    let tokens = TokenServer::start().await?;
    let s = jwt_server(Mode::Embedded, &tokens, &[]).await?;
    let now = chrono::Utc::now().timestamp();
    let valid = tokens.claims("provider", &["mtcallback"], Some("provider-zone"));
    let with = |patch: Value| {
        let mut c = valid.clone();
        if let (Some(c), Some(p)) = (c.as_object_mut(), patch.as_object()) {
            for (k, v) in p {
                c.insert(k.clone(), v.clone());
            }
        }
        c
    };
    let sign = |claims: &Value| TokenServer::sign(claims, Algorithm::RS256, RSA_KEY, Some("rsa-1"));
    let unsigned = format!(
        "{}.{}.",
        b64url(&json!({"alg":"none","typ":"JWT"})),
        b64url(&valid)
    );
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &valid,
        &jsonwebtoken::EncodingKey::from_secret(b"guessable"),
    )?;
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("garbage", Some("abc.def.ghi".into())),
        (
            "forged",
            Some(TokenServer::sign(
                &valid,
                Algorithm::RS256,
                ATTACKER_KEY,
                Some("rsa-1"),
            )?),
        ),
        (
            "forged without kid",
            Some(TokenServer::sign(
                &valid,
                Algorithm::RS256,
                ATTACKER_KEY,
                None,
            )?),
        ),
        (
            "expired",
            Some(sign(&with(json!({"iat": now - 7200, "exp": now - 3600})))?),
        ),
        (
            "not yet valid",
            Some(sign(&with(json!({"nbf": now + 3600})))?),
        ),
        (
            "wrong issuer",
            Some(sign(&with(
                json!({"iss": "https://evil.example/oauth/token"}),
            ))?),
        ),
        (
            "wrong audience",
            Some(sign(&with(json!({"aud": ["someone-else"]})))?),
        ),
        ("no audience", Some(sign(&with(json!({"aud": null})))?)),
        ("unsigned", Some(unsigned)),
        ("HS256", Some(hs256)),
        (
            "tenant claim injection",
            Some(sign(&with(
                json!({"zid": "t1'; DROP TABLE mtx.tenants; --"}),
            ))?),
        ),
        (
            "tampered payload",
            Some({
                let t = sign(&valid)?;
                let parts: Vec<&str> = t.split('.').collect();
                format!(
                    "{}.{}.{}",
                    parts[0],
                    b64url(&with(json!({"zid": "other"}))),
                    parts[2]
                )
            }),
        ),
    ];
    for (what, token) in &cases {
        let r = call(&s, Method::GET, TENANT, token.as_deref(), None).await?;
        ensure!(
            is_plain_401(&r, "Bearer"),
            "{what}: {} {:?} {}",
            r.status,
            r.header("www-authenticate"),
            r.text
        );
    }
    // A basic header means nothing in the jwt mode.
    let r = s
        .request(
            Method::GET,
            TENANT,
            &[("authorization", "Basic eXZlczo=")],
            None,
        )
        .await?;
    ensure!(is_plain_401(&r, "Bearer"), "basic: {} {}", r.status, r.text);
    // Even unknown paths do not answer anonymous callers with 404.
    ensure!(is_plain_401(
        &call(&s, Method::GET, "/nowhere", None, None).await?,
        "Bearer"
    ));

    // The good token, and one that expired seconds ago (clock skew), are accepted.
    ensure!(
        call(&s, Method::GET, TENANT, Some(&sign(&valid)?), None)
            .await?
            .status
            == StatusCode::OK
    );
    let skewed = sign(&with(json!({"exp": now - 5})))?;
    ensure!(
        call(&s, Method::GET, TENANT, Some(&skewed), None)
            .await?
            .status
            == StatusCode::OK
    );
    // Health stays open.
    ensure!(s.get("/health").await?.status == StatusCode::OK);
    ensure!(s.get(TENANT).await?.json()["error"]["code"] == "401");
    s.stop().await?;
    tokens.stop();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_signing_keys_are_fetched_on_an_unknown_key_id() -> anyhow::Result<()> {
    let tokens = TokenServer::start().await?;
    let s = jwt_server(Mode::Embedded, &tokens, &[]).await?;
    let rsa = tokens.token("provider", &["mtcallback"], None)?;
    ensure!(
        call(&s, Method::GET, TENANT, Some(&rsa), None)
            .await?
            .status
            == StatusCode::OK
    );
    ensure!(tokens.jwks_fetches() == 1);
    // The keys are cached: more requests fetch nothing.
    ensure!(
        call(&s, Method::GET, TENANT, Some(&rsa), None)
            .await?
            .status
            == StatusCode::OK
    );
    ensure!(
        tokens.jwks_fetches() == 1,
        "JWKS fetched {} times",
        tokens.jwks_fetches()
    );

    tokens.publish(PublishedKey {
        kid: "ec-1".into(),
        alg: Algorithm::ES256,
        pem: EC_KEY,
    });
    let claims = tokens.claims("provider", &["mtcallback"], None);
    let es256 = TokenServer::sign(&claims, Algorithm::ES256, EC_KEY, Some("ec-1"))?;
    // Refetches are rate-limited; once allowed, the unknown key id triggers one.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = call(&s, Method::GET, TENANT, Some(&es256), None).await?;
    ensure!(r.status == StatusCode::OK, "{} {}", r.status, r.text);
    ensure!(
        tokens.jwks_fetches() == 2,
        "JWKS fetched {} times",
        tokens.jwks_fetches()
    );
    // Made-up key ids cannot make the sidecar hammer the identity service.
    for i in 0..5 {
        let forged = TokenServer::sign(
            &claims,
            Algorithm::RS256,
            ATTACKER_KEY,
            Some(&format!("made-up-{i}")),
        )?;
        ensure!(
            call(&s, Method::GET, TENANT, Some(&forged), None)
                .await?
                .status
                == StatusCode::UNAUTHORIZED
        );
    }
    ensure!(
        tokens.jwks_fetches() <= 3,
        "JWKS fetched {} times",
        tokens.jwks_fetches()
    );
    s.stop().await?;
    tokens.stop();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_scopes_are_refused_with_403_per_service() -> anyhow::Result<()> {
    let tokens = TokenServer::start().await?;
    let s = jwt_server(Mode::Embedded, &tokens, &[]).await?;
    let nobody = tokens.token("nobody", &[], Some("t1"))?;
    let r = call(&s, Method::GET, TENANT, Some(&nobody), None).await?;
    ensure!(r.status == StatusCode::FORBIDDEN, "{} {}", r.status, r.text);
    ensure!(
        r.error_message()
            == "User 'nobody' is lacking required roles: [cds.Subscriber,mtcallback,internal-user]",
        "{}",
        r.text
    );
    let r = call(
        &s,
        Method::GET,
        "/-/cds/deployment/getTenants()",
        Some(&nobody),
        None,
    )
    .await?;
    ensure!(r.status == StatusCode::FORBIDDEN, "{} {}", r.status, r.text);
    ensure!(
        r.error_message()
            .ends_with("[cds.Subscriber,internal-user]"),
        "{}",
        r.text
    );
    let r = call(
        &s,
        Method::PUT,
        &format!("{TENANT}/t1"),
        Some(&nobody),
        Some("{}"),
    )
    .await?;
    ensure!(r.status == StatusCode::FORBIDDEN, "{} {}", r.status, r.text);
    // A scope of another application grants nothing.
    let claims = json!({"scope": ["other-app!t9.mtcallback", "mtcallback"]});
    let mut c = tokens.claims("foreign", &[], None);
    c["scope"] = claims["scope"].clone();
    let foreign = TokenServer::sign(&c, Algorithm::RS256, RSA_KEY, Some("rsa-1"))?;
    ensure!(
        call(&s, Method::GET, TENANT, Some(&foreign), None)
            .await?
            .status
            == StatusCode::FORBIDDEN
    );
    // mtcallback cannot use the deployment service (as in cds-mtxs).
    let callback = tokens.token("registry", &["mtcallback"], None)?;
    ensure!(
        call(
            &s,
            Method::GET,
            "/-/cds/deployment/getTenants()",
            Some(&callback),
            None
        )
        .await?
        .status
            == StatusCode::FORBIDDEN
    );
    // The jobs service only needs an authenticated caller.
    let r = call(&s, Method::GET, "/-/cds/jobs/Jobs", Some(&nobody), None).await?;
    ensure!(
        r.status == StatusCode::OK && r.json() == json!([]),
        "{} {}",
        r.status,
        r.text
    );
    ensure!(s.get(TENANT).await?.status == StatusCode::UNAUTHORIZED);
    s.stop().await?;
    tokens.stop();
    Ok(())
}

both_modes!(tenants_see_and_touch_only_their_own_tenant, isolation);
async fn isolation(mode: Mode) -> anyhow::Result<()> {
    let tokens = TokenServer::start().await?;
    let s = jwt_server(mode, &tokens, &[]).await?;
    let provider = tokens.token("provider", &["mtcallback"], Some("provider-zone"))?;
    let internal = tokens.token("app", &["internal-user"], None)?;
    let t1 = tokens.token("admin1", &["cds.Subscriber"], Some("t1"))?;
    let homeless = tokens.token("nobody-home", &["cds.Subscriber"], None)?;
    let p = Some(provider.as_str());
    let me = Some(t1.as_str());

    for t in ["t1", "t2"] {
        let r = call(
            &s,
            Method::PUT,
            &format!("{TENANT}/{t}"),
            p,
            Some(&json!({"subscribedSubdomain": t}).to_string()),
        )
        .await?;
        ensure!(
            r.status == StatusCode::OK,
            "subscribe {t}: {} {}",
            r.status,
            r.text
        );
    }
    let jobs = call(&s, Method::GET, "/-/cds/jobs/Jobs", p, None)
        .await?
        .json();
    let t2_job = jobs
        .as_array()
        .and_then(|a| a.iter().find(|j| j["tasks"][0]["tenant"] == "t2"))
        .cloned()
        .unwrap_or(Value::Null);
    let t2_job_id = t2_job["ID"].as_str().unwrap_or_default().to_owned();
    let t2_task_id = t2_job["tasks"][0]["ID"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ensure!(!t2_job_id.is_empty() && !t2_task_id.is_empty(), "{jobs}");
    let t2_before = call(&s, Method::GET, &format!("{TENANT}/t2"), p, None)
        .await?
        .json();

    // Reads: only the own tenant is visible; the other one does not exist for this caller.
    let list = call(&s, Method::GET, TENANT, me, None).await?.json();
    ensure!(
        list.as_array()
            .is_some_and(|a| a.len() == 1 && a[0]["subscribedTenantId"] == "t1"),
        "{list}"
    );
    ensure!(
        call(&s, Method::GET, &format!("{TENANT}/t1"), me, None)
            .await?
            .status
            == StatusCode::OK
    );
    ensure!(
        call(&s, Method::GET, &format!("{TENANT}/t2"), me, None)
            .await?
            .status
            == StatusCode::NOT_FOUND
    );
    let ids = call(&s, Method::GET, "/-/cds/deployment/getTenants()", me, None)
        .await?
        .json();
    ensure!(ids == json!(["t1"]), "{ids}");
    for path in [
        format!("/-/cds/jobs/pollJob(ID='{t2_job_id}')"),
        format!("/-/cds/jobs/Jobs/{t2_job_id}"),
        format!("/-/cds/jobs/pollTask(ID='{t2_task_id}')"),
    ] {
        let r = call(&s, Method::GET, &path, me, None).await?;
        ensure!(
            r.status == StatusCode::NOT_FOUND,
            "{path}: {} {}",
            r.status,
            r.text
        );
    }
    let own_jobs = call(&s, Method::GET, "/-/cds/jobs/Jobs", me, None)
        .await?
        .json();
    let own = own_jobs.as_array().cloned().unwrap_or_default();
    ensure!(
        !own.is_empty()
            && own.iter().all(|j| j["tasks"]
                .as_array()
                .is_some_and(|t| t.iter().all(|t| t["tenant"] == "t1"))),
        "{own_jobs}"
    );

    // Writes on another tenant (or on all) are forbidden.
    let writes: Vec<(Method, String, Option<&str>)> = vec![
        (
            Method::PUT,
            format!("{TENANT}/t2"),
            Some(r#"{"subscribedSubdomain":"hijacked"}"#),
        ),
        (
            Method::PUT,
            TENANT.to_owned(),
            Some(r#"{"subscribedTenantId":"t2"}"#),
        ),
        (Method::DELETE, format!("{TENANT}/t2"), None),
        (
            Method::POST,
            UPGRADE.to_owned(),
            Some(r#"{"tenants":["t2"]}"#),
        ),
        (
            Method::POST,
            UPGRADE.to_owned(),
            Some(r#"{"tenants":["t1","t2"]}"#),
        ),
        (
            Method::POST,
            UPGRADE.to_owned(),
            Some(r#"{"tenants":["*"]}"#),
        ),
        (
            Method::POST,
            "/-/cds/deployment/subscribe".to_owned(),
            Some(r#"{"tenant":"t2"}"#),
        ),
        (
            Method::POST,
            "/-/cds/deployment/unsubscribe".to_owned(),
            Some(r#"{"tenant":"t2"}"#),
        ),
        (
            Method::POST,
            "/-/cds/deployment/upgrade".to_owned(),
            Some(r#"{"tenant":"*"}"#),
        ),
        (Method::PUT, format!("{TENANT}/t3"), Some("{}")),
    ];
    for (method, path, body) in &writes {
        let r = call(&s, method.clone(), path, me, *body).await?;
        ensure!(
            r.status == StatusCode::FORBIDDEN,
            "{method} {path}: {} {}",
            r.status,
            r.text
        );
    }
    // A subscriber bound to no tenant may touch none.
    let h = Some(homeless.as_str());
    ensure!(call(&s, Method::GET, TENANT, h, None).await?.json() == json!([]));
    ensure!(
        call(&s, Method::PUT, &format!("{TENANT}/t1"), h, Some("{}"))
            .await?
            .status
            == StatusCode::FORBIDDEN
    );

    // Its own tenant it may upgrade.
    let r = call(&s, Method::POST, UPGRADE, me, Some(r#"{"tenants":["t1"]}"#)).await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "{} {}",
        r.status,
        r.text
    );

    // Nothing of t2 changed, and no job touched it.
    let t2_after = call(
        &s,
        Method::GET,
        &format!("{TENANT}/t2"),
        Some(&internal),
        None,
    )
    .await?
    .json();
    ensure!(t2_after == t2_before, "{t2_before} → {t2_after}");
    let all = call(&s, Method::GET, "/-/cds/jobs/Jobs", p, None)
        .await?
        .json();
    let touching_t2 = all.as_array().map_or(0, |a| {
        a.iter()
            .filter(|j| {
                j["tasks"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["tenant"] == "t2"))
            })
            .count()
    });
    ensure!(touching_t2 == 1, "{all}");
    ensure!(
        call(&s, Method::GET, TENANT, p, None)
            .await?
            .json()
            .as_array()
            .map(Vec::len)
            == Some(2)
    );
    s.stop().await?;
    tokens.stop();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crafted_ids_are_rejected_and_change_nothing() -> anyhow::Result<()> {
    let tokens = TokenServer::start().await?;
    let s = jwt_server(Mode::Embedded, &tokens, &[]).await?;
    let provider = tokens.token("provider", &["mtcallback"], None)?;
    let p = Some(provider.as_str());
    for id in [
        "t1%0d%0aSet-Cookie:%20x=1",
        "t1%27%3B%20DROP%20TABLE%20tenants%3B--",
        "t1%22%3B%20DROP%20SCHEMA%20mtx%20CASCADE%3B--",
        "..%2F..%2Fetc",
    ] {
        let r = call(&s, Method::PUT, &format!("{TENANT}/{id}"), p, Some("{}")).await?;
        ensure!(
            r.status == StatusCode::BAD_REQUEST,
            "{id}: {} {}",
            r.status,
            r.text
        );
        ensure!(r.headers.get("set-cookie").is_none());
    }
    let r = call(
        &s,
        Method::GET,
        "/-/cds/jobs/pollJob(ID='x''%20OR%20''1''=''1')",
        p,
        None,
    )
    .await?;
    ensure!(r.status == StatusCode::NOT_FOUND, "{} {}", r.status, r.text);
    ensure!(call(&s, Method::GET, TENANT, p, None).await?.json() == json!([]));
    ensure!(
        call(&s, Method::GET, "/-/cds/jobs/Jobs", p, None)
            .await?
            .json()
            == json!([])
    );
    s.stop().await?;
    tokens.stop();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_mode_checks_passwords_and_roles() -> anyhow::Result<()> {
    let config = ConfigFile::write(&json!({"auth": {"kind": "basic", "users": {
        "alice": {"password": "pw-alice", "roles": ["cds.Subscriber"], "tenant": "t1"},
        "yves": {"password": "pw-yves", "roles": ["internal-user"]}
    }}}))?;
    let s = TestServer::start(Mode::Embedded, &[("MTX_CONFIG", &config.path())]).await?;
    let as_user = |user: &str, pw: &str| vec![("authorization".to_owned(), basic_auth(user, pw))];
    let req =
        |h: Vec<(String, String)>, method: Method, path: String, body: Option<&'static str>| {
            let s = &s;
            async move {
                let headers: Vec<(&str, &str)> =
                    h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                s.request(method, &path, &headers, body).await
            }
        };
    ensure!(is_plain_401(&s.get(TENANT).await?, "Basic realm=\"Users\""));
    for (u, pw) in [("yves", "wrong"), ("yves", ""), ("mallory", "pw-yves")] {
        let r = req(as_user(u, pw), Method::GET, TENANT.into(), None).await?;
        ensure!(
            is_plain_401(&r, "Basic realm=\"Users\""),
            "{u}:{pw}: {} {}",
            r.status,
            r.text
        );
    }
    let r = req(
        as_user("alice", "pw-alice"),
        Method::PUT,
        format!("{TENANT}/t2"),
        Some("{}"),
    )
    .await?;
    ensure!(r.status == StatusCode::FORBIDDEN, "{} {}", r.status, r.text);
    let r = req(
        as_user("alice", "pw-alice"),
        Method::PUT,
        format!("{TENANT}/t1"),
        Some("{}"),
    )
    .await?;
    ensure!(r.status == StatusCode::OK, "{} {}", r.status, r.text);
    let r = req(as_user("yves", "pw-yves"), Method::GET, TENANT.into(), None).await?;
    ensure!(
        r.status == StatusCode::OK && r.json().as_array().map(Vec::len) == Some(1),
        "{} {}",
        r.status,
        r.text
    );
    s.stop().await
}

both_modes!(oversized_bodies_are_refused_with_413, oversized);
async fn oversized(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[("MTX_BODY_LIMIT", "2048")]).await?;
    let big = json!({"subscribedSubdomain": "x".repeat(4096)}).to_string();
    let r = s
        .request(Method::PUT, &format!("{TENANT}/big"), &[], Some(&big))
        .await?;
    ensure!(
        r.status == StatusCode::PAYLOAD_TOO_LARGE,
        "{} {}",
        r.status,
        r.text
    );
    ensure!(r.json()["error"]["code"] == "413", "{}", r.text);
    let r = s
        .request(
            Method::POST,
            UPGRADE,
            &[],
            Some(&format!(r#"{{"tenants":["*"],"options":{big}}}"#)),
        )
        .await?;
    ensure!(
        r.status == StatusCode::PAYLOAD_TOO_LARGE,
        "{} {}",
        r.status,
        r.text
    );
    ensure!(
        s.get(TENANT).await?.json() == json!([]),
        "a tenant was created"
    );
    ensure!(
        s.get("/-/cds/jobs/Jobs").await?.json() == json!([]),
        "a job was recorded"
    );
    s.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_refuses_the_dummy_mode_unless_forced() -> anyhow::Result<()> {
    let refused = TestServer::start(Mode::Postgres, &[("MTX_AUTH_ALLOW_DUMMY", "false")]).await;
    let err = refused.err().map(|e| format!("{e:#}")).unwrap_or_default();
    ensure!(
        err.contains("MTX_AUTH") && err.contains("dummy"),
        "started anyway or wrong error: {err}"
    );
    // Forced explicitly, it starts (the harness forces it for the other PostgreSQL tests).
    let s = TestServer::start(Mode::Postgres, &[("MTX_AUTH_ALLOW_DUMMY", "true")]).await?;
    ensure!(s.get("/health").await?.status == StatusCode::OK);
    s.stop().await
}

/// The 403 of a caller lacking every role a route requires, worded as cds-mtxs words it.
fn lacks_roles(r: &Reply, user: &str, roles: &str) -> bool {
    r.status == StatusCode::FORBIDDEN
        && r.json()["error"]["message"]
            == format!("User '{user}' is lacking required roles: [{roles}]")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mocked_mode_admits_caps_mock_users_with_their_roles_and_tenants() -> anyhow::Result<()> {
    let s = TestServer::start(Mode::Embedded, &[("MTX_AUTH", "mocked")]).await?;
    const PROVISIONING_ROLES: &str = "cds.Subscriber,mtcallback,internal-user";
    // The cds CLI's default user against a local sidecar: `yves` with an empty password.
    let yves = ("yves", "");
    let alice = ("alice", "");

    ensure!(is_plain_401(&s.get(TENANT).await?, "Basic realm=\"Users\""));
    let r = as_basic_user(&s, alice, Method::GET, TENANT, None).await?;
    ensure!(
        lacks_roles(&r, "alice", PROVISIONING_ROLES),
        "{} {}",
        r.status,
        r.text
    );
    let r = as_basic_user(&s, ("someone", "x"), Method::GET, TENANT, None).await?;
    ensure!(
        lacks_roles(&r, "someone", PROVISIONING_ROLES),
        "{} {}",
        r.status,
        r.text
    );
    let r = as_basic_user(&s, alice, Method::PUT, &format!("{TENANT}/t1"), Some("{}")).await?;
    ensure!(
        lacks_roles(&r, "alice", PROVISIONING_ROLES),
        "{} {}",
        r.status,
        r.text
    );
    let r = as_basic_user(
        &s,
        alice,
        Method::POST,
        "/-/cds/deployment/subscribe",
        Some(r#"{"tenant":"x"}"#),
    )
    .await?;
    ensure!(
        lacks_roles(&r, "alice", "cds.Subscriber,internal-user"),
        "{} {}",
        r.status,
        r.text
    );

    for t in ["t1", "t2"] {
        let r = as_basic_user(&s, yves, Method::PUT, &format!("{TENANT}/{t}"), Some("{}")).await?;
        ensure!(
            r.status == StatusCode::OK,
            "subscribe {t}: {} {}",
            r.status,
            r.text
        );
    }
    let r = as_basic_user(&s, ("yves", "any password"), Method::GET, TENANT, None).await?;
    ensure!(
        r.status == StatusCode::OK && r.json().as_array().map(Vec::len) == Some(2),
        "{} {}",
        r.status,
        r.text
    );

    // alice is bound to t1: t2's job does not exist for her, her list holds t1's only.
    let jobs = as_basic_user(&s, yves, Method::GET, "/-/cds/jobs/Jobs", None)
        .await?
        .json();
    let t2_job = jobs
        .as_array()
        .and_then(|a| a.iter().find(|j| j["tasks"][0]["tenant"] == "t2"))
        .and_then(|j| j["ID"].as_str())
        .unwrap_or_default()
        .to_owned();
    ensure!(!t2_job.is_empty(), "{jobs}");
    let r = as_basic_user(
        &s,
        alice,
        Method::GET,
        &format!("/-/cds/jobs/pollJob(ID='{t2_job}')"),
        None,
    )
    .await?;
    ensure!(r.status == StatusCode::NOT_FOUND, "{} {}", r.status, r.text);
    let own_jobs = as_basic_user(&s, alice, Method::GET, "/-/cds/jobs/Jobs", None)
        .await?
        .json();
    let own = own_jobs.as_array().cloned().unwrap_or_default();
    ensure!(
        own.len() == 1
            && own.iter().all(|j| j["tasks"]
                .as_array()
                .is_some_and(|t| t.iter().all(|t| t["tenant"] == "t1"))),
        "{own_jobs}"
    );
    s.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_refuses_the_mocked_mode_unless_forced() -> anyhow::Result<()> {
    let refused = TestServer::start(
        Mode::Postgres,
        &[("MTX_AUTH", "mocked"), ("MTX_AUTH_ALLOW_DUMMY", "false")],
    )
    .await;
    let err = refused.err().map(|e| format!("{e:#}")).unwrap_or_default();
    ensure!(
        err.contains("MTX_AUTH") && err.contains("mocked"),
        "started anyway or wrong error: {err}"
    );
    let s = TestServer::start(
        Mode::Postgres,
        &[("MTX_AUTH", "mocked"), ("MTX_AUTH_ALLOW_DUMMY", "true")],
    )
    .await?;
    ensure!(s.get("/health").await?.status == StatusCode::OK);
    s.stop().await
}
