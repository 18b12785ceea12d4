//! The per-image decision cache: one verified [`ImageReport`] per image site, keyed by the
//! resolved digest and everything about the site that the policy input contains, with a TTL
//! (shorter for denials; could-not-decide answers are not kept). Concurrent lookups of one key
//! share one evaluation: a hundred pods of a new image cause one verification.
//!
//! A cache belongs to one policy/trust generation: a reload (SIGHUP) starts an empty one.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::Digest as _;
use tokio::sync::OnceCell;

use super::metrics::Lookup;
use crate::manifest::ImageSite;
use crate::report::{Code, Decision, ImageReport};

/// What a cached decision is valid for: the image as written, the digest it resolved to,
/// and a hash of everything else about the site that the policy input holds (the object's
/// kind, namespace, name, labels and annotations, the container and its path). A hundred
/// pods of one ReplicaSet (same template, `generateName`) share one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    image: String,
    digest: String,
    site: [u8; 32],
}

impl Key {
    pub(crate) fn new(site: &ImageSite, digest: String) -> Self {
        let r = &site.resource;
        let context = serde_json::json!([
            r.api_version,
            r.kind,
            r.namespace,
            r.name,
            r.labels,
            r.annotations,
            site.container,
            site.container_kind,
            site.path,
        ]);
        Self {
            image: site.image.clone(),
            digest,
            site: sha2::Sha256::digest(context.to_string().as_bytes()).into(),
        }
    }
}

/// How long answers are kept, and how many.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// How long an allow is reused.
    pub ttl: Duration,
    /// How long a deny is reused (shorter: a fix should show up soon).
    pub negative_ttl: Duration,
    /// Most entries kept; beyond it expired entries are dropped first, then arbitrary ones.
    pub max_entries: usize,
}

/// One cached answer.
#[derive(Debug, Clone)]
struct Cached {
    report: Arc<ImageReport>,
    expires: Instant,
}

type Slot = Arc<OnceCell<Cached>>;

/// Per-image decisions keyed by `K`.
#[derive(Debug)]
pub(crate) struct DecisionCache<K> {
    slots: Mutex<HashMap<K, Slot>>,
    settings: CacheSettings,
}

impl<K: Eq + Hash + Clone> DecisionCache<K> {
    pub(crate) fn new(settings: CacheSettings) -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            settings,
        }
    }

    /// Entries held now (fresh or not yet purged).
    pub(crate) fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The cached report for `key`, or the one `evaluate` produces; callers that arrive while
    /// an evaluation of `key` is running wait for it instead of starting their own.
    pub(crate) async fn get_or_evaluate<F, Fut>(
        &self,
        key: K,
        evaluate: F,
    ) -> (Arc<ImageReport>, Lookup)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ImageReport>,
    {
        let slot = self.slot(key);
        if let Some(cached) = slot.get() {
            return (Arc::clone(&cached.report), Lookup::Hit);
        }
        let ran = AtomicBool::new(false);
        let cached = slot
            .get_or_init(|| async {
                ran.store(true, Ordering::Relaxed);
                let report = evaluate().await;
                let overridden = report
                    .findings
                    .iter()
                    .any(|f| matches!(f.code, Code::Exemption | Code::BreakGlass));
                let ttl = match report.decision() {
                    // An exemption expires at a time of its own: never let a cached allow
                    // outlive it.
                    Decision::Allow if overridden => Duration::ZERO,
                    Decision::Allow => self.settings.ttl,
                    Decision::Deny => self.settings.negative_ttl,
                    // Could not decide: shared with the callers waiting now, never reused.
                    Decision::Error => Duration::ZERO,
                };
                Cached {
                    report: Arc::new(report),
                    expires: Instant::now() + ttl,
                }
            })
            .await;
        let lookup = if ran.load(Ordering::Relaxed) {
            Lookup::Miss
        } else {
            Lookup::Coalesced
        };
        (Arc::clone(&cached.report), lookup)
    }

    /// The slot for `key`: the existing one unless its answer has expired.
    fn slot(&self, key: K) -> Slot {
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(&key) {
            // An empty slot is an evaluation in flight: join it.
            if slot.get().is_none_or(|c| c.expires > now) {
                return Arc::clone(slot);
            }
        }
        if slots.len() >= self.settings.max_entries {
            slots.retain(|_, s| s.get().is_none_or(|c| c.expires > now));
            // Still full of fresh answers: drop some. Which ones matters little; the bound does.
            let excess = slots.len().saturating_sub(self.settings.max_entries / 2);
            if excess > 0 {
                let victims: Vec<K> = slots.keys().take(excess).cloned().collect();
                for k in victims {
                    slots.remove(&k);
                }
            }
        }
        let slot = Slot::default();
        slots.insert(key, Arc::clone(&slot));
        slot
    }
}
