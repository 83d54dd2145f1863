//! `/flow`: your latest sign-in, step by step, as it was recorded (see
//! `teaching::record`), and what happened to it afterwards (refreshes): a
//! signed-in visitor's own latest attempt, or the latest attempt started in
//! this browser. Nobody sees another person's attempts.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::app::AppState;
use crate::crypto::sha256_url_safe;
use crate::db::attempts::{self, Attempt};
use crate::error::AppError;
use crate::session;
use crate::teaching::record::{EventView, FailureRecord, FlowRecord, StepRecord};
use crate::teaching::steps::{STEPS, Step};
use crate::web::Visitor;

#[derive(Serialize)]
struct FlowPage {
    attempt: Option<AttemptView>,
}

#[derive(Serialize)]
struct AttemptView {
    provider_name: String,
    started_at: i64,
    outcome: String,
    /// What the attempt was for, when it was not a sign-in (a request for
    /// the mail permission after sign-in).
    purpose: Option<String>,
    /// The seven steps, each with what was recorded, if anything.
    steps: Vec<StepView>,
    failure: Option<FailureRecord>,
    /// What happened to the sign-in afterwards (refreshes), oldest first.
    after_sign_in: Vec<EventView>,
}

#[derive(Serialize)]
struct StepView {
    step: Step,
    /// When it happened, Unix seconds (for the `datetime` filter).
    at: Option<i64>,
    record: Option<StepRecord>,
    failed: bool,
}

/// `GET /flow`
pub(super) async fn show_flow(
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let user_id = visitor.user.as_ref().map(|user| user.user_id);
    let browser_hash =
        session::existing_browser_key(&visitor.session).map(|key| sha256_url_safe(&key));
    let attempt = state
        .db()
        .run(move |connection, _| match (user_id, browser_hash) {
            (Some(user_id), _) => attempts::latest_for_user(connection, user_id),
            (None, Some(browser_hash)) => attempts::latest_for_browser(connection, &browser_hash),
            (None, None) => Ok(None),
        })
        .await?;
    let page = FlowPage {
        attempt: attempt.map(|attempt| attempt_view(&state, attempt)),
    };
    visitor.render(&state, "flow.html", &page)
}

fn attempt_view(state: &AppState, attempt: Attempt) -> AttemptView {
    let record: FlowRecord = serde_json::from_str(&attempt.steps).unwrap_or_default();
    let failed_step = record.failure.as_ref().map(|failure| failure.step);
    let steps = STEPS
        .iter()
        .map(|step| {
            let recorded = record
                .steps
                .iter()
                .find(|recorded| recorded.number == step.number)
                .cloned();
            StepView {
                step: *step,
                at: recorded.as_ref().map(|recorded| recorded.at_ms / 1000),
                record: recorded,
                failed: failed_step == Some(step.number),
            }
        })
        .collect();
    AttemptView {
        provider_name: state
            .providers
            .get(&attempt.provider)
            .map(|provider| provider.display_name.clone())
            .unwrap_or(attempt.provider),
        started_at: attempt.started_at,
        outcome: attempt.outcome,
        purpose: record.purpose,
        steps,
        failure: record.failure,
        after_sign_in: record
            .after_sign_in
            .into_iter()
            .map(EventView::from)
            .collect(),
    }
}
