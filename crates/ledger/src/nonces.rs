//! Replay protection for signed department requests: each `(keyid, nonce)` is accepted
//! once while its signature could still be fresh.
//!
//! A request signature carries `created` and `nonce` (RFC 9421, `core::httpsig`). A
//! signature is fresh while `created` is within `window` seconds of the server's clock,
//! so a nonce must be remembered until `created + window`; after that the signature is
//! refused as stale anyway and the nonce can be forgotten. Memory is therefore bounded
//! by the request rate times twice the window, and by `capacity`, beyond which new
//! nonces are refused ([`NonceError::Full`]) rather than old ones forgotten early: fail
//! closed.
//!
//! A restarted server has forgotten what it saw. Until the cache is rebuilt from the
//! log, it refuses every signature created before `not_before` (the start time), so a
//! request seen by the previous process cannot be replayed to the new one. A client
//! whose clock is `d` seconds behind is refused for `d` seconds after a restart.
//!
//! Nonces are kept as SHA-256 digests of the length-prefixed key id and nonce: 32 bytes
//! each, whatever the caller sent.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

/// The longest nonce accepted, in bytes.
pub const MAX_NONCE_LEN: usize = 128;

/// Why a nonce was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    /// This key id already used this nonce within the window.
    #[error("nonce already used")]
    Replayed,
    /// `created` is outside the window, so the nonce cannot be remembered long enough.
    #[error("signature created outside the freshness window")]
    Stale,
    /// The signature was created before this process started; it may have been seen.
    #[error("signature created before the server started")]
    BeforeStart,
    /// The nonce is empty or longer than [`MAX_NONCE_LEN`].
    #[error("nonce empty or longer than {MAX_NONCE_LEN} bytes")]
    Length,
    /// The cache holds `capacity` live nonces.
    #[error("too many requests in the freshness window")]
    Full,
}

/// Accept-once nonces within a freshness window. Cheap to share: one short lock per call.
#[derive(Debug)]
pub struct NonceCache {
    window: i64,
    capacity: usize,
    not_before: i64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Digest → the time after which it may be forgotten.
    seen: HashMap<[u8; 32], i64>,
    /// The same, ordered by expiry, for pruning.
    expiry: BinaryHeap<Reverse<(i64, [u8; 32])>>,
}

impl NonceCache {
    /// A cache with a freshness window of `window` seconds, at most `capacity` live
    /// nonces, refusing signatures created before `not_before` (Unix seconds).
    pub fn new(window: i64, capacity: usize, not_before: i64) -> Self {
        Self {
            window: window.max(0),
            capacity,
            not_before,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Accepts `nonce` for `keyid` once, for a signature `created` at server time `now`
    /// (both Unix seconds).
    pub fn check(
        &self,
        keyid: &str,
        nonce: &str,
        created: i64,
        now: i64,
    ) -> Result<(), NonceError> {
        if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
            return Err(NonceError::Length);
        }
        if created.saturating_sub(now).saturating_abs() > self.window {
            return Err(NonceError::Stale);
        }
        if created < self.not_before {
            return Err(NonceError::BeforeStart);
        }
        let digest = digest(keyid, nonce);
        let expires = created.saturating_add(self.window);
        // A poisoned lock only means another thread panicked mid-call; the maps are
        // still consistent (every mutation below is a single insert or remove).
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.prune(now);
        if inner.seen.contains_key(&digest) {
            return Err(NonceError::Replayed);
        }
        if inner.seen.len() >= self.capacity {
            return Err(NonceError::Full);
        }
        inner.seen.insert(digest, expires);
        inner.expiry.push(Reverse((expires, digest)));
        Ok(())
    }

    /// How many nonces are remembered now.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .seen
            .len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn prune(&mut self, now: i64) {
        while let Some(Reverse((expires, digest))) = self.expiry.peek().copied() {
            if expires >= now {
                break;
            }
            self.expiry.pop();
            self.seen.remove(&digest);
        }
    }
}

fn digest(keyid: &str, nonce: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"proofless nonce v1\0");
    h.update((keyid.len() as u64).to_be_bytes());
    h.update(keyid.as_bytes());
    h.update(nonce.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const W: i64 = 300;

    #[test]
    fn a_nonce_is_accepted_once_per_key() {
        let c = NonceCache::new(W, 100, 0);
        assert_eq!(c.check("k1", "n", 1000, 1000), Ok(()));
        assert_eq!(c.check("k1", "n", 1000, 1001), Err(NonceError::Replayed));
        // Another `created` does not make the same nonce new.
        assert_eq!(c.check("k1", "n", 1001, 1001), Err(NonceError::Replayed));
        // Another key may use the same nonce.
        assert_eq!(c.check("k2", "n", 1000, 1001), Ok(()));
        // Length-prefixing keeps ("k1", "2n") and ("k12", "n") apart.
        assert_eq!(c.check("k12", "n", 1000, 1001), Ok(()));
        assert_eq!(c.check("k1", "2n", 1000, 1001), Ok(()));
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn nonces_are_remembered_for_the_whole_window_then_forgotten() {
        let c = NonceCache::new(W, 100, 0);
        c.check("k", "n", 1000, 1000).unwrap();
        // Still a replay at the last second the signature is fresh.
        assert_eq!(c.check("k", "n", 1000, 1000 + W), Err(NonceError::Replayed));
        // One second later the signature is stale, so the cache lets it go.
        assert_eq!(c.check("k", "other", 1000 + W + 1, 1000 + W + 1), Ok(()));
        assert_eq!(c.len(), 1);
        assert_eq!(
            c.check("k", "n", 1000, 1000 + W + 1),
            Err(NonceError::Stale)
        );
    }

    #[test]
    fn a_signature_from_the_future_is_remembered_until_it_expires() {
        let c = NonceCache::new(W, 100, 0);
        c.check("k", "n", 1000 + W, 1000).unwrap();
        assert_eq!(
            c.check("k", "n", 1000 + W, 1000 + 2 * W),
            Err(NonceError::Replayed)
        );
        assert_eq!(
            c.check("k", "n", 1000 + W + 1, 1000),
            Err(NonceError::Stale)
        );
    }

    #[test]
    fn full_cache_refuses_rather_than_forgets() {
        let c = NonceCache::new(W, 2, 0);
        c.check("k", "a", 1000, 1000).unwrap();
        c.check("k", "b", 1000, 1000).unwrap();
        assert_eq!(c.check("k", "c", 1000, 1000), Err(NonceError::Full));
        assert_eq!(c.check("k", "a", 1000, 1000), Err(NonceError::Replayed));
        // Once the first two expire there is room again.
        assert_eq!(c.check("k", "c", 1000 + W + 1, 1000 + W + 1), Ok(()));
    }

    #[test]
    fn signatures_from_before_a_restart_are_refused() {
        let c = NonceCache::new(W, 100, 5000);
        assert_eq!(c.check("k", "n", 4999, 5000), Err(NonceError::BeforeStart));
        assert_eq!(c.check("k", "n", 5000, 5000), Ok(()));
        assert!(!c.is_empty());
    }

    #[test]
    fn concurrent_replays_let_exactly_one_through() {
        let c = std::sync::Arc::new(NonceCache::new(W, 100, 0));
        let accepted: usize = (0..8)
            .map(|_| {
                let c = std::sync::Arc::clone(&c);
                std::thread::spawn(move || c.check("k", "same", 1000, 1000).is_ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum();
        assert_eq!(accepted, 1);
    }

    #[test]
    fn nonce_length_is_bounded() {
        let c = NonceCache::new(W, 100, 0);
        assert_eq!(c.check("k", "", 1000, 1000), Err(NonceError::Length));
        let long = "x".repeat(MAX_NONCE_LEN + 1);
        assert_eq!(c.check("k", &long, 1000, 1000), Err(NonceError::Length));
        assert_eq!(c.check("k", &long[..MAX_NONCE_LEN], 1000, 1000), Ok(()));
        assert!(!c.is_empty());
    }
}
