//! The generic OpenID Connect provider, configured by OIDC_* variables alone,
//! against a real OpenID Connect server running locally: the built-in demo
//! provider (discovery, JWKS, EdDSA ID tokens, PKCE, userinfo), which knows
//! nothing of the app but what any provider would.

use reqwest::StatusCode;

use crate::helpers::{browser, location, spawn_app_on, spawn_app_with};

const CLIENT_ID: &str = "generic-client";
const CLIENT_SECRET: &str = "generic-client-secret";

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn the_generic_provider_signs_in_with_any_issuer_from_configuration_alone() {
    // The app learns the issuer only from OIDC_ISSUER; endpoints and keys come
    // from its discovery document.
    let app = spawn_app_with(&[
        ("DEMO_CLIENT_ID", CLIENT_ID),
        ("DEMO_CLIENT_SECRET", CLIENT_SECRET),
        ("OIDC_ISSUER", "{demo_address}"),
        ("OIDC_CLIENT_ID", CLIENT_ID),
        ("OIDC_CLIENT_SECRET", CLIENT_SECRET),
        ("OIDC_DISPLAY_NAME", "Our Keycloak"),
    ])
    .await;
    let browser = browser();

    let (_, home) = app.get_html(&browser, "/").await;
    assert!(home.contains("Sign in with Our Keycloak"), "{home}");

    let callback = app
        .authorize_at_demo_as("oidc", &browser, "/profile", "carol", "allow")
        .await;
    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/profile");

    // The profile comes from the issuer's userinfo endpoint; there is no mail.
    let (status, profile) = app.get_html(&browser, "/profile").await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert!(profile.contains("Carol Chen") && profile.contains("carol@demo.example"));
    assert!(profile.contains("Our Keycloak"));
    assert!(!profile.contains("Open your mail"));
    let (status, mail) = app.get_html(&browser, "/mail").await;
    assert_eq!(status, StatusCode::OK);
    assert!(mail.contains("Our Keycloak has no mail API"), "{mail}");
}

/// Interop: the generic provider against panva/oidc-provider, an OpenID
/// Certified server, run by node from tests/oidc-provider (installed by
/// `.ci/run` with `npm ci`). Skips with a message when node or the package is
/// missing, except in CI, where a missing server is a failure.
#[tokio::test]
async fn the_generic_provider_signs_in_with_an_independent_certified_server() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider");
    let installed = dir.join("node_modules/oidc-provider").is_dir();
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !(installed && node) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the interop test: `npm ci --prefix tests/oidc-provider` (and node) missing"
        );
        eprintln!(
            "SKIPPED the_generic_provider_signs_in_with_an_independent_certified_server: \
             needs node and `npm ci --prefix tests/oidc-provider`"
        );
        return;
    }

    // The app's socket first, held: the server needs the app's redirect URI,
    // and the app needs the issuer the server names once it listens.
    let app_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let redirect_uri = format!(
        "http://{}/auth/oidc/callback",
        app_listener.local_addr().unwrap()
    );
    let server = ChildGuard(
        std::process::Command::new("node")
            .arg(dir.join("server.mjs"))
            .env("REDIRECT_URI", &redirect_uri)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("node starts"),
    );
    let (_server, issuer) = wait_until_ready(server).await;
    let app = spawn_app_on(
        app_listener,
        &[
            ("OIDC_ISSUER", issuer.as_str()),
            ("OIDC_CLIENT_ID", "interop-client"),
            ("OIDC_CLIENT_SECRET", "interop-client-secret"),
            ("OIDC_DISPLAY_NAME", "Interop"),
        ],
    )
    .await;
    assert_eq!(app.url("/auth/oidc/callback"), redirect_uri);

    let browser = browser();
    let start = browser
        .get(app.url("/auth/oidc/login?return_to=%2Fprofile"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let callback =
        sign_in_at_interop_server(&browser, &location(&start), &app.url("/auth/oidc/callback"))
            .await;
    // RFC 9207: this server names itself on the redirect.
    assert!(callback.contains("iss="), "{callback}");

    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        response.text().await.unwrap()
    );
    assert_eq!(location(&response), "/profile");
    let (status, profile) = app.get_html(&browser, "/profile").await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert!(
        profile.contains("Interop alice") && profile.contains("alice@interop.example"),
        "{profile}"
    );
}

/// Kills the server when the test ends, passed or not.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (at most 20 s) for the server's "ready <issuer>" line and returns the
/// issuer. Its output is read to
/// the end on a thread of its own: a closed pipe would stop the server at its
/// next log line.
async fn wait_until_ready(mut server: ChildGuard) -> (ChildGuard, String) {
    use std::io::BufRead as _;
    let stdout = server.0.stdout.take().expect("piped stdout");
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut ready_tx = Some(ready_tx);
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(issuer) = line.strip_prefix("ready ")
                && let Some(tx) = ready_tx.take()
            {
                let _ = tx.send(issuer.to_owned());
            }
        }
    });
    let ready = tokio::time::timeout(std::time::Duration::from_secs(20), ready_rx).await;
    let Ok(Ok(issuer)) = ready else {
        panic!("the OpenID Connect server did not start");
    };
    (server, issuer)
}

/// Steps 3 and 4 at the server, as a browser: follow its redirects and submit
/// the first form of each page (its development login takes any name), until
/// it sends the browser to `callback_prefix`. Returns that URL.
async fn sign_in_at_interop_server(
    browser: &reqwest::Client,
    authorize_url: &str,
    callback_prefix: &str,
) -> String {
    let mut response = browser.get(authorize_url).send().await.unwrap();
    for _ in 0..20 {
        let current = response.url().clone();
        if response.status().is_redirection() {
            let next = current.join(&location(&response)).unwrap().to_string();
            if next.starts_with(callback_prefix) {
                return next;
            }
            response = browser.get(&next).send().await.unwrap();
            continue;
        }
        let html = response.text().await.unwrap();
        let (action, fields) = first_form(&html);
        let action = current.join(&action).unwrap();
        response = browser.post(action).form(&fields).send().await.unwrap();
    }
    panic!("the server never sent the browser back");
}

/// The first form's action and its fields, with the login filled in.
fn first_form(html: &str) -> (String, Vec<(String, String)>) {
    let document = scraper::Html::parse_document(html);
    let form_selector = scraper::Selector::parse("form").unwrap();
    let input_selector = scraper::Selector::parse("input[name]").unwrap();
    let form = document
        .select(&form_selector)
        .next()
        .unwrap_or_else(|| panic!("no form in:\n{html}"));
    let action = form.value().attr("action").unwrap_or("").to_owned();
    let fields = form
        .select(&input_selector)
        .map(|input| {
            let name = input.value().attr("name").unwrap().to_owned();
            let value = match name.as_str() {
                "login" => "alice".to_owned(),
                "password" => "any".to_owned(),
                _ => input.value().attr("value").unwrap_or("").to_owned(),
            };
            (name, value)
        })
        .collect();
    (action, fields)
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_refused() {
    let issuer = crate::fake_issuer::FakeIssuer::start().await;
    issuer
        .mount_discovery(&format!("{}/token", issuer.issuer()))
        .await;
    // Configured with a trailing slash the document does not have: issuers
    // are compared as strings (Discovery 1.0 §4.3).
    let mut env = issuer.oidc_env();
    env[0].1 = format!("{}/", issuer.issuer());
    let app = spawn_app_with(&env).await;
    let (status, html) = app
        .get_html(&browser(), "/auth/oidc/login?return_to=%2Fprofile")
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(html.contains("not answering properly"), "{html}");
}

#[tokio::test]
async fn discovery_is_fetched_at_start() {
    let issuer = crate::fake_issuer::FakeIssuer::start().await;
    issuer
        .mount_discovery(&format!("{}/token", issuer.issuer()))
        .await;
    let _app = spawn_app_with(&issuer.oidc_env()).await;
    // No request to the app: the document is fetched in the background (bounded wait).
    let mut fetched = false;
    for _ in 0..50 {
        if issuer
            .requests_to("/.well-known/openid-configuration")
            .await
            > 0
        {
            fetched = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(fetched, "the discovery document was not fetched at start");
}

/// Client authentication at the token endpoint (RFC 6749 §2.3.1): HTTP
/// Basic, which every server must accept, unless the discovery document lists
/// `client_secret_post` without `client_secret_basic` (Discovery 1.0 §3: an
/// absent list means `client_secret_basic`).
#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn the_client_authenticates_with_http_basic_unless_the_provider_takes_only_the_form_body() {
    use crate::fake_issuer::{CLIENT_ID, CLIENT_SECRET, come_back_with_code, start_sign_in};
    for (listed, basic) in [
        (None, true),
        (
            Some(["client_secret_basic", "client_secret_post"].as_slice()),
            true,
        ),
        (Some(["client_secret_post"].as_slice()), false),
    ] {
        let issuer = crate::fake_issuer::FakeIssuer::start().await;
        let mut discovery = issuer.discovery_document();
        if let Some(listed) = listed {
            discovery["token_endpoint_auth_methods_supported"] = serde_json::json!(listed);
        }
        issuer
            .mount_json("GET", "/.well-known/openid-configuration", 200, discovery)
            .await;
        issuer.mount_jwks("/jwks").await;
        let app = spawn_app_with(&issuer.oidc_env()).await;
        let browser = browser();
        let authorize = format!("{}/authorize", issuer.issuer());
        let started = start_sign_in(&app, &browser, "oidc", "/profile", &authorize).await;
        let id_token = issuer.id_token(serde_json::json!({
            "iss": issuer.issuer(), "sub": "user-1", "aud": CLIENT_ID, "nonce": started.nonce,
        }));
        issuer.answer_token_request_with(&id_token).await;
        let callback = come_back_with_code(&app, &browser, "oidc", &started).await;
        assert_eq!(callback.status(), StatusCode::SEE_OTHER, "{listed:?}");

        let request = issuer.received_at("/token").await.pop().expect("step 5");
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let authorization = request
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok());
        // `/flow` says how, in the terms of RFC 6749 and Discovery.
        let (_, flow) = app.get_html(&browser, "/flow").await;
        let said = if basic {
            "sent by HTTP Basic (client_secret_basic)"
        } else {
            "sent by form body (client_secret_post)"
        };
        assert!(flow.contains(said), "{listed:?}: {flow}");
        if basic {
            assert!(
                authorization.is_some_and(|value| value.starts_with("Basic ")),
                "{listed:?}: {authorization:?}"
            );
            assert!(!body.contains("client_secret"), "{listed:?}: {body}");
        } else {
            assert_eq!(authorization, None, "{listed:?}");
            assert!(
                body.contains(&format!("client_secret={CLIENT_SECRET}")),
                "{body}"
            );
        }
    }
}

/// `/setup` compares the provider's clock with ours, from the `Date` header
/// of its discovery answer (RFC 9110 §6.6.1): ID tokens carry times, and a
/// clock more than a minute off makes valid ones look expired or not yet
/// issued, so a difference beyond that is a warning.
#[tokio::test]
async fn setup_shows_how_far_the_providers_clock_is_from_ours() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    for (behind_by, warned) in [(0, false), (600, true)] {
        let issuer = crate::fake_issuer::FakeIssuer::start().await;
        let provider_now = chrono::Utc::now() - chrono::Duration::seconds(behind_by);
        let date = provider_now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(issuer.discovery_document())
                    .insert_header("date", date.as_str()),
            )
            .mount(&issuer.server)
            .await;
        issuer.mount_jwks("/jwks").await;
        let app = spawn_app_with(&issuer.oidc_env()).await;

        let (status, html) = app.get_html(&browser(), "/setup").await;
        assert_eq!(status, StatusCode::OK);
        let text: String = scraper::Html::parse_document(&html)
            .root_element()
            .text()
            .collect();
        let shown = text
            .split_once("Clock difference")
            .and_then(|(_, after)| after.split_once(" s (the provider's minus ours)"))
            .and_then(|(number, _)| number.trim().parse::<i64>().ok())
            .unwrap_or_else(|| panic!("no clock difference in {text}"));
        // Whole seconds, read a moment apart: within a second or two.
        assert!((shown + behind_by).abs() <= 2, "{date}: shown {shown} s");
        assert_eq!(
            text.contains("The provider's clock differs from ours"),
            warned,
            "{date}: {text}"
        );
    }
}
