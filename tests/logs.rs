//! No secret reaches the logs, at the most verbose level there is.
//!
//! A test binary of its own: it installs the app's real log subscriber
//! (`telemetry::subscriber`) as the process's global one, writing into memory,
//! runs a whole sign-in, a profile page and a token refresh against a fake
//! provider whose every secret it knows, and looks for each secret in what
//! was written, as sent and URL-encoded.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation in a test should panic with its message"
)]

#[path = "app/fake_issuer.rs"]
#[allow(dead_code, reason = "shared with tests/app; this test uses a part")]
mod fake_issuer;
#[path = "app/helpers.rs"]
#[allow(dead_code, reason = "shared with tests/app; this test uses a part")]
mod helpers;

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::json;
use tracing_subscriber::EnvFilter;

use fake_issuer::{CLIENT_ID, CLIENT_SECRET, FakeIssuer, token_response};
use helpers::{browser_with_jar, query_value, spawn_app_with};

/// Everything logged, in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Captured {
    type Writer = Captured;
    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

fn urlencoded(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn no_secret_is_ever_logged() {
    let logs = Captured::default();
    tracing::subscriber::set_global_default(signin_reference::telemetry::subscriber(
        EnvFilter::new("trace"),
        logs.clone(),
    ))
    .expect("the only subscriber of this test binary");

    let session_key = base64::engine::general_purpose::STANDARD.encode([41u8; 64]);
    let token_key = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    let issuer = FakeIssuer::start().await;
    // A revocation endpoint that fails, so that sign-out logs its warning.
    let mut discovery = issuer.discovery_document();
    discovery["revocation_endpoint"] = json!(format!("{}/revoke", issuer.issuer()));
    issuer
        .mount_json("GET", "/.well-known/openid-configuration", 200, discovery)
        .await;
    issuer.mount_jwks("/jwks").await;
    issuer
        .mount_json(
            "POST",
            "/revoke",
            503,
            json!({"error": "temporarily_unavailable"}),
        )
        .await;
    issuer
        .mount_json(
            "GET",
            "/userinfo",
            200,
            json!({"sub": "user-1", "name": "Fake User"}),
        )
        .await;
    let mut env = issuer.oidc_env();
    env.push(("SESSION_KEY", session_key.clone()));
    env.push(("TOKEN_KEY", token_key.clone()));
    let app = spawn_app_with(&env).await;
    let (browser, jar) = browser_with_jar();

    // Sign in: steps 3 to 6.
    let authorize_url = issuer.start_sign_in(&app, &browser).await;
    let state = query_value(&authorize_url, "state");
    let nonce = query_value(&authorize_url, "nonce");
    let id_token = issuer.id_token(json!({
        "iss": issuer.issuer(), "sub": "user-1", "aud": CLIENT_ID, "nonce": nonce,
    }));
    issuer.answer_token_request_with(&id_token).await;
    let code = "code-5f1c9a7e2b3d4c6a8e0f";
    let callback = format!("/auth/oidc/callback?state={state}&code={code}");
    let (status, _) = app.get_html(&browser, &callback).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // Step 7, then a refresh (the refresh token travels) and step 7 again.
    assert_eq!(app.get_html(&browser, "/profile").await.0, StatusCode::OK);
    app.expire_access_tokens();
    let again = app.get_html(&browser, "/profile?refresh=1").await;
    assert_eq!(again.0, StatusCode::OK);
    // Sign-out at the provider sends the tokens to be revoked; it fails.
    let signed_out = app.post_with_csrf(&browser, "/logout/provider").await;
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);

    let token_requests: Vec<String> = issuer
        .server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|request| request.url.path() == "/token")
        .map(|request| String::from_utf8_lossy(&request.body).into_owned())
        .collect();
    assert_eq!(token_requests.len(), 2, "the code exchange and one refresh");
    let verifier = query_value(&format!("http://x/?{}", token_requests[0]), "code_verifier");
    let cookie = {
        use reqwest::cookie::CookieStore as _;
        let cookies = jar.cookies(&app.address.parse().unwrap()).unwrap();
        let cookies = cookies.to_str().unwrap().to_owned();
        cookies.split_once('=').unwrap().1.to_owned()
    };
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let tokens = token_response(None);
    let secrets = [
        ("client secret", CLIENT_SECRET.to_owned()),
        ("HTTP Basic credentials", basic),
        ("authorization code", code.to_owned()),
        ("state", state),
        ("nonce", nonce),
        ("PKCE verifier", verifier),
        (
            "access token",
            tokens["access_token"].as_str().unwrap().to_owned(),
        ),
        (
            "refresh token",
            tokens["refresh_token"].as_str().unwrap().to_owned(),
        ),
        ("ID token", id_token),
        ("session cookie", cookie),
        ("SESSION_KEY", session_key),
        ("TOKEN_KEY", token_key),
    ];

    let written = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        written.contains("/auth/oidc/callback") && written.contains("/profile"),
        "the logs were captured: {written}"
    );
    // What an operator needs to know is there: the revocation not confirmed.
    assert!(
        written.contains("the provider did not confirm the revocation"),
        "{written}"
    );
    for (name, secret) in secrets {
        assert!(secret.len() >= 8, "{name} is long enough to be found");
        for form in [secret.clone(), urlencoded(&secret)] {
            assert!(!written.contains(&form), "the {name} is in the logs");
        }
    }
}
