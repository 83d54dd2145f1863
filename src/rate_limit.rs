//! How fast one client may start sign-ins: a token bucket per client, in
//! memory, with a bounded number of clients.
//!
//! Starting a sign-in is public and writes a pending sign-in (`db`), so one
//! client sending requests without a cookie could otherwise push everyone
//! else's pending sign-ins out. Each client (an IPv4 address, or an IPv6 /64:
//! a host picks its own interface identifier, the low 64 bits, RFC 4291
//! §2.5.1, and may change it at will, RFC 8981) has a bucket of
//! SIGN_IN_STARTS_PER_MINUTE starts that refills at that rate; an empty bucket
//! answers how long to wait, which the page gives as `Retry-After` (RFC 6585 §4).
//!
//! Memory is bounded: at most [`MAX_TRACKED_CLIENTS`] buckets. When a new
//! client finds the table full, the buckets that have refilled completely are
//! dropped first (those clients are as if never seen); if every bucket is
//! still in use, the table starts afresh. Forgetting can only give a client
//! more starts, never lock one out; what a flood from very many addresses
//! achieves is then bounded by the database's own limit on pending sign-ins
//! (`db::pending_sign_ins`), which drops the oldest.
//!
//! Why not the `governor` crate: its keyed limiter grows with every key seen
//! and leaves bounding it to the caller, which is most of this module; the
//! bucket itself is a few lines.
//!
//! With REDIS_URL set, [`SignInLimit::Shared`] keeps the counts in Redis
//! instead, so that several instances allow the rate once between them, not
//! once each.
//!
//! What it must not do: know about HTTP (`web::client_ip` finds the
//! client's address) or the database.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Clients remembered at once (each bucket is a few dozen bytes).
pub const MAX_TRACKED_CLIENTS: usize = 10_000;

/// A client as the limiter counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    V4(u32),
    /// The first 64 bits of an IPv6 address.
    V6(u64),
}

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(v4.into()),
                None => ClientKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The limit on starting sign-ins: per process, or shared through Redis.
#[derive(Debug)]
pub enum SignInLimit {
    /// Token buckets in this process ([`RateLimiter`]).
    Local(RateLimiter),
    /// Counts in Redis, for every instance at once.
    Shared {
        redis: crate::shared_store::Redis,
        per_minute: u32,
    },
}

/// Why a start was not allowed.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Over the limit: allowed again in this many seconds (`Retry-After`).
    TooMany { retry_after_secs: u64 },
    /// The shared counts cannot be read (Redis down): the start is refused
    /// rather than let through unlimited.
    Unavailable(String),
}

impl SignInLimit {
    /// Counts one start by `client`.
    pub async fn check(&self, client: IpAddr) -> Result<(), Refused> {
        match self {
            SignInLimit::Local(limiter) => limiter
                .check(client)
                .map_err(|retry_after_secs| Refused::TooMany { retry_after_secs }),
            SignInLimit::Shared { redis, per_minute } => {
                check_shared(redis, *per_minute, ClientKey::from(client)).await
            }
        }
    }
}

/// One minute's window per client in Redis: create the client's counter
/// with a 60 s lifetime if it does not exist (`SET … EX 60 NX`), then `INCR`
/// it (which keeps the lifetime), in one atomic round trip (`MULTI`/`EXEC`).
/// Every command here exists since Redis 2.6.12 (`EXPIRE … NX` would need
/// Redis 7). Simpler than a shared token bucket, which would need a script;
/// the price is that a client can spend two minutes' starts across the edge
/// of a window, which still bounds a flood.
async fn check_shared(
    redis: &crate::shared_store::Redis,
    per_minute: u32,
    client: ClientKey,
) -> Result<(), Refused> {
    let key = redis.key(&match client {
        ClientKey::V4(address) => format!("starts:v4:{address:08x}"),
        ClientKey::V6(prefix) => format!("starts:v6:{prefix:016x}"),
    });
    let (count, ttl): (u64, i64) = redis
        .query(
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(&key)
                .arg(0)
                .arg("EX")
                .arg(60)
                .arg("NX")
                .ignore()
                .incr(&key, 1)
                .ttl(&key),
        )
        .await
        .map_err(|error| Refused::Unavailable(error.to_string()))?;
    if count > u64::from(per_minute.max(1)) {
        return Err(Refused::TooMany {
            retry_after_secs: u64::try_from(ttl).unwrap_or(60).max(1),
        });
    }
    Ok(())
}

/// Token buckets per client, shared by all workers.
#[derive(Debug)]
pub struct RateLimiter {
    /// Starts allowed in a burst (the bucket's size).
    capacity: f64,
    /// Starts given back per second.
    refill_per_sec: f64,
    max_clients: usize,
    buckets: Mutex<HashMap<ClientKey, Bucket>>,
}

impl RateLimiter {
    /// `per_minute` starts per client, all of them at once if it likes.
    pub fn per_minute(per_minute: u32) -> Self {
        Self::with_bound(per_minute, MAX_TRACKED_CLIENTS)
    }

    fn with_bound(per_minute: u32, max_clients: usize) -> Self {
        let capacity = f64::from(per_minute.max(1));
        RateLimiter {
            capacity,
            refill_per_sec: capacity / 60.0,
            max_clients,
            buckets: Mutex::default(),
        }
    }

    /// Takes one start from `client`'s bucket, or says in how many seconds one
    /// is back: whole seconds, rounded up and at least 1, as `Retry-After`
    /// counts them (RFC 9110 §10.2.3), so a client that waits that long gets it.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        self.check_at(client, Instant::now()).map_err(|wait| {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            seconds.max(1)
        })
    }

    fn check_at(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = ClientKey::from(client);
        // A panic elsewhere while holding the lock leaves counts, not a broken
        // invariant: keep using them.
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(&key) && buckets.len() >= self.max_clients {
            buckets.retain(|_, bucket| self.refilled(*bucket, now) < self.capacity);
            if buckets.len() >= self.max_clients {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.capacity,
            updated: now,
        });
        bucket.tokens = self.refilled(*bucket, now);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.refill_per_sec,
            ))
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed * self.refill_per_sec).min(self.capacity)
    }

    /// Clients remembered now.
    pub fn tracked_clients(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_for_the_refill() {
        let limiter = RateLimiter::per_minute(3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(ip("192.0.2.1"), start).is_ok());
        }
        let wait = limiter
            .check_at(ip("192.0.2.1"), start)
            .expect_err("the bucket is empty");
        assert_eq!(wait.as_secs(), 20, "one start every 20 s at 3 a minute");
        // Another client is not affected.
        assert!(limiter.check_at(ip("192.0.2.2"), start).is_ok());
        // After 20 s, one more.
        let later = start + Duration::from_secs(20);
        assert!(limiter.check_at(ip("192.0.2.1"), later).is_ok());
        assert!(limiter.check_at(ip("192.0.2.1"), later).is_err());
    }

    #[test]
    fn an_ipv6_host_counts_as_its_slash_64() {
        let limiter = RateLimiter::per_minute(1);
        let now = Instant::now();
        assert!(limiter.check_at(ip("2001:db8:1:2::1"), now).is_ok());
        assert!(limiter.check_at(ip("2001:db8:1:2::ffff"), now).is_err());
        assert!(limiter.check_at(ip("2001:db8:1:3::1"), now).is_ok());
        // An IPv4-mapped address is the IPv4 client.
        assert!(limiter.check_at(ip("198.51.100.7"), now).is_ok());
        assert!(limiter.check_at(ip("::ffff:198.51.100.7"), now).is_err());
    }

    #[test]
    fn memory_is_bounded_and_forgetting_never_locks_anyone_out() {
        let limiter = RateLimiter::with_bound(1, 100);
        let now = Instant::now();
        for n in 0..1000u32 {
            let client = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            assert!(limiter.check_at(client, now).is_ok(), "a new client");
            assert!(limiter.tracked_clients() <= 100);
        }
        // Refilled buckets are dropped first when the table is full.
        let later = now + Duration::from_secs(61);
        assert!(limiter.check_at(ip("203.0.113.9"), later).is_ok());
        assert_eq!(limiter.tracked_clients(), 1);
    }
}
