//! Two identical app instances behind one public address, sharing one
//! database (PostgreSQL in the PostgreSQL run; one SQLite file otherwise)
//! and one demo provider: any request may land on either instance.
//!
//! Both have `APP_BASE_URL` = instance A's address, as instances behind a
//! proxy share the public origin; the test plays the proxy by choosing the
//! instance each request goes to (cookies for 127.0.0.1 are sent to every
//! port, as to every instance behind one host name). Instance B runs no demo
//! provider of its own (`DEMO_PROVIDER=external`): it uses A's.

use reqwest::StatusCode;

use crate::helpers::{TestApp, TestDatabase, browser, random_key, spawn_app_with};

struct Pair {
    a: TestApp,
    b: TestApp,
    _database: TestDatabase,
}

async fn two_instances() -> Pair {
    let database = TestDatabase::new();
    let shared = vec![
        ("DATABASE_URL", database.url.clone()),
        ("SESSION_KEY", random_key(64)),
        ("TOKEN_KEY", random_key(32)),
        ("DEMO_CLIENT_SECRET", "shared-demo-secret".to_owned()),
        // Every browser here is 127.0.0.1: one client to the per-client limit.
        ("SIGN_IN_STARTS_PER_MINUTE", "1000".to_owned()),
    ];
    // With TEST_REDIS_URL, both on one Redis (sessions, the shared limit).
    let mut shared = shared;
    shared.extend(crate::helpers::shared_redis_vars());
    let a = spawn_app_with(&shared).await;
    let mut b_vars = shared.clone();
    b_vars.extend([
        ("APP_BASE_URL", a.address.clone()),
        ("DEMO_PROVIDER", "external".to_owned()),
        (
            "DEMO_PROVIDER_BIND",
            a.demo_address.trim_start_matches("http://").to_owned(),
        ),
    ]);
    let mut b = spawn_app_with(&b_vars).await;
    // What the helpers expect the authorization URL to start with.
    b.demo_address = a.demo_address.clone();
    Pair {
        a,
        b,
        _database: database,
    }
}

/// `url` (on instance A's address, the public origin) sent to instance B.
fn via(instance: &TestApp, public: &TestApp, url: &str) -> String {
    url.replacen(&public.address, &instance.address, 1)
}

#[cfg(feature = "demo-provider")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_started_on_one_instance_completes_on_the_other_and_sign_out_is_seen_by_both() {
    // Held whole: the database is dropped with it, at the end.
    let pair = two_instances().await;
    let (a, b) = (&pair.a, &pair.b);
    let browser = browser();

    // Started on A (the pending sign-in is written by A), answered at the
    // demo provider, and the callback lands on B.
    let callback = a
        .authorize_at_demo(&browser, "/profile", "alice", "allow")
        .await;
    let response = browser.get(via(b, a, &callback)).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "B completes A's sign-in"
    );
    assert_eq!(crate::helpers::location(&response), "/profile");

    for instance in [a, b] {
        let (status, html) = instance.get_html(&browser, "/profile").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Alice Adams"), "{html}");
    }

    // Signed out on B: A refuses the session on the very next request.
    let response = b.post_with_csrf(&browser, "/logout").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = browser.get(a.url("/profile")).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "A saw B's sign-out"
    );
    assert!(crate::helpers::location(&response).starts_with("/login"));
}

#[cfg(feature = "demo-provider")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sign_ins_at_once_across_both_instances_each_see_only_their_own_profile_and_mail() {
    let pair = two_instances().await;
    let (a, b) = (&pair.a, &pair.b);
    // The demo provider has three people; fifty browsers sign in as them in
    // turn, at once, each starting on one instance and finishing on the other.
    let people = [
        ("alice", "Alice Adams"),
        ("bob", "Bob Baker"),
        ("carol", "Carol Chen"),
    ];
    let instances = |i: usize| if i.is_multiple_of(2) { (a, b) } else { (b, a) };
    let sign_ins = (0..50).map(|i| async move {
        let (user, name) = people[i % 3];
        let (start, finish) = instances(i);
        let browser = browser();
        let begin = browser
            .get(start.url("/auth/demo/login?return_to=/mail"))
            .send()
            .await
            .unwrap();
        assert_eq!(begin.status(), StatusCode::SEE_OTHER);
        let authorize_url = crate::helpers::location(&begin);
        // The demo provider answers to the public origin (A's address).
        let callback = a
            .answer_at_demo("demo", &browser, &authorize_url, user, "allow")
            .await;
        let response = browser.get(via(finish, a, &callback)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{user} #{i}");
        let (status, profile) = start.get_html(&browser, "/profile").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            profile.contains(name),
            "browser {i} ({user}) sees {profile}"
        );
        for (other, other_name) in people {
            if other != user {
                assert!(
                    !profile.contains(other_name),
                    "browser {i} ({user}) sees {other}"
                );
            }
        }
        browser
    });
    let browsers = futures_util::future::join_all(sign_ins).await;

    // Each person allows mail once, asked on B and answered on A. (After all
    // the sign-ins: a later sign-in stores that sign-in's tokens, which carry
    // the sign-in scopes only.)
    for (i, browser) in browsers.iter().enumerate().take(3) {
        let user = people[i % 3].0;
        let authorize_url = b.ask_for_mail(browser).await;
        let callback = a
            .answer_at_demo("demo", browser, &authorize_url, user, "allow")
            .await;
        let response = browser.get(&callback).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{user}");
    }

    // Each person's mailbox is their own: every browser of a person sees
    // the same messages, and no two people see the same ones.
    let subjects = |html: &str| {
        let document = scraper::Html::parse_document(html);
        let selector = scraper::Selector::parse("ul.mail-list .subject").unwrap();
        document
            .select(&selector)
            .map(|subject| subject.text().collect::<String>())
            .collect::<Vec<_>>()
    };
    let mail_reads = browsers.iter().enumerate().map(|(i, browser)| async move {
        let (_, finish) = instances(i);
        let (status, mail) = finish.get_html(browser, "/mail").await;
        assert_eq!(status, StatusCode::OK, "{mail}");
        (i, subjects(&mail))
    });
    let mailboxes = futures_util::future::join_all(mail_reads).await;
    let own: Vec<&Vec<String>> = mailboxes[..3]
        .iter()
        .map(|(_, subjects)| subjects)
        .collect();
    assert!(own.iter().all(|subjects| !subjects.is_empty()));
    assert!(
        own[0] != own[1] && own[1] != own[2] && own[0] != own[2],
        "{own:#?}"
    );
    for (i, subjects) in &mailboxes {
        let user = people[i % 3].0;
        assert_eq!(
            subjects,
            own[i % 3],
            "browser {i} ({user}) reads another mailbox"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_the_sign_in_start_limit_is_one_for_all_instances() {
    if crate::helpers::test_redis_url().is_none() {
        eprintln!(
            "SKIPPED the shared sign-in limit: TEST_REDIS_URL is not set (each instance then counts on its own)"
        );
        return;
    }
    let database = TestDatabase::new();
    let mut shared = vec![
        ("DATABASE_URL", database.url.clone()),
        ("SIGN_IN_STARTS_PER_MINUTE", "4".to_owned()),
    ];
    shared.extend(crate::helpers::shared_redis_vars());
    let (a, b) = (spawn_app_with(&shared).await, spawn_app_with(&shared).await);
    let start = |app: &TestApp| {
        let url = app.url("/auth/demo/login");
        async move { browser().get(url).send().await.unwrap().status() }
    };
    for app in [&a, &b, &a, &b] {
        assert_eq!(start(app).await, StatusCode::SEE_OTHER);
    }
    // Four starts in all: the fifth is refused on either instance.
    assert_eq!(start(&a).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(start(&b).await, StatusCode::TOO_MANY_REQUESTS);
}

#[cfg(feature = "demo-provider")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_token_key_with_the_old_one_as_previous_keeps_everyone_signed_in() {
    let database = TestDatabase::new();
    let (old_key, new_key) = (random_key(32), random_key(32));
    let mut shared = vec![
        ("DATABASE_URL", database.url.clone()),
        ("SESSION_KEY", random_key(64)),
        ("DEMO_CLIENT_SECRET", "shared-demo-secret".to_owned()),
    ];
    shared.extend(crate::helpers::shared_redis_vars());
    let mut before = shared.clone();
    before.push(("TOKEN_KEY", old_key.clone()));
    let old = spawn_app_with(&before).await;
    let browser = browser();
    old.sign_in_with_mail(&browser, "alice").await;

    // The same deployment after the key changed: the new key seals, the old
    // one still opens what it sealed (instances named after their keys;
    // the demo provider is the first one's).
    let after = async |previous: Option<&str>| {
        let mut vars = shared.clone();
        vars.extend([
            ("TOKEN_KEY", new_key.clone()),
            ("APP_BASE_URL", old.address.clone()),
            ("DEMO_PROVIDER", "external".to_owned()),
            (
                "DEMO_PROVIDER_BIND",
                old.demo_address.trim_start_matches("http://").to_owned(),
            ),
        ]);
        if let Some(previous) = previous {
            vars.push(("TOKEN_KEY_PREVIOUS", previous.to_owned()));
        }
        spawn_app_with(&vars).await
    };
    let rotating = after(Some(&old_key)).await;
    let mail = browser.get(rotating.url("/mail")).send().await.unwrap();
    assert_eq!(
        mail.status(),
        StatusCode::OK,
        "tokens sealed under the old key still open: {:?}",
        mail.headers().get("location")
    );
    assert!(
        mail.text().await.unwrap().contains("Invoice INV-"),
        "the mailbox is read"
    );

    // The instance with both keys sealed every token again under the new
    // one at start-up: the old key can go, and nobody signs in again.
    crate::helpers::tokens_all_open_under(&rotating, &new_key).await;
    let without = after(None).await;
    let mail = browser.get(without.url("/mail")).send().await.unwrap();
    assert_eq!(
        mail.status(),
        StatusCode::OK,
        "still signed in, mail and all"
    );
    assert!(mail.text().await.unwrap().contains("Invoice INV-"));
}
