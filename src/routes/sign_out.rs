//! The ways a sign-in ends, each a CSRF-protected POST, and the page after:
//! - `POST /logout`: this session ends (here and on the server), nothing is
//!   asked of the provider;
//! - `POST /logout/all`: every session of this person ends;
//! - `POST /logout/provider`: this session ends, the tokens are revoked at
//!   the provider where it allows, and the browser goes to the provider's
//!   end-session endpoint where it has one;
//! - `GET`/`POST /account/delete`: the same at every linked provider, then
//!   everything stored about the person is deleted, after a fresh sign-in
//!   (`web::irreversible`);
//! - `GET /signed-out`: what happened at each place, and what the person can
//!   still do themselves.
//!
//! Local state is always cleared, whatever the provider answers.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::crypto::{constant_time_eq, sha256_url_safe};
use crate::db::accounts::{self, DeletionSummary};
use crate::db::pending_sign_ins::Then;
use crate::db::sessions;
use crate::error::AppError;
use crate::session::{self, SessionUser};
use crate::views::see_other;
use crate::web::Visitor;
use crate::web::irreversible;
use crate::web::sign_out::{SignOutNote, finish_sign_out, sign_out_at_provider_of};

#[derive(Deserialize)]
pub struct SignOutForm {
    csrf_token: String,
}

/// The signed-in user of a sign-out form, once its CSRF token matches; `None`
/// when nobody is signed in (already signed out, for example in another tab).
fn signing_out<'v>(
    visitor: &'v Visitor,
    form: &SignOutForm,
) -> Result<Option<&'v SessionUser>, AppError> {
    let Some(user) = &visitor.user else {
        return Ok(None);
    };
    let expected = session::csrf_token(&visitor.session).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(&expected, &form.csrf_token) {
        return Err(AppError::InvalidCsrfToken);
    }
    Ok(Some(user))
}

/// `POST /logout`: ends this session, here and on the server, so a copy of
/// the cookie stops working too. Nothing is asked of the provider. The
/// person's stored tokens are deleted with their last session
/// (`db::sessions::end`); other browsers still signed in keep working.
pub async fn sign_out(
    state: web::Data<AppState>,
    visitor: Visitor,
    form: web::Form<SignOutForm>,
) -> Result<HttpResponse, AppError> {
    let Some(user) = signing_out(&visitor, &form)? else {
        return Ok(see_other("/"));
    };
    let ended = end_this_session(&state, user).await?;
    if ended.tokens_deleted {
        state.profiles.forget(user.identity_id);
    }
    session::end(&visitor.session);
    Ok(see_other("/"))
}

async fn end_this_session(
    state: &AppState,
    user: &SessionUser,
) -> Result<sessions::Ended, AppError> {
    let (id_hash, user_id) = (sha256_url_safe(&user.session_id), user.user_id);
    Ok(state
        .db()
        .write(move |connection, _| sessions::end(connection, &id_hash, user_id))
        .await?)
}

/// `POST /logout/all`: "Sign out everywhere". Ends every session of this
/// person, in every browser, and deletes their stored tokens.
pub async fn sign_out_everywhere(
    state: web::Data<AppState>,
    visitor: Visitor,
    form: web::Form<SignOutForm>,
) -> Result<HttpResponse, AppError> {
    let Some(user) = signing_out(&visitor, &form)? else {
        return Ok(see_other("/"));
    };
    let user_id = user.user_id;
    let ended = state
        .db()
        .write(move |connection, _| sessions::end_all(connection, user_id))
        .await?;
    state.profiles.forget(user.identity_id);
    tracing::info!(user_id, sessions = ended.sessions, "signed out everywhere");
    session::end(&visitor.session);
    Ok(see_other("/"))
}

/// `POST /logout/provider`: "Sign out of {provider} too". Ends this session,
/// revokes the tokens at the provider (RFC 7009, or GitHub's grant deletion)
/// and deletes them, then sends the browser to the provider's end-session
/// endpoint (RP-Initiated Logout 1.0) or straight to `/signed-out`.
pub async fn sign_out_at_provider(
    state: web::Data<AppState>,
    visitor: Visitor,
    form: web::Form<SignOutForm>,
) -> Result<HttpResponse, AppError> {
    let Some(user) = signing_out(&visitor, &form)? else {
        return Ok(see_other("/"));
    };
    let (note, end_session) = sign_out_at_provider_of(&state, user, false).await?;
    end_this_session(&state, user).await?;
    finish_sign_out(&state, visitor, &note, end_session)
}

#[derive(Deserialize)]
pub struct SignedOutQuery {
    state: Option<String>,
}

#[derive(Serialize)]
struct SignedOutPage {
    note: Option<SignOutNote>,
    /// The provider sent the browser back with the `state` we gave it.
    provider_session_ended: bool,
    /// What happened to the sign-in after its seven steps, the sign-out
    /// last, as the teaching layer recorded it.
    #[cfg(feature = "teaching")]
    timeline: Vec<crate::teaching::record::EventView>,
}

/// `GET /signed-out?state=…`: what the sign-out did here, to the tokens, and
/// at the provider. Also the `post_logout_redirect_uri` registered at the
/// providers.
pub async fn show_signed_out(
    state: web::Data<AppState>,
    visitor: Visitor,
    query: web::Query<SignedOutQuery>,
) -> Result<HttpResponse, AppError> {
    let note: Option<SignOutNote> = session::take_sign_out_note(&visitor.session);
    let provider_session_ended = match (&note, &query.state) {
        (
            Some(SignOutNote {
                end_session_state: Some(expected),
                ..
            }),
            Some(returned),
        ) => constant_time_eq(expected, returned),
        _ => false,
    };
    // The note (an encrypted cookie value, taken once) names the attempt,
    // so only the browser that signed out sees its timeline.
    let attempt_id = note.as_ref().and_then(|note| note.attempt_id);
    #[cfg(feature = "teaching")]
    let timeline = crate::teaching::timeline(&state, attempt_id).await?;
    #[cfg(not(feature = "teaching"))]
    let _ = attempt_id;
    let page = SignedOutPage {
        note,
        provider_session_ended,
        #[cfg(feature = "teaching")]
        timeline,
    };
    visitor.render(&state, "signed_out.html", &page)
}

#[derive(Serialize)]
struct DeleteAccountPage {
    summary: DeletionSummary,
}

/// `GET /account/delete`: what deleting the account deletes, and the button.
pub async fn confirm_account_deletion(
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, AppError> {
    let user_id = visitor.require_user()?.user_id;
    let summary = state
        .db()
        .run(move |connection, _| accounts::deletion_summary(connection, user_id))
        .await?;
    visitor.render(
        &state,
        "delete_account.html",
        &DeleteAccountPage { summary },
    )
}

/// `POST /account/delete`: after a fresh sign-in with the session's own
/// account (`web::irreversible`), revokes the tokens of every linked
/// identity at its provider (where it allows), deletes the user with
/// everything stored about them, ends this browser's session, and reports
/// on `/signed-out`.
pub async fn delete_account(
    state: web::Data<AppState>,
    request: HttpRequest,
    visitor: Visitor,
    form: web::Form<SignOutForm>,
) -> Result<HttpResponse, AppError> {
    let Some(user) = signing_out(&visitor, &form)? else {
        return Ok(see_other("/"));
    };
    if let Some(sign_in_first) =
        irreversible::sign_in_again_first(&state, &request, &visitor, user, Then::DeleteAccount)
            .await?
    {
        return Ok(sign_in_first);
    }
    irreversible::delete_account(&state, visitor).await
}
