//! A service goes away and comes back: pages answer a 503 that says so, the
//! instance keeps running, and it recovers by itself. The app reaches the
//! service through a TCP relay the test can cut, like a network partition or
//! a restart: PostgreSQL (an SQLite file does not go away), and Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::helpers::{TestApp, browser, spawn_app_with};

/// A TCP relay to the database server that can be cut (every open
/// connection closed, new ones refused) and restored.
struct Relay {
    address: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(upstream: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let address = listener.local_addr().expect("relay address");
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up_flag, open) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up_flag.load(Ordering::SeqCst) {
                    drop(inbound); // refused: closed at once
                    continue;
                }
                let upstream = upstream.clone();
                open.lock().await.push(tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Relay {
            address,
            up,
            connections,
        }
    }

    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().await.drain(..) {
            connection.abort(); // drops both sockets
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

// Two threads: the app's start-up connects to the database synchronously,
// through the relay, which must keep running meanwhile.

/// With the service cut: a signed-in page is a 503 that `says` what is down
/// (and nothing internal), with `Retry-After`; `/readyz` is 503 naming
/// `failing`; `/livez` is still 200.
async fn unavailable(app: &TestApp, browser: &reqwest::Client, says: &str, failing: &str) {
    let response = browser.get(app.url("/profile")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let html = response.text().await.unwrap();
    assert!(html.contains(says), "{html}");
    for internal in ["panicked", "diesel", "redis::", "anyhow"] {
        assert!(!html.contains(internal), "{internal} in {html}");
    }
    // A probe sends no cookie (a new client has none), so no session is
    // loaded for it.
    let probe = crate::helpers::browser();
    let ready = probe.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(
        ready.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "out of rotation"
    );
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["failing"], serde_json::json!([failing]));
    let live = probe.get(app.url("/livez")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK, "the process still answers");
}

/// Reads `path` every 200 ms until it answers 200 (at most 10 s); its page.
async fn recovered(app: &TestApp, browser: &reqwest::Client, path: &str) -> String {
    for _ in 0..50 {
        let (status, html) = app.get_html(browser, path).await;
        if status == StatusCode::OK {
            return html;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{path} did not recover after the service returned");
}

// Two threads: the app's start-up connects synchronously through the relay,
// which must keep running meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_gone_pages_say_so_with_a_503_and_recover_when_it_returns() {
    let Some(redis) = crate::helpers::test_redis_url() else {
        eprintln!("SKIPPED the Redis outage test: TEST_REDIS_URL is not set");
        return;
    };
    let mut url = url::Url::parse(&redis).expect("TEST_REDIS_URL");
    let upstream = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().unwrap_or(6379)
    );
    let relay = Relay::start(upstream).await;
    url.set_port(Some(relay.address.port())).expect("port");
    let app = spawn_app_with(&[
        ("REDIS_URL", url.to_string()),
        ("SESSION_STORE", "redis".to_owned()),
        ("REDIS_KEY_PREFIX", crate::helpers::redis_key_prefix()),
    ])
    .await;
    let browser = browser();
    app.sign_in(&browser, "/profile", "alice").await;
    assert_eq!(app.get_html(&browser, "/profile").await.0, StatusCode::OK);

    relay.cut().await;
    unavailable(
        &app,
        &browser,
        "Our session store is not answering right now",
        "redis",
    )
    .await;

    relay.restore();
    // Redis kept the session: still signed in, no restart.
    let html = recovered(&app, &browser, "/profile").await;
    assert!(html.contains("Alice"), "{html}");
}
#[cfg(feature = "postgres")]
mod postgres {
    use reqwest::StatusCode;

    use super::{Relay, recovered, unavailable};
    use crate::backends::postgres_or_skip;
    use crate::helpers::{TestDatabase, browser, spawn_app_with};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_the_database_gone_pages_say_so_with_a_503_and_recover_when_it_returns() {
        if !postgres_or_skip("the database outage test") {
            return;
        }
        let database = TestDatabase::new();
        let mut url = url::Url::parse(&database.url).expect("URL");
        let upstream = format!(
            "{}:{}",
            url.host_str().expect("host"),
            url.port().unwrap_or(5432)
        );
        let relay = Relay::start(upstream).await;
        url.set_port(Some(relay.address.port())).expect("port");
        let app = spawn_app_with(&[("DATABASE_URL", url.as_str())]).await;
        let browser = browser();
        app.sign_in(&browser, "/profile", "alice").await;
        let (status, _) = app.get_html(&browser, "/profile").await;
        assert_eq!(status, StatusCode::OK);

        relay.cut().await;
        unavailable(
            &app,
            &browser,
            "Our database is not answering right now",
            "database",
        )
        .await;
        // Starting a sign-in stores a pending sign-in: it cannot either.
        let start = crate::helpers::browser()
            .get(app.url("/auth/demo/login"))
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), StatusCode::SERVICE_UNAVAILABLE);
        let html = start.text().await.unwrap();
        assert!(html.contains("you were not signed in"), "{html}");

        relay.restore();
        // The pool reconnects on the next request; no restart, and the
        // visitor is still signed in (the cookie was not forgotten).
        let html = recovered(&app, &browser, "/profile").await;
        assert!(html.contains("Alice"), "{html}");
        let ready = browser.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK);
    }
}
