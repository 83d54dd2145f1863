//! What the route handlers share, one floor below them: who is here
//! ([`Visitor`], which also starts authorization requests for any route) and
//! which client sent a request (`client_ip`). Nothing here registers a route
//! or renders a page of its own.

pub mod client_ip;
mod visitor;

pub use visitor::{Visitor, authorization_request};
