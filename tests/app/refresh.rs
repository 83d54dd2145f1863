//! Refresh with the demo provider (RFC 6749 §6): it rotates refresh tokens
//! and refuses one that was already used, like Microsoft's. DEMO_TOKEN_TTL=1
//! makes every access token expire within the app's 60-second margin, so each
//! API page refreshes first.

use diesel::prelude::*;
use reqwest::StatusCode;
use signin_reference::db::schema::provider_tokens;

use crate::helpers::{TestApp, browser, location, spawn_app_with};

async fn spawn_app_with_short_tokens() -> TestApp {
    spawn_app_with(&[("DEMO_TOKEN_TTL", "1")]).await
}

/// The stored refresh token, sealed, as it is in the database.
fn sealed_refresh_token(app: &TestApp) -> Vec<u8> {
    provider_tokens::table
        .select(provider_tokens::refresh_token)
        .get_result::<Option<Vec<u8>>>(&mut app.database())
        .unwrap()
        .expect("a refresh token is stored")
}

#[tokio::test]
async fn expired_access_tokens_are_refreshed_without_the_visitor_noticing() {
    let app = spawn_app_with_short_tokens().await;
    let browser = browser();
    app.sign_in_with_mail(&browser, "alice").await;
    let first = sealed_refresh_token(&app);

    // Each page refreshes with the refresh token the previous one stored: the
    // demo provider refuses a used one, so this also shows that each rotated
    // token replaced the old one.
    for page in ["/mail", "/profile?refresh=1", "/mail"] {
        let (status, html) = app.get_html(&browser, page).await;
        assert_eq!(status, StatusCode::OK, "{page}: {html}");
    }
    assert_ne!(sealed_refresh_token(&app), first, "rotated");
}

#[tokio::test]
async fn a_refused_refresh_token_leads_to_one_clean_sign_in_and_back() {
    let app = spawn_app_with_short_tokens().await;
    let browser = browser();
    app.sign_in_with_mail(&browser, "alice").await;
    let used = sealed_refresh_token(&app);
    assert_eq!(app.get_html(&browser, "/mail").await.0, StatusCode::OK);
    // Put the already-used refresh token back, as a stale copy would be: the
    // provider refuses it (a replayed refresh token, RFC 9700 §4.14.2).
    diesel::update(provider_tokens::table)
        .set(provider_tokens::refresh_token.eq(Some(used)))
        .execute(&mut app.database())
        .unwrap();

    let response = browser.get(app.url("/mail")).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&response),
        "/login?return_to=%2Fmail&expired=refused"
    );
    assert_eq!(app.stored_token_rows(), 0, "dead tokens are deleted");
    let (status, chooser) = app.get_html(&browser, &location(&response)).await;
    assert_eq!(status, StatusCode::OK, "a page, not another redirect");
    assert!(chooser.contains("could not be renewed"), "{chooser}");
    assert_eq!(app.sign_in(&browser, "/mail", "alice").await, "/mail");
    assert_eq!(app.get_html(&browser, "/mail").await.0, StatusCode::OK);
    app.grant_mail(&browser, "alice").await;
}

#[tokio::test]
async fn flow_shows_each_refresh_after_the_sign_in_with_secrets_as_fingerprints() {
    let app = spawn_app_with_short_tokens().await;
    let browser = browser();
    app.sign_in(&browser, "/mail", "alice").await;
    assert_eq!(app.get_html(&browser, "/mail").await.0, StatusCode::OK);

    let (_, flow) = app.get_html(&browser, "/flow").await;

    assert!(flow.contains("After sign-in"), "{flow}");
    assert!(
        flow.contains("refresh_token") && flow.contains("(sha256 "),
        "{flow}"
    );
    assert!(flow.contains("rotated"), "{flow}");
}
