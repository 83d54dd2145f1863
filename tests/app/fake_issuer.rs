//! A fake OpenID Connect provider on wiremock (127.0.0.1 only), for answers the
//! demo provider would never give: broken token endpoints and forged ID tokens.
//!
//! Its discovery document follows OpenID Connect Discovery 1.0 §3; it signs ID
//! tokens with its own P-256 key (ES256, RFC 7518 §3.4), published as a JWKS.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use reqwest::StatusCode;
use secrecy::SecretString;
use signin_reference::config::Config;
use signin_reference::providers::{ApiKind, Endpoints, Provider};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, location};

pub const CLIENT_ID: &str = "fake-client";
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

    /// Serves discovery (pointing at `token_url`) and the JWKS.
    pub async fn mount_discovery(&self, token_url: &str) {
        let issuer = self.issuer();
        let discovery = serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": token_url,
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        });
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(discovery))
            .mount(&self.server)
            .await;
        let point = self.key.verifying_key().to_sec1_point(false);
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": KEY_ID,
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
        });
        Mock::given(method("GET"))
            .and(path("/jwks"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"keys": [jwk]})),
            )
            .mount(&self.server)
            .await;
    }

    /// The provider description the app is configured with.
    pub fn provider(&self, config: &Config) -> Provider {
        Provider {
            id: "fake",
            display_name: "Fake".into(),
            client_id: CLIENT_ID.into(),
            client_secret: SecretString::from("fake-secret"),
            redirect_uri: config.redirect_uri("fake"),
            endpoints: Endpoints::OpenIdConnect {
                issuer: Url::parse(&self.issuer()).unwrap(),
            },
            scopes: vec!["openid".into()],
            api: ApiKind::MicrosoftGraph {
                base_url: Url::parse(&self.issuer()).unwrap(),
            },
        }
    }

    /// Starts a sign-in with the fake provider; returns the authorization URL.
    pub async fn start_sign_in(&self, app: &TestApp, browser: &reqwest::Client) -> String {
        let start = browser
            .get(app.url("/auth/fake/login"))
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        location(&start)
    }

    /// A compact JWS with this issuer's key, or with `key` when given.
    pub fn sign(
        &self,
        header: &serde_json::Value,
        claims: &serde_json::Value,
        key: Option<&SigningKey>,
    ) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: Signature = key.unwrap_or(&self.key).sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// Makes the token endpoint answer with this ID token.
    pub async fn answer_token_request_with(&self, id_token: &str) {
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": "fake-access-token",
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": id_token,
            })))
            .mount(&self.server)
            .await;
    }
}
