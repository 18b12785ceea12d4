//! The in-process answer cache: each distinct lookup computed once, concurrent identical
//! lookups coalesced, and the keys it is indexed by.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use super::RegistryError;
use crate::reference::{Digest, ImageRef};

/// What a manifest lookup names: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    /// A digest, or a tag of the distribution grammar; `None` for anything else.
    pub(super) fn parse(s: &str) -> Option<Self> {
        if let Ok(digest) = Digest::parse(s) {
            return Some(Self::Digest(digest));
        }
        let mut bytes = s.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
        let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        (first_ok && rest_ok && s.len() <= 128).then(|| Self::Tag(s.to_owned()))
    }

    pub(super) fn digest(&self) -> Option<&Digest> {
        match self {
            Self::Tag(_) => None,
            Self::Digest(d) => Some(d),
        }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tag(tag) => f.write_str(tag),
            Self::Digest(digest) => write!(f, "{digest}"),
        }
    }
}

/// Cache key: registry, repository, tag or digest.
pub(super) type Key = (String, String, String);

pub(super) fn key(image: &ImageRef, reference: &str) -> Key {
    (
        image.registry().to_owned(),
        image.repository().to_owned(),
        reference.to_owned(),
    )
}

/// Answers per key, errors included, each computed once: concurrent callers of one key wait
/// for the first one's answer instead of sending their own requests.
///
/// At most about `limit` answers are kept: past it, the older half of the settled ones is
/// dropped (a lookup in flight never is), so that a run of 10,000 images does not hold every
/// manifest and blob it read until it ends. A dropped answer asked for again is fetched and
/// verified again, as the first time: the newest answers, where the lookups of the images in
/// flight meet, stay.
pub(super) struct Cache<K, V> {
    cells: Mutex<Cells<K, V>>,
    limit: usize,
}

/// The answers, each with the number of its insertion (older ones go first).
struct Cells<K, V> {
    map: HashMap<K, (u64, Cell<V>)>,
    next: u64,
}

/// One cached answer, shared by everyone who asked for it.
type Cell<V> = Arc<OnceCell<Result<V, RegistryError>>>;

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    /// A cache keeping about `limit` answers at most.
    pub(super) fn new(limit: usize) -> Self {
        Self {
            cells: Mutex::new(Cells {
                map: HashMap::new(),
                next: 0,
            }),
            limit: limit.max(2),
        }
    }

    fn cell(&self, key: K) -> Cell<V> {
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        let Cells { map, next } = &mut *cells;
        if let Some((_, cell)) = map.get(&key) {
            return Arc::clone(cell);
        }
        if map.len() >= self.limit {
            let cutoff = next.saturating_sub(self.limit as u64 / 2);
            map.retain(|_, (n, cell)| *n >= cutoff || !cell.initialized());
        }
        let cell = Cell::default();
        map.insert(key, (*next, Arc::clone(&cell)));
        *next += 1;
        cell
    }

    pub(super) async fn get_or_fetch<F, Fut>(
        &self,
        key: K,
        hits: &AtomicU64,
        fetch: F,
    ) -> Result<V, RegistryError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, RegistryError>>,
    {
        let cell = self.cell(key);
        let fetched = AtomicBool::new(false);
        let answer = cell
            .get_or_init(|| async {
                fetched.store(true, Ordering::Relaxed);
                fetch().await
            })
            .await
            .clone();
        if !fetched.load(Ordering::Relaxed) {
            hits.fetch_add(1, Ordering::Relaxed);
        }
        answer
    }

    /// Answers held (looked up or being looked up).
    pub(super) fn len(&self) -> usize {
        self.cells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }

    /// Records an answer learnt on the way (a tag's digest); a lookup in flight keeps its own.
    pub(super) fn fill(&self, key: K, value: V) {
        let _ = self.cell(key).set(Ok(value));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn not_found() -> RegistryError {
        RegistryError::NotFound {
            image: "x".to_owned(),
        }
    }

    /// Past its limit the cache drops its oldest settled answers, never one being fetched;
    /// a dropped answer is fetched again when asked for, a kept one is not.
    #[tokio::test]
    async fn the_cache_keeps_its_newest_answers_and_every_lookup_in_flight() {
        let cache: Cache<u32, u32> = Cache::new(8);
        let hits = AtomicU64::new(0);
        // A lookup in flight from the start: its cell must survive every eviction.
        let pending = cache.cell(0);
        for k in 1..=20 {
            cache.fill(k, k);
        }
        let kept = cache.cells.lock().unwrap().map.len();
        assert!(kept <= 8, "{kept} answers kept");
        assert!(cache.cells.lock().unwrap().map.contains_key(&0));
        assert!(
            pending.set(Ok(0)).is_ok(),
            "the lookup in flight kept its own cell"
        );
        // The newest answer is served from the cache; the oldest is fetched again.
        let newest = cache.get_or_fetch(20, &hits, || async { Err(not_found()) });
        assert_eq!(newest.await.unwrap(), 20);
        assert_eq!(hits.load(Ordering::Relaxed), 1);
        let oldest = cache.get_or_fetch(1, &hits, || async { Ok(100) });
        assert_eq!(oldest.await.unwrap(), 100);
        assert_eq!(hits.load(Ordering::Relaxed), 1);
    }
}
