//! The OAuth 2.0 authorization-code flow with PKCE, and OpenID Connect on top.
//!
//! `flow` runs steps 3 to 6 (redirect to the authorization endpoint, receive the
//! code, call the token endpoint, receive the tokens) with every check the specs
//! ask for; `oidc` talks to OpenID Connect providers (discovery, ID tokens) and
//! `plain` to OAuth 2.0 providers without OpenID Connect; `token` holds what
//! both share; `refresh` renews tokens (RFC 6749 §6) for either; `sign_out`
//! revokes them and ends the session at the provider; `issuer` says what "the same issuer" means; `return_to` keeps
//! post-sign-in redirects on this site; `admin_consent` builds the address an
//! administrator approves the app at, and reads their answer.
//!
//! This module knows nothing of any particular provider (it reads a
//! `providers::Provider` description) and nothing of HTTP requests or sessions:
//! routes pass in what it needs (the browser's binding key) and act on what it
//! returns.

pub mod admin_consent;
pub mod callback;
pub mod diagnostics;
pub mod discovery;
pub mod error;
pub mod flow;
pub mod id_token;
pub mod identity;
pub mod issuer;
pub mod oidc;
pub mod outcome;
pub mod plain;
pub mod plain_words;
pub mod refresh;
pub mod return_to;
pub mod revocation;
pub mod step_up;
pub mod token;

pub use error::SignInError;
