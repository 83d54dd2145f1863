//! What an authorization request is for ([`Intent`]) and how its answer
//! ended: [`Finished`] (signed in, the mail permission answered, an account
//! linked, a fresh sign-in) or [`SignInFailure`]. Types only: `flow` and
//! `step_up` make them, the callback route reads them.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::SignInError;
use crate::db::accounts::AccountIds;
use crate::db::pending_sign_ins::{Purpose, Then};
use crate::providers::{Prompt, Provider};

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
    /// When the person last authenticated at the provider (its ID token's
    /// `auth_time`, else now): how fresh this sign-in is.
    pub authenticated_at: i64,
}

/// The browser an answer came back to, as the callback route knows it.
#[derive(Debug, Default)]
pub struct Browser {
    /// The random key in its session cookie, which `state` is bound to.
    pub key: Option<String>,
    /// Who is signed in there now, with the hash of their session id.
    pub signed_in: Option<(AccountIds, String)>,
    /// What it is ("Firefox on Linux"), for the list of sessions.
    pub description: Option<String>,
}

impl Browser {
    /// The session a sign-in here replaces (its id hash), and what the
    /// browser is: for the new session.
    pub fn replaced(self) -> (Option<String>, Option<String>) {
        (
            self.signed_in.map(|(_, session_hash)| session_hash),
            self.description,
        )
    }
}

/// What an authorization request is for, as `start` is asked for it.
#[derive(Debug, Clone)]
pub struct Intent {
    pub purpose: Purpose,
    /// What the provider is asked to show whatever it remembers (OIDC Core
    /// §3.1.2.1 `prompt`), if anything.
    pub prompt: Option<Prompt>,
    /// OpenID Connect `max_age` (OIDC Core §3.1.2.1): the provider must have
    /// authenticated the person no longer ago than this, and says when it
    /// did in the ID token's `auth_time`.
    pub max_age: Option<Duration>,
}

impl Intent {
    /// An ordinary sign-in. `ask_consent_again`: show the consent page even
    /// if the person consented before (after an API said a permission is
    /// missing).
    pub fn sign_in(ask_consent_again: bool) -> Intent {
        Intent {
            purpose: Purpose::SignIn,
            prompt: ask_consent_again.then_some(Prompt::Consent),
            max_age: None,
        }
    }

    /// The mail permission for the signed-in `ids` (incremental consent).
    pub fn add_mail(ids: AccountIds) -> Intent {
        Intent {
            purpose: Purpose::AddMail {
                user_id: ids.user_id,
                identity_id: ids.identity_id,
            },
            prompt: None,
            max_age: None,
        }
    }

    /// Linking another account at `provider` to the signed-in user. The
    /// provider is asked to let the person choose or sign in with another
    /// account: the one they are signed in with there is most often the one
    /// already linked.
    pub fn link(user_id: i64, provider: &Provider) -> Intent {
        Intent {
            purpose: Purpose::Link { user_id },
            prompt: Some(provider.account_choice),
            max_age: None,
        }
    }

    /// An administrator's approval for their whole organisation, at the
    /// provider's admin-consent endpoint (`admin_consent`).
    pub fn admin_consent() -> Intent {
        Intent {
            purpose: Purpose::AdminConsent,
            prompt: None,
            max_age: None,
        }
    }

    /// A fresh sign-in by the session's own account (`ids`) before `then`,
    /// which cannot be undone: authenticated at most `max_age` ago.
    pub fn reauthenticate(ids: AccountIds, then: Then, max_age: Duration) -> Intent {
        Intent {
            purpose: Purpose::Reauthenticate {
                user_id: ids.user_id,
                identity_id: ids.identity_id,
                then,
            },
            prompt: None,
            max_age: Some(max_age),
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
    /// The signed-in person signed in again with the session's own account:
    /// what they asked for may go on.
    Reauthenticated(Reauthenticated),
    /// An administrator answered the request for admin consent that this
    /// browser started: what they chose, to report. Nothing changed here.
    AdminConsent(super::admin_consent::Outcome),
}

/// The answer to a request for a fresh sign-in.
#[derive(Debug)]
pub struct Reauthenticated {
    /// When the person authenticated at the provider (`auth_time`, else now).
    pub authenticated_at: i64,
    /// What was asked for, to go on with now.
    pub then: Then,
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
pub fn requested(provider: &Provider, purpose: Option<&Purpose>) -> Provider {
    match purpose {
        Some(Purpose::AddMail { .. }) => provider.asking_for_mail(),
        Some(
            Purpose::SignIn
            | Purpose::Link { .. }
            | Purpose::Reauthenticate { .. }
            | Purpose::AdminConsent,
        )
        | None => provider.clone(),
    }
}
