//! Signing out at the provider and deleting the account. At the demo
//! provider, its `/revoke` (RFC 7009) and `/logout` (RP-Initiated Logout 1.0)
//! are real, so revocation is proven by the provider refusing the old tokens
//! afterwards, not by a request having been sent. Deletion and the CSRF
//! checks run at whichever provider the build has (`provider`).

use diesel::prelude::*;
use reqwest::StatusCode;
use signin_reference::db::schema::{
    identities, pending_sign_ins, provider_tokens, sessions, sign_in_attempts, users,
};

use crate::helpers::{
    TestApp, browser, browser_with_jar, copied_cookie, end_session_link, location, query_value,
    spawn_app,
};
use crate::provider;

/// The stored tokens' sealed columns (access, refresh), to put back later.
fn sealed_tokens(app: &TestApp) -> (Vec<u8>, Option<Vec<u8>>) {
    provider_tokens::table
        .select((
            provider_tokens::access_token,
            provider_tokens::refresh_token,
        ))
        .get_result(&mut app.database())
        .unwrap()
}

/// Follows the provider's end-session redirect back to `/signed-out`.
async fn through_the_providers_sign_out(
    app: &TestApp,
    browser: &reqwest::Client,
    end_session: &str,
) -> String {
    assert!(
        end_session.starts_with(&format!("{}/logout?", app.demo_address)),
        "{end_session}"
    );
    let back = browser.get(end_session).send().await.unwrap();
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let signed_out = location(&back);
    assert!(
        signed_out.starts_with(&app.url("/signed-out?")),
        "{signed_out}"
    );
    let page = browser.get(&signed_out).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    page.text().await.unwrap()
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn signing_out_of_the_provider_too_revokes_its_tokens_and_ends_its_session() {
    let app = spawn_app().await;
    let browser = browser();
    app.sign_in_with_mail(&browser, "alice").await;
    let before = sealed_tokens(&app);

    let response = app.post_with_csrf(&browser, "/logout/provider").await;

    // RP-Initiated Logout 1.0 §2: who, for which app, where to come back, state.
    let end_session = end_session_link(response).await;
    assert!(!query_value(&end_session, "id_token_hint").is_empty());
    assert_eq!(
        query_value(&end_session, "post_logout_redirect_uri"),
        app.url("/signed-out")
    );
    assert_eq!(query_value(&end_session, "state").len(), 43);
    let page = through_the_providers_sign_out(&app, &browser, &end_session).await;
    assert!(
        page.contains("confirmed that this app's access is revoked"),
        "{page}"
    );
    assert!(
        page.contains("You were signed out at Demo provider too"),
        "{page}"
    );
    // The end of the sign-in's timeline: both revocations (refresh token
    // first, RFC 7009 §2.1) and the end-session request, secrets as fingerprints.
    let timeline = &page[page.find("What was sent").expect("the timeline")..];
    let refresh = timeline
        .find("refresh_token")
        .expect("refresh token revoked");
    let access = timeline.find("access_token").expect("access token revoked");
    assert!(refresh < access, "the refresh token first");
    assert_eq!(
        timeline.matches("<h3>Revocation</h3>").count(),
        2,
        "{timeline}"
    );
    assert!(timeline.contains("Sign-out at the provider"), "{timeline}");
    assert!(!timeline.contains(&query_value(&end_session, "id_token_hint")));
    assert_eq!(app.stored_token_rows(), 0);
    assert_eq!(
        app.get_html(&browser, "/profile").await.0,
        StatusCode::SEE_OTHER
    );

    // Proof at the provider: sign in again, then put the old (revoked) tokens
    // back. The API refuses the access token and the token endpoint the
    // refresh token, so the app asks to sign in again.
    app.sign_in_with_mail(&browser, "alice").await;
    diesel::update(provider_tokens::table)
        .set((
            provider_tokens::access_token.eq(before.0),
            provider_tokens::refresh_token.eq(before.1),
        ))
        .execute(&mut app.database())
        .unwrap();
    let response = browser.get(app.url("/mail")).send().await.unwrap();
    assert_eq!(
        location(&response),
        "/login?return_to=%2Fmail&expired=refused"
    );
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn a_returning_browser_without_the_right_state_is_not_told_the_provider_signed_it_out() {
    let app = spawn_app().await;
    let browser = browser();
    app.sign_in(&browser, "/profile", "alice").await;
    let response = app.post_with_csrf(&browser, "/logout/provider").await;
    end_session_link(response).await;

    let (status, page) = app.get_html(&browser, "/signed-out?state=guessed").await;

    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("could not confirm that you came back"),
        "{page}"
    );
}

#[tokio::test]
async fn provider_sign_out_and_account_deletion_need_the_csrf_token() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();
    provider.sign_in(&app, &browser, "/profile", "alice").await;
    for path in ["/logout/provider", "/account/delete"] {
        let forged = browser
            .post(app.url(path))
            .form(&[("csrf_token", "guess")])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(app.get_html(&browser, "/profile").await.0, StatusCode::OK);
    assert_eq!(app.stored_token_rows(), 1);
}

/// Rows in every table that can hold something of a user (there is one
/// other user, Bob, whose rows must stay).
fn rows_per_table(app: &TestApp) -> [(&'static str, i64); 6] {
    let mut connection = app.database();
    let count = |name, rows: QueryResult<i64>| (name, rows.unwrap());
    [
        count("users", users::table.count().get_result(&mut connection)),
        count(
            "identities",
            identities::table.count().get_result(&mut connection),
        ),
        count(
            "provider_tokens",
            provider_tokens::table.count().get_result(&mut connection),
        ),
        count(
            "sessions",
            sessions::table.count().get_result(&mut connection),
        ),
        count(
            "sign_in_attempts",
            sign_in_attempts::table.count().get_result(&mut connection),
        ),
        count(
            "pending_sign_ins",
            pending_sign_ins::table.count().get_result(&mut connection),
        ),
    ]
}

#[tokio::test]
async fn deleting_the_account_leaves_no_row_of_that_user_and_ends_every_session() {
    let (app, provider) = provider::spawn().await;
    let (laptop, laptop_jar) = browser_with_jar();
    let phone = browser();
    provider.sign_in(&app, &laptop, "/profile", "alice").await;
    provider.sign_in(&app, &phone, "/profile", "alice").await;
    let bob = browser();
    provider.sign_in(&app, &bob, "/profile", "bob").await;
    let copy = copied_cookie(&laptop_jar, &app);
    let with_alice = rows_per_table(&app);

    let (status, confirmation) = app.get_html(&laptop, "/account/delete").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        confirmation.to_lowercase().contains("alice") && confirmation.contains("2 session(s)"),
        "{confirmation}"
    );
    let response = app.post_with_csrf(&laptop, "/account/delete").await;
    let page = if response.status() == StatusCode::SEE_OTHER {
        // A provider without an end-session endpoint: straight to the page.
        assert_eq!(location(&response), "/signed-out");
        app.get_html(&laptop, "/signed-out").await.1
    } else {
        let end_session = end_session_link(response).await;
        through_the_providers_sign_out(&app, &laptop, &end_session).await
    };
    assert!(page.contains("Your account is deleted"), "{page}");

    // Only Bob's rows remain: one user, one identity, one token row, one
    // session, one attempt (when the teaching layer records attempts); no
    // pending sign-in of anyone.
    assert_eq!(
        rows_per_table(&app),
        [
            ("users", 1),
            ("identities", 1),
            ("provider_tokens", 1),
            ("sessions", 1),
            ("sign_in_attempts", i64::from(cfg!(feature = "teaching"))),
            ("pending_sign_ins", 0),
        ],
        "before deletion: {with_alice:?}"
    );
    for client in [&laptop, &phone, &copy] {
        let response = client.get(app.url("/profile")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(
        app.get_html(&bob, "/profile").await.0,
        StatusCode::OK,
        "Bob is untouched"
    );
}
