//! The sign-in's transactions: what `oauth::flow` writes when a sign-in
//! starts (step 3) and when the browser comes back (steps 4 to 6), each as one
//! transaction of its own, so the flow never opens a transaction itself.
//!
//! Each is a [`super::write_transaction`] (on SQLite `BEGIN IMMEDIATE`).
//!
//! What it must not do: decide anything about the protocol (the flow checks
//! state, browser binding and expiry with what `take` returns).

use super::accounts::{self, AccountIds, SignInRecord};
use super::pending_sign_ins::{self, NewPendingSignIn, PendingLimits, PendingSignIn};
use super::sessions::{self, SessionLimits};
use super::tokens::{self, ProviderTokens};
use super::{DbConnection, DbError, TokenSealer, attempts, unix_now};

/// Step 3: the pending sign-in and, when an observer keeps one, its record
/// of the attempt (`journal`, text the observer made), written together or
/// not at all.
pub fn begin(
    connection: &mut DbConnection,
    sealer: &TokenSealer,
    pending: &NewPendingSignIn,
    limits: PendingLimits,
    journal: Option<&str>,
) -> Result<(), DbError> {
    super::write_transaction(connection, |connection| {
        pending_sign_ins::insert(connection, sealer, pending, limits)?;
        if let Some(journal) = journal {
            attempts::insert(
                connection,
                &pending.state_hash,
                &pending.browser_hash,
                &pending.provider,
                journal,
            )?;
        }
        Ok(())
    })
}

/// Step 4: takes (deletes and returns) the pending sign-in for `state_hash`,
/// with the observer's record of the attempt so far, if one was stored and
/// `with_record` (an observer keeps records). Single use: a second call finds nothing.
pub fn take(
    connection: &mut DbConnection,
    sealer: &TokenSealer,
    state_hash: &str,
    with_record: bool,
) -> Result<(Option<PendingSignIn>, Option<String>), DbError> {
    super::write_transaction(connection, |connection| {
        let pending = pending_sign_ins::take(connection, sealer, state_hash)?;
        let record = match with_record {
            true => attempts::steps_of(connection, state_hash)?,
            false => None,
        };
        Ok((pending, record))
    })
}

/// What an answer to a request for more scopes stores (incremental consent:
/// no new user, identity or session).
#[derive(Debug)]
pub struct ScopesAdded<'a> {
    pub user_id: i64,
    pub identity_id: i64,
    /// The new tokens; `None` when the person declined (nothing to store).
    pub tokens: Option<&'a ProviderTokens>,
    pub state_hash: &'a str,
    /// The observer's record of the attempt; `None` when nothing is recorded.
    pub journal: Option<&'a str>,
    /// `attempts::MAIL_ALLOWED` or `attempts::MAIL_NOT_ALLOWED`.
    pub outcome: &'a str,
}

/// The answer to a request for more scopes, in one transaction: the
/// identity's new tokens (replacing the old ones, a stored refresh token kept
/// when the answer has none) and the attempt's outcome. The caller has
/// checked that the answer is for this identity and this user.
pub fn add_scopes(
    connection: &mut DbConnection,
    sealer: &TokenSealer,
    added: &ScopesAdded<'_>,
) -> Result<(), DbError> {
    super::write_transaction(connection, |connection| {
        if let Some(tokens) = added.tokens {
            tokens::store(connection, sealer, added.identity_id, tokens)?;
        }
        attempts::finish(
            connection,
            added.state_hash,
            added.journal,
            added.outcome,
            Some(added.user_id),
        )
    })
}

/// What an answer to a request to link an account stores.
#[derive(Debug)]
pub struct Linking<'a> {
    /// The signed-in user who asked (checked by the caller against the
    /// session the answer came back to).
    pub user_id: i64,
    pub record: &'a SignInRecord,
    pub tokens: &'a ProviderTokens,
    pub state_hash: &'a str,
    /// The observer's record of the attempt; `None` when nothing is recorded.
    pub journal: Option<&'a str>,
}

/// The answer to a request to link an account, in one transaction: the
/// identity attached to the user (or found already theirs), its sealed
/// tokens, and the attempt's outcome. An identity that belongs to another
/// user is left alone, tokens included, and the transaction writes nothing:
/// the caller records the failure.
pub fn link(
    connection: &mut DbConnection,
    sealer: &TokenSealer,
    linking: &Linking<'_>,
) -> Result<accounts::Attached, DbError> {
    once_more_if_taken(|| {
        super::write_transaction(&mut *connection, |connection| {
            let attached = accounts::attach_identity(connection, linking.user_id, linking.record)?;
            let identity_id = match attached {
                accounts::Attached::Linked { identity_id }
                | accounts::Attached::AlreadyLinked { identity_id } => identity_id,
                accounts::Attached::LinkedToAnotherUser => return Ok(attached),
            };
            tokens::store(connection, sealer, identity_id, linking.tokens)?;
            attempts::finish(
                connection,
                linking.state_hash,
                linking.journal,
                attempts::LINKED,
                Some(linking.user_id),
            )?;
            Ok(attached)
        })
    })
}

/// What a successful sign-in stores.
#[derive(Debug)]
pub struct Completed<'a> {
    pub record: &'a SignInRecord,
    pub tokens: &'a ProviderTokens,
    /// The attempt's key and the observer's full record of it (`None` when
    /// nothing is recorded).
    pub state_hash: &'a str,
    pub journal: Option<&'a str>,
    /// SHA-256 of the new session's id (`sessions`).
    pub session_id_hash: &'a str,
    /// SHA-256 of the session this browser was signed in with before, if
    /// any: it ends here, so a copy of the old cookie stops working.
    pub replaced_session_hash: Option<&'a str>,
    pub session_limits: SessionLimits,
    /// What the browser that signed in is ("Firefox on Linux"), if it said.
    pub browser: Option<&'a str>,
}

/// Steps 5 and 6 done: in one transaction, the user and identity (found or
/// created), their sealed tokens, the attempt marked signed in, and the new
/// server-side session (ending the one it replaces in this browser). An
/// identity is never recorded without its tokens, nor a session without its
/// identity.
pub fn complete(
    connection: &mut DbConnection,
    sealer: &TokenSealer,
    completed: &Completed<'_>,
) -> Result<AccountIds, DbError> {
    once_more_if_taken(|| {
        super::write_transaction(&mut *connection, |connection| {
            let ids = accounts::record_sign_in(connection, completed.record)?;
            tokens::store(connection, sealer, ids.identity_id, completed.tokens)?;
            attempts::finish(
                connection,
                completed.state_hash,
                completed.journal,
                attempts::SIGNED_IN,
                Some(ids.user_id),
            )?;
            if let Some(replaced) = completed.replaced_session_hash {
                sessions::delete(connection, replaced)?;
            }
            sessions::create(
                connection,
                completed.session_id_hash,
                (ids.user_id, ids.identity_id),
                completed.browser,
                unix_now(),
                completed.session_limits,
            )?;
            Ok(ids)
        })
    })
}

/// Runs a transaction that creates an identity, and runs it once more if
/// the identity's unique key (issuer, subject) was taken meanwhile.
///
/// Two instances on one PostgreSQL database can complete the first sign-in of
/// the same new person at the same moment: both find no identity, and the
/// second INSERT waits for the first transaction and then fails on the unique
/// constraint, rolling its whole transaction back. Run again, it finds the
/// identity the first one created, so the person gets one user, not a 500.
/// (On SQLite writers take turns, so the first run always sees the row.)
fn once_more_if_taken<T>(
    mut transaction: impl FnMut() -> Result<T, DbError>,
) -> Result<T, DbError> {
    match transaction() {
        Err(error) if error.is_unique_violation() => {
            tracing::info!("an identity was created by a concurrent sign-in; reading it");
            transaction()
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use diesel::result::{DatabaseErrorKind, Error};

    use super::*;

    fn failure(kind: DatabaseErrorKind) -> DbError {
        DbError::Query(Error::DatabaseError(
            kind,
            Box::new(String::from("refused")),
        ))
    }

    #[test]
    fn a_taken_identity_is_read_by_a_second_run_and_any_other_failure_is_not_retried() {
        // The concurrent sign-in's row: the second run finds it.
        let runs = Cell::new(0);
        let result = once_more_if_taken(|| {
            runs.set(runs.get() + 1);
            match runs.get() {
                1 => Err(failure(DatabaseErrorKind::UniqueViolation)),
                _ => Ok("the identity the other sign-in created"),
            }
        });
        assert!(result.is_ok());
        assert_eq!(runs.get(), 2);

        // Anything else is not a race a second run would resolve.
        let runs = Cell::new(0);
        let result: Result<(), DbError> = once_more_if_taken(|| {
            runs.set(runs.get() + 1);
            Err(failure(DatabaseErrorKind::CheckViolation))
        });
        assert!(result.is_err());
        assert_eq!(runs.get(), 1);
    }
}
