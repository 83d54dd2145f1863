//! GitHub against a fake on 127.0.0.1 that replays the documented shapes of
//! GitHub's OAuth app flow and REST API (tests/fixtures/github, sources in
//! tests/fixtures/SOURCES.md). One wiremock server plays github.com
//! (GITHUB_URL) and api.github.com (GITHUB_API_URL).

use reqwest::StatusCode;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::fake_issuer::{
    CLIENT_ID, CLIENT_SECRET, FakeIssuer, StartedSignIn, come_back_with_code, start_link,
    start_sign_in,
};
use crate::helpers::{TestApp, browser, location, spawn_app_with};

const REAL_HOSTS: &[&str] = &["github.com", "api.github.com"];
const TOKEN_PATH: &str = "/login/oauth/access_token";

struct FakeGitHub {
    fake: FakeIssuer,
    app: TestApp,
    browser: reqwest::Client,
}

impl FakeGitHub {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// The fake and an app configured for it, with `extra` variables.
    async fn start_with(extra: &[(&'static str, String)]) -> Self {
        let fake = FakeIssuer::start().await;
        let mut env = vec![
            ("GITHUB_CLIENT_ID", CLIENT_ID.to_owned()),
            ("GITHUB_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
            ("GITHUB_URL", fake.issuer()),
            ("GITHUB_API_URL", fake.issuer()),
        ];
        env.extend_from_slice(extra);
        let app = spawn_app_with(&env).await;
        FakeGitHub {
            fake,
            app,
            browser: browser(),
        }
    }

    async fn start_sign_in(&self, return_to: &str) -> StartedSignIn {
        let authorize = format!("{}/login/oauth/authorize", self.fake.issuer());
        start_sign_in(&self.app, &self.browser, "github", return_to, &authorize).await
    }

    /// The token endpoint answers with a fixture, always with HTTP 200 as
    /// GitHub does (quirk 26), but only to a request that asks for JSON and
    /// carries our credentials and PKCE verifier in the form body.
    async fn answer_token_request_with(&self, fixture: &str) {
        let body = self.fake.fixture(fixture, REAL_HOSTS);
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .and(header("accept", "application/json"))
            .and(body_string_contains(format!("client_id={CLIENT_ID}")))
            .and(body_string_contains(format!(
                "client_secret={CLIENT_SECRET}"
            )))
            .and(body_string_contains("code_verifier="))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&self.fake.server)
            .await;
    }

    /// A whole sign-in back to /profile, the token endpoint answering with
    /// `token_fixture`, and the API with the documented user and emails.
    async fn sign_in(&self, token_fixture: &str) {
        let started = self.start_sign_in("/profile").await;
        self.answer_token_request_with(token_fixture).await;
        self.mount_documented_user().await;
        let response = come_back_with_code(&self.app, &self.browser, "github", &started).await;
        assert_eq!(location(&response), "/profile");
    }

    /// The API answers with the documented user (private profile) and emails.
    async fn mount_documented_user(&self) {
        self.mount_api("/user", "github/user_get_private_200.json")
            .await;
        self.mount_api("/user/emails", "github/user_emails_list_200.json")
            .await;
    }

    async fn mount_api(&self, at: &str, fixture: &str) {
        let body = self.fake.fixture(fixture, REAL_HOSTS);
        self.fake.mount_json("GET", at, 200, body).await;
    }
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn a_github_sign_in_reads_who_signed_in_from_the_api_and_says_there_is_no_mail() {
    let github = FakeGitHub::start().await;
    let (_, home) = github.app.get_html(&github.browser, "/").await;
    assert!(home.contains("Sign in with GitHub"));

    let started = github.start_sign_in("/profile").await;
    assert!(started.nonce.is_none(), "no OpenID Connect, so no nonce");
    let url = url::Url::parse(&started.authorize_url).unwrap();
    let scope = url
        .query_pairs()
        .find(|(key, _)| key == "scope")
        .map(|(_, value)| value.into_owned());
    assert_eq!(scope.as_deref(), Some("read:user user:email"));
    assert!(started.authorize_url.contains("code_challenge_method=S256"));

    github
        .answer_token_request_with("github/oauth_access_token_success_json_200.json")
        .await;
    github.mount_documented_user().await;
    let response = come_back_with_code(&github.app, &github.browser, "github", &started).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/profile");

    let (status, profile) = github.app.get_html(&github.browser, "/profile").await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert!(profile.contains("monalisa octocat") && profile.contains("octocat@github.com"));
    // GitHub lists granted scopes with commas (quirk 27).
    assert!(profile.contains("<code>repo</code>") && profile.contains("<code>gist</code>"));
    assert!(!profile.contains("Open your mail"));
    // Plain OAuth has no issuer: the origin of the authorization endpoint
    // numbers GitHub's users, and keys this person with their user id.
    assert_eq!(
        github.app.identity_keys(),
        [("github".to_owned(), github.fake.issuer(), "1".to_owned())]
    );
    // GitHub takes the client secret in the form body (quirk 26's fixture).
    let (_, flow) = github.app.get_html(&github.browser, "/flow").await;
    assert!(
        flow.contains("sent by form body (client_secret_post)"),
        "{flow}"
    );

    let (status, mail) = github.app.get_html(&github.browser, "/mail").await;
    assert_eq!(status, StatusCode::OK);
    assert!(mail.contains("GitHub has no mail API"), "{mail}");
    github.fake.server.verify().await;
}

#[tokio::test]
async fn only_a_primary_verified_address_is_taken_from_the_email_list() {
    let github = FakeGitHub::start().await;
    let started = github.start_sign_in("/profile").await;
    github
        .answer_token_request_with("github/oauth_access_token_success_json_200.json")
        .await;
    github
        .mount_api("/user", "github/user_get_public_no_email_200.json")
        .await;
    // The shape of user_emails_list_200.json, with no primary verified entry.
    let unverified = serde_json::json!([
        {"email": "unverified@example.com", "primary": true, "verified": false, "visibility": "private"},
        {"email": "other@example.com", "primary": false, "verified": true, "visibility": null}
    ]);
    github
        .fake
        .mount_json("GET", "/user/emails", 200, unverified)
        .await;
    let response = come_back_with_code(&github.app, &github.browser, "github", &started).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, profile) = github.app.get_html(&github.browser, "/profile").await;
    assert!(!profile.contains("unverified@example.com"), "{profile}");
    assert!(!profile.contains("other@example.com"));
}

#[tokio::test]
async fn an_error_sent_with_http_200_is_treated_as_the_error_it_is() {
    let github = FakeGitHub::start().await;
    let started = github.start_sign_in("/profile").await;
    github
        .answer_token_request_with("github/oauth_access_token_error_bad_verification_code_200.json")
        .await;
    let response = come_back_with_code(&github.app, &github.browser, "github", &started).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(html.contains("bad_verification_code"), "{html}");
    assert!(html.contains("The code passed is incorrect or expired."));
    assert!(html.contains("What to do") && html.contains("Start the sign-in again"));
    assert!(html.contains("Try again"));
}

#[tokio::test]
async fn a_revoked_github_token_asks_to_sign_in_again() {
    let github = FakeGitHub::start().await;
    github
        .sign_in("github/oauth_access_token_success_json_200.json")
        .await;

    github.fake.server.reset().await;
    let bad_credentials = github
        .fake
        .fixture("github/api_error_401_bad_credentials.json", REAL_HOSTS);
    github
        .fake
        .mount_json("GET", "/user", 401, bad_credentials)
        .await;
    let response = github
        .browser
        .get(github.app.url("/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?return_to=%2Fprofile&expired=1");
}

#[tokio::test]
async fn signing_out_of_github_too_deletes_the_grant_with_the_apps_credentials() {
    use base64::Engine as _;
    let github = FakeGitHub::start().await;
    github
        .sign_in("github/oauth_access_token_success_json_200.json")
        .await;
    // "Delete an app authorization" (fixture api_delete_grant_request.txt):
    // HTTP Basic with the app's id and secret, the user's token in the body.
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    Mock::given(method("DELETE"))
        .and(path(format!("/applications/{CLIENT_ID}/grant")))
        .and(header("authorization", format!("Basic {basic}").as_str()))
        .and(body_string_contains(
            "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        ))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&github.fake.server)
        .await;

    let response = github
        .app
        .post_with_csrf(&github.browser, "/logout/provider")
        .await;

    assert_eq!(location(&response), "/signed-out");
    let (_, page) = github.app.get_html(&github.browser, "/signed-out").await;
    assert!(page.contains("GitHub confirmed"), "{page}");
    assert!(
        page.contains("GitHub keeps you signed in to github.com"),
        "{page}"
    );
}

/// "Delete an app authorization" answers 404 when the grant is already gone
/// (lifecycle_notes.txt): gone is what we want. A 422 (the documented
/// validation failure) is no confirmation.
#[tokio::test]
async fn a_grant_already_deleted_at_github_counts_as_revoked_and_a_refusal_does_not() {
    for (status, fixture, confirmed) in [
        (404, "github/api_delete_grant_error_404.json", true),
        (422, "github/api_delete_grant_error_422.json", false),
    ] {
        let github = FakeGitHub::start().await;
        github
            .sign_in("github/oauth_access_token_success_json_200.json")
            .await;
        let answer = github.fake.fixture(fixture, REAL_HOSTS);
        github
            .fake
            .mount_json(
                "DELETE",
                &format!("/applications/{CLIENT_ID}/grant"),
                status,
                answer,
            )
            .await;

        github
            .app
            .post_with_csrf(&github.browser, "/logout/provider")
            .await;

        let (_, page) = github.app.get_html(&github.browser, "/signed-out").await;
        let said = if confirmed {
            "GitHub confirmed"
        } else {
            "did not confirm"
        };
        assert!(page.contains(said), "{status}: {page}");
        assert_eq!(github.app.stored_token_rows(), 0, "deleted either way");
    }
}

/// The person signed in with GitHub; then the app was restarted without
/// GitHub's variables. Signing out at the provider cannot reach GitHub and
/// says so (not that GitHub offers no way), and deletes the tokens; with none
/// left (a refused refresh deleted them), it says there was nothing to revoke.
#[tokio::test]
async fn signing_out_after_github_was_removed_from_the_configuration_says_what_became_of_the_tokens()
 {
    for tokens_held in [true, false] {
        let database = crate::helpers::TestDatabase::new();
        let shared = crate::helpers::shared_instance_vars(&database);
        let github = FakeGitHub::start_with(&shared).await;
        github
            .sign_in("github/oauth_access_token_success_json_200.json")
            .await;
        if !tokens_held {
            github.app.delete_stored_tokens();
        }
        let without_github = spawn_app_with(&shared).await;

        // Its profile cannot be shown any more; every page offers sign-out.
        let (_, home) = without_github.get_html(&github.browser, "/").await;
        let csrf_token = crate::helpers::input_value(&home, "csrf_token");
        github
            .browser
            .post(without_github.url("/logout/provider"))
            .form(&[("csrf_token", csrf_token.as_str())])
            .send()
            .await
            .unwrap();

        let (_, page) = without_github
            .get_html(&github.browser, "/signed-out")
            .await;
        let said = if tokens_held {
            "no longer set up to talk to github"
        } else {
            "No tokens from github were stored"
        };
        assert!(page.contains(said), "{page}");
        assert_eq!(without_github.stored_token_rows(), 0);
        assert!(
            github
                .fake
                .paths_received()
                .await
                .iter()
                .all(|path| !path.starts_with("/applications/")),
            "nothing was sent to GitHub"
        );
    }
}

/// GitHub Apps with expiring user tokens get a refresh token (OAuth apps
/// never do); both tokens rotate at each refresh, and a used or expired one
/// is refused with HTTP 200 and `bad_refresh_token` (quirk 26's shape).
#[tokio::test]
async fn a_github_app_token_is_refreshed_with_rotation_and_a_refused_one_asks_to_sign_in() {
    let github = FakeGitHub::start().await;
    github
        .sign_in("github/oauth_access_token_expiring_success_captured.json")
        .await;
    let refresh_with = |token: &str| {
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .and(body_string_contains("grant_type=refresh_token"))
            .and(body_string_contains(format!("refresh_token={token}")))
            .and(body_string_contains(format!(
                "client_secret={CLIENT_SECRET}"
            )))
    };
    let rotated = github
        .fake
        .fixture("github/oauth_refresh_token_success_200.json", REAL_HOSTS);
    refresh_with("%5BREDACTED%5D")
        .respond_with(ResponseTemplate::new(200).set_body_json(rotated))
        .expect(1)
        .mount(&github.fake.server)
        .await;
    let refused = github.fake.fixture(
        "github/oauth_refresh_token_error_bad_refresh_token_200_captured.json",
        REAL_HOSTS,
    );
    refresh_with(
        "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(refused))
    .expect(1)
    .mount(&github.fake.server)
    .await;

    github.app.expire_access_tokens();
    let (status, _) = github
        .app
        .get_html(&github.browser, "/profile?refresh=1")
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "refreshed with the first refresh token"
    );

    github.app.expire_access_tokens();
    let response = github
        .browser
        .get(github.app.url("/profile?refresh=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&response),
        "/login?return_to=%2Fprofile%3Frefresh%3D1&expired=refused"
    );
    assert_eq!(github.app.stored_token_rows(), 0);
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn a_github_account_linked_by_a_signed_in_person_then_signs_them_in() {
    let github = FakeGitHub::start().await;
    let (app, browser) = (&github.app, &github.browser);
    app.sign_in(browser, "/profile", "alice").await;
    let authorize = format!("{}/login/oauth/authorize", github.fake.issuer());
    let started = start_link(app, browser, "github", &authorize).await;
    // GitHub says who it is through its API, not an ID token.
    let token = github.fake.fixture(
        "github/oauth_access_token_success_json_200.json",
        REAL_HOSTS,
    );
    github
        .fake
        .answer_next_token_request_at(TOKEN_PATH, token)
        .await;
    github.mount_documented_user().await;
    let linked = come_back_with_code(app, browser, "github", &started).await;
    crate::linking::linked_then_signs_in_as_the_same_person(
        app,
        browser,
        linked,
        "GitHub",
        github.sign_in("github/oauth_access_token_success_json_200.json"),
    )
    .await;
}

#[tokio::test]
async fn a_fresh_sign_in_at_github_is_a_new_round_trip_then_the_link_offers_the_account_picker() {
    // GitHub has no `max_age` nor `auth_time`: the round trip that comes
    // back with the same GitHub user is the fresh sign-in.
    let github = FakeGitHub::start_with(&[("REAUTH_MAX_AGE", "0".to_owned())]).await;
    let token = github.fake.fixture(
        "github/oauth_access_token_success_json_200.json",
        REAL_HOSTS,
    );
    // Every code gets the same answer here: one sign-in, then one again.
    github.fake.mount_json("POST", TOKEN_PATH, 200, token).await;
    github.mount_documented_user().await;
    let started = github.start_sign_in("/profile").await;
    let signed_in = come_back_with_code(&github.app, &github.browser, "github", &started).await;
    assert_eq!(location(&signed_in), "/profile");

    let authorize = format!("{}/login/oauth/authorize", github.fake.issuer());
    let again = start_link(&github.app, &github.browser, "github", &authorize).await;
    let url = url::Url::parse(&again.authorize_url).unwrap();
    assert!(
        url.query_pairs()
            .all(|(name, _)| name != "max_age" && name != "prompt"),
        "a plain round trip: {url}"
    );
    let back = come_back_with_code(&github.app, &github.browser, "github", &again).await;

    // The same GitHub user came back: the link goes on, asking GitHub for
    // its account picker (documented `prompt=select_account`).
    assert_eq!(back.status(), StatusCode::OK);
    let html = back.text().await.unwrap();
    let link_url = crate::helpers::attribute_values(&html, "a.continue", "href")
        .pop()
        .unwrap_or_else(|| panic!("{html}"));
    assert!(link_url.starts_with(&authorize), "{link_url}");
    assert_eq!(
        crate::helpers::query_value(&link_url, "prompt"),
        "select_account"
    );
}

#[tokio::test]
async fn a_github_callback_naming_another_issuer_is_refused_before_the_code_is_used() {
    let github = FakeGitHub::start().await;
    github.mount_documented_user().await;
    let token = github.fake.fixture(
        "github/oauth_access_token_success_json_200.json",
        REAL_HOSTS,
    );
    github.fake.mount_json("POST", TOKEN_PATH, 200, token).await;
    let callback = |started: &StartedSignIn, iss: String| {
        github
            .browser
            .get(github.app.url("/auth/github/callback"))
            .query(&[
                ("code", "the-code"),
                ("state", started.state.as_str()),
                ("iss", iss.as_str()),
            ])
            .send()
    };

    // RFC 9207: GitHub names itself `{GITHUB_URL}/login/oauth` on its
    // callbacks. An answer naming another authorization server (a mix-up:
    // another provider's response sent to our GitHub callback) is refused,
    // and its code never goes to GitHub's token endpoint.
    let started = github.start_sign_in("/profile").await;
    let refused = callback(&started, "https://evil.example/login/oauth".to_owned())
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.unwrap();
    assert!(html.contains("different provider"), "{html}");
    assert_eq!(github.fake.requests_to(TOKEN_PATH).await, 0);
    assert_eq!(github.app.stored_session_rows(), 0);

    // GitHub's own `iss`: signed in.
    let started = github.start_sign_in("/profile").await;
    let signed_in = callback(&started, format!("{}/login/oauth", github.fake.issuer()))
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_in), "/profile");
}
