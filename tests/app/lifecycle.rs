//! What whoever runs the app relies on: the liveness and readiness probes, and
//! the `X-Request-Id` that every response carries. (Stopping on a signal, the
//! JSON log format and the command line need the real binary: `process.rs`.)

use reqwest::StatusCode;
use serde_json::json;

use crate::fake_issuer::FakeIssuer;
use crate::helpers::{browser, spawn_app, spawn_app_with};

#[tokio::test]
async fn liveness_answers_without_asking_anything_else() {
    let app = spawn_app().await;
    let response = browser().get(app.url("/livez")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok"}));
}

#[tokio::test]
async fn readiness_names_each_check_and_the_database_is_one() {
    let app = spawn_app().await;
    let response = browser().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    // With TEST_REDIS_URL the app uses Redis, and checks it too.
    let checks = if crate::helpers::test_redis_url().is_some() {
        json!({"database": "ok", "redis": "ok"})
    } else {
        json!({"database": "ok"})
    };
    assert_eq!(body, json!({"status": "ready", "checks": checks}));
}

#[tokio::test]
async fn the_health_check_still_answers_as_before() {
    let app = spawn_app().await;
    let response = browser().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok", "database": "ok"}));
}

fn request_id(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no X-Request-Id on {}", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn every_kind_of_response_carries_its_own_request_id() {
    let app = spawn_app().await;
    let client = browser();
    let mut seen = std::collections::HashSet::new();
    for (kind, path, status) in [
        ("a page", "/", StatusCode::OK),
        ("a redirect", "/profile", StatusCode::SEE_OTHER),
        ("a 404", "/no-such-page", StatusCode::NOT_FOUND),
        ("a static asset", "/static/style.css", StatusCode::OK),
        ("a probe", "/livez", StatusCode::OK),
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), status, "{kind}");
        let id = request_id(&response);
        assert_eq!(id.len(), 36, "{kind}: a UUID, got {id}");
        assert!(seen.insert(id), "{kind}: each request has its own id");
    }
}

#[tokio::test]
async fn a_client_cannot_choose_its_request_id() {
    let app = spawn_app().await;
    let response = browser()
        .get(app.url("/"))
        .header("X-Request-Id", "chosen-by-the-client")
        .send()
        .await
        .unwrap();
    assert_ne!(request_id(&response), "chosen-by-the-client");
}

#[tokio::test]
async fn an_error_page_shows_the_request_id_of_its_response() {
    // Arrange: a provider whose discovery fails, so starting a sign-in is a 5xx.
    let issuer = FakeIssuer::start().await;
    issuer
        .mount_json("GET", "/.well-known/openid-configuration", 500, json!({}))
        .await;
    let app = spawn_app_with(&issuer.oidc_env()).await;

    // Act
    let response = browser()
        .get(app.url("/auth/oidc/login"))
        .send()
        .await
        .unwrap();

    // Assert
    assert!(response.status().is_server_error(), "{}", response.status());
    let id = request_id(&response);
    let page = response.text().await.unwrap();
    assert!(
        page.contains(&format!("<code>{id}</code>")),
        "the page names {id}:\n{page}"
    );
}
