//! Logging with `tracing`: one line per request, never a secret.
//!
//! `RequestSpan` replaces tracing-actix-web's default root span, which records the
//! full request target: on our callback that is `?code=…&state=…`. We record the
//! path only, the status, and (for errors) the error's Debug, which by design
//! holds causes but no token, code or secret.
//!
//! It also owns the request id's way out: `request_id_header` puts the id that
//! tracing-actix-web gave the request (the one in its log line, and on a 5xx
//! page) in an `X-Request-Id` header on every response. The id is always ours:
//! an `X-Request-Id` sent by the client is not read, so nobody can make two
//! requests share one.
//!
//! It must not read the environment itself beyond RUST_LOG (LOG_FORMAT is
//! parsed by `config::LogFormat`), nor log a request's query string.

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

/// The response header that carries the request id.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Installs the global subscriber, writing to stdout in `format`; RUST_LOG
/// filters (default `info,actix_server=warn`).
/// Safe to call more than once (tests do).
pub fn init(format: LogFormat) {
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let _ = subscriber_in(format, filter, std::io::stdout).try_init();
}

/// The text subscriber `init` installs, writing to `writer` (tests/logs.rs
/// reads what it writes, to prove that no secret is ever in it).
pub fn subscriber<W>(filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    subscriber_in(LogFormat::Text, filter, writer)
}

/// The subscriber `init` installs for `format`. Both formats log the same
/// events with the same fields; only the layout of a line differs.
pub fn subscriber_in<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // The close of a request span is its one log line, with its duration.
        .with_span_events(FmtSpan::CLOSE)
        .with_target(false);
    match format {
        LogFormat::Text => Box::new(builder.finish()),
        // One object per line; a message's own line breaks are escaped, so a
        // collector never splits an event. The event's fields sit at the top
        // level; `span` holds the request's (method, path, request_id, …).
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
    }
}

/// Middleware: puts the request id in `X-Request-Id` on every response, the
/// error pages included (it runs outside `ErrorHandlers`), and on an error
/// that an inner middleware returned instead of a response. Installed just
/// inside `TracingLogger`, which makes the id.
pub async fn request_id_header(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| HeaderValue::from_str(&id.to_string()).ok());
    let Some(request_id) = request_id else {
        return next.call(request).await;
    };
    match next.call(request).await {
        Ok(mut response) => {
            response.headers_mut().insert(REQUEST_ID_HEADER, request_id);
            Ok(response)
        }
        // An error instead of a response: its response, made here so that it
        // carries the id too. The error stays its cause (same status, same
        // Debug in the log line).
        Err(error) => {
            let mut response = error.error_response();
            response.headers_mut().insert(REQUEST_ID_HEADER, request_id);
            Err(InternalError::from_response(error, response).into())
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Everything written, in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .expect("not poisoned")
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    /// A request's span with an event inside, a multi-line message, and the
    /// span's close: what one request writes.
    fn log_a_request() {
        let span = tracing::info_span!(
            "request",
            method = "GET",
            path = "/profile",
            request_id = "a1b2",
            status = 200
        );
        span.in_scope(|| tracing::warn!(provider = "demo", "first line\nsecond line"));
        drop(span);
    }

    #[test]
    fn json_format_writes_one_json_object_per_line() {
        let logs = Captured::default();
        let subscriber = subscriber_in(LogFormat::Json, EnvFilter::new("info"), logs.clone());
        tracing::subscriber::with_default(subscriber, log_a_request);

        let written =
            String::from_utf8(logs.0.lock().expect("not poisoned").clone()).expect("utf-8");
        let lines: Vec<serde_json::Value> = written
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect();
        assert_eq!(lines.len(), 2, "the event and the span's close:\n{written}");
        assert!(lines.iter().all(serde_json::Value::is_object));
        let event = &lines[0];
        assert_eq!(event["level"], "WARN");
        assert_eq!(event["message"], "first line\nsecond line");
        assert_eq!(event["provider"], "demo");
        assert_eq!(event["span"]["request_id"], "a1b2");
        let close = &lines[1];
        assert_eq!(close["message"], "close");
        assert_eq!(close["span"]["path"], "/profile");
    }

    #[test]
    fn text_format_stays_plain_text() {
        let logs = Captured::default();
        let subscriber = subscriber_in(LogFormat::Text, EnvFilter::new("info"), logs.clone());
        tracing::subscriber::with_default(subscriber, log_a_request);
        let written =
            String::from_utf8(logs.0.lock().expect("not poisoned").clone()).expect("utf-8");
        assert!(written.contains("first line"), "{written}");
        assert!(
            serde_json::from_str::<serde_json::Value>(written.lines().next().unwrap_or(""))
                .is_err()
        );
    }
}
