//! Everything that can go wrong between "Sign in with …" and being signed in.
//!
//! Display is the sentence a person reads on the error page; it never contains
//! a token, code, verifier or secret (those are never put into these values).
//! The provider's own `error_description` is kept separately and shown escaped.

use crate::db::DbError;

/// Why a sign-in could not be started or finished.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// 400: the callback came without `state` (RFC 6749 §4.1.2 requires it back).
    #[error("The sign-in response is incomplete (it has no state). Please start again.")]
    MissingState,
    /// 400: unknown, already used, or from another provider's sign-in.
    #[error(
        "This sign-in link is not valid any more: it was already used or never started here. Please start again."
    )]
    UnknownState,
    /// 400: older than the 10 minutes a sign-in may take.
    #[error("This sign-in took too long and has expired. Please start again.")]
    ExpiredState,
    /// 400: the state was issued to a different browser (login CSRF, RFC 9700 §4.7).
    #[error(
        "This sign-in was started in a different browser or the session ended. Please start again here."
    )]
    StateFromAnotherBrowser,
    /// 403: an answer to a request for more scopes (incremental consent)
    /// came back to a browser where the user who asked is no longer signed
    /// in (signed out, or someone else signed in meanwhile). The answer
    /// belongs to that user only: nothing is stored and nobody is signed
    /// out or in.
    #[error(
        "This permission request was started by someone who is not signed in here now, so the answer was not used and nothing changed. Sign in and open your mail to ask again."
    )]
    ConsentForAnotherUser,
    /// 403: the answer to a request for more scopes names another account
    /// at the provider (issuer and `sub`) than the identity that asked: the
    /// person chose a different account at the provider. Its tokens are not
    /// stored, and the signed-in account is not switched.
    #[error(
        "You chose a different account at the provider than the one you are signed in with, so its permission was not used and nothing changed. Ask again and choose the same account."
    )]
    ConsentFromAnotherAccount,
    /// 403: an answer to a request to link an account came back to a
    /// browser where the user who asked is no longer signed in (signed out,
    /// or someone else signed in meanwhile). Attaching it to whoever is here
    /// now would give them another person's account: nothing is stored.
    #[error(
        "This request to link an account was started by someone who is not signed in here now, so the answer was not used and nothing changed. Sign in and link the account again from your profile."
    )]
    LinkForAnotherUser,
    /// 403: a fresh sign-in (before linking, unlinking or deleting) came
    /// back to a browser where the session that asked is no longer the one
    /// signed in: nothing goes on.
    #[error(
        "This sign-in confirmation was started by someone who is not signed in here now, so nothing changed. Sign in and try again."
    )]
    ReauthForAnotherUser,
    /// 403: the fresh sign-in was answered by another account at the
    /// provider than the one this session signed in with: whoever holds
    /// this session's cookie is not shown to be its owner, so what they
    /// asked for (link, unlink, delete) does not happen.
    #[error(
        "You signed in at the provider with a different account than the one signed in here, so nothing changed. To go on, sign in there with the account you use here."
    )]
    ReauthFromAnotherAccount,
    /// 403: the fresh sign-in's ID token says the person authenticated at
    /// the provider longer ago than REAUTH_MAX_AGE (`auth_time`, OIDC Core
    /// §3.1.2.1): the provider answered from an older sign-in.
    #[error(
        "The provider did not ask you to sign in again (its sign-in is from {minutes_ago} minutes ago), so nothing changed. Sign out at the provider, then try again."
    )]
    ReauthNotFresh { minutes_ago: i64 },
    /// 409: the account chosen at the provider (issuer and `sub`) is
    /// already linked to another user of this app. It is not moved (that
    /// would take it from them) and the two users are not merged: nothing
    /// changed, tokens included.
    #[error(
        "That account is already linked to another account here, so it was not linked to yours and nothing changed. To link it here, sign in with it and either unlink it on that account's profile or delete that account, then sign in again as yourself and link it."
    )]
    IdentityLinkedToAnotherUser,
    /// 400: the provider sent neither a code nor an error.
    #[error("The provider's answer has no authorization code. Please try again.")]
    MissingCode,
    /// 400: the `iss` parameter names another issuer (RFC 9207, mix-up defence).
    #[error("The answer came from a different provider than the one we asked. Please try again.")]
    IssuerMismatch,
    /// 400: the provider says it always names itself on the way back
    /// (`authorization_response_iss_parameter_supported`), but this answer
    /// has no `iss`: it may not come from it (RFC 9207 §2.4, mix-up defence).
    #[error(
        "We could not confirm which provider this answer came from, so it was not used. Please try again."
    )]
    MissingIssuer,
    /// 403: access was refused at the provider (`error=access_denied`). RFC
    /// 6749 §4.1.2.1 says "the resource owner or authorization server denied
    /// the request": the person declined, or the provider refused on its own
    /// (an organisation's policy, an administrator). The provider's
    /// `error_description`, when it sends one, may say which; Display says
    /// "you chose" only when it does not name someone else.
    #[error("{}", access_denied_message(.description.as_deref()))]
    AccessDenied { description: Option<String> },
    /// 400: any other error the provider reported at the callback (RFC 6749 §4.1.2.1).
    #[error("The provider could not complete the sign-in ({code}).")]
    ProviderReportedError {
        code: String,
        description: Option<String>,
    },
    /// 400: the token endpoint refused the code (RFC 6749 §5.2), e.g. `invalid_grant`
    /// for an expired or reused code.
    #[error("The provider refused to exchange the sign-in code ({code}). Please sign in again.")]
    TokenRequestRejected {
        code: String,
        description: Option<String>,
    },
    /// 504: the provider did not answer in time.
    #[error("The provider did not answer in time. Please try again in a moment.")]
    ProviderTimeout,
    /// 502: the provider could not be reached, or answered with a server error or
    /// something that is not a valid response.
    #[error("The provider is not answering properly right now. Please try again in a moment.")]
    ProviderUnavailable { detail: String },
    /// 502: the provider's discovery document names an endpoint (`name`)
    /// that is not https (nor loopback http for a loopback issuer): the
    /// provider counts as misconfigured and is not used (`issuer::safe_endpoint`).
    #[error(
        "The provider's configuration gives an address for {name} that is not secure (not https), so it was not used and you were not signed in. Please tell the site's administrator."
    )]
    UnsafeEndpoint { name: &'static str },
    /// 502: the provider's id for the person (`sub`, or GitHub's numeric id)
    /// is empty, longer than 255 characters or not printable ASCII (OIDC
    /// Core §2): we could not find them again by it.
    #[error(
        "The provider identified you with an id we cannot use, so you were not signed in. Please tell the site's administrator."
    )]
    UnusableSubject { length: usize },
    /// 502: an answer from the provider (`what`: its token response, ID
    /// token, discovery document or signing keys) was larger than any genuine
    /// one (`http_client`'s caps); it was dropped unread and nothing stored.
    #[error(
        "The provider's answer ({what}) was too large to be genuine, so it was not used and you were not signed in. Please try again later."
    )]
    AnswerTooLarge { what: &'static str },
    /// 502: the ID token failed validation (OpenID Connect Core §3.1.3.7).
    #[error(
        "The provider's proof of who you are could not be verified, so you were not signed in."
    )]
    InvalidIdToken { reason: String },
    /// 503 when the database cannot be reached (`DbError::is_unavailable`),
    /// 500 for any other failure of our own storage.
    #[error("{}", if .0.is_unavailable() {
        "Our database is not answering right now, so you were not signed in. Nothing was lost: please try again in a minute."
    } else {
        "Something went wrong on our side while signing you in."
    })]
    Storage(#[from] DbError),
}

impl SignInError {
    /// The HTTP status of the error page.
    pub fn status(&self) -> u16 {
        match self {
            SignInError::MissingState
            | SignInError::UnknownState
            | SignInError::ExpiredState
            | SignInError::StateFromAnotherBrowser
            | SignInError::MissingCode
            | SignInError::IssuerMismatch
            | SignInError::MissingIssuer
            | SignInError::ProviderReportedError { .. }
            | SignInError::TokenRequestRejected { .. } => 400,
            SignInError::AccessDenied { .. }
            | SignInError::ConsentForAnotherUser
            | SignInError::ConsentFromAnotherAccount
            | SignInError::LinkForAnotherUser
            | SignInError::ReauthForAnotherUser
            | SignInError::ReauthFromAnotherAccount
            | SignInError::ReauthNotFresh { .. } => 403,
            SignInError::IdentityLinkedToAnotherUser => 409,
            SignInError::ProviderTimeout => 504,
            SignInError::ProviderUnavailable { .. }
            | SignInError::AnswerTooLarge { .. }
            | SignInError::UnusableSubject { .. }
            | SignInError::UnsafeEndpoint { .. }
            | SignInError::InvalidIdToken { .. } => 502,
            SignInError::Storage(error) if error.is_unavailable() => 503,
            SignInError::Storage(_) => 500,
        }
    }

    /// What the provider's error code means and what to do next, when known.
    pub fn explanation(&self) -> Option<super::plain_words::Explanation> {
        match self {
            SignInError::ProviderReportedError { code, description }
            | SignInError::TokenRequestRejected { code, description } => {
                super::plain_words::explain_provider_error(code, description.as_deref())
            }
            SignInError::AccessDenied { description } => {
                super::plain_words::explain_provider_error("access_denied", description.as_deref())
            }
            _ => None,
        }
    }

    /// The provider's own words, to show (escaped) under our message.
    pub fn provider_description(&self) -> Option<&str> {
        match self {
            SignInError::ProviderReportedError { description, .. }
            | SignInError::TokenRequestRejected { description, .. }
            | SignInError::AccessDenied { description } => description.as_deref(),
            _ => None,
        }
    }
}

/// The error page's sentence for `access_denied`: "you chose" unless the
/// provider's description names a cause that someone else must fix (a
/// Conditional Access policy, an administrator's consent or assignment), as
/// `plain_words` reads it. Without a description, or with one it does not
/// recognise, the person most likely declined.
fn access_denied_message(description: Option<&str>) -> &'static str {
    use super::plain_words::{FixedBy, explain_provider_error};
    match explain_provider_error("access_denied", description).map(|known| known.fixed_by) {
        Some(FixedBy::Visitor) | None => {
            "You chose not to sign in, so nothing was shared with this app."
        }
        Some(FixedBy::Administrator) => {
            "Your organisation's policy or an administrator refused this sign-in at the provider; you did not. Nothing was shared with this app."
        }
        Some(FixedBy::Developer | FixedBy::Provider) => {
            "The provider refused this sign-in, so nothing was shared with this app."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::plain_words::FixedBy;

    fn denied(description: Option<&str>) -> SignInError {
        SignInError::AccessDenied {
            description: description.map(str::to_owned),
        }
    }

    #[test]
    fn access_denied_by_a_policy_does_not_say_the_person_chose() {
        let description = "AADSTS53003: Access has been blocked by Conditional Access policies.";
        let error = denied(Some(description));
        let message = error.to_string();
        assert!(!message.to_lowercase().contains("you chose"), "{message}");
        assert!(message.contains("policy"), "{message}");
        assert_eq!(error.provider_description(), Some(description));
        let explanation = error.explanation().expect("explained");
        assert_eq!(explanation.fixed_by, FixedBy::Administrator);
        assert_eq!(error.status(), 403);
        for description in [
            "AADSTS90094: Admin consent is required.",
            "AADSTS90095: Admin consent is required, request approval.",
            "AADSTS50105: The signed in user is not assigned to a role for the application.",
        ] {
            let message = denied(Some(description)).to_string();
            assert!(!message.to_lowercase().contains("you chose"), "{message}");
        }
    }

    /// A database that cannot be reached is a 503 ("try again in a minute"),
    /// any other storage failure a 500: the first passes by itself, the
    /// second needs someone to look. (Over HTTP the 503 is proven on
    /// PostgreSQL by `outage.rs`; an SQLite file does not go away.)
    #[test]
    fn a_storage_error_is_a_503_only_when_the_database_cannot_be_reached() {
        use diesel::result::{DatabaseErrorKind, Error};
        let unreachable = SignInError::Storage(DbError::Query(Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection,
            Box::new("server closed the connection".to_owned()),
        )));
        assert_eq!(unreachable.status(), 503);
        assert!(unreachable.to_string().contains("not answering right now"));

        let failed = SignInError::Storage(DbError::Query(Error::DatabaseError(
            DatabaseErrorKind::CheckViolation,
            Box::new("check failed".to_owned()),
        )));
        assert_eq!(failed.status(), 500);
        assert_eq!(
            failed.to_string(),
            "Something went wrong on our side while signing you in."
        );
    }

    #[test]
    fn access_denied_by_the_person_says_they_chose_and_keeps_the_description() {
        for description in [
            None,
            Some("The user denied consent"),
            Some("AADSTS65004: User declined to consent to access the app."),
        ] {
            let error = denied(description);
            assert!(
                error.to_string().starts_with("You chose not to sign in"),
                "{description:?}"
            );
            assert_eq!(error.provider_description(), description);
        }
    }
}
