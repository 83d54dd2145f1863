//! The provider that tests of the core sign in at, in either build: the demo
//! provider when it is built in (the `demo-provider` feature), else a fake
//! OpenID Connect provider (`FakeIssuer`) configured as the generic one. A
//! test written against it proves a protection of the core in both builds:
//! `cargo test` runs it at the demo provider, `cargo test
//! --no-default-features` at the fake.

#[cfg(not(feature = "demo-provider"))]
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::helpers::{TestApp, location, spawn_app_with};

#[cfg(not(feature = "demo-provider"))]
use crate::fake_issuer::{CLIENT_ID, FakeIssuer, start_sign_in, token_response};

/// A provider to sign in at, and the app configured for it.
pub struct Provider {
    /// The app's id for it: `/auth/{id}/...`.
    pub id: &'static str,
    /// Its issuer (what the callback's `iss` names).
    pub issuer: String,
    /// Its name on the pages.
    pub name: &'static str,
    #[cfg(not(feature = "demo-provider"))]
    fake: FakeIssuer,
    #[cfg(not(feature = "demo-provider"))]
    codes: AtomicUsize,
}

/// The app with the test provider.
pub async fn spawn() -> (TestApp, Provider) {
    spawn_with::<&str>(&[]).await
}

/// `spawn`, with more environment variables.
#[cfg(feature = "demo-provider")]
pub async fn spawn_with<V: AsRef<str>>(vars: &[(&str, V)]) -> (TestApp, Provider) {
    let app = spawn_app_with(vars).await;
    let issuer = app.demo_address.clone();
    (
        app,
        Provider {
            id: "demo",
            issuer,
            name: "Demo provider",
        },
    )
}

/// `spawn`, with more environment variables.
#[cfg(not(feature = "demo-provider"))]
pub async fn spawn_with<V: AsRef<str>>(vars: &[(&str, V)]) -> (TestApp, Provider) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};

    let fake = FakeIssuer::start().await;
    // It puts `iss` in every answer and says so (RFC 9207 §3), as the demo
    // provider does, so the mix-up defence is tested at either.
    let mut discovery = fake.discovery_document();
    discovery["authorization_response_iss_parameter_supported"] = serde_json::json!(true);
    fake.mount_json("GET", "/.well-known/openid-configuration", 200, discovery)
        .await;
    fake.mount_jwks("/jwks").await;
    // A code this fake did not issue is refused, as a real provider does
    // (RFC 6749 §5.2); each issued code gets its own answer (`authorize`).
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": "invalid_grant",
            "error_description": "The code is not valid.",
        })))
        .with_priority(10)
        .mount(&fake.server)
        .await;
    let mut all: Vec<(&str, String)> = fake.oidc_env();
    all.extend(
        vars.iter()
            .map(|(name, value)| (*name, value.as_ref().to_owned())),
    );
    let app = spawn_app_with(&all).await;
    let issuer = fake.issuer();
    let provider = Provider {
        id: "oidc",
        issuer,
        // OIDC_DISPLAY_NAME in `FakeIssuer::oidc_env`.
        name: "Fake",
        fake,
        codes: AtomicUsize::new(0),
    };
    (app, provider)
}

impl Provider {
    /// Steps 3 to 5 up to the provider's redirect back: starts a sign-in at
    /// `/auth/{id}/login` coming back to `return_to`, and has `user` sign in
    /// and allow. Returns the callback URL, with its code.
    pub async fn authorize(
        &self,
        app: &TestApp,
        browser: &reqwest::Client,
        return_to: &str,
        user: &str,
    ) -> String {
        let start = browser
            .get(app.url(&format!("/auth/{}/login", self.id)))
            .query(&[("return_to", return_to)])
            .send()
            .await
            .expect("start");
        assert_eq!(start.status(), reqwest::StatusCode::SEE_OTHER);
        self.answer(app, browser, &location(&start), user).await
    }

    /// Step 4 at the provider for a request the app already started
    /// (`authorize_url`): `user` signs in and allows. Returns the callback
    /// URL, with its code.
    #[cfg(feature = "demo-provider")]
    pub async fn answer(
        &self,
        app: &TestApp,
        browser: &reqwest::Client,
        authorize_url: &str,
        user: &str,
    ) -> String {
        app.answer_at_demo(self.id, browser, authorize_url, user, "allow")
            .await
    }

    /// Step 4 at the provider for a request the app already started
    /// (`authorize_url`): `user` signs in and allows. Returns the callback
    /// URL, with its code.
    #[cfg(not(feature = "demo-provider"))]
    pub async fn answer(
        &self,
        app: &TestApp,
        _browser: &reqwest::Client,
        authorize_url: &str,
        user: &str,
    ) -> String {
        use wiremock::matchers::{body_string_contains, header, method, path};
        use wiremock::{Mock, ResponseTemplate};

        let parameter = |name: &str| {
            url::Url::parse(authorize_url)
                .unwrap()
                .query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        };
        let state = parameter("state").expect("state");
        let code = format!("code-{}", self.codes.fetch_add(1, Ordering::Relaxed));
        let (name, email) = person(user);
        let mut claims = serde_json::json!({
            "iss": self.issuer, "sub": user, "aud": CLIENT_ID,
            "nonce": parameter("nonce"), "name": name, "email": email,
        });
        // Asked with `max_age`, a provider says when the person signed in
        // (OIDC Core §3.1.2.1): here, now, as the demo provider does.
        if parameter("max_age").is_some() {
            claims["auth_time"] = serde_json::json!(chrono::Utc::now().timestamp());
        }
        let id_token = self.fake.id_token(claims);
        let access_token = format!("access-{code}");
        let mut answer = token_response(Some(&id_token));
        answer["access_token"] = serde_json::json!(access_token);
        // Single use, like a real code (RFC 6749 §4.1.2), and only with the
        // verifier of this request's challenge and the same redirect URI.
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(body_string_contains(format!("code={code}&")))
            .and(GrantFor {
                challenge: parameter("code_challenge").expect("code_challenge"),
                redirect_uri: app.url(&format!("/auth/{}/callback", self.id)),
            })
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&self.fake.server)
            .await;
        // The profile page (step 7) asks userinfo (OIDC Core §5.3) with it.
        Mock::given(method("GET"))
            .and(path("/userinfo"))
            .and(header("authorization", format!("Bearer {access_token}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"sub": user, "name": name, "email": email})),
            )
            .mount(&self.fake.server)
            .await;
        self.callback(app, &[("code", &code), ("state", &state)])
    }

    /// The profile's "Link a … account" button for this provider, answered
    /// by `user`: the callback URL of the link request.
    pub async fn link(&self, app: &TestApp, browser: &reqwest::Client, user: &str) -> String {
        let authorize_url = app.start_link(browser, self.id).await;
        self.answer(app, browser, &authorize_url, user).await
    }

    /// A sign-in the person declines at the provider: the callback URL with
    /// `error=access_denied` (RFC 6749 §4.1.2.1) and the provider's words.
    #[cfg(feature = "demo-provider")]
    pub async fn decline(
        &self,
        app: &TestApp,
        browser: &reqwest::Client,
        return_to: &str,
    ) -> String {
        app.authorize_at_demo(browser, return_to, "alice", "deny")
            .await
    }

    /// A sign-in the person declines at the provider: the callback URL with
    /// `error=access_denied` (RFC 6749 §4.1.2.1) and the provider's words.
    #[cfg(not(feature = "demo-provider"))]
    pub async fn decline(
        &self,
        app: &TestApp,
        browser: &reqwest::Client,
        return_to: &str,
    ) -> String {
        let authorize = format!("{}/authorize", self.issuer);
        let started = start_sign_in(app, browser, self.id, return_to, &authorize).await;
        self.callback(
            app,
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied consent"),
                ("state", &started.state),
            ],
        )
    }

    /// The callback URL at the app with `params` and this provider's `iss`.
    #[cfg(not(feature = "demo-provider"))]
    fn callback(&self, app: &TestApp, params: &[(&str, &str)]) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(params);
        query.append_pair("iss", &self.issuer);
        app.url(&format!("/auth/{}/callback?{}", self.id, query.finish()))
    }

    /// A whole sign-in as `user`; returns where the app sent the browser.
    pub async fn sign_in(
        &self,
        app: &TestApp,
        browser: &reqwest::Client,
        return_to: &str,
        user: &str,
    ) -> String {
        let callback = self.authorize(app, browser, return_to, user).await;
        let response = browser.get(&callback).send().await.expect("callback");
        assert_eq!(
            response.status(),
            reqwest::StatusCode::SEE_OTHER,
            "callback failed"
        );
        location(&response)
    }
}

/// The fake's people: the demo provider's users, so that a test asserts the
/// same names at either provider.
#[cfg(not(feature = "demo-provider"))]
fn person(user: &str) -> (String, String) {
    let name = match user {
        "alice" => "Alice Adams",
        "bob" => "Bob Baker",
        "carol" => "Carol Chen",
        other => other,
    };
    (name.to_owned(), format!("{user}@demo.example"))
}

/// A token request whose `code_verifier` hashes to the authorization
/// request's `code_challenge` (S256, RFC 7636 §4.6) and whose `redirect_uri`
/// is the one the authorization request carried (RFC 6749 §4.1.3), as a real
/// provider checks them: any other answer is the fallback `invalid_grant`.
#[cfg(not(feature = "demo-provider"))]
struct GrantFor {
    challenge: String,
    redirect_uri: String,
}

#[cfg(not(feature = "demo-provider"))]
impl wiremock::Match for GrantFor {
    fn matches(&self, request: &wiremock::Request) -> bool {
        use base64::Engine as _;
        use sha2::Digest as _;

        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(&request.body)
                .into_owned()
                .collect();
        let verifier_matches = form.get("code_verifier").is_some_and(|verifier| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()))
                == self.challenge
        });
        verifier_matches && form.get("redirect_uri") == Some(&self.redirect_uri)
    }
}
