//! What the session cookie holds, and the only code that reads or writes it.
//!
//! The cookie is actix-session's private cookie: encrypted and authenticated with
//! SESSION_KEY, HttpOnly, SameSite=Lax, Secure over HTTPS (see `startup`). It holds
//! no provider token: only who is signed in (a session id and ids into our
//! database), a random browser key that binds pending sign-ins to this browser,
//! and the CSRF token for our forms. Whether a signed-in session is still valid
//! is decided on the server (`db::sessions`), never by the cookie alone.

use actix_session::Session;
use serde::{Deserialize, Serialize};

use crate::crypto::random_url_safe;

const USER: &str = "user";
const BROWSER_KEY: &str = "browser_key";
const CSRF_TOKEN: &str = "csrf_token";
/// What the sign-out did, for the `/signed-out` page after it.
const SIGN_OUT_NOTE: &str = "sign_out_note";
/// Set at sign-in, only when an observer keeps records (the teaching layer),
/// until the first API call is noted as the sign-in's step 7.
const FIRST_API_CALL_PENDING: &str = "first_api_call_pending";

/// Whether a session's state (as a session store holds it) has someone
/// signed in: a state without is a visitor's, which needs keeping only as
/// long as a pending sign-in (`shared_store`).
pub fn state_has_user(state: &std::collections::HashMap<String, String>) -> bool {
    state.contains_key(USER)
}

/// The signed-in person, as the cookie remembers them between requests.
///
/// The cookie is not the proof of a sign-in: `session_id` must name a live
/// row of `db::sessions` (checked by `web::Visitor` on every request), so a
/// copy of the cookie stops working when that row is deleted or expires.
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionUser {
    /// Random, 256 bits; the server keeps only its hash.
    pub session_id: String,
    pub user_id: i64,
    pub identity_id: i64,
    pub provider: String,
    pub display_name: String,
    pub signed_in_at: i64,
    /// When this session's person last authenticated at the provider (the
    /// sign-in's, or a later fresh sign-in's `auth_time`, else when it came
    /// back). Kept in this cookie only: a fresh sign-in in one browser does
    /// not make a copy of an older cookie fresh. Cookies from before it
    /// existed read 0: never fresh.
    #[serde(default)]
    pub authenticated_at: i64,
}

impl SessionUser {
    /// Whether the person signed in at the provider no longer than
    /// `max_age` ago (REAUTH_MAX_AGE; 0 never is): what linking, unlinking
    /// and deleting the account need.
    pub fn signed_in_recently(&self, max_age: std::time::Duration, now: i64) -> bool {
        let max_age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        max_age > 0 && now.saturating_sub(self.authenticated_at) <= max_age
    }
}

impl std::fmt::Debug for SessionUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The session id opens the session: never in a log line.
        f.debug_struct("SessionUser")
            .field("user_id", &self.user_id)
            .field("identity_id", &self.identity_id)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// The session's random browser key, created on first use. Its hash is stored
/// with each pending sign-in; the callback must come back with the same key.
pub fn browser_key(session: &Session) -> Result<String, actix_session::SessionInsertError> {
    if let Ok(Some(key)) = session.get::<String>(BROWSER_KEY) {
        return Ok(key);
    }
    let key = random_url_safe(32);
    session.insert(BROWSER_KEY, &key)?;
    Ok(key)
}

/// The browser key if the session has one (the callback must not create one).
pub fn existing_browser_key(session: &Session) -> Option<String> {
    session.get::<String>(BROWSER_KEY).ok().flatten()
}

/// Who the cookie says is signed in, not yet checked against the server's
/// sessions (`web::Visitor` does that).
pub fn cookie_user(session: &Session) -> Option<SessionUser> {
    session.get::<SessionUser>(USER).ok().flatten()
}

/// Forgets the signed-in person in this cookie (their server-side session has
/// ended or expired), keeping the cookie itself usable: a browser key written
/// later in the same request, to sign in again at once, is kept. (`purge`
/// would drop every later write of the request: actix-session ignores inserts
/// into a purged session.)
pub fn forget_user(session: &Session) {
    session.remove(USER);
    session.remove(CSRF_TOKEN);
    session.remove(FIRST_API_CALL_PENDING);
    session.renew();
}

/// Starts a signed-in session. The session is renewed first, so a session
/// fixed by an attacker before sign-in is not the one that ends up signed in.
/// `note_first_api_call`: whether an observer wants the first API call
/// reported (without one, the cookie carries no such flag).
pub fn begin(
    session: &Session,
    user: &SessionUser,
    note_first_api_call: bool,
) -> Result<(), actix_session::SessionInsertError> {
    session.renew();
    session.remove(BROWSER_KEY);
    session.insert(USER, user)?;
    session.insert(CSRF_TOKEN, random_url_safe(32))?;
    if note_first_api_call {
        expect_first_api_call(session)?;
    }
    Ok(())
}

/// After a request for more scopes came back granted: the next API call is
/// reported as that attempt's step 7, as after a sign-in.
pub fn expect_first_api_call(session: &Session) -> Result<(), actix_session::SessionInsertError> {
    session.insert(FIRST_API_CALL_PENDING, true)
}

/// True once after sign-in: the page calling the API should record step 7 of
/// the sign-in for `/flow`. Kept in the cookie so other page views need no
/// database read to know.
pub fn take_first_api_call_pending(session: &Session) -> bool {
    // Read before removing: `remove` marks the session changed even when the
    // key is absent, and a changed session is written again (a new cookie,
    // or a SET in Redis) on every page that calls the API.
    match session.get::<bool>(FIRST_API_CALL_PENDING) {
        Ok(None) => false,
        pending => {
            session.remove(FIRST_API_CALL_PENDING);
            matches!(pending, Ok(Some(true)))
        }
    }
}

/// After a fresh sign-in with the session's own account: remembers when the
/// person authenticated, in this cookie. The cookie is renewed, as at any
/// sign-in (with Redis sessions, the old session key stops working).
pub fn signed_in_again(
    session: &Session,
    authenticated_at: i64,
) -> Result<(), actix_session::SessionInsertError> {
    if let Some(mut user) = cookie_user(session) {
        user.authenticated_at = authenticated_at;
        session.renew();
        session.insert(USER, &user)?;
    }
    Ok(())
}

/// The CSRF token of a signed-in session (synchroniser token pattern).
pub fn csrf_token(session: &Session) -> Option<String> {
    session.get::<String>(CSRF_TOKEN).ok().flatten()
}

/// Ends the session in this browser: the cookie is removed. (The server-side
/// session is deleted by the caller, `db::sessions::end`.)
pub fn end(session: &Session) {
    session.purge();
}

/// Ends the signed-in session in this browser like [`end`], but keeps `note`
/// (what the sign-out did) for the next page, `/signed-out`, to report.
pub fn end_with_note(
    session: &Session,
    note: &impl Serialize,
) -> Result<(), actix_session::SessionInsertError> {
    forget_user(session);
    session.remove(BROWSER_KEY);
    session.insert(SIGN_OUT_NOTE, note)
}

/// The note [`end_with_note`] kept, once.
pub fn take_sign_out_note<T: serde::de::DeserializeOwned>(session: &Session) -> Option<T> {
    session.remove_as::<T>(SIGN_OUT_NOTE).and_then(Result::ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_session_user_shows_who_but_never_the_session_id() {
        let user = SessionUser {
            session_id: "s3cr3t-session-id-value".into(),
            user_id: 7,
            identity_id: 9,
            provider: "demo".into(),
            display_name: "Alice".into(),
            signed_in_at: 0,
            authenticated_at: 0,
        };
        let shown = format!("{user:?}");
        assert_eq!(
            shown,
            r#"SessionUser { user_id: 7, identity_id: 9, provider: "demo", .. }"#
        );
    }

    #[test]
    fn a_sign_in_is_recent_up_to_max_age_and_never_with_zero() {
        let user = SessionUser {
            session_id: String::new(),
            user_id: 1,
            identity_id: 1,
            provider: "demo".into(),
            display_name: String::new(),
            signed_in_at: 1_000,
            authenticated_at: 1_000,
        };
        let five_minutes = std::time::Duration::from_secs(300);
        assert!(user.signed_in_recently(five_minutes, 1_000));
        assert!(user.signed_in_recently(five_minutes, 1_300));
        assert!(!user.signed_in_recently(five_minutes, 1_301));
        assert!(!user.signed_in_recently(std::time::Duration::ZERO, 1_000));
        let from_an_older_cookie: SessionUser = serde_json::from_str(
            r#"{"session_id":"s","user_id":1,"identity_id":1,"provider":"demo","display_name":"A","signed_in_at":1000}"#,
        )
        .unwrap();
        assert!(!from_an_older_cookie.signed_in_recently(five_minutes, 1_000));
    }
}
