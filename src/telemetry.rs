//! Logging with `tracing`: one line per request, never a secret.
//!
//! `RequestSpan` replaces tracing-actix-web's default root span, which records the
//! full request target: on our callback that is `?code=…&state=…`. We record the
//! path only, the status, and (for errors) the error's Debug, which by design
//! holds causes but no token, code or secret.

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Installs the global subscriber; RUST_LOG filters (default
/// `info,actix_server=warn`).
/// Safe to call more than once (tests do).
pub fn init() {
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let _ = subscriber(filter, std::io::stdout).try_init();
}

/// The subscriber `init` installs, writing to `writer` (tests/logs.rs reads
/// what it writes, to prove that no secret is ever in it).
pub fn subscriber<W>(filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // The close of a request span is its one log line, with its duration.
        .with_span_events(FmtSpan::CLOSE)
        .with_target(false)
        .finish()
}

/// The root span of each request.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            method = %request.method(),
            // The path only: the query string can carry codes and state.
            path = %request.path(),
            request_id = %request_id,
            status = tracing::field::Empty,
            error = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        let (status, error) = match outcome {
            Ok(response) => (response.status(), response.response().error()),
            Err(error) => (error.as_response_error().status_code(), Some(error)),
        };
        span.record("status", status.as_u16());
        if let Some(error) = error.filter(|_| status.is_client_error() || status.is_server_error())
        {
            span.record("error", tracing::field::debug(error));
        }
    }
}
