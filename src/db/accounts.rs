//! Users and their linked provider identities; a signed-in page's account
//! read in one query, with its tokens opened by `tokens`, which owns them.
//!
//! An identity is found by (issuer, subject), never by email and never by
//! subject alone (OpenID Connect Core §5.7: `sub` is stable and unique only at
//! its issuer, and emails change hands).

use super::schema::{identities, provider_tokens, users};
use super::tokens::{SEALED_TOKEN_COLUMNS, SealedTokens, StoredTokens, open_tokens};
use super::{DbConnection, DbError, TokenSealer, unix_now};
use diesel::prelude::*;

/// Who signed in, as the provider described them.
#[derive(Debug, Clone)]
pub struct SignInRecord {
    /// The configured provider the person signed in with (`Provider::id`).
    pub provider: String,
    /// Who vouches for `subject`: the ID token's issuer (for Microsoft's
    /// multi-tenant endpoints, the person's own tenant's issuer), or for plain
    /// OAuth 2.0 the authorization server's origin.
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub display_name: String,
}

/// Which user, and which of their identities (accounts at a provider): the
/// rows a sign-in created or updated, or the account a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountIds {
    pub user_id: i64,
    pub identity_id: i64,
}

/// Everything a signed-in page needs about its account, read in one query.
#[derive(Debug, Clone)]
pub struct Account {
    pub user_id: i64,
    pub identity_id: i64,
    pub provider: String,
    /// The person's id at the provider (`sub`).
    pub subject: String,
    pub display_name: String,
    pub email: Option<String>,
    pub last_sign_in_at: i64,
    pub tokens: Option<StoredTokens>,
}

/// Who an identity is: its user, and its issuer and subject (the pair that
/// names the person at the provider, OIDC Core §5.7).
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct IdentityKey {
    pub user_id: i64,
    pub issuer: String,
    pub subject: String,
}

/// The identity's key, if it still exists.
pub fn identity_key(
    connection: &mut DbConnection,
    identity_id: i64,
) -> Result<Option<IdentityKey>, DbError> {
    Ok(identities::table
        .find(identity_id)
        .select((identities::user_id, identities::issuer, identities::subject))
        .get_result(connection)
        .optional()?)
}

/// Creates the user and identity on first sign-in, or updates them.
/// Callers that also store tokens run both in one transaction (`flow::finish`).
pub fn record_sign_in(
    connection: &mut DbConnection,
    record: &SignInRecord,
) -> Result<AccountIds, DbError> {
    let now = unix_now();
    connection
        .transaction(|connection| {
            let existing = find_identity(connection, record)?;
            if let Some((identity_id, user_id)) = existing {
                diesel::update(identities::table.find(identity_id))
                    .set((
                        // Fills in the issuer of a row from before issuers were kept.
                        identities::issuer.eq(&record.issuer),
                        identities::email.eq(&record.email),
                        identities::display_name.eq(&record.display_name),
                        identities::last_sign_in_at.eq(now),
                    ))
                    .execute(connection)?;
                diesel::update(users::table.find(user_id))
                    .set((
                        users::display_name.eq(&record.display_name),
                        users::email.eq(&record.email),
                        users::last_sign_in_at.eq(now),
                    ))
                    .execute(connection)?;
                return Ok(AccountIds {
                    user_id,
                    identity_id,
                });
            }
            let user_id: i64 = diesel::insert_into(users::table)
                .values((
                    users::display_name.eq(&record.display_name),
                    users::email.eq(&record.email),
                    users::created_at.eq(now),
                    users::last_sign_in_at.eq(now),
                ))
                .returning(users::id)
                .get_result(connection)?;
            let identity_id = insert_identity(connection, user_id, record, now)?;
            Ok(AccountIds {
                user_id,
                identity_id,
            })
        })
        .map_err(|error: diesel::result::Error| DbError::Query(error))
}

/// What linking an identity to a user found (`attach_identity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// The identity was new: it now belongs to the user.
    Linked { identity_id: i64 },
    /// The identity already belonged to this user: its name and email were
    /// brought up to date, nothing else.
    AlreadyLinked { identity_id: i64 },
    /// The identity belongs to another user: nothing was changed. Moving it
    /// would hand that user's account to whoever holds this one, and
    /// merging two users is not something a link may decide.
    LinkedToAnotherUser,
}

/// Attaches the identity `record` names (by issuer and subject, never by
/// email) to the existing user `user_id`. The caller stores its tokens in
/// the same transaction (`sign_ins::link`).
pub fn attach_identity(
    connection: &mut DbConnection,
    user_id: i64,
    record: &SignInRecord,
) -> Result<Attached, DbError> {
    let now = unix_now();
    match find_identity(connection, record)? {
        Some((_, owner)) if owner != user_id => Ok(Attached::LinkedToAnotherUser),
        Some((identity_id, _)) => {
            diesel::update(identities::table.find(identity_id))
                .set((
                    identities::issuer.eq(&record.issuer),
                    identities::email.eq(&record.email),
                    identities::display_name.eq(&record.display_name),
                ))
                .execute(connection)?;
            Ok(Attached::AlreadyLinked { identity_id })
        }
        None => {
            // Linking proves the person holds the account right now: it
            // counts as a sign-in with it.
            let identity_id = insert_identity(connection, user_id, record, now)?;
            Ok(Attached::Linked { identity_id })
        }
    }
}

/// A new identity of user `user_id`, signed in with at `now`. The unique
/// (issuer, subject) key refuses a second row for the same account, also
/// one inserted at the same moment by another instance
/// (`sign_ins::once_more_if_taken`).
fn insert_identity(
    connection: &mut DbConnection,
    user_id: i64,
    record: &SignInRecord,
    now: i64,
) -> QueryResult<i64> {
    diesel::insert_into(identities::table)
        .values((
            identities::user_id.eq(user_id),
            identities::provider.eq(&record.provider),
            identities::issuer.eq(&record.issuer),
            identities::subject.eq(&record.subject),
            identities::email.eq(&record.email),
            identities::display_name.eq(&record.display_name),
            identities::created_at.eq(now),
            identities::last_sign_in_at.eq(now),
        ))
        .returning(identities::id)
        .get_result(connection)
}

/// The identity with this (issuer, subject), as (identity id, user id).
///
/// Rows stored before issuers were kept carry `legacy:{provider}` (migration
/// `2026-11-30-000002_identity_issuer`); such a row is this identity when the
/// provider and subject match, which is exactly how it was found before, and
/// the caller then stores the real issuer in it.
fn find_identity(
    connection: &mut DbConnection,
    record: &SignInRecord,
) -> QueryResult<Option<(i64, i64)>> {
    let by_issuer = |connection: &mut DbConnection, issuer: &str| {
        identities::table
            .filter(identities::issuer.eq(issuer))
            .filter(identities::subject.eq(&record.subject))
            .select((identities::id, identities::user_id))
            // Unique key: `get_result`, as in `load_account`.
            .get_result(connection)
            .optional()
    };
    match by_issuer(connection, &record.issuer)? {
        Some(found) => Ok(Some(found)),
        None => by_issuer(connection, &format!("legacy:{}", record.provider)),
    }
}

type AccountRow = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<SealedTokens>,
);

/// Loads the account behind a session in a single query (identity, user and
/// tokens joined), opening the sealed tokens.
pub fn load_account(
    connection: &mut DbConnection,
    sealer: &TokenSealer,
    identity_id: i64,
) -> Result<Option<Account>, DbError> {
    let row: Option<AccountRow> = identities::table
        .inner_join(users::table)
        .left_join(provider_tokens::table)
        .filter(identities::id.eq(identity_id))
        .select((
            identities::id,
            users::id,
            identities::provider,
            identities::subject,
            identities::display_name,
            identities::email,
            users::last_sign_in_at,
            SEALED_TOKEN_COLUMNS.nullable(),
        ))
        // `get_result`, not `first`: the key is unique, and `first`'s
        // `LIMIT ?` makes SQLite prepare the statement again on every call
        // (docs/PERFORMANCE.md).
        .get_result(connection)
        .optional()?;
    let Some((
        identity_id,
        user_id,
        provider,
        subject,
        display_name,
        email,
        last_sign_in_at,
        tokens,
    )) = row
    else {
        return Ok(None);
    };
    let tokens = tokens
        .map(|sealed| open_tokens(sealer, identity_id, sealed))
        .transpose()?;
    Ok(Some(Account {
        user_id,
        identity_id,
        provider,
        subject,
        display_name,
        email,
        last_sign_in_at,
        tokens,
    }))
}

/// One of a user's identities, as the profile and the account-deletion page
/// list it: the account at the provider, and the state of its tokens.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IdentitySummary {
    pub identity_id: i64,
    pub provider: String,
    pub display_name: String,
    pub email: Option<String>,
    /// When it was linked (or first signed in with, for the first one).
    pub created_at: i64,
    /// Scopes granted, as stored with its tokens; empty without tokens.
    pub scopes: Vec<String>,
    pub tokens: TokenStatus,
}

/// What the stored tokens of an identity allow, as of `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TokenStatus {
    /// The access token is good until `until` (Unix seconds), or the
    /// provider did not say (`until` is `None`); `refreshable` when a
    /// refresh token is kept to renew it.
    Valid {
        until: Option<i64>,
        refreshable: bool,
    },
    /// The access token has expired, and a refresh token will renew it.
    Refreshable,
    /// No usable tokens (none stored, or expired with nothing to renew
    /// them): the next use needs a sign-in with this account.
    SignInAgain,
}

impl TokenStatus {
    fn of(stored: Option<(Option<i64>, bool)>, now: i64) -> TokenStatus {
        match stored {
            None => TokenStatus::SignInAgain,
            Some((until, refreshable)) if until.is_none_or(|until| until > now) => {
                TokenStatus::Valid { until, refreshable }
            }
            Some((_, true)) => TokenStatus::Refreshable,
            Some((_, false)) => TokenStatus::SignInAgain,
        }
    }
}

type IdentityRow = (
    i64,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    bool,
);

/// The user's identities, oldest first, each with the state of its tokens
/// (one query: a left join, as an identity may have no tokens).
pub fn identities_of(
    connection: &mut DbConnection,
    user_id: i64,
) -> Result<Vec<IdentitySummary>, DbError> {
    let now = unix_now();
    let rows: Vec<IdentityRow> = identities::table
        .left_join(provider_tokens::table)
        .filter(identities::user_id.eq(user_id))
        .order((identities::created_at.asc(), identities::id.asc()))
        .select((
            identities::id,
            identities::provider,
            identities::display_name,
            identities::email,
            identities::created_at,
            provider_tokens::identity_id.nullable(),
            provider_tokens::scopes.nullable(),
            provider_tokens::access_token_expires_at.nullable(),
            provider_tokens::refresh_token.nullable().is_not_null(),
        ))
        .load(connection)?;
    Ok(rows
        .into_iter()
        .map(
            |(
                identity_id,
                provider,
                display_name,
                email,
                created_at,
                has_tokens,
                scopes,
                until,
                refresh,
            )| {
                IdentitySummary {
                    identity_id,
                    provider,
                    display_name,
                    email,
                    created_at,
                    scopes: scopes
                        .as_deref()
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect(),
                    tokens: TokenStatus::of(has_tokens.map(|_| (until, refresh)), now),
                }
            },
        )
        .collect())
}

/// What deleting a user would delete, for the confirmation page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeletionSummary {
    pub identities: Vec<IdentitySummary>,
    pub identities_with_tokens: i64,
    pub sessions: i64,
    pub sign_in_attempts: i64,
}

/// Deletes the identity `identity_id` if it belongs to `user_id` and is not
/// their last one, in one transaction (its tokens and the sessions signed in
/// with it go too: the foreign keys cascade). `false` when nothing was
/// deleted. The caller revokes its tokens first.
pub fn unlink_identity(
    connection: &mut DbConnection,
    user_id: i64,
    identity_id: i64,
) -> Result<bool, DbError> {
    super::write_transaction(connection, |connection| {
        // Two sessions unlinking each other's identity at once must not
        // both see "another one is left" and leave the user with none.
        lock_user(connection, user_id)?;
        let others: i64 = identities::table
            .filter(identities::user_id.eq(user_id))
            .filter(identities::id.ne(identity_id))
            .count()
            .get_result(connection)?;
        if others == 0 {
            return Ok(false);
        }
        // Ownership is part of the query: another user's id deletes nothing.
        let deleted = diesel::delete(
            identities::table
                .filter(identities::id.eq(identity_id))
                .filter(identities::user_id.eq(user_id)),
        )
        .execute(connection)?;
        Ok(deleted == 1)
    })
}

/// Within a transaction, makes every other transaction that locks the same
/// user wait until this one ends: what counts a user's identities or
/// sessions and then deletes one of them must not race another doing the
/// same (PostgreSQL's READ COMMITTED would let each count the other's row
/// as still there). On PostgreSQL, a row lock on the user (`SELECT … FOR
/// UPDATE`); SQLite writes one transaction at a time already.
pub(crate) fn lock_user(connection: &mut DbConnection, user_id: i64) -> Result<(), DbError> {
    match connection {
        DbConnection::Sqlite(_) => {
            let _ = user_id;
            Ok(())
        }
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(connection) => {
            users::table
                .find(user_id)
                .select(users::id)
                .for_update()
                .get_result::<i64>(connection)
                .optional()?;
            Ok(())
        }
    }
}

/// The provider of identity `identity_id` if it belongs to `user_id`
/// (ownership is part of the query: another user's id is as unknown as a
/// missing one).
pub fn provider_of_own_identity(
    connection: &mut DbConnection,
    user_id: i64,
    identity_id: i64,
) -> Result<Option<String>, DbError> {
    Ok(identities::table
        .filter(identities::id.eq(identity_id))
        .filter(identities::user_id.eq(user_id))
        .select(identities::provider)
        .get_result(connection)
        .optional()?)
}

/// Everything stored about the user, counted (one read transaction).
pub fn deletion_summary(
    connection: &mut DbConnection,
    user_id: i64,
) -> Result<DeletionSummary, DbError> {
    use super::schema::{sessions, sign_in_attempts};
    connection.transaction(|connection| {
        let identities = identities_of(connection, user_id)?;
        let ids: Vec<i64> = identities
            .iter()
            .map(|identity| identity.identity_id)
            .collect();
        Ok(DeletionSummary {
            identities_with_tokens: provider_tokens::table
                .filter(provider_tokens::identity_id.eq_any(&ids))
                .count()
                .get_result(connection)?,
            sessions: sessions::table
                .filter(sessions::user_id.eq(user_id))
                .count()
                .get_result(connection)?,
            sign_in_attempts: sign_in_attempts::table
                .filter(sign_in_attempts::user_id.eq(user_id))
                .count()
                .get_result(connection)?,
            identities,
        })
    })
}

/// Deletes the user and, by the foreign keys' `ON DELETE CASCADE`, their
/// identities, tokens, sessions and sign-in attempts.
pub fn delete_user(connection: &mut DbConnection, user_id: i64) -> Result<(), DbError> {
    diesel::delete(users::table.find(user_id)).execute(connection)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use secrecy::{ExposeSecret as _, SecretString};

    use super::*;
    use crate::db::test_support::{connection, demo_sign_in, sealer};
    use crate::db::tokens::{self, ProviderTokens};

    fn alice() -> SignInRecord {
        SignInRecord {
            email: Some("alice@demo.example".into()),
            ..demo_sign_in("sub-alice")
        }
    }

    fn tokens(access: &str) -> ProviderTokens {
        ProviderTokens {
            access_token: SecretString::from(access),
            refresh_token: Some(SecretString::from("refresh-value")),
            id_token: None,
            access_token_expires_at: Some(1_900_000_000),
            scopes: vec!["openid".into(), "Mail.Read".into()],
        }
    }

    #[test]
    fn signing_in_twice_reuses_the_same_user_and_identity() {
        let mut connection = connection();
        let first = record_sign_in(&mut connection, &alice()).expect("first");
        let mut renamed = alice();
        renamed.display_name = "Alice A.".into();
        let second = record_sign_in(&mut connection, &renamed).expect("second");
        assert_eq!(first, second);
        let other = SignInRecord {
            subject: "sub-bob".into(),
            ..alice()
        };
        assert_ne!(record_sign_in(&mut connection, &other).expect("bob"), first);
    }

    #[test]
    fn the_same_subject_at_another_issuer_is_another_person() {
        // Microsoft's `common` endpoint: one provider, one issuer per tenant,
        // and `sub` is unique only at its issuer (OIDC Core §5.7).
        let mut connection = connection();
        let tenant = |tid: &str| SignInRecord {
            provider: "microsoft".into(),
            issuer: format!("https://login.microsoftonline.com/{tid}/v2.0"),
            ..alice()
        };
        let first = record_sign_in(&mut connection, &tenant("tenant-a")).expect("a");
        let second = record_sign_in(&mut connection, &tenant("tenant-b")).expect("b");
        assert_ne!(first.user_id, second.user_id);
        assert_ne!(first.identity_id, second.identity_id);
        let again = record_sign_in(&mut connection, &tenant("tenant-a")).expect("a again");
        assert_eq!(again, first);
    }

    #[test]
    fn the_issuer_migration_keeps_every_identity_with_its_tokens_and_sessions() {
        // The migration rebuilds `identities` with foreign keys off: were they
        // on, dropping the old table would cascade to tokens and sessions.
        use diesel::connection::SimpleConnection as _;
        use diesel_migrations::MigrationHarness as _;
        let mut connection =
            DbConnection::Sqlite(diesel::SqliteConnection::establish(":memory:").expect("opens"));
        connection
            .batch_execute("PRAGMA foreign_keys = ON;")
            .expect("pragma");
        for _ in 0..3 {
            crate::db::test_support::sqlite(&mut connection)
                .run_next_migration(crate::db::SQLITE_MIGRATIONS)
                .expect("migrations before the issuer");
        }
        connection
            .batch_execute(
                "INSERT INTO users VALUES (7, 'Alice', NULL, 0, 0); \
                 INSERT INTO identities VALUES (9, 7, 'demo', 'sub-alice', NULL, 'Alice', 0, 0); \
                 INSERT INTO provider_tokens (identity_id, access_token, scopes, updated_at) \
                 VALUES (9, x'00', 'openid', 0); \
                 INSERT INTO sessions VALUES ('hash', 7, 9, 0, 0);",
            )
            .expect("rows of an older version");
        crate::db::test_support::sqlite(&mut connection)
            .run_pending_migrations(crate::db::SQLITE_MIGRATIONS)
            .expect("the issuer migration");
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let rows = |connection: &mut DbConnection, table: &str| -> i64 {
            diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
                .get_result::<Count>(connection)
                .expect("count")
                .n
        };
        assert_eq!(
            ["identities", "provider_tokens", "sessions"].map(|table| rows(&mut connection, table)),
            [1, 1, 1]
        );
        let issuer: String = identities::table
            .find(9)
            .select(identities::issuer)
            .get_result(&mut connection)
            .expect("row");
        assert_eq!(issuer, "legacy:demo");
        // Foreign keys are on again: deleting the user cascades.
        delete_user(&mut connection, 7).expect("delete");
        assert_eq!(
            rows(&mut connection, "provider_tokens") + rows(&mut connection, "sessions"),
            0
        );
    }

    #[test]
    fn a_row_from_before_issuers_were_kept_is_found_by_provider_and_takes_the_issuer() {
        let mut connection = connection();
        for statement in [
            "INSERT INTO users (id, display_name, created_at, last_sign_in_at) \
             VALUES (7, 'Alice', 0, 0)",
            "INSERT INTO identities (id, user_id, provider, issuer, subject, display_name, \
             created_at, last_sign_in_at) \
             VALUES (9, 7, 'demo', 'legacy:demo', 'sub-alice', 'Alice', 0, 0)",
        ] {
            diesel::sql_query(statement)
                .execute(&mut connection)
                .expect("legacy row");
        }
        let ids = record_sign_in(&mut connection, &alice()).expect("sign in");
        assert_eq!((ids.user_id, ids.identity_id), (7, 9));
        let issuer: String = identities::table
            .find(9)
            .select(identities::issuer)
            .get_result(&mut connection)
            .expect("row");
        assert_eq!(issuer, alice().issuer);
        // From now on it is found by its issuer; another provider's `legacy:`
        // rows never match.
        assert_eq!(
            record_sign_in(&mut connection, &alice()).expect("again"),
            ids
        );
    }

    #[test]
    fn tokens_round_trip_sealed_and_replace_older_ones() {
        let (mut connection, sealer) = (connection(), sealer());
        let ids = record_sign_in(&mut connection, &alice()).expect("sign in");
        tokens::store(&mut connection, &sealer, ids.identity_id, &tokens("first")).expect("store");
        tokens::store(&mut connection, &sealer, ids.identity_id, &tokens("second"))
            .expect("replace");
        let account = load_account(&mut connection, &sealer, ids.identity_id)
            .expect("load")
            .expect("present");
        let loaded = account.tokens.expect("tokens").tokens;
        assert_eq!(loaded.access_token.expose_secret(), "second");
        assert_eq!(loaded.scopes, ["openid", "Mail.Read"]);
        assert_eq!(account.display_name, "Alice");

        let raw: Vec<u8> = provider_tokens::table
            .select(provider_tokens::access_token)
            .first(&mut connection)
            .expect("row");
        assert!(!raw.windows(6).any(|window| window == b"second"));
    }

    #[test]
    fn an_answer_without_a_refresh_token_keeps_the_stored_one_and_counts_a_generation() {
        let (mut connection, sealer) = (connection(), sealer());
        let ids = record_sign_in(&mut connection, &alice()).expect("sign in");
        tokens::store(&mut connection, &sealer, ids.identity_id, &tokens("first")).expect("store");
        let first = load_account(&mut connection, &sealer, ids.identity_id)
            .expect("load")
            .and_then(|account| account.tokens)
            .expect("tokens")
            .generation;
        let without = ProviderTokens {
            refresh_token: None,
            ..tokens("second")
        };
        tokens::store(&mut connection, &sealer, ids.identity_id, &without).expect("replace");
        let stored = load_account(&mut connection, &sealer, ids.identity_id)
            .expect("load")
            .and_then(|account| account.tokens)
            .expect("tokens");
        assert_eq!(stored.tokens.access_token.expose_secret(), "second");
        let kept = stored.tokens.refresh_token.expect("refresh token kept");
        assert_eq!(kept.expose_secret(), "refresh-value");
        assert_eq!(
            stored.generation,
            first + 1,
            "the second store counts one more"
        );

        let rotated = ProviderTokens {
            refresh_token: Some(SecretString::from("rotated")),
            ..tokens("third")
        };
        tokens::store(&mut connection, &sealer, ids.identity_id, &rotated).expect("rotate");
        let stored = load_account(&mut connection, &sealer, ids.identity_id)
            .expect("load")
            .and_then(|account| account.tokens)
            .expect("tokens");
        let replaced = stored.tokens.refresh_token.expect("refresh token");
        assert_eq!(replaced.expose_secret(), "rotated");
    }

    /// A sealed column of `provider_tokens`.
    #[derive(Debug, Clone, Copy)]
    enum Sealed {
        Access,
        Refresh,
        IdToken,
    }

    fn read_sealed(connection: &mut DbConnection, identity: i64, column: Sealed) -> Vec<u8> {
        let row = provider_tokens::table.find(identity);
        match column {
            Sealed::Access => row.select(provider_tokens::access_token).first(connection),
            Sealed::Refresh => row
                .select(provider_tokens::refresh_token.assume_not_null())
                .first(connection),
            Sealed::IdToken => row
                .select(provider_tokens::id_token.assume_not_null())
                .first(connection),
        }
        .expect("a sealed value")
    }

    fn write_sealed(connection: &mut DbConnection, identity: i64, column: Sealed, value: Vec<u8>) {
        let row = provider_tokens::table.find(identity);
        match column {
            Sealed::Access => diesel::update(row)
                .set(provider_tokens::access_token.eq(value))
                .execute(connection),
            Sealed::Refresh => diesel::update(row)
                .set(provider_tokens::refresh_token.eq(Some(value)))
                .execute(connection),
            Sealed::IdToken => diesel::update(row)
                .set(provider_tokens::id_token.eq(Some(value)))
                .execute(connection),
        }
        .expect("written");
    }

    /// Each sealed token is bound to its identity and its column (the
    /// sealing context): copied to another person's row, or to another
    /// column of the same row, it does not open.
    #[test]
    fn a_token_copied_to_another_identity_or_column_does_not_open() {
        let (mut connection, sealer) = (connection(), sealer());
        let alice = record_sign_in(&mut connection, &alice())
            .expect("alice")
            .identity_id;
        let bob = SignInRecord {
            subject: "sub-bob".into(),
            ..self::alice()
        };
        let bob = record_sign_in(&mut connection, &bob)
            .expect("bob")
            .identity_id;
        let all_three = |access: &str| ProviderTokens {
            id_token: Some(SecretString::from(format!("{access}-id-token"))),
            ..tokens(access)
        };
        tokens::store(&mut connection, &sealer, alice, &all_three("a")).expect("a");

        // (whose, which column, into which column of Bob's row)
        for (from, column, into) in [
            (alice, Sealed::Access, Sealed::Access),
            (alice, Sealed::Refresh, Sealed::Refresh),
            (alice, Sealed::IdToken, Sealed::IdToken),
            (bob, Sealed::Refresh, Sealed::IdToken),
        ] {
            tokens::store(&mut connection, &sealer, bob, &all_three("b")).expect("b");
            assert!(load_account(&mut connection, &sealer, bob).is_ok());
            let value = read_sealed(&mut connection, from, column);
            write_sealed(&mut connection, bob, into, value);
            assert!(
                matches!(
                    load_account(&mut connection, &sealer, bob),
                    Err(DbError::Unseal)
                ),
                "{column:?} of identity {from} opened as Bob's {into:?}"
            );
        }
    }

    #[test]
    fn the_same_email_at_two_providers_is_two_users_until_linked() {
        // "nOAuth": an email claim may be unverified or reassigned, so a
        // matching email must never open (or merge into) another user.
        let mut connection = connection();
        let at_demo = record_sign_in(&mut connection, &alice()).expect("demo");
        let elsewhere = SignInRecord {
            provider: "oidc".into(),
            issuer: "https://issuer.example".into(),
            ..alice()
        };
        let other = record_sign_in(&mut connection, &elsewhere).expect("oidc");
        assert_ne!(at_demo.user_id, other.user_id);
        assert_ne!(at_demo.identity_id, other.identity_id);

        // Linked explicitly, a third account is this user's.
        let third = SignInRecord {
            provider: "oidc".into(),
            issuer: "https://third.example".into(),
            ..alice()
        };
        let Attached::Linked { identity_id } =
            attach_identity(&mut connection, at_demo.user_id, &third).expect("link")
        else {
            panic!("a new identity is linked");
        };
        let signed_in = record_sign_in(&mut connection, &third).expect("sign in");
        assert_eq!(
            signed_in,
            AccountIds {
                user_id: at_demo.user_id,
                identity_id
            }
        );
    }

    #[test]
    fn an_identity_of_another_user_is_not_attached() {
        let mut connection = connection();
        let alice_ids = record_sign_in(&mut connection, &alice()).expect("alice");
        let bob = demo_sign_in("sub-bob");
        let bob_ids = record_sign_in(&mut connection, &bob).expect("bob");
        assert_eq!(
            attach_identity(&mut connection, alice_ids.user_id, &bob).expect("query"),
            Attached::LinkedToAnotherUser
        );
        assert_eq!(
            attach_identity(&mut connection, bob_ids.user_id, &bob).expect("query"),
            Attached::AlreadyLinked {
                identity_id: bob_ids.identity_id
            }
        );
        assert_eq!(
            record_sign_in(&mut connection, &bob).expect("bob again"),
            bob_ids
        );
    }

    #[test]
    fn token_status_says_what_the_stored_tokens_allow() {
        let now = 1_000;
        assert_eq!(
            TokenStatus::of(Some((Some(1_001), true)), now),
            TokenStatus::Valid {
                until: Some(1_001),
                refreshable: true
            }
        );
        assert_eq!(
            TokenStatus::of(Some((None, false)), now),
            TokenStatus::Valid {
                until: None,
                refreshable: false
            }
        );
        assert_eq!(
            TokenStatus::of(Some((Some(1_000), true)), now),
            TokenStatus::Refreshable
        );
        assert_eq!(
            TokenStatus::of(Some((Some(999), false)), now),
            TokenStatus::SignInAgain
        );
        assert_eq!(TokenStatus::of(None, now), TokenStatus::SignInAgain);
    }

    #[test]
    fn identities_of_lists_each_identity_with_its_tokens_in_one_query() {
        let (mut connection, sealer) = (connection(), sealer());
        let alice_ids = record_sign_in(&mut connection, &alice()).expect("alice");
        tokens::store(
            &mut connection,
            &sealer,
            alice_ids.identity_id,
            &tokens("a"),
        )
        .expect("store");
        let Attached::Linked { identity_id } =
            attach_identity(&mut connection, alice_ids.user_id, &demo_sign_in("sub-2"))
                .expect("link")
        else {
            panic!("linked");
        };
        record_sign_in(&mut connection, &demo_sign_in("sub-bob")).expect("bob");

        let listed = identities_of(&mut connection, alice_ids.user_id).expect("list");

        assert_eq!(listed.len(), 2, "not Bob's");
        assert_eq!(listed[0].identity_id, alice_ids.identity_id);
        assert_eq!(listed[0].scopes, ["openid", "Mail.Read"]);
        assert!(matches!(
            listed[0].tokens,
            TokenStatus::Valid {
                refreshable: true,
                ..
            }
        ));
        assert_eq!(listed[1].identity_id, identity_id);
        assert!(listed[1].scopes.is_empty());
        assert_eq!(listed[1].tokens, TokenStatus::SignInAgain);
    }

    #[test]
    fn only_an_identity_of_the_user_and_not_their_last_is_unlinked() {
        let mut connection = connection();
        let alice_ids = record_sign_in(&mut connection, &alice()).expect("alice");
        let bob_ids = record_sign_in(&mut connection, &demo_sign_in("sub-bob")).expect("bob");
        let Attached::Linked { identity_id } =
            attach_identity(&mut connection, alice_ids.user_id, &demo_sign_in("sub-2"))
                .expect("link")
        else {
            panic!("linked");
        };

        assert!(
            !unlink_identity(&mut connection, alice_ids.user_id, bob_ids.identity_id)
                .expect("query"),
            "another user's"
        );
        assert!(unlink_identity(&mut connection, alice_ids.user_id, identity_id).expect("query"));
        assert!(
            !unlink_identity(&mut connection, alice_ids.user_id, alice_ids.identity_id)
                .expect("query"),
            "the last one"
        );
        assert_eq!(
            identities_of(&mut connection, alice_ids.user_id)
                .expect("list")
                .len(),
            1
        );
        assert_eq!(
            identities_of(&mut connection, bob_ids.user_id)
                .expect("list")
                .len(),
            1
        );
    }
}
