//! ID-token validation (OpenID Connect Core §3.1.3.7): a valid token signs the
//! visitor in, and each forged or broken one is refused.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fake_issuer::{CLIENT_ID, FakeIssuer, KEY_ID, new_key};
use crate::helpers::{browser, query_value, spawn_app_with};

/// How to spoil an otherwise valid ID token.
enum Forgery {
    None,
    OtherKey,
    AlgNone,
    Claims(fn(&mut serde_json::Map<String, Value>)),
}

/// Runs a sign-in whose token endpoint returns an ID token made by `forgery`;
/// returns the callback's status and page.
async fn sign_in_with(forgery: Forgery) -> (StatusCode, String) {
    let issuer = FakeIssuer::start().await;
    issuer
        .mount_discovery(&format!("{}/token", issuer.issuer()))
        .await;
    let app = spawn_app_with(&issuer.oidc_env()).await;
    let browser = browser();
    let authorize_url = issuer.start_sign_in(&app, &browser).await;
    let nonce = query_value(&authorize_url, "nonce");
    let state = query_value(&authorize_url, "state");

    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": issuer.issuer(), "sub": "user-1", "aud": CLIENT_ID,
        "exp": now + 300, "iat": now, "nonce": nonce, "name": "Fake User",
    });
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": KEY_ID});
    let id_token = match forgery {
        Forgery::None => issuer.sign(&header, &claims, None),
        Forgery::OtherKey => issuer.sign(&header, &claims, Some(&new_key())),
        Forgery::AlgNone => {
            let unsigned = issuer.sign(&json!({"alg": "none", "typ": "JWT"}), &claims, None);
            let (input, _signature) = unsigned.rsplit_once('.').unwrap();
            format!("{input}.")
        }
        Forgery::Claims(change) => {
            change(claims.as_object_mut().unwrap());
            issuer.sign(&header, &claims, None)
        }
    };
    issuer.answer_token_request_with(&id_token).await;

    app.get_html(
        &browser,
        &format!("/auth/oidc/callback?state={state}&code=a-code"),
    )
    .await
}

#[tokio::test]
async fn a_valid_id_token_signs_the_visitor_in() {
    let (status, _) = sign_in_with(Forgery::None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the harness itself works");
    // `azp` naming us is accepted (Google sends it).
    let (status, html) = sign_in_with(Forgery::Claims(|c| {
        c.insert("azp".into(), json!(CLIENT_ID));
    }))
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
}

#[tokio::test]
async fn forged_or_broken_id_tokens_are_refused() {
    let cases: Vec<(&str, Forgery)> = vec![
        ("signed with another key", Forgery::OtherKey),
        ("alg none", Forgery::AlgNone),
        (
            "wrong aud",
            Forgery::Claims(|c| {
                c.insert("aud".into(), json!("someone-else"));
            }),
        ),
        (
            "extra untrusted aud",
            Forgery::Claims(|c| {
                c.insert("aud".into(), json!([CLIENT_ID, "someone-else"]));
            }),
        ),
        (
            "wrong iss",
            Forgery::Claims(|c| {
                c.insert("iss".into(), json!("https://evil.example"));
            }),
        ),
        (
            "expired beyond skew",
            Forgery::Claims(|c| {
                c.insert("exp".into(), json!(chrono::Utc::now().timestamp() - 120));
            }),
        ),
        (
            "iat in the future beyond skew",
            Forgery::Claims(|c| {
                c.insert("iat".into(), json!(chrono::Utc::now().timestamp() + 300));
            }),
        ),
        (
            "stale iat",
            Forgery::Claims(|c| {
                c.insert("iat".into(), json!(chrono::Utc::now().timestamp() - 3600));
            }),
        ),
        (
            "wrong nonce",
            Forgery::Claims(|c| {
                c.insert("nonce".into(), json!("another-nonce"));
            }),
        ),
        (
            "missing nonce",
            Forgery::Claims(|c| {
                c.remove("nonce");
            }),
        ),
        (
            // OIDC Core §3.1.3.7 point 5: azp, when present, is our client id,
            // even with a single audience.
            "azp of another client, one audience",
            Forgery::Claims(|c| {
                c.insert("azp".into(), json!("someone-else"));
            }),
        ),
        (
            "azp of another client, several audiences",
            Forgery::Claims(|c| {
                c.insert("aud".into(), json!([CLIENT_ID, "someone-else"]));
                c.insert("azp".into(), json!("someone-else"));
            }),
        ),
        (
            "missing sub",
            Forgery::Claims(|c| {
                c.remove("sub");
            }),
        ),
    ];
    for (name, forgery) in cases {
        let (status, html) = sign_in_with(forgery).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{name}");
        // A token without `sub` does not even parse as an ID token, so it is
        // refused as a malformed token response; the rest fail verification.
        let refused = html.contains("could not be verified")
            || (name == "missing sub" && html.contains("not answering properly"));
        assert!(refused, "{name}: {html}");
        assert!(!html.contains("Signed in as"), "{name}");
    }
}
