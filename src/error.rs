//! The one error type of the web layer, and the one place it becomes a page.
//!
//! Handlers return `Result<_, AppError>`. `AppError` only decides the status;
//! `render_error_page` (installed with `ErrorHandlers` in `startup`) turns every
//! 4xx/5xx response, ours or actix-web's own, into `error.html`. Display is what
//! the visitor reads; Debug carries the cause and goes only to the log. Neither
//! ever contains a token, code or secret.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpMessage as _, HttpResponse, ResponseError, web};

use crate::api::ApiError;
use crate::app::AppState;
use crate::db::DbError;
use crate::oauth::SignInError;
use crate::oauth::outcome::SignInFailure;
use crate::providers::Provider;
use crate::tokens::{SignInAgain, TokensError};
use crate::views::{ErrorPage, Layout, RetryLink};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 303 to the provider chooser: the page needs a signed-in visitor, or
    /// the tokens stopped working (`why`, which the chooser explains). Not an
    /// error page: the visitor signs in and comes back to `return_to`.
    #[error("Please sign in to see this page.")]
    SignInRequired {
        return_to: String,
        why: Option<SignInAgain>,
    },
    /// 404: no such page, provider or message.
    #[error("We could not find that page.")]
    NotFound,
    /// 400: a form came without the fields it needs.
    #[error("That form was not filled in. Please go back and try again.")]
    BadForm,
    /// 400: a mail page link (`cursor`) that the provider did not give us,
    /// or that asks for more than our pages show; it is not followed.
    #[error(
        "That link to more mail is not one this app made. Please go back to your mail and try again."
    )]
    InvalidCursor,
    /// 403: a form came without our CSRF token (or with a stale one).
    #[error("This form has expired. Please go back, reload the page and try again.")]
    InvalidCsrfToken,
    /// Status from `SignInError::status`: the sign-in failed; the page offers to
    /// try again (to the same return path when we know it).
    #[error("{}", .0.error)]
    SignIn(SignInFailure),
    /// 403: the provider refused access to this data: a permission (scope) was
    /// not granted. The page names it and offers to sign in again and grant it.
    #[error(
        "{provider_name} did not let this app read this page, because the permission \"{permission}\" was not granted. Sign in again and allow it on the consent page."
    )]
    ApiForbidden {
        provider_id: String,
        provider_name: String,
        permission: String,
        /// The page to come back to after consenting.
        return_to: String,
        detail: String,
    },
    /// 429: this client started too many sign-ins in a short time
    /// (`rate_limit`); `Retry-After` says when the next one is allowed (RFC 6585 §4).
    #[error("You have started many sign-ins in a short time. Please wait {} and try again.", seconds(*.retry_after_secs))]
    TooManySignInStarts { retry_after_secs: u64 },
    /// 503: the provider asks us to wait.
    #[error("The provider is busy and asked us to wait{}. Please try again then.", retry_hint(.retry_after_secs))]
    ApiThrottled { retry_after_secs: Option<u64> },
    /// 502 or 504: the provider's API failed.
    #[error(
        "The provider's service is not answering properly right now. Please try again in a moment."
    )]
    ApiUnavailable { detail: String, timeout: bool },
    /// 502: the provider's API sent an answer larger than any genuine one
    /// (`http_client`'s caps); it was dropped unread.
    #[error(
        "The provider's answer was too large to be genuine, so it was not shown. Please try again later."
    )]
    ApiAnswerTooLarge { limit: usize },
    /// 409: unlinking the only identity of a user would leave no way to
    /// sign in; deleting the account is the way to remove it.
    #[error(
        "This is the only account you sign in with, so it cannot be unlinked: you would have no way to sign in again. To remove it, delete your account instead (on your profile)."
    )]
    LastIdentity,
    /// 409: unlinking the identity this session signed in with would end
    /// the session underneath the person (its sessions are deleted with it);
    /// they sign in with another linked account first.
    #[error(
        "You are signed in with this account, so it cannot be unlinked from here. Sign in with one of your other linked accounts, then unlink this one."
    )]
    UnlinkCurrentIdentity,
    /// 503: the database cannot be reached right now (`DbError::is_unavailable`).
    /// The instance keeps running and reconnects by itself; `Retry-After`
    /// suggests when to try again.
    #[error(
        "Our database is not answering right now, so this page cannot be shown. Nothing was lost: please try again in a minute."
    )]
    DatabaseUnavailable { detail: String },
    /// 503: Redis (sessions with SESSION_STORE=redis, the shared sign-in
    /// limit) cannot be reached right now; like the database, it reconnects
    /// by itself.
    #[error(
        "Our session store is not answering right now, so this could not be done. Nothing was lost: please try again in a minute."
    )]
    SessionStoreUnavailable { detail: String },
    /// 500: our own failure. What we were doing and the cause, with its
    /// whole chain (`source`), go to the log with the request id; the page
    /// says only that it happened.
    #[error("Something went wrong on our side. It has been logged.")]
    Internal {
        /// What failed, in a few words ("rendering template profile.html").
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl AppError {
    /// Our own failure while doing `context`, keeping `source` and its chain.
    pub fn internal(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        AppError::Internal {
            context: context.into(),
            source: source.into(),
        }
    }
}

fn seconds(count: u64) -> String {
    if count == 1 {
        "1 second".into()
    } else {
        format!("{count} seconds")
    }
}

fn retry_hint(seconds: &Option<u64>) -> String {
    match seconds {
        Some(1) => " 1 second".into(),
        Some(seconds) => format!(" {seconds} seconds"),
        None => String::new(),
    }
}

impl From<DbError> for AppError {
    fn from(error: DbError) -> Self {
        if error.is_unavailable() {
            AppError::DatabaseUnavailable {
                detail: format!("{error}: {error:?}"),
            }
        } else {
            AppError::internal("a database query", error)
        }
    }
}

impl From<crate::rate_limit::Refused> for AppError {
    fn from(refused: crate::rate_limit::Refused) -> Self {
        match refused {
            crate::rate_limit::Refused::TooMany { retry_after_secs } => {
                AppError::TooManySignInStarts { retry_after_secs }
            }
            crate::rate_limit::Refused::Unavailable(detail) => {
                AppError::SessionStoreUnavailable { detail }
            }
        }
    }
}

/// Seconds suggested in `Retry-After` when the database is unavailable.
const DATABASE_RETRY_AFTER_SECS: u64 = 10;

impl AppError {
    /// No usable tokens for the page at `here`: sign in again (and come back),
    /// or try again when the provider could not renew them.
    pub fn from_tokens(error: TokensError, here: &str) -> Self {
        match error {
            TokensError::SignInAgain(why) => AppError::SignInRequired {
                return_to: here.to_owned(),
                why: Some(why),
            },
            TokensError::ProviderUnavailable { detail, timeout } => AppError::ApiUnavailable {
                detail: format!("refresh: {detail}"),
                timeout,
            },
            TokensError::Storage(error) => error.into(),
        }
    }
}

impl From<SignInFailure> for AppError {
    fn from(failure: SignInFailure) -> Self {
        AppError::SignIn(failure)
    }
}

impl From<SignInError> for AppError {
    fn from(error: SignInError) -> Self {
        AppError::SignIn(error.into())
    }
}

impl AppError {
    /// API errors other than 401 (which routes answer by asking to sign in
    /// again), on the page at `return_to`.
    pub fn from_api(provider: &Provider, error: ApiError, return_to: &str) -> Self {
        match error {
            ApiError::NotFound | ApiError::NotOffered => AppError::NotFound,
            ApiError::InvalidCursor => AppError::InvalidCursor,
            ApiError::Forbidden { permission, detail } => AppError::ApiForbidden {
                provider_id: provider.id.to_owned(),
                provider_name: provider.display_name.clone(),
                permission: permission.to_owned(),
                return_to: return_to.to_owned(),
                detail,
            },
            ApiError::Throttled { retry_after } => AppError::ApiThrottled {
                retry_after_secs: retry_after.map(|duration| duration.as_secs().max(1)),
            },
            ApiError::TooLarge { limit } => AppError::ApiAnswerTooLarge { limit },
            ApiError::Timeout => AppError::ApiUnavailable {
                detail: "timeout".into(),
                timeout: true,
            },
            other => AppError::ApiUnavailable {
                detail: other.to_string(),
                timeout: false,
            },
        }
    }

    /// What the page's button says and where it leads, if it has one.
    fn retry(&self) -> Option<(&'static str, String)> {
        let link = self.retry_link()?;
        Some(match self {
            AppError::ApiForbidden { .. } => ("Sign in again and allow it", link),
            AppError::SignIn(failure) if failure.for_signed_in_user => ("Back to ask again", link),
            _ => ("Try again", link),
        })
    }

    fn retry_link(&self) -> Option<String> {
        match self {
            // A request for more scopes: back to the page that asks, still
            // signed in (a sign-in would replace the session).
            AppError::SignIn(failure) if failure.for_signed_in_user => Some(
                failure
                    .return_to
                    .clone()
                    .unwrap_or_else(|| crate::oauth::return_to::DEFAULT_RETURN_TO.to_owned()),
            ),
            AppError::SignIn(failure) => {
                let return_to = failure
                    .return_to
                    .as_deref()
                    .unwrap_or(crate::oauth::return_to::DEFAULT_RETURN_TO);
                Some(crate::views::login_link(return_to))
            }
            AppError::ApiForbidden {
                provider_id,
                return_to,
                ..
            } => Some(crate::views::consent_again_link(provider_id, return_to)),
            _ => None,
        }
    }

    fn provider_detail(&self) -> Option<String> {
        match self {
            AppError::SignIn(failure) => failure.error.provider_description().map(str::to_owned),
            _ => None,
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        let code = match self {
            AppError::SignInRequired { .. } => 303,
            AppError::NotFound => 404,
            AppError::BadForm | AppError::InvalidCursor => 400,
            AppError::InvalidCsrfToken | AppError::ApiForbidden { .. } => 403,
            AppError::SignIn(failure) => failure.error.status(),
            AppError::LastIdentity | AppError::UnlinkCurrentIdentity => 409,
            AppError::TooManySignInStarts { .. } => 429,
            AppError::ApiThrottled { .. }
            | AppError::DatabaseUnavailable { .. }
            | AppError::SessionStoreUnavailable { .. } => 503,
            AppError::ApiUnavailable { timeout: true, .. } => 504,
            AppError::ApiUnavailable { .. } | AppError::ApiAnswerTooLarge { .. } => 502,
            AppError::Internal { .. } => 500,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::SignInRequired { return_to, why } = self {
            let mut location = crate::views::login_link(return_to);
            if let Some(why) = why {
                location.push_str("&expired=");
                location.push_str(why.query_value());
            }
            return crate::views::see_other(&location);
        }
        let mut response = HttpResponse::build(self.status_code());
        if let AppError::ApiThrottled {
            retry_after_secs: Some(seconds),
        }
        | AppError::TooManySignInStarts {
            retry_after_secs: seconds,
        } = self
        {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        let storage_away = match self {
            AppError::DatabaseUnavailable { .. } | AppError::SessionStoreUnavailable { .. } => true,
            AppError::SignIn(failure) => {
                matches!(&failure.error, SignInError::Storage(error) if error.is_unavailable())
            }
            _ => false,
        };
        if storage_away {
            response.insert_header((header::RETRY_AFTER, DATABASE_RETRY_AFTER_SECS.to_string()));
        }
        // The body is rendered by `render_error_page`.
        response.finish()
    }
}

/// Renders `error.html` for every error response (ours and actix-web's own,
/// such as 404 for unknown routes or 400 for malformed query strings).
pub fn render_error_page<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // An answer that is already JSON is for a program (the `/readyz` probe's
    // 503 names the failing checks): it keeps its body.
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let request_id = response
        .request()
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(|id| id.to_string())
        .unwrap_or_default();
    let app_error = response
        .response()
        .error()
        .and_then(|error| error.as_error::<AppError>());
    let state = response
        .request()
        .app_data::<web::Data<AppState>>()
        .cloned();
    let state: Option<&AppState> = state.as_ref().map(|data| data.get_ref());
    let layout = Layout::for_request(response.request(), state.map(AppState::site));
    let html = error_page_html(status, app_error, request_id, state, &layout);
    let (request, mut http_response) = response.into_parts();
    http_response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    let http_response = http_response
        .set_body(html)
        .map_into_boxed_body()
        .map_into_right_body();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(
        request,
        http_response,
    )))
}

fn generic_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "The request was not understood. Please check the address and try again.",
        404 => "We could not find that page.",
        405 => "That action is not available this way.",
        413 => "That request is too large.",
        _ if status.is_server_error() => "Something went wrong on our side. It has been logged.",
        _ => "That did not work. Please go back and try again.",
    }
}

/// The error page's HTML for `status` and, when it is ours, `app_error`.
fn error_page_html(
    status: StatusCode,
    app_error: Option<&AppError>,
    request_id: String,
    state: Option<&AppState>,
    layout: &Layout,
) -> String {
    let message = match app_error {
        Some(error) => error.to_string(),
        None => generic_message(status).to_owned(),
    };
    let page = ErrorPage {
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        message,
        provider_detail: app_error.and_then(AppError::provider_detail),
        explanation: app_error.and_then(|error| match error {
            AppError::SignIn(failure) => failure.error.explanation(),
            _ => None,
        }),
        retry: app_error
            .and_then(AppError::retry)
            .map(|(label, link)| RetryLink { label, link }),
        admin_consent_url: app_error.and_then(|error| match error {
            AppError::SignIn(failure) => {
                failure.admin_consent_url.as_ref().map(ToString::to_string)
            }
            _ => None,
        }),
        request_id: status.is_server_error().then_some(request_id),
    };
    state
        .and_then(|state| state.views.render_page("error.html", layout, &page).ok())
        // If the template itself fails, still answer with something readable.
        .unwrap_or_else(|| format!("{} {}\n", page.status, page.message))
}

/// Turns a failure of the session store into the 503 page.
///
/// actix-session loads session state before the handler runs and saves it
/// after; when the store fails (SESSION_STORE=redis with Redis down) it
/// answers an empty 500 itself (an `InternalError` of the store's error),
/// outside the error pages, which sit inside it. This middleware sits just outside it and
/// answers the page that says what happened. (The cookie store never fails
/// this way: a bad cookie is simply no session.)
pub async fn session_store_failures(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    // Taken now: the request itself is gone when the error comes back (and
    // must not be cloned meanwhile, or routing panics).
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let request_id = request
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .copied();
    let error = match next.call(request).await {
        Ok(response) => return Ok(response),
        Err(error) => error,
    };
    // Loading fails as `anyhow::Error`, saving and updating as their own
    // types (actix-session's `e500`); deleting as `anyhow::Error` too.
    use actix_session::storage::{SaveError, UpdateError};
    use actix_web::error::InternalError;
    let from_store = error.as_error::<InternalError<anyhow::Error>>().is_some()
        || error.as_error::<InternalError<SaveError>>().is_some()
        || error.as_error::<InternalError<UpdateError>>().is_some();
    if !from_store {
        return Err(error);
    }
    let failure = AppError::SessionStoreUnavailable {
        detail: format!("session store: {error:?}"),
    };
    let state: Option<&AppState> = state.as_ref().map(|data| data.get_ref());
    // The session could not be read: the page shows no one signed in.
    let layout = Layout {
        demo_banner: state.is_some_and(|state| state.demo_banner),
        ..Layout::default()
    };
    let request_id = request_id.map(|id| id.to_string()).unwrap_or_default();
    let html = error_page_html(
        failure.status_code(),
        Some(&failure),
        request_id,
        state,
        &layout,
    );
    let mut page = failure.error_response();
    page.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The failure stays the cause (the request's log line shows it); the
    // page is its response.
    let page = page.set_body(html).map_into_boxed_body();
    Err(actix_web::error::InternalError::from_response(failure, page).into())
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::AppError;

    /// Our own failures keep their cause for the log: the chain, not a
    /// string made of its first line; the page says none of it.
    #[test]
    fn an_internal_error_keeps_its_cause_chain_out_of_the_page() {
        let cause = std::io::Error::other("disk full at /var/lib/app");
        let error = AppError::internal("writing the session", cause);
        let source = error.source().expect("the cause is kept");
        assert_eq!(source.to_string(), "disk full at /var/lib/app");
        assert!(format!("{error:?}").contains("writing the session"));
        assert!(!error.to_string().contains("disk full"), "not on the page");
    }
}
