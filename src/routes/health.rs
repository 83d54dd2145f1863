//! `GET /healthz`: is the app up, and can it reach its database?

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::startup::AppState;

/// 200 with `{"status":"ok","database":"ok"}`, or 503 when the database fails.
pub async fn check_health(state: web::Data<AppState>) -> HttpResponse {
    match state.db().ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok", "database": "ok"})),
        Err(error) => {
            tracing::error!(error = ?error, "health check: database unavailable");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unavailable", "database": "error"}))
        }
    }
}
