//! The OAuth 2.0 authorization-code flow with PKCE, and OpenID Connect on top.
//!
//! `flow` runs steps 3 to 6 (redirect to the authorization endpoint, receive the
//! code, call the token endpoint, receive the tokens) with every check the specs
//! ask for, top to bottom, with `oidc` (the requests to an OpenID Connect
//! provider) or `plain` (OAuth 2.0 without OpenID Connect). Beside them, one
//! file each: `discovery`, `id_token` (its validation), `identity` (who
//! signed in), `callback` (the redirect's parameters), `outcome` (what a
//! request is for and how it ended), `step_up` (the mail permission and
//! linking), `token` (what both protocols share), `refresh` (RFC 6749 §6),
//! `revocation` (revoking tokens, the end-session URL), `issuer` (what "the
//! same issuer" means), `return_to` (same-site return paths),
//! `admin_consent`, `diagnostics` (`/setup`), `plain_words` and `error`.
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
pub mod observe;
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
