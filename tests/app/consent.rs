//! Incremental consent: sign-in asks for no mail scope; `/mail` asks for the
//! mail permission when it is first opened, through the same authorization
//! flow (state, PKCE, nonce), and its answer must come back to the same
//! browser, the same signed-in user and the same account at the provider.
//! With the demo provider (which asks for `Mail.Read` as Microsoft does).

use diesel::prelude::*;
use reqwest::StatusCode;
use signin_reference::db::schema::{identities, provider_tokens};

use crate::helpers::{attribute_values, browser, location, query_value, spawn_app};

/// The scopes stored for the (only) identity, as granted.
fn stored_scopes(app: &crate::helpers::TestApp) -> String {
    provider_tokens::table
        .select(provider_tokens::scopes)
        .first(&mut app.database())
        .expect("a token row")
}

#[tokio::test]
async fn mail_asks_for_its_permission_and_comes_back_with_messages() {
    let app = spawn_app().await;
    let browser = browser();
    assert_eq!(app.sign_in(&browser, "/mail", "alice").await, "/mail");
    assert!(!stored_scopes(&app).contains("Mail.Read"), "not at sign-in");
    let (_, flow) = app.get_html(&browser, "/flow").await;
    assert!(
        flow.contains("Every scope asked for at sign-in was granted"),
        "the sign-in compares granted with asked: {flow}"
    );

    // /mail names the permission and why, with a button.
    let (status, page) = app.get_html(&browser, "/mail").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Allow this app to read your mail"), "{page}");
    assert!(page.contains("<code>Mail.Read</code>"), "{page}");
    assert!(page.contains("What it will not do"), "{page}");
    assert!(!page.contains("Mail was not allowed"), "{page}");

    // The button: a new authorization request with the sign-in's scopes and
    // Mail.Read, and the same protections as a sign-in.
    let authorize_url = app.ask_for_mail(&browser).await;
    let scope = query_value(&authorize_url, "scope");
    for wanted in [
        "openid",
        "profile",
        "email",
        "offline_access",
        "User.Read",
        "Mail.Read",
    ] {
        assert!(scope.split(' ').any(|s| s == wanted), "{wanted} in {scope}");
    }
    assert_eq!(query_value(&authorize_url, "state").len(), 43);
    assert_eq!(query_value(&authorize_url, "nonce").len(), 43);
    assert_eq!(query_value(&authorize_url, "code_challenge_method"), "S256");

    // The demo provider's consent page lists what is asked, mail included.
    let callback = app
        .answer_at_demo("demo", &browser, &authorize_url, "alice", "allow")
        .await;
    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/mail");

    let (status, mail) = app.get_html(&browser, "/mail").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        mail.contains("Security check: this message tries to run script"),
        "{mail}"
    );
    assert!(mail.contains("Signed in as <strong>Alice Adams</strong>"));
    assert_eq!(app.stored_session_rows(), 1, "the same session, no new one");

    // /profile: asked at sign-in, asked for mail, each granted.
    let (_, profile) = app.get_html(&browser, "/profile").await;
    assert!(
        profile.contains("Asked when you open your mail"),
        "{profile}"
    );
    assert!(!profile.contains("not granted"), "{profile}");
    assert!(
        profile.contains("<li><code>openid</code> granted</li>"),
        "each scope asked at sign-in is listed: {profile}"
    );

    // /flow: the request for mail is an attempt of its own, with step 7.
    let (_, flow) = app.get_html(&browser, "/flow").await;
    assert!(flow.contains("Incremental consent"), "{flow}");
    assert!(flow.contains("mail allowed"), "{flow}");
    assert_eq!(
        scraper::Html::parse_document(&flow)
            .select(&scraper::Selector::parse("ol.timeline > li.done").unwrap())
            .count(),
        7,
        "{flow}"
    );
}

#[tokio::test]
async fn declining_the_mail_permission_keeps_the_session_and_mail_offers_to_ask_again() {
    let app = spawn_app().await;
    let browser = browser();
    app.sign_in(&browser, "/profile", "alice").await;
    let before = stored_scopes(&app);

    let authorize_url = app.ask_for_mail(&browser).await;
    let callback = app
        .answer_at_demo("demo", &browser, &authorize_url, "alice", "deny")
        .await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let response = browser.get(&callback).send().await.unwrap();

    // Not the sign-in failure page: back to /mail, which says so.
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/mail?permission=not-granted");
    let (status, mail) = app.get_html(&browser, &location(&response)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(mail.contains("Mail was not allowed"), "{mail}");
    assert!(mail.contains("You are still signed in"), "{mail}");
    assert_eq!(
        attribute_values(&mail, "form[action='/mail/permission'] button", "type"),
        ["submit"],
        "a button to ask again"
    );
    // Still signed in, with the sign-in's tokens as they were.
    let (status, profile) = app.get_html(&browser, "/profile").await;
    assert_eq!(status, StatusCode::OK);
    assert!(profile.contains("Alice Adams"));
    assert_eq!(app.stored_session_rows(), 1);
    assert_eq!(stored_scopes(&app), before);
    let (_, flow) = app.get_html(&browser, "/flow").await;
    assert!(flow.contains("mail not allowed"), "{flow}");

    // Asking again works.
    app.grant_mail(&browser, "alice").await;
    assert!(stored_scopes(&app).contains("Mail.Read"));
}

#[tokio::test]
async fn a_mail_permission_for_another_account_at_the_provider_is_refused_and_nothing_switches() {
    let app = spawn_app().await;
    let browser = browser();
    app.sign_in(&browser, "/profile", "alice").await;
    let before = stored_scopes(&app);

    // At the provider, someone picks Bob's account and allows mail.
    let authorize_url = app.ask_for_mail(&browser).await;
    let callback = app
        .answer_at_demo("demo", &browser, &authorize_url, "bob", "allow")
        .await;
    let response = browser.get(&callback).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.unwrap();
    assert!(html.contains("different account"), "{html}");
    assert_eq!(
        attribute_values(&html, "a.button", "href")[0],
        "/mail",
        "back to ask again, not to a sign-in: {html}"
    );
    // Alice is still signed in as herself; Bob's tokens are stored nowhere.
    let (_, profile) = app.get_html(&browser, "/profile").await;
    assert!(
        profile.contains("Signed in as <strong>Alice Adams</strong>"),
        "{profile}"
    );
    assert_eq!(stored_scopes(&app), before, "Alice's tokens are unchanged");
    assert_eq!(app.stored_token_rows(), 1);
    let identities: i64 = identities::table
        .count()
        .get_result(&mut app.database())
        .unwrap();
    assert_eq!(identities, 1, "no identity for Bob");
}

#[tokio::test]
async fn a_mail_permission_that_comes_back_after_the_askers_session_ended_is_refused() {
    let app = spawn_app().await;
    let (laptop, phone) = (browser(), browser());
    app.sign_in(&laptop, "/profile", "alice").await;
    let authorize_url = app.ask_for_mail(&laptop).await;
    let callback = app
        .answer_at_demo("demo", &laptop, &authorize_url, "alice", "allow")
        .await;

    // Meanwhile Alice signs out everywhere from her phone: the laptop's
    // browser is the same, but nobody is signed in there any more.
    app.sign_in(&phone, "/profile", "alice").await;
    app.post_with_csrf(&phone, "/logout/all").await;
    assert_eq!(app.stored_token_rows(), 0);

    let response = laptop.get(&callback).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.unwrap();
    assert!(html.contains("not signed in here now"), "{html}");
    assert_eq!(
        app.stored_token_rows(),
        0,
        "the answer's tokens are not stored"
    );
    assert_eq!(app.stored_session_rows(), 0, "nobody is signed in by it");
}

#[tokio::test]
async fn the_permission_button_needs_the_csrf_token() {
    let app = spawn_app().await;
    let browser = browser();
    app.sign_in(&browser, "/profile", "alice").await;
    let response = browser
        .post(app.url("/mail/permission"))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}
