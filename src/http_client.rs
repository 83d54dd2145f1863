//! How every outgoing HTTP client is built. `startup` builds one per actix
//! worker, shared by that worker's sign-in flow and API clients, so connections
//! are pooled and reused on the thread that uses them
//! (`startup::AppState::for_worker` says why).
//!
//! It never follows redirects: a token endpoint that redirects could otherwise
//! send our code, verifier or client secret somewhere else (RFC 6749 §10.3 and
//! §10.5 ask to keep them confidential),
//! and an API that redirects is misconfigured. Every request has a timeout, so a
//! slow provider cannot hold a worker forever.

use std::time::Duration;

/// Time allowed to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The client, with `timeout` for each whole request (HTTP_TIMEOUT).
pub fn build(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .user_agent(concat!("signin-reference/", env!("CARGO_PKG_VERSION")))
        .build()
}
