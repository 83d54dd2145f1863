//! `/flow`: a learner sees the seven steps of their own sign-in, with no
//! secret visible; a failed attempt shows where and why it stopped.

use reqwest::StatusCode;

use crate::helpers::{browser, query_value, spawn_app};

#[tokio::test]
async fn flow_shows_all_seven_steps_of_my_sign_in_without_secrets() {
    let app = spawn_app().await;
    let browser = browser();
    let callback = app
        .authorize_at_demo(&browser, "/profile", "alice", "allow")
        .await;
    let code = query_value(&callback, "code");
    let state = query_value(&callback, "state");
    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // Before any API call, step 7 is still to come.
    let (status, html) = app.get_html(&browser, "/flow").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("signed in"), "{html}");
    assert!(html.contains("Not yet: open your"));

    // The profile makes the first API call; /flow now has all seven.
    let (status, _) = app.get_html(&browser, "/profile").await;
    assert_eq!(status, StatusCode::OK);
    let (_, html) = app.get_html(&browser, "/flow").await;
    let document = scraper::Html::parse_document(&html);
    let done = scraper::Selector::parse("ol.timeline > li.done").unwrap();
    assert_eq!(document.select(&done).count(), 7, "{html}");
    let text: String = document.root_element().text().collect();
    for expected in [
        "client_secret",
        "(hidden)",
        "code_challenge_method",
        "S256",
        "/authorize",
        "/token",
        "HTTP 200",
        "id_token.sub",
        "v1.0/me",
        "src/oauth/flow.rs",
    ] {
        assert!(text.contains(expected), "{expected} on /flow: {text}");
    }
    // No secret: not the code, not the state, not any demo token or client secret.
    assert!(!text.contains(&code) && !text.contains(&state));
    assert!(!text.contains(&code[4..]), "not even most of the code");
}

#[tokio::test]
async fn a_failed_attempt_shows_the_step_that_failed_and_why() {
    let app = spawn_app().await;
    let browser = browser();
    let callback = app
        .authorize_at_demo(&browser, "/mail", "bob", "deny")
        .await;
    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let (status, html) = app.get_html(&browser, "/flow").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("It stopped at step 4"), "{html}");
    assert!(html.contains("You chose not to sign in"));
    let document = scraper::Html::parse_document(&html);
    let failed = scraper::Selector::parse("ol.timeline > li.failed").unwrap();
    assert_eq!(document.select(&failed).count(), 1);
}

#[tokio::test]
async fn nobody_sees_another_browsers_attempt() {
    let app = spawn_app().await;
    let alice = browser();
    app.sign_in(&alice, "/profile", "alice").await;
    let (status, html) = app.get_html(&browser(), "/flow").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("There is no sign-in to show yet"));
}
