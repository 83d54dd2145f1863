//! Fake providers on wiremock (127.0.0.1 only): for answers the demo provider
//! would never give (broken token endpoints, forged ID tokens), and to replay
//! the documented shapes of Microsoft, Google and GitHub from tests/fixtures.
//!
//! A `FakeIssuer` signs ID tokens with its own P-256 key (ES256, RFC 7518 §3.4),
//! published as a JWKS. Fixtures are read with the real providers' hosts
//! replaced by the fake's address (`fixture`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, location, query_value};

pub const CLIENT_ID: &str = "fake-client";
pub const CLIENT_SECRET: &str = "fake-secret";
pub const KEY_ID: &str = "fake-key-1";

pub struct FakeIssuer {
    pub server: MockServer,
    key: SigningKey,
}

/// A P-256 key from random bytes (retrying the rare invalid scalar).
pub fn new_key() -> SigningKey {
    loop {
        let bytes: [u8; 32] = rand::random();
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return key;
        }
    }
}

/// The public half of `key` as a JWK (RFC 7517) with key id `kid`.
pub fn jwk(key: &SigningKey, kid: &str) -> Value {
    let point = key.verifying_key().to_sec1_point(false);
    json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    })
}

/// A sign-in started at the app: where it sent the browser, and the values
/// the provider would echo back.
pub struct StartedSignIn {
    pub authorize_url: String,
    pub state: String,
    /// Absent for plain OAuth 2.0 providers.
    pub nonce: Option<String>,
}

impl FakeIssuer {
    pub async fn start() -> Self {
        FakeIssuer {
            server: MockServer::start().await,
            key: new_key(),
        }
    }

    pub fn issuer(&self) -> String {
        self.server.uri()
    }

    /// The app's configuration for this fake as the generic OpenID Connect
    /// provider (`/auth/oidc/...`).
    pub fn oidc_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OIDC_ISSUER", self.issuer()),
            ("OIDC_CLIENT_ID", CLIENT_ID.into()),
            ("OIDC_CLIENT_SECRET", CLIENT_SECRET.into()),
            ("OIDC_DISPLAY_NAME", "Fake".into()),
        ]
    }

    /// Starts a sign-in with this fake as the generic OpenID Connect provider.
    pub async fn start_sign_in(&self, app: &TestApp, browser: &reqwest::Client) -> String {
        let authorize = format!("{}/authorize", self.issuer());
        start_sign_in(app, browser, "oidc", "/profile", &authorize)
            .await
            .authorize_url
    }

    /// Serves a minimal discovery document (pointing at `token_url`) and the JWKS.
    pub async fn mount_discovery(&self, token_url: &str) {
        self.mount_discovery_document(token_url).await;
        self.mount_jwks("/jwks").await;
    }

    /// Serves the discovery document only: the JWKS at `/jwks` is the test's.
    pub async fn mount_discovery_document(&self, token_url: &str) {
        let mut discovery = self.discovery_document();
        discovery["token_endpoint"] = json!(token_url);
        self.mount_json("GET", "/.well-known/openid-configuration", 200, discovery)
            .await;
    }

    /// A minimal discovery document (Discovery 1.0 §3) with every endpoint
    /// on this fake, for a test to change.
    pub fn discovery_document(&self) -> Value {
        let issuer = self.issuer();
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "userinfo_endpoint": format!("{issuer}/userinfo"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        })
    }

    /// This fake's public key as a JWKS (RFC 7517 §5).
    pub fn jwks(&self) -> Value {
        json!({"keys": [jwk(&self.key, KEY_ID)]})
    }

    /// Serves this fake's public key as a JWKS at `at`.
    pub async fn mount_jwks(&self, at: &str) {
        self.mount_json("GET", at, 200, self.jwks()).await;
    }

    /// How many times the app fetched the JWKS at `/jwks`.
    pub async fn jwks_fetches(&self) -> usize {
        self.requests_to("/jwks").await
    }

    /// The path of every request the fake has received, in order.
    pub async fn paths_received(&self) -> Vec<String> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|request| request.url.path().to_owned())
            .collect()
    }

    /// Every request the fake has received at exactly `path`, in order.
    pub async fn received_at(&self, path: &str) -> Vec<wiremock::Request> {
        let mut requests = self.server.received_requests().await.unwrap_or_default();
        requests.retain(|request| request.url.path() == path);
        requests
    }

    /// How many requests the fake has received at exactly `path`.
    pub async fn requests_to(&self, path: &str) -> usize {
        let paths = self.paths_received().await;
        paths.iter().filter(|received| *received == path).count()
    }

    /// Answers `verb path` with `status` and a JSON body.
    pub async fn mount_json(&self, verb: &str, at: &str, status: u16, body: Value) {
        Mock::given(method(verb))
            .and(path(at))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&self.server)
            .await;
    }

    /// A fixture from tests/fixtures, with every `https://{host}` in
    /// `real_hosts` replaced by this fake's address.
    pub fn fixture(&self, name: &str, real_hosts: &[&str]) -> Value {
        let file = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let mut text = std::fs::read_to_string(&file).unwrap_or_else(|_| panic!("{file}"));
        for host in real_hosts {
            text = text.replace(&format!("https://{host}"), &self.issuer());
        }
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{name}: {error}"))
    }

    /// A compact JWS with this issuer's key, or with `key` when given.
    pub fn sign(&self, header: &Value, claims: &Value, key: Option<&SigningKey>) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: Signature = key.unwrap_or(&self.key).sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// An ID token signed by this issuer, valid for five minutes from now,
    /// with `claims` added to (or replacing) `iat` and `exp`.
    pub fn id_token(&self, claims: Value) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut all = json!({"iat": now, "exp": now + 300});
        for (name, value) in claims.as_object().unwrap() {
            all[name] = value.clone();
        }
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": KEY_ID});
        self.sign(&header, &all, None)
    }

    /// Makes the token endpoint at `/token` answer with this ID token.
    pub async fn answer_token_request_with(&self, id_token: &str) {
        self.answer_token_request_at("/token", 200, token_response(Some(id_token)))
            .await;
    }

    /// Makes the token endpoint at `at` answer with `status` and `body`.
    pub async fn answer_token_request_at(&self, at: &str, status: u16, body: Value) {
        self.mount_json("POST", at, status, body).await;
    }
}

/// A successful token response (RFC 6749 §5.1) in the shape Microsoft and
/// Google document.
pub fn token_response(id_token: Option<&str>) -> Value {
    let mut body = json!({
        "access_token": "fake-access-token",
        "token_type": "Bearer",
        "expires_in": 3599,
        "refresh_token": "fake-refresh-token",
    });
    if let Some(id_token) = id_token {
        body["id_token"] = json!(id_token);
    }
    body
}

/// Starts a sign-in with `provider` and checks that the app sent the browser
/// to `authorization_endpoint` (step 3).
pub async fn start_sign_in(
    app: &TestApp,
    browser: &reqwest::Client,
    provider: &str,
    return_to: &str,
    authorization_endpoint: &str,
) -> StartedSignIn {
    let start = browser
        .get(app.url(&format!("/auth/{provider}/login")))
        .query(&[("return_to", return_to)])
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let authorize_url = location(&start);
    assert!(
        authorize_url.starts_with(&format!("{authorization_endpoint}?")),
        "{authorize_url} is not at {authorization_endpoint}"
    );
    let state = query_value(&authorize_url, "state");
    let nonce = url::Url::parse(&authorize_url)
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "nonce")
        .map(|(_, value)| value.into_owned());
    StartedSignIn {
        authorize_url,
        state,
        nonce,
    }
}

/// Incremental consent, step 3: `/mail`'s permission page and its button.
/// Checks that the app sent the browser to `authorization_endpoint`.
pub async fn ask_for_mail(
    app: &TestApp,
    browser: &reqwest::Client,
    authorization_endpoint: &str,
) -> StartedSignIn {
    started_at(app.ask_for_mail(browser).await, authorization_endpoint)
}

/// Linking, step 3: the profile's "Link a … account" button for `provider`
/// (the browser is signed in). Checks that the app sent the browser to
/// `authorization_endpoint`.
pub async fn start_link(
    app: &TestApp,
    browser: &reqwest::Client,
    provider: &str,
    authorization_endpoint: &str,
) -> StartedSignIn {
    started_at(
        app.start_link(browser, provider).await,
        authorization_endpoint,
    )
}

/// The values a provider echoes back from `authorize_url`, once it is
/// checked to be at `authorization_endpoint`.
fn started_at(authorize_url: String, authorization_endpoint: &str) -> StartedSignIn {
    assert!(
        authorize_url.starts_with(&format!("{authorization_endpoint}?")),
        "{authorize_url} is not at {authorization_endpoint}"
    );
    let parameter = |name: &str| {
        url::Url::parse(&authorize_url)
            .unwrap()
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    StartedSignIn {
        state: parameter("state").expect("state"),
        nonce: parameter("nonce"),
        authorize_url,
    }
}

impl FakeIssuer {
    /// Makes the token endpoint at `at` answer the next request (only) with
    /// `body`, ahead of any answer mounted before (a second authorization
    /// has its own nonce).
    pub async fn answer_next_token_request_at(&self, at: &str, body: Value) {
        Mock::given(method("POST"))
            .and(path(at))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }
}

/// Step 4: the provider sends the browser back with a code.
pub async fn come_back_with_code(
    app: &TestApp,
    browser: &reqwest::Client,
    provider: &str,
    started: &StartedSignIn,
) -> reqwest::Response {
    browser
        .get(app.url(&format!("/auth/{provider}/callback")))
        .query(&[("code", "the-code"), ("state", started.state.as_str())])
        .send()
        .await
        .unwrap()
}
