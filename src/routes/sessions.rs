//! The signed-in person's sessions: `GET /account/sessions` lists them
//! (which browser, when it signed in, last seen, which account, this one
//! marked), and `POST /account/sessions/{handle}/end` ends one. A session
//! ends on the server (`db::sessions`), so every copy of its cookie stops
//! working at once, on every instance. `{handle}` names the row only: it is
//! neither the session id nor its hash.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::app::AppState;
use crate::crypto::sha256_url_safe;
use crate::db::sessions::{self, ListedSession};
use crate::db::unix_now;
use crate::error::AppError;
use crate::views::see_other;
use crate::web::{CsrfForm, Visitor};

#[derive(Serialize)]
struct SessionsPage {
    sessions: Vec<ListedSession>,
}

/// `GET /account/sessions`
pub async fn show_sessions(
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let user = visitor.require_user()?;
    let (user_id, current) = (user.user_id, sha256_url_safe(&user.session_id));
    let limits = state.flow.session_limits;
    let listed = state
        .db()
        .run(move |connection, _| sessions::list(connection, user_id, &current, unix_now(), limits))
        .await?;
    visitor.render(&state, "sessions.html", &SessionsPage { sessions: listed })
}

/// `POST /account/sessions/{handle}/end` (the list's "End" button, with the
/// CSRF token): ends that session of this person; with their last session,
/// their tokens go too. Another person's handle is a 404, as an unknown one.
pub async fn end_session(
    state: web::Data<AppState>,
    visitor: Visitor,
    handle: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    let user = visitor.require_user_with_csrf(&form.csrf_token)?;
    let (user_id, handle) = (user.user_id, handle.into_inner());
    let ended = state
        .db()
        .write(move |connection, _| sessions::end_by_handle(connection, user_id, &handle))
        .await?
        .ok_or(AppError::NotFound)?;
    tracing::info!(
        user_id,
        sessions = ended.sessions,
        "a session was ended from the list"
    );
    Ok(see_other("/account/sessions"))
}
