//! Production mode (an https APP_BASE_URL): the demo provider only when asked
//! for, with a banner on every page; `/setup` without client ids or endpoints.
//! What the configuration refuses is tested in `config/mod.rs`.

use reqwest::StatusCode;

use crate::helpers::{browser, spawn_app, spawn_app_with};

const PRODUCTION: (&str, &str) = ("APP_BASE_URL", "https://signin.example.com");

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn production_with_the_demo_provider_on_shows_a_demo_banner_on_every_page() {
    let app = spawn_app_with(&[PRODUCTION, ("DEMO_PROVIDER", "on")]).await;
    let browser = browser();

    for path in ["/", "/login", "/learn", "/setup", "/no-such-page"] {
        let (_, html) = app.get_html(&browser, path).await;
        assert!(html.contains(r#"class="demo-banner""#), "{path}:\n{html}");
    }
    // A sign-in still starts (the demo provider runs).
    let start = browser
        .get(app.url("/auth/demo/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn development_shows_no_demo_banner_and_production_has_no_demo_provider_unless_asked() {
    let development = spawn_app().await;
    let (_, html) = development.get_html(&browser(), "/").await;
    assert!(!html.contains("demo-banner"));

    let production = spawn_app_with(&[PRODUCTION]).await;
    let (_, html) = production.get_html(&browser(), "/").await;
    assert!(!html.contains("demo-banner"));
    let start = browser()
        .get(production.url("/auth/demo/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        start.status(),
        StatusCode::NOT_FOUND,
        "the demo provider is off"
    );
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn setup_in_production_shows_no_client_ids_redirect_uris_or_endpoints() {
    let client_id = ("DEMO_CLIENT_ID", "client-id-to-hide");
    let development = spawn_app_with(&[client_id]).await;
    let (_, html) = development.get_html(&browser(), "/setup").await;
    // Tera writes `/` as `&#x2F;` in text: look for what has none.
    let demo_host = development.demo_address.trim_start_matches("http://");
    for shown in [
        "client-id-to-hide",
        "Redirect URI to register",
        "endpoint</dt>",
        demo_host,
    ] {
        assert!(html.contains(shown), "development shows {shown}:\n{html}");
    }

    let production = spawn_app_with(&[PRODUCTION, ("DEMO_PROVIDER", "on"), client_id]).await;
    let (status, html) = production.get_html(&browser(), "/setup").await;

    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Demo provider"), "{html}");
    assert!(html.contains("set (not shown)"), "{html}");
    let demo_host = production.demo_address.trim_start_matches("http://");
    for hidden in [
        "client-id-to-hide",
        "Redirect URI to register",
        "callback",
        "endpoint</dt>",
        demo_host,
    ] {
        assert!(!html.contains(hidden), "{hidden} shown:\n{html}");
    }
}
