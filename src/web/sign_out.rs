//! How a sign-in ends at its provider and in this browser, for every route
//! that ends one ("Sign out of {provider} too", account deletion): the
//! tokens revoked and deleted, the provider's end-session address, and the
//! note that `/signed-out` shows. It does not decide who may sign out (the
//! routes check the CSRF token) nor delete anything but tokens.

use actix_web::HttpResponse;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::crypto::random_url_safe;
use crate::error::AppError;
use crate::oauth::observe::Later;
use crate::oauth::revocation::{TokensAtProvider, end_session_url};
use crate::session::{self, SessionUser};
use crate::views::see_other;
use crate::web::Visitor;

/// What a sign-out did, kept in the cookie for `/signed-out`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SignOutNote {
    pub provider_name: String,
    pub tokens: TokensAtProvider,
    /// The `state` sent to the provider's end-session endpoint, if the
    /// browser was sent there; it must come back with it.
    pub end_session_state: Option<String>,
    pub advice: Option<String>,
    pub account_deleted: bool,
    /// The sign-in whose timeline (refreshes, revocation, sign-out at the
    /// provider) `/signed-out` shows; `None` once the account is deleted.
    pub attempt_id: Option<i64>,
}

/// Revokes the session's identity at its provider, and the URL of the
/// provider's end-session endpoint to send the browser to (if it has one).
pub async fn sign_out_at_provider_of(
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
pub fn finish_sign_out(
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
