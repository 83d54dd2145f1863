//! The teaching layer (Cargo feature `teaching`, on by default): the pages
//! that explain the flow (`/learn`, the ordering exercise) and show a
//! visitor's own sign-in (`/flow`), with what they read.
//!
//! The seven steps (`steps`), the glossary, the table of attacks, the longer
//! topics of `/learn` and a sign-in's life after the seven steps are text,
//! written once as data, so a step has one name and one explanation
//! everywhere. `recorder` listens to the core (`observe::Observer`) and keeps
//! each attempt's record (`record`) for `/flow`; `routes` holds the pages.
//!
//! The core knows nothing of this module: it reports to an observer, and
//! `startup` plugs the recorder in. It must not run any part of the flow.

pub mod attacks;
pub mod exercise;
pub mod glossary;
pub mod lifecycle;
pub mod record;
pub mod recorder;
mod routes;
pub mod steps;
pub mod topics;

pub use routes::{TEMPLATES, configure, timeline};
