//! One loaded config, policy library and lock with their caches, and the registry client
//! that is replaced every `tag_ttl`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::Digest as _;

use super::answer::AnswerCache;
use super::cache::{self, CompactDigest, DecisionCache};
use super::{Loaded, Log, ServeError, Settings};
use crate::config::Config;
use crate::gate::{Evidence, TagCheck};
use crate::lock::Fingerprint;
use crate::policy;
use crate::reference::Digest;
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
                MAX_CLIENT_ANSWERS,
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

/// The client in use and since when.
pub(super) struct Current {
    registry: Arc<Registry>,
    since: Instant,
}

/// What an image (as written) resolved to, for answering a review from the decision cache
/// without awaiting anything: the digest and until when the client that resolved it would
/// have answered with it (`None`: forever, an evidence lock). Nothing else of the registry's
/// answer (no body, no headers).
struct Resolution {
    digest: CompactDigest,
    expires: Option<Instant>,
}

/// What [`Registries`] keys an image (as written) by: its SHA-256, so that an entry holds no
/// allocation of its own (see [`CompactDigest`]).
fn image_key(image: &str) -> [u8; 32] {
    sha2::Sha256::digest(image.as_bytes()).into()
}

impl Resolution {
    fn fresh(&self, now: Instant) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
}

/// Most answers (manifests, tags, blobs, referrers listings, errors too) one registry client
/// caches before a review starting after that gets a new client: what a burst of reviews of
/// the same images (a rollout's Deployment, ReplicaSet and pods) reuses, without every image
/// seen within `tag_ttl` keeping its manifests, signature lookups and listings in memory
/// (about 4 KiB an image). The digests images resolved to are kept apart ([`Resolution`]),
/// so decision-cache hits survive the replacement.
pub(super) const MAX_CLIENT_ANSWERS: usize = 1024;

/// The registry client in use, replaced every `tag_ttl` so that cached tags expire, and once
/// it has cached [`MAX_CLIENT_ANSWERS`] answers so that its memory stays bounded. The one
/// place where a live [`Registry`] is made. With an evidence lock, the client is the lock's
/// ([`Evidence::registry`]), answers from the lock only and is never replaced (the lock does
/// not change; a reload brings a new one).
pub(super) struct Registries {
    pub(super) settings: RegistrySettings,
    /// `None`: never replaced (an evidence lock).
    pub(super) ttl: Option<Duration>,
    /// Most answers a client caches before it is replaced.
    max_client_answers: usize,
    pub(super) current: Mutex<Current>,
    /// Images (as written) -> what a client resolved them to, each until that client's
    /// answers expire; bounded (see [`Registries::remember`]).
    digests: Mutex<HashMap<[u8; 32], Resolution>>,
    /// Counters of clients no longer current: settled totals, and clients still in use.
    pub(super) retired: Mutex<(Stats, Vec<Current>)>,
}

impl Registries {
    pub(super) fn new(
        settings: RegistrySettings,
        ttl: Duration,
        replaying: Option<Arc<Registry>>,
        max_client_answers: usize,
    ) -> Result<Self, RegistryError> {
        let (first, ttl) = match replaying {
            Some(replaying) => (replaying, None),
            None => (Arc::new(Registry::new(settings.clone())?), Some(ttl)),
        };
        Ok(Self {
            settings,
            ttl,
            max_client_answers: max_client_answers.max(1),
            current: Mutex::new(Current {
                registry: first,
                since: Instant::now(),
            }),
            digests: Mutex::new(HashMap::new()),
            retired: Mutex::new((Stats::default(), Vec::new())),
        })
    }

    /// The client for a review starting now.
    pub(super) fn current(&self, log: &Log) -> Arc<Registry> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(ttl) = self.ttl else {
            return Arc::clone(&current.registry);
        };
        let expired = current.since.elapsed() >= ttl;
        if expired || current.registry.cached_answers() >= self.max_client_answers {
            match Registry::new(self.settings.clone()) {
                Ok(fresh) => {
                    let old = std::mem::replace(
                        &mut *current,
                        Current {
                            registry: Arc::new(fresh),
                            since: Instant::now(),
                        },
                    );
                    if expired {
                        // Every digest the old clients resolved is as old as they are.
                        let now = Instant::now();
                        self.digests
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .retain(|_, r| r.fresh(now));
                    }
                    let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
                    retired.1.push(old);
                    settle(&mut retired);
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
        self.ttl.map(|ttl| until(current.since, ttl))
    }

    /// The digest a client resolved `image` (as written) to, while that answer is fresh, and
    /// until when it is (`None`: forever, an evidence lock): what a `resolve` would answer
    /// from a cache now.
    pub(super) fn cached_digest(&self, image: &str) -> Option<(String, Option<Instant>)> {
        let key = image_key(image);
        let digests = self.digests.lock().unwrap_or_else(PoisonError::into_inner);
        let resolution = digests.get(&key)?;
        let fresh = resolution.fresh(Instant::now());
        let (digest, expires) = (resolution.digest.clone(), resolution.expires);
        drop(digests);
        fresh.then(|| (digest.digest().to_string(), expires))
    }

    /// Remembers what `registry` (current or retired: reviews started before a replacement
    /// finish on their client) resolved `image` to, until that client's answers expire
    /// (bounded: beyond `max` images the expired ones are dropped, then half of them).
    pub(super) fn remember(
        &self,
        registry: &Arc<Registry>,
        image: &str,
        digest: &Digest,
        max: usize,
    ) {
        let since = {
            // In the order `current` takes them (current, then retired).
            let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
            if Arc::ptr_eq(&current.registry, registry) {
                Some(current.since)
            } else {
                let retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
                retired
                    .1
                    .iter()
                    .find(|r| Arc::ptr_eq(&r.registry, registry))
                    .map(|r| r.since)
            }
        };
        // A client neither current nor retired here (another generation's) is not ours to
        // remember from.
        let Some(since) = since else {
            return;
        };
        let expires = self.ttl.map(|ttl| until(since, ttl));
        let (key, digest) = (image_key(image), CompactDigest::new(digest));
        let now = Instant::now();
        let mut digests = self.digests.lock().unwrap_or_else(PoisonError::into_inner);
        // What a later client resolved (its answers expire later) is newer than what an older
        // one, still finishing a review, resolved: a moved tag does not move back.
        if digests
            .get(&key)
            .is_some_and(|r| r.fresh(now) && r.expires > expires)
        {
            return;
        }
        if digests.len() >= max.max(1) && !digests.contains_key(&key) {
            super::cache::make_room(&mut digests, max.max(1), |r| r.fresh(now));
        }
        digests.insert(key, Resolution { digest, expires });
    }

    /// Images whose resolution is remembered now (fresh or not yet purged).
    #[cfg(test)]
    pub(super) fn remembered(&self) -> usize {
        self.digests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Requests and cache hits of every client so far.
    pub(super) fn stats(&self) -> Stats {
        // Locks in the order `current` takes them (current, then retired): the other order
        // could deadlock with a review replacing the client.
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        settle(&mut retired);
        let (settled, live) = &*retired;
        let mut total = *settled;
        for r in live
            .iter()
            .map(|r| &r.registry)
            .chain(std::iter::once(&current.registry))
        {
            let s = r.stats();
            total.requests += s.requests;
            total.cache_hits += s.cache_hits;
        }
        total
    }
}

/// `since + ttl`, or a year from `since` when that does not fit.
fn until(since: Instant, ttl: Duration) -> Instant {
    since
        .checked_add(ttl)
        .unwrap_or_else(|| since + Duration::from_secs(365 * 24 * 3600))
}

/// Adds the counters of retired clients nobody holds any more (they have counted their last
/// request) to the settled totals and lets them go, with every answer they cached.
fn settle(retired: &mut (Stats, Vec<Current>)) {
    let (settled, live) = retired;
    live.retain(|r| {
        if Arc::strong_count(&r.registry) == 1 {
            let s = r.registry.stats();
            settled.requests += s.requests;
            settled.cache_hits += s.cache_hits;
            false
        } else {
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ImageRef;
    use crate::registry::testserver::{Reply, Server};
    use crate::webhook::LogFormat;

    /// A registry answering every tag with a manifest of its own.
    async fn registry() -> Server {
        Server::start(|request| {
            let body = format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}},"layers":[],"annotations":{{"path":"{}"}}}}"#,
                request.path()
            );
            let digest = Digest::sha256_of(body.as_bytes()).to_string();
            Reply::body(200, body)
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                .header("Docker-Content-Digest", &digest)
        })
        .await
    }

    /// Resolves `image` with `client` and remembers it, as a review does; its digest.
    async fn resolve(registries: &Registries, client: &Arc<Registry>, image: &str) -> String {
        let resolved = client
            .resolve(&ImageRef::parse(image).unwrap())
            .await
            .unwrap();
        registries.remember(client, image, &resolved.digest, 100);
        resolved.digest.to_string()
    }

    /// Once a client holds its bound of cached answers, reviews starting after that get a new
    /// one (the old one, with every answer it cached, is let go when nobody uses it); the
    /// digests images resolved to stay answered until their client's answers expire.
    #[tokio::test]
    async fn a_client_holding_its_bound_of_answers_is_replaced_and_resolutions_outlive_it() {
        let server = registry().await;
        let log = Log::new(LogFormat::Text);
        let registries =
            Registries::new(server.settings(), Duration::from_secs(3600), None, 4).unwrap();
        let first = registries.current(&log);
        let mut resolved = Vec::new();
        for i in 0..2 {
            let image = format!("{}/app:{i}", server.host());
            let digest = resolve(&registries, &first, &image).await;
            resolved.push((image, digest));
        }
        // Each tag's manifest also answers its digest's manifest and the tag's digest.
        assert_eq!(first.cached_answers(), 6);
        let second = registries.current(&log);
        assert!(
            !Arc::ptr_eq(&first, &second),
            "the full client was not replaced"
        );
        assert_eq!(registries.retired.lock().unwrap().1.len(), 1);
        for (image, digest) in &resolved {
            let (cached, expires) = registries.cached_digest(image).unwrap();
            assert_eq!(&*cached, digest.as_str(), "{image}");
            assert!(expires.is_some_and(|e| e > Instant::now()));
        }
        // A review that started on the old client finishes on it, and what it resolved is
        // remembered as long as the old client's answers are fresh.
        let late = format!("{}/app:late", server.host());
        let digest = resolve(&registries, &first, &late).await;
        let (cached, expires) = registries.cached_digest(&late).unwrap();
        assert_eq!(cached, digest);
        assert_eq!(expires, registries.cached_digest(&resolved[0].0).unwrap().1);
        // What the new client resolved is not overwritten by the old one's older answer.
        let moved = format!("{}/app:moved", server.host());
        let newer = resolve(&registries, &second, &moved).await;
        registries.remember(&first, &moved, &Digest::sha256_of(b"before the move"), 100);
        assert_eq!(registries.cached_digest(&moved).unwrap().0, newer);
        // Another generation's client is not remembered from.
        let stranger = Arc::new(Registry::new(server.settings()).unwrap());
        let other = format!("{}/app:other", server.host());
        resolve(&registries, &stranger, &other).await;
        assert!(registries.cached_digest(&other).is_none());
        drop(first);
        assert_eq!(registries.stats().requests, 4);
        assert!(registries.retired.lock().unwrap().1.is_empty());
        assert!(Arc::ptr_eq(&second, &registries.current(&log)));
        assert_eq!(registries.remembered(), 4);
    }

    /// A resolution is not answered past its client's `tag_ttl`, and the client that replaces
    /// an expired one drops them.
    #[tokio::test]
    async fn resolutions_expire_with_their_client() {
        let server = registry().await;
        let log = Log::new(LogFormat::Text);
        let registries =
            Registries::new(server.settings(), Duration::from_millis(200), None, 4096).unwrap();
        let client = registries.current(&log);
        let image = format!("{}/app:1", server.host());
        resolve(&registries, &client, &image).await;
        assert!(registries.cached_digest(&image).is_some());
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(registries.cached_digest(&image).is_none());
        assert!(!Arc::ptr_eq(&client, &registries.current(&log)));
        assert_eq!(registries.remembered(), 0);
    }
}
