//! What the core reports as it works, for whoever listens: the [`Observer`]
//! trait and the events it hears.
//!
//! The sign-in flow (`oauth::flow`), the keeper of tokens (`tokens`) and
//! sign-out tell an observer what happened at each step, as it happened: the
//! authorization request, the callback, the token request and answer, the
//! first API call, and what happens to a sign-in afterwards (refreshes,
//! revocations, sign-out at the provider). `startup` chooses the listener:
//! the teaching layer's, when it is built in, or [`Nobody`], and then the
//! core stores no record of attempts at all.
//!
//! What an observer writes about one attempt is text of its own making
//! ([`AttemptLog::to_text`]) that the core stores with the attempt inside the
//! attempt's own transactions (`db::sign_ins`), and hands back when the
//! browser returns ([`Observer::resume`]); the core never reads it. Events
//! borrow secrets (a code, a token) only for the length of the call: an
//! observer must not keep one, and must never write one down.
//!
//! What it must not do: name any listener.

use std::fmt;
use std::time::Instant;

use secrecy::SecretString;
use url::Url;

use super::SignInError;
use super::callback::CallbackParams;
use super::refresh::RefreshError;
use super::token::TokenTrace;
use crate::db::pending_sign_ins::Purpose;
use crate::db::tokens::ProviderTokens;
use crate::providers::Provider;

/// One step of an authorization request, from the redirect to the first API
/// call (steps 3 to 7; steps 1 and 2 are told with step 3), or how it failed.
/// Its `Debug` names the step only: the code, the verifier and `state` it
/// carries must never reach a log.
pub enum Step<'a> {
    /// Step 3: the browser is sent to the authorization endpoint. Steps 1
    /// (the registration, read from `provider`) and 2 (the visitor's choice,
    /// `return_to`) happened before it.
    AuthorizationRequest {
        provider: &'a Provider,
        return_to: &'a str,
        url: &'a Url,
        purpose: &'a Purpose,
        started: Instant,
    },
    /// Step 4: what the provider sent back through the browser, once `state`
    /// matched a request this browser started.
    Callback(&'a CallbackParams),
    /// Step 5: the token request, sent (or tried) with this code and verifier.
    TokenRequest {
        provider: &'a Provider,
        code: &'a str,
        verifier: &'a str,
        call: &'a TokenTrace,
    },
    /// Step 6: the token response, its ID token validated.
    TokenResponse {
        tokens: &'a ProviderTokens,
        call: &'a TokenTrace,
    },
    /// Step 6 of a sign-in or link: the scopes asked for against those granted.
    SignInScopes {
        provider: &'a Provider,
        granted: &'a [String],
    },
    /// Step 6 of a request for the mail permission: which were granted.
    ScopesGranted {
        asked: &'a [String],
        missing: &'a [String],
    },
    /// Step 7: a call to the provider's API with the access token (for a
    /// provider without ID tokens, the call that says who signed in).
    ApiCall {
        description: &'a str,
        outcome: Result<(), String>,
        started: Instant,
    },
    /// The attempt stopped here, with this error.
    Failed(&'a SignInError),
}

/// Something that happened to a sign-in after its seven steps. Its `Debug`
/// names the event only, as `Step`'s does.
pub enum Later<'a> {
    /// A refresh (RFC 6749 §6), with what it sent and what came back.
    Refresh {
        before: &'a ProviderTokens,
        outcome: Result<&'a ProviderTokens, &'a RefreshError>,
        call: &'a TokenTrace,
    },
    /// A revocation request at sign-out (RFC 7009 §2.1).
    Revocation {
        endpoint: &'a Url,
        token: &'a SecretString,
        hint: &'a str,
        status: Option<u16>,
        started: Instant,
    },
    /// GitHub's grant deletion at sign-out.
    GrantDeletion {
        endpoint: &'a Url,
        access_token: &'a SecretString,
        status: Option<u16>,
        started: Instant,
    },
    /// The browser sent to the provider's end-session endpoint.
    EndSession { url: &'a Url },
    /// The first API call after a sign-in (its step 7), made by a later page.
    FirstApiCall {
        description: &'a str,
        outcome: Result<(), String>,
        started: Instant,
    },
}

impl fmt::Debug for Step<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Step::AuthorizationRequest { .. } => "Step::AuthorizationRequest",
            Step::Callback(_) => "Step::Callback",
            Step::TokenRequest { .. } => "Step::TokenRequest",
            Step::TokenResponse { .. } => "Step::TokenResponse",
            Step::SignInScopes { .. } => "Step::SignInScopes",
            Step::ScopesGranted { .. } => "Step::ScopesGranted",
            Step::ApiCall { .. } => "Step::ApiCall",
            Step::Failed(_) => "Step::Failed",
        })
    }
}

impl fmt::Debug for Later<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Later::Refresh { .. } => "Later::Refresh",
            Later::Revocation { .. } => "Later::Revocation",
            Later::GrantDeletion { .. } => "Later::GrantDeletion",
            Later::EndSession { .. } => "Later::EndSession",
            Later::FirstApiCall { .. } => "Later::FirstApiCall",
        })
    }
}

/// What an observer made of a [`Later`] event at the time, to be added to
/// the sign-in's stored record ([`Observer::add_notes`]). Opaque to the core.
#[derive(Debug, Clone)]
pub struct Note(pub String);

/// An observer's record of one attempt, while the core holds it.
pub trait AttemptLog: Send {
    /// Adds what happened.
    fn record(&mut self, step: Step<'_>);
    /// The record as text, for the core to store with the attempt.
    fn to_text(&self) -> String;
}

/// Whoever listens to the core: one per app, shared by every worker.
pub trait Observer: fmt::Debug + Send + Sync {
    /// Whether it keeps records at all: when not, the core stores none and
    /// skips the storage work that goes with them.
    fn keeps_records(&self) -> bool;
    /// A record for a new attempt, or `None` when nothing is recorded.
    fn start(&self) -> Option<Box<dyn AttemptLog>>;
    /// The record stored when the attempt started (`None` if none was
    /// found), to go on with when the browser comes back.
    fn resume(&self, stored: Option<&str>) -> Option<Box<dyn AttemptLog>>;
    /// What to remember of an event after sign-in; `None` to remember nothing.
    fn note(&self, event: Later<'_>) -> Option<Note>;
    /// `stored` with `notes` added; `None` when there is nothing to change.
    fn add_notes(&self, stored: &str, notes: Vec<Note>) -> Option<String>;
}

/// The observer of an app that records nothing.
#[derive(Debug, Default)]
pub struct Nobody;

impl Observer for Nobody {
    fn keeps_records(&self) -> bool {
        false
    }

    fn start(&self) -> Option<Box<dyn AttemptLog>> {
        None
    }

    fn resume(&self, _: Option<&str>) -> Option<Box<dyn AttemptLog>> {
        None
    }

    fn note(&self, _: Later<'_>) -> Option<Note> {
        None
    }

    fn add_notes(&self, _: &str, _: Vec<Note>) -> Option<String> {
        None
    }
}

/// The record of one attempt as the core carries it: nothing when nobody
/// listens, so the flow reports each step in one line either way.
pub struct Log(Option<Box<dyn AttemptLog>>);

impl Log {
    pub fn new(log: Option<Box<dyn AttemptLog>>) -> Self {
        Log(log)
    }

    /// Reports `step` to the observer, if one listens.
    pub fn record(&mut self, step: Step<'_>) {
        if let Some(log) = &mut self.0 {
            log.record(step);
        }
    }

    /// The text to store with the attempt; `None` when nobody listens (then
    /// no record of the attempt is stored).
    pub fn to_text(&self) -> Option<String> {
        self.0.as_ref().map(|log| log.to_text())
    }
}

impl fmt::Debug for Log {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(if self.0.is_some() {
            "Log(listening)"
        } else {
            "Log(nobody)"
        })
    }
}

/// Events after a sign-in as the observer noted them, collected while a
/// request runs and stored with the sign-in at its end
/// (`TokenKeeper::remember`).
pub struct Notes<'a> {
    observer: &'a dyn Observer,
    noted: Vec<Note>,
}

impl<'a> Notes<'a> {
    pub fn new(observer: &'a dyn Observer) -> Self {
        Notes {
            observer,
            noted: Vec::new(),
        }
    }

    /// Tells the observer of `event` now, while what it names is at hand.
    pub fn add(&mut self, event: Later<'_>) {
        self.noted.extend(self.observer.note(event));
    }

    pub fn into_vec(self) -> Vec<Note> {
        self.noted
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::{Later, Step};
    use crate::oauth::callback::CallbackParams;
    use crate::oauth::token::TokenTrace;

    /// An observer that logs what it is told (`tracing::debug!(?step)`)
    /// writes the event's name, never the secrets it carries.
    #[test]
    fn an_events_debug_names_it_without_its_secrets() {
        let call = TokenTrace::default();
        let provider = crate::providers::tests_support::microsoft();
        let request = Step::TokenRequest {
            provider: &provider,
            code: "the-authorization-code",
            verifier: "the-pkce-verifier",
            call: &call,
        };
        assert_eq!(format!("{request:?}"), "Step::TokenRequest");
        let params = CallbackParams {
            state: Some("the-state".to_owned()),
            ..CallbackParams::default()
        };
        assert_eq!(format!("{:?}", Step::Callback(&params)), "Step::Callback");
        let token = SecretString::from("the-refresh-token");
        let endpoint = url::Url::parse("https://id.example/revoke").unwrap();
        let revocation = Later::Revocation {
            endpoint: &endpoint,
            token: &token,
            hint: "refresh_token",
            status: Some(200),
            started: std::time::Instant::now(),
        };
        assert_eq!(format!("{revocation:?}"), "Later::Revocation");
    }
}
