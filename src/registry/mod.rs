//! Stage (3): registry facts. Resolves tags to digests over the OCI distribution API, or from
//! an OCI image layout on disk, and verifies every manifest body against its digest.
//!
//! [`Registry`] routes each host to its OCI layout ([`HostSettings::layout`]) or to HTTP (its
//! mirrors first, then the host), caches its answers for the life of the `Registry` (the
//! newest few thousand: a run of 10,000 images does not keep every body it read), and
//! coalesces concurrent identical lookups, so that each distinct reference costs one lookup.
//!
//! Requests per [`Registry::resolve`] (not counting authentication: a first bearer-protected
//! request per host costs a 401 and a token request, later scopes of that host a token
//! request up front, and a cached token nothing):
//!
//! * `repo:tag`, single manifest or index: **1** — a `GET` of the manifest. A `HEAD` would
//!   save a few kilobytes for a single manifest but cost a second request for every index
//!   (whose platforms we must list), and a digest from a `HEAD` is the registry's word
//!   only; the `GET` body is hashed and checked against `Docker-Content-Digest`.
//! * `repo@digest`: **1** — a `GET` by digest; the body must hash to the digest written.
//! * `repo:tag@digest`: **2** — a `GET` by digest (verified) and a `HEAD` of the tag for
//!   [`Resolved::tag_digest`] (there the body is not needed; when the `HEAD` fails or has no
//!   usable `Docker-Content-Digest`, a `GET` whose body is hashed instead).
//!
//! A digest learnt from a tag `GET` also fills the by-digest cache, so pinning a reference
//! that was resolved by tag before, or fetching its manifest again, costs nothing.
//!
//! Requests per [`Registry::referrers`]: **1** where the registry has the referrers API (more
//! only when it pages its answer); on a registry without it (a 404: Debian's
//! `docker-registry` 2.8 answers `404 page not found` in `text/plain`) **2** for the first
//! digest of a host — the API's 404, then the referrers tag `sha256-<hex>` — and **1** (the
//! tag) for every later digest of that host, which is remembered to have no API.

mod auth;
mod cache;
mod credentials;
mod error;
mod http;
mod layout;
mod media;
mod referrers;
mod store;
#[cfg(test)]
pub(crate) mod testserver;
mod types;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::errors::Chain;
use crate::reference::{Digest, ImageRef};
use cache::{key, Cache, Key, Reference};
pub use error::RegistryError;
pub use store::{Object, Store, StoredReferrer};
pub use types::{
    Descriptor, HostSettings, ImageManifest, Manifest, Platform, Referrer, ReferrerSource,
    RegistrySettings, Resolved, Stats,
};

/// Manifests (and tag answers) one client keeps at most: room for the lookups of the images
/// in flight (`gate` runs a few hundred at a time, each reading its image manifest and its
/// `.sig` and `.att` manifests), not for every image of a run of 10,000 ([`Cache`]).
const CACHED_MANIFESTS: usize = 4096;
/// Blobs (signature payloads, attestation envelopes) and referrers listings one client keeps
/// at most: fewer, as an envelope can be large.
const CACHED_BLOBS: usize = 1024;

/// Where one image's facts come from.
enum Source<'a> {
    /// A store being replayed (an evidence lock): nothing else, no network.
    Replay(&'a Store),
    Layout(&'a Path),
    Network,
}

/// Who asks for a manifest by tag: resolving an image reference (always the registry), or
/// discovery, for a tag derived from a digest (the verification cache may answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ask {
    Resolution,
    Derived,
}

/// Answers kept across runs (the verification cache), consulted before the network. Whatever
/// it gives is checked as a network answer is: objects against their digest, signatures and
/// attestations by the verify stage.
pub trait Recall: Send + Sync + std::fmt::Debug {
    /// The object named `digest`, if kept (unchecked: the registry checks it).
    fn object(&self, digest: &Digest) -> Option<Object>;
    /// The kept answer for `image`'s `tag`: `Some(Some(digest))`, `Some(None)` for "no such
    /// tag", `None` when nothing is kept (ask the registry). Only tags derived from a digest
    /// (`sha256-<hex>.sig`, `.att`, the referrers tag) are ever kept.
    fn tag(&self, image: &ImageRef, tag: &str) -> Option<Option<Digest>>;
    /// The kept referrers listing of `digest`, if any.
    fn referrers(&self, image: &ImageRef, digest: &Digest) -> Option<Vec<Referrer>>;
}

/// The one client every stage uses: network hosts and OCI layouts behind one API, with a cache.
///
/// Answers (errors too) are cached for the life of the `Registry` (at most
/// [`CACHED_MANIFESTS`] manifests, [`CACHED_BLOBS`] blobs; the oldest go first): make one per
/// evaluation, not one per process of a long-running server, or tags would never move.
pub struct Registry {
    settings: RegistrySettings,
    http: http::Http,
    manifests: Cache<Key, Manifest>,
    tags: Cache<Key, Digest>,
    blobs: Cache<(Key, usize), Vec<u8>>,
    referrers: Cache<Key, Vec<Referrer>>,
    /// Where the referrers API is known to be missing, for this run: endpoint hosts that
    /// answered it with a router's plain 404 (`host`), and repositories whose 404 was a
    /// registry error about the repository (`host/repository`); see `http::NotFoundScope`.
    without_referrers_api: Mutex<HashSet<String>>,
    /// Per endpoint host, and per repository of a host (`host/repository`), held by the
    /// first referrers request until that host (repository) has answered once, so that
    /// concurrent lookups learn from the answer instead of each probing the API.
    referrers_probes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The keys of `referrers_probes` that have answered.
    referrers_answered: Mutex<HashSet<String>>,
    cache_hits: AtomicU64,
    /// What was fetched and verified (for an evidence lock, or the verification cache).
    recorder: Option<Mutex<Store>>,
    /// Answers come from this store only (replaying an evidence lock).
    replay: Option<Arc<Store>>,
    /// Answers kept across runs, asked before the network.
    recall: Option<Arc<dyn Recall>>,
    /// Answers taken from `recall`.
    recalled: AtomicU64,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials and tokens stay out: only the settings and counters are shown.
        f.debug_struct("Registry")
            .field("settings", &self.settings)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Builds the client (reads docker credentials lazily, on first use per host).
    pub fn new(settings: RegistrySettings) -> Result<Self, RegistryError> {
        Ok(Self {
            http: http::Http::new(&settings)?,
            settings,
            manifests: Cache::new(CACHED_MANIFESTS),
            tags: Cache::new(CACHED_MANIFESTS),
            blobs: Cache::new(CACHED_BLOBS),
            referrers: Cache::new(CACHED_BLOBS),
            without_referrers_api: Mutex::new(HashSet::new()),
            referrers_probes: Mutex::new(HashMap::new()),
            referrers_answered: Mutex::new(HashSet::new()),
            cache_hits: AtomicU64::new(0),
            recorder: None,
            replay: None,
            recall: None,
            recalled: AtomicU64::new(0),
        })
    }

    /// This client, recording every answer it fetches and verifies (manifests, tags, blobs,
    /// referrers listings, and which tags were not found) into a [`Store`]; see
    /// [`Registry::take_recording`].
    #[must_use]
    pub fn with_recorder(mut self) -> Self {
        self.recorder = Some(Mutex::new(Store::default()));
        self
    }

    /// This client, asking `recall` (the verification cache) before the network.
    #[must_use]
    pub fn with_recall(mut self, recall: Arc<dyn Recall>) -> Self {
        self.recall = Some(recall);
        self
    }

    /// A client that answers from `store` only (replaying an evidence lock) and never touches
    /// the network or a layout: a tag, manifest, blob or referrers listing missing from the
    /// store is not found, and every object is checked against its digest as a network
    /// answer would be.
    pub fn replaying(
        mut settings: RegistrySettings,
        store: Arc<Store>,
    ) -> Result<Self, RegistryError> {
        settings.offline = true;
        let mut registry = Self::new(settings)?;
        registry.replay = Some(store);
        Ok(registry)
    }

    /// What was recorded so far (empty without [`Registry::with_recorder`]); the recorder
    /// starts afresh.
    pub fn take_recording(&self) -> Store {
        self.recorder
            .as_ref()
            .map(|r| std::mem::take(&mut *r.lock().unwrap_or_else(PoisonError::into_inner)))
            .unwrap_or_default()
    }

    fn record(&self, f: impl FnOnce(&mut Store)) {
        if let Some(recorder) = &self.recorder {
            f(&mut recorder.lock().unwrap_or_else(PoisonError::into_inner));
        }
    }

    fn record_manifest(&self, image: &ImageRef, reference: &Reference, manifest: &Manifest) {
        self.record(|r| {
            if let Reference::Tag(tag) = reference {
                r.insert_tag(image, tag, &manifest.digest);
            }
            r.insert_object(&manifest.digest, Some(&manifest.media_type), &manifest.body);
        });
    }

    /// Records a "not found" answer for a tag.
    fn record_missing(&self, image: &ImageRef, reference: &Reference) {
        if let Reference::Tag(tag) = reference {
            self.record(|r| r.insert_missing_tag(image, tag));
        }
    }

    /// `recall`'s object named `digest`, checked against it; `None` when it has none that
    /// checks (a bad one is reported and ignored).
    fn recalled_object(&self, image: &ImageRef, digest: &Digest, limit: usize) -> Option<Object> {
        let object = self.recall.as_ref()?.object(digest)?;
        let actual = digest.same_algorithm_of(&object.data);
        if actual != *digest || object.data.len() > limit {
            tracing::warn!(
                "{image}: the verification cache's copy of `{digest}` does not match it or is \
                 too large; ignored"
            );
            return None;
        }
        self.recalled.fetch_add(1, Ordering::Relaxed);
        Some(object)
    }

    /// The digest `tag` of `image`'s repository points to now (a `HEAD`, or a verified `GET`
    /// when the `HEAD` has no usable digest); cached like every answer.
    pub async fn tag_digest(&self, image: &ImageRef, tag: &str) -> Result<Digest, RegistryError> {
        match Reference::parse(tag) {
            Some(Reference::Tag(_)) => self.cached_tag_digest(image, tag).await,
            // Not a tag: nothing to ask.
            _ => Err(RegistryError::NotFound {
                image: image.to_string(),
            }),
        }
    }

    /// Resolves a reference to its digest (tag -> digest; a pinned reference is fetched by
    /// digest and verified, and its tag, if any, is looked up too for drift), with platforms.
    pub async fn resolve(&self, image: &ImageRef) -> Result<Resolved, RegistryError> {
        let (manifest, tag_digest) = match (image.digest(), image.tag()) {
            (None, _) => {
                let tag = image.tag_or_default().unwrap_or("latest").to_owned();
                (
                    self.cached_manifest(image, Reference::Tag(tag), Ask::Resolution)
                        .await?,
                    None,
                )
            }
            (Some(digest), None) => {
                let reference = Reference::Digest(digest.clone());
                (
                    self.cached_manifest(image, reference, Ask::Resolution)
                        .await?,
                    None,
                )
            }
            (Some(digest), Some(tag)) => {
                let reference = Reference::Digest(digest.clone());
                let (manifest, tag_digest) = tokio::join!(
                    self.cached_manifest(image, reference, Ask::Resolution),
                    self.cached_tag_digest(image, tag)
                );
                let tag_digest = match tag_digest {
                    Ok(digest) => Some(digest),
                    // The pinned digest is what runs; a deleted tag is no reason to fail.
                    Err(RegistryError::NotFound { .. }) => None,
                    Err(e) => {
                        manifest?;
                        return Err(e);
                    }
                };
                (manifest?, tag_digest)
            }
        };
        let parsed = media::parse_manifest(&manifest.body, Some(&manifest.media_type))
            .map_err(|reason| invalid(&image.to_string(), reason))?;
        Ok(Resolved {
            digest: manifest.digest,
            media_type: parsed.media_type,
            platforms: parsed.platforms,
            tag_digest,
        })
    }

    /// Fetches a manifest by tag or digest and verifies the body against the digest. A tag is
    /// always asked of the registry (never of the verification cache).
    pub async fn manifest(
        &self,
        image: &ImageRef,
        reference: &str,
    ) -> Result<Manifest, RegistryError> {
        self.manifest_as(image, reference, Ask::Resolution).await
    }

    /// [`Registry::manifest`] for a tag that discovery derives from a digest
    /// (`sha256-<hex>.sig`, `.att`): the one kind of tag the verification cache may answer.
    /// Never for the tag an image reference names, even one spelled like a derived tag.
    pub async fn derived_manifest(
        &self,
        image: &ImageRef,
        tag: &str,
    ) -> Result<Manifest, RegistryError> {
        self.manifest_as(image, tag, Ask::Derived).await
    }

    async fn manifest_as(
        &self,
        image: &ImageRef,
        reference: &str,
        ask: Ask,
    ) -> Result<Manifest, RegistryError> {
        let Some(reference) = Reference::parse(reference) else {
            // Neither a tag nor a digest can name nothing in any registry: no request.
            tracing::debug!("{image}: `{reference}` is neither a tag nor a digest");
            return Err(RegistryError::NotFound {
                image: image.to_string(),
            });
        };
        self.cached_manifest(image, reference, ask).await
    }

    /// Fetches a blob and verifies it against its digest; refuses more than `max_bytes`.
    pub async fn blob(
        &self,
        image: &ImageRef,
        digest: &Digest,
        max_bytes: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let cache_key = (key(image, &digest.to_string()), max_bytes);
        self.blobs
            .get_or_fetch(cache_key, &self.cache_hits, || async {
                let body = self.fetch_blob(image, digest, max_bytes).await?;
                self.record(|r| r.insert_object(digest, None, &body));
                Ok(body)
            })
            .await
    }

    /// The manifests that refer to `digest` in `image`'s repository (OCI distribution 1.1):
    /// from the referrers API, or, where the registry has none (a 404), from the referrers tag
    /// schema (`sha256-<hex>`; absent: no referrers). An OCI layout uses the tag schema and
    /// also lists the manifests of its `index.json` whose `subject` is `digest`.
    ///
    /// Every answer must be an OCI image index within the manifest size limit. The listing is
    /// not content-addressed: fetch each referrer by its digest (verified) before use.
    pub async fn referrers(
        &self,
        image: &ImageRef,
        digest: &Digest,
    ) -> Result<Vec<Referrer>, RegistryError> {
        // A space never appears in a tag or a digest: no clash with manifest keys.
        let cache_key = key(image, &format!("referrers {digest}"));
        self.referrers
            .get_or_fetch(cache_key, &self.cache_hits, || async {
                let found = self.fetch_referrers(image, digest).await?;
                self.record(|r| r.insert_referrers(image, digest, &found));
                Ok(found)
            })
            .await
    }

    /// Request and cache counters so far.
    pub fn stats(&self) -> Stats {
        Stats {
            requests: self.http.requests(),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
        }
    }

    /// Answers this client holds in its caches now (manifests, tags, blobs, referrers
    /// listings, errors too): a long-lived user (the webhook) replaces a client that holds
    /// too many, since nothing here expires (each cache only drops its oldest answers beyond
    /// [`CACHED_MANIFESTS`] or [`CACHED_BLOBS`]).
    pub fn cached_answers(&self) -> usize {
        self.manifests.len() + self.tags.len() + self.blobs.len() + self.referrers.len()
    }

    /// Answers taken from the verification cache ([`Registry::with_recall`]) so far.
    pub fn recalled(&self) -> u64 {
        self.recalled.load(Ordering::Relaxed)
    }

    /// The verification cache's referrers listing of `digest`, if it keeps one.
    fn recalled_referrers(&self, image: &ImageRef, digest: &Digest) -> Option<Vec<Referrer>> {
        let found = self.recall.as_ref()?.referrers(image, digest)?;
        self.recalled.fetch_add(1, Ordering::Relaxed);
        Some(found)
    }

    fn source(&self, image: &ImageRef) -> Result<Source<'_>, RegistryError> {
        if let Some(store) = &self.replay {
            return Ok(Source::Replay(store));
        }
        let host = self
            .settings
            .hosts
            .get(image.registry())
            .or_else(|| self.settings.hosts.get(image.api_host()));
        if let Some(layout) = host.and_then(|h| h.layout.as_deref()) {
            return Ok(Source::Layout(layout));
        }
        if self.settings.offline {
            return Err(RegistryError::Offline {
                image: image.to_string(),
                host: image.registry().to_owned(),
            });
        }
        Ok(Source::Network)
    }

    async fn cached_manifest(
        &self,
        image: &ImageRef,
        reference: Reference,
        ask: Ask,
    ) -> Result<Manifest, RegistryError> {
        // A derived tag lookup that the verification cache may answer never shares its
        // in-run answer with the resolution of an image tag spelled the same (a space never
        // appears in a tag or a digest: no clash).
        let cache_key = match (&reference, ask, &self.recall) {
            (Reference::Tag(tag), Ask::Derived, Some(_)) => key(image, &format!("derived {tag}")),
            _ => key(image, &reference.to_string()),
        };
        self.manifests
            .get_or_fetch(cache_key, &self.cache_hits, || {
                self.fetch_manifest(image, reference, ask)
            })
            .await
    }

    async fn fetch_manifest(
        &self,
        image: &ImageRef,
        reference: Reference,
        ask: Ask,
    ) -> Result<Manifest, RegistryError> {
        let limit = self.settings.max_manifest_bytes;
        let name = image.to_string();
        let manifest = match self.source(image)? {
            Source::Replay(store) => {
                let not_found = || RegistryError::NotFound {
                    image: name.clone(),
                };
                let digest = match &reference {
                    Reference::Tag(tag) => store.tag(image, tag).ok_or_else(not_found)?,
                    Reference::Digest(digest) => digest,
                };
                let object = store
                    .object_verified(image, digest, limit)?
                    .ok_or_else(not_found)?;
                verify_manifest(
                    &name,
                    Some(digest),
                    None,
                    object.data.clone(),
                    object.media_type.as_deref(),
                )?
            }
            Source::Layout(root) => {
                let found = match &reference {
                    Reference::Tag(tag) => layout::tagged_manifest(root, image, tag, limit).await?,
                    Reference::Digest(digest) => layout::blob(root, image, digest, limit).await?,
                };
                verify_manifest(
                    &name,
                    Some(&found.digest),
                    None,
                    found.body,
                    found.media_type.as_deref(),
                )?
            }
            Source::Network => {
                // An image's own tag is always asked: only digests and derived tags may come
                // from the verification cache.
                let may_recall = ask == Ask::Derived || reference.digest().is_some();
                match may_recall
                    .then(|| self.recalled_manifest(image, &reference))
                    .flatten()
                {
                    Some(Ok(manifest)) => {
                        // Kept in the recording (an evidence lock holds what was used); the
                        // cache keeps the time the registry gave it, not now. Not shared
                        // with in-run tag resolutions.
                        self.record_manifest(image, &reference, &manifest);
                        return Ok(manifest);
                    }
                    Some(Err(e)) => {
                        self.record_missing(image, &reference);
                        return Err(e);
                    }
                    None => return self.network_fetch_manifest(image, &reference).await,
                }
            }
        };
        self.remember(image, &reference, &manifest);
        self.record_manifest(image, &reference, &manifest);
        Ok(manifest)
    }

    /// The verification cache's answer for a manifest: by digest, any object it keeps that
    /// checks; by tag, only a tag it keeps an answer for (a "no such tag" is `NotFound`).
    fn recalled_manifest(
        &self,
        image: &ImageRef,
        reference: &Reference,
    ) -> Option<Result<Manifest, RegistryError>> {
        let recall = self.recall.as_ref()?;
        let name = image.to_string();
        let digest = match reference {
            Reference::Digest(digest) => digest.clone(),
            Reference::Tag(tag) => match recall.tag(image, tag)? {
                Some(digest) => digest,
                None => {
                    self.recalled.fetch_add(1, Ordering::Relaxed);
                    return Some(Err(RegistryError::NotFound { image: name }));
                }
            },
        };
        let object = self.recalled_object(image, &digest, self.settings.max_manifest_bytes)?;
        match verify_manifest(
            &name,
            Some(&digest),
            None,
            object.data,
            object.media_type.as_deref(),
        ) {
            Ok(manifest) => Some(Ok(manifest)),
            Err(e) => {
                tracing::warn!(
                    "{name}: the verification cache's `{digest}` is unusable: {}",
                    Chain(&e)
                );
                None
            }
        }
    }

    async fn network_fetch_manifest(
        &self,
        image: &ImageRef,
        reference: &Reference,
    ) -> Result<Manifest, RegistryError> {
        let name = image.to_string();
        let mut last = None;
        for endpoint in self.http.endpoints(image)? {
            match self
                .network_manifest(&name, &endpoint, image, reference)
                .await
            {
                Ok(manifest) => {
                    self.remember(image, reference, &manifest);
                    self.record_manifest(image, reference, &manifest);
                    return Ok(manifest);
                }
                // Tampering is a finding, not a reason to ask elsewhere.
                Err(e @ RegistryError::DigestMismatch { .. }) => return Err(e),
                Err(e) => {
                    tracing::debug!("{name}: from `{}`: {}", endpoint.host(), Chain(&e));
                    // A definite "not there" from one endpoint says more than a transport
                    // failure at another (a mirror in front of an unreachable upstream);
                    // both block.
                    if !matches!(last, Some(RegistryError::NotFound { .. })) {
                        last = Some(e);
                    }
                }
            }
        }
        if let Some(RegistryError::NotFound { .. }) = last {
            self.record_missing(image, reference);
        }
        Err(last.unwrap_or_else(|| no_endpoint(&name)))
    }

    /// A manifest fetched by tag answers the tag's digest and the digest's manifest too.
    fn remember(&self, image: &ImageRef, reference: &Reference, manifest: &Manifest) {
        if let Reference::Tag(tag) = reference {
            self.tags.fill(key(image, tag), manifest.digest.clone());
            self.manifests
                .fill(key(image, &manifest.digest.to_string()), manifest.clone());
        }
    }

    async fn network_manifest(
        &self,
        name: &str,
        endpoint: &http::Endpoint,
        image: &ImageRef,
        reference: &Reference,
    ) -> Result<Manifest, RegistryError> {
        let fetched = self
            .http
            .get_manifest(
                name,
                endpoint,
                image.repository(),
                &reference.to_string(),
                self.settings.max_manifest_bytes,
            )
            .await?;
        let announced = fetched
            .announced_digest()
            .map_err(|reason| RegistryError::invalid_response(name, reason))?;
        let content_type = fetched.header("content-type").map(str::to_owned);
        verify_manifest(
            name,
            reference.digest(),
            announced.as_ref(),
            fetched.body,
            content_type.as_deref(),
        )
    }

    async fn cached_tag_digest(
        &self,
        image: &ImageRef,
        tag: &str,
    ) -> Result<Digest, RegistryError> {
        self.tags
            .get_or_fetch(key(image, tag), &self.cache_hits, || async {
                let digest = self.fetch_tag_digest(image, tag).await?;
                self.record(|r| r.insert_tag(image, tag, &digest));
                Ok(digest)
            })
            .await
    }

    /// A tag's digest without its body: `HEAD`, or a verified `GET` when the `HEAD` fails or
    /// has no usable `Docker-Content-Digest`.
    async fn fetch_tag_digest(&self, image: &ImageRef, tag: &str) -> Result<Digest, RegistryError> {
        match self.source(image)? {
            Source::Replay(store) => {
                return store
                    .tag(image, tag)
                    .cloned()
                    .ok_or_else(|| RegistryError::NotFound {
                        image: image.to_string(),
                    })
            }
            Source::Layout(root) => return Ok(layout::tag_digest(root, image, tag).await?.0),
            Source::Network => {}
        }
        let name = image.to_string();
        let reference = Reference::Tag(tag.to_owned());
        let mut last = None;
        for endpoint in self.http.endpoints(image)? {
            let head = self
                .http
                .head_manifest(&name, &endpoint, image.repository(), tag)
                .await;
            match head {
                Ok(fetched) => {
                    if let Ok(Some(digest)) = fetched.announced_digest() {
                        return Ok(digest);
                    }
                }
                Err(
                    e @ (RegistryError::NotFound { .. }
                    | RegistryError::Unauthorized { .. }
                    | RegistryError::Timeout { .. }
                    | RegistryError::NotAllowed { .. }),
                ) => {
                    tracing::debug!("{name}: `HEAD` at `{}`: {}", endpoint.host(), Chain(&e));
                    last = Some(e);
                    continue;
                }
                Err(e) => tracing::debug!("{name}: `HEAD` failed, trying `GET`: {}", Chain(&e)),
            }
            match self
                .network_manifest(&name, &endpoint, image, &reference)
                .await
            {
                Ok(manifest) => {
                    let digest = manifest.digest.clone();
                    self.record_manifest(image, &reference, &manifest);
                    self.manifests
                        .fill(key(image, &digest.to_string()), manifest);
                    return Ok(digest);
                }
                Err(e @ RegistryError::DigestMismatch { .. }) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| no_endpoint(&name)))
    }

    async fn fetch_blob(
        &self,
        image: &ImageRef,
        digest: &Digest,
        max_bytes: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let name = image.to_string();
        match self.source(image)? {
            Source::Replay(store) => {
                return store
                    .object_verified(image, digest, max_bytes)?
                    .map(|object| object.data.clone())
                    .ok_or(RegistryError::NotFound { image: name });
            }
            Source::Layout(root) => {
                return Ok(layout::blob(root, image, digest, max_bytes).await?.body)
            }
            Source::Network => {
                if let Some(object) = self.recalled_object(image, digest, max_bytes) {
                    return Ok(object.data);
                }
            }
        }
        let mut last = None;
        for endpoint in self.http.endpoints(image)? {
            let outcome = self
                .http
                .get_blob(&name, &endpoint, image.repository(), digest, max_bytes)
                .await;
            match outcome {
                Ok(body) => {
                    let actual = digest.same_algorithm_of(&body);
                    if actual != *digest {
                        return Err(RegistryError::DigestMismatch {
                            image: name,
                            expected: digest.clone(),
                            actual,
                        });
                    }
                    return Ok(body);
                }
                Err(e) => {
                    tracing::debug!("{name}: blob from `{}`: {}", endpoint.host(), Chain(&e));
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| no_endpoint(&name)))
    }
}

/// Checks `body` against the digest asked for and the one announced, then reads it.
fn verify_manifest(
    name: &str,
    requested: Option<&Digest>,
    announced: Option<&Digest>,
    body: Vec<u8>,
    content_type: Option<&str>,
) -> Result<Manifest, RegistryError> {
    for expected in [requested, announced].into_iter().flatten() {
        let actual = expected.same_algorithm_of(&body);
        if actual != *expected {
            return Err(RegistryError::DigestMismatch {
                image: name.to_owned(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    let digest = requested
        .or(announced)
        .cloned()
        .unwrap_or_else(|| Digest::sha256_of(&body));
    let parsed =
        media::parse_manifest(&body, content_type).map_err(|reason| invalid(name, reason))?;
    Ok(Manifest {
        digest,
        media_type: parsed.media_type,
        body,
    })
}

/// An invalid response about `name`: `why`'s reason in the message, its cause as the source.
fn invalid(name: &str, why: media::Invalid) -> RegistryError {
    RegistryError::invalid_response(name, why.reason).caused_by(why.source)
}

fn no_endpoint(name: &str) -> RegistryError {
    RegistryError::unavailable(name.to_owned(), "no registry endpoint to ask".to_owned())
}

#[cfg(test)]
mod tests;
