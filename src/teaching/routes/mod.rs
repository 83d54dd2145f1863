//! The teaching layer's pages: `/flow` (your own sign-in, step by step) and
//! `/learn` with its ordering exercise, registered by [`configure`] beside the
//! app's own routes, and the templates they render ([`TEMPLATES`]).

mod flow_page;
mod learn;

use actix_web::web;

use super::record::{EventView, FlowRecord};
use crate::app::AppState;
use crate::db::attempts;
use crate::error::AppError;

/// Registers the teaching pages.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/flow", web::get().to(flow_page::show_flow))
        .route("/learn", web::get().to(learn::show_learn))
        .route("/learn/exercise", web::get().to(learn::show_exercise))
        .route("/learn/exercise", web::post().to(learn::check_exercise));
}

/// The teaching pages' templates, compiled in beside the app's (`views`).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("learn.html", include_str!("../../../templates/learn.html")),
    ("flow.html", include_str!("../../../templates/flow.html")),
    (
        "exercise.html",
        include_str!("../../../templates/exercise.html"),
    ),
    (
        "partials/sequence_diagram.html",
        include_str!("../../../templates/partials/sequence_diagram.html"),
    ),
    (
        "partials/lifecycle_diagram.html",
        include_str!("../../../templates/partials/lifecycle_diagram.html"),
    ),
];

/// What happened to a sign-in after its seven steps, for `/signed-out`:
/// the events recorded with attempt `attempt_id` (the sign-out last).
pub async fn timeline(
    state: &AppState,
    attempt_id: Option<i64>,
) -> Result<Vec<EventView>, AppError> {
    let Some(id) = attempt_id else {
        return Ok(Vec::new());
    };
    Ok(state
        .db()
        .run(move |connection, _| attempts::steps_by_id(connection, id))
        .await?
        .and_then(|json| serde_json::from_str::<FlowRecord>(&json).ok())
        .map(|record| {
            record
                .after_sign_in
                .into_iter()
                .map(EventView::from)
                .collect()
        })
        .unwrap_or_default())
}
