//! Hostile or broken providers (issue 11): answers no genuine provider
//! sends. Each test fails if the protection it names is removed.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fake_issuer::{
    CLIENT_ID, FakeIssuer, StartedSignIn, come_back_with_code, start_sign_in, token_response,
};
use crate::helpers::{TestApp, browser, browser_with_jar, spawn_app_with};

/// Twice the 1 MiB cap on token responses, discovery, JWKS and userinfo.
const TWO_MIB: usize = 2 * 1024 * 1024;

/// A fake issuer serving the minimal discovery document and its JWKS, and
/// the app configured for it as the generic provider.
async fn fake_and_app() -> (FakeIssuer, TestApp) {
    let issuer = FakeIssuer::start().await;
    let document = discovery_of(&issuer);
    fake_and_app_for(issuer, document).await
}

/// `fake_and_app` for an issuer already started (the document names it).
async fn fake_and_app_for(issuer: FakeIssuer, document: Value) -> (FakeIssuer, TestApp) {
    issuer
        .mount_json("GET", "/.well-known/openid-configuration", 200, document)
        .await;
    issuer.mount_jwks("/jwks").await;
    let app = spawn_app_with(&issuer.oidc_env()).await;
    (issuer, app)
}

/// The minimal discovery document of `mount_discovery`, to change.
fn discovery_of(issuer: &FakeIssuer) -> Value {
    issuer.discovery_document()
}

/// Valid ID-token claims for `started`, with `extra` added.
fn claims(issuer: &FakeIssuer, started: &StartedSignIn, extra: Value) -> Value {
    let mut claims = json!({
        "iss": issuer.issuer(), "sub": "user-1", "aud": CLIENT_ID,
        "nonce": started.nonce.clone().unwrap(), "name": "Fake User",
    });
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    claims
}

/// Starts a sign-in and comes back with a code; the token endpoint answers
/// with what `answer` makes of the sign-in's valid ID token.
async fn sign_in_answered_with(
    issuer: &FakeIssuer,
    app: &TestApp,
    browser: &reqwest::Client,
    answer: impl FnOnce(&StartedSignIn) -> Value,
) -> reqwest::Response {
    let authorize = format!("{}/authorize", issuer.issuer());
    let started = start_sign_in(app, browser, "oidc", "/profile", &authorize).await;
    issuer
        .answer_token_request_at("/token", 200, answer(&started))
        .await;
    come_back_with_code(app, browser, "oidc", &started).await
}

#[tokio::test]
async fn an_oversized_token_response_is_refused_and_nothing_is_stored() {
    let (issuer, app) = fake_and_app().await;
    let browser = browser();
    let response = sign_in_answered_with(&issuer, &app, &browser, |started| {
        let id_token = issuer.id_token(claims(&issuer, started, json!({})));
        let mut answer = token_response(Some(&id_token));
        answer["padding"] = json!("x".repeat(TWO_MIB));
        answer
    })
    .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let html = response.text().await.unwrap();
    assert!(html.contains("too large"), "{html}");
    assert!(html.contains("token response"), "{html}");
    assert_eq!(app.stored_token_rows(), 0, "nothing stored");
}

#[tokio::test]
async fn an_oversized_id_token_is_refused_before_it_is_parsed() {
    let (issuer, app) = fake_and_app().await;
    let browser = browser();
    // A validly signed token of about 24 KiB: under the response cap, over
    // the ID token's (16 KiB).
    let response = sign_in_answered_with(&issuer, &app, &browser, |started| {
        let padding = json!({"padding": "x".repeat(18 * 1024)});
        token_response(Some(&issuer.id_token(claims(&issuer, started, padding))))
    })
    .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("too large") && html.contains("ID token"),
        "{html}"
    );
    assert_eq!(app.stored_token_rows(), 0, "nothing stored");
}

#[tokio::test]
async fn an_access_token_lifetime_beyond_any_clock_is_kept_as_far_future_without_overflow() {
    let (issuer, app) = fake_and_app().await;
    let browser = browser();
    // `expires_in` is a number of seconds (RFC 6749 §5.1); this one does
    // not fit a signed 64-bit time. It is stored as "far in the future".
    let response = sign_in_answered_with(&issuer, &app, &browser, |started| {
        let mut answer =
            token_response(Some(&issuer.id_token(claims(&issuer, started, json!({})))));
        answer["expires_in"] = json!(u64::MAX);
        answer
    })
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "signed in");
    issuer
        .mount_json("GET", "/userinfo", 200, json!({"sub": "user-1"}))
        .await;
    let (status, html) = app.get_html(&browser, "/profile").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(
        issuer.requests_to("/token").await,
        1,
        "the code exchange only: no refresh for a token that does not expire soon"
    );
}

#[tokio::test]
async fn an_oversized_discovery_document_or_key_set_is_refused() {
    // The discovery document.
    let issuer = FakeIssuer::start().await;
    let mut document = discovery_of(&issuer);
    document["padding"] = json!("x".repeat(TWO_MIB));
    let (_issuer, app) = fake_and_app_for(issuer, document).await;
    let (status, html) = app
        .get_html(&browser(), "/auth/oidc/login?return_to=%2Fprofile")
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        html.contains("too large") && html.contains("discovery document"),
        "{html}"
    );

    // The signing keys.
    let issuer = FakeIssuer::start().await;
    let mut document = discovery_of(&issuer);
    document["jwks_uri"] = json!(format!("{}/big-jwks", issuer.issuer()));
    issuer
        .mount_json(
            "GET",
            "/big-jwks",
            200,
            json!({"keys": [], "padding": "x".repeat(TWO_MIB)}),
        )
        .await;
    let (_issuer, app) = fake_and_app_for(issuer, document).await;
    let (status, html) = app
        .get_html(&browser(), "/auth/oidc/login?return_to=%2Fprofile")
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        html.contains("too large") && html.contains("signing keys"),
        "{html}"
    );
}

#[tokio::test]
async fn an_oversized_userinfo_answer_is_a_clear_502_and_the_next_request_works() {
    let (issuer, app) = fake_and_app().await;
    let browser = browser();
    let response = sign_in_answered_with(&issuer, &app, &browser, |started| {
        token_response(Some(&issuer.id_token(claims(&issuer, started, json!({})))))
    })
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // Once too large, then a normal answer.
    wiremock::Mock::given(wiremock::matchers::path("/userinfo"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(
            json!({"sub": "user-1", "name": "Fake User", "padding": "x".repeat(TWO_MIB)}),
        ))
        .up_to_n_times(1)
        .mount(&issuer.server)
        .await;
    issuer
        .mount_json(
            "GET",
            "/userinfo",
            200,
            json!({"sub": "user-1", "name": "Fake User"}),
        )
        .await;
    let (status, html) = app.get_html(&browser, "/profile").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(html.contains("too large"), "{html}");
    let (status, html) = app.get_html(&browser, "/profile").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Fake User"));
}

#[tokio::test]
async fn a_huge_name_keeps_the_session_cookie_under_4_kb_and_the_pages_work() {
    let (issuer, app) = fake_and_app().await;
    let (browser, jar) = browser_with_jar();
    // 3,000 characters of 3 bytes each (9 KB): the ID token stays under its
    // 16 KiB cap, the name far over what a cookie can hold.
    let huge_name = "\u{2603}".repeat(3000);
    let response = sign_in_answered_with(&issuer, &app, &browser, |started| {
        let extra = json!({"name": huge_name, "email": format!("{}@example.com", "a".repeat(300))});
        token_response(Some(&issuer.id_token(claims(&issuer, started, extra))))
    })
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "signed in");

    use reqwest::cookie::CookieStore as _;
    let cookies = jar
        .cookies(&app.address.parse().unwrap())
        .expect("a session cookie");
    assert!(
        cookies.len() < 4096,
        "the session cookie is {} bytes",
        cookies.len()
    );
    issuer
        .mount_json(
            "GET",
            "/userinfo",
            200,
            json!({"sub": "user-1", "name": "Fake User"}),
        )
        .await;
    let (status, html) = app.get_html(&browser, "/profile").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains(&"\u{2603}".repeat(200)),
        "the name, cut to 200 characters"
    );
    assert!(!html.contains(&"\u{2603}".repeat(201)));
}

#[tokio::test]
async fn an_empty_or_overlong_subject_is_refused() {
    for (subject, why) in [
        (String::new(), "empty"),
        ("s".repeat(256), "256 characters"),
        ("caf\u{e9}".to_owned(), "not ASCII"),
    ] {
        let (issuer, app) = fake_and_app().await;
        let browser = browser();
        let response = sign_in_answered_with(&issuer, &app, &browser, |started| {
            let extra = json!({"sub": subject});
            token_response(Some(&issuer.id_token(claims(&issuer, started, extra))))
        })
        .await;
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY, "{why}");
        let html = response.text().await.unwrap();
        assert!(html.contains("an id we cannot use"), "{why}: {html}");
        assert_eq!(app.stored_token_rows(), 0, "{why}: nothing stored");
    }
    // 255 printable ASCII characters are fine.
    let (issuer, app) = fake_and_app().await;
    let response = sign_in_answered_with(&issuer, &app, &browser(), |started| {
        let extra = json!({"sub": "s".repeat(255)});
        token_response(Some(&issuer.id_token(claims(&issuer, started, extra))))
    })
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn discovered_endpoints_that_are_not_https_make_the_provider_misconfigured() {
    for name in [
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "revocation_endpoint",
        "end_session_endpoint",
    ] {
        let issuer = FakeIssuer::start().await;
        let mut document = discovery_of(&issuer);
        // Plain http to another host, from a loopback issuer.
        document[name] = json!("http://evil.example/steal");
        let (_issuer, app) = fake_and_app_for(issuer, document).await;
        let (status, html) = app
            .get_html(&browser(), "/auth/oidc/login?return_to=%2Fprofile")
            .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{name}");
        assert!(
            html.contains(&format!("address for {name} that is not secure")),
            "{name}: {html}"
        );
    }
}
