//! `/setup`: is my configuration right? One card per configured provider, from
//! `oauth::diagnostics`. Shows no secret, only whether each is set.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::Visitor;
use crate::error::AppError;
use crate::oauth::diagnostics::{ProviderCheck, app_warnings};
use crate::startup::AppState;

#[derive(Serialize)]
struct SetupPage {
    base_url: String,
    app_warnings: Vec<String>,
    providers: Vec<ProviderCheck>,
}

/// `GET /setup`
pub async fn show_setup(
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let page = SetupPage {
        base_url: state.base_url.to_string(),
        app_warnings: app_warnings(&state.base_url, &state.providers),
        providers: state.flow.diagnose(&state.providers).await,
    };
    visitor.render(&state, "setup.html", &page)
}
