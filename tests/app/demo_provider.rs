//! Integration tests for the demo provider on its own: a real server on a free
//! port, driven over HTTP the way the app and a browser drive it.
//!
//! These tests own only the provider's contract (discovery, the code flow with
//! PKCE, tokens, revocation, userinfo, end session and the Graph-shaped API).
//! They must not depend on the app: the redirect URI points at a port where
//! nothing listens, and we read the `Location` header instead of following it.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation in a test should panic with its message"
)]

use std::collections::HashMap;
use std::time::Duration;

use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{AccessToken, AccessTokenHash, ClientId, ClientSecret, IssuerUrl, Nonce};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, PRAGMA, WWW_AUTHENTICATE};
use scraper::{Html, Selector};
use serde_json::Value;
use signin_reference::demo_provider::{self, DemoProviderSettings, RegisteredClient};
use url::Url;

const CLIENT_ID: &str = "reference-app";
/// Has a space, a colon and a plus, so HTTP Basic needs RFC 6749 §2.3.1 encoding.
const CLIENT_SECRET: &str = "s3cret with:colon+plus";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
const POST_LOGOUT_REDIRECT_URI: &str = "http://127.0.0.1:9/signed-out";
/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const STATE: &str = "state-1234";
const NONCE: &str = "nonce-5678";
const ALL_SCOPES: &str = "openid profile email offline_access User.Read Mail.Read";

/// A running provider and a client that does not follow redirects.
struct Provider {
    issuer: String,
    http: reqwest::Client,
}

async fn start_provider() -> Provider {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    let issuer = format!("http://127.0.0.1:{port}");
    let settings = DemoProviderSettings {
        issuer: Url::parse(&issuer).expect("issuer URL"),
        client: RegisteredClient {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            post_logout_redirect_uris: vec![POST_LOGOUT_REDIRECT_URI.into()],
        },
        access_token_ttl: Duration::from_secs(3600),
        shutdown_timeout: Duration::from_secs(1),
    };
    let server = demo_provider::run(listener, settings).expect("provider starts");
    tokio::spawn(server);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client");
    Provider { issuer, http }
}

/// The parameters of an authorization request, defaults first.
fn authorize_params(scope: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", CLIENT_ID.into()),
        ("redirect_uri", REDIRECT_URI.into()),
        ("scope", scope.into()),
        ("state", STATE.into()),
        ("nonce", NONCE.into()),
        ("code_challenge", CHALLENGE.into()),
        ("code_challenge_method", "S256".into()),
    ]
}

fn with(
    mut params: Vec<(&'static str, String)>,
    name: &'static str,
    value: Option<&str>,
) -> Vec<(&'static str, String)> {
    params.retain(|(existing, _)| *existing != name);
    if let Some(value) = value {
        params.push((name, value.into()));
    }
    params
}

/// HTTP Basic as RFC 6749 §2.3.1 says: form-urlencode id and secret first.
fn basic_auth(client_id: &str, secret: &str) -> String {
    use base64::Engine as _;
    let encode =
        |value: &str| url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(client_id),
            encode(secret)
        ))
    )
}

fn hidden_value(html: &str, selector: &str) -> String {
    let document = Html::parse_document(html);
    let selector = Selector::parse(selector).expect("selector");
    document
        .select(&selector)
        .next()
        .and_then(|input| input.value().attr("value"))
        .expect("the form has the field")
        .to_owned()
}

fn query_of(location: &str) -> HashMap<String, String> {
    Url::parse(location)
        .expect("Location is an absolute URL")
        .query_pairs()
        .into_owned()
        .collect()
}

impl Provider {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    async fn authorize(&self, params: &[(&'static str, String)]) -> reqwest::Response {
        self.http
            .get(self.url("/authorize"))
            .query(params)
            .send()
            .await
            .expect("authorize request")
    }

    /// GET /authorize and return the sign-in page's interaction id.
    async fn open_sign_in_page(&self, scope: &str) -> String {
        let response = self.authorize(&authorize_params(scope)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.expect("sign-in page");
        hidden_value(&html, "form input[name=interaction]")
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("form post")
    }

    /// Press the "Continue as …" button; return the consent page's interaction id.
    async fn sign_in_as(&self, interaction: &str, user: &str) -> String {
        let response = self
            .post_form(
                "/authorize/sign-in",
                &[("interaction", interaction), ("user", user)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.expect("consent page");
        hidden_value(&html, "form input[name=interaction]")
    }

    /// Submit the consent form; return the `Location` it redirects to.
    async fn decide(&self, interaction: &str, decision: &str) -> String {
        let response = self
            .post_form(
                "/authorize/consent",
                &[("interaction", interaction), ("decision", decision)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        location(&response)
    }

    /// The whole browser part of the flow; returns the code.
    async fn authorization_code(&self, user: &str, scope: &str) -> String {
        let interaction = self.open_sign_in_page(scope).await;
        let consent = self.sign_in_as(&interaction, user).await;
        let location = self.decide(&consent, "allow").await;
        let query = query_of(&location);
        assert_eq!(query.get("state").map(String::as_str), Some(STATE));
        query.get("code").expect("a code").clone()
    }

    async fn exchange_code(&self, code: &str, verifier: &str) -> reqwest::Response {
        self.http
            .post(self.url("/token"))
            .header("Authorization", basic_auth(CLIENT_ID, CLIENT_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .expect("token request")
    }

    /// Sign in as `user` with `scope` and return the token response JSON.
    async fn tokens_for(&self, user: &str, scope: &str) -> Value {
        let code = self.authorization_code(user, scope).await;
        let response = self.exchange_code(&code, VERIFIER).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("token JSON")
    }

    async fn graph(&self, url: &str, access_token: &str) -> reqwest::Response {
        self.http
            .get(url)
            .bearer_auth(access_token)
            .send()
            .await
            .expect("Graph request")
    }

    async fn revoke(&self, token: &str) -> reqwest::Response {
        self.http
            .post(self.url("/revoke"))
            .header("Authorization", basic_auth(CLIENT_ID, CLIENT_SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .expect("revocation request")
    }
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .expect("a Location header")
        .to_str()
        .expect("ASCII Location")
        .to_owned()
}

fn access_token_of(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("access_token")
}

async fn graph_error_code(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("Graph error JSON");
    body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned()
}

// --- discovery and keys ------------------------------------------------------

#[tokio::test]
async fn discovery_parses_as_openid_connect_provider_metadata_with_absolute_endpoints() {
    let provider = start_provider().await;
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(provider.issuer.clone()).expect("issuer"),
        &provider.http,
    )
    .await
    .expect("discovery and JWKS parse with openidconnect");
    assert_eq!(metadata.issuer().as_str(), provider.issuer);
    assert_eq!(
        metadata.token_endpoint().map(|url| url.as_str().to_owned()),
        Some(provider.url("/token"))
    );
    assert_eq!(metadata.jwks().keys().len(), 1);

    let raw: Value = provider
        .http
        .get(provider.url("/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        raw["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(raw["authorization_response_iss_parameter_supported"], true);
    assert_eq!(raw["revocation_endpoint"], provider.url("/revoke"));
    assert_eq!(raw["end_session_endpoint"], provider.url("/logout"));
}

// --- the authorization code flow ----------------------------------------------

#[tokio::test]
async fn the_full_code_flow_gives_an_id_token_that_openidconnect_verifies() {
    let provider = start_provider().await;
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(provider.issuer.clone()).expect("issuer"),
        &provider.http,
    )
    .await
    .expect("discovery");

    let interaction = provider.open_sign_in_page(ALL_SCOPES).await;
    let consent = provider.sign_in_as(&interaction, "alice").await;
    let location = provider.decide(&consent, "allow").await;
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    let query = query_of(&location);
    assert_eq!(query["state"], STATE);
    assert_eq!(query["iss"], provider.issuer, "RFC 9207 iss parameter");

    let response = provider.exchange_code(&query["code"], VERIFIER).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(response.headers()[PRAGMA], "no-cache");
    let tokens: Value = response.json().await.expect("token JSON");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], ALL_SCOPES);
    assert!(
        tokens["refresh_token"].is_string(),
        "offline_access was granted"
    );

    let id_token: CoreIdToken = tokens["id_token"]
        .as_str()
        .expect("id_token")
        .parse()
        .expect("ID token parses");
    let verifier = CoreIdTokenVerifier::new_confidential_client(
        ClientId::new(CLIENT_ID.into()),
        ClientSecret::new(CLIENT_SECRET.into()),
        IssuerUrl::new(provider.issuer.clone()).expect("issuer"),
        metadata.jwks().clone(),
    )
    // openidconnect accepts only RS256 unless told otherwise; a client built
    // with `CoreClient::from_provider_metadata` takes this list from discovery.
    .set_allowed_algs([CoreJwsSigningAlgorithm::EdDsa]);
    let claims = id_token
        .claims(&verifier, &Nonce::new(NONCE.into()))
        .expect("signature, issuer, audience, expiry and nonce verify");
    assert_eq!(
        claims.subject().as_str(),
        "4c1f8a7e-2b3d-4e5f-8a9b-0c1d2e3f4a51"
    );
    assert_eq!(
        claims.email().map(|email| email.as_str()),
        Some("alice@demo.example")
    );
    assert_eq!(claims.email_verified(), Some(true));
    assert!(claims.auth_time().is_some());

    let access_token = AccessToken::new(access_token_of(&tokens).into());
    let expected_hash = AccessTokenHash::from_token(
        &access_token,
        id_token.signing_alg().expect("alg"),
        id_token.signing_key(&verifier).expect("key"),
    )
    .expect("hash");
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));

    let wrong_nonce = id_token.claims(&verifier, &Nonce::new("another".into()));
    assert!(wrong_nonce.is_err(), "a different nonce is refused");
}

#[tokio::test]
async fn client_secret_post_authenticates_the_client_as_well_as_basic() {
    let provider = start_provider().await;
    let code = provider.authorization_code("bob", "openid profile").await;
    let response = provider
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.expect("JSON");
    assert!(tokens["id_token"].is_string());
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_with_401_invalid_client_and_a_basic_challenge() {
    let provider = start_provider().await;
    let code = provider.authorization_code("bob", "openid").await;
    let response = provider
        .http
        .post(provider.url("/token"))
        .header("Authorization", basic_auth(CLIENT_ID, "guess"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[WWW_AUTHENTICATE],
        r#"Basic realm="demo-provider""#
    );
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn a_reused_code_is_refused_and_the_tokens_from_its_first_use_are_revoked() {
    let provider = start_provider().await;
    let code = provider.authorization_code("alice", ALL_SCOPES).await;
    let first = provider.exchange_code(&code, VERIFIER).await;
    let tokens: Value = first.json().await.expect("JSON");
    let me = provider.url("/v1.0/me");
    let before = provider.graph(&me, access_token_of(&tokens)).await;
    assert_eq!(before.status(), StatusCode::OK);

    let second = provider.exchange_code(&code, VERIFIER).await;
    assert_eq!(second.status(), StatusCode::BAD_REQUEST);
    let error: Value = second.json().await.expect("JSON");
    assert_eq!(error["error"], "invalid_grant");

    let after = provider.graph(&me, access_token_of(&tokens)).await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    let refresh = provider
        .post_form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    tokens["refresh_token"].as_str().expect("refresh"),
                ),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ],
        )
        .await;
    assert_eq!(
        refresh.status(),
        StatusCode::BAD_REQUEST,
        "the refresh token went too"
    );
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_refused_with_invalid_grant() {
    let provider = start_provider().await;
    let code = provider.authorization_code("carol", "openid").await;
    let wrong_verifier = "a".repeat(43);
    let response = provider.exchange_code(&code, &wrong_verifier).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.expect("JSON");
    assert_eq!(error["error"], "invalid_grant");
}

#[tokio::test]
async fn missing_token_parameters_and_unknown_grant_types_get_their_rfc_errors() {
    let provider = start_provider().await;
    let post = |form: Vec<(&'static str, &'static str)>| {
        let provider = &provider;
        async move {
            let response = provider
                .http
                .post(provider.url("/token"))
                .header("Authorization", basic_auth(CLIENT_ID, CLIENT_SECRET))
                .form(&form)
                .send()
                .await
                .expect("token request");
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            let body: Value = response.json().await.expect("JSON");
            body["error"].as_str().expect("error").to_owned()
        }
    };
    assert_eq!(
        post(vec![("grant_type", "password")]).await,
        "unsupported_grant_type"
    );
    assert_eq!(
        post(vec![("grant_type", "authorization_code")]).await,
        "invalid_request"
    );
    assert_eq!(post(vec![("code", "x")]).await, "invalid_request");
}

// --- errors at the authorization endpoint ---------------------------------------

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_an_error_page_and_no_redirect() {
    let provider = start_provider().await;
    let params = with(
        authorize_params(ALL_SCOPES),
        "redirect_uri",
        Some("http://127.0.0.1:9/callback/../evil"),
    );
    let response = provider.authorize(&params).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(LOCATION).is_none());
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .expect("ASCII")
            .starts_with("text/html")
    );

    let missing = provider
        .authorize(&with(authorize_params(ALL_SCOPES), "redirect_uri", None))
        .await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert!(missing.headers().get(LOCATION).is_none());
}

#[tokio::test]
async fn an_unknown_client_gets_an_error_page_and_no_redirect() {
    let provider = start_provider().await;
    let params = with(
        authorize_params(ALL_SCOPES),
        "client_id",
        Some("someone-else"),
    );
    let response = provider.authorize(&params).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(LOCATION).is_none());
}

#[tokio::test]
async fn plain_pkce_is_reported_to_the_client_as_invalid_request() {
    let provider = start_provider().await;
    let params = with(
        authorize_params(ALL_SCOPES),
        "code_challenge_method",
        Some("plain"),
    );
    let response = provider.authorize(&params).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let query = query_of(&location(&response));
    assert_eq!(query["error"], "invalid_request");
    assert_eq!(query["state"], STATE);
    assert_eq!(query["iss"], provider.issuer);
}

#[tokio::test]
async fn a_request_without_openid_or_with_a_token_response_type_is_refused_by_redirect() {
    let provider = start_provider().await;
    let no_openid = provider
        .authorize(&with(
            authorize_params(ALL_SCOPES),
            "scope",
            Some("email Mail.Read"),
        ))
        .await;
    assert_eq!(query_of(&location(&no_openid))["error"], "invalid_scope");
    let token = provider
        .authorize(&with(
            authorize_params(ALL_SCOPES),
            "response_type",
            Some("token"),
        ))
        .await;
    assert_eq!(
        query_of(&location(&token))["error"],
        "unsupported_response_type"
    );
}

#[tokio::test]
async fn denying_consent_sends_access_denied_back_with_the_state() {
    let provider = start_provider().await;
    let interaction = provider.open_sign_in_page(ALL_SCOPES).await;
    let consent = provider.sign_in_as(&interaction, "bob").await;
    let query = query_of(&provider.decide(&consent, "deny").await);
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["error_description"], "The user denied consent");
    assert_eq!(query["state"], STATE);
    assert!(!query.contains_key("code"));
}

#[tokio::test]
async fn a_consent_form_works_only_once() {
    let provider = start_provider().await;
    let interaction = provider.open_sign_in_page("openid").await;
    let consent = provider.sign_in_as(&interaction, "alice").await;
    provider.decide(&consent, "allow").await;
    let again = provider
        .post_form(
            "/authorize/consent",
            &[("interaction", consent.as_str()), ("decision", "allow")],
        )
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    let html = again.text().await.expect("page");
    assert!(html.contains("This sign-in request has expired"));
}

#[tokio::test]
async fn a_wrong_password_shows_the_sign_in_page_again_with_401_and_the_right_one_works() {
    let provider = start_provider().await;
    let interaction = provider.open_sign_in_page("openid profile").await;
    let wrong = provider
        .post_form(
            "/authorize/sign-in",
            &[
                ("interaction", interaction.as_str()),
                ("username", "alice"),
                ("password", "hunter2"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let html = wrong.text().await.expect("page");
    assert!(html.contains("do not match a demo account"));
    assert!(
        !html.contains("hunter2"),
        "the typed password is never echoed"
    );

    let right = provider
        .post_form(
            "/authorize/sign-in",
            &[
                ("interaction", interaction.as_str()),
                ("username", "Alice"),
                ("password", "demo"),
            ],
        )
        .await;
    assert_eq!(right.status(), StatusCode::OK);
    let consent = right.text().await.expect("consent page");
    assert!(consent.contains("Allow"));
    assert!(consent.contains("See your name"));
}

#[tokio::test]
async fn an_unknown_interaction_shows_the_expired_page() {
    let provider = start_provider().await;
    let response = provider
        .post_form(
            "/authorize/sign-in",
            &[("interaction", "made-up"), ("user", "alice")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .expect("page")
            .contains("go back to the app and start again")
    );
}

#[tokio::test]
async fn provider_pages_carry_security_headers_and_set_no_cookies() {
    let provider = start_provider().await;
    let response = provider.authorize(&authorize_params(ALL_SCOPES)).await;
    let headers = response.headers();
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert!(headers.get("set-cookie").is_none());
    let html = response.text().await.expect("page");
    assert!(html.contains("Demo Identity Provider"));
    assert!(html.contains(CLIENT_ID));

    let css = provider
        .http
        .get(provider.url("/assets/style.css"))
        .send()
        .await
        .expect("stylesheet");
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()[CONTENT_TYPE]
            .to_str()
            .expect("ASCII")
            .starts_with("text/css")
    );
}

// --- refresh, revocation, userinfo, end session --------------------------------

#[tokio::test]
async fn the_refresh_grant_rotates_the_refresh_token() {
    let provider = start_provider().await;
    let tokens = provider.tokens_for("alice", ALL_SCOPES).await;
    let old_refresh = tokens["refresh_token"].as_str().expect("refresh token");
    let refresh = |refresh_token: String| {
        let provider = &provider;
        async move {
            provider
                .http
                .post(provider.url("/token"))
                .header("Authorization", basic_auth(CLIENT_ID, CLIENT_SECRET))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh_token),
                ])
                .send()
                .await
                .expect("refresh request")
        }
    };
    let response = refresh(old_refresh.to_owned()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let renewed: Value = response.json().await.expect("JSON");
    let new_refresh = renewed["refresh_token"]
        .as_str()
        .expect("a new refresh token");
    assert_ne!(new_refresh, old_refresh);
    assert_ne!(renewed["access_token"], tokens["access_token"]);
    let me = provider
        .graph(&provider.url("/v1.0/me"), access_token_of(&renewed))
        .await;
    assert_eq!(me.status(), StatusCode::OK);

    let replay = refresh(old_refresh.to_owned()).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    let error: Value = replay.json().await.expect("JSON");
    assert_eq!(error["error"], "invalid_grant");
}

#[tokio::test]
async fn revoking_an_access_token_makes_graph_answer_401_with_its_challenge() {
    let provider = start_provider().await;
    let tokens = provider.tokens_for("bob", ALL_SCOPES).await;
    let access_token = access_token_of(&tokens);
    assert_eq!(provider.revoke(access_token).await.status(), StatusCode::OK);

    let response = provider
        .graph(&provider.url("/v1.0/me"), access_token)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[WWW_AUTHENTICATE]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert_eq!(
        challenge,
        format!(
            r#"Bearer realm="", authorization_uri="{}/authorize", client_id="00000003-0000-0000-c000-000000000000""#,
            provider.issuer
        )
    );
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(
        body["error"]["message"],
        "Access token has expired or is not yet valid."
    );
    assert!(body["error"]["innerError"]["request-id"].is_string());
}

#[tokio::test]
async fn revoking_a_refresh_token_also_revokes_its_access_tokens_and_unknown_tokens_get_200() {
    let provider = start_provider().await;
    let tokens = provider.tokens_for("carol", ALL_SCOPES).await;
    let refresh_token = tokens["refresh_token"].as_str().expect("refresh token");
    assert_eq!(
        provider.revoke(refresh_token).await.status(),
        StatusCode::OK
    );
    let me = provider
        .graph(&provider.url("/v1.0/me"), access_token_of(&tokens))
        .await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        provider.revoke("never-issued").await.status(),
        StatusCode::OK
    );

    let bad_client = provider
        .http
        .post(provider.url("/revoke"))
        .form(&[
            ("token", "never-issued"),
            ("client_id", CLIENT_ID),
            ("client_secret", "guess"),
        ])
        .send()
        .await
        .expect("revocation");
    assert_eq!(bad_client.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn userinfo_returns_the_claims_of_the_granted_scopes_and_refuses_bad_tokens() {
    let provider = start_provider().await;
    let tokens = provider.tokens_for("carol", "openid email").await;
    let response = provider
        .http
        .get(provider.url("/userinfo"))
        .bearer_auth(access_token_of(&tokens))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(response.status(), StatusCode::OK);
    let claims: Value = response.json().await.expect("JSON");
    assert_eq!(claims["sub"], "b5a3c2d1-8e7f-4a6b-9c0d-1e2f3a4b5c63");
    assert_eq!(claims["email"], "carol@demo.example");
    assert!(claims.get("name").is_none(), "profile was not granted");

    let invalid = provider
        .http
        .get(provider.url("/userinfo"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("userinfo");
    assert_eq!(invalid.status(), StatusCode::UNAUTHORIZED);
    assert!(
        invalid.headers()[WWW_AUTHENTICATE]
            .to_str()
            .expect("ASCII")
            .contains(r#"error="invalid_token""#)
    );
}

#[tokio::test]
async fn end_session_redirects_only_to_a_registered_post_logout_uri() {
    let provider = start_provider().await;
    let registered = provider
        .http
        .get(provider.url("/logout"))
        .query(&[
            ("client_id", CLIENT_ID),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
            ("state", "bye"),
        ])
        .send()
        .await
        .expect("logout");
    assert_eq!(registered.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&registered),
        format!("{POST_LOGOUT_REDIRECT_URI}?state=bye")
    );

    let elsewhere = provider
        .http
        .get(provider.url("/logout"))
        .query(&[("post_logout_redirect_uri", "https://attacker.example/")])
        .send()
        .await
        .expect("logout");
    assert_eq!(elsewhere.status(), StatusCode::OK);
    assert!(elsewhere.headers().get(LOCATION).is_none());
    assert!(
        elsewhere
            .text()
            .await
            .expect("page")
            .contains("You are signed out of the demo provider")
    );
}

// --- the Graph-shaped API ------------------------------------------------------

#[tokio::test]
async fn graph_me_has_the_graph_user_shape() {
    let provider = start_provider().await;
    let tokens = provider.tokens_for("alice", ALL_SCOPES).await;
    let me: Value = provider
        .graph(&provider.url("/v1.0/me"), access_token_of(&tokens))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        me["@odata.context"],
        provider.url("/v1.0/$metadata#users/$entity")
    );
    assert_eq!(me["displayName"], "Alice Adams");
    assert_eq!(me["jobTitle"], "Product Manager");
    assert_eq!(me["mail"], "alice@demo.example");
    assert_eq!(me["id"], "4c1f8a7e-2b3d-4e5f-8a9b-0c1d2e3f4a51");
    assert!(me["businessPhones"].is_array());
}

#[tokio::test]
async fn a_profile_photo_is_a_png_for_alice_and_image_not_found_for_bob() {
    let provider = start_provider().await;
    let alice = provider.tokens_for("alice", "openid User.Read").await;
    let photo = provider
        .graph(
            &provider.url("/v1.0/me/photo/$value"),
            access_token_of(&alice),
        )
        .await;
    assert_eq!(photo.status(), StatusCode::OK);
    assert_eq!(photo.headers()[CONTENT_TYPE], "image/png");
    let bytes = photo.bytes().await.expect("bytes");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));

    let bob = provider.tokens_for("bob", "openid User.Read").await;
    let missing = provider
        .graph(
            &provider.url("/v1.0/me/photo/$value"),
            access_token_of(&bob),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(graph_error_code(missing).await, "ImageNotFound");
}

#[tokio::test]
async fn messages_page_by_ten_with_an_absolute_next_link_until_the_last_page() {
    let provider = start_provider().await;
    let tokens = provider.tokens_for("alice", ALL_SCOPES).await;
    let token = access_token_of(&tokens);
    let first_url = provider.url("/v1.0/me/messages?$top=10&$select=subject,receivedDateTime&$orderby=receivedDateTime%20desc");

    let mut next = Some(first_url);
    let mut pages: Vec<Vec<Value>> = Vec::new();
    while let Some(url) = next {
        let response = provider.graph(&url, token).await;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let page: Value = response.json().await.expect("JSON");
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
        if let Some(link) = &next {
            assert!(
                link.starts_with(&provider.url("/v1.0/me/messages?")),
                "{link}"
            );
            assert!(
                link.contains("%24select=subject%2CreceivedDateTime"),
                "{link}"
            );
        }
        pages.push(page["value"].as_array().expect("value").clone());
        assert!(pages.len() < 20, "paging terminates");
    }
    assert_eq!(pages[0].len(), 10);
    assert_eq!(pages[1].len(), 10);
    assert_eq!(pages.len(), 5, "45 messages in pages of 10");
    assert_eq!(pages[4].len(), 5);
    let all: Vec<&Value> = pages.iter().flatten().collect();
    let ids: std::collections::HashSet<&str> =
        all.iter().map(|m| m["id"].as_str().expect("id")).collect();
    assert_eq!(ids.len(), 45, "no message twice");
    let times: Vec<&str> = all
        .iter()
        .map(|m| m["receivedDateTime"].as_str().expect("time"))
        .collect();
    assert!(
        times.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first"
    );
}

#[tokio::test]
async fn select_limits_message_fields_to_those_named_plus_id_and_etag() {
    let provider = start_provider().await;
    let tokens = provider.tokens_for("bob", ALL_SCOPES).await;
    let page: Value = provider
        .graph(
            &provider.url("/v1.0/me/messages?$select=sender,subject&$top=3"),
            access_token_of(&tokens),
        )
        .await
        .json()
        .await
        .expect("JSON");
    let first = page["value"][0].as_object().expect("message");
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["@odata.etag", "id", "sender", "subject"]);
    assert!(
        page["@odata.context"]
            .as_str()
            .expect("context")
            .ends_with("/messages(sender,subject)")
    );

    let full: Value = provider
        .graph(
            &provider.url("/v1.0/me/messages?$top=1"),
            access_token_of(&tokens),
        )
        .await
        .json()
        .await
        .expect("JSON");
    let message = &full["value"][0];
    for field in [
        "bodyPreview",
        "body",
        "from",
        "toRecipients",
        "isRead",
        "webLink",
        "conversationId",
    ] {
        assert!(message.get(field).is_some(), "{field}");
    }
}

#[tokio::test]
async fn one_message_is_found_by_id_and_an_unknown_or_foreign_id_is_item_not_found() {
    let provider = start_provider().await;
    let alice = provider.tokens_for("alice", ALL_SCOPES).await;
    let bob = provider.tokens_for("bob", ALL_SCOPES).await;
    let list: Value = provider
        .graph(
            &provider.url("/v1.0/me/messages?$top=3"),
            access_token_of(&alice),
        )
        .await
        .json()
        .await
        .expect("JSON");
    let hostile = &list["value"][2];
    assert_eq!(
        hostile["subject"],
        "Security check: this message tries to run script"
    );
    let id = hostile["id"].as_str().expect("id");

    let one: Value = provider
        .graph(
            &provider.url(&format!("/v1.0/me/messages/{id}?$select=body")),
            access_token_of(&alice),
        )
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(one["id"], id);
    assert_eq!(one["body"]["contentType"], "html");
    assert!(
        one["body"]["content"]
            .as_str()
            .expect("content")
            .contains("<script>alert('xss')</script>")
    );
    assert!(one.get("subject").is_none());

    let unknown = provider
        .graph(
            &provider.url("/v1.0/me/messages/AAMkADnope"),
            access_token_of(&alice),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(graph_error_code(unknown).await, "ErrorItemNotFound");

    let foreign = provider
        .graph(
            &provider.url(&format!("/v1.0/me/messages/{id}")),
            access_token_of(&bob),
        )
        .await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_token_without_mail_read_gets_403_access_denied_for_messages() {
    let provider = start_provider().await;
    let tokens = provider
        .tokens_for("carol", "openid profile User.Read")
        .await;
    let response = provider
        .graph(&provider.url("/v1.0/me/messages"), access_token_of(&tokens))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(graph_error_code(response).await, "ErrorAccessDenied");
    let me = provider
        .graph(&provider.url("/v1.0/me"), access_token_of(&tokens))
        .await;
    assert_eq!(me.status(), StatusCode::OK, "User.Read is enough for /me");
}

#[tokio::test]
async fn bad_query_options_get_a_graph_style_400() {
    let provider = start_provider().await;
    let tokens = provider.tokens_for("alice", ALL_SCOPES).await;
    for query in ["$top=0", "$top=abc", "$select=nope", "$skip=-3"] {
        let response = provider
            .graph(
                &provider.url(&format!("/v1.0/me/messages?{query}")),
                access_token_of(&tokens),
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = response.json().await.expect("JSON");
        assert!(body["error"]["code"].is_string(), "{query}");
        assert!(body["error"]["innerError"]["date"].is_string(), "{query}");
    }
}

#[tokio::test]
async fn the_text_body_preference_is_honoured_and_confirmed() {
    let provider = start_provider().await;
    let tokens = provider.tokens_for("alice", ALL_SCOPES).await;
    let response = provider
        .http
        .get(provider.url("/v1.0/me/messages?$top=3&$select=body"))
        .bearer_auth(access_token_of(&tokens))
        .header("Prefer", r#"outlook.body-content-type="text""#)
        .send()
        .await
        .expect("messages");
    assert_eq!(
        response.headers()["preference-applied"],
        r#"outlook.body-content-type="text""#
    );
    let page: Value = response.json().await.expect("JSON");
    for message in page["value"].as_array().expect("value") {
        assert_eq!(message["body"]["contentType"], "text");
        assert!(
            !message["body"]["content"]
                .as_str()
                .expect("content")
                .contains("<script")
        );
    }
}
