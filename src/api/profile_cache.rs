//! The profile each signed-in person's provider API last returned, kept in
//! memory for a few minutes so that `/profile` does not call the API on every
//! view.
//!
//! Why: a profile (name, job title, photo) seldom changes, and providers limit
//! how often an app may call their API (Microsoft Graph answers 429 and asks
//! apps to cache what they read, photos above all). The first view after a
//! sign-in always calls the API (a sign-in empties this person's entry), as
//! does "Read it again" on the page (`/profile?refresh=1`) and a view after
//! [`PROFILE_TTL`].
//!
//! What it must not do: hold anything secret (no tokens: a profile is what the
//! page shows anyway), outlive the sign-in (sign-out and a 401 from the API
//! remove the entry), or grow without bound ([`MAX_ENTRIES`]). It lives in one
//! process: with several app instances, each keeps its own copy, which is fine
//! for data this slow to change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::Profile;

/// How long a profile read from the API is shown without reading it again.
pub const PROFILE_TTL: Duration = Duration::from_secs(5 * 60);

/// Profiles kept at most; beyond it, new ones are not kept (until old ones
/// expire), so a burst of sign-ins cannot grow memory without bound.
pub const MAX_ENTRIES: usize = 10_000;

/// A profile and when it was read from the API.
#[derive(Debug, Clone)]
pub struct CachedProfile {
    pub profile: Arc<Profile>,
    /// Unix seconds, for the page ("read at …").
    pub read_at: i64,
    read: Instant,
}

/// Profiles by identity id (`identities.id`).
#[derive(Debug, Default)]
pub struct ProfileCache {
    entries: Mutex<HashMap<i64, CachedProfile>>,
}

impl ProfileCache {
    /// The profile of `identity_id` if it was read less than [`PROFILE_TTL`] ago.
    pub fn get(&self, identity_id: i64) -> Option<CachedProfile> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&identity_id)
            .filter(|entry| entry.read.elapsed() < PROFILE_TTL)
            .cloned()
    }

    /// Keeps `profile`, just read from the API, and returns it as kept.
    pub fn put(&self, identity_id: i64, profile: Profile) -> CachedProfile {
        let entry = CachedProfile {
            profile: Arc::new(profile),
            read_at: crate::db::unix_now(),
            read: Instant::now(),
        };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, entry| entry.read.elapsed() < PROFILE_TTL);
        }
        if entries.len() < MAX_ENTRIES || entries.contains_key(&identity_id) {
            entries.insert(identity_id, entry.clone());
        }
        entry
    }

    /// Forgets the profile of `identity_id` (at sign-in, sign-out, and when the
    /// API no longer accepts the access token).
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
        cache.put(1, profile("Alice"));
        let kept = cache.get(1).expect("kept");
        assert_eq!(kept.profile.display_name, "Alice");
        assert!(cache.get(2).is_none(), "keyed by identity");
        cache.forget(1);
        assert!(cache.get(1).is_none());
    }

    #[test]
    fn an_expired_profile_is_not_returned() {
        let cache = ProfileCache::default();
        cache.put(1, profile("Alice"));
        let expired = Instant::now().checked_sub(PROFILE_TTL + Duration::from_secs(1));
        let Some(expired) = expired else {
            return; // The clock started less than PROFILE_TTL ago: nothing to age.
        };
        cache
            .entries
            .lock()
            .expect("not poisoned")
            .get_mut(&1)
            .expect("kept")
            .read = expired;
        assert!(cache.get(1).is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = ProfileCache::default();
        for id in 0..(MAX_ENTRIES as i64 + 5) {
            cache.put(id, profile("someone"));
        }
        assert_eq!(
            cache.entries.lock().expect("not poisoned").len(),
            MAX_ENTRIES
        );
        // A full cache still answers for what it holds, and a refresh of a
        // kept entry replaces it.
        cache.put(0, profile("renamed"));
        assert_eq!(cache.get(0).expect("kept").profile.display_name, "renamed");
    }
}
