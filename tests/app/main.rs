//! One integration-test binary: each test spawns the real app and the demo
//! provider on random ports and drives them over HTTP like a browser.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation in a test should panic with its message"
)]

mod backends;
mod bad_input;
mod browser;
mod consent;
#[cfg(feature = "demo-provider")]
mod demo_provider;
mod fake_issuer;
mod faults;
mod floods;
#[cfg(feature = "teaching")]
mod flow;
mod github;
mod google;
mod helpers;
mod hostile;
mod id_token;
mod instances;
#[cfg(feature = "teaching")]
mod learn;
mod lifecycle;
mod linking;
mod microsoft;
mod oidc;
mod outage;
mod process;
mod production;
mod properties;
mod refresh;
mod security;
mod sessions;
mod sign_in;
mod sign_out;
