//! Probes for whoever runs the app (a load balancer, an orchestrator):
//!
//! - `GET /livez`: the process answers. No I/O at all, so a slow or down
//!   database never makes an orchestrator restart a healthy process.
//! - `GET /readyz`: every dependency answers ([`readiness_checks`], each
//!   named, each within [`CHECK_TIMEOUT`]); while one does not, 503 takes the
//!   instance out of the load balancer without restarting it.
//! - `GET /healthz`: the original check (database), kept as it was for
//!   existing monitors.
//!
//! Answers are JSON and say which check failed, never why: the cause is
//! logged, since it may name hosts or paths.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use futures_util::future::{BoxFuture, FutureExt as _};
use serde_json::json;

use crate::app::AppState;
use crate::db::Database;

/// The longest one readiness check may take before it counts as failed, so
/// that `/readyz` answers within a probe's usual timeout even when the
/// database hangs (a pool waits up to 5 s for a connection).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

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

/// 200 `{"status":"ok"}`: the process is alive and serving requests.
pub async fn check_liveness() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 `{"status":"ready","checks":{"database":"ok"}}`, or 503
/// `{"status":"unavailable","checks":{"database":"error"},"failing":["database"]}`.
pub async fn check_readiness(state: web::Data<AppState>) -> HttpResponse {
    readiness(readiness_checks(&state)).await
}

/// One dependency of a ready instance: its name in the answer, and a query
/// that fails (with a cause for the log) when it cannot be reached.
pub struct Check {
    pub name: &'static str,
    pub probe: BoxFuture<'static, Result<(), String>>,
}

/// What `/readyz` checks. The database: one trivial query through the pool,
/// on the blocking pool like every query. Redis, when REDIS_URL is set: `PING`.
fn readiness_checks(state: &AppState) -> Vec<Check> {
    let mut checks = vec![database_check(state.db().clone())];
    if let Some(redis) = state.redis.clone() {
        checks.push(Check {
            name: "redis",
            probe: async move { redis.ping().await.map_err(|error| error.to_string()) }.boxed(),
        });
    }
    checks
}

fn database_check(db: Database) -> Check {
    Check {
        name: "database",
        probe: async move { db.ping().await.map_err(|error| format!("{error:?}")) }.boxed(),
    }
}

/// Runs `checks` side by side, each within [`CHECK_TIMEOUT`], and answers 200
/// if all pass, else 503 naming the ones that did not.
async fn readiness(checks: Vec<Check>) -> HttpResponse {
    let names: Vec<&'static str> = checks.iter().map(|check| check.name).collect();
    let outcomes = futures_util::future::join_all(checks.into_iter().map(|check| async move {
        match tokio::time::timeout(CHECK_TIMEOUT, check.probe).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
        }
    }))
    .await;
    let mut report = serde_json::Map::new();
    let mut failing = Vec::new();
    for (name, outcome) in names.into_iter().zip(outcomes) {
        let verdict = match outcome {
            Ok(()) => "ok",
            Err(cause) => {
                tracing::error!(check = name, cause, "readiness check failed");
                failing.push(name);
                "error"
            }
        };
        report.insert(name.to_owned(), verdict.into());
    }
    if failing.is_empty() {
        HttpResponse::Ok().json(json!({"status": "ready", "checks": report}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({
            "status": "unavailable",
            "checks": report,
            "failing": failing,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody as _;

    async fn answer(checks: Vec<Check>) -> (u16, serde_json::Value) {
        let response = readiness(checks).await;
        let status = response.status().as_u16();
        let body = response.into_body().try_into_bytes().expect("a JSON body");
        (status, serde_json::from_slice(&body).expect("JSON"))
    }

    #[actix_web::test]
    async fn a_database_that_cannot_be_reached_makes_the_instance_unready() {
        let database = crate::db::test_support::unreachable();
        let (status, body) = answer(vec![database_check(database)]).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["checks"]["database"], "error");
        assert_eq!(body["failing"], json!(["database"]));
    }

    #[actix_web::test]
    async fn the_answer_names_only_the_failing_check() {
        let checks = vec![
            Check {
                name: "database",
                probe: async { Ok(()) }.boxed(),
            },
            Check {
                name: "redis",
                probe: async { Err("connection refused".to_owned()) }.boxed(),
            },
        ];
        let (status, body) = answer(checks).await;
        assert_eq!(status, 503);
        assert_eq!(body["checks"], json!({"database": "ok", "redis": "error"}));
        assert_eq!(body["failing"], json!(["redis"]));
        assert!(
            !body.to_string().contains("refused"),
            "causes are logged only"
        );
    }

    #[actix_web::test]
    async fn a_check_that_hangs_fails_after_the_timeout() {
        let checks = vec![Check {
            name: "database",
            probe: futures_util::future::pending().boxed(),
        }];
        let started = std::time::Instant::now();
        let (status, _) = answer(checks).await;
        assert_eq!(status, 503);
        assert!(started.elapsed() < CHECK_TIMEOUT + Duration::from_secs(1));
    }
}
