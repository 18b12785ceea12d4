//! One loaded config, policy library and lock with their caches, and the registry client
//! that is replaced every `tag_ttl`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::json;

use super::answer::AnswerCache;
use super::cache::{self, DecisionCache};
use super::{Loaded, Log, ServeError, Settings};
use crate::config::Config;
use crate::gate::{Evidence, TagCheck};
use crate::lock::Fingerprint;
use crate::policy;
use crate::registry::{Registry, RegistryError, RegistrySettings, Stats};

/// One loaded config, policy library and lock with their caches; replaced as a whole on
/// reload.
pub(super) struct Generation {
    pub(super) config: Config,
    pub(super) engine: policy::Engine,
    pub(super) decisions: DecisionCache<cache::Key>,
    /// Whole answers to reviews seen before ([`super::answer`]).
    pub(super) answers: AnswerCache,
    pub(super) registries: Registries,
    /// The evidence lock replayed (always [`Evidence::Replaying`], [`TagCheck::Admission`]),
    /// made once per generation: the lock, the client answering from it (the one
    /// [`Registries`] hands out) and the fingerprint of this config and policy library, which
    /// [`crate::lock::Lock::review`] compares with the lock's; [`crate::gate::evaluate_with`]
    /// does the rest.
    pub(super) lock: Option<Evidence>,
}

impl Generation {
    pub(super) fn new(loaded: Loaded, settings: &Settings, log: &Log) -> Result<Self, ServeError> {
        let lock = match loaded.lock {
            Some(lock) => {
                let fingerprint =
                    Fingerprint::new(&loaded.config, &loaded.engine).map_err(ServeError::Lock)?;
                if fingerprint != lock.fingerprint {
                    log.warn(
                        "lock-stale",
                        json!({"note": "the signers, trusted roots or policies differ from the evidence lock's: every review is denied (`lock-stale`)",
                               "hint": "write the lock again with `supplygate check --write-lock` under this config and these policies"}),
                    );
                }
                Some(
                    Evidence::replaying(
                        loaded.config.registry.clone(),
                        lock,
                        fingerprint,
                        TagCheck::Admission,
                    )
                    .map_err(ServeError::Registry)?,
                )
            }
            None => None,
        };
        Ok(Self {
            registries: Registries::new(
                loaded.config.registry.clone(),
                settings.tag_ttl,
                lock.as_ref().map(|l| Arc::clone(l.registry())),
            )
            .map_err(ServeError::Registry)?,
            decisions: DecisionCache::new(settings.cache),
            answers: AnswerCache::new(settings.cache.max_entries),
            config: loaded.config,
            engine: loaded.engine,
            lock,
        })
    }
}

/// The client in use, since when, and the digests it resolved images to (as written), for
/// answering a review from the decision cache without awaiting anything.
pub(super) struct Current {
    registry: Arc<Registry>,
    since: Instant,
    digests: HashMap<String, String>,
}

/// The registry client in use, replaced every `tag_ttl` so that cached tags expire. The
/// one place where a live [`Registry`] is made. With an evidence lock, the client is the
/// lock's ([`Evidence::registry`]), answers from the lock only and is never replaced (the lock
/// does not change; a reload brings a new one).
pub(super) struct Registries {
    pub(super) settings: RegistrySettings,
    /// `None`: never replaced (an evidence lock).
    pub(super) ttl: Option<Duration>,
    pub(super) current: Mutex<Current>,
    /// Counters of clients no longer current: settled totals, and clients still in use.
    pub(super) retired: Mutex<(Stats, Vec<Arc<Registry>>)>,
}

impl Registries {
    pub(super) fn new(
        settings: RegistrySettings,
        ttl: Duration,
        replaying: Option<Arc<Registry>>,
    ) -> Result<Self, RegistryError> {
        let (first, ttl) = match replaying {
            Some(replaying) => (replaying, None),
            None => (Arc::new(Registry::new(settings.clone())?), Some(ttl)),
        };
        Ok(Self {
            settings,
            ttl,
            current: Mutex::new(Current {
                registry: first,
                since: Instant::now(),
                digests: HashMap::new(),
            }),
            retired: Mutex::new((Stats::default(), Vec::new())),
        })
    }

    /// The client for a review starting now.
    pub(super) fn current(&self, log: &Log) -> Arc<Registry> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if self.ttl.is_some_and(|ttl| current.since.elapsed() >= ttl) {
            match Registry::new(self.settings.clone()) {
                Ok(fresh) => {
                    let old = std::mem::replace(&mut current.registry, Arc::new(fresh));
                    current.since = Instant::now();
                    current.digests = HashMap::new();
                    self.retired
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .1
                        .push(old);
                }
                // Keep answering from the old client (its answers are still true, only
                // older); try again on the next review.
                Err(e) => log.error(
                    "registry-client-failed",
                    json!({"error": format!("{:#}", anyhow::Error::new(e))}),
                ),
            }
        }
        Arc::clone(&current.registry)
    }

    /// Until when the current client's answers are used (`None`: forever, an evidence lock).
    pub(super) fn fresh_until(&self) -> Option<Instant> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        self.ttl.map(|ttl| {
            current
                .since
                .checked_add(ttl)
                .unwrap_or_else(|| current.since + Duration::from_secs(365 * 24 * 3600))
        })
    }

    /// The digest the current client resolved `image` (as written) to, while that client is
    /// current and fresh: what its `resolve` would answer from its cache now.
    pub(super) fn cached_digest(&self, image: &str) -> Option<String> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if self.ttl.is_some_and(|ttl| current.since.elapsed() >= ttl) {
            return None;
        }
        current.digests.get(image).cloned()
    }

    /// Remembers what `registry` resolved `image` to, if it is still the current client
    /// (bounded: beyond `max` images the memory starts again).
    pub(super) fn remember(&self, registry: &Arc<Registry>, image: &str, digest: &str, max: usize) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if !Arc::ptr_eq(&current.registry, registry) {
            return;
        }
        if current.digests.len() >= max.max(1) {
            current.digests.clear();
        }
        current.digests.insert(image.to_owned(), digest.to_owned());
    }

    /// Requests and cache hits of every client so far.
    pub(super) fn stats(&self) -> Stats {
        // Locks in the order `current` takes them (current, then retired): the other order
        // could deadlock with a review replacing the client.
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        let (settled, live) = &mut *retired;
        // A retired client nobody holds any more has counted its last request.
        live.retain(|r| {
            if Arc::strong_count(r) == 1 {
                let s = r.stats();
                settled.requests += s.requests;
                settled.cache_hits += s.cache_hits;
                false
            } else {
                true
            }
        });
        let mut total = *settled;
        for r in live.iter().chain(std::iter::once(&current.registry)) {
            let s = r.stats();
            total.requests += s.requests;
            total.cache_hits += s.cache_hits;
        }
        total
    }
}
