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
    CLIENT_ID, CLIENT_SECRET, FakeIssuer, StartedSignIn, ask_for_mail, come_back_with_code,
    start_link, start_sign_in, token_response,
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
        Self::start_with(&[]).await
    }

    /// The fake and an app configured for it, with `extra` variables.
    async fn start_with(extra: &[(&str, String)]) -> Self {
        let fake = FakeIssuer::start().await;
        let mut discovery = fake.fixture("google/oidc_discovery.json", REAL_HOSTS);
        discovery["issuer"] = json!(fake.issuer());
        fake.mount_json("GET", "/.well-known/openid-configuration", 200, discovery)
            .await;
        fake.mount_jwks("/oauth2/v3/certs").await;
        let app = spawn_app_with(&google_env(&fake, extra)).await;
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

    /// Another app instance for the same fake, sharing `database`, SESSION_KEY
    /// and TOKEN_KEY with the first (as `extra` gives them).
    async fn another_instance(&self, extra: &[(&str, String)]) -> TestApp {
        spawn_app_with(&google_env(&self.fake, extra)).await
    }

    /// The documented ID-token payload (id_token_claims_doc.json, with its
    /// string `email_verified`), issued now to us for `started`.
    fn id_token(&self, started: &StartedSignIn) -> String {
        self.fake.id_token(self.claims(started.nonce.as_deref()))
    }

    /// The ID-token claims, with `nonce` at sign-in and without at a refresh
    /// (OIDC Core §12.2).
    fn claims(&self, nonce: Option<&str>) -> Value {
        let mut claims = self
            .fake
            .fixture("google/id_token_claims_doc.json", REAL_HOSTS);
        claims["iss"] = json!(self.fake.issuer());
        claims["aud"] = json!(CLIENT_ID);
        claims["azp"] = json!(CLIENT_ID);
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        claims["name"] = json!("Jane Smith");
        let now = chrono::Utc::now().timestamp();
        claims["iat"] = json!(now);
        claims["exp"] = json!(now + 3600);
        // Its at_hash belongs to the documentation's access token, not ours.
        claims.as_object_mut().unwrap().remove("at_hash");
        claims
    }

    /// A whole sign-in; Google's callback adds `scope`, `authuser` and
    /// `prompt`, which are ignored (quirk 19).
    async fn sign_in(&self, return_to: &str) {
        self.sign_in_with_lifetime(return_to, 3599).await;
    }

    /// A whole sign-in whose access token lives `expires_in` seconds.
    async fn sign_in_with_lifetime(&self, return_to: &str, expires_in: u64) {
        let started = self.start_sign_in(return_to).await;
        let mut answer = token_response(Some(&self.id_token(&started)));
        answer["expires_in"] = json!(expires_in);
        // Once: a later sign-in gets its own answer (its own nonce).
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .up_to_n_times(1)
            .mount(&self.fake.server)
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

    /// Incremental consent after `sign_in`: `/mail`'s permission page and
    /// its button, then the same person comes back and the token response
    /// lists `scope` (as Google writes it: email and profile spelled out as
    /// userinfo URLs). Returns the callback's response, and the request's
    /// parameters.
    async fn answer_mail_request(&self, scope: &str) -> (reqwest::Response, url::Url) {
        let authorize = format!("{}/o/oauth2/v2/auth", self.fake.issuer());
        let started = ask_for_mail(&self.app, &self.browser, &authorize).await;
        let mut answer = token_response(Some(&self.id_token(&started)));
        answer["scope"] = json!(scope);
        self.fake
            .answer_next_token_request_at("/token", answer)
            .await;
        let response = come_back_with_code(&self.app, &self.browser, "google", &started).await;
        (response, url::Url::parse(&started.authorize_url).unwrap())
    }

    /// The mail permission, granted: back on `/mail`.
    async fn grant_mail(&self) {
        let (response, _) = self.answer_mail_request(GRANTED_WITH_GMAIL).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/mail");
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

/// A token response's `scope` after the mail permission was granted with
/// `include_granted_scopes=true`: the sign-in's scopes and Gmail.
const GRANTED_WITH_GMAIL: &str = "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile https://www.googleapis.com/auth/gmail.readonly";

/// The app's variables for the fake, plus `extra` (which win).
fn google_env<'a>(fake: &FakeIssuer, extra: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
    let mut env = vec![
        ("GOOGLE_CLIENT_ID", CLIENT_ID.to_owned()),
        ("GOOGLE_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("GOOGLE_ISSUER", fake.issuer()),
        ("GMAIL_API_URL", fake.issuer()),
    ];
    env.extend_from_slice(extra);
    env
}

#[tokio::test]
async fn the_sign_in_asks_for_offline_access_and_not_for_gmail() {
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
    assert!(!scope.contains("gmail"), "mail is asked for later: {scope}");
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
    google.grant_mail().await;

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
    google.grant_mail().await;
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
async fn a_message_in_windows_1252_shows_its_accents_and_euro_sign() {
    let google = FakeGoogle::start().await;
    google.sign_in("/mail").await;
    google.grant_mail().await;
    let mut full: Value = google
        .fake
        .fixture("google/gmail_messages_get_full_200.json", REAL_HOSTS);
    // The documented message's HTML part, in windows-1252 as many mailers
    // still send it: "Café: 5 €" (é = E9, € = 80).
    let part = &mut full["payload"]["parts"][1];
    part["headers"][0]["value"] = json!("text/html; charset=\"windows-1252\"");
    part["body"]["data"] =
        json!(base64::engine::general_purpose::URL_SAFE.encode(b"<p>Caf\xe9: 5 \x80</p>"));
    google
        .fake
        .mount_json("GET", &format!("{MESSAGES}/1783b4a3c4d5e6f7"), 200, full)
        .await;
    let (status, html) = google.get("/mail/1783b4a3c4d5e6f7").await;
    assert_eq!(status, StatusCode::OK);
    let body = &html[html.find("class=\"mail-body\"").expect("body")..];
    assert!(body.contains("Caf\u{e9}: 5 \u{20ac}"), "{body}");
}

#[tokio::test]
async fn a_gmail_message_larger_than_the_cap_is_a_clear_502() {
    let google = FakeGoogle::start().await;
    google.sign_in("/mail").await;
    google.grant_mail().await;
    let mut full: Value = google
        .fake
        .fixture("google/gmail_messages_get_full_200.json", REAL_HOSTS);
    // 5 MiB of inline body: over the 4 MiB cap on one message.
    full["payload"]["parts"][1]["body"]["data"] = json!("A".repeat(5 * 1024 * 1024));
    google
        .fake
        .mount_json("GET", &format!("{MESSAGES}/1783b4a3c4d5e6f7"), 200, full)
        .await;
    let (status, html) = google.get("/mail/1783b4a3c4d5e6f7").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(html.contains("too large"), "{html}");
}

#[tokio::test]
async fn an_empty_inbox_says_so() {
    let google = FakeGoogle::start().await;
    google.sign_in("/mail").await;
    google.grant_mail().await;
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
async fn gmail_rate_limits_and_a_token_refused_even_after_a_refresh_are_handled() {
    let google = FakeGoogle::start().await;
    google.sign_in("/mail").await;
    google.grant_mail().await;
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
    // A 401 gets one refresh and one more call; Gmail still refuses, so the
    // visitor signs in again (and no second refresh is tried).
    google.expect_refreshes(1).await;
    let response = google
        .browser
        .get(google.app.url("/mail"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?return_to=%2Fmail&expired=1");
    assert_eq!(
        google.app.stored_token_rows(),
        0,
        "refused after a refresh: dead"
    );
}

// --- Refresh (RFC 6749 §6) in Google's shapes -----------------------------

/// The refresh request the app sends with the sign-in's refresh token
/// (fixture token_request_refresh.txt: form body, grant_type=refresh_token).
fn refresh_request(refresh_token: &str) -> wiremock::MockBuilder {
    use wiremock::matchers::body_string_contains;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains(format!(
            "refresh_token={refresh_token}"
        )))
}

impl FakeGoogle {
    /// Google's documented refresh answer (token_success_refresh_200.json:
    /// no `refresh_token`), with a new ID token about `sub`, as Google sends
    /// when `openid` was granted.
    fn refresh_answer(&self, sub: &str) -> Value {
        let mut answer = self
            .fake
            .fixture("google/token_success_refresh_200.json", REAL_HOSTS);
        let mut claims = self.claims(None);
        claims["sub"] = json!(sub);
        answer["id_token"] = json!(self.fake.id_token(claims));
        answer
    }

    /// Google's answer to a refresh: new tokens about the same person.
    fn refreshed(&self) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(self.refresh_answer(&self.subject()))
    }

    /// Google answers the sign-in's refresh token with `refreshed`, and must
    /// be asked exactly `times` times (checked when the fake is dropped).
    async fn expect_refreshes(&self, times: u64) {
        refresh_request("fake-refresh-token")
            .respond_with(self.refreshed())
            .with_priority(1)
            .expect(times)
            .mount(&self.fake.server)
            .await;
    }

    /// Signed in (back at /profile) with an access token that expires in
    /// 30 s: within the app's 60 s margin, so the next API call refreshes
    /// first. Userinfo answers for the person.
    async fn sign_in_needing_a_refresh(&self) {
        self.answer_userinfo().await;
        self.sign_in_with_lifetime("/profile", 30).await;
    }

    /// The documented `sub` of the ID-token fixture (the person who signs in).
    fn subject(&self) -> String {
        self.claims(None)["sub"].as_str().unwrap().to_owned()
    }

    /// Userinfo for whoever the access token belongs to.
    async fn answer_userinfo(&self) {
        let userinfo = self
            .fake
            .fixture("google/userinfo_oidc_200.json", REAL_HOSTS);
        self.fake
            .mount_json("GET", "/v1/userinfo", 200, userinfo)
            .await;
    }
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_first_and_googles_refresh_token_is_kept() {
    let google = FakeGoogle::start().await;
    google.sign_in_needing_a_refresh().await;
    // Google answers without a refresh token; both refreshes must therefore
    // send the one from sign-in.
    google.expect_refreshes(2).await;

    let (status, page) = google.get("/profile").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // The new access token (3920 s) needs no refresh; an expired one does.
    let (status, _) = google.get("/profile?refresh=1").await;
    assert_eq!(status, StatusCode::OK);
    google.app.expire_access_tokens();
    let (status, _) = google.get("/profile?refresh=1").await;
    assert_eq!(status, StatusCode::OK);
    // `expect(2)` is checked when the fake server is dropped.
}

#[tokio::test]
async fn a_refreshed_id_token_about_someone_else_ends_the_tokens() {
    let google = FakeGoogle::start().await;
    google.sign_in_needing_a_refresh().await;
    refresh_request("fake-refresh-token")
        .respond_with(ResponseTemplate::new(200).set_body_json(google.refresh_answer("mallory")))
        .with_priority(1)
        .mount(&google.fake.server)
        .await;

    let response = google
        .browser
        .get(google.app.url("/profile"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&response),
        "/login?return_to=%2Fprofile&expired=changed"
    );
    assert_eq!(google.app.stored_token_rows(), 0, "the tokens are deleted");
    let (_, chooser) = google.get(&location(&response)).await;
    assert!(chooser.contains("for a different account"), "{chooser}");
}

#[tokio::test]
async fn googles_invalid_grant_at_refresh_asks_to_sign_in_again_and_comes_back() {
    let google = FakeGoogle::start().await;
    google.answer_userinfo().await;
    google.sign_in_with_lifetime("/mail", 30).await;
    let refused = google
        .fake
        .fixture("google/token_error_refresh_revoked_400.json", REAL_HOSTS);
    refresh_request("fake-refresh-token")
        .respond_with(ResponseTemplate::new(400).set_body_json(refused))
        .with_priority(1)
        .expect(1)
        .mount(&google.fake.server)
        .await;

    let response = google
        .browser
        .get(google.app.url("/profile"))
        .send()
        .await
        .unwrap();

    assert_eq!(
        location(&response),
        "/login?return_to=%2Fprofile&expired=refused"
    );
    assert_eq!(google.app.stored_token_rows(), 0);
    // The chooser is a page, not another redirect: no loop; and a new sign-in
    // comes back to the page.
    let (status, chooser) = google.get(&location(&response)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(chooser.contains("could not be renewed"), "{chooser}");
    google.sign_in("/profile").await;
    assert_eq!(google.get("/profile").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_provider_down_at_refresh_keeps_the_tokens_and_says_try_again() {
    let google = FakeGoogle::start().await;
    google.sign_in_needing_a_refresh().await;
    refresh_request("fake-refresh-token")
        .respond_with(ResponseTemplate::new(503).set_body_string("<html>down</html>"))
        .with_priority(1)
        .up_to_n_times(1)
        .mount(&google.fake.server)
        .await;
    refresh_request("fake-refresh-token")
        .respond_with(google.refreshed())
        .with_priority(2)
        .mount(&google.fake.server)
        .await;

    let (status, page) = google.get("/profile").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(page.contains("try again"), "{page}");
    assert_eq!(google.app.stored_token_rows(), 1, "the tokens are kept");

    let (status, _) = google.get("/profile").await;
    assert_eq!(status, StatusCode::OK, "the next request refreshes");
}

/// Several requests needing a refresh at once, on `apps` (one or more app
/// instances sharing one database), each with `per_app` requests at the same
/// moment. Exactly one refresh request may reach the provider.
async fn concurrent_requests_refresh_once(google: &FakeGoogle, apps: &[&TestApp], per_app: usize) {
    google.sign_in_needing_a_refresh().await;
    refresh_request("fake-refresh-token")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(google.refresh_answer(&google.subject()))
                // Long enough for every other request to arrive meanwhile.
                .set_delay(std::time::Duration::from_millis(300)),
        )
        .with_priority(1)
        .expect(1)
        .mount(&google.fake.server)
        .await;

    let requests = apps.iter().flat_map(|app| {
        (0..per_app).map(|_| google.browser.get(app.url("/profile?refresh=1")).send())
    });
    for response in futures_util::future::join_all(requests).await {
        assert_eq!(response.unwrap().status(), StatusCode::OK);
    }
    // The requests that waited used the one refresh's result: none called
    // the API with the token that was about to expire.
    let refreshed = google.refresh_answer(&google.subject())["access_token"]
        .as_str()
        .map(|token| format!("Bearer {token}"));
    let calls = google.fake.received_at("/v1/userinfo").await;
    assert_eq!(calls.len(), apps.len() * per_app);
    for call in calls {
        let bearer = call
            .headers
            .get("authorization")
            .map(|value| value.to_str().unwrap().to_owned());
        assert_eq!(bearer, refreshed);
    }
}

/// As if another instance had taken the refresh lease for `seconds` from now
/// (the lease's row, written as `db::tokens::take_refresh_lease` writes it).
fn hold_refresh_lease_for(app: &TestApp, seconds: i64) {
    use diesel::prelude::*;
    use signin_reference::db::schema::provider_tokens;
    let until = chrono::Utc::now().timestamp() + seconds;
    diesel::update(provider_tokens::table)
        .set(provider_tokens::refresh_lease_until.eq(Some(until)))
        .execute(&mut app.database())
        .unwrap();
}

#[tokio::test]
async fn a_lease_left_by_a_holder_that_stopped_is_taken_over_once_it_expires() {
    let google = FakeGoogle::start().await;
    google.sign_in_needing_a_refresh().await;
    google.expect_refreshes(1).await;
    // The instance that took it stopped mid-refresh: nobody will give it
    // back, so this request waits for it to expire and refreshes itself.
    hold_refresh_lease_for(&google.app, 1);

    let (status, page) = google.get("/profile?refresh=1").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    google.fake.server.verify().await;
}

#[tokio::test]
async fn a_lease_that_never_ends_makes_the_waiting_request_give_up_after_the_lease_and_two_seconds()
{
    // HTTP_TIMEOUT=1: leases last 2 × 1 + 5 = 7 s (startup.rs), so a request
    // waits at most 9 s.
    let google = FakeGoogle::start_with(&[("HTTP_TIMEOUT", "1".to_owned())]).await;
    google.sign_in_needing_a_refresh().await;
    // Another instance holds the lease and keeps it (its clock runs an hour
    // ahead, say): this request can neither take it nor see a result.
    hold_refresh_lease_for(&google.app, 3600);

    let started = std::time::Instant::now();
    let (status, page) = google.get("/profile?refresh=1").await;
    let waited = started.elapsed();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{page}");
    assert!(page.contains("try again"), "{page}");
    // A lower bound only: it cannot answer sooner, and a loaded machine may
    // answer later.
    assert!(waited >= std::time::Duration::from_secs(9), "{waited:?}");
    assert_eq!(google.app.stored_token_rows(), 1, "the tokens are kept");
}

#[tokio::test]
async fn when_the_refreshing_request_finds_the_provider_down_a_waiting_one_refreshes_instead() {
    let google = FakeGoogle::start().await;
    google.sign_in_needing_a_refresh().await;
    // The first refresh finds Google down, after long enough for the other
    // request to be waiting for it. It gives the lease back, and the
    // waiting request takes it and refreshes.
    refresh_request("fake-refresh-token")
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_string("<html>down</html>")
                .set_delay(std::time::Duration::from_millis(300)),
        )
        .with_priority(1)
        .up_to_n_times(1)
        .mount(&google.fake.server)
        .await;
    refresh_request("fake-refresh-token")
        .respond_with(google.refreshed())
        .with_priority(2)
        .mount(&google.fake.server)
        .await;

    let requests = (0..2).map(|_| {
        google
            .browser
            .get(google.app.url("/profile?refresh=1"))
            .send()
    });
    let mut statuses: Vec<StatusCode> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(|response| response.unwrap().status())
        .collect();
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::BAD_GATEWAY]);
    let refreshes = google.fake.received_at("/token").await;
    let refreshes = refreshes
        .iter()
        .filter(|request| {
            String::from_utf8_lossy(&request.body).contains("grant_type=refresh_token")
        })
        .count();
    assert_eq!(
        refreshes, 2,
        "the first, refused; the second, by the waiting request"
    );
}

#[tokio::test]
async fn ten_requests_needing_a_refresh_at_once_send_one_refresh_request() {
    let google = FakeGoogle::start().await;
    concurrent_requests_refresh_once(&google, &[&google.app], 10).await;
}

#[tokio::test]
async fn two_app_instances_on_one_database_send_one_refresh_request() {
    let database = crate::helpers::TestDatabase::new();
    let shared = crate::helpers::shared_instance_vars(&database);
    let google = FakeGoogle::start_with(&shared).await;
    let other = google.another_instance(&shared).await;
    // The browser's cookie is for 127.0.0.1, whichever port: both instances
    // see the same session.
    concurrent_requests_refresh_once(&google, &[&google.app, &other], 5).await;
}

// --- Sign-out at Google: RFC 7009 revocation, no end-session endpoint ------

/// Google's revocation endpoint (discovery `revocation_endpoint`, fixture
/// revoke_request.txt) answering `status` to a request for `token`.
fn revocation_of(token: &str) -> wiremock::MockBuilder {
    use wiremock::matchers::body_string_contains;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .and(body_string_contains(format!("token={token}")))
}

#[tokio::test]
async fn a_key_rotation_finishes_although_google_never_resends_its_refresh_token() {
    use crate::helpers::{TestDatabase, random_key, shared_redis_vars, tokens_all_open_under};
    let database = TestDatabase::new();
    let (old_key, new_key) = (random_key(32), random_key(32));
    let mut shared = vec![
        ("DATABASE_URL", database.url.clone()),
        ("SESSION_KEY", random_key(64)),
    ];
    shared.extend(shared_redis_vars());
    let with = |more: &[(&'static str, &String)]| {
        let mut vars = shared.clone();
        vars.extend(more.iter().map(|(name, value)| (*name, (*value).clone())));
        vars
    };
    let google = FakeGoogle::start_with(&with(&[("TOKEN_KEY", &old_key)])).await;
    // Google sent the refresh token once, at this first consent.
    google.sign_in_needing_a_refresh().await;

    // Step 1 of the rotation: the new key, the old one as previous. At
    // start-up the instance seals every token again under the new key.
    let rotating = google
        .another_instance(&with(&[
            ("TOKEN_KEY", &new_key),
            ("TOKEN_KEY_PREVIOUS", &old_key),
        ]))
        .await;
    tokens_all_open_under(&rotating, &new_key).await;

    // Step 2: the old key removed. The refresh token, never sent again by
    // Google, still opens; the refresh works and the person is still in.
    let after = google
        .another_instance(&with(&[("TOKEN_KEY", &new_key)]))
        .await;
    google.expect_refreshes(1).await;
    let (status, page) = after.get_html(&google.browser, "/profile").await;
    assert_eq!(status, StatusCode::OK, "{page}");
}

/// Google answers the revocation of the sign-in's refresh token and access
/// token, and must be asked once for each (checked when the fake is dropped).
async fn expect_both_revoked(google: &FakeGoogle) {
    for token in ["fake-refresh-token", "fake-access-token"] {
        revocation_of(token)
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&google.fake.server)
            .await;
    }
}

#[tokio::test]
async fn a_last_session_that_goes_idle_has_its_tokens_revoked_at_google() {
    // SESSION_IDLE_TIMEOUT=2: swept every second (`sweeper::period`).
    let google = FakeGoogle::start_with(&[("SESSION_IDLE_TIMEOUT", "2".to_owned())]).await;
    google.sign_in("/profile").await;
    expect_both_revoked(&google).await;

    // Nobody comes back: the refresh token is revoked at Google and
    // deleted here all the same (the mocks check one request each).
    let started = std::time::Instant::now();
    while google.fake.received_at("/revoke").await.len() < 2 {
        assert!(started.elapsed().as_secs() < 15, "never revoked");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(google.app.stored_token_rows(), 0);
    assert_eq!(google.app.stored_session_rows(), 0);
}

#[tokio::test]
async fn signing_out_of_google_too_revokes_the_refresh_token_then_the_access_token() {
    let google = FakeGoogle::start().await;
    google.sign_in("/profile").await;
    expect_both_revoked(&google).await;

    let response = google
        .app
        .post_with_csrf(&google.browser, "/logout/provider")
        .await;

    // Google has no end-session endpoint: straight to our page, which says so
    // and what the person can do at Google themselves.
    assert_eq!(location(&response), "/signed-out");
    let (_, page) = google.get("/signed-out").await;
    assert!(page.contains("Google confirmed"), "{page}");
    assert!(
        page.contains("gives apps no way to end your session"),
        "{page}"
    );
    assert!(page.contains("sign out at google.com too"), "{page}");
    assert_eq!(google.app.stored_token_rows(), 0);
}

#[tokio::test]
async fn a_sign_out_clears_everything_here_even_when_google_cannot_revoke() {
    let google = FakeGoogle::start().await;
    google.sign_in("/profile").await;
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .respond_with(ResponseTemplate::new(500).set_body_string("<html>oops</html>"))
        .mount(&google.fake.server)
        .await;

    let response = google
        .app
        .post_with_csrf(&google.browser, "/logout/provider")
        .await;

    assert_eq!(location(&response), "/signed-out");
    let (_, page) = google.get("/signed-out").await;
    assert!(page.contains("did not confirm"), "{page}");
    assert_eq!(google.app.stored_token_rows(), 0, "deleted anyway");
    assert_eq!(google.get("/profile").await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn only_a_400_invalid_token_from_googles_revocation_means_already_revoked() {
    // Quirk 39: Google answers 400 `invalid_token` for a token that is
    // already dead, where RFC 7009 §2.2 says 200. Gone is what we want; any
    // other 400, or the same words with another status, is no confirmation.
    let invalid_token = json!({"error": "invalid_token"});
    for (status, error, confirmed) in [
        (400, None, true),
        (400, Some(json!({"error": "invalid_request"})), false),
        (503, Some(invalid_token), false),
    ] {
        let google = FakeGoogle::start().await;
        google.sign_in("/profile").await;
        let error = error.unwrap_or_else(|| {
            google
                .fake
                .fixture("google/revoke_error_invalid_token_400.json", REAL_HOSTS)
        });
        revocation_of("fake-refresh-token")
            .respond_with(ResponseTemplate::new(status).set_body_json(&error))
            .mount(&google.fake.server)
            .await;
        revocation_of("fake-access-token")
            .respond_with(ResponseTemplate::new(200))
            .mount(&google.fake.server)
            .await;

        google
            .app
            .post_with_csrf(&google.browser, "/logout/provider")
            .await;

        let (_, page) = google.get("/signed-out").await;
        let said = if confirmed {
            "Google confirmed"
        } else {
            "did not confirm"
        };
        assert!(page.contains(said), "{status} {error}: {page}");
        assert_eq!(google.app.stored_token_rows(), 0, "deleted either way");
    }
}

// --- Mail asked for when it is needed (incremental consent) ---------------

#[tokio::test]
async fn the_mail_request_adds_gmail_with_include_granted_scopes() {
    let google = FakeGoogle::start().await;
    google.sign_in("/profile").await;
    let (response, url) = google.answer_mail_request(GRANTED_WITH_GMAIL).await;
    assert_eq!(location(&response), "/mail");
    let param = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    let scope = param("scope").unwrap();
    for wanted in [
        "openid",
        "email",
        "profile",
        "https://www.googleapis.com/auth/gmail.readonly",
    ] {
        assert!(scope.split(' ').any(|s| s == wanted), "{wanted} in {scope}");
    }
    // Google's incremental authorization keeps the earlier grants in the new
    // token; access_type=offline keeps the refresh token coming.
    assert_eq!(param("include_granted_scopes").as_deref(), Some("true"));
    assert_eq!(param("access_type").as_deref(), Some("offline"));
}

#[tokio::test]
async fn a_token_response_without_gmail_readonly_is_shown_as_mail_not_allowed() {
    let google = FakeGoogle::start().await;
    google.sign_in("/profile").await;

    // Granular consent: the person unticked Gmail on Google's consent page;
    // the token response's `scope` says what was granted (RFC 6749 §5.1).
    let (response, _) = google
        .answer_mail_request(
            "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile",
        )
        .await;

    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "not a failure page"
    );
    assert_eq!(location(&response), "/mail?permission=not-granted");
    let (status, mail) = google.get(&location(&response)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(mail.contains("Mail was not allowed"), "{mail}");
    assert!(mail.contains("gmail.readonly"), "{mail}");
    // No Gmail request was made with a token that cannot read mail.
    let gmail_calls = google
        .fake
        .paths_received()
        .await
        .iter()
        .filter(|path| path.starts_with("/gmail/"))
        .count();
    assert_eq!(gmail_calls, 0);
    // The profile shows Gmail as asked for and not granted, and the
    // sign-in's scopes as granted (Google writes email and profile as
    // userinfo URLs).
    google.answer_userinfo().await;
    let (_, profile) = google.get("/profile").await;
    assert!(profile.contains("not granted (yet)"), "{profile}");
    assert!(
        !profile.contains("<strong>not granted</strong>"),
        "{profile}"
    );
}

#[tokio::test]
async fn a_mail_permission_answered_by_another_google_account_changes_nothing() {
    let google = FakeGoogle::start().await;
    google.sign_in("/profile").await;
    let tokens_before = google.app.stored_token_rows();

    // At Google's account chooser, someone picks another account and allows
    // Gmail: its ID token names another `sub`.
    let authorize = format!("{}/o/oauth2/v2/auth", google.fake.issuer());
    let started = ask_for_mail(&google.app, &google.browser, &authorize).await;
    let mut claims = google.claims(started.nonce.as_deref());
    claims["sub"] = json!("another-google-account");
    let mut answer = token_response(Some(&google.fake.id_token(claims)));
    answer["scope"] = json!(GRANTED_WITH_GMAIL);
    google
        .fake
        .answer_next_token_request_at("/token", answer)
        .await;
    let response = come_back_with_code(&google.app, &google.browser, "google", &started).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.unwrap();
    assert!(html.contains("different account"), "{html}");
    assert_eq!(attribute_values(&html, "a.button", "href")[0], "/mail");
    // Still the same person, with the sign-in's tokens; the other account's
    // were stored nowhere, so /mail still asks for the permission.
    assert_eq!(google.app.stored_token_rows(), tokens_before);
    let (status, mail) = google.get("/mail").await;
    assert_eq!(status, StatusCode::OK);
    assert!(mail.contains("Allow this app to read your mail"), "{mail}");
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn a_google_account_linked_by_a_signed_in_person_then_signs_them_in() {
    let google = FakeGoogle::start().await;
    let (app, browser) = (&google.app, &google.browser);
    app.sign_in(browser, "/profile", "alice").await;
    let authorize = format!("{}/o/oauth2/v2/auth", google.fake.issuer());
    let started = start_link(app, browser, "google", &authorize).await;
    google
        .fake
        .answer_next_token_request_at("/token", token_response(Some(&google.id_token(&started))))
        .await;
    let linked = come_back_with_code(app, browser, "google", &started).await;
    crate::linking::linked_then_signs_in_as_the_same_person(
        app,
        browser,
        linked,
        "Google",
        google.sign_in("/profile"),
    )
    .await;
}
