//! What an authorization request is for ([`Intent`]) and how its answer
//! ended: [`Finished`] (signed in, the mail permission answered, an account
//! linked) or [`SignInFailure`]. Types only: `flow` and `step_up` make them,
//! the callback route reads them.

use secrecy::SecretString;
use url::Url;

use super::SignInError;
use crate::db::accounts::AccountIds;
use crate::db::pending_sign_ins::Purpose;
use crate::providers::Provider;

/// A finished sign-in: the new session, for the caller to put in the cookie.
#[derive(Debug)]
pub struct NewSession {
    pub ids: AccountIds,
    /// The name to greet the visitor with.
    pub display_name: String,
    /// Where to send the visitor now: re-checked, same-site path.
    pub return_to: String,
    /// The new server-side session, recorded with the sign-in (`db::sessions`);
    /// the caller puts it in the session cookie.
    pub session_id: SecretString,
}

/// What an authorization request is for, as `start` is asked for it.
#[derive(Debug, Clone, Copy)]
pub struct Intent {
    pub purpose: Purpose,
    /// Ask the provider to show its consent page even if the person
    /// consented before (after an API said a permission is missing).
    pub ask_consent_again: bool,
}

impl Intent {
    /// An ordinary sign-in.
    pub fn sign_in(ask_consent_again: bool) -> Intent {
        Intent {
            purpose: Purpose::SignIn,
            ask_consent_again,
        }
    }

    /// The mail permission for the signed-in `ids` (incremental consent).
    pub fn add_mail(ids: AccountIds) -> Intent {
        Intent {
            purpose: Purpose::AddMail {
                user_id: ids.user_id,
                identity_id: ids.identity_id,
            },
            ask_consent_again: false,
        }
    }

    /// Linking another account at a provider to the signed-in user.
    pub fn link(user_id: i64) -> Intent {
        Intent {
            purpose: Purpose::Link { user_id },
            ask_consent_again: false,
        }
    }
}

/// How a callback ended well.
#[derive(Debug)]
pub enum Finished {
    /// Someone signed in.
    SignedIn(NewSession),
    /// The signed-in person answered a request for the mail permission:
    /// their session stays as it was.
    MailPermission(MailPermission),
    /// The signed-in person linked another account: their session stays on
    /// the identity it was on.
    Linked(Linked),
}

/// The answer to a request to link an account.
#[derive(Debug)]
pub struct Linked {
    pub identity_id: i64,
    /// The identity was linked to this user before: only its tokens (and
    /// name and email) were refreshed.
    pub already: bool,
    /// The account's name at the provider.
    pub display_name: String,
    pub return_to: String,
}

/// The answer to a request for the mail permission.
#[derive(Debug)]
pub struct MailPermission {
    pub identity_id: i64,
    /// Where to go now: re-checked, same-site path.
    pub return_to: String,
    /// The mail scopes that were asked for and not granted: empty when mail
    /// was allowed. The person may have declined (`access_denied`) or, at
    /// Google, unticked the mail box on the consent page.
    pub missing: Vec<String>,
}

/// A failed sign-in, with where the visitor wanted to go (if we got that far),
/// so the error page can offer to try again to the same place.
#[derive(Debug)]
pub struct SignInFailure {
    pub error: SignInError,
    pub return_to: Option<String>,
    /// Where an administrator can approve the app, when the provider's
    /// error says one must (`admin_consent`). Boxed: errors stay small.
    pub admin_consent_url: Option<Box<Url>>,
    /// The request was for more scopes by someone signed in (not a
    /// sign-in): the page offers to go back to `return_to` and ask again,
    /// not to sign in.
    pub for_signed_in_user: bool,
}

impl From<SignInError> for SignInFailure {
    fn from(error: SignInError) -> Self {
        SignInFailure {
            error,
            return_to: None,
            admin_consent_url: None,
            for_signed_in_user: false,
        }
    }
}

impl SignInFailure {
    pub(super) fn new(error: SignInError, return_to: Option<String>) -> Self {
        SignInFailure {
            error,
            return_to,
            admin_consent_url: None,
            for_signed_in_user: false,
        }
    }
}

/// The provider as this request asks it: with the mail scopes for a request
/// for the mail permission.
pub fn requested(provider: &Provider, purpose: Option<Purpose>) -> Provider {
    match purpose {
        Some(Purpose::AddMail { .. }) => provider.asking_for_mail(),
        Some(Purpose::SignIn | Purpose::Link { .. }) | None => provider.clone(),
    }
}
