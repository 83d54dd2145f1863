//! The generic OpenID Connect provider, configured by OIDC_* variables alone,
//! against a real OpenID Connect server running locally: the built-in demo
//! provider (discovery, JWKS, ES256 ID tokens, PKCE, userinfo), which knows
//! nothing of the app but what any provider would.

use reqwest::StatusCode;

use crate::helpers::{browser, location, spawn_app_with};

const CLIENT_ID: &str = "generic-client";
const CLIENT_SECRET: &str = "generic-client-secret";

#[tokio::test]
async fn the_generic_provider_signs_in_with_any_issuer_from_configuration_alone() {
    // The app learns the issuer only from OIDC_ISSUER; endpoints and keys come
    // from its discovery document.
    let app = spawn_app_with(&[
        ("DEMO_CLIENT_ID", CLIENT_ID),
        ("DEMO_CLIENT_SECRET", CLIENT_SECRET),
        ("OIDC_ISSUER", "{demo_address}"),
        ("OIDC_CLIENT_ID", CLIENT_ID),
        ("OIDC_CLIENT_SECRET", CLIENT_SECRET),
        ("OIDC_DISPLAY_NAME", "Our Keycloak"),
    ])
    .await;
    let browser = browser();

    let (_, home) = app.get_html(&browser, "/").await;
    assert!(home.contains("Sign in with Our Keycloak"), "{home}");

    let callback = app
        .authorize_at_demo_as("oidc", &browser, "/profile", "carol", "allow")
        .await;
    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/profile");

    // The profile comes from the issuer's userinfo endpoint; there is no mail.
    let (status, profile) = app.get_html(&browser, "/profile").await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert!(profile.contains("Carol Chen") && profile.contains("carol@demo.example"));
    assert!(profile.contains("Our Keycloak"));
    assert!(!profile.contains("Open your mail"));
    let (status, mail) = app.get_html(&browser, "/mail").await;
    assert_eq!(status, StatusCode::OK);
    assert!(mail.contains("Our Keycloak has no mail API"), "{mail}");
}
