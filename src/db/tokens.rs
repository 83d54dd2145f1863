//! An identity's tokens at rest, the one owner of `provider_tokens` rows:
//! sealing and storing them (each bound to its identity and column), opening
//! them, the refresh lease, storing a refresh's result, and forgetting them.
//! Callers only ever see `SecretString`s.
//!
//! The lease is how one refresh at a time is guaranteed across threads and
//! processes sharing this database: whoever moves `refresh_lease_until` into
//! the future (one conditional UPDATE, so only one can) refreshes; everyone
//! else waits for `generation` to change and uses the result. A rotating
//! provider revokes the whole token family when a used refresh token comes
//! back (RFC 9700 §4.14.2), so two refreshes with the same token would sign
//! the person out.
//!
//! What it must not do: talk to a provider or decide when to refresh
//! (`tokens`, the module above it, does).

use diesel::prelude::*;

use secrecy::{ExposeSecret as _, SecretString};

use super::schema::provider_tokens;
use super::{DbConnection, DbError, TokenSealer, unix_now};
use crate::db;

/// A provider's tokens in clear, as held in memory for one request.
#[derive(Debug, Clone)]
pub struct ProviderTokens {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    /// The ID token as received (a JWT), kept for `id_token_hint` at sign-out
    /// and to compare a refreshed ID token with (OIDC Core §12.2).
    pub id_token: Option<SecretString>,
    /// Unix seconds; `None` when the provider did not say.
    pub access_token_expires_at: Option<i64>,
    /// Scopes granted, as the token response listed them (RFC 6749 §5.1).
    pub scopes: Vec<String>,
}

fn access_context(identity_id: i64) -> String {
    format!("provider_tokens.access_token:{identity_id}")
}

fn refresh_context(identity_id: i64) -> String {
    format!("provider_tokens.refresh_token:{identity_id}")
}

fn id_token_context(identity_id: i64) -> String {
    format!("provider_tokens.id_token:{identity_id}")
}

diesel::define_sql_function! {
    /// SQL's `COALESCE(a, b)`: `a` unless it is NULL.
    fn coalesce(
        a: diesel::sql_types::Nullable<diesel::sql_types::Binary>,
        b: diesel::sql_types::Nullable<diesel::sql_types::Binary>,
    ) -> diesel::sql_types::Nullable<diesel::sql_types::Binary>;
}

/// Seals and stores (or replaces) the tokens of an identity, in one statement.
///
/// A new refresh token replaces the old one in the same write as the new
/// access token (rotation, RFC 9700 §4.14.2). An answer without a refresh token
/// or ID token keeps the stored one: Google sends a refresh token only at the
/// first consent, and refresh responses often carry no ID token (RFC 6749 §6,
/// OIDC Core §12.2). Each store counts one more `generation` and ends any
/// refresh lease (`take_refresh_lease`). A new row starts at a random
/// generation, not 0: a refresh still under way for a row deleted since (a
/// sign-out, then a sign-in) must never find its generation again and
/// overwrite the newer sign-in's tokens.
pub fn store(
    connection: &mut DbConnection,
    sealer: &TokenSealer,
    identity_id: i64,
    tokens: &ProviderTokens,
) -> Result<(), DbError> {
    use diesel::upsert::excluded;
    let seal = |context: String, token: &SecretString| {
        sealer.seal(&context, token.expose_secret().as_bytes())
    };
    let access = seal(access_context(identity_id), &tokens.access_token);
    let refresh = tokens
        .refresh_token
        .as_ref()
        .map(|token| seal(refresh_context(identity_id), token));
    let id_token = tokens
        .id_token
        .as_ref()
        .map(|token| seal(id_token_context(identity_id), token));
    let now = unix_now();
    // 62 random bits: room to count up, and no repeat of a deleted row's.
    let first_generation = i64::try_from(rand::random::<u64>() >> 2).unwrap_or(0);
    // The same upsert on both backends (`ON CONFLICT … DO UPDATE`, SQLite
    // 3.24+ and PostgreSQL 9.5+), written once.
    db::each_backend!(connection => {
        diesel::insert_into(provider_tokens::table)
            .values((
                provider_tokens::identity_id.eq(identity_id),
                provider_tokens::access_token.eq(&access),
                provider_tokens::refresh_token.eq(&refresh),
                provider_tokens::id_token.eq(&id_token),
                provider_tokens::access_token_expires_at.eq(tokens.access_token_expires_at),
                provider_tokens::scopes.eq(tokens.scopes.join(" ")),
                provider_tokens::updated_at.eq(now),
                provider_tokens::generation.eq(first_generation),
            ))
            .on_conflict(provider_tokens::identity_id)
            .do_update()
            .set((
                provider_tokens::access_token.eq(excluded(provider_tokens::access_token)),
                provider_tokens::refresh_token.eq(coalesce(
                    excluded(provider_tokens::refresh_token),
                    provider_tokens::refresh_token,
                )),
                provider_tokens::id_token.eq(coalesce(
                    excluded(provider_tokens::id_token),
                    provider_tokens::id_token,
                )),
                provider_tokens::access_token_expires_at
                    .eq(excluded(provider_tokens::access_token_expires_at)),
                provider_tokens::scopes.eq(excluded(provider_tokens::scopes)),
                provider_tokens::updated_at.eq(now),
                provider_tokens::generation.eq(provider_tokens::generation + 1),
                provider_tokens::refresh_lease_until.eq(None::<i64>),
            ))
            .execute(connection)
    })?;
    Ok(())
}

/// The sealed columns of a `provider_tokens` row, as read.
pub(crate) type SealedTokens = (
    Vec<u8>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<i64>,
    String,
    i64,
);

type SealedTokenColumns = (
    provider_tokens::access_token,
    provider_tokens::refresh_token,
    provider_tokens::id_token,
    provider_tokens::access_token_expires_at,
    provider_tokens::scopes,
    provider_tokens::generation,
);

/// The columns that read [`SealedTokens`].
pub(crate) const SEALED_TOKEN_COLUMNS: SealedTokenColumns = (
    provider_tokens::access_token,
    provider_tokens::refresh_token,
    provider_tokens::id_token,
    provider_tokens::access_token_expires_at,
    provider_tokens::scopes,
    provider_tokens::generation,
);

/// Tokens as stored, opened, with the generation they were stored as.
#[derive(Debug, Clone)]
pub struct StoredTokens {
    pub tokens: ProviderTokens,
    /// Counts the token sets stored for this identity (`store`).
    pub generation: i64,
}

/// Opens a row's sealed tokens (each bound to its column and identity).
pub(crate) fn open_tokens(
    sealer: &TokenSealer,
    identity_id: i64,
    sealed: SealedTokens,
) -> Result<StoredTokens, DbError> {
    let (access, refresh, id_token, expires_at, scopes, generation) = sealed;
    let open = |context: String, sealed: &[u8]| {
        sealer
            .open(&context, sealed)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .map(SecretString::from)
            .ok_or(DbError::Unseal)
    };
    Ok(StoredTokens {
        tokens: ProviderTokens {
            access_token: open(access_context(identity_id), &access)?,
            refresh_token: refresh
                .map(|sealed| open(refresh_context(identity_id), &sealed))
                .transpose()?,
            id_token: id_token
                .map(|sealed| open(id_token_context(identity_id), &sealed))
                .transpose()?,
            access_token_expires_at: expires_at,
            scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        },
        generation,
    })
}

/// The identity's tokens as stored now, with their generation; `None` when
/// there are none (signed out, or deleted after a refused refresh).
pub fn load(
    connection: &mut DbConnection,
    sealer: &TokenSealer,
    identity_id: i64,
) -> Result<Option<StoredTokens>, DbError> {
    let sealed = provider_tokens::table
        .find(identity_id)
        .select(SEALED_TOKEN_COLUMNS)
        .get_result(connection)
        .optional()?;
    sealed
        .map(|sealed| open_tokens(sealer, identity_id, sealed))
        .transpose()
}

/// The tokens' generation and refresh lease (`None` when there are no
/// tokens): what a request waiting for another's refresh polls, cheaply.
pub fn lease_state(
    connection: &mut DbConnection,
    identity_id: i64,
) -> Result<Option<(i64, Option<i64>)>, DbError> {
    Ok(provider_tokens::table
        .find(identity_id)
        .select((
            provider_tokens::generation,
            provider_tokens::refresh_lease_until,
        ))
        .get_result(connection)
        .optional()?)
}

/// Takes the refresh lease for `lease_secs` if the tokens are still at
/// `generation` and nobody holds an unexpired lease. True when taken: the
/// caller, and only the caller, may now use the refresh token.
pub fn take_refresh_lease(
    connection: &mut DbConnection,
    identity_id: i64,
    generation: i64,
    lease_secs: i64,
) -> Result<bool, DbError> {
    let now = unix_now();
    let taken = diesel::update(
        provider_tokens::table
            .find(identity_id)
            .filter(provider_tokens::generation.eq(generation))
            .filter(
                provider_tokens::refresh_lease_until
                    .is_null()
                    .or(provider_tokens::refresh_lease_until.lt(now)),
            ),
    )
    .set(provider_tokens::refresh_lease_until.eq(now + lease_secs))
    .execute(connection)?;
    Ok(taken == 1)
}

/// Gives the lease back without a result (the provider could not be reached:
/// the tokens stay, and the next request may try again).
pub fn release_refresh_lease(
    connection: &mut DbConnection,
    identity_id: i64,
    generation: i64,
) -> Result<(), DbError> {
    diesel::update(
        provider_tokens::table
            .find(identity_id)
            .filter(provider_tokens::generation.eq(generation)),
    )
    .set(provider_tokens::refresh_lease_until.eq(None::<i64>))
    .execute(connection)?;
    Ok(())
}

/// Stores a refresh's result, which ends the lease (`store`:
/// a new refresh token replaces the old one in the same write; an answer
/// without one keeps it). Only if the tokens are still at `generation`: a
/// sign-in that stored newer ones meanwhile wins. Returns the tokens as they
/// are now stored (the refreshed ones, or the newer ones), read in the same
/// transaction, so the caller needs no second round trip.
pub fn store_refreshed(
    connection: &mut DbConnection,
    sealer: &TokenSealer,
    identity_id: i64,
    generation: i64,
    tokens: &ProviderTokens,
) -> Result<Option<StoredTokens>, DbError> {
    connection.transaction(|connection| {
        let current: Option<i64> = provider_tokens::table
            .find(identity_id)
            .select(provider_tokens::generation)
            .get_result(connection)
            .optional()?;
        if current == Some(generation) {
            store(connection, sealer, identity_id, tokens)?;
        }
        load(connection, sealer, identity_id)
    })
}

/// What one batch of a key rotation did (`reseal_batch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    /// Rows read in this batch; fewer than asked means the last batch.
    pub rows: usize,
    /// Sealed values moved to TOKEN_KEY.
    pub values: usize,
    /// The last row's identity id: where the next batch starts.
    pub last: Option<i64>,
}

/// During a TOKEN_KEY rotation, seals again under TOKEN_KEY every value of
/// up to `batch` token rows after identity `after` that opens only under
/// TOKEN_KEY_PREVIOUS. A row is written only if it was not stored again
/// meanwhile (same `generation`): a refresh's new tokens are never replaced
/// by older ones, and resealing counts no new generation.
pub fn reseal_batch(
    connection: &mut DbConnection,
    sealer: &TokenSealer,
    after: i64,
    batch: i64,
) -> Result<Resealed, DbError> {
    type Row = (i64, Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>, i64);
    super::write_transaction(connection, |connection| {
        let rows: Vec<Row> = provider_tokens::table
            .filter(provider_tokens::identity_id.gt(after))
            .order(provider_tokens::identity_id)
            .select((
                provider_tokens::identity_id,
                provider_tokens::access_token,
                provider_tokens::refresh_token,
                provider_tokens::id_token,
                provider_tokens::generation,
            ))
            .limit(batch)
            .load(connection)?;
        let mut values = 0;
        for (identity_id, access, refresh, id_token, generation) in &rows {
            let moved = |context: String, sealed: &Option<Vec<u8>>| {
                sealed
                    .as_ref()
                    .and_then(|sealed| sealer.reseal(&context, sealed))
            };
            let access = moved(access_context(*identity_id), &Some(access.clone()));
            let refresh = moved(refresh_context(*identity_id), refresh);
            let id_token = moved(id_token_context(*identity_id), id_token);
            let count = [&access, &refresh, &id_token]
                .iter()
                .filter(|value| value.is_some())
                .count();
            if count == 0 {
                continue;
            }
            let row = provider_tokens::table
                .filter(provider_tokens::identity_id.eq(identity_id))
                .filter(provider_tokens::generation.eq(generation));
            // Three optional updates, each a statement of its own: diesel has no
            // "set this column only if" within one.
            let mut written = 0;
            if let Some(access) = access {
                written = diesel::update(row)
                    .set(provider_tokens::access_token.eq(access))
                    .execute(connection)?;
            }
            if let Some(refresh) = refresh {
                written = diesel::update(row)
                    .set(provider_tokens::refresh_token.eq(refresh))
                    .execute(connection)?;
            }
            if let Some(id_token) = id_token {
                written = diesel::update(row)
                    .set(provider_tokens::id_token.eq(id_token))
                    .execute(connection)?;
            }
            values += count * written;
        }
        Ok(Resealed {
            rows: rows.len(),
            values,
            last: rows.last().map(|row| row.0),
        })
    })
}

/// Forgets an identity's tokens: the provider refused to refresh them, or
/// they were revoked at sign-out.
pub fn delete(connection: &mut DbConnection, identity_id: i64) -> Result<(), DbError> {
    diesel::delete(provider_tokens::table.find(identity_id)).execute(connection)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::accounts;
    use crate::db::test_support::{self, connection, sealer};

    fn tokens(access: &str, refresh: Option<&str>) -> ProviderTokens {
        ProviderTokens {
            access_token: SecretString::from(access),
            refresh_token: refresh.map(SecretString::from),
            id_token: None,
            access_token_expires_at: Some(1),
            scopes: vec!["openid".into()],
        }
    }

    fn identity_with_tokens(connection: &mut DbConnection) -> i64 {
        let ids = accounts::record_sign_in(connection, &test_support::demo_sign_in("sub"))
            .expect("sign in");
        super::store(
            connection,
            &sealer(),
            ids.identity_id,
            &tokens("a1", Some("r1")),
        )
        .expect("store");
        ids.identity_id
    }

    /// The generation the identity's tokens are at now.
    fn generation_of(connection: &mut DbConnection, identity: i64) -> i64 {
        lease_state(connection, identity)
            .expect("read")
            .expect("tokens")
            .0
    }

    #[test]
    fn only_one_caller_gets_the_lease_until_it_stores_or_releases() {
        let mut connection = connection();
        let identity = identity_with_tokens(&mut connection);
        let g0 = generation_of(&mut connection, identity);
        assert_eq!(
            lease_state(&mut connection, identity).expect("read"),
            Some((g0, None)),
            "no lease yet"
        );
        let now = unix_now();
        assert!(take_refresh_lease(&mut connection, identity, g0, 30).expect("take"));
        // Held for exactly `lease_secs` from now (a second may pass meanwhile).
        let (generation, until) = lease_state(&mut connection, identity)
            .expect("read")
            .expect("tokens");
        assert_eq!(generation, g0);
        let until = until.expect("held");
        assert!((now + 30..=now + 31).contains(&until), "{until} - {now}");
        assert!(
            !take_refresh_lease(&mut connection, identity, g0, 30).expect("again"),
            "a second caller must wait"
        );
        release_refresh_lease(&mut connection, identity, g0).expect("release");
        assert_eq!(
            lease_state(&mut connection, identity).expect("read"),
            Some((g0, None)),
            "given back"
        );
        assert!(take_refresh_lease(&mut connection, identity, g0, 30).expect("after release"));
    }

    #[test]
    fn an_expired_lease_can_be_taken_over() {
        let mut connection = connection();
        let identity = identity_with_tokens(&mut connection);
        let g0 = generation_of(&mut connection, identity);
        assert!(take_refresh_lease(&mut connection, identity, g0, -5).expect("take"));
        assert!(take_refresh_lease(&mut connection, identity, g0, 30).expect("take over"));
    }

    #[test]
    fn a_stored_refresh_ends_the_lease_rotates_and_moves_the_generation() {
        let (mut connection, sealer) = (connection(), sealer());
        let identity = identity_with_tokens(&mut connection);
        let g0 = generation_of(&mut connection, identity);
        assert!(take_refresh_lease(&mut connection, identity, g0, 30).expect("take"));
        let stored = store_refreshed(
            &mut connection,
            &sealer,
            identity,
            g0,
            &tokens("a2", Some("r2")),
        )
        .expect("store");
        let now = stored.expect("stored");
        assert_eq!(now.generation, g0 + 1);
        assert_eq!(now.tokens.access_token.expose_secret(), "a2");
        let refresh = now.tokens.refresh_token.expect("rotated");
        assert_eq!(refresh.expose_secret(), "r2");
        assert!(
            !take_refresh_lease(&mut connection, identity, g0, 30).expect("stale"),
            "the old generation cannot be refreshed again"
        );
        assert!(take_refresh_lease(&mut connection, identity, g0 + 1, 30).expect("new lease"));
    }

    #[test]
    fn a_refresh_result_older_than_the_stored_tokens_is_dropped() {
        let (mut connection, sealer) = (connection(), sealer());
        let identity = identity_with_tokens(&mut connection);
        let g0 = generation_of(&mut connection, identity);
        // A sign-in stores generation 1 while a refresh from 0 is under way.
        super::store(
            &mut connection,
            &sealer,
            identity,
            &tokens("signed-in", None),
        )
        .expect("sign-in");
        let stored = store_refreshed(
            &mut connection,
            &sealer,
            identity,
            g0,
            &tokens("late", None),
        )
        .expect("store");
        let now = stored.expect("tokens");
        assert_eq!(
            now.generation,
            g0 + 1,
            "the sign-in's generation, not a second store"
        );
        assert_eq!(now.tokens.access_token.expose_secret(), "signed-in");
    }

    #[test]
    fn a_refresh_under_way_never_overwrites_tokens_stored_after_a_sign_out() {
        let (mut connection, sealer) = (connection(), sealer());
        let identity = identity_with_tokens(&mut connection);
        // A refresh starts from the sign-in's tokens...
        let started_from = generation_of(&mut connection, identity);
        // ...meanwhile the person signs out (the row goes) and in again.
        delete(&mut connection, identity).expect("sign-out");
        super::store(&mut connection, &sealer, identity, &tokens("newer", None)).expect("sign-in");
        assert_ne!(generation_of(&mut connection, identity), started_from);
        let now = store_refreshed(
            &mut connection,
            &sealer,
            identity,
            started_from,
            &tokens("late", None),
        )
        .expect("store")
        .expect("tokens");
        assert_eq!(now.tokens.access_token.expose_secret(), "newer");
    }
}
