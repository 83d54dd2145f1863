//! Pending sign-ins: what we must remember between sending the browser to the
//! provider and its return (RFC 6749 §4.1.1 `state`, RFC 7636 verifier, OIDC nonce).
//!
//! Rows are looked up by the SHA-256 of `state`, so the table never holds a value
//! that would be accepted at the callback; the PKCE verifier is sealed. A row is
//! taken with one `DELETE ... RETURNING`, so two concurrent callbacks with the same
//! state cannot both succeed (single use).
//!
//! The sign-in start is public and writes here, so the table is bounded: per
//! browser (older attempts of the same browser are dropped) and in total (the
//! oldest pending sign-ins are dropped). Neither bound ever refuses a new
//! sign-in: a flood can only push out older sign-ins (whose visitors, if any,
//! see "start again" at the callback), never lock a new visitor out. How fast
//! one client may start sign-ins is limited before this (`rate_limit`). On
//! PostgreSQL, where starts run side by side and each prune skips rows
//! another is deleting (`db::delete_unclaimed!`), the total may pass its
//! bound by the number of starts running at that moment, and the next start
//! brings it back.

use diesel::prelude::*;
use secrecy::{ExposeSecret as _, SecretString};

use super::schema::pending_sign_ins;
use super::{DbConnection, DbError, TokenSealer, delete_unclaimed, unix_now};

/// How long a sign-in may take at the provider.
pub const PENDING_SIGN_IN_TTL_SECS: i64 = 10 * 60;

/// Limits that keep the public sign-in start from filling the database.
#[derive(Debug, Clone, Copy)]
pub struct PendingLimits {
    /// Attempts kept per browser; starting one more drops the oldest.
    pub per_browser: i64,
    /// Attempts kept in total; starting one more drops the oldest.
    pub total: i64,
}

impl Default for PendingLimits {
    fn default() -> Self {
        PendingLimits {
            per_browser: 5,
            total: 10_000,
        }
    }
}

/// What an authorization request is for, stored with it so the callback
/// knows what the answer may do. A purpose that belongs to a signed-in user
/// names that user, so the callback can refuse an answer that comes back to
/// anyone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// An ordinary sign-in: who comes back is signed in.
    SignIn,
    /// Incremental consent: the mail permission for identity `identity_id`
    /// of the signed-in user `user_id`. The answer must come back to that
    /// user, for that identity; it adds scopes and signs nobody in.
    AddMail { user_id: i64, identity_id: i64 },
    /// Linking another account at a provider to the signed-in user
    /// `user_id`. The answer must come back to that user; it attaches the
    /// identity it names to them and signs nobody in.
    Link { user_id: i64 },
    /// A fresh sign-in before `then`, which cannot be undone: the answer
    /// must come back to the signed-in user `user_id` and name the account
    /// this session signed in with, `identity_id`; then `then` goes on.
    Reauthenticate {
        user_id: i64,
        identity_id: i64,
        then: Then,
    },
    /// An administrator approving the app for their organisation (admin
    /// consent): the answer reports what they chose, in the browser that
    /// asked, and signs nobody in.
    AdminConsent,
}

/// What a fresh sign-in ([`Purpose::Reauthenticate`]) was asked for, and
/// goes on with once it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// Link an account at this provider (its id).
    Link { provider: String },
    /// Unlink this identity of the user.
    Unlink { identity_id: i64 },
    /// Delete the account.
    DeleteAccount,
}

const SIGN_IN: &str = "sign_in";
const ADD_MAIL: &str = "add_mail";
const LINK: &str = "link";
const ADMIN_CONSENT: &str = "admin_consent";
/// `reauth:` and what goes on after it: `link:{provider}`, `unlink:{id}` or
/// `delete` (in the `purpose` column: no column of its own for a value that
/// lives ten minutes).
const REAUTH: &str = "reauth:";

impl Purpose {
    /// As stored: the purpose's name and the ids it names.
    fn columns(&self) -> (String, Option<i64>, Option<i64>) {
        match self {
            Purpose::SignIn => (SIGN_IN.to_owned(), None, None),
            Purpose::AddMail {
                user_id,
                identity_id,
            } => (ADD_MAIL.to_owned(), Some(*user_id), Some(*identity_id)),
            Purpose::Link { user_id } => (LINK.to_owned(), Some(*user_id), None),
            Purpose::AdminConsent => (ADMIN_CONSENT.to_owned(), None, None),
            Purpose::Reauthenticate {
                user_id,
                identity_id,
                then,
            } => {
                let then = match then {
                    Then::Link { provider } => format!("link:{provider}"),
                    Then::Unlink { identity_id } => format!("unlink:{identity_id}"),
                    Then::DeleteAccount => "delete".to_owned(),
                };
                (
                    format!("{REAUTH}{then}"),
                    Some(*user_id),
                    Some(*identity_id),
                )
            }
        }
    }

    /// Read back; `None` for a row this code does not understand (the
    /// callback then refuses it rather than guess).
    fn from_columns(name: &str, user_id: Option<i64>, identity_id: Option<i64>) -> Option<Self> {
        if let Some(then) = name.strip_prefix(REAUTH) {
            let then = match then.split_once(':') {
                Some(("link", provider)) if !provider.is_empty() => Then::Link {
                    provider: provider.to_owned(),
                },
                Some(("unlink", id)) => Then::Unlink {
                    identity_id: id.parse().ok()?,
                },
                None if then == "delete" => Then::DeleteAccount,
                _ => return None,
            };
            return Some(Purpose::Reauthenticate {
                user_id: user_id?,
                identity_id: identity_id?,
                then,
            });
        }
        match (name, user_id, identity_id) {
            (SIGN_IN, None, None) => Some(Purpose::SignIn),
            (ADD_MAIL, Some(user_id), Some(identity_id)) => Some(Purpose::AddMail {
                user_id,
                identity_id,
            }),
            (LINK, Some(user_id), None) => Some(Purpose::Link { user_id }),
            (ADMIN_CONSENT, None, None) => Some(Purpose::AdminConsent),
            _ => None,
        }
    }
}

/// A sign-in about to be sent to the provider.
#[derive(Debug)]
pub struct NewPendingSignIn {
    pub state_hash: String,
    pub browser_hash: String,
    pub provider: String,
    pub pkce_verifier: SecretString,
    pub nonce: String,
    pub return_to: String,
    pub purpose: Purpose,
}

/// A pending sign-in taken back at the callback.
#[derive(Debug)]
pub struct PendingSignIn {
    pub browser_hash: String,
    pub provider: String,
    pub pkce_verifier: SecretString,
    pub nonce: String,
    pub return_to: String,
    pub created_at: i64,
    /// `None`: stored by a later version with a purpose this one does not
    /// know.
    pub purpose: Option<Purpose>,
}

impl PendingSignIn {
    pub fn is_expired(&self, now: i64) -> bool {
        now - self.created_at > PENDING_SIGN_IN_TTL_SECS
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = pending_sign_ins)]
struct PendingRow {
    state_hash: String,
    browser_hash: String,
    provider: String,
    pkce_verifier: Vec<u8>,
    nonce: String,
    return_to: String,
    created_at: i64,
    purpose: String,
    for_user_id: Option<i64>,
    for_identity_id: Option<i64>,
}

fn verifier_context(state_hash: &str) -> String {
    format!("pending_sign_ins.pkce_verifier:{state_hash}")
}

/// Stores a pending sign-in, removing expired ones and enforcing `limits` by
/// dropping the oldest.
///
/// Runs in a transaction of its own, or as a savepoint in the caller's
/// (`sign_ins::begin` writes the observer's record of the attempt, when
/// there is one, in the same one).
pub fn insert(
    connection: &mut DbConnection,
    sealer: &TokenSealer,
    new: &NewPendingSignIn,
    limits: PendingLimits,
) -> Result<(), DbError> {
    use pending_sign_ins::dsl;
    let now = unix_now();
    let sealed_verifier = sealer.seal(
        &verifier_context(&new.state_hash),
        new.pkce_verifier.expose_secret().as_bytes(),
    );
    let (purpose, for_user_id, for_identity_id) = new.purpose.columns();
    connection.transaction(|connection| {
        delete_unclaimed!(
            connection,
            dsl::pending_sign_ins,
            dsl::state_hash => String,
            dsl::created_at.lt(now - PENDING_SIGN_IN_TTL_SECS)
        )?;

        // Keep at most `per_browser - 1` older attempts of this browser. The
        // read is small (every insert prunes) and its SQL never changes, so
        // it stays prepared; the delete runs only for a browser that starts
        // sign-ins without finishing them (see `attempts::oldest_to_drop`).
        let newest_first: Vec<String> = dsl::pending_sign_ins
            .filter(dsl::browser_hash.eq(&new.browser_hash))
            .order(dsl::created_at.desc())
            .select(dsl::state_hash)
            .load(connection)?;
        let keep = usize::try_from(limits.per_browser - 1).unwrap_or(0);
        if let Some(dropped) = newest_first.get(keep..).filter(|rows| !rows.is_empty()) {
            delete_unclaimed!(
                connection,
                dsl::pending_sign_ins,
                dsl::state_hash => String,
                dsl::state_hash.eq_any(dropped)
            )?;
        }

        // Make room for the new one by dropping the oldest. Under a flood this
        // runs on every insert and drops one row (the created_at index finds
        // it); a count over the index is cheap next to the insert itself.
        let total: i64 = dsl::pending_sign_ins.count().get_result(connection)?;
        if total >= limits.total {
            let oldest: Vec<String> = dsl::pending_sign_ins
                .order(dsl::created_at.asc())
                .select(dsl::state_hash)
                .limit(total - limits.total + 1)
                .load(connection)?;
            delete_unclaimed!(
                connection,
                dsl::pending_sign_ins,
                dsl::state_hash => String,
                dsl::state_hash.eq_any(&oldest)
            )?;
        }

        diesel::insert_into(dsl::pending_sign_ins)
            .values((
                dsl::state_hash.eq(&new.state_hash),
                dsl::browser_hash.eq(&new.browser_hash),
                dsl::provider.eq(&new.provider),
                dsl::pkce_verifier.eq(&sealed_verifier),
                dsl::nonce.eq(&new.nonce),
                dsl::return_to.eq(&new.return_to),
                dsl::created_at.eq(now),
                dsl::purpose.eq(&purpose),
                dsl::for_user_id.eq(for_user_id),
                dsl::for_identity_id.eq(for_identity_id),
            ))
            .execute(connection)?;
        Ok::<_, DbError>(())
    })
}

/// Whether a sign-in with this `state_hash` is pending: one read, so that a
/// callback with a `state` we never issued (or already used) is refused
/// without a write.
pub fn is_pending(connection: &mut DbConnection, state_hash: &str) -> Result<bool, DbError> {
    use pending_sign_ins::dsl;
    Ok(diesel::select(diesel::dsl::exists(
        dsl::pending_sign_ins.filter(dsl::state_hash.eq(state_hash)),
    ))
    .get_result(connection)?)
}

/// Removes and returns the pending sign-in for `state_hash`, if there is one.
/// Expiry and browser binding are checked by the caller, which can then say
/// precisely what was wrong; the row is gone either way.
pub fn take(
    connection: &mut DbConnection,
    sealer: &TokenSealer,
    state_hash: &str,
) -> Result<Option<PendingSignIn>, DbError> {
    use pending_sign_ins::dsl;
    // DELETE … RETURNING: single use in one statement, so two callbacks with
    // the same state cannot both get the row. Per backend, because diesel's
    // MultiConnection does not build a RETURNING of a `Selectable` struct.
    let row: Option<PendingRow> = crate::db::each_backend!(connection => {
        diesel::delete(dsl::pending_sign_ins)
            .filter(dsl::state_hash.eq(state_hash))
            .returning(PendingRow::as_returning())
            .get_result(connection)
            .optional()
    })?;
    let Some(row) = row else {
        return Ok(None);
    };
    let verifier = sealer
        .open(&verifier_context(&row.state_hash), &row.pkce_verifier)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(DbError::Unseal)?;
    Ok(Some(PendingSignIn {
        browser_hash: row.browser_hash,
        provider: row.provider,
        pkce_verifier: SecretString::from(verifier),
        nonce: row.nonce,
        return_to: row.return_to,
        created_at: row.created_at,
        purpose: Purpose::from_columns(&row.purpose, row.for_user_id, row.for_identity_id),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::test_support::{connection, sealer};

    fn pending(state: &str, browser: &str) -> NewPendingSignIn {
        NewPendingSignIn {
            state_hash: state.into(),
            browser_hash: browser.into(),
            provider: "demo".into(),
            pkce_verifier: SecretString::from("verifier-value"),
            nonce: "nonce".into(),
            return_to: "/mail".into(),
            purpose: Purpose::SignIn,
        }
    }

    #[test]
    fn the_purpose_and_the_user_it_belongs_to_are_kept() {
        let (mut connection, sealer) = (connection(), sealer());
        let purpose = Purpose::AddMail {
            user_id: 7,
            identity_id: 9,
        };
        insert(
            &mut connection,
            &sealer,
            &NewPendingSignIn {
                purpose: purpose.clone(),
                ..pending("s1", "b1")
            },
            PendingLimits::default(),
        )
        .expect("insert");
        insert(
            &mut connection,
            &sealer,
            &pending("s2", "b1"),
            PendingLimits::default(),
        )
        .expect("insert");
        let mut taken = |state| {
            take(&mut connection, &sealer, state)
                .expect("query")
                .expect("present")
                .purpose
        };
        assert_eq!(taken("s1"), Some(purpose));
        assert_eq!(taken("s2"), Some(Purpose::SignIn));
    }

    #[test]
    fn a_purpose_without_the_ids_it_needs_is_not_guessed() {
        assert_eq!(Purpose::from_columns(ADD_MAIL, Some(1), None), None);
        assert_eq!(Purpose::from_columns(LINK, Some(1), Some(2)), None);
        assert_eq!(Purpose::from_columns(LINK, None, None), None);
        assert_eq!(
            Purpose::from_columns(LINK, Some(1), None),
            Some(Purpose::Link { user_id: 1 })
        );
        assert_eq!(Purpose::from_columns(SIGN_IN, Some(1), None), None);
    }

    #[test]
    fn a_fresh_sign_in_keeps_what_goes_on_after_it() {
        for then in [
            Then::Link {
                provider: "github".into(),
            },
            Then::Unlink { identity_id: 42 },
            Then::DeleteAccount,
        ] {
            let purpose = Purpose::Reauthenticate {
                user_id: 7,
                identity_id: 9,
                then,
            };
            let (name, user_id, identity_id) = purpose.columns();
            assert_eq!(
                Purpose::from_columns(&name, user_id, identity_id),
                Some(purpose)
            );
        }
        for garbled in ["reauth:", "reauth:link:", "reauth:unlink:x", "reauth:drop"] {
            assert_eq!(Purpose::from_columns(garbled, Some(7), Some(9)), None);
        }
        assert_eq!(Purpose::from_columns("reauth:delete", Some(7), None), None);
    }

    #[test]
    fn a_pending_sign_in_can_be_taken_once() {
        let (mut connection, sealer) = (connection(), sealer());
        insert(
            &mut connection,
            &sealer,
            &pending("s1", "b1"),
            PendingLimits::default(),
        )
        .expect("insert");
        let taken = take(&mut connection, &sealer, "s1")
            .expect("query")
            .expect("present");
        assert_eq!(taken.return_to, "/mail");
        assert_eq!(taken.pkce_verifier.expose_secret(), "verifier-value");
        assert!(
            take(&mut connection, &sealer, "s1")
                .expect("query")
                .is_none()
        );
    }

    #[test]
    fn a_pending_sign_in_lasts_ten_minutes_to_the_second() {
        let (mut connection, sealer) = (connection(), sealer());
        insert(
            &mut connection,
            &sealer,
            &pending("s1", "b1"),
            PendingLimits::default(),
        )
        .expect("insert");
        let taken = take(&mut connection, &sealer, "s1")
            .expect("query")
            .expect("present");
        let started = taken.created_at;
        assert!(!taken.is_expired(started + 10 * 60), "still valid at 10:00");
        assert!(taken.is_expired(started + 10 * 60 + 1), "expired at 10:01");
    }

    #[test]
    fn a_sealed_verifier_moved_to_another_state_does_not_open() {
        // The verifier is sealed with its state's hash as associated data: a
        // copy into another row (someone with write access to the table, or
        // a bug) is refused, not used for another sign-in.
        let (mut connection, sealer) = (connection(), sealer());
        for state in ["s1", "s2"] {
            insert(
                &mut connection,
                &sealer,
                &pending(state, "b1"),
                PendingLimits::default(),
            )
            .expect("insert");
        }
        let sealed: Vec<u8> = pending_sign_ins::table
            .find("s1")
            .select(pending_sign_ins::pkce_verifier)
            .first(&mut connection)
            .expect("row");
        diesel::update(pending_sign_ins::table.find("s2"))
            .set(pending_sign_ins::pkce_verifier.eq(sealed))
            .execute(&mut connection)
            .expect("copy");
        assert!(matches!(
            take(&mut connection, &sealer, "s2"),
            Err(DbError::Unseal)
        ));
    }

    #[test]
    fn the_verifier_is_not_stored_in_clear() {
        let (mut connection, sealer) = (connection(), sealer());
        insert(
            &mut connection,
            &sealer,
            &pending("s1", "b1"),
            PendingLimits::default(),
        )
        .expect("insert");
        let stored: Vec<u8> = pending_sign_ins::table
            .select(pending_sign_ins::pkce_verifier)
            .first(&mut connection)
            .expect("row");
        assert!(!stored.windows(8).any(|window| window == b"verifier"));
    }

    #[test]
    fn each_browser_keeps_only_its_newest_attempts() {
        let (mut connection, sealer) = (connection(), sealer());
        let limits = PendingLimits {
            per_browser: 2,
            total: 100,
        };
        for state in ["s1", "s2", "s3"] {
            insert(&mut connection, &sealer, &pending(state, "b1"), limits).expect("insert");
        }
        insert(&mut connection, &sealer, &pending("other", "b2"), limits).expect("insert");
        let count: i64 = pending_sign_ins::table
            .count()
            .get_result(&mut connection)
            .expect("count");
        assert_eq!(count, 3, "two for b1, one for b2");
    }

    #[test]
    fn the_total_is_bounded_by_dropping_the_oldest_never_by_refusing() {
        let (mut connection, sealer) = (connection(), sealer());
        let limits = PendingLimits {
            per_browser: 5,
            total: 2,
        };
        insert(&mut connection, &sealer, &pending("s1", "b1"), limits).expect("first");
        // Older by a second, so which one is the oldest is not left to chance.
        diesel::update(pending_sign_ins::table)
            .set(pending_sign_ins::created_at.eq(unix_now() - 1))
            .execute(&mut connection)
            .expect("age the row");
        insert(&mut connection, &sealer, &pending("s2", "b2"), limits).expect("second");
        insert(&mut connection, &sealer, &pending("s3", "b3"), limits).expect("third");
        let count: i64 = pending_sign_ins::table
            .count()
            .get_result(&mut connection)
            .expect("count");
        assert_eq!(count, 2);
        assert!(
            take(&mut connection, &sealer, "s1")
                .expect("query")
                .is_none()
        );
        assert!(
            take(&mut connection, &sealer, "s3")
                .expect("query")
                .is_some()
        );
    }

    #[test]
    fn expired_rows_are_removed_on_insert() {
        let (mut connection, sealer) = (connection(), sealer());
        insert(
            &mut connection,
            &sealer,
            &pending("old", "b1"),
            PendingLimits::default(),
        )
        .expect("insert");
        diesel::update(pending_sign_ins::table)
            .set(pending_sign_ins::created_at.eq(unix_now() - PENDING_SIGN_IN_TTL_SECS - 1))
            .execute(&mut connection)
            .expect("age the row");
        insert(
            &mut connection,
            &sealer,
            &pending("new", "b2"),
            PendingLimits::default(),
        )
        .expect("insert");
        assert!(
            take(&mut connection, &sealer, "old")
                .expect("query")
                .is_none()
        );
    }
}
