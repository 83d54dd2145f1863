//! Floods: one client starting sign-ins without end must not lock anyone else
//! out (per-client limit, `rate_limit`), and however many sign-ins are started,
//! the tables stay bounded and a real visitor still signs in (the oldest
//! pending sign-ins and `/flow` records are dropped, never new ones refused).

use std::time::Instant;

use futures_util::StreamExt as _;
use reqwest::StatusCode;

use crate::helpers::browser;
use crate::provider;

/// A client that keeps no cookie: every start gets a new browser key.
fn cookieless() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_client_past_its_sign_in_starts_per_minute_gets_429_with_retry_after() {
    let (app, provider) = provider::spawn_with(&[("SIGN_IN_STARTS_PER_MINUTE", "5")]).await;
    let client = cookieless();
    for n in 0..5 {
        let response = client
            .get(app.url(&format!("/auth/{}/login", provider.id)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "start {n}");
    }

    let refused = client
        .get(app.url(&format!("/auth/{}/login", provider.id)))
        .send()
        .await
        .unwrap();

    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    // In this process a bucket gives one start back every 12 s; the shared
    // limit in Redis (TEST_REDIS_URL) counts per one-minute window.
    let longest = if crate::helpers::test_redis_url().is_some() {
        60
    } else {
        12
    };
    assert!(
        (1..=longest).contains(&retry_after),
        "Retry-After {retry_after}, at most {longest}"
    );
    let html = refused.text().await.unwrap();
    assert!(html.contains("started many sign-ins"), "{html}");
    assert!(
        html.contains(&format!("wait {retry_after} second")),
        "{html}"
    );
    // The app does not trust X-Forwarded-For from a peer that is not a proxy.
    let forged = client
        .get(app.url(&format!("/auth/{}/login", provider.id)))
        .header("X-Forwarded-For", "203.0.113.77")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
    // Other pages are not limited.
    let home = client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    // The test connects from 127.0.0.1: here, that is the proxy.
    let (app, provider) = provider::spawn_with(&[
        ("SIGN_IN_STARTS_PER_MINUTE", "2"),
        ("TRUSTED_PROXIES", "127.0.0.1, ::1"),
    ])
    .await;
    let client = cookieless();
    let start = |forwarded: &'static str| {
        client
            .get(app.url(&format!("/auth/{}/login", provider.id)))
            .header("X-Forwarded-For", forwarded)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(
            start("203.0.113.1").await.unwrap().status(),
            StatusCode::SEE_OTHER
        );
    }
    assert_eq!(
        start("203.0.113.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // A client cannot escape by prepending addresses: the proxy appended the real one.
    assert_eq!(
        start("198.51.100.1, 203.0.113.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        start("203.0.113.2").await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn twenty_thousand_cookieless_starts_then_a_real_visitor_signs_in_at_the_first_try() {
    use diesel::prelude::*;
    use signin_reference::db::attempts::ATTEMPTS_TOTAL;
    use signin_reference::db::schema::{pending_sign_ins, sign_in_attempts};

    // The per-client limit would stop this flood after 30 starts; lifted, the
    // database's own bounds must hold on their own.
    let (app, provider) = provider::spawn_with(&[("SIGN_IN_STARTS_PER_MINUTE", "1000000")]).await;
    let client = cookieless();
    let started = Instant::now();

    let statuses: Vec<StatusCode> = futures_util::stream::iter(0..20_000)
        .map(|_| {
            let request = client
                .get(app.url(&format!("/auth/{}/login", provider.id)))
                .send();
            async move { request.await.expect("start").status() }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let flood = started.elapsed();

    assert!(
        statuses
            .iter()
            .all(|status| *status == StatusCode::SEE_OTHER),
        "every start was accepted: {:?}",
        statuses
            .iter()
            .find(|status| **status != StatusCode::SEE_OTHER)
    );
    let visitor = browser();
    let landed = provider.sign_in(&app, &visitor, "/profile", "alice").await;
    assert_eq!(landed, "/profile");
    let (status, _) = app.get_html(&visitor, "/profile").await;
    assert_eq!(status, StatusCode::OK);

    let mut connection = app.database();
    let pending: i64 = pending_sign_ins::table
        .count()
        .get_result(&mut connection)
        .unwrap();
    let attempts: i64 = sign_in_attempts::table
        .count()
        .get_result(&mut connection)
        .unwrap();
    assert!(pending <= 10_000, "pending sign-ins: {pending}");
    assert!(attempts <= ATTEMPTS_TOTAL, "/flow attempts: {attempts}");
    eprintln!(
        "20 000 starts in {flood:?}; whole test {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_callback_with_a_state_never_issued_is_refused_without_a_write() {
    let (app, provider) = provider::spawn().await;
    if app.database_url.starts_with("postgres") {
        eprintln!("skipped on PostgreSQL: SQLite's single writer is what this protects");
        return;
    }
    // Someone else holds SQLite's only write lock (as a burst of sign-ins
    // would): a callback that needed a write would wait for it.
    use diesel::prelude::*;
    let mut writer = app.database();
    diesel::sql_query("BEGIN IMMEDIATE")
        .execute(&mut writer)
        .expect("the write lock");

    let browser = browser();
    let started = Instant::now();
    let forged = browser
        .get(app.url(&format!("/auth/{}/callback", provider.id)))
        .query(&[("state", "never-issued-by-this-app"), ("code", "x")])
        .send()
        .await
        .unwrap();

    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    // Well under SQLite's busy timeout (5 s), which a write would wait out.
    assert!(
        started.elapsed().as_millis() < 2500,
        "answered without waiting for the writer: {:?}",
        started.elapsed()
    );
    diesel::sql_query("ROLLBACK").execute(&mut writer).unwrap();
}

#[tokio::test]
async fn a_sign_in_start_that_cannot_get_sqlites_write_lock_is_a_503_with_retry_after() {
    let (app, provider) = provider::spawn().await;
    if app.database_url.starts_with("postgres") {
        eprintln!("skipped on PostgreSQL: it has row locks, not one writer");
        return;
    }
    // Another process (a backup, a migration by hand) holds the write lock
    // longer than SQLite's busy timeout (5 s).
    use diesel::prelude::*;
    let mut writer = app.database();
    diesel::sql_query("BEGIN IMMEDIATE")
        .execute(&mut writer)
        .expect("the write lock");

    let start = cookieless()
        .get(app.url(&format!("/auth/{}/login", provider.id)))
        .send()
        .await
        .unwrap();

    // The database is busy, not broken: the page says "try again" (503,
    // Retry-After), as for a database that cannot be reached; not a 500.
    assert_eq!(start.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(start.headers().contains_key("retry-after"));
    diesel::sql_query("ROLLBACK").execute(&mut writer).unwrap();
}
