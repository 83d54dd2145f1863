//! The one outgoing HTTP client, shared by the sign-in flow and the API clients
//! so connections are pooled and reused.
//!
//! It never follows redirects: a token endpoint that redirects could otherwise
//! send our code, verifier or client secret somewhere else (SSRF; RFC 9700 §4.11),
//! and an API that redirects is misconfigured. Every request has a timeout, so a
//! slow provider cannot hold a worker forever.

use std::time::Duration;

/// Time allowed to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for a whole request, response body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub fn build() -> reqwest::Result<reqwest::Client> {
    build_with_timeout(REQUEST_TIMEOUT)
}

/// Same client with another overall timeout (tests use a short one).
pub fn build_with_timeout(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .user_agent(concat!("signin-reference/", env!("CARGO_PKG_VERSION")))
        .build()
}
