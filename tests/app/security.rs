//! The promises of the README's security checklist that no flow test proves
//! on the way: each test here fails if the protection it names is removed.

use reqwest::StatusCode;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fake_issuer::FakeIssuer;
use crate::helpers::{
    browser, browser_with_jar, copied_cookie, location, query_value, spawn_app, spawn_app_with,
};
use crate::provider;

#[tokio::test]
async fn the_redirect_uri_comes_from_app_base_url_whatever_the_request_says() {
    // RFC 6749 §3.1.2: the redirect URI is the registered one. Built from the
    // request's Host (or a proxy's X-Forwarded-Host), anyone could make the
    // provider send the code to their own host.
    let (app, provider) = provider::spawn().await;
    let response = browser()
        .get(app.url(&format!("/auth/{}/login", provider.id)))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .header("forwarded", "host=evil.example;proto=https")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let redirect_uri = query_value(&location(&response), "redirect_uri");
    assert_eq!(
        redirect_uri,
        app.url(&format!("/auth/{}/callback", provider.id))
    );
}

/// The headers every response must carry, as (name, exact value).
const EVERY_RESPONSE: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
];

/// Pages show personal data, so no cache keeps them; our own stylesheet and
/// logo are the same for everyone and may be kept for an hour.
const NOT_STORED: &str = "no-store";

#[tokio::test]
async fn every_kind_of_response_carries_every_security_header() {
    let app = spawn_app().await;
    let client = browser();
    let requests = [
        ("a page", client.get(app.url("/")), NOT_STORED),
        ("a redirect", client.get(app.url("/profile")), NOT_STORED),
        (
            "a 404 page",
            client.get(app.url("/no-such-page")),
            NOT_STORED,
        ),
        (
            "a refused callback",
            client.get(app.url("/auth/demo/callback?state=x&code=y")),
            NOT_STORED,
        ),
        (
            "a refused POST",
            client.post(app.url("/logout")),
            NOT_STORED,
        ),
        (
            "the health check",
            client.get(app.url("/healthz")),
            NOT_STORED,
        ),
        (
            "the sign-in start",
            client.get(app.url("/auth/demo/login")),
            NOT_STORED,
        ),
        (
            "a stylesheet",
            client.get(app.url("/static/style.css")),
            "public, max-age=3600",
        ),
    ];
    for (kind, request, cache_control) in requests {
        let response = request.send().await.unwrap();
        let expected = EVERY_RESPONSE
            .into_iter()
            .chain([("cache-control", cache_control)]);
        for (name, value) in expected {
            let sent = response.headers().get(name).map(|v| v.to_str().unwrap());
            assert_eq!(sent, Some(value), "{kind} ({}): {name}", response.status());
        }
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_none(),
            "{kind}: no HSTS over plain http (a browser would ignore it anyway)"
        );
    }
}

#[tokio::test]
async fn over_https_every_response_also_asks_for_https_from_now_on() {
    let app = spawn_app_with(&[("APP_BASE_URL", "https://app.example")]).await;
    for path in ["/", "/no-such-page", "/static/style.css"] {
        let response = browser().get(app.url(path)).send().await.unwrap();
        let hsts = response.headers().get("strict-transport-security");
        assert_eq!(
            hsts.map(|v| v.to_str().unwrap()),
            Some("max-age=31536000"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_cookie_from_before_sign_in_is_not_signed_in_after_it() {
    // Session fixation (OWASP Session Management Cheat Sheet, "Renew the
    // Session ID After Any Privilege Level Change"): someone who planted or
    // copied the visitor's cookie before the sign-in holds nothing after it.
    // The session id is drawn at sign-in; this fails if it ever came from
    // anything the cookie held before (the browser key, say), or, with a
    // server-side session store, if the sign-in did not renew the session.
    let (app, provider) = provider::spawn().await;
    let (browser, jar) = browser_with_jar();
    let started = browser
        .get(app.url(&format!("/auth/{}/login", provider.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let before = copied_cookie(&jar, &app);

    provider.sign_in(&app, &browser, "/profile", "alice").await;

    let (status, html) = app.get_html(&browser, "/profile").await;
    assert_eq!(status, StatusCode::OK, "the visitor is signed in: {html}");
    let (status, _) = app.get_html(&before, "/profile").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the old cookie is not");
}

#[tokio::test]
async fn a_state_issued_for_one_provider_is_refused_at_anothers_callback() {
    // Mix-up (RFC 9700 §4.4): an answer is only used at the callback of the
    // provider the sign-in was started with. Here a sign-in's state and code
    // from the test provider arrive at another provider's callback (a fake
    // Google); its token endpoint must not hear of them.
    let other = FakeIssuer::start().await;
    other
        .mount_discovery(&format!("{}/token", other.issuer()))
        .await;
    let (app, provider) = provider::spawn_with(&[
        ("GOOGLE_CLIENT_ID", "other-client".to_owned()),
        ("GOOGLE_CLIENT_SECRET", "other-secret".to_owned()),
        ("GOOGLE_ISSUER", other.issuer()),
    ])
    .await;
    let browser = browser();
    let callback = provider
        .authorize(&app, &browser, "/profile", "alice")
        .await;
    let query = callback.split_once('?').unwrap().1;

    let (status, html) = app
        .get_html(&browser, &format!("/auth/google/callback?{query}"))
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("not valid any more"), "{html}");
    let requests = other.server.received_requests().await.unwrap();
    assert!(
        requests
            .iter()
            .all(|request| request.url.path() != "/token"),
        "the code went nowhere"
    );
}

#[tokio::test]
async fn outgoing_clients_do_not_follow_redirects() {
    // A token endpoint that redirects would take the code, the verifier and
    // the client secret along (RFC 6749 §10.3, §10.5): the redirect is an
    // error, and its target hears nothing.
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&elsewhere)
        .await;
    let issuer = FakeIssuer::start().await;
    issuer
        .mount_discovery(&format!("{}/token", issuer.issuer()))
        .await;
    for status in [301, 302, 303, 307, 308] {
        Mock::given(method("POST"))
            .and(wiremock::matchers::path("/token"))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("location", format!("{}/token", elsewhere.uri()).as_str()),
            )
            .up_to_n_times(1)
            .mount(&issuer.server)
            .await;
    }
    let app = spawn_app_with(&issuer.oidc_env()).await;
    for status in [301, 302, 303, 307, 308] {
        let browser = browser();
        let authorize_url = issuer.start_sign_in(&app, &browser).await;
        let state = query_value(&authorize_url, "state");
        let (page_status, html) = app
            .get_html(
                &browser,
                &format!("/auth/oidc/callback?state={state}&code=c"),
            )
            .await;
        assert_eq!(page_status, StatusCode::BAD_GATEWAY, "{status}: {html}");
    }
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "nothing was sent to where the redirects pointed"
    );
}

#[tokio::test]
async fn a_csrf_token_belongs_to_one_session() {
    // The synchroniser token pattern (OWASP CSRF Prevention Cheat Sheet): a
    // random token per session. A token shared by every session, or one
    // accepted from another session, would protect nothing: an attacker signs
    // in, reads their own token, and plants it in a form for the victim.
    let (app, provider) = provider::spawn().await;
    let (attacker, victim) = (browser(), browser());
    provider.sign_in(&app, &attacker, "/profile", "alice").await;
    provider.sign_in(&app, &victim, "/profile", "bob").await;
    let token_of = |html: &str| crate::helpers::input_value(html, "csrf_token");
    let attackers = token_of(&app.get_html(&attacker, "/profile").await.1);
    let victims = token_of(&app.get_html(&victim, "/profile").await.1);
    assert_ne!(attackers, victims);

    let forged = victim
        .post(app.url("/logout"))
        .form(&[("csrf_token", attackers.as_str())])
        .send()
        .await
        .unwrap();

    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let (status, _) = app.get_html(&victim, "/profile").await;
    assert_eq!(status, StatusCode::OK, "the victim is still signed in");
}
