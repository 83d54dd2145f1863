//! One integration-test binary: each test spawns the real app (with the demo
//! provider when it is built in, or local fake providers) on random ports and
//! drives it over HTTP like a browser. `provider` is the provider the core's
//! tests sign in at in either build.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation in a test should panic with its message"
)]
// Built without the demo provider (`cargo test --no-default-features`), the
// tests that sign in at it are left out, and with them some uses of shared
// helpers: the default build, where every test runs, still checks for
// unused code.
#![cfg_attr(
    not(feature = "demo-provider"),
    allow(
        unused_imports,
        dead_code,
        reason = "helpers of the tests that need the demo provider"
    )
)]

mod backends;
mod bad_input;
#[cfg(feature = "demo-provider")]
mod browser;
#[cfg(feature = "demo-provider")]
mod consent;
#[cfg(feature = "demo-provider")]
mod demo_provider;
mod fake_issuer;
mod faults;
mod floods;
#[cfg(feature = "teaching")]
mod flow;
mod fresh_sign_in;
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
mod provider;
#[cfg(feature = "demo-provider")]
mod refresh;
mod security;
mod sessions;
mod sign_in;
mod sign_out;
