//! Every bad input gets a clear page with the right status; nothing panics.

use std::time::Duration;

use reqwest::StatusCode;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::fake_issuer::FakeIssuer;
use crate::helpers::{browser, query_value, spawn_app, spawn_app_with};
use crate::provider;

/// `&iss=…` as the demo provider's callback carries it (RFC 9207): the demo
/// provider advertises `authorization_response_iss_parameter_supported`, so a
/// hand-made callback without it would be refused before anything else.
fn iss_of(callback: &str) -> String {
    format!("&iss={}", urlencode(&query_value(callback, "iss")))
}

fn state_of(callback: &str) -> String {
    query_value(callback, "state")
}

#[tokio::test]
async fn a_callback_without_state_is_refused() {
    let (app, provider) = provider::spawn().await;
    let (status, html) = app
        .get_html(
            &browser(),
            &format!("/auth/{}/callback?code=abc", provider.id),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("it has no state"), "{html}");
}

#[tokio::test]
async fn a_callback_with_an_unknown_state_is_refused() {
    let (app, provider) = provider::spawn().await;
    let (status, html) = app
        .get_html(
            &browser(),
            &format!("/auth/{}/callback?code=abc&state=made-up", provider.id),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("not valid any more"));
}

#[tokio::test]
async fn a_callback_replayed_after_success_is_refused_because_its_state_was_used_up() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();
    let callback = provider
        .authorize(&app, &browser, "/profile", "alice")
        .await;
    let first = browser.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);

    let (status, html) = app.get_html(&browser, &callback[app.address.len()..]).await;

    // Refused at the state, before the code is sent anywhere: were the pending
    // sign-in only read, not taken, the replay would reach the token endpoint
    // and be refused there for a used code, with another page.
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("not valid any more"), "{html}");
}

#[tokio::test]
async fn a_callback_delivered_to_another_browser_is_refused() {
    let (app, provider) = provider::spawn().await;
    // The victim has a browser key of their own (they started a sign-in
    // too): the key must be *the* key the sign-in was started with, not any.
    let victim = browser();
    let started = victim
        .get(app.url(&format!("/auth/{}/login", provider.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let callback = provider
        .authorize(&app, &browser(), "/profile", "alice")
        .await;

    let response = victim.get(&callback).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(html.contains("different browser"), "{html}");
    let (status, _) = app.get_html(&victim, "/profile").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the victim was not signed in"
    );
}

#[tokio::test]
async fn an_expired_pending_sign_in_is_refused() {
    use diesel::prelude::*;
    use signin_reference::db::schema::pending_sign_ins;

    let (app, provider) = provider::spawn().await;
    let browser = browser();
    let callback = provider
        .authorize(&app, &browser, "/profile", "alice")
        .await;
    let mut connection = app.database();
    diesel::update(pending_sign_ins::table)
        .set(pending_sign_ins::created_at.eq(pending_sign_ins::created_at - 11 * 60))
        .execute(&mut connection)
        .unwrap();

    let (status, html) = app.get_html(&browser, &callback[app.address.len()..]).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("expired"));
}

#[tokio::test]
async fn denied_consent_gets_a_friendly_page_with_a_way_to_try_again() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();
    let callback = provider.decline(&app, &browser, "/mail").await;
    assert!(callback.contains("error=access_denied"));

    let response = browser.get(&callback).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.unwrap();
    assert!(html.contains("You chose not to sign in"));
    assert!(
        html.contains("The user denied consent"),
        "the demo provider's own words are shown: {html}"
    );
    assert!(
        crate::helpers::links(&html).contains(&"/login?return_to=%2Fmail".to_owned()),
        "{html}"
    );
}

#[tokio::test]
async fn access_denied_by_a_policy_shows_the_providers_words_and_does_not_blame_the_visitor() {
    let (app, provider) = provider::spawn().await;
    let id = provider.id;
    let browser = browser();
    let callback = provider.authorize(&app, &browser, "/mail", "alice").await;
    let state = state_of(&callback);
    let iss = iss_of(&callback);
    // Microsoft's answer when a Conditional Access policy blocks the sign-in
    // (AADSTS53003), with markup that must arrive escaped.
    let description =
        "AADSTS53003: Access has been blocked by Conditional Access policies. <b>Trace</b> ID: x";

    let (status, html) = app
        .get_html(
            &browser,
            &format!(
                "/auth/{id}/callback?state={state}{iss}&error=access_denied&error_description={}",
                urlencode(description)
            ),
        )
        .await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        html.contains("AADSTS53003: Access has been blocked by Conditional Access policies."),
        "{html}"
    );
    assert!(html.contains("&lt;b&gt;Trace&lt;&#x2F;b&gt;"), "{html}");
    assert!(!html.contains("<b>Trace"));
    assert!(!html.to_lowercase().contains("you chose"), "{html}");
    assert!(html.contains("You did not refuse anything"), "{html}");
    assert!(
        crate::helpers::links(&html).contains(&"/login?return_to=%2Fmail".to_owned()),
        "{html}"
    );
}

#[tokio::test]
async fn a_provider_error_is_shown_escaped() {
    let (app, provider) = provider::spawn().await;
    let id = provider.id;
    let browser = browser();
    let callback = provider
        .authorize(&app, &browser, "/profile", "alice")
        .await;
    let state = state_of(&callback);
    let iss = iss_of(&callback);

    let (status, html) = app
        .get_html(
            &browser,
            &format!("/auth/{id}/callback?state={state}{iss}&error=invalid_scope&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
            ),
        )
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("invalid_scope"));
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"));
}

#[tokio::test]
async fn a_callback_without_code_is_refused() {
    let (app, provider) = provider::spawn().await;
    let id = provider.id;
    let browser = browser();
    let callback = provider
        .authorize(&app, &browser, "/profile", "alice")
        .await;
    let state = state_of(&callback);
    let iss = iss_of(&callback);
    let (status, html) = app
        .get_html(&browser, &format!("/auth/{id}/callback?state={state}{iss}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("no authorization code"));
}

#[tokio::test]
async fn a_code_the_token_endpoint_rejects_gets_a_clear_page() {
    let (app, provider) = provider::spawn().await;
    let id = provider.id;
    let browser = browser();
    let callback = provider
        .authorize(&app, &browser, "/profile", "alice")
        .await;
    let state = state_of(&callback);
    let iss = iss_of(&callback);

    let (status, html) = app
        .get_html(
            &browser,
            &format!("/auth/{id}/callback?state={state}{iss}&code=not-a-real-code"),
        )
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("invalid_grant"), "{html}");
    assert!(html.contains("Try again"));
    assert!(
        !html.contains("not-a-real-code"),
        "the code is never echoed"
    );
}

#[tokio::test]
async fn an_answer_from_another_issuer_is_refused() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();
    let callback = provider
        .authorize(&app, &browser, "/profile", "alice")
        .await;
    let forged = callback.replace(
        &format!("iss={}", urlencode(&provider.issuer)),
        "iss=https%3A%2F%2Fevil.example",
    );
    assert_ne!(forged, callback, "the demo provider sends iss (RFC 9207)");
    let response = browser.get(&forged).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn return_paths_that_leave_the_site_fall_back_to_the_profile() {
    let (app, provider) = provider::spawn().await;
    for hostile in [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "/%2e//evil.example",
        "/\r\n//evil.example",
    ] {
        let landing = provider.sign_in(&app, &browser(), hostile, "alice").await;
        assert_eq!(landing, "/profile", "{hostile:?}");
    }
}

#[tokio::test]
async fn an_unknown_provider_is_a_404() {
    let app = spawn_app().await;
    for path in ["/auth/nope/login", "/auth/nope/callback?state=x&code=y"] {
        let (status, html) = app.get_html(&browser(), path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains("We could not find that page."));
    }
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn odd_mail_pages_get_clear_errors() {
    let app = spawn_app().await;
    let browser = browser();
    app.sign_in(&browser, "/profile", "alice").await;
    app.grant_mail(&browser, "alice").await;
    // A cursor must be a next page of the provider's own message list: nothing
    // else is fetched with the visitor's token.
    // Nor does it ask the provider's own list for more than our page: a
    // larger `$top`, `$expand` or any option Graph does not put there itself.
    let own_list = format!("{}/v1.0/me/messages", app.demo_address);
    for cursor in [
        "abc".to_owned(),
        "https://evil.example/v1.0/me/messages?$skip=10".to_owned(),
        "http://127.0.0.1:1/v1.0/me/messages?$skip=10".to_owned(),
        "%ZZ".to_owned(),
        format!("{own_list}?$top=1000&$skip=0"),
        format!("{own_list}?$top=10&$skip=0&$expand=attachments"),
        format!("{own_list}?$top=10&$skip=0&$select=id,body"),
    ] {
        let response = browser
            .get(app.url("/mail"))
            .query(&[("cursor", &cursor)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{cursor}");
        let html = response.text().await.unwrap();
        assert!(html.contains("not one this app made"), "{cursor}: {html}");
    }
    let (status, html) = app.get_html(&browser, "/mail?cursor=x&cursor=y").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("not understood"));
}

#[tokio::test]
async fn pending_sign_ins_per_browser_are_bounded() {
    use diesel::prelude::*;
    use signin_reference::db::schema::pending_sign_ins;

    let (app, provider) = provider::spawn().await;
    let browser = browser();
    for _ in 0..8 {
        let response = browser
            .get(app.url(&format!("/auth/{}/login", provider.id)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let mut connection = app.database();
    let count: i64 = pending_sign_ins::table
        .count()
        .get_result(&mut connection)
        .unwrap();
    assert_eq!(count, 5);
}

/// Starts a sign-in with a fake provider whose token endpoint answers with
/// `token_response` (or refuses connections when `None`), then comes back to
/// the callback with a code.
async fn callback_with_fake(token_response: Option<ResponseTemplate>) -> (StatusCode, String) {
    callback_with_fake_and(token_response, &[]).await
}

/// `callback_with_fake`, with more variables for the app.
async fn callback_with_fake_and(
    token_response: Option<ResponseTemplate>,
    more: &[(&'static str, String)],
) -> (StatusCode, String) {
    let issuer = FakeIssuer::start().await;
    // Held until the test ends: a port bound but not listening refuses
    // connections, and no other test can take it meanwhile (a port merely
    // released could be taken by another test's server at once).
    let mut closed_port = None;
    let token_url = match token_response {
        Some(response) => {
            Mock::given(method("POST"))
                .and(path("/token"))
                .respond_with(response)
                .mount(&issuer.server)
                .await;
            format!("{}/token", issuer.server.uri())
        }
        None => {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let url = format!("http://{}/token", socket.local_addr().unwrap());
            closed_port = Some(socket);
            url
        }
    };
    issuer.mount_discovery(&token_url).await;
    let mut env = issuer.oidc_env();
    env.extend_from_slice(more);
    let app = spawn_app_with(&env).await;
    let browser = browser();
    let authorize_url = issuer.start_sign_in(&app, &browser).await;
    let state = query_value(&authorize_url, "state");
    let (status, html) = app
        .get_html(
            &browser,
            &format!("/auth/oidc/callback?state={state}&code=the-code"),
        )
        .await;
    assert!(!html.contains("the-code"), "the code is never echoed");
    drop(closed_port);
    (status, html)
}

#[tokio::test]
async fn a_token_endpoint_answering_500_gets_a_try_again_page() {
    let (status, html) =
        callback_with_fake(Some(ResponseTemplate::new(500).set_body_string("oops"))).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(html.contains("not answering properly"));
    assert!(html.contains("Try again"));
}

#[tokio::test]
async fn a_token_endpoint_answering_garbage_gets_a_clear_page() {
    let (status, html) = callback_with_fake(Some(
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/json")
            .set_body_string("{not json"),
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(html.contains("not answering properly"));
}

#[tokio::test]
async fn a_slow_token_endpoint_times_out_with_a_clear_page() {
    // The only test with a short HTTP_TIMEOUT: the others keep the default
    // (10 s), which a loaded CI machine does not reach by accident.
    let (status, html) = callback_with_fake_and(
        Some(ResponseTemplate::new(200).set_delay(Duration::from_secs(3))),
        &[("HTTP_TIMEOUT", "1".to_owned())],
    )
    .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert!(html.contains("did not answer in time"));
}

#[tokio::test]
async fn a_token_endpoint_that_is_down_gets_a_clear_page() {
    let (status, html) = callback_with_fake(None).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(html.contains("not answering properly"));
}

#[tokio::test]
async fn a_token_response_without_an_id_token_is_not_a_sign_in() {
    let (status, html) = callback_with_fake(Some(ResponseTemplate::new(200).set_body_json(
        serde_json::json!({"access_token": "at", "token_type": "Bearer", "expires_in": 3600}),
    )))
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(html.contains("could not be verified"));
}

#[tokio::test]
async fn a_callback_without_iss_from_a_provider_that_advertises_it_is_refused() {
    // The demo provider's discovery says
    // `authorization_response_iss_parameter_supported: true`, so every answer
    // it sends names it (RFC 9207 §2.4); one without `iss` may come from
    // another provider (mix-up) and is not used, even with a good code.
    let (app, provider) = provider::spawn().await;
    let id = provider.id;
    let browser = browser();
    let callback = provider
        .authorize(&app, &browser, "/profile", "alice")
        .await;
    let code = query_value(&callback, "code");
    let state = state_of(&callback);

    let (status, html) = app
        .get_html(
            &browser,
            &format!("/auth/{id}/callback?state={state}&code={code}"),
        )
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("could not confirm which provider"), "{html}");
    assert_eq!(
        app.get_html(&browser, "/profile").await.0,
        StatusCode::SEE_OTHER
    );
}

/// Code injection (RFC 9700 §4.5): a code an attacker got for their own
/// authorization request, planted in the victim's callback with the victim's
/// own `state`, passes every check of the callback; the token request then
/// carries the victim's PKCE verifier, which does not match the challenge
/// the code was issued for (RFC 7636 §4.6), and the provider refuses it.
#[tokio::test]
async fn a_code_issued_for_another_authorization_request_is_refused_by_pkce() {
    let (app, provider) = provider::spawn().await;
    let attackers = provider
        .authorize(&app, &browser(), "/profile", "bob")
        .await;
    let victim = browser();
    let victims = provider.authorize(&app, &victim, "/profile", "alice").await;
    let injected = victims.replace(
        &format!("code={}", query_value(&victims, "code")),
        &format!("code={}", query_value(&attackers, "code")),
    );
    assert_ne!(injected, victims);

    let response = victim.get(&injected).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(html.contains("invalid_grant"), "{html}");
    let (status, _) = app.get_html(&victim, "/profile").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "nobody was signed in");
}
