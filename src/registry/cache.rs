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
pub(super) struct Cache<K, V> {
    cells: Mutex<HashMap<K, Cell<V>>>,
}

/// One cached answer, shared by everyone who asked for it.
type Cell<V> = Arc<OnceCell<Result<V, RegistryError>>>;

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    pub(super) fn new() -> Self {
        Self {
            cells: Mutex::new(HashMap::new()),
        }
    }

    fn cell(&self, key: K) -> Cell<V> {
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(cells.entry(key).or_default())
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
            .len()
    }

    /// Records an answer learnt on the way (a tag's digest); a lookup in flight keeps its own.
    pub(super) fn fill(&self, key: K, value: V) {
        let _ = self.cell(key).set(Ok(value));
    }
}
