//! What the route handlers share, one floor below them: who is here
//! ([`Visitor`], which also starts authorization requests for any route and
//! the page that goes on to the provider), which client sent a request
//! (`client_ip`), what the pages that call an API need (`api_access`), what
//! cannot be undone and the fresh sign-in before it (`irreversible`), and
//! how a sign-in ends at the provider (`sign_out`), and what a browser says
//! it is (`user_agent`). Nothing here registers a route.

pub mod api_access;
pub mod client_ip;
pub mod irreversible;
pub mod sign_out;
pub mod user_agent;
mod visitor;

pub use visitor::{CsrfForm, Visitor, asking_provider, authorization_request};
