//! ID-token validation (OpenID Connect Core §3.1.3.7): a valid token signs the
//! visitor in, and each forged or broken one is refused *by the check meant
//! for it*: every case names the words of that check, which `/flow` shows, so
//! a case that some other check happened to refuse first does not pass.

use hmac::Mac as _;
use p256::ecdsa::SigningKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fake_issuer::{CLIENT_ID, CLIENT_SECRET, FakeIssuer, KEY_ID, jwk, new_key};
use crate::helpers::{TestApp, browser, query_value, spawn_app_with};

/// How to spoil an otherwise valid ID token.
enum Forgery {
    None,
    OtherKey,
    AlgNone,
    /// HS256 with the client secret as the MAC key: a token anyone who knows
    /// the secret could make (RFC 8725 §2.1, §3.1).
    Hs256WithClientSecret,
    /// Signed with a key the JWKS never lists.
    UnknownKid,
    Claims(fn(&mut serde_json::Map<String, Value>)),
}

/// What a sign-in ended with: the callback's status and page, and `/flow`.
struct Outcome {
    status: StatusCode,
    html: String,
    flow: String,
}

/// Runs a sign-in whose token endpoint returns an ID token made by `forgery`.
async fn sign_in_with(forgery: Forgery) -> Outcome {
    let issuer = FakeIssuer::start().await;
    issuer
        .mount_discovery(&format!("{}/token", issuer.issuer()))
        .await;
    let app = spawn_app_with(&issuer.oidc_env()).await;
    sign_in_at(&issuer, &app, forgery).await
}

async fn sign_in_at(issuer: &FakeIssuer, app: &TestApp, forgery: Forgery) -> Outcome {
    let browser = browser();
    let authorize_url = issuer.start_sign_in(app, &browser).await;
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
        Forgery::Hs256WithClientSecret => hs256(&json!({"alg": "HS256", "typ": "JWT"}), &claims),
        Forgery::UnknownKid => {
            let header = json!({"alg": "ES256", "typ": "JWT", "kid": "never-published"});
            issuer.sign(&header, &claims, Some(&new_key()))
        }
        Forgery::Claims(change) => {
            change(claims.as_object_mut().unwrap());
            issuer.sign(&header, &claims, None)
        }
    };
    issuer.answer_token_request_with(&id_token).await;

    let (status, html) = app
        .get_html(
            &browser,
            &format!("/auth/oidc/callback?state={state}&code=a-code"),
        )
        .await;
    let (_, flow) = app.get_html(&browser, "/flow").await;
    Outcome { status, html, flow }
}

/// A compact JWS MAC'd with HMAC-SHA256 under the client secret.
fn hs256(header: &Value, claims: &Value) -> String {
    use base64::Engine as _;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let input = format!(
        "{}.{}",
        encode(header.to_string().as_bytes()),
        encode(claims.to_string().as_bytes())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(CLIENT_SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", encode(&mac.finalize().into_bytes()))
}

#[tokio::test]
async fn a_valid_id_token_signs_the_visitor_in() {
    let outcome = sign_in_with(Forgery::None).await;
    assert_eq!(
        outcome.status,
        StatusCode::SEE_OTHER,
        "the harness itself works"
    );
    // `azp` naming us is accepted (Google sends it).
    let outcome = sign_in_with(Forgery::Claims(|c| {
        c.insert("azp".into(), json!(CLIENT_ID));
    }))
    .await;
    assert_eq!(outcome.status, StatusCode::SEE_OTHER, "{}", outcome.flow);
}

#[tokio::test]
async fn an_id_token_that_expired_within_the_allowed_clock_skew_is_accepted() {
    // MAX_CLOCK_SKEW is 60 s: a provider whose clock runs 30 s behind ours
    // is not a forger.
    let outcome = sign_in_with(Forgery::Claims(|c| {
        c.insert("exp".into(), json!(chrono::Utc::now().timestamp() - 30));
    }))
    .await;
    assert_eq!(outcome.status, StatusCode::SEE_OTHER, "{}", outcome.flow);
}

#[tokio::test]
async fn an_id_token_issued_almost_five_minutes_ago_or_a_little_ahead_is_accepted() {
    // MAX_ID_TOKEN_AGE is 5 minutes: a token from a slow exchange is no
    // replay. (The stale case below is an hour old; this pins the bound.)
    let outcome = sign_in_with(Forgery::Claims(|c| {
        c.insert("iat".into(), json!(chrono::Utc::now().timestamp() - 290));
    }))
    .await;
    assert_eq!(outcome.status, StatusCode::SEE_OTHER, "{}", outcome.flow);
    // A provider clock up to MAX_CLOCK_SKEW (60 s) ahead of ours.
    let outcome = sign_in_with(Forgery::Claims(|c| {
        c.insert("iat".into(), json!(chrono::Utc::now().timestamp() + 50));
    }))
    .await;
    assert_eq!(outcome.status, StatusCode::SEE_OTHER, "{}", outcome.flow);
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn forged_or_broken_id_tokens_are_refused_each_by_its_own_check() {
    // (case, the words of the check that must refuse it, the forgery)
    let cases: Vec<(&str, &str, Forgery)> = vec![
        (
            "signed with another key",
            "Signature verification failed",
            Forgery::OtherKey,
        ),
        ("alg none", "No signature found", Forgery::AlgNone),
        (
            "HS256 with the client secret",
            "HS256",
            Forgery::Hs256WithClientSecret,
        ),
        (
            "a key the JWKS does not list",
            "No matching key",
            Forgery::UnknownKid,
        ),
        (
            "wrong aud",
            "someone-else",
            Forgery::Claims(|c| {
                c.insert("aud".into(), json!("someone-else"));
            }),
        ),
        (
            "extra untrusted aud",
            "someone-else",
            Forgery::Claims(|c| {
                c.insert("aud".into(), json!([CLIENT_ID, "someone-else"]));
            }),
        ),
        (
            "wrong iss",
            "evil.example",
            Forgery::Claims(|c| {
                c.insert("iss".into(), json!("https://evil.example"));
            }),
        ),
        (
            "expired beyond skew",
            "expired",
            Forgery::Claims(|c| {
                c.insert("exp".into(), json!(chrono::Utc::now().timestamp() - 120));
            }),
        ),
        (
            "iat in the future beyond skew",
            "in the future",
            Forgery::Claims(|c| {
                c.insert("iat".into(), json!(chrono::Utc::now().timestamp() + 300));
            }),
        ),
        (
            "stale iat",
            "too old",
            Forgery::Claims(|c| {
                c.insert("iat".into(), json!(chrono::Utc::now().timestamp() - 3600));
            }),
        ),
        (
            "wrong nonce",
            "once",
            Forgery::Claims(|c| {
                c.insert("nonce".into(), json!("another-nonce"));
            }),
        ),
        (
            "missing nonce",
            "once",
            Forgery::Claims(|c| {
                c.remove("nonce");
            }),
        ),
        (
            "at_hash of another access token",
            "at_hash does not match",
            Forgery::Claims(|c| {
                c.insert("at_hash".into(), json!("AAAAAAAAAAAAAAAAAAAAAA"));
            }),
        ),
        (
            // OIDC Core §3.1.3.7 point 5: azp, when present, is our client id,
            // even with a single audience. (With several, the untrusted one is
            // refused first, as in "extra untrusted aud".)
            "azp of another client, one audience",
            "azp `someone-else` is not our client id",
            Forgery::Claims(|c| {
                c.insert("azp".into(), json!("someone-else"));
            }),
        ),
    ];
    for (name, check, forgery) in cases {
        let outcome = sign_in_with(forgery).await;
        assert_eq!(outcome.status, StatusCode::BAD_GATEWAY, "{name}");
        assert!(
            outcome.html.contains("could not be verified"),
            "{name}: {}",
            outcome.html
        );
        assert!(!outcome.html.contains("Signed in as"), "{name}");
        // Step 6 is where the ID token is validated, whatever was recorded last.
        assert!(
            outcome.flow.contains("It stopped at step 6:"),
            "{name}: {}",
            outcome.flow
        );
        let refused_by = failed_check(&outcome.flow);
        assert!(
            refused_by.contains(check),
            "{name}: refused by `{refused_by}`"
        );
    }
}

#[tokio::test]
async fn an_id_token_without_sub_is_not_even_an_id_token() {
    // OIDC Core §2 requires `sub`: the crate refuses to parse the token
    // response at all, so it is a malformed answer rather than a forgery.
    let outcome = sign_in_with(Forgery::Claims(|c| {
        c.remove("sub");
    }))
    .await;
    assert_eq!(outcome.status, StatusCode::BAD_GATEWAY);
    assert!(
        outcome.html.contains("not answering properly"),
        "{}",
        outcome.html
    );
}

/// Starts a sign-in at a fake whose JWKS lists its usual key; then, with the
/// app's copy of the keys cached, the fake starts over (its record of
/// requests too) with `keys` as its JWKS and a token endpoint that answers
/// with an ID token signed by `key` under `kid`. Returns the callback's status
/// and how many times the app fetched the JWKS after the start.
async fn sign_in_across_a_key_change(
    keys: Value,
    key: &SigningKey,
    kid: &str,
) -> (StatusCode, usize) {
    let issuer = FakeIssuer::start().await;
    let token_url = format!("{}/token", issuer.issuer());
    issuer.mount_discovery(&token_url).await;
    let app = spawn_app_with(&issuer.oidc_env()).await;
    let browser = browser();
    let authorize_url = issuer.start_sign_in(&app, &browser).await;

    issuer.server.reset().await;
    issuer.mount_discovery_document(&token_url).await;
    issuer
        .mount_json("GET", "/jwks", 200, json!({ "keys": keys }))
        .await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": issuer.issuer(), "sub": "user-1", "aud": CLIENT_ID, "exp": now + 300,
        "iat": now, "nonce": query_value(&authorize_url, "nonce"),
    });
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
    issuer
        .answer_token_request_with(&issuer.sign(&header, &claims, Some(key)))
        .await;
    let state = query_value(&authorize_url, "state");
    let (status, _) = app
        .get_html(
            &browser,
            &format!("/auth/oidc/callback?state={state}&code=c"),
        )
        .await;
    (status, issuer.jwks_fetches().await)
}

#[tokio::test]
async fn a_new_signing_key_is_fetched_once_and_then_accepted() {
    // Providers rotate keys: a `kid` the cached JWKS lacks makes the app
    // fetch the JWKS again, once (OIDC Core §10.1.1).
    let rotated = new_key();
    let (status, fetches) =
        sign_in_across_a_key_change(json!([jwk(&rotated, "rotated")]), &rotated, "rotated").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(fetches, 1, "one refetch");
}

#[tokio::test]
async fn an_unknown_key_costs_one_refetch_not_one_per_attempt_in_a_loop() {
    // A forger can send any `kid`: it costs the provider's JWKS endpoint one
    // more request per sign-in, never a loop.
    let stranger = new_key();
    let (status, fetches) =
        sign_in_across_a_key_change(json!([]), &stranger, "never-published").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(fetches, 1, "one refetch, then refused");
}

/// The words of the check that refused the ID token, as `/flow` shows them.
fn failed_check(flow: &str) -> String {
    let document = scraper::Html::parse_document(flow);
    let selector = scraper::Selector::parse("code.failed-check").unwrap();
    document
        .select(&selector)
        .next()
        .map(|code| code.text().collect())
        .unwrap_or_else(|| panic!("/flow names no failed check: {flow}"))
}

#[tokio::test]
async fn a_bad_signature_under_a_known_key_costs_no_refetch() {
    // Only a `kid` missing from the cached JWKS is a reason to fetch it
    // again; a signature that fails under a key we have is refused at once.
    let stranger = new_key();
    let (status, fetches) = sign_in_across_a_key_change(json!([]), &stranger, KEY_ID).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(fetches, 0, "no refetch");
}
