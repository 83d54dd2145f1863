//! The demo provider's memory: sign-in interactions, authorization codes and
//! tokens, each with an expiry time and a size bound.
//!
//! What it owns: keeping, finding, expiring and evicting records. It must not
//! decide protocol questions (is this code valid for this client?); the
//! endpoints do that while holding the lock.
//!
//! Codes, tokens and interaction ids are stored under their SHA-256 hash, as a
//! real server would store them in a database: a memory dump or a debug print
//! of the store hands out nothing an attacker could replay.
//!
//! One `std::sync::Mutex` guards everything. Redeeming a code touches codes
//! and tokens together, and one lock keeps that atomic without any lock
//! ordering to get wrong. Handlers hold it only for map operations, never
//! across an `.await`. Every method takes `now`, so tests can move the clock.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Duration, Utc};

use super::scopes::Scope;
use crate::crypto::sha256_url_safe;

/// How long a user has to sign in and consent.
pub(crate) const INTERACTION_TTL: Duration = Duration::minutes(10);
/// RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is
/// RECOMMENDED"; we use one minute, since the app redeems it at once.
pub(crate) const CODE_TTL: Duration = Duration::seconds(60);
/// How long a refresh token stays valid without use. Rotation issues a new one.
pub(crate) const REFRESH_TOKEN_TTL: Duration = Duration::days(7);
/// How long a redeemed code is remembered, so that a second use can be
/// detected and the tokens issued from it revoked (RFC 6749 §4.1.2).
pub(crate) const REDEEMED_CODE_MEMORY: Duration = REFRESH_TOKEN_TTL;

const MAX_INTERACTIONS: usize = 10_000;
const MAX_CODES: usize = 10_000;
const MAX_TOKENS: usize = 50_000;

/// What the client asked for at the authorization endpoint, once validated.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizationRequest {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<Scope>,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    /// BASE64URL(SHA256(code_verifier)) (RFC 7636 §4.2, method S256 only).
    pub(crate) code_challenge: String,
}

/// Where a sign-in stands.
#[derive(Debug, Clone)]
pub(crate) enum InteractionStage {
    AwaitingSignIn,
    AwaitingConsent {
        username: String,
        auth_time: DateTime<Utc>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Interaction {
    pub(crate) request: AuthorizationRequest,
    pub(crate) stage: InteractionStage,
}

/// An authorization code and everything it was bound to when issued.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizationCode {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: String,
    pub(crate) nonce: Option<String>,
    pub(crate) username: String,
    pub(crate) scopes: Vec<Scope>,
    pub(crate) auth_time: DateTime<Utc>,
    /// Deadline for redemption; the record itself may be kept longer.
    pub(crate) expires_at: DateTime<Utc>,
    /// Set once the code has been exchanged: the grant its tokens belong to.
    pub(crate) redeemed_as_grant: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Access,
    Refresh,
}

/// An issued access or refresh token.
#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    pub(crate) kind: TokenKind,
    pub(crate) client_id: String,
    pub(crate) username: String,
    pub(crate) scopes: Vec<Scope>,
    /// Every token that descends from one authorization code shares this id,
    /// so the whole family can be revoked at once.
    pub(crate) grant_id: String,
    pub(crate) auth_time: DateTime<Utc>,
}

/// A map whose entries expire and whose size is bounded: when full, expired
/// entries are swept and then the oldest entry is evicted.
#[derive(Debug)]
pub(crate) struct ExpiringMap<V> {
    entries: HashMap<String, Entry<V>>,
    capacity: usize,
    next_sequence: u64,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    expires_at: DateTime<Utc>,
    /// Insertion order, for evicting the oldest entry.
    sequence: u64,
}

impl<V> ExpiringMap<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            next_sequence: 0,
        }
    }

    pub(crate) fn insert(
        &mut self,
        key: String,
        value: V,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        self.sweep(now);
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.evict_oldest();
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.entries.insert(
            key,
            Entry {
                value,
                expires_at,
                sequence,
            },
        );
    }

    pub(crate) fn get(&self, key: &str, now: DateTime<Utc>) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|entry| entry.expires_at > now)
            .map(|entry| &entry.value)
    }

    pub(crate) fn get_mut(&mut self, key: &str, now: DateTime<Utc>) -> Option<&mut V> {
        self.entries
            .get_mut(key)
            .filter(|entry| entry.expires_at > now)
            .map(|entry| &mut entry.value)
    }

    /// Removes and returns the entry, unless it has expired.
    pub(crate) fn remove(&mut self, key: &str, now: DateTime<Utc>) -> Option<V> {
        self.entries
            .remove(key)
            .filter(|entry| entry.expires_at > now)
            .map(|entry| entry.value)
    }

    /// Changes how long an entry is kept.
    pub(crate) fn set_expiry(&mut self, key: &str, expires_at: DateTime<Utc>) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.expires_at = expires_at;
        }
    }

    /// Keeps only the entries for which `keep` is true; returns how many went.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, entry| keep(&entry.value));
        before - self.entries.len()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn sweep(&mut self, now: DateTime<Utc>) {
        self.entries.retain(|_, entry| entry.expires_at > now);
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, entry)| entry.sequence)
            .map(|(key, _)| key.clone());
        if let Some(key) = oldest {
            self.entries.remove(&key);
        }
    }
}

/// All the provider's state.
#[derive(Debug)]
pub(crate) struct StoreInner {
    interactions: ExpiringMap<Interaction>,
    codes: ExpiringMap<AuthorizationCode>,
    tokens: ExpiringMap<IssuedToken>,
}

/// The provider's state behind its lock.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<StoreInner>,
}

impl Store {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(StoreInner::new()),
        }
    }

    /// Takes the lock. A panic in another request while it held the lock
    /// leaves maps that are still consistent (every change is a single map
    /// operation), so we keep serving rather than fail every later request.
    pub(crate) fn lock(&self) -> MutexGuard<'_, StoreInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StoreInner {
    pub(crate) fn new() -> Self {
        Self {
            interactions: ExpiringMap::new(MAX_INTERACTIONS),
            codes: ExpiringMap::new(MAX_CODES),
            tokens: ExpiringMap::new(MAX_TOKENS),
        }
    }

    // --- interactions ---------------------------------------------------

    /// Stores an interaction under a new random id and returns the id.
    pub(crate) fn start_interaction(
        &mut self,
        interaction: Interaction,
        now: DateTime<Utc>,
    ) -> String {
        let id = crate::crypto::random_url_safe(32);
        self.interactions.insert(
            sha256_url_safe(&id),
            interaction,
            now + INTERACTION_TTL,
            now,
        );
        id
    }

    pub(crate) fn interaction(&self, id: &str, now: DateTime<Utc>) -> Option<&Interaction> {
        self.interactions.get(&sha256_url_safe(id), now)
    }

    /// Removes the interaction: each interaction id is good for one step.
    pub(crate) fn take_interaction(&mut self, id: &str, now: DateTime<Utc>) -> Option<Interaction> {
        self.interactions.remove(&sha256_url_safe(id), now)
    }

    // --- authorization codes --------------------------------------------

    pub(crate) fn insert_code(
        &mut self,
        code: &str,
        record: AuthorizationCode,
        now: DateTime<Utc>,
    ) {
        let expires_at = record.expires_at;
        self.codes
            .insert(sha256_url_safe(code), record, expires_at, now);
    }

    /// The code's record, whether redeemed or not, while it is remembered.
    pub(crate) fn code_mut(
        &mut self,
        code: &str,
        now: DateTime<Utc>,
    ) -> Option<&mut AuthorizationCode> {
        self.codes.get_mut(&sha256_url_safe(code), now)
    }

    pub(crate) fn forget_code(&mut self, code: &str, now: DateTime<Utc>) {
        self.codes.remove(&sha256_url_safe(code), now);
    }

    /// Remember a redeemed code for longer than its redemption deadline.
    pub(crate) fn remember_redeemed_code(&mut self, code: &str, now: DateTime<Utc>) {
        self.codes
            .set_expiry(&sha256_url_safe(code), now + REDEEMED_CODE_MEMORY);
    }

    // --- tokens -----------------------------------------------------------

    pub(crate) fn insert_token(
        &mut self,
        token: &str,
        record: IssuedToken,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        self.tokens
            .insert(sha256_url_safe(token), record, expires_at, now);
    }

    pub(crate) fn token(&self, token: &str, now: DateTime<Utc>) -> Option<&IssuedToken> {
        self.tokens.get(&sha256_url_safe(token), now)
    }

    pub(crate) fn remove_token(&mut self, token: &str, now: DateTime<Utc>) -> Option<IssuedToken> {
        self.tokens.remove(&sha256_url_safe(token), now)
    }

    /// Revokes every token of a grant; returns how many there were.
    pub(crate) fn revoke_grant(&mut self, grant_id: &str) -> usize {
        self.tokens.retain(|token| token.grant_id != grant_id)
    }

    #[cfg(test)]
    pub(crate) fn token_count(&self) -> usize {
        self.tokens.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(1_800_000_000 + seconds)
    }

    #[test]
    fn an_entry_is_gone_once_its_expiry_time_is_reached() {
        let mut map = ExpiringMap::new(10);
        map.insert("k".into(), 1, at(60), at(0));
        assert_eq!(map.get("k", at(59)), Some(&1));
        assert_eq!(map.get("k", at(60)), None);
        assert_eq!(map.remove("k", at(61)), None);
    }

    #[test]
    fn a_full_map_evicts_its_oldest_entry() {
        let mut map = ExpiringMap::new(2);
        map.insert("first".into(), 1, at(100), at(0));
        map.insert("second".into(), 2, at(100), at(1));
        map.insert("third".into(), 3, at(100), at(2));
        assert_eq!(map.len(), 2);
        assert_eq!(map.get("first", at(3)), None);
        assert_eq!(map.get("third", at(3)), Some(&3));
    }

    #[test]
    fn inserting_sweeps_expired_entries_before_evicting_live_ones() {
        let mut map = ExpiringMap::new(2);
        map.insert("live".into(), 1, at(100), at(0));
        map.insert("short".into(), 2, at(5), at(0));
        map.insert("new".into(), 3, at(100), at(10));
        assert_eq!(map.get("live", at(11)), Some(&1), "the live entry stays");
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn interactions_are_found_by_their_id_and_taken_only_once() {
        let mut store = StoreInner::new();
        let interaction = Interaction {
            request: AuthorizationRequest {
                client_id: "app".into(),
                redirect_uri: "http://127.0.0.1:9/callback".into(),
                scopes: vec![Scope::OpenId],
                state: None,
                nonce: None,
                code_challenge: "c".repeat(43),
            },
            stage: InteractionStage::AwaitingSignIn,
        };
        let id = store.start_interaction(interaction, at(0));
        assert!(store.interaction(&id, at(1)).is_some());
        assert!(store.take_interaction(&id, at(1)).is_some());
        assert!(store.take_interaction(&id, at(1)).is_none());
        let expired = store.start_interaction(
            Interaction {
                request: AuthorizationRequest {
                    client_id: "app".into(),
                    redirect_uri: String::new(),
                    scopes: Vec::new(),
                    state: None,
                    nonce: None,
                    code_challenge: String::new(),
                },
                stage: InteractionStage::AwaitingSignIn,
            },
            at(0),
        );
        assert!(
            store
                .interaction(&expired, at(0) + INTERACTION_TTL)
                .is_none()
        );
    }
}
