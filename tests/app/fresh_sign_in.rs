//! What cannot be undone (linking, unlinking, deleting the account) needs a
//! fresh sign-in at the provider with the session's own account, no longer
//! than REAUTH_MAX_AGE ago (`web::irreversible`). A stolen copy of the
//! session cookie, with the CSRF token on its pages, is then not enough:
//! the thief is sent to the provider, where only the owner can answer as
//! the owner. In both builds, at the test provider (`provider`).

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;
use signin_reference::db::schema::identities;

use crate::fake_issuer::{
    CLIENT_ID, FakeIssuer, StartedSignIn, come_back_with_code, start_sign_in, token_response,
};
use crate::helpers::{
    TestApp, attribute_values, browser_with_jar, browser_with_stolen_cookie, query_value,
    spawn_app_with,
};
use crate::provider::{self, Provider};

/// The URL a "goes on by itself" page (`asking_provider.html`) continues to.
async fn continues_to(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    attribute_values(&html, "a.continue", "href")
        .pop()
        .unwrap_or_else(|| panic!("no link to the provider in {html}"))
}

/// `POST path` with the CSRF token from the browser's own profile page,
/// which must answer with the fresh sign-in's page: returns where it goes,
/// checked to be a new sign-in at the session's provider, with `max_age`
/// where the provider speaks OpenID Connect.
async fn sent_to_sign_in_again(
    app: &TestApp,
    provider: &Provider,
    browser: &reqwest::Client,
    path: &str,
) -> String {
    let response = app.post_with_csrf(browser, path).await;
    let authorize_url = continues_to(response).await;
    assert!(
        authorize_url.starts_with(&provider.issuer),
        "{authorize_url}"
    );
    assert_eq!(query_value(&authorize_url, "max_age"), "0");
    authorize_url
}

/// The stored identity named `name`.
fn identity_named(app: &TestApp, name: &str) -> i64 {
    identities::table
        .filter(identities::display_name.eq(name))
        .select(identities::id)
        .first(&mut app.database())
        .unwrap()
}

#[tokio::test]
async fn a_stolen_cookie_can_link_unlink_or_delete_nothing_and_the_owner_can_after_signing_in_again()
 {
    // REAUTH_MAX_AGE=0: every such action asks for a fresh sign-in, as any
    // would once the sign-in is older than REAUTH_MAX_AGE.
    let (app, provider) = provider::spawn_with(&[("REAUTH_MAX_AGE", "0")]).await;
    let (owner, jar) = browser_with_jar();
    provider.sign_in(&app, &owner, "/profile", "alice").await;
    let thief = browser_with_stolen_cookie(&jar, &app);
    let (status, _) = app.get_html(&thief, "/profile").await;
    assert_eq!(status, StatusCode::OK, "the stolen cookie works for pages");

    // The thief tries to link his own account to Alice's user, to unlink
    // her own and to delete the account: each time sent to the provider
    // first, where he can only answer as himself.
    let alice = identity_named(&app, "Alice Adams");
    let link = format!("/auth/{}/link", provider.id);
    let unlink_alice = format!("/account/identities/{alice}/unlink");
    for path in [link.as_str(), unlink_alice.as_str(), "/account/delete"] {
        let authorize_url = sent_to_sign_in_again(&app, &provider, &thief, path).await;
        let callback = provider.answer(&app, &thief, &authorize_url, "bob").await;
        let refused = thief.get(&callback).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
        let html = refused.text().await.unwrap();
        assert!(html.contains("different account"), "{path}: {html}");
        assert_eq!(app.users_and_identities(), (1, 1), "{path} changed nothing");
    }

    // Alice signs in again, as herself, and her link goes on by itself: to
    // the provider, asked to let her choose another account.
    let authorize_url = sent_to_sign_in_again(&app, &provider, &owner, &link).await;
    let callback = provider.answer(&app, &owner, &authorize_url, "alice").await;
    let link_url = continues_to(owner.get(&callback).send().await.unwrap()).await;
    assert_eq!(query_value(&link_url, "prompt"), "login");
    assert!(
        url::Url::parse(&link_url)
            .unwrap()
            .query_pairs()
            .all(|(name, _)| name != "max_age"),
        "{link_url}"
    );
    let callback = provider.answer(&app, &owner, &link_url, "carol").await;
    let linked = owner.get(&callback).send().await.unwrap();
    assert_eq!(linked.status(), StatusCode::OK);
    assert!(linked.text().await.unwrap().contains("Account linked"));
    assert_eq!(app.users_and_identities(), (1, 2));

    // Alice unlinks Carol's account, then deletes hers, each after signing
    // in again.
    let carol = identity_named(&app, "Carol Chen");
    let unlink = format!("/account/identities/{carol}/unlink");
    let authorize_url = sent_to_sign_in_again(&app, &provider, &owner, &unlink).await;
    let callback = provider.answer(&app, &owner, &authorize_url, "alice").await;
    let unlinked = owner.get(&callback).send().await.unwrap();
    assert_eq!(unlinked.status(), StatusCode::SEE_OTHER);
    assert_eq!(crate::helpers::location(&unlinked), "/profile");
    assert_eq!(app.users_and_identities(), (1, 1));

    let authorize_url = sent_to_sign_in_again(&app, &provider, &owner, "/account/delete").await;
    let callback = provider.answer(&app, &owner, &authorize_url, "alice").await;
    let deleted = owner.get(&callback).send().await.unwrap();
    assert!(
        [StatusCode::OK, StatusCode::SEE_OTHER].contains(&deleted.status()),
        "{}",
        deleted.status()
    );
    assert_eq!(app.users_and_identities(), (0, 0), "the account is gone");
    let (status, _) = app.get_html(&thief, "/profile").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "and the stolen cookie with it"
    );
}

#[tokio::test]
async fn a_recent_sign_in_links_at_once() {
    // The default REAUTH_MAX_AGE (300 s): a sign-in that just happened is
    // fresh, and the link's own request goes to the provider straight away.
    let (app, provider) = provider::spawn().await;
    let (owner, _) = browser_with_jar();
    provider.sign_in(&app, &owner, "/profile", "alice").await;
    let response = app
        .post_with_csrf(&owner, &format!("/auth/{}/link", provider.id))
        .await;
    let link_url = continues_to(response).await;
    assert_eq!(query_value(&link_url, "prompt"), "login");
}

/// One answer of the fake OpenID Connect provider to the request at
/// `authorize_url`: Alice, who authenticated there at `auth_time`.
async fn alice_answers(
    fake: &FakeIssuer,
    app: &TestApp,
    browser: &reqwest::Client,
    authorize_url: &str,
    auth_time: i64,
) -> reqwest::Response {
    let started = StartedSignIn {
        authorize_url: authorize_url.to_owned(),
        state: query_value(authorize_url, "state"),
        nonce: Some(query_value(authorize_url, "nonce")),
    };
    let id_token = fake.id_token(json!({
        "iss": fake.issuer(), "sub": "alice", "aud": CLIENT_ID,
        "nonce": started.nonce, "name": "Alice Adams", "auth_time": auth_time,
    }));
    fake.answer_next_token_request_at("/token", token_response(Some(&id_token)))
        .await;
    come_back_with_code(app, browser, "oidc", &started).await
}

#[tokio::test]
async fn the_providers_auth_time_says_how_fresh_a_sign_in_is() {
    let fake = FakeIssuer::start().await;
    fake.mount_discovery(&format!("{}/token", fake.issuer()))
        .await;
    fake.mount_json("GET", "/userinfo", 200, json!({"sub": "alice"}))
        .await;
    let app = spawn_app_with(&fake.oidc_env()).await;
    let browser = crate::helpers::browser();
    let an_hour_ago = chrono::Utc::now().timestamp() - 3600;

    // A sign-in the provider answered from its own sign-in of an hour ago
    // (single sign-on): the session is not fresh for linking, although it
    // is a minute old, so linking asks for a fresh sign-in first.
    let authorize = format!("{}/authorize", fake.issuer());
    let started = start_sign_in(&app, &browser, "oidc", "/profile", &authorize).await;
    let signed_in = alice_answers(&fake, &app, &browser, &started.authorize_url, an_hour_ago).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let response = app.post_with_csrf(&browser, "/auth/oidc/link").await;
    let authorize_url = continues_to(response).await;
    assert_eq!(query_value(&authorize_url, "max_age"), "300");

    // The provider answers from the same old sign-in: refused, nothing
    // changes (OIDC Core §3.1.2.1: it should have asked again).
    let refused = alice_answers(&fake, &app, &browser, &authorize_url, an_hour_ago).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let html = refused.text().await.unwrap();
    assert!(html.contains("did not ask you to sign in again"), "{html}");
    assert_eq!(app.users_and_identities(), (1, 1));

    // Asked again, Alice signs in there now: the link goes on.
    let response = app.post_with_csrf(&browser, "/auth/oidc/link").await;
    let authorize_url = continues_to(response).await;
    let now = chrono::Utc::now().timestamp();
    let fresh = alice_answers(&fake, &app, &browser, &authorize_url, now).await;
    let link_url = continues_to(fresh).await;
    assert_eq!(query_value(&link_url, "prompt"), "login");
}
