//! Sessions that really end: a signed-in session is known on the server, so
//! signing out, "Sign out everywhere" and the two time limits make every copy
//! of the session cookie useless, not only the one in this browser.

use diesel::prelude::*;
use reqwest::StatusCode;
use signin_reference::db::schema::sessions;

use crate::helpers::{TestApp, browser, browser_with_jar, copied_cookie, location};
use crate::provider;

/// `GET /profile` answered the signed-in way (200) or sent to sign in (303).
async fn profile_status(app: &TestApp, client: &reqwest::Client) -> StatusCode {
    client
        .get(app.url("/profile"))
        .send()
        .await
        .expect("profile")
        .status()
}

#[tokio::test]
async fn a_copied_cookie_stops_working_when_its_session_signs_out() {
    let (app, provider) = provider::spawn().await;
    let (browser, jar) = browser_with_jar();
    provider.sign_in(&app, &browser, "/profile", "alice").await;
    let copy = copied_cookie(&jar, &app);
    assert_eq!(
        profile_status(&app, &copy).await,
        StatusCode::OK,
        "the copy works at first"
    );

    let signed_out = app.post_with_csrf(&browser, "/logout").await;
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);

    let replayed = copy.get(app.url("/profile")).send().await.unwrap();
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&replayed), "/login?return_to=%2Fprofile");
}

#[tokio::test]
async fn signing_out_in_one_browser_leaves_the_others_signed_in() {
    let (app, provider) = provider::spawn().await;
    let (laptop, phone) = (browser(), browser());
    provider.sign_in(&app, &laptop, "/profile", "alice").await;
    provider.sign_in(&app, &phone, "/profile", "alice").await;

    app.post_with_csrf(&laptop, "/logout").await;

    assert_eq!(profile_status(&app, &laptop).await, StatusCode::SEE_OTHER);
    // The phone's session is its own, and the tokens it needs are kept.
    let (status, _) = app.get_html(&phone, "/mail").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_browser_and_every_copy() {
    let (app, provider) = provider::spawn().await;
    let (laptop, laptop_jar) = browser_with_jar();
    let phone = browser();
    provider.sign_in(&app, &laptop, "/profile", "alice").await;
    provider.sign_in(&app, &phone, "/profile", "alice").await;
    let copy = copied_cookie(&laptop_jar, &app);
    // Both have seen /profile, so it is kept in memory (api::profile_cache).
    assert_eq!(profile_status(&app, &laptop).await, StatusCode::OK);

    let response = app.post_with_csrf(&phone, "/logout/all").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    for client in [&laptop, &phone, &copy] {
        assert_eq!(profile_status(&app, client).await, StatusCode::SEE_OTHER);
    }
}

#[tokio::test]
async fn sign_out_everywhere_needs_the_csrf_token() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();
    provider.sign_in(&app, &browser, "/profile", "alice").await;

    let forged = browser
        .post(app.url("/logout/all"))
        .form(&[("csrf_token", "guess")])
        .send()
        .await
        .unwrap();

    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(profile_status(&app, &browser).await, StatusCode::OK);
}

/// Moves every session back in time: its start by `created` seconds, its last use by `last_seen`.
fn age_sessions(app: &TestApp, created: i64, last_seen: i64) {
    diesel::update(sessions::table)
        .set((
            sessions::created_at.eq(sessions::created_at - created),
            sessions::last_seen_at.eq(sessions::last_seen_at - last_seen),
        ))
        .execute(&mut app.database())
        .unwrap();
}

#[tokio::test]
async fn a_session_older_than_session_max_age_ends_even_while_in_use() {
    let (app, provider) = provider::spawn_with(&[("SESSION_MAX_AGE", "3600")]).await;
    let (browser, jar) = browser_with_jar();
    provider.sign_in(&app, &browser, "/profile", "alice").await;
    let copy = copied_cookie(&jar, &app);
    // Signed in 3601 s ago, and used a moment ago.
    age_sessions(&app, 3601, 0);

    assert_eq!(profile_status(&app, &copy).await, StatusCode::SEE_OTHER);
    assert_eq!(profile_status(&app, &browser).await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_session_idle_longer_than_the_timeout_ends_whatever_the_cookie_says() {
    let (app, provider) = provider::spawn_with(&[("SESSION_IDLE_TIMEOUT", "600")]).await;
    let browser = browser();
    provider.sign_in(&app, &browser, "/profile", "alice").await;
    age_sessions(&app, 601, 601);

    assert_eq!(profile_status(&app, &browser).await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn signing_in_again_right_after_an_idle_expiry_works_at_the_first_try() {
    let (app, provider) = provider::spawn_with(&[("SESSION_IDLE_TIMEOUT", "600")]).await;
    let browser = browser();
    provider.sign_in(&app, &browser, "/profile", "alice").await;
    age_sessions(&app, 601, 601);

    // The first request after the expiry is the sign-in's start: it must both
    // forget the old session and keep the browser key it writes for the new one.
    let landed = provider.sign_in(&app, &browser, "/mail", "alice").await;

    assert_eq!(landed, "/mail");
    assert_eq!(profile_status(&app, &browser).await, StatusCode::OK);
}

#[tokio::test]
async fn an_active_session_is_kept_alive_on_the_server() {
    let (app, provider) = provider::spawn_with(&[("SESSION_IDLE_TIMEOUT", "600")]).await;
    let browser = browser();
    provider.sign_in(&app, &browser, "/profile", "alice").await;
    // Last used 590 s ago: still live, and this visit counts as use…
    age_sessions(&app, 590, 590);
    assert_eq!(profile_status(&app, &browser).await, StatusCode::OK);
    // …so another 590 s later it is still live (idle 590 s, not 1180 s).
    age_sessions(&app, 590, 590);
    assert_eq!(profile_status(&app, &browser).await, StatusCode::OK);
}

#[tokio::test]
async fn signing_in_again_in_the_same_browser_ends_the_session_it_replaces() {
    let (app, provider) = provider::spawn().await;
    let (browser, jar) = browser_with_jar();
    provider.sign_in(&app, &browser, "/profile", "alice").await;
    let copy_of_the_first = copied_cookie(&jar, &app);

    provider.sign_in(&app, &browser, "/profile", "alice").await;

    assert_eq!(profile_status(&app, &browser).await, StatusCode::OK);
    assert_eq!(
        profile_status(&app, &copy_of_the_first).await,
        StatusCode::SEE_OTHER,
        "the replaced session is over"
    );
}

#[cfg(feature = "demo-provider")]
#[tokio::test]
async fn pages_that_change_nothing_in_the_session_do_not_write_it_again() {
    // A session written on every page costs a new encrypted cookie (or a
    // Redis SET) per view, and two tabs writing the same session race. The
    // first API call after sign-in changes it once (step 7 is then
    // recorded); later views of the same pages leave it as it is.
    let app = crate::helpers::spawn_app().await;
    let browser = browser();
    app.sign_in_with_mail(&browser, "alice").await;
    for path in ["/mail", "/profile?refresh=1"] {
        let first = browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(first.status(), StatusCode::OK, "{path}");
    }
    for path in ["/mail", "/profile?refresh=1", "/profile"] {
        let again = browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::OK, "{path}");
        assert!(
            again.headers().get(reqwest::header::SET_COOKIE).is_none(),
            "{path} wrote the session again: {:?}",
            again.headers().get(reqwest::header::SET_COOKIE)
        );
    }
}

#[tokio::test]
async fn a_kept_signed_in_page_writes_no_cookie() {
    let (app, provider) = provider::spawn().await;
    let browser = browser();
    provider.sign_in(&app, &browser, "/", "alice").await;
    let sets_cookie =
        |response: &reqwest::Response| response.headers().contains_key(reqwest::header::SET_COOKIE);

    // The first API call after a sign-in clears the observer's flag (step 7
    // for /flow), so its page writes the cookie again; built without the
    // teaching layer, no flag is ever set and no page view writes one.
    let first = browser.get(app.url("/profile")).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(sets_cookie(&first), cfg!(feature = "teaching"));

    for page in ["/profile", "/", "/profile"] {
        let again = browser.get(app.url(page)).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::OK, "{page}");
        assert!(!sets_cookie(&again), "{page} wrote the cookie");
    }
}

/// Waits (up to 15 s) until `done` holds, checking every quarter second.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn an_idle_last_session_leaves_no_token_without_anyone_coming_back() {
    // SESSION_IDLE_TIMEOUT=2: the sweep runs every second (`sweeper::period`);
    // the same with SESSION_MAX_AGE below.
    let (app, provider) = provider::spawn_with(&[("SESSION_IDLE_TIMEOUT", "2")]).await;
    let browser = browser();
    provider.sign_in(&app, &browser, "/profile", "alice").await;
    assert_eq!(app.stored_token_rows(), 1);

    eventually("the idle session and its tokens are swept", || {
        app.stored_session_rows() == 0 && app.stored_token_rows() == 0
    })
    .await;
    assert_eq!(profile_status(&app, &browser).await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_session_at_its_maximum_age_takes_its_tokens_with_it_however_active() {
    let (app, provider) = provider::spawn_with(&[("SESSION_MAX_AGE", "2")]).await;
    let browser = browser();
    provider.sign_in(&app, &browser, "/", "alice").await;
    let started = std::time::Instant::now();
    // Active all along: a page every half second.
    while app.stored_token_rows() > 0 {
        assert!(
            started.elapsed().as_secs() < 15,
            "the tokens outlived the session"
        );
        let _ = browser.get(app.url("/")).send().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(
        started.elapsed().as_secs() >= 2,
        "not before SESSION_MAX_AGE"
    );
    assert_eq!(app.stored_session_rows(), 0);
}

/// A browser that says what it is, as a real one does.
fn browser_saying(user_agent: &str) -> (reqwest::Client, std::sync::Arc<reqwest::cookie::Jar>) {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .user_agent(user_agent)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    (client, jar)
}

#[tokio::test]
async fn the_sessions_page_lists_each_browser_and_ends_another_at_once() {
    use crate::helpers::{attribute_values, input_value};
    let (app, provider) = provider::spawn().await;
    let (laptop, _) =
        browser_saying("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0");
    let (phone, phone_jar) = browser_saying(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    );
    provider.sign_in(&app, &laptop, "/", "alice").await;
    provider.sign_in(&app, &phone, "/", "alice").await;
    let phone_copy = copied_cookie(&phone_jar, &app);

    let (status, page) = app.get_html(&laptop, "/account/sessions").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Firefox on Linux"), "{page}");
    assert!(page.contains("Safari on iPhone"), "{page}");
    assert!(page.contains("Alice Adams"), "{page}");
    assert_eq!(page.matches("This browser").count(), 1, "{page}");
    // One "End" form, for the other browser; it names the row by a handle
    // that is neither the session id nor its hash.
    let forms = attribute_values(&page, "form[action^='/account/sessions/']", "action");
    assert_eq!(forms.len(), 1, "{page}");
    let handle = forms[0]
        .trim_start_matches("/account/sessions/")
        .trim_end_matches("/end")
        .to_owned();
    let hashes: Vec<String> = sessions::table
        .select(sessions::id_hash)
        .load(&mut app.database())
        .unwrap();
    assert!(handle.len() >= 20 && !hashes.contains(&handle), "{handle}");

    // Without the CSRF token: refused, nothing ends.
    let forged = laptop
        .post(app.url(&forms[0]))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(profile_status(&app, &phone).await, StatusCode::OK);

    let ended = laptop
        .post(app.url(&forms[0]))
        .form(&[("csrf_token", input_value(&page, "csrf_token"))])
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&ended), "/account/sessions");

    // The phone, and any copy of its cookie, is signed out at once; the
    // laptop is not, and keeps the tokens (its session still needs them).
    assert_eq!(profile_status(&app, &phone).await, StatusCode::SEE_OTHER);
    assert_eq!(
        profile_status(&app, &phone_copy).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(profile_status(&app, &laptop).await, StatusCode::OK);
    assert_eq!(app.stored_token_rows(), 1);
    let (_, page) = app.get_html(&laptop, "/account/sessions").await;
    assert!(!page.contains("Safari on iPhone"), "{page}");

    // The same handle again, or another person's: not found.
    let again = laptop
        .post(app.url(&forms[0]))
        .form(&[("csrf_token", input_value(&page, "csrf_token"))])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_persons_session_cannot_be_ended_by_its_handle() {
    use crate::helpers::input_value;
    let (app, provider) = provider::spawn().await;
    let (alice, bob) = (browser(), browser());
    provider.sign_in(&app, &alice, "/", "alice").await;
    provider.sign_in(&app, &bob, "/", "bob").await;
    use signin_reference::db::schema::identities;
    let alices: String = sessions::table
        .inner_join(identities::table)
        .filter(identities::display_name.eq("Alice Adams"))
        .select(sessions::handle)
        .first(&mut app.database())
        .unwrap();
    let (_, page) = app.get_html(&bob, "/account/sessions").await;
    assert!(!page.contains(&alices), "Bob's list shows only his own");
    let response = bob
        .post(app.url(&format!("/account/sessions/{alices}/end")))
        .form(&[("csrf_token", input_value(&page, "csrf_token"))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        profile_status(&app, &alice).await,
        StatusCode::OK,
        "Alice is still in"
    );
}

#[tokio::test]
async fn with_redis_a_visitors_session_lives_as_long_as_a_pending_sign_in() {
    let Some(url) = crate::helpers::test_redis_url() else {
        eprintln!("skipped: TEST_REDIS_URL is not set (.ci/run sets it)");
        return;
    };
    let prefix = crate::helpers::redis_key_prefix();
    let (app, provider) = provider::spawn_with(&[
        ("REDIS_URL", url.clone()),
        ("SESSION_STORE", "redis".to_owned()),
        ("REDIS_KEY_PREFIX", prefix.clone()),
    ])
    .await;
    let mut redis = redis::Client::open(url)
        .unwrap()
        .get_connection()
        .expect("Redis");
    let ttls = |redis: &mut redis::Connection| -> Vec<i64> {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}session:*"))
            .query(redis)
            .unwrap();
        keys.iter()
            .map(|key| redis::cmd("TTL").arg(key).query(redis).unwrap())
            .collect()
    };

    // A visitor starts a sign-in and never comes back: their session state
    // is kept ten minutes (the pending sign-in's life), not eight hours.
    let visitor = browser();
    let start = visitor
        .get(app.url(&format!("/auth/{}/login", provider.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let anonymous = ttls(&mut redis);
    assert_eq!(anonymous.len(), 1, "{anonymous:?}");
    assert!((1..=600).contains(&anonymous[0]), "{anonymous:?}");

    // Signed in, the state lives SESSION_MAX_AGE (8 hours by default).
    provider.sign_in(&app, &visitor, "/", "alice").await;
    let signed_in = ttls(&mut redis);
    assert!(signed_in.iter().any(|ttl| *ttl > 600), "{signed_in:?}");
}
