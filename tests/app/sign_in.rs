//! The whole flow, as a visitor lives it.

use reqwest::StatusCode;
use url::Url;

use crate::helpers::{TestApp, attribute_values, browser, links, location, spawn_app};
use crate::provider;

#[tokio::test]
async fn a_protected_page_sends_a_signed_out_visitor_to_the_chooser_keeping_the_path() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();

    let response = browser.get(app.url("/mail/AAMk%3D")).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login?return_to=%2Fmail%2FAAMk%253D");
    let (status, html) = app.get_html(&browser, &location(&response)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        links(&html).contains(&format!(
            "/auth/{}/login?return_to=%2Fmail%2FAAMk%253D",
            provider.id
        )),
        "{html}"
    );
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn the_home_page_asks_the_question_and_offers_each_provider_and_not_now() {
    let app = spawn_app().await;
    let (status, html) = app.get_html(&browser(), "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Do you want to sign in via a third party?"));
    assert!(html.contains("Sign in with Demo provider"));
    assert!(links(&html).contains(&"/guest".to_owned()));
    let (status, _) = app.get_html(&browser(), "/guest").await;
    assert_eq!(status, StatusCode::OK);
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn the_authorization_request_carries_every_parameter_the_specs_require() {
    let app = spawn_app().await;
    let response = browser()
        .get(app.url("/auth/demo/login?return_to=/mail"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let url = Url::parse(&location(&response)).unwrap();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();

    assert_eq!(url.path(), "/authorize");
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], "signin-reference");
    assert_eq!(query["redirect_uri"], app.url("/auth/demo/callback"));
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43, "SHA-256, base64url");
    assert_eq!(query["state"].len(), 43, "32 random bytes");
    assert_eq!(query["nonce"].len(), 43, "32 random bytes");
    let scopes: Vec<&str> = query["scope"].split(' ').collect();
    for scope in ["openid", "profile", "email", "offline_access", "User.Read"] {
        assert!(scopes.contains(&scope), "{scope} missing from {scopes:?}");
    }
    // Mail is asked for when it is opened, not at sign-in.
    assert!(!scopes.contains(&"Mail.Read"), "{scopes:?}");
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn signing_in_returns_to_the_page_first_asked_for_with_profile_and_mail() {
    let app = spawn_app().await;
    let browser = browser();

    let landing = app.sign_in(&browser, "/mail", "alice").await;
    assert_eq!(landing, "/mail");
    app.grant_mail(&browser, "alice").await;

    let (status, html) = app.get_html(&browser, "/mail").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Signed in as <strong>Alice Adams</strong>"),
        "{html}"
    );
    assert!(html.contains("Security check: this message tries to run script"));
    let older = attribute_values(&html, "a[rel=next]", "href");
    assert_eq!(older.len(), 1, "an Older link: {older:?}");
    assert!(older[0].starts_with("/mail?cursor="), "{older:?}");

    let (status, html) = app.get_html(&browser, "/profile").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Alice Adams"));
    assert!(html.contains("Product Manager"));
    assert!(html.contains("alice@demo.example"));
    assert!(
        html.contains("<code>Mail.Read</code>"),
        "granted scopes are listed"
    );
    // The page says how long it keeps the profile (PROFILE_TTL).
    assert!(
        html.contains("shown from memory for 5 minutes after that"),
        "{html}"
    );
    let photos = attribute_values(&html, "img.avatar", "src");
    assert!(
        photos
            .iter()
            .any(|src| src.starts_with("data:image/png;base64,")),
        "Alice has a photo"
    );
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn mail_pages_forward_and_back_and_a_message_is_shown_sanitised() {
    let app = spawn_app().await;
    let browser = browser();
    app.sign_in_with_mail(&browser, "bob").await;

    // Follow "Older" (the API's @odata.nextLink, carried as our cursor) to the end.
    let (status, page_one) = app.get_html(&browser, "/mail").await;
    assert_eq!(status, StatusCode::OK);
    assert!(attribute_values(&page_one, "a[rel=first]", "href").is_empty());
    let mut page = page_one.clone();
    let mut pages = 1;
    while let Some(older) = attribute_values(&page, "a[rel=next]", "href").pop() {
        let (status, next) = app.get_html(&browser, &older).await;
        assert_eq!(status, StatusCode::OK, "{older}");
        assert_ne!(next, page);
        assert_eq!(attribute_values(&next, "a[rel=first]", "href"), ["/mail"]);
        page = next;
        pages += 1;
        assert!(pages <= 10, "paging must end");
    }
    assert_eq!(pages, 5, "45 messages, 10 a page");

    let document = scraper::Html::parse_document(&page_one);
    let link = scraper::Selector::parse("a[href^=\"/mail/\"]").unwrap();
    let hostile_href = document
        .select(&link)
        .find(|a| a.text().collect::<String>().contains("tries to run script"))
        .and_then(|a| a.value().attr("href"))
        .expect("hostile message in the first page")
        .to_owned();
    let (status, message) = app.get_html(&browser, &hostile_href).await;
    assert_eq!(status, StatusCode::OK);
    let body_start = message.find("class=\"mail-body\"").expect("body");
    let body = &message[body_start..];
    for forbidden in ["<script", "onerror", "javascript:", "<iframe"] {
        assert!(!body.contains(forbidden), "{forbidden} reached the page");
    }
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn a_message_that_does_not_exist_is_a_404_page() {
    let app = spawn_app().await;
    let browser = browser();
    app.sign_in(&browser, "/profile", "carol").await;
    app.grant_mail(&browser, "carol").await;
    let (status, html) = app.get_html(&browser, "/mail/AAMkADnothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("We could not find that page."));
}

async fn sign_out(app: &TestApp, browser: &reqwest::Client) -> reqwest::Response {
    app.post_with_csrf(browser, "/logout").await
}

#[tokio::test]
async fn sign_out_needs_the_csrf_token_and_then_ends_the_session() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();
    provider.sign_in(&app, &browser, "/profile", "alice").await;

    let forged = browser
        .post(app.url("/logout"))
        .form(&[("csrf_token", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let (status, _) = app.get_html(&browser, "/profile").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "still signed in after a forged sign-out"
    );

    let response = sign_out(&app, &browser).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    // The browser is told to drop the cookie, not only the server to forget
    // the session: nothing of the signed-in session stays on a shared computer.
    let removal = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .find(|cookie| cookie.starts_with("app_session="))
        .expect("the sign-out answer sets the session cookie");
    assert!(removal.contains("Max-Age=0"), "{removal}");

    let after = browser.get(app.url("/profile")).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "signed out");
}

#[tokio::test]
async fn sign_out_by_get_is_not_possible() {
    let app = spawn_app().await;
    let response = browser().get(app.url("/logout")).send().await.unwrap();
    assert!(response.status().is_client_error());
}

#[tokio::test]
async fn the_health_check_reports_the_database() {
    let app = spawn_app().await;
    let response = browser().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["database"], "ok");
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_lax_and_holds_no_token() {
    let (app, provider) = provider::spawn().await;
    let response = browser()
        .get(app.url(&format!("/auth/{}/login", provider.id)))
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .expect("session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("app_session="));
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("browser_key"), "the cookie is encrypted");
}
