//! Google against a fake on 127.0.0.1 that replays the documented shapes of
//! Google's OpenID Connect provider, userinfo and the Gmail API
//! (tests/fixtures/google, sources in tests/fixtures/SOURCES.md). One wiremock
//! server plays accounts.google.com (GOOGLE_ISSUER), oauth2.googleapis.com,
//! openidconnect.googleapis.com, www.googleapis.com and gmail.googleapis.com
//! (GMAIL_API_URL).

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

use crate::fake_issuer::{
    CLIENT_ID, CLIENT_SECRET, FakeIssuer, StartedSignIn, come_back_with_code, start_sign_in,
    token_response,
};
use crate::helpers::{TestApp, attribute_values, browser, location, spawn_app_with};

const REAL_HOSTS: &[&str] = &[
    "accounts.google.com",
    "oauth2.googleapis.com",
    "openidconnect.googleapis.com",
    "www.googleapis.com",
    "gmail.googleapis.com",
];
const MESSAGES: &str = "/gmail/v1/users/me/messages";

struct FakeGoogle {
    fake: FakeIssuer,
    app: TestApp,
    browser: reqwest::Client,
}

impl FakeGoogle {
    async fn start() -> Self {
        let fake = FakeIssuer::start().await;
        let mut discovery = fake.fixture("google/oidc_discovery.json", REAL_HOSTS);
        discovery["issuer"] = json!(fake.issuer());
        fake.mount_json("GET", "/.well-known/openid-configuration", 200, discovery)
            .await;
        fake.mount_jwks("/oauth2/v3/certs").await;
        let app = spawn_app_with(&[
            ("GOOGLE_CLIENT_ID", CLIENT_ID.to_owned()),
            ("GOOGLE_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
            ("GOOGLE_ISSUER", fake.issuer()),
            ("GMAIL_API_URL", fake.issuer()),
        ])
        .await;
        FakeGoogle {
            fake,
            app,
            browser: browser(),
        }
    }

    async fn start_sign_in(&self, return_to: &str) -> StartedSignIn {
        let authorize = format!("{}/o/oauth2/v2/auth", self.fake.issuer());
        start_sign_in(&self.app, &self.browser, "google", return_to, &authorize).await
    }

    /// The documented ID-token payload (id_token_claims_doc.json, with its
    /// string `email_verified`), issued now to us for `started`.
    fn id_token(&self, started: &StartedSignIn) -> String {
        let mut claims = self
            .fake
            .fixture("google/id_token_claims_doc.json", REAL_HOSTS);
        claims["iss"] = json!(self.fake.issuer());
        claims["aud"] = json!(CLIENT_ID);
        claims["azp"] = json!(CLIENT_ID);
        claims["nonce"] = json!(started.nonce.clone().unwrap());
        claims["name"] = json!("Jane Smith");
        let now = chrono::Utc::now().timestamp();
        claims["iat"] = json!(now);
        claims["exp"] = json!(now + 3600);
        // Its at_hash belongs to the documentation's access token, not ours.
        claims.as_object_mut().unwrap().remove("at_hash");
        self.fake.id_token(claims)
    }

    /// A whole sign-in; Google's callback adds `scope`, `authuser` and
    /// `prompt`, which are ignored (quirk 19).
    async fn sign_in(&self, return_to: &str) {
        let started = self.start_sign_in(return_to).await;
        self.fake
            .answer_token_request_at(
                "/token",
                200,
                token_response(Some(&self.id_token(&started))),
            )
            .await;
        let response = self
            .browser
            .get(self.app.url("/auth/google/callback"))
            .query(&[
                ("state", started.state.as_str()),
                ("code", "4/P7q7W91a-oMsCeLvIaQm6bTrgtp7"),
                (
                    "scope",
                    "email profile openid https://www.googleapis.com/auth/gmail.readonly",
                ),
                ("authuser", "0"),
                ("prompt", "consent"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), return_to);
    }

    async fn get(&self, page: &str) -> (StatusCode, String) {
        self.app.get_html(&self.browser, page).await
    }

    /// Gmail's `messages.get?format=metadata` for `id`, from the fixture.
    async fn mount_metadata(&self, id: &str, subject: &str) {
        let mut message = self
            .fake
            .fixture("google/gmail_messages_get_metadata_200.json", REAL_HOSTS);
        message["id"] = json!(id);
        message["payload"]["headers"][1]["value"] = json!(subject);
        Mock::given(method("GET"))
            .and(path(format!("{MESSAGES}/{id}")))
            .and(query_param("format", "metadata"))
            .respond_with(ResponseTemplate::new(200).set_body_json(message))
            .mount(&self.fake.server)
            .await;
    }
}

#[tokio::test]
async fn the_authorization_request_asks_for_gmail_and_offline_access() {
    let google = FakeGoogle::start().await;
    let (_, home) = google.get("/").await;
    assert!(home.contains("Sign in with Google"));
    let started = google.start_sign_in("/profile").await;
    let url = url::Url::parse(&started.authorize_url).unwrap();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    assert_eq!(param("access_type").as_deref(), Some("offline"));
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    let scope = param("scope").unwrap();
    assert!(
        scope.contains("https://www.googleapis.com/auth/gmail.readonly"),
        "{scope}"
    );
    assert!(param("nonce").is_some());
}

#[tokio::test]
async fn a_google_sign_in_shows_the_userinfo_profile() {
    let google = FakeGoogle::start().await;
    google.sign_in("/profile").await;
    let userinfo = google
        .fake
        .fixture("google/userinfo_oidc_200.json", REAL_HOSTS);
    google
        .fake
        .mount_json("GET", "/v1/userinfo", 200, userinfo)
        .await;
    let (status, html) = google.get("/profile").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Jane Smith") && html.contains("jsmith@example.com"));
    assert!(html.contains("Open your mail"));
}

#[tokio::test]
async fn userinfo_about_someone_else_is_not_shown() {
    let google = FakeGoogle::start().await;
    google.sign_in("/profile").await;
    let mut userinfo = google
        .fake
        .fixture("google/userinfo_oidc_200.json", REAL_HOSTS);
    userinfo["sub"] = json!("someone-else");
    google
        .fake
        .mount_json("GET", "/v1/userinfo", 200, userinfo)
        .await;
    let (status, html) = google.get("/profile").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(!html.contains("jsmith@example.com"), "{html}");
}

#[tokio::test]
async fn gmail_pages_by_next_page_token_and_shows_a_mime_message() {
    let google = FakeGoogle::start().await;
    google.sign_in("/mail").await;

    // Page 1: messages.list (ids only), then messages.get for each (quirk 23).
    Mock::given(method("GET"))
        .and(path(MESSAGES))
        .and(query_param("maxResults", "10"))
        .and(query_param_is_missing("pageToken"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                google
                    .fake
                    .fixture("google/gmail_messages_list_200.json", REAL_HOSTS),
            ),
        )
        .mount(&google.fake.server)
        .await;
    google
        .mount_metadata("17ed3860b714f93e", "First of page one")
        .await;
    google
        .mount_metadata("17ed36c19ec18aeb", "Second of page one")
        .await;
    // Page 2, by nextPageToken, is the last.
    Mock::given(method("GET"))
        .and(path(MESSAGES))
        .and(query_param("pageToken", "09733522848282137458"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": [{"id": "1783b4a3c4d5e6f7", "threadId": "1783b4a3c4d5e6f7"}],
            "resultSizeEstimate": 1
        })))
        .mount(&google.fake.server)
        .await;
    google
        .mount_metadata("1783b4a3c4d5e6f7", "Only one on page two")
        .await;

    let (status, first) = google.get("/mail").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let first_at = first.find("First of page one").expect("first message");
    let second_at = first.find("Second of page one").expect("second message");
    assert!(first_at < second_at, "the list's order is kept");
    assert!(first.contains("Example Store"), "From is parsed");
    let older = attribute_values(&first, "a[rel=next]", "href");
    assert_eq!(older, ["/mail?cursor=09733522848282137458"]);
    let (status, second) = google.get(&older[0]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(second.contains("Only one on page two"));
    assert!(attribute_values(&second, "a[rel=next]", "href").is_empty());

    // One message: format=full, base64url MIME parts (quirk 22); the HTML part
    // is shown, sanitised.
    let mut full = google
        .fake
        .fixture("google/gmail_messages_get_full_200.json", REAL_HOSTS);
    let hostile = "<p>Hello <b>Alex</b></p><script>alert('x')</script><img src=https://tracker.example/p.gif>";
    full["payload"]["parts"][1]["body"]["data"] =
        json!(base64::engine::general_purpose::URL_SAFE.encode(hostile));
    Mock::given(method("GET"))
        .and(path(format!("{MESSAGES}/1783b4a3c4d5e6f7")))
        .and(query_param("format", "full"))
        .respond_with(ResponseTemplate::new(200).set_body_json(full))
        .mount(&google.fake.server)
        .await;
    let (status, html) = google.get("/mail/1783b4a3c4d5e6f7").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Test message") && html.contains("Alex Reichert"));
    let body = &html[html.find("class=\"mail-body\"").expect("body")..];
    assert!(body.contains("Hello <b>Alex</b>"), "{body}");
    assert!(!body.contains("<script") && !body.contains("tracker.example"));
}

#[tokio::test]
async fn the_documented_plain_text_part_is_decoded() {
    let google = FakeGoogle::start().await;
    google.sign_in("/mail").await;
    let mut full: Value = google
        .fake
        .fixture("google/gmail_messages_get_full_200.json", REAL_HOSTS);
    // Only the text part: the page falls back to it.
    full["payload"]["parts"].as_array_mut().unwrap().truncate(1);
    let text_part = full["payload"]["parts"][0]["body"]["data"]
        .as_str()
        .unwrap()
        .to_owned();
    let text = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE
            .decode(&text_part)
            .expect("the fixture's data is base64url"),
    )
    .unwrap();
    google
        .fake
        .mount_json("GET", &format!("{MESSAGES}/1783b4a3c4d5e6f7"), 200, full)
        .await;
    let (status, html) = google.get("/mail/1783b4a3c4d5e6f7").await;
    assert_eq!(status, StatusCode::OK);
    let document = scraper::Html::parse_document(&html);
    let body = scraper::Selector::parse(".mail-body").unwrap();
    let shown: String = document
        .select(&body)
        .next()
        .expect("body")
        .text()
        .collect();
    assert_eq!(shown.trim(), text.trim());
}

#[tokio::test]
async fn an_empty_inbox_says_so() {
    let google = FakeGoogle::start().await;
    google.sign_in("/mail").await;
    let empty = google
        .fake
        .fixture("google/gmail_messages_list_empty_200.json", REAL_HOSTS);
    google.fake.mount_json("GET", MESSAGES, 200, empty).await;
    let (status, html) = google.get("/mail").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No messages here."));
}

#[tokio::test]
async fn a_reused_code_gets_a_clear_page() {
    let google = FakeGoogle::start().await;
    let started = google.start_sign_in("/profile").await;
    let error = google
        .fake
        .fixture("google/token_error_bad_code_400.json", REAL_HOSTS);
    google
        .fake
        .answer_token_request_at("/token", 400, error)
        .await;
    let response = come_back_with_code(&google.app, &google.browser, "google", &started).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("invalid_grant") && html.contains("Try again"),
        "{html}"
    );
}

#[tokio::test]
async fn gmail_rate_limits_and_expired_tokens_are_handled() {
    let google = FakeGoogle::start().await;
    google.sign_in("/mail").await;
    let limited = google
        .fake
        .fixture("google/gmail_error_429_user_rate_limit.json", REAL_HOSTS);
    Mock::given(method("GET"))
        .and(path(MESSAGES))
        .respond_with(ResponseTemplate::new(429).set_body_json(limited))
        .up_to_n_times(1)
        .mount(&google.fake.server)
        .await;
    let (status, html) = google.get("/mail").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(html.contains("busy"), "{html}");

    let expired = google
        .fake
        .fixture("google/gmail_error_401_captured.json", REAL_HOSTS);
    google.fake.mount_json("GET", MESSAGES, 401, expired).await;
    let response = google
        .browser
        .get(google.app.url("/mail"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?return_to=%2Fmail&expired=1");
}
