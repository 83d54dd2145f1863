//! What the route handlers share, one floor below them: who is here
//! ([`Visitor`], which also starts authorization requests for any route and
//! the page that goes on to the provider), which client sent a request
//! (`client_ip`), and what the pages that call an API need (`api_access`). Nothing here registers a route
//! or renders a page of its own.

pub mod api_access;
pub mod client_ip;
mod visitor;

pub use visitor::{CsrfForm, Visitor, asking_provider, authorization_request};
