//! The profile each signed-in person's provider API last returned, with the
//! facts of their sign-in that `/profile` shows, kept in memory for a few
//! minutes so that `/profile` neither calls the API nor reads the database on
//! every view.
//!
//! Why: a profile (name, job title, photo) seldom changes, and providers limit
//! how often an app may call their API (Microsoft Graph answers 429 and asks
//! apps to cache what they read, photos above all). The first view after a
//! sign-in always calls the API (a sign-in empties this person's entry), as
//! does "Read it again" on the page (`/profile?refresh=1`) and a view after
//! [`PROFILE_TTL`].
//!
//! The list of the person's linked accounts is kept with it, so that a kept
//! view needs only the session check. Linking or unlinking in this browser
//! forgets it; done in another browser, or when a linked account's tokens
//! change, the list may be up to [`PROFILE_TTL`] old ("Read it again" reads it
//! now).
//!
//! Everything that changes what is kept must forget it: a sign-in (new tokens,
//! perhaps new scopes), a sign-out (tokens deleted; another browser signed in
//! as the same person must be asked to sign in again), and a 401 from the API.
//! Code that later changes tokens (a refresh, say) must call [`ProfileCache::forget`] too.
//!
//! What it must not do: hold anything secret (no tokens: only what the page
//! shows), outlive the sign-in, or grow without bound ([`MAX_ENTRIES`]). It
//! lives in one process: with several app instances behind a load balancer, a
//! refresh or a linked account on one would not reach the others' copies, so
//! with REDIS_URL (several instances) it is off ([`ProfileCache::off`]) and
//! every view reads the profile from the provider.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::Profile;
use crate::db::accounts::IdentitySummary;

/// How long a profile read from the API is shown without reading it again.
pub const PROFILE_TTL: Duration = Duration::from_secs(5 * 60);

/// Profiles kept at most; beyond it, new ones are not kept (until old ones
/// expire), so a burst of sign-ins cannot grow memory without bound.
pub const MAX_ENTRIES: usize = 10_000;

/// What `/profile` shows about the sign-in itself, read from the database with
/// the tokens; it changes only at the next sign-in.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SignInFacts {
    pub scopes: Vec<String>,
    pub access_token_expires_at: Option<i64>,
    pub last_sign_in_at: i64,
}

/// A profile, the sign-in's facts, and when the profile was read from the API.
#[derive(Debug)]
pub struct KeptProfile {
    pub profile: Profile,
    pub sign_in: SignInFacts,
    /// The person's linked accounts, as `/profile` lists them.
    pub accounts: Vec<IdentitySummary>,
    /// Unix seconds, for the page ("read at …").
    pub read_at: i64,
    read: Instant,
}

impl KeptProfile {
    fn is_fresh(&self) -> bool {
        self.read.elapsed() < PROFILE_TTL
    }
}

/// Kept profiles by identity id (`identities.id`).
#[derive(Debug, Default)]
pub struct ProfileCache {
    entries: Mutex<HashMap<i64, Arc<KeptProfile>>>,
    off: bool,
}

impl ProfileCache {
    /// A cache that keeps nothing: every view reads the profile again.
    pub fn off() -> Self {
        ProfileCache {
            entries: Mutex::default(),
            off: true,
        }
    }

    /// What was kept for `identity_id`, if it was read less than [`PROFILE_TTL`] ago.
    pub fn get(&self, identity_id: i64) -> Option<Arc<KeptProfile>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&identity_id)
            .filter(|kept| kept.is_fresh())
            .cloned()
    }

    /// Keeps `profile`, just read from the API, with the sign-in's facts, and
    /// returns it as kept.
    pub fn put(
        &self,
        identity_id: i64,
        profile: Profile,
        sign_in: SignInFacts,
        accounts: Vec<IdentitySummary>,
    ) -> Arc<KeptProfile> {
        let kept = Arc::new(KeptProfile {
            profile,
            sign_in,
            accounts,
            read_at: crate::db::unix_now(),
            read: Instant::now(),
        });
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, kept| kept.is_fresh());
        }
        if !self.off && (entries.len() < MAX_ENTRIES || entries.contains_key(&identity_id)) {
            entries.insert(identity_id, Arc::clone(&kept));
        }
        kept
    }

    /// Forgets what was kept for `identity_id` (see the module doc for when).
    pub fn forget(&self, identity_id: i64) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&identity_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str) -> Profile {
        Profile {
            display_name: name.into(),
            ..Profile::default()
        }
    }

    #[test]
    fn a_kept_profile_is_returned_until_forgotten() {
        let cache = ProfileCache::default();
        assert!(cache.get(1).is_none());
        cache.put(1, profile("Alice"), SignInFacts::default(), Vec::new());
        let kept = cache.get(1).expect("kept");
        assert_eq!(kept.profile.display_name, "Alice");
        assert!(cache.get(2).is_none(), "keyed by identity");
        cache.forget(1);
        assert!(cache.get(1).is_none());
    }

    #[test]
    fn an_expired_profile_is_not_returned() {
        let cache = ProfileCache::default();
        cache.put(1, profile("Alice"), SignInFacts::default(), Vec::new());
        let expired = Instant::now().checked_sub(PROFILE_TTL + Duration::from_secs(1));
        let Some(expired) = expired else {
            return; // The clock started less than PROFILE_TTL ago: nothing to age.
        };
        let mut entries = cache.entries.lock().expect("not poisoned");
        let kept = entries.get_mut(&1).expect("kept");
        *kept = Arc::new(KeptProfile {
            accounts: Vec::new(),
            profile: kept.profile.clone(),
            sign_in: SignInFacts::default(),
            read_at: kept.read_at,
            read: expired,
        });
        drop(entries);
        assert!(cache.get(1).is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = ProfileCache::default();
        for id in 0..(MAX_ENTRIES as i64 + 5) {
            cache.put(id, profile("someone"), SignInFacts::default(), Vec::new());
        }
        assert_eq!(
            cache.entries.lock().expect("not poisoned").len(),
            MAX_ENTRIES
        );
        // A full cache still answers for what it holds, and a refresh of a
        // kept entry replaces it.
        cache.put(0, profile("renamed"), SignInFacts::default(), Vec::new());
        assert_eq!(cache.get(0).expect("kept").profile.display_name, "renamed");
    }
}
