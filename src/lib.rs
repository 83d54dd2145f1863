//! Sign in with a third party: a reference implementation in Rust.
//!
//! A map of the crate, in the order a request meets it:
//! - [`startup`] builds the app from [`config`], plugs in the observer and,
//!   when it is built in and on, starts the demo provider.
//! - [`routes`] holds the thin HTTP handlers, over [`web`] (who is here:
//!   `Visitor`), [`app`] (`AppState`), [`views`] (pages) and [`error`] (one
//!   error page); [`session`] owns the cookie.
//! - [`oauth`] runs the authorization-code flow (steps 3 to 6) for any provider
//!   described in [`providers`], and reports each step to an observer
//!   (`oauth::observe`).
//! - [`api`] calls the providers' APIs (step 7) with the access token, which
//!   [`tokens`] keeps usable (refreshing it, one refresh at a time).
//! - [`db`] stores users, identities, sealed tokens and pending sign-ins;
//!   [`sweeper`] ends sessions past their limits and the tokens no session
//!   needs any more, in the background; [`key_rotation`] finishes a
//!   TOKEN_KEY rotation at start-up.
//! - [`cli`] answers `--help` and `--version` before anything starts.
//! - [`crypto`], [`http_client`], [`private_files`] and [`telemetry`] are small
//!   shared utilities; [`rate_limit`] bounds how fast one client may start sign-ins.
//!
//! Two households beside this core, each a Cargo feature on by default:
//! `teaching` (`/learn`, `/flow`: the steps, the glossary, the recorder that
//! listens to the core) and `demo-provider` (`demo_provider`, a separate
//! authorization server that the app only reaches over HTTP, like any real
//! provider). The core names neither.
#![cfg_attr(
    test,
    allow(
        clippy::expect_used,
        clippy::unwrap_used,
        reason = "a failed expectation in a test should panic with its message"
    )
)]

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
#[cfg(feature = "demo-provider")]
pub mod demo_provider;
pub mod error;
pub mod http_client;
pub mod key_rotation;
pub mod oauth;
pub mod private_files;
#[cfg(test)]
mod proptest_cases;
pub mod providers;
pub mod rate_limit;
pub mod routes;
pub mod session;
pub mod shared_store;
pub mod startup;
pub mod sweeper;
#[cfg(feature = "teaching")]
pub mod teaching;
pub mod telemetry;
pub mod tokens;
pub mod views;
pub mod web;
