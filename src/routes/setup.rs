//! `/setup`: is my configuration right? One card per configured provider, from
//! `oauth::diagnostics`. Shows no secret, only whether each is set.
//!
//! In production (https APP_BASE_URL) it shows, to everyone, only whether each
//! provider is set up and working (`ProviderSummary`): no client ids, redirect
//! URIs, scopes or endpoints. The full checks are in the start-up log.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::app::AppState;
use crate::error::AppError;
use crate::oauth::diagnostics::{ProviderCheck, ProviderSummary, app_warnings};
use crate::web::Visitor;

#[derive(Serialize)]
struct SetupPage {
    base_url: String,
    app_warnings: Vec<String>,
    /// Development: every check in full.
    providers: Vec<ProviderCheck>,
    /// Production: the summaries only (and `providers` is empty).
    production: bool,
    summaries: Vec<ProviderSummary>,
}

/// `GET /setup`
pub async fn show_setup(
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let checks = state.flow.diagnose(&state.providers).await;
    let (providers, summaries) = if state.production {
        (
            Vec::new(),
            checks.iter().map(ProviderSummary::from).collect(),
        )
    } else {
        (checks, Vec::new())
    };
    let page = SetupPage {
        base_url: state.base_url.to_string(),
        app_warnings: app_warnings(&state.base_url, &state.providers),
        providers,
        production: state.production,
        summaries,
    };
    visitor.render(&state, "setup.html", &page)
}
