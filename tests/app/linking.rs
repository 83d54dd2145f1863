//! Linked accounts: a signed-in person links another account at a provider
//! (here a second user at the test provider, `provider`: identities are told
//! apart by issuer and `sub`),
//! and signing in with either opens the same user. The answer must come back
//! to the same browser and the same signed-in user, and an account that
//! belongs to another user is never taken from them.

use diesel::prelude::*;
use reqwest::StatusCode;
use signin_reference::db::schema::{identities, provider_tokens, sessions};

use crate::helpers::{TestApp, attribute_values, browser, input_value};
use crate::provider::{self, Provider};

/// The answer to a link started by a person signed in with the demo
/// provider: the "Account linked" page and one person with two accounts.
/// Then, signed out, `sign_in_with_it` (a whole sign-in with the linked
/// account alone) opens that same person, not a new one. For the real
/// providers' fakes (`microsoft.rs`, `google.rs`, `github.rs`).
pub(crate) async fn linked_then_signs_in_as_the_same_person(
    app: &TestApp,
    browser: &reqwest::Client,
    linked: reqwest::Response,
    provider_name: &str,
    sign_in_with_it: impl std::future::Future<Output = ()>,
) {
    assert_eq!(linked.status(), StatusCode::OK);
    let page = linked.text().await.unwrap();
    assert!(page.contains("Account linked"), "{page}");
    assert!(
        page.contains(&format!("Your {provider_name} account")),
        "{page}"
    );
    assert_eq!(
        app.users_and_identities(),
        (1, 2),
        "one person, two accounts"
    );
    let signed_out = app.post_with_csrf(browser, "/logout").await;
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    sign_in_with_it.await;
    assert_eq!(
        app.users_and_identities(),
        (1, 2),
        "signing in with the {provider_name} account opened the same person"
    );
}

/// Each identity's display name and user, in the order they were stored.
fn owners(app: &TestApp) -> Vec<(String, i64)> {
    identities::table
        .order(identities::id)
        .select((identities::display_name, identities::user_id))
        .load(&mut app.database())
        .unwrap()
}

/// The user of the (only) live session.
fn session_user(app: &TestApp) -> i64 {
    sessions::table
        .select(sessions::user_id)
        .get_result(&mut app.database())
        .unwrap()
}

#[tokio::test]
async fn a_linked_account_signs_in_to_the_same_user() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();
    provider.sign_in(&app, &browser, "/profile", "alice").await;
    let (_, profile) = app.get_html(&browser, "/profile").await;
    assert!(
        profile.contains(&format!("Link a {} account", provider.name)),
        "{profile}"
    );

    let callback = provider.link(&app, &browser, "bob").await;
    let response = browser.get(&callback).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("Account linked"), "{html}");
    assert!(html.contains("Bob"), "{html}");
    let alice = session_user(&app);
    let owners = owners(&app);
    assert_eq!(owners.len(), 2);
    assert!(owners.iter().all(|(_, user)| *user == alice), "{owners:?}");
    assert_eq!(app.users_and_identities().0, 1);
    assert_eq!(app.stored_session_rows(), 1, "the same session, no new one");
    assert_eq!(app.stored_token_rows(), 2, "the linked account's tokens");
    let (_, profile) = app.get_html(&browser, "/profile").await;
    assert!(profile.contains("Alice Adams"), "still Alice's identity");
    // The profile seen before the link is not what is shown after it.
    assert_eq!(linked_accounts(&profile).len(), 2, "{profile}");
    // /flow: the link is an attempt of its own, with its purpose.
    if cfg!(feature = "teaching") {
        let (_, flow) = app.get_html(&browser, "/flow").await;
        assert!(flow.contains("Linking an account"), "{flow}");
        assert!(
            flow.contains("<strong class=\"outcome\">linked</strong>"),
            "{flow}"
        );
    }

    // Signing out and in with the linked account opens the same user.
    app.post_with_csrf(&browser, "/logout").await;
    provider.sign_in(&app, &browser, "/profile", "bob").await;
    assert_eq!(session_user(&app), alice);
    assert_eq!(app.users_and_identities().0, 1);
    // The profile lists both accounts, whichever one signed in.
    let (_, profile) = app.get_html(&browser, "/profile").await;
    let listed = linked_accounts(&profile);
    assert_eq!(listed.len(), 2, "{profile}");
    assert!(listed[0].contains("Alice Adams"), "{listed:?}");
    assert!(listed[1].contains("Bob Baker"), "{listed:?}");
    assert!(listed[1].contains("(signed in with it now)"), "{listed:?}");
    for line in &listed {
        assert!(line.contains(provider.name), "{line}");
        assert!(line.contains("Linked"), "{line}");
    }
    assert!(listed[1].contains("bob@demo.example"), "{listed:?}");
    assert!(listed[1].contains("<code>openid</code>"), "{listed:?}");
    assert!(listed[1].contains("valid until"), "{listed:?}");
    assert!(listed[1].contains("then refreshable"), "{listed:?}");
    // Alice's tokens went with her last session (signing out).
    assert!(listed[0].contains("needs a sign-in"), "{listed:?}");
    assert!(listed[0].contains("none stored"), "{listed:?}");

    // The list is kept with the profile for a few minutes, as the profile
    // is; "Read it again" reads both now, refreshing expired tokens first.
    // (`TokenStatus::of`'s unit test covers "expired, refreshable".) At the
    // demo provider only: the minimal build's fake does not refresh (the
    // fakes of google.rs and github.rs test refreshing).
    if !cfg!(feature = "demo-provider") {
        return;
    }
    app.expire_access_tokens();
    let (_, kept) = app.get_html(&browser, "/profile").await;
    let kept = linked_accounts(&kept);
    assert!(
        kept[1].contains("valid until"),
        "kept with the profile: {kept:?}"
    );
    let (_, profile) = app.get_html(&browser, "/profile?refresh=1").await;
    let listed = linked_accounts(&profile);
    assert!(listed[1].contains("valid until"), "{listed:?}");
}

/// The profile's linked accounts, each as its HTML.
fn linked_accounts(profile: &str) -> Vec<String> {
    let html = scraper::Html::parse_document(profile);
    let selector = scraper::Selector::parse("ul.identities > li").unwrap();
    html.select(&selector).map(|li| li.inner_html()).collect()
}

#[tokio::test]
async fn linking_an_account_linked_already_only_renews_its_tokens() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();
    provider.sign_in(&app, &browser, "/profile", "alice").await;
    let callback = provider.link(&app, &browser, "bob").await;
    browser.get(&callback).send().await.unwrap();
    let bobs_generation = |app: &TestApp| -> i64 {
        provider_tokens::table
            .order(provider_tokens::identity_id.desc())
            .select(provider_tokens::generation)
            .first(&mut app.database())
            .unwrap()
    };
    let linked = bobs_generation(&app);

    let callback = provider.link(&app, &browser, "bob").await;
    let response = browser.get(&callback).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("Already linked"), "{html}");
    assert_eq!(owners(&app).len(), 2);
    assert_eq!(bobs_generation(&app), linked + 1, "the same row, renewed");
}

#[tokio::test]
async fn an_account_linked_to_another_user_is_refused_and_nothing_changes() {
    let (app, provider) = provider::spawn().await;
    let (alice_browser, bob_browser) = (browser(), browser());
    provider
        .sign_in(&app, &bob_browser, "/profile", "bob")
        .await;
    provider
        .sign_in(&app, &alice_browser, "/profile", "alice")
        .await;
    let owners_before = owners(&app);
    let tokens_before: Vec<Vec<u8>> = provider_tokens::table
        .order(provider_tokens::identity_id)
        .select(provider_tokens::access_token)
        .load(&mut app.database())
        .unwrap();

    let callback = provider.link(&app, &alice_browser, "bob").await;
    let response = alice_browser.get(&callback).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.unwrap();
    assert!(html.contains("already linked to another account"), "{html}");
    assert!(html.contains("unlink it"), "says what to do: {html}");
    assert_eq!(owners(&app), owners_before, "Bob's account stays Bob's");
    assert_eq!(app.users_and_identities().0, 2, "nobody merged");
    let tokens_after: Vec<Vec<u8>> = provider_tokens::table
        .order(provider_tokens::identity_id)
        .select(provider_tokens::access_token)
        .load(&mut app.database())
        .unwrap();
    assert_eq!(tokens_after, tokens_before, "Bob's tokens untouched");
    // Both are still signed in as themselves.
    let (status, _) = app.get_html(&bob_browser, "/profile").await;
    assert_eq!(status, StatusCode::OK);
    let (_, profile) = app.get_html(&alice_browser, "/profile").await;
    assert!(profile.contains("Alice Adams"), "{profile}");
}

#[tokio::test]
async fn a_link_answer_opened_in_another_browser_is_refused() {
    let (app, provider) = provider::spawn().await;
    let (laptop, phone) = (browser(), browser());
    provider.sign_in(&app, &laptop, "/profile", "alice").await;
    provider.sign_in(&app, &phone, "/profile", "alice").await;
    let callback = provider.link(&app, &laptop, "bob").await;

    let response = phone.get(&callback).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(owners(&app).len(), 1, "nothing linked");
}

#[tokio::test]
async fn a_link_answer_after_the_askers_session_ended_is_refused() {
    let (app, provider) = provider::spawn().await;
    let (laptop, phone) = (browser(), browser());
    provider.sign_in(&app, &laptop, "/profile", "alice").await;
    let callback = provider.link(&app, &laptop, "bob").await;
    // Meanwhile Alice signs out everywhere from her phone: the laptop's
    // browser is the same, but nobody is signed in there any more.
    provider.sign_in(&app, &phone, "/profile", "alice").await;
    app.post_with_csrf(&phone, "/logout/all").await;

    let response = laptop.get(&callback).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.unwrap();
    assert!(html.contains("not signed in here now"), "{html}");
    assert_eq!(owners(&app).len(), 1, "nothing linked");
    assert_eq!(app.stored_session_rows(), 0, "nobody is signed in by it");
}

#[tokio::test]
async fn a_link_answer_after_someone_else_signed_in_here_is_refused() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();
    provider.sign_in(&app, &browser, "/profile", "alice").await;
    let callback = provider.link(&app, &browser, "bob").await;
    // Carol signs in in the same browser before the answer is opened: the
    // sign-in renews the browser key, so the answer is not this browser's
    // any more (and, were it, Carol is not the user who asked).
    provider.sign_in(&app, &browser, "/profile", "carol").await;

    let response = browser.get(&callback).send().await.unwrap();

    assert!(response.status().is_client_error(), "{}", response.status());
    let owners = owners(&app);
    assert_eq!(owners.len(), 2, "Alice and Carol, no Bob: {owners:?}");
    assert!(owners.iter().all(|(name, _)| !name.contains("Bob")));
}

#[tokio::test]
async fn the_link_button_needs_the_csrf_token() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();
    provider.sign_in(&app, &browser, "/profile", "alice").await;
    let response = browser
        .post(app.url(&format!("/auth/{}/link", provider.id)))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// The id of the identity whose name at the provider is `name`.
fn identity_named(app: &TestApp, name: &str) -> i64 {
    identities::table
        .filter(identities::display_name.eq(name))
        .select(identities::id)
        .get_result(&mut app.database())
        .unwrap()
}

/// Alice signed in, with Bob's demo account linked to her.
async fn alice_with_bob_linked(app: &TestApp, provider: &Provider, browser: &reqwest::Client) {
    provider.sign_in(app, browser, "/profile", "alice").await;
    let callback = provider.link(app, browser, "bob").await;
    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn unlinking_an_account_revokes_and_removes_it_and_it_signs_in_apart_afterwards() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();
    alice_with_bob_linked(&app, &provider, &browser).await;
    let bob = identity_named(&app, "Bob Baker");
    let (_, profile) = app.get_html(&browser, "/profile").await;
    assert!(
        profile.contains(&format!("/account/identities/{bob}/unlink")),
        "{profile}"
    );

    let response = app
        .post_with_csrf(&browser, &format!("/account/identities/{bob}/unlink"))
        .await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(crate::helpers::location(&response), "/profile");
    assert_eq!(owners(&app).len(), 1, "Bob's account is gone");
    assert_eq!(app.stored_token_rows(), 1, "only Alice's tokens are left");
    let (_, profile) = app.get_html(&browser, "/profile").await;
    assert_eq!(linked_accounts(&profile).len(), 1);
    // Signing in with it now is someone else.
    let elsewhere = crate::helpers::browser();
    provider.sign_in(&app, &elsewhere, "/profile", "bob").await;
    assert_eq!(app.users_and_identities().0, 2);
}

#[tokio::test]
async fn the_account_signed_in_with_and_the_last_one_are_not_unlinked() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();
    alice_with_bob_linked(&app, &provider, &browser).await;
    let (alice, bob) = (
        identity_named(&app, "Alice Adams"),
        identity_named(&app, "Bob Baker"),
    );

    let response = app
        .post_with_csrf(&browser, &format!("/account/identities/{alice}/unlink"))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("You are signed in with this account"),
        "{html}"
    );
    assert_eq!(owners(&app).len(), 2);

    app.post_with_csrf(&browser, &format!("/account/identities/{bob}/unlink"))
        .await;
    let response = app
        .post_with_csrf(&browser, &format!("/account/identities/{alice}/unlink"))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = response.text().await.unwrap();
    assert!(html.contains("delete your account instead"), "{html}");
    assert_eq!(owners(&app).len(), 1);
    assert_eq!(app.stored_session_rows(), 1, "still signed in");
}

#[tokio::test]
async fn another_users_account_cannot_be_unlinked() {
    let (app, provider) = provider::spawn().await;
    let (alice_browser, carol_browser) = (browser(), browser());
    alice_with_bob_linked(&app, &provider, &alice_browser).await;
    provider
        .sign_in(&app, &carol_browser, "/profile", "carol")
        .await;
    let carol = identity_named(&app, "Carol Chen");

    let response = app
        .post_with_csrf(
            &alice_browser,
            &format!("/account/identities/{carol}/unlink"),
        )
        .await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(owners(&app).len(), 3, "Carol's account stays");
    assert_eq!(app.stored_token_rows(), 3, "Carol's tokens are not revoked");
    let (status, _) = app.get_html(&carol_browser, "/profile").await;
    assert_eq!(status, StatusCode::OK, "Carol is still signed in");
    let response = app
        .post_with_csrf(&alice_browser, "/account/identities/999/unlink")
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_unlink_button_needs_the_csrf_token() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();
    alice_with_bob_linked(&app, &provider, &browser).await;
    let bob = identity_named(&app, "Bob Baker");
    let response = browser
        .post(app.url(&format!("/account/identities/{bob}/unlink")))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(owners(&app).len(), 2);
}

/// Alice with Bob's account linked, each having allowed mail: Bob allows it
/// signed in with his own account in another browser (the permission is
/// asked by the account that signs in; signing out of the last session
/// would delete the user's tokens).
#[cfg(feature = "demo-provider")]
async fn alice_and_bob_with_mail(app: &TestApp, browser: &reqwest::Client) {
    app.sign_in_with_mail(browser, "alice").await;
    let callback = app.link_at_demo(browser, "bob").await;
    browser.get(&callback).send().await.unwrap();
    app.sign_in_with_mail(&crate::helpers::browser(), "bob")
        .await;
}

/// The links of a mail list page that open a message.
#[cfg(feature = "demo-provider")]
fn message_links(html: &str) -> Vec<String> {
    crate::helpers::attribute_values(html, "ul.mail-list a", "href")
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn mail_reads_the_chosen_linked_mailbox_and_its_messages_follow_the_choice() {
    let app = crate::helpers::spawn_app().await;
    let browser = browser();
    alice_and_bob_with_mail(&app, &browser).await;
    let bob = identity_named(&app, "Bob Baker");
    let (status, own) = app.get_html(&browser, "/mail").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        own.contains(&format!("href=\"/mail?account={bob}\"")),
        "{own}"
    );

    let (status, bobs) = app
        .get_html(&browser, &format!("/mail?account={bob}"))
        .await;

    assert_eq!(status, StatusCode::OK);
    assert!(
        bobs.contains("aria-current=\"page\">Demo provider: Bob Baker"),
        "{bobs}"
    );
    let links = message_links(&bobs);
    assert!(!links.is_empty());
    assert_ne!(links, message_links(&own), "another mailbox");
    assert!(
        links
            .iter()
            .all(|link| link.ends_with(&format!("?account={bob}"))),
        "{links:?}"
    );
    let (status, message) = app.get_html(&browser, &links[0]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        message.contains(&format!("href=\"/mail?account={bob}\"")),
        "back to the same mailbox: {message}"
    );
    // The same message id is not in Alice's mailbox.
    let alone = links[0].split('?').next().unwrap();
    let (status, _) = app.get_html(&browser, alone).await;
    assert_ne!(status, StatusCode::OK);
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn mail_chooses_only_among_the_users_own_accounts() {
    let (app, provider) = provider::spawn().await;
    let (alice_browser, carol_browser) = (browser(), browser());
    app.sign_in_with_mail(&carol_browser, "carol").await;
    alice_with_bob_linked(&app, &provider, &alice_browser).await;
    app.grant_mail(&alice_browser, "alice").await;
    let carol = identity_named(&app, "Carol Chen");

    for path in [
        format!("/mail?account={carol}"),
        format!("/mail/some-id?account={carol}"),
        "/mail?account=999".to_owned(),
    ] {
        let (status, _) = app.get_html(&alice_browser, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    // Nor may she ask for the mail permission of Carol's account.
    let (_, html) = app.get_html(&alice_browser, "/mail").await;
    let asked = alice_browser
        .post(app.url("/mail/permission"))
        .form(&[
            ("csrf_token", input_value(&html, "csrf_token")),
            ("account", carol.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::NOT_FOUND);
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn a_linked_account_is_asked_for_its_own_mail_and_only_it_may_answer() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();
    alice_with_bob_linked(&app, &provider, &browser).await;
    let bob = identity_named(&app, "Bob Baker");
    let mailbox = format!("/mail?account={bob}");

    // Alice, not Bob, answers at the provider: refused, nothing stored.
    let authorize_url = app.ask_for_mail_of(&browser, Some(bob)).await;
    let callback = app
        .answer_at_demo("demo", &browser, &authorize_url, "alice", "allow")
        .await;
    let refused = browser.get(&callback).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let (status, html) = app.get_html(&browser, &mailbox).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("action=\"/mail/permission\""),
        "still asks: {html}"
    );

    // Bob answers: the grant is stored for his account, and the browser is
    // back on his mailbox, which is read.
    let authorize_url = app.ask_for_mail_of(&browser, Some(bob)).await;
    let callback = app
        .answer_at_demo("demo", &browser, &authorize_url, "bob", "allow")
        .await;
    let granted = browser.get(&callback).send().await.unwrap();
    assert_eq!(granted.status(), StatusCode::SEE_OTHER);
    assert_eq!(crate::helpers::location(&granted), mailbox);
    let (status, html) = app.get_html(&browser, &mailbox).await;
    assert_eq!(status, StatusCode::OK);
    let messages = attribute_values(&html, "li a[href^='/mail/']", "href");
    assert!(
        !messages.is_empty()
            && messages
                .iter()
                .all(|href| href.ends_with(&format!("?account={bob}"))),
        "Bob's mail is listed, each message in his mailbox: {messages:?}"
    );

    // Alice's own mailbox still asks: the grant was Bob's account's alone.
    let (_, html) = app.get_html(&browser, "/mail").await;
    assert!(html.contains("action=\"/mail/permission\""), "{html}");
    assert!(!html.contains("name=\"account\""), "{html}");
}
