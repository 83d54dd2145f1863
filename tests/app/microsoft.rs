//! Microsoft against a fake on 127.0.0.1 that replays the documented shapes of
//! the identity platform v2.0 and Microsoft Graph (tests/fixtures/microsoft,
//! sources in tests/fixtures/SOURCES.md). One wiremock server plays both
//! login.microsoftonline.com (MICROSOFT_AUTHORITY) and graph.microsoft.com
//! (MICROSOFT_GRAPH_URL).

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

use crate::fake_issuer::{
    CLIENT_ID, CLIENT_SECRET, FakeIssuer, StartedSignIn, ask_for_mail, come_back_with_code,
    start_link, start_sign_in, token_response,
};
use crate::helpers::{TestApp, attribute_values, browser, location, spawn_app_with};

pub(crate) const REAL_HOSTS: &[&str] = &["login.microsoftonline.com", "graph.microsoft.com"];
/// The tenant of the person signing in, as the ID token's `tid` says.
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

pub(crate) struct FakeMicrosoft {
    pub(crate) fake: FakeIssuer,
    pub(crate) app: TestApp,
    pub(crate) browser: reqwest::Client,
}

impl FakeMicrosoft {
    /// The app configured for Microsoft with `tenant`, against a fake serving
    /// `discovery` (a fixture) for that tenant.
    pub(crate) async fn start(tenant: &str, discovery: &str) -> Self {
        Self::start_with(tenant, discovery, &[]).await
    }

    /// `start`, with `extra` variables for the app (which win).
    pub(crate) async fn start_with(
        tenant: &str,
        discovery: &str,
        extra: &[(&str, String)],
    ) -> Self {
        let fake = FakeIssuer::start().await;
        let document = fake.fixture(discovery, REAL_HOSTS);
        fake.mount_json(
            "GET",
            &format!("/{tenant}/v2.0/.well-known/openid-configuration"),
            200,
            document.clone(),
        )
        .await;
        let jwks_path = url::Url::parse(document["jwks_uri"].as_str().unwrap())
            .unwrap()
            .path()
            .to_owned();
        fake.mount_jwks(&jwks_path).await;
        let mut env = vec![
            ("MICROSOFT_CLIENT_ID", CLIENT_ID.to_owned()),
            ("MICROSOFT_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
            ("MICROSOFT_TENANT", tenant.to_owned()),
            ("MICROSOFT_AUTHORITY", fake.issuer()),
            ("MICROSOFT_GRAPH_URL", fake.issuer()),
        ];
        env.extend_from_slice(extra);
        let app = spawn_app_with(&env).await;
        FakeMicrosoft {
            fake,
            app,
            browser: browser(),
        }
    }

    /// Steps 3 and 4: the sign-in starts at `{authority}/{tenant}/oauth2/v2.0/authorize`.
    async fn start_sign_in(&self, tenant: &str, return_to: &str) -> StartedSignIn {
        let authorize = format!("{}/{tenant}/oauth2/v2.0/authorize", self.fake.issuer());
        start_sign_in(&self.app, &self.browser, "microsoft", return_to, &authorize).await
    }

    /// ID-token claims of a v2.0 token (fixture id_token_v2_claims_doc.json),
    /// for `started`'s nonce, issued by `issuer_tenant` and naming `tid`.
    fn claims(&self, started: &StartedSignIn, issuer_tenant: &str, tid: &str) -> Value {
        json!({
            "ver": "2.0",
            "iss": format!("{}/{issuer_tenant}/v2.0", self.fake.issuer()),
            "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
            "aud": CLIENT_ID,
            "name": "Adele Vance",
            "preferred_username": "AdeleV@contoso.com",
            "oid": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
            "tid": tid,
            "nonce": started.nonce.clone().unwrap(),
        })
    }

    /// The sign-in's ID-token claims as a refresh repeats them: same `iss`,
    /// `sub`, `aud`; no nonce (OIDC Core §12.2).
    fn claims_without_nonce(&self) -> Value {
        json!({
            "ver": "2.0",
            "iss": format!("{}/{TENANT}/v2.0", self.fake.issuer()),
            "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
            "aud": CLIENT_ID,
            "name": "Adele Vance",
            "tid": TENANT,
        })
    }

    /// Steps 5 and 6: the token endpoint answers `status` with `body`.
    async fn answer_token_request(&self, tenant: &str, status: u16, body: Value) {
        self.fake
            .answer_token_request_at(&format!("/{tenant}/oauth2/v2.0/token"), status, body)
            .await;
    }

    /// A whole sign-in through `common` as a person of TENANT, back to `return_to`.
    pub(crate) async fn sign_in(&self, return_to: &str) {
        let started = self.start_sign_in("common", return_to).await;
        let id_token = self.fake.id_token(self.claims(&started, TENANT, TENANT));
        self.answer_token_request("common", 200, token_response(Some(&id_token)))
            .await;
        let response = come_back_with_code(&self.app, &self.browser, "microsoft", &started).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), return_to);
    }

    /// Incremental consent after `sign_in`: `/mail`'s permission page, its
    /// button (through `common`, asking for Mail.Read), the same person
    /// comes back with `scope` as Microsoft writes it (Graph permissions
    /// with their resource), and the app sends the browser back to `/mail`.
    pub(crate) async fn grant_mail(&self) {
        let response = self
            .answer_mail_request(
                TENANT,
                "openid profile email https://graph.microsoft.com/Mail.Read https://graph.microsoft.com/User.Read",
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/mail");
    }

    /// `/mail`'s permission page and its button; then the token endpoint
    /// answers for a person of `tid` with `scope`, and the browser comes
    /// back to the callback. Returns the callback's response.
    pub(crate) async fn answer_mail_request(&self, tid: &str, scope: &str) -> reqwest::Response {
        let authorize = format!("{}/common/oauth2/v2.0/authorize", self.fake.issuer());
        let started = ask_for_mail(&self.app, &self.browser, &authorize).await;
        let id_token = self.fake.id_token(self.claims(&started, tid, tid));
        let mut answer = token_response(Some(&id_token));
        answer["scope"] = json!(scope);
        self.fake
            .answer_next_token_request_at("/common/oauth2/v2.0/token", answer)
            .await;
        come_back_with_code(&self.app, &self.browser, "microsoft", &started).await
    }

    /// Graph answers `GET {at}` with `status` and `body`.
    pub(crate) async fn graph(&self, at: &str, status: u16, body: Value) {
        self.fake.mount_json("GET", at, status, body).await;
    }

    pub(crate) async fn get(&self, page: &str) -> (StatusCode, String) {
        self.app.get_html(&self.browser, page).await
    }
}

#[tokio::test]
async fn the_microsoft_button_appears_and_the_authorization_request_is_complete() {
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    let (_, home) = microsoft.get("/").await;
    assert!(home.contains("Sign in with Microsoft"), "{home}");
    // /setup warns about Mail.Read for Microsoft only (the demo asks for it too).
    let (_, setup) = microsoft.get("/setup").await;
    assert_eq!(
        setup
            .matches("Mail.Read is a delegated Graph permission")
            .count(),
        1,
        "{setup}"
    );

    let started = microsoft.start_sign_in("common", "/profile").await;
    let url = url::Url::parse(&started.authorize_url).unwrap();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    assert_eq!(param("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(param("response_type").as_deref(), Some("code"));
    assert_eq!(
        param("redirect_uri"),
        Some(microsoft.app.url("/auth/microsoft/callback"))
    );
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    let scope = param("scope").unwrap();
    for wanted in ["openid", "profile", "email", "offline_access", "User.Read"] {
        assert!(scope.split(' ').any(|s| s == wanted), "{wanted} in {scope}");
    }
    // Mail is asked for only when the person opens it (incremental consent).
    assert!(!scope.contains("Mail.Read"), "{scope}");
}

#[tokio::test]
async fn a_multi_tenant_sign_in_shows_the_graph_profile_and_pages_through_mail() {
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    microsoft.sign_in("/profile").await;

    // Profile: GET /v1.0/me, and /me/photo/$value answers 404 (no photo).
    microsoft
        .graph(
            "/v1.0/me",
            200,
            microsoft
                .fake
                .fixture("microsoft/graph_me_get_200.json", REAL_HOSTS),
        )
        .await;
    microsoft
        .graph(
            "/v1.0/me/photo/$value",
            404,
            microsoft.fake.fixture(
                "microsoft/graph_me_photo_value_404_no_photo.json",
                REAL_HOSTS,
            ),
        )
        .await;
    let (status, profile) = microsoft.get("/profile").await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert!(profile.contains("Adele Vance") && profile.contains("Retail Manager"));
    assert!(profile.contains("AdeleV@contoso.com"));
    assert!(
        attribute_values(&profile, "img.avatar", "src").is_empty(),
        "no photo"
    );

    // Mail needs its permission first (incremental consent).
    microsoft.grant_mail().await;

    // Mail, first page: the documented request, then @odata.nextLink (quirk 8).
    // Graph repeats our request's options in it; the documented example's
    // request selected other fields, so its link carries only ours here.
    let mut page1 = microsoft.fake.fixture(
        "microsoft/graph_me_messages_list_page1_200.json",
        REAL_HOSTS,
    );
    page1["@odata.nextLink"] = json!(format!(
        "{}/v1.0/me/messages?%24top=10&%24skip=14",
        microsoft.fake.issuer()
    ));
    Mock::given(method("GET"))
        .and(path("/v1.0/me/messages"))
        .and(query_param("$top", "10"))
        .and(query_param("$orderby", "receivedDateTime desc"))
        .and(query_param_is_missing("$skip"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page1))
        .mount(&microsoft.fake.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/me/messages"))
        .and(query_param("$skip", "14"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(microsoft.fake.fixture(
                "microsoft/graph_me_messages_list_last_page_200.json",
                REAL_HOSTS,
            )),
        )
        .mount(&microsoft.fake.server)
        .await;
    let (status, first) = microsoft.get("/mail").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(first.contains("Your Azure AD Identity Protection Weekly Digest"));
    let older = attribute_values(&first, "a[rel=next]", "href");
    assert_eq!(older.len(), 1);
    let (status, second) = microsoft.get(&older[0]).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert!(second.contains("Original invitation") && second.contains("Megan Bowen"));
    assert!(
        attribute_values(&second, "a[rel=next]", "href").is_empty(),
        "last page"
    );

    // One message: GET /v1.0/me/messages/{id}, HTML body sanitised.
    let message = microsoft
        .fake
        .fixture("microsoft/graph_message_get_200.json", REAL_HOSTS);
    let id = message["id"].as_str().unwrap().to_owned();
    microsoft
        .graph(&format!("/v1.0/me/messages/{id}"), 200, message)
        .await;
    let (status, html) = microsoft.get(&format!("/mail/{}", urlencoding(&id))).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("The group represents Nevada."));
    let body = &html[html.find("class=\"mail-body\"").expect("body")..];
    assert!(!body.contains("<meta"), "the message's head is dropped");
}

/// Percent-encodes a message id as the mail list links do.
pub(crate) fn urlencoding(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[tokio::test]
async fn the_id_tokens_issuer_must_be_the_tenant_its_tid_names() {
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    let started = microsoft.start_sign_in("common", "/profile").await;
    // Issued "by" one tenant, claiming to be for another.
    let other = "9188040d-6c67-4c5b-b112-36a304b66dad";
    let id_token = microsoft
        .fake
        .id_token(microsoft.claims(&started, TENANT, other));
    microsoft
        .answer_token_request("common", 200, token_response(Some(&id_token)))
        .await;
    let response =
        come_back_with_code(&microsoft.app, &microsoft.browser, "microsoft", &started).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("could not be verified")
    );
}

#[tokio::test]
async fn a_tenant_specific_authority_validates_the_issuer_exactly() {
    let microsoft =
        FakeMicrosoft::start(TENANT, "microsoft/oidc_discovery_tenant_v2.DERIVED.json").await;
    let started = microsoft.start_sign_in(TENANT, "/profile").await;
    let id_token = microsoft
        .fake
        .id_token(microsoft.claims(&started, TENANT, TENANT));
    microsoft
        .answer_token_request(TENANT, 200, token_response(Some(&id_token)))
        .await;
    let response =
        come_back_with_code(&microsoft.app, &microsoft.browser, "microsoft", &started).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // A personal account's token is not from this tenant.
    let started = microsoft.start_sign_in(TENANT, "/profile").await;
    let personal = "9188040d-6c67-4c5b-b112-36a304b66dad";
    let id_token = microsoft
        .fake
        .id_token(microsoft.claims(&started, personal, personal));
    microsoft.fake.server.reset().await;
    let document = microsoft.fake.fixture(
        "microsoft/oidc_discovery_tenant_v2.DERIVED.json",
        REAL_HOSTS,
    );
    microsoft
        .fake
        .mount_json(
            "GET",
            &format!("/{TENANT}/v2.0/.well-known/openid-configuration"),
            200,
            document,
        )
        .await;
    microsoft
        .fake
        .mount_jwks(&format!("/{TENANT}/discovery/v2.0/keys"))
        .await;
    microsoft
        .answer_token_request(TENANT, 200, token_response(Some(&id_token)))
        .await;
    let response =
        come_back_with_code(&microsoft.app, &microsoft.browser, "microsoft", &started).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn an_expired_code_gets_a_clear_page_with_the_providers_words() {
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    let started = microsoft.start_sign_in("common", "/mail").await;
    let error = microsoft.fake.fixture(
        "microsoft/identity_token_error_expired_grant_70008.json",
        REAL_HOSTS,
    );
    microsoft.answer_token_request("common", 400, error).await;
    let response =
        come_back_with_code(&microsoft.app, &microsoft.browser, "microsoft", &started).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(html.contains("invalid_grant"), "{html}");
    assert!(
        html.contains("AADSTS70008"),
        "the provider's description is shown"
    );
    // In plain words, from the AADSTS code.
    assert!(html.contains("What happened") && html.contains("expired or was already used"));
    assert!(
        attribute_values(&html, "a.button", "href")
            .contains(&"/login?return_to=%2Fmail".to_owned()),
        "try again, to the same page: {html}"
    );
}

#[tokio::test]
async fn a_bad_client_secret_answered_with_401_is_a_clear_error() {
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    let started = microsoft.start_sign_in("common", "/profile").await;
    let error = microsoft.fake.fixture(
        "microsoft/identity_token_error_invalid_client_secret_7000215_401_captured.json",
        REAL_HOSTS,
    );
    microsoft.answer_token_request("common", 401, error).await;
    let response =
        come_back_with_code(&microsoft.app, &microsoft.browser, "microsoft", &started).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(html.contains("invalid_client"), "{html}");
    assert!(!html.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn graph_401_asks_to_sign_in_again_and_come_back() {
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    microsoft.sign_in("/mail").await;
    microsoft.grant_mail().await;
    microsoft
        .graph(
            "/v1.0/me/messages",
            401,
            microsoft
                .fake
                .fixture("microsoft/graph_error_401_expired_token.json", REAL_HOSTS),
        )
        .await;
    let response = microsoft
        .browser
        .get(microsoft.app.url("/mail"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?return_to=%2Fmail&expired=1");
}

#[tokio::test]
async fn graph_403_names_the_missing_permission_and_offers_consent_again() {
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    microsoft.sign_in("/mail").await;
    microsoft.grant_mail().await;
    microsoft
        .graph(
            "/v1.0/me/messages",
            403,
            // Graph's error envelope (quirk 11) with the code Graph uses for a
            // missing permission.
            json!({"error": {"code": "ErrorAccessDenied", "message": "Access is denied. Check credentials and try again."}}),
        )
        .await;
    let (status, html) = microsoft.get("/mail").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("Mail.Read"), "{html}");
    let consent = "/auth/microsoft/login?return_to=%2Fmail&consent=again".to_owned();
    assert!(
        attribute_values(&html, "a.button", "href").contains(&consent),
        "{html}"
    );

    // Following it asks Microsoft to show the consent page again.
    let authorize = format!("{}/common/oauth2/v2.0/authorize", microsoft.fake.issuer());
    let response = microsoft
        .browser
        .get(microsoft.app.url(&consent))
        .send()
        .await
        .unwrap();
    let url = location(&response);
    assert!(
        url.starts_with(&authorize) && url.contains("prompt=consent"),
        "{url}"
    );
}

#[tokio::test]
async fn graph_429_passes_on_retry_after_and_is_not_retried() {
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    microsoft.sign_in("/mail").await;
    microsoft.grant_mail().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/me/messages"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "10")
                .set_body_json(
                    microsoft
                        .fake
                        .fixture("microsoft/graph_error_429_throttled.json", REAL_HOSTS),
                ),
        )
        .expect(1)
        .mount(&microsoft.fake.server)
        .await;
    let response = microsoft
        .browser
        .get(microsoft.app.url("/mail"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "10");
    assert!(response.text().await.unwrap().contains("10 seconds"));
    microsoft.fake.server.verify().await;
}

impl FakeMicrosoft {
    /// Graph answers `GET /v1.0/me` with the documented profile.
    async fn answer_graph_me(&self) {
        let me = self
            .fake
            .fixture("microsoft/graph_me_get_200.json", REAL_HOSTS);
        self.graph("/v1.0/me", 200, me).await;
    }
}

/// Graph's `GET /v1.0/me` requests so far.
async fn graph_me_requests(microsoft: &FakeMicrosoft) -> usize {
    microsoft.fake.requests_to("/v1.0/me").await
}

#[tokio::test]
async fn the_profile_is_read_from_graph_once_and_again_on_refresh_or_sign_in() {
    // The per-process cache is what this is about: one instance, no Redis
    // (with REDIS_URL it is off; `with_redis_the_profile_cache_is_off`).
    let microsoft = FakeMicrosoft::start_with(
        "common",
        "microsoft/oidc_discovery_common_v2.json",
        &[
            ("REDIS_URL", String::new()),
            ("SESSION_STORE", String::new()),
        ],
    )
    .await;
    microsoft.sign_in("/profile").await;
    microsoft.answer_graph_me().await;

    // The first view reads it; the next one shows the kept answer.
    for _ in 0..2 {
        let (status, profile) = microsoft.get("/profile").await;
        assert_eq!(status, StatusCode::OK, "{profile}");
        assert!(profile.contains("Adele Vance"));
        assert!(profile.contains("href=\"/profile?refresh=1\""));
    }
    assert_eq!(graph_me_requests(&microsoft).await, 1);

    // "Read it again now" calls the API.
    let (status, _) = microsoft.get("/profile?refresh=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(graph_me_requests(&microsoft).await, 2);

    // A new sign-in (perhaps with new permissions) reads it again too. (The
    // fake forgets its answers and what it saw: the new sign-in's ID token
    // carries a new nonce.)
    microsoft.fake.server.reset().await;
    microsoft.sign_in("/profile").await;
    microsoft.answer_graph_me().await;
    let (status, _) = microsoft.get("/profile").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(graph_me_requests(&microsoft).await, 1);
}

#[tokio::test]
async fn with_redis_the_profile_cache_is_off_and_every_view_reads_graph() {
    // Several instances share REDIS_URL: a per-process copy would not hear of
    // another instance's refresh or sign-out, so there is none. (The app
    // connects to Redis at start, so this needs one.)
    let Some(redis) = crate::helpers::test_redis_url() else {
        eprintln!("SKIPPED the profile cache with Redis: TEST_REDIS_URL is not set");
        return;
    };
    let microsoft = FakeMicrosoft::start_with(
        "common",
        "microsoft/oidc_discovery_common_v2.json",
        &[
            ("REDIS_URL", redis),
            ("REDIS_KEY_PREFIX", crate::helpers::redis_key_prefix()),
        ],
    )
    .await;
    microsoft.sign_in("/profile").await;
    microsoft.answer_graph_me().await;
    for _ in 0..2 {
        assert_eq!(microsoft.get("/profile").await.0, StatusCode::OK);
    }
    assert_eq!(graph_me_requests(&microsoft).await, 2);
}

#[tokio::test]
async fn a_grant_revoked_at_microsoft_deletes_the_tokens_and_asks_to_sign_in_again() {
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    microsoft.sign_in("/profile").await;
    microsoft.grant_mail().await;
    microsoft.answer_graph_me().await;
    assert_eq!(microsoft.get("/profile").await.0, StatusCode::OK);

    // Graph now answers 401 (the grant was revoked: the person changed their
    // password), and so does the refresh the app tries once (AADSTS50173).
    microsoft.fake.server.reset().await;
    let expired = microsoft
        .fake
        .fixture("microsoft/graph_error_401_expired_token.json", REAL_HOSTS);
    microsoft
        .graph("/v1.0/me/messages", 401, expired.clone())
        .await;
    microsoft.graph("/v1.0/me", 401, expired).await;
    let revoked = microsoft.fake.fixture(
        "microsoft/identity_token_error_refresh_revoked_50173_captured.json",
        REAL_HOSTS,
    );
    microsoft.answer_token_request("common", 400, revoked).await;
    let mail = microsoft
        .browser
        .get(microsoft.app.url("/mail"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&mail), "/login?return_to=%2Fmail&expired=refused");
    // The kept profile went with the tokens: /profile asks to sign in too.
    let profile = microsoft
        .browser
        .get(microsoft.app.url("/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&profile), "/login?return_to=%2Fprofile&expired=1");
}

#[tokio::test]
async fn a_401_from_graph_is_answered_by_one_refresh_and_the_rotated_token_is_used_next() {
    use wiremock::matchers::body_string_contains;
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    microsoft.sign_in("/mail").await;
    microsoft.grant_mail().await;
    let page = microsoft.fake.fixture(
        "microsoft/graph_me_messages_list_last_page_200.json",
        REAL_HOSTS,
    );
    // The access token was revoked early: Graph answers 401 once, then the
    // refreshed token works.
    let expired = microsoft
        .fake
        .fixture("microsoft/graph_error_401_expired_token.json", REAL_HOSTS);
    Mock::given(method("GET"))
        .and(path("/v1.0/me/messages"))
        .respond_with(ResponseTemplate::new(401).set_body_json(expired))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&microsoft.fake.server)
        .await;
    microsoft.graph("/v1.0/me/messages", 200, page).await;
    // Microsoft's refresh answer (identity_token_refresh_success_200.json)
    // rotates the refresh token; its ID token is replaced by one this fake
    // signs for the same person (the fixture's is truncated).
    let mut refreshed = microsoft.fake.fixture(
        "microsoft/identity_token_refresh_success_200.json",
        REAL_HOSTS,
    );
    let mut claims = microsoft.claims_without_nonce();
    claims["aud"] = json!(CLIENT_ID);
    refreshed["id_token"] = json!(microsoft.fake.id_token(claims));
    let rotated = refreshed["refresh_token"].as_str().unwrap().to_owned();
    let token_path = "/common/oauth2/v2.0/token";
    Mock::given(method("POST"))
        .and(path(token_path))
        .and(body_string_contains("refresh_token=fake-refresh-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(refreshed.clone()))
        .with_priority(1)
        .expect(1)
        .mount(&microsoft.fake.server)
        .await;
    Mock::given(method("POST"))
        .and(path(token_path))
        .and(body_string_contains(format!("refresh_token={rotated}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(refreshed))
        .with_priority(1)
        .expect(1)
        .mount(&microsoft.fake.server)
        .await;

    let (status, html) = microsoft.get("/mail").await;
    assert_eq!(status, StatusCode::OK, "{html}");

    // The next refresh sends the rotated refresh token, not the first one.
    microsoft.app.expire_access_tokens();
    let (status, _) = microsoft.get("/mail").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn signing_out_of_microsoft_too_ends_the_session_there_with_the_id_token_as_hint() {
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    microsoft.sign_in("/profile").await;
    microsoft.answer_graph_me().await;

    let response = microsoft
        .app
        .post_with_csrf(&microsoft.browser, "/logout/provider")
        .await;

    // Microsoft lists no revocation endpoint; its end_session_endpoint
    // (fixture identity_logout_request.txt) gets the sign-in's ID token.
    let logout = crate::helpers::end_session_link(response).await;
    let expected = format!("{}/common/oauth2/v2.0/logout?", microsoft.fake.issuer());
    assert!(logout.starts_with(&expected), "{logout}");
    let hint = crate::helpers::query_value(&logout, "id_token_hint");
    assert_eq!(hint.split('.').count(), 3, "a JWT: {hint}");
    let state = crate::helpers::query_value(&logout, "state");
    // Microsoft sends the browser back with the state (quirk in SOURCES.md).
    let (_, page) = microsoft.get(&format!("/signed-out?state={state}")).await;
    assert!(
        page.contains("Microsoft offers apps no way to revoke"),
        "{page}"
    );
    assert!(
        page.contains("You were signed out at Microsoft too"),
        "{page}"
    );
    assert_eq!(microsoft.app.stored_token_rows(), 0);
}

#[tokio::test]
async fn the_same_sub_from_two_tenants_is_two_people() {
    // OIDC Core §5.7: `sub` is unique at its issuer only, and through
    // `common` each tenant is its own issuer; the identity is keyed by both.
    use diesel::prelude::*;
    use signin_reference::db::schema::{identities, users};

    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    let other = "9188040d-6c67-4c5b-b112-36a304b66dad";
    for tenant in [TENANT, other] {
        let started = microsoft.start_sign_in("common", "/profile").await;
        let id_token = microsoft
            .fake
            .id_token(microsoft.claims(&started, tenant, tenant));
        Mock::given(method("POST"))
            .and(path("/common/oauth2/v2.0/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_response(Some(&id_token))))
            .up_to_n_times(1)
            .mount(&microsoft.fake.server)
            .await;
        let response =
            come_back_with_code(&microsoft.app, &microsoft.browser, "microsoft", &started).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{tenant}");
    }

    let mut connection = microsoft.app.database();
    let issuers: Vec<String> = identities::table
        .order(identities::id)
        .select(identities::issuer)
        .load(&mut connection)
        .unwrap();
    let issuer_of = |tenant: &str| format!("{}/{tenant}/v2.0", microsoft.fake.issuer());
    assert_eq!(issuers, [issuer_of(TENANT), issuer_of(other)]);
    let people: i64 = users::table.count().get_result(&mut connection).unwrap();
    assert_eq!(people, 2);
}

#[tokio::test]
async fn only_a_jpeg_png_or_gif_photo_within_256_kib_is_shown() {
    // The photo becomes a data: URL in our page. An SVG could carry script,
    // HTML is not a photo, and a huge one would bloat every profile page.
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    microsoft.sign_in("/profile").await;
    let me = microsoft
        .fake
        .fixture("microsoft/graph_me_get_200.json", REAL_HOSTS);
    microsoft.graph("/v1.0/me", 200, me).await;
    let cap = 256 * 1024;
    let cases: [(&str, usize, bool); 6] = [
        ("image/png", 1024, true),
        ("image/jpeg; charset=binary", cap, true),
        ("image/gif", 64, true),
        ("image/jpeg", cap + 1, false),
        ("image/svg+xml", 1024, false),
        ("text/html", 1024, false),
    ];
    for (content_type, size, shown) in cases {
        Mock::given(method("GET"))
            .and(path("/v1.0/me/photo/$value"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", content_type)
                    .set_body_bytes(vec![0x89; size]),
            )
            .up_to_n_times(1)
            .mount(&microsoft.fake.server)
            .await;
        let (status, profile) = microsoft.get("/profile?refresh=1").await;
        assert_eq!(status, StatusCode::OK, "{content_type} {size}: {profile}");
        assert!(profile.contains("Adele Vance"), "{content_type} {size}");
        let photos = attribute_values(&profile, "img.avatar", "src");
        assert_eq!(!photos.is_empty(), shown, "{content_type}, {size} bytes");
        if shown {
            let kind = content_type.split(';').next().unwrap();
            assert!(photos[0].starts_with(&format!("data:{kind};base64,")));
        }
    }
}

// --- Mail permission and admin consent ------------------------------------

#[tokio::test]
async fn a_tenant_that_lets_only_administrators_allow_mail_gets_the_admin_consent_address() {
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    microsoft.sign_in("/profile").await;
    let authorize = format!("{}/common/oauth2/v2.0/authorize", microsoft.fake.issuer());
    let started = ask_for_mail(&microsoft.app, &microsoft.browser, &authorize).await;

    // Microsoft's "Need admin approval" page, left without a request: back
    // with access_denied and the AADSTS code that names an administrator.
    let response = microsoft
        .browser
        .get(microsoft.app.url("/auth/microsoft/callback"))
        .query(&[
            ("error", "access_denied"),
            (
                "error_description",
                "AADSTS90094: Admin consent is required for the permissions requested by this application.",
            ),
            ("state", started.state.as_str()),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("An administrator can approve this app"),
        "{html}"
    );
    assert!(!html.contains("You chose"), "{html}");
    // An address of this app, to send to an administrator.
    let address = attribute_values(&html, "a.admin-consent-url", "href")
        .pop()
        .expect("the admin-consent address");
    assert_eq!(address, microsoft.app.url("/auth/microsoft/admin-consent"));

    // The administrator opens it in their own browser: a request bound to
    // that browser, sent to Microsoft's admin-consent endpoint.
    let administrator = crate::helpers::browser();
    let start = administrator.get(&address).send().await.unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let endpoint_url = crate::helpers::location(&start);
    let endpoint = format!(
        "{}/organizations/v2.0/adminconsent?",
        microsoft.fake.issuer()
    );
    assert!(endpoint_url.starts_with(&endpoint), "{endpoint_url}");
    assert_eq!(
        crate::helpers::query_value(&endpoint_url, "client_id"),
        CLIENT_ID
    );
    assert_eq!(
        crate::helpers::query_value(&endpoint_url, "redirect_uri"),
        microsoft.app.url("/auth/microsoft/callback")
    );
    assert_eq!(
        crate::helpers::query_value(&endpoint_url, "state").len(),
        43,
        "a random state, as for a sign-in"
    );
    let scope = crate::helpers::query_value(&endpoint_url, "scope");
    assert!(
        scope
            .split(' ')
            .any(|s| s == "https://graph.microsoft.com/Mail.Read"),
        "{scope}"
    );
    // The person is still signed in.
    microsoft.answer_graph_me().await;
    assert_eq!(microsoft.get("/profile").await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_administrators_answer_is_reported_only_in_the_browser_that_asked() {
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    let administrator = &microsoft.browser;
    let ask = async || {
        let start = administrator
            .get(microsoft.app.url("/auth/microsoft/admin-consent"))
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        crate::helpers::query_value(&crate::helpers::location(&start), "state")
    };
    let answer = |browser: &reqwest::Client, query: Vec<(&'static str, String)>| {
        browser
            .get(microsoft.app.url("/auth/microsoft/callback"))
            .query(&query)
            .send()
    };

    // The documented success: admin_consent=True, tenant, scope, state.
    let state = ask().await;
    let approved = answer(
        administrator,
        vec![
            ("admin_consent", "True".into()),
            ("tenant", TENANT.into()),
            ("scope", "https://graph.microsoft.com/Mail.Read".into()),
            ("state", state.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(approved.status(), StatusCode::OK);
    let html = approved.text().await.unwrap();
    assert!(html.contains("an administrator approved"), "{html}");
    assert!(html.contains(TENANT), "{html}");
    // Single use, like any state.
    let again = answer(
        administrator,
        vec![("admin_consent", "True".into()), ("state", state)],
    )
    .await
    .unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    let state = ask().await;
    let declined = answer(
        administrator,
        vec![
            ("error", "access_denied".into()),
            (
                "error_description",
                "AADSTS65004: User declined to consent.".into(),
            ),
            ("state", state),
        ],
    )
    .await
    .unwrap();
    assert_eq!(declined.status(), StatusCode::OK);
    let html = declined.text().await.unwrap();
    assert!(html.contains("were not approved"), "{html}");
    assert!(html.contains("AADSTS65004"), "{html}");

    // An answer nobody here asked for (no state, a made-up one, or another
    // browser's) is refused, and its words are not shown on our origin.
    let state = ask().await;
    let elsewhere = crate::helpers::browser();
    for (browser, state) in [
        (administrator, None),
        (administrator, Some("made-up".to_owned())),
        (&elsewhere, Some(state)),
    ] {
        let mut query = vec![
            ("error", "access_denied".to_owned()),
            (
                "error_description",
                "Call +1 555 0100 to restore your account".to_owned(),
            ),
            ("admin_consent", "False".to_owned()),
        ];
        query.extend(state.map(|state| ("state", state)));
        let refused = answer(browser, query).await.unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let html = refused.text().await.unwrap();
        assert!(!html.contains("555 0100"), "{html}");
    }

    // Nobody signed in, nothing stored.
    assert_eq!(microsoft.app.stored_session_rows(), 0);
    assert_eq!(microsoft.app.stored_token_rows(), 0);
    let (_, home) = microsoft.get("/").await;
    assert!(home.contains("Sign in with Microsoft"), "{home}");
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn a_microsoft_account_linked_by_a_signed_in_person_then_signs_them_in() {
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    let (app, browser) = (&microsoft.app, &microsoft.browser);
    app.sign_in(browser, "/profile", "alice").await;
    let authorize = format!("{}/common/oauth2/v2.0/authorize", microsoft.fake.issuer());
    let started = start_link(app, browser, "microsoft", &authorize).await;
    let id_token = microsoft
        .fake
        .id_token(microsoft.claims(&started, TENANT, TENANT));
    microsoft
        .fake
        .answer_next_token_request_at("/common/oauth2/v2.0/token", token_response(Some(&id_token)))
        .await;
    let linked = come_back_with_code(app, browser, "microsoft", &started).await;
    crate::linking::linked_then_signs_in_as_the_same_person(
        app,
        browser,
        linked,
        "Microsoft",
        microsoft.sign_in("/profile"),
    )
    .await;
}

#[tokio::test]
async fn a_message_id_longer_than_any_real_one_is_a_404_and_never_sent_to_graph() {
    // Graph's message ids are about 150 characters; the app passes on ids up
    // to 512 and answers anything longer itself, so a crafted URL cannot
    // make it send an arbitrarily long path to the provider.
    let microsoft = FakeMicrosoft::start("common", "microsoft/oidc_discovery_common_v2.json").await;
    microsoft.sign_in("/mail").await;
    microsoft.grant_mail().await;
    let (status, _) = microsoft.get(&format!("/mail/{}", "A".repeat(513))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The longest id passed on (the fake knows no such message).
    microsoft.get(&format!("/mail/{}", "A".repeat(512))).await;

    let prefix = "/v1.0/me/messages/";
    let sent: Vec<usize> = microsoft
        .fake
        .paths_received()
        .await
        .iter()
        .filter_map(|path| path.strip_prefix(prefix).map(str::len))
        .collect();
    assert_eq!(sent, vec![512], "only the 512-character id reached Graph");
}
