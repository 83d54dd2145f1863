//! The ways a sign-in ends, each a CSRF-protected POST, and the page after:
//! - `POST /logout`: this session ends (here and on the server), nothing is
//!   asked of the provider;
//! - `POST /logout/all`: every session of this person ends;
//! - `POST /logout/provider`: this session ends, the tokens are revoked at
//!   the provider where it allows, and the browser goes to the provider's
//!   end-session endpoint where it has one;
//! - `GET`/`POST /account/delete`: the same at every linked provider, then
//!   everything stored about the person is deleted;
//! - `GET /signed-out`: what happened at each place, and what the person can
//!   still do themselves.
//!
//! Local state is always cleared, whatever the provider answers.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::crypto::{constant_time_eq, random_url_safe, sha256_url_safe};
use crate::db::accounts::{self, DeletionSummary};
use crate::db::sessions;
use crate::error::AppError;
use crate::oauth::observe::Later;
use crate::oauth::revocation::{TokensAtProvider, end_session_url};
use crate::session::{self, SessionUser};
use crate::views::see_other;
use crate::web::Visitor;

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

/// What a sign-out did, kept in the cookie for `/signed-out`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SignOutNote {
    provider_name: String,
    tokens: TokensAtProvider,
    /// The `state` sent to the provider's end-session endpoint, if the
    /// browser was sent there; it must come back with it.
    end_session_state: Option<String>,
    advice: Option<String>,
    account_deleted: bool,
    /// The sign-in whose timeline (refreshes, revocation, sign-out at the
    /// provider) `/signed-out` shows; `None` once the account is deleted.
    attempt_id: Option<i64>,
}

/// Revokes the session's identity at its provider, and the URL of the
/// provider's end-session endpoint to send the browser to (if it has one).
async fn sign_out_at_provider_of(
    state: &AppState,
    user: &SessionUser,
    account_deleted: bool,
) -> Result<(SignOutNote, Option<url::Url>), AppError> {
    let provider = state.providers.get(&user.provider);
    let keeper = state.tokens();
    let mut revoked = keeper.revoke_and_forget(provider, user.identity_id).await?;
    let end_session_state = random_url_safe(32);
    let end_session = match provider {
        Some(provider) => {
            let back = state
                .base_url
                .join("/signed-out")
                .map_err(|error| AppError::internal("the end-session return address", error))?;
            end_session_url(
                provider,
                &state.flow.discovery,
                &state.http,
                revoked.id_token.as_ref(),
                &back,
                &end_session_state,
            )
            .await
        }
        None => None,
    };
    // The same timeline as the sign-in's: what was sent where.
    if let Some(url) = &end_session {
        revoked
            .notes
            .extend(state.flow.observer.note(Later::EndSession { url }));
    }
    let attempt_id = match account_deleted {
        true => None,
        false => keeper.remember(user.user_id, revoked.notes).await,
    };
    let note = SignOutNote {
        provider_name: provider.map_or_else(
            || user.provider.clone(),
            |provider| provider.display_name.clone(),
        ),
        tokens: revoked.at_provider,
        end_session_state: end_session.as_ref().map(|_| end_session_state),
        advice: provider
            .and_then(|provider| provider.sign_out_advice)
            .map(str::to_owned),
        account_deleted,
        attempt_id,
    };
    Ok((note, end_session))
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

#[derive(Serialize)]
struct LeavingPage<'a> {
    provider_name: &'a str,
    end_session_url: &'a str,
}

/// Ends the cookie's session, keeping `note` for `/signed-out`, and sends the
/// browser on: to `/signed-out` (303), or to the provider's end-session
/// endpoint through a page that says where it goes and follows a
/// `<meta http-equiv="refresh">`.
///
/// Why not a 303 to the provider: our Content-Security-Policy says
/// `form-action 'self'`, and browsers apply it to every redirect that follows
/// a form's POST, so a redirect to another origin would be blocked. A page
/// that navigates on its own is not a form submission any more.
fn finish_sign_out(
    state: &AppState,
    mut visitor: Visitor,
    note: &SignOutNote,
    end_session: Option<url::Url>,
) -> Result<HttpResponse, AppError> {
    session::end_with_note(&visitor.session, note)
        .map_err(|error| AppError::internal("writing the session", error))?;
    // The page that follows shows nobody signed in.
    visitor.user = None;
    match end_session {
        None => Ok(see_other("/signed-out")),
        Some(url) => visitor.render(
            state,
            "leaving.html",
            &LeavingPage {
                provider_name: &note.provider_name,
                end_session_url: url.as_str(),
            },
        ),
    }
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

/// `POST /account/delete`: revokes the tokens of every linked identity at its
/// provider (where it allows), deletes the user with everything stored about
/// them (identities, tokens, sessions, sign-in attempts: the foreign keys
/// cascade), ends this browser's session, and reports on `/signed-out`.
pub async fn delete_account(
    state: web::Data<AppState>,
    visitor: Visitor,
    form: web::Form<SignOutForm>,
) -> Result<HttpResponse, AppError> {
    let Some(user) = signing_out(&visitor, &form)? else {
        return Ok(see_other("/"));
    };
    let user_id = user.user_id;
    let identities = state
        .db()
        .run(move |connection, _| accounts::identities_of(connection, user_id))
        .await?;
    // The other linked identities first; the session's own last, as it also
    // gives the end-session request.
    for identity in identities
        .iter()
        .filter(|identity| identity.identity_id != user.identity_id)
    {
        let provider = state.providers.get(&identity.provider);
        state
            .tokens()
            .revoke_and_forget(provider, identity.identity_id)
            .await?;
    }
    let (note, end_session) = sign_out_at_provider_of(&state, user, true).await?;
    state
        .db()
        .write(move |connection, _| accounts::delete_user(connection, user_id))
        .await?;
    tracing::info!(user_id, "account deleted");
    finish_sign_out(&state, visitor, &note, end_session)
}
