//! The database goes away and comes back: pages answer a 503 that says so,
//! the instance keeps running, and it recovers by itself. PostgreSQL only (an
//! SQLite file does not go away): the app reaches the server through a TCP
//! relay the test can cut, like a network partition or a database restart.

#[cfg(feature = "postgres")]
mod postgres {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use reqwest::StatusCode;
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::Mutex;
    use tokio::task::JoinHandle;

    use crate::backends::postgres_or_skip;
    use crate::helpers::{TestDatabase, browser, spawn_app_with};

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
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
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
        let response = browser.get(app.url("/profile")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
        let html = response.text().await.unwrap();
        assert!(
            html.contains("Our database is not answering right now"),
            "{html}"
        );
        assert!(
            !html.contains("panicked") && !html.contains("diesel"),
            "{html}"
        );
        // Starting a sign-in stores a pending sign-in: it cannot either.
        let start = crate::helpers::browser()
            .get(app.url("/auth/demo/login"))
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), StatusCode::SERVICE_UNAVAILABLE);
        let html = start.text().await.unwrap();
        assert!(html.contains("you were not signed in"), "{html}");
        let ready = browser.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(
            ready.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "out of rotation"
        );
        let live = browser.get(app.url("/livez")).send().await.unwrap();
        assert_eq!(live.status(), StatusCode::OK, "the process still answers");

        relay.restore();
        // The pool reconnects on the next request; no restart, and the
        // visitor is still signed in (the cookie was not forgotten).
        let mut recovered = false;
        for _ in 0..50 {
            let (status, html) = app.get_html(&browser, "/profile").await;
            if status == StatusCode::OK {
                assert!(html.contains("Alice"), "{html}");
                recovered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            recovered,
            "the app did not recover after the database returned"
        );
        let ready = browser.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK);
    }
}
