//! Stage (3): registry facts. Resolves tags to digests over the OCI distribution API, or from
//! an OCI image layout on disk, and verifies every manifest body against its digest.
//!
//! [`Registry`] routes each host to its OCI layout ([`HostSettings::layout`]) or to HTTP (its
//! mirrors first, then the host), caches every answer for the life of the `Registry`, and
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
mod credentials;
mod http;
mod layout;
mod media;
#[cfg(test)]
pub(crate) mod testserver;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::lock::{Lock, Recording};
use crate::reference::{Digest, ImageRef};

/// How one registry host is reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSettings {
    /// Plain HTTP allowed (and TLS certificate errors are NOT ignored: this only permits http).
    pub insecure: bool,
    /// Serve this host from an OCI image layout directory instead of the network.
    pub layout: Option<PathBuf>,
    /// Hosts tried first, in order, before this one (pull-through mirrors).
    pub mirrors: Vec<String>,
    /// Most requests in flight at once to this host; `None`: bounded only by
    /// [`RegistrySettings::concurrency`], which applies as well when this is set. Every request
    /// counts against the host it is sent to: a mirror's against the mirror's entry.
    pub concurrency: Option<usize>,
}

/// Registry access settings (validated config).
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// Per host (`ghcr.io`, `127.0.0.1:5000`, `docker.io`).
    pub hosts: BTreeMap<String, HostSettings>,
    /// Most requests in flight at once, over all hosts (a host's own
    /// [`HostSettings::concurrency`] applies as well).
    pub concurrency: usize,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of one request, headers and body.
    pub request_timeout: Duration,
    /// Retries after a 429 or 5xx (or a connection error), with backoff.
    pub retries: u32,
    /// Largest manifest accepted.
    pub max_manifest_bytes: usize,
    /// Where docker `config.json` is (`DOCKER_CONFIG`/config.json or ~/.docker/config.json when None).
    pub docker_config: Option<PathBuf>,
    /// Run only from OCI layouts; any host without a layout is an error (air-gapped).
    pub offline: bool,
    /// Where `docker-credential-<name>` helper programs are looked for; `None` searches
    /// `PATH`, as docker does. Tests point it at a temporary directory instead of changing
    /// `PATH`, which other tests running at the same time would see.
    pub credential_helper_dir: Option<PathBuf>,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            hosts: BTreeMap::new(),
            concurrency: 16,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            retries: 3,
            max_manifest_bytes: 4 * 1024 * 1024,
            docker_config: None,
            offline: false,
            credential_helper_dir: None,
        }
    }
}

/// One platform manifest of an image index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Platform {
    /// `linux`
    pub os: String,
    /// `amd64`
    pub architecture: String,
    /// `v8`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The platform manifest's digest.
    pub digest: Digest,
}

impl Platform {
    /// `os/architecture[/variant]`, or `(no platform)` for an index entry that names none.
    pub fn name(&self) -> String {
        if self.os.is_empty() && self.architecture.is_empty() {
            return "(no platform)".to_owned();
        }
        let mut name = format!("{}/{}", self.os, self.architecture);
        if let Some(v) = &self.variant {
            name.push('/');
            name.push_str(v);
        }
        name
    }
}

/// What the registry says about one reference.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resolved {
    /// The digest the reference resolves to (the one written, for a pinned reference).
    pub digest: Digest,
    /// The manifest's media type.
    pub media_type: String,
    /// For an index, each platform manifest; empty for a single manifest.
    pub platforms: Vec<Platform>,
    /// For `repo:tag@digest`: the digest the tag points to now, when it was looked up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_digest: Option<Digest>,
}

/// A manifest body fetched and checked against its digest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Its digest (verified: the body hashes to it).
    pub digest: Digest,
    /// The media type (from the body's `mediaType`, else the Content-Type).
    pub media_type: String,
    /// The raw body.
    pub body: Vec<u8>,
}

/// An OCI content descriptor: what a manifest's `layers`, `config` and `subject`, and an
/// index's `manifests`, name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Descriptor {
    /// `mediaType` of the content.
    pub media_type: String,
    /// The content's digest (a fetch by it is verified against it).
    pub digest: Digest,
    /// `size` in bytes, as written (not checked until the content is fetched).
    pub size: u64,
    /// `artifactType`, when written (referrers listings carry it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// `annotations` (empty when absent).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The fields of an image manifest (OCI or Docker schema 2) that attached artifacts use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageManifest {
    /// Its media type.
    pub media_type: String,
    /// `artifactType`, for an OCI artifact manifest.
    pub artifact_type: Option<String>,
    /// `config`.
    pub config: Descriptor,
    /// `layers`, in order.
    pub layers: Vec<Descriptor>,
    /// `subject`: the manifest this one is attached to (OCI 1.1), if any.
    pub subject: Option<Descriptor>,
    /// `annotations` of the manifest.
    pub annotations: BTreeMap<String, String>,
}

impl ImageManifest {
    /// The artifact type as the referrers API defines it: `artifactType`, else the config's
    /// media type.
    pub fn effective_artifact_type(&self) -> &str {
        self.artifact_type
            .as_deref()
            .unwrap_or(&self.config.media_type)
    }
}

/// How a referrer was found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "via", rename_all = "kebab-case")]
pub enum ReferrerSource {
    /// The registry's referrers API (`GET /v2/<repo>/referrers/<digest>`); for an OCI layout,
    /// a scan of its `index.json` for manifests whose `subject` is the digest (what the API
    /// would answer).
    Api,
    /// The referrers tag schema, for registries without the API: the index tagged
    /// `<alg>-<hex>` lists the referrers.
    Tag {
        /// The tag, e.g. `sha256-63a1…`.
        tag: String,
    },
}

/// One manifest that refers to a digest through its `subject`, as a referrers listing names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Referrer {
    /// The listing's descriptor of the referring manifest (its `artifactType` and annotations
    /// are the listing's word: read the manifest itself before trusting them).
    pub descriptor: Descriptor,
    /// Where the listing came from.
    pub source: ReferrerSource,
}

/// Referrers read at most per digest; more are left out with a warning.
const MAX_REFERRERS: usize = 1024;

/// Counters for the report and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// HTTP requests sent (including retries and token requests).
    pub requests: u64,
    /// Answers served from the in-process cache.
    pub cache_hits: u64,
}

/// Why the registry could not answer. Every variant is "could not decide", except
/// [`RegistryError::DigestMismatch`], which is a proof of tampering and denies outright.
///
/// `Clone`, because one answer (an error too) is shared by every caller of a coalesced lookup.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    /// The body does not hash to the digest that was asked for or announced.
    #[error("{image}: manifest body hashes to `{actual}`, but `{expected}` was expected")]
    DigestMismatch {
        /// The reference.
        image: String,
        /// The digest asked for or announced.
        expected: Digest,
        /// The body's digest.
        actual: Digest,
    },
    /// The tag or digest does not exist (404 / MANIFEST_UNKNOWN).
    #[error("{image}: not found in the registry")]
    NotFound {
        /// The reference.
        image: String,
    },
    /// Credentials missing or refused.
    #[error("{image}: the registry refused access ({status})")]
    Unauthorized {
        /// The reference.
        image: String,
        /// The HTTP status.
        status: u16,
    },
    /// Manifest larger than the limit.
    #[error("{image}: manifest is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The reference.
        image: String,
        /// The limit.
        limit: usize,
    },
    /// A response that is not what the API promises (bad JSON, bad header, unknown media type).
    #[error("{image}: invalid registry response: {reason}")]
    InvalidResponse {
        /// The reference.
        image: String,
        /// What is wrong.
        reason: String,
    },
    /// Timed out (after retries).
    #[error("{image}: the registry did not answer within {seconds}s")]
    Timeout {
        /// The reference.
        image: String,
        /// The timeout that ran out.
        seconds: u64,
    },
    /// Any other HTTP or transport failure (after retries).
    #[error("{image}: {reason}")]
    Unavailable {
        /// The reference.
        image: String,
        /// What happened, e.g. `HTTP 503 after 3 retries` or `connection refused`.
        reason: String,
    },
    /// Offline (`--offline`, `network.offline`) and no OCI layout is configured for the host:
    /// there is nowhere to read the image from.
    #[error("{image}: offline, and no OCI layout is configured for host `{host}`")]
    Offline {
        /// The reference.
        image: String,
        /// The registry host that has no layout.
        host: String,
    },
    /// Plain HTTP to a host not marked insecure.
    #[error("{image}: {reason}")]
    NotAllowed {
        /// The reference.
        image: String,
        /// What is not allowed and how to allow it.
        reason: String,
    },
    /// An OCI layout could not be read.
    #[error("{path}: {reason}")]
    Layout {
        /// The layout directory or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl Manifest {
    /// Reads this manifest as an image manifest (layers, annotations, `subject`); an index
    /// or a body without a valid `config` is an invalid response.
    pub fn image_manifest(&self, image: &ImageRef) -> Result<ImageManifest, RegistryError> {
        media::parse_image_manifest(&self.body, &self.media_type)
            .map_err(|reason| invalid(&image.to_string(), format!("`{}`: {reason}", self.digest)))
    }
}

impl RegistryError {
    /// The stable diagnostic code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::DigestMismatch { .. } => "digest-mismatch",
            Self::NotFound { .. } => "image-not-found",
            Self::Unauthorized { .. } => "registry-unauthorized",
            Self::TooLarge { .. } => "manifest-too-large",
            Self::InvalidResponse { .. } => "invalid-registry-response",
            Self::Timeout { .. } => "registry-timeout",
            Self::Unavailable { .. } => "registry-unavailable",
            Self::NotAllowed { .. } => "registry-not-allowed",
            Self::Offline { .. } => "offline-no-layout",
            Self::Layout { .. } => "invalid-oci-layout",
        }
    }
}

/// What a manifest lookup names: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    /// A digest, or a tag of the distribution grammar; `None` for anything else.
    fn parse(s: &str) -> Option<Self> {
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

    fn digest(&self) -> Option<&Digest> {
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
type Key = (String, String, String);

fn key(image: &ImageRef, reference: &str) -> Key {
    (
        image.registry().to_owned(),
        image.repository().to_owned(),
        reference.to_owned(),
    )
}

/// Answers per key, errors included, each computed once: concurrent callers of one key wait
/// for the first one's answer instead of sending their own requests.
struct Cache<K, V> {
    cells: Mutex<HashMap<K, Cell<V>>>,
}

/// One cached answer, shared by everyone who asked for it.
type Cell<V> = Arc<OnceCell<Result<V, RegistryError>>>;

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    fn new() -> Self {
        Self {
            cells: Mutex::new(HashMap::new()),
        }
    }

    fn cell(&self, key: K) -> Cell<V> {
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(cells.entry(key).or_default())
    }

    async fn get_or_fetch<F, Fut>(
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

    /// Records an answer learnt on the way (a tag's digest); a lookup in flight keeps its own.
    fn fill(&self, key: K, value: V) {
        let _ = self.cell(key).set(Ok(value));
    }
}

/// Where one image's facts come from.
enum Source<'a> {
    /// The evidence lock: nothing else, no network.
    Lock(&'a Lock),
    Layout(&'a Path),
    Network,
}

/// The one client every stage uses: network hosts and OCI layouts behind one API, with a cache.
///
/// Answers (errors too) are cached for the life of the `Registry`: make one per evaluation,
/// not one per process of a long-running server, or tags would never move.
pub struct Registry {
    settings: RegistrySettings,
    http: http::Http,
    manifests: Cache<Key, Manifest>,
    tags: Cache<Key, Digest>,
    blobs: Cache<(Key, usize), Vec<u8>>,
    referrers: Cache<Key, Vec<Referrer>>,
    /// Endpoint hosts that answered the referrers API with a plain 404: they have no API.
    without_referrers_api: Mutex<HashSet<String>>,
    /// Per endpoint host, held by the first referrers request until the host has answered
    /// once, so that concurrent lookups learn from it instead of each probing the API.
    referrers_probes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<bool>>>>,
    cache_hits: AtomicU64,
    /// What was fetched and verified, for `check --write-lock`.
    recorder: Option<Mutex<Recording>>,
    /// Answers come from this lock only (`check --locked`).
    lock: Option<Arc<Lock>>,
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
            manifests: Cache::new(),
            tags: Cache::new(),
            blobs: Cache::new(),
            referrers: Cache::new(),
            without_referrers_api: Mutex::new(HashSet::new()),
            referrers_probes: Mutex::new(HashMap::new()),
            cache_hits: AtomicU64::new(0),
            recorder: None,
            lock: None,
        })
    }

    /// This client, recording every answer it fetches and verifies (manifests, tags, blobs,
    /// referrers listings) for an evidence lock; see [`Registry::take_recording`].
    #[must_use]
    pub fn with_recorder(mut self) -> Self {
        self.recorder = Some(Mutex::new(Recording::default()));
        self
    }

    /// A client that answers from `lock` only and never touches the network or a layout: a
    /// tag, manifest, blob or referrers listing missing from the lock is not found, and every
    /// object is checked against its digest as a network answer would be.
    pub fn from_lock(
        mut settings: RegistrySettings,
        lock: Arc<Lock>,
    ) -> Result<Self, RegistryError> {
        settings.offline = true;
        let mut registry = Self::new(settings)?;
        registry.lock = Some(lock);
        Ok(registry)
    }

    /// What was recorded so far (empty without [`Registry::with_recorder`]); the recorder
    /// starts afresh.
    pub fn take_recording(&self) -> Recording {
        self.recorder
            .as_ref()
            .map(|r| std::mem::take(&mut *r.lock().unwrap_or_else(PoisonError::into_inner)))
            .unwrap_or_default()
    }

    fn record(&self, f: impl FnOnce(&mut Recording)) {
        if let Some(recorder) = &self.recorder {
            f(&mut recorder.lock().unwrap_or_else(PoisonError::into_inner));
        }
    }

    fn record_manifest(&self, image: &ImageRef, reference: &Reference, manifest: &Manifest) {
        self.record(|r| {
            if let Reference::Tag(tag) = reference {
                r.tag(image, tag, &manifest.digest);
            }
            r.object(&manifest.digest, Some(&manifest.media_type), &manifest.body);
        });
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
                    self.cached_manifest(image, Reference::Tag(tag)).await?,
                    None,
                )
            }
            (Some(digest), None) => {
                let reference = Reference::Digest(digest.clone());
                (self.cached_manifest(image, reference).await?, None)
            }
            (Some(digest), Some(tag)) => {
                let reference = Reference::Digest(digest.clone());
                let (manifest, tag_digest) = tokio::join!(
                    self.cached_manifest(image, reference),
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

    /// Fetches a manifest by tag or digest and verifies the body against the digest.
    pub async fn manifest(
        &self,
        image: &ImageRef,
        reference: &str,
    ) -> Result<Manifest, RegistryError> {
        let Some(reference) = Reference::parse(reference) else {
            // Neither a tag nor a digest can name nothing in any registry: no request.
            tracing::debug!("{image}: `{reference}` is neither a tag nor a digest");
            return Err(RegistryError::NotFound {
                image: image.to_string(),
            });
        };
        self.cached_manifest(image, reference).await
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
                self.record(|r| r.object(digest, None, &body));
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
                self.record(|r| r.referrers(image, digest, &found));
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

    fn source(&self, image: &ImageRef) -> Result<Source<'_>, RegistryError> {
        if let Some(lock) = &self.lock {
            return Ok(Source::Lock(lock));
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
    ) -> Result<Manifest, RegistryError> {
        let cache_key = key(image, &reference.to_string());
        self.manifests
            .get_or_fetch(cache_key, &self.cache_hits, || {
                self.fetch_manifest(image, reference)
            })
            .await
    }

    async fn fetch_manifest(
        &self,
        image: &ImageRef,
        reference: Reference,
    ) -> Result<Manifest, RegistryError> {
        let limit = self.settings.max_manifest_bytes;
        let name = image.to_string();
        let manifest = match self.source(image)? {
            Source::Lock(lock) => {
                let not_found = || RegistryError::NotFound {
                    image: name.clone(),
                };
                let digest = match &reference {
                    Reference::Tag(tag) => lock.tag(image, tag).ok_or_else(not_found)?,
                    Reference::Digest(digest) => digest,
                };
                let object = lock.object(digest).ok_or_else(not_found)?;
                if object.data.len() > limit {
                    return Err(RegistryError::TooLarge { image: name, limit });
                }
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
                let mut last = None;
                for endpoint in self.http.endpoints(image)? {
                    match self
                        .network_manifest(&name, &endpoint, image, &reference)
                        .await
                    {
                        Ok(manifest) => {
                            self.remember(image, &reference, &manifest);
                            self.record_manifest(image, &reference, &manifest);
                            return Ok(manifest);
                        }
                        // Tampering is a finding, not a reason to ask elsewhere.
                        Err(e @ RegistryError::DigestMismatch { .. }) => return Err(e),
                        Err(e) => {
                            tracing::debug!("{name}: from `{}`: {e}", endpoint.host());
                            // A definite "not there" from one endpoint says more than a
                            // transport failure at another (a mirror in front of an
                            // unreachable upstream); both block.
                            if !matches!(last, Some(RegistryError::NotFound { .. })) {
                                last = Some(e);
                            }
                        }
                    }
                }
                return Err(last.unwrap_or_else(|| no_endpoint(&name)));
            }
        };
        self.remember(image, &reference, &manifest);
        self.record_manifest(image, &reference, &manifest);
        Ok(manifest)
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
            .map_err(|reason| invalid(name, reason))?;
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
                self.record(|r| r.tag(image, tag, &digest));
                Ok(digest)
            })
            .await
    }

    /// A tag's digest without its body: `HEAD`, or a verified `GET` when the `HEAD` fails or
    /// has no usable `Docker-Content-Digest`.
    async fn fetch_tag_digest(&self, image: &ImageRef, tag: &str) -> Result<Digest, RegistryError> {
        match self.source(image)? {
            Source::Lock(lock) => {
                return lock
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
                    tracing::debug!("{name}: `HEAD` at `{}`: {e}", endpoint.host());
                    last = Some(e);
                    continue;
                }
                Err(e) => tracing::debug!("{name}: `HEAD` failed, trying `GET`: {e}"),
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
            Source::Lock(lock) => {
                let object = lock.object(digest).ok_or_else(|| RegistryError::NotFound {
                    image: name.clone(),
                })?;
                if object.data.len() > max_bytes {
                    return Err(RegistryError::TooLarge {
                        image: name,
                        limit: max_bytes,
                    });
                }
                let actual = digest.same_algorithm_of(&object.data);
                if actual != *digest {
                    return Err(RegistryError::DigestMismatch {
                        image: name,
                        expected: digest.clone(),
                        actual,
                    });
                }
                return Ok(object.data.clone());
            }
            Source::Layout(root) => {
                return Ok(layout::blob(root, image, digest, max_bytes).await?.body)
            }
            Source::Network => {}
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
                    tracing::debug!("{name}: blob from `{}`: {e}", endpoint.host());
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| no_endpoint(&name)))
    }
}

impl Registry {
    async fn fetch_referrers(
        &self,
        image: &ImageRef,
        digest: &Digest,
    ) -> Result<Vec<Referrer>, RegistryError> {
        let name = image.to_string();
        let limit = self.settings.max_manifest_bytes;
        let mut found = match self.source(image)? {
            // Absent: no listing was needed when the lock was written; none now either.
            Source::Lock(lock) => lock.referrers(image, digest).unwrap_or_default().to_vec(),
            Source::Layout(root) => {
                let mut found = self.tagged_referrers(image, digest).await?;
                for descriptor in layout::subject_referrers(root, image, digest, limit).await? {
                    if !found
                        .iter()
                        .any(|r| r.descriptor.digest == descriptor.digest)
                    {
                        found.push(Referrer {
                            descriptor,
                            source: ReferrerSource::Api,
                        });
                    }
                }
                found
            }
            Source::Network => {
                let mut last_error = None;
                // The first endpoint that answers decides, as for manifests: mirrors first.
                let mut use_tag_schema = false;
                for endpoint in self.http.endpoints(image)? {
                    // Until this host has answered once, lookups go one at a time: the
                    // first answer (often "no API") spares the others a request.
                    let mut probe = Some(self.referrers_probe(endpoint.host()).lock_owned().await);
                    if probe.as_deref().is_some_and(|answered| *answered) {
                        probe = None;
                    }
                    if self.lacks_referrers_api(endpoint.host()) {
                        use_tag_schema = true;
                        break;
                    }
                    let answer = self
                        .http
                        .get_referrers(&name, &endpoint, image.repository(), digest, limit)
                        .await;
                    match answer {
                        Ok(http::ReferrersAnswer::Pages(pages)) => {
                            let mut found = Vec::new();
                            for (body, content_type) in pages {
                                let descriptors =
                                    media::parse_index_descriptors(&body, content_type.as_deref())
                                        .map_err(|reason| {
                                            invalid(&name, format!("referrers answer: {reason}"))
                                        })?;
                                found.extend(descriptors.into_iter().map(|descriptor| Referrer {
                                    descriptor,
                                    source: ReferrerSource::Api,
                                }));
                            }
                            if let Some(answered) = probe.as_mut() {
                                **answered = true;
                            }
                            return Ok(bounded_referrers(&name, found));
                        }
                        Ok(http::ReferrersAnswer::Unsupported { json_error }) => {
                            tracing::debug!(
                                "{name}: no referrers API at `{}`; using the referrers tag",
                                endpoint.host()
                            );
                            // A router's 404 says the API is missing for the whole host; a
                            // registry's JSON error may be about this repository only.
                            if !json_error {
                                self.without_referrers_api
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .insert(endpoint.host().to_owned());
                            }
                            if let Some(answered) = probe.as_mut() {
                                **answered = true;
                            }
                            use_tag_schema = true;
                            break;
                        }
                        Err(e) => {
                            tracing::debug!("{name}: referrers from `{}`: {e}", endpoint.host());
                            last_error = Some(e);
                        }
                    }
                }
                // When no endpoint answered, one that could not might have listed referrers:
                // fail closed.
                if let (false, Some(e)) = (use_tag_schema, last_error) {
                    return Err(e);
                }
                self.tagged_referrers(image, digest).await?
            }
        };
        found = bounded_referrers(&name, found);
        Ok(found)
    }

    /// The per-host gate of the first referrers request (see `referrers_probes`).
    fn referrers_probe(&self, host: &str) -> Arc<tokio::sync::Mutex<bool>> {
        let mut probes = self
            .referrers_probes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(probes.entry(host.to_owned()).or_default())
    }

    fn lacks_referrers_api(&self, host: &str) -> bool {
        self.without_referrers_api
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(host)
    }

    /// The referrers tag schema: the index tagged `<alg>-<hex>` (the algorithm cut to 32
    /// characters and the hex to 64, as OCI distribution 1.1 says); no such tag, no referrers.
    async fn tagged_referrers(
        &self,
        image: &ImageRef,
        digest: &Digest,
    ) -> Result<Vec<Referrer>, RegistryError> {
        let name = image.to_string();
        let text = digest.to_string();
        let (algorithm, hex) = text.split_once(':').unwrap_or_default();
        let tag = format!(
            "{}-{}",
            algorithm.get(..32).unwrap_or(algorithm),
            hex.get(..64).unwrap_or(hex)
        );
        let Some(reference) = Reference::parse(&tag) else {
            tracing::debug!("{name}: `{tag}` is not a valid tag");
            return Ok(Vec::new());
        };
        let index = match self.cached_manifest(image, reference).await {
            Ok(index) => index,
            Err(RegistryError::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let descriptors = media::parse_index_descriptors(&index.body, Some(&index.media_type))
            .map_err(|reason| invalid(&name, format!("referrers tag `{tag}`: {reason}")))?;
        Ok(descriptors
            .into_iter()
            .map(|descriptor| Referrer {
                descriptor,
                source: ReferrerSource::Tag { tag: tag.clone() },
            })
            .collect())
    }
}

fn bounded_referrers(name: &str, mut found: Vec<Referrer>) -> Vec<Referrer> {
    if found.len() > MAX_REFERRERS {
        tracing::warn!(
            "{name}: {} referrers listed; reading the first {MAX_REFERRERS} only",
            found.len()
        );
        found.truncate(MAX_REFERRERS);
    }
    found
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

fn invalid(name: &str, reason: String) -> RegistryError {
    RegistryError::InvalidResponse {
        image: name.to_owned(),
        reason,
    }
}

fn no_endpoint(name: &str) -> RegistryError {
    RegistryError::Unavailable {
        image: name.to_owned(),
        reason: "no registry endpoint to ask".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use std::sync::atomic::AtomicUsize;

    use base64::Engine as _;

    use super::testserver::{Reply, Request, Server};
    use super::*;

    const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

    fn manifest_body(marker: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}},"layers":[],"annotations":{{"marker":"{marker}"}}}}"#
        )
    }

    fn index_body() -> String {
        let amd = Digest::sha256_of(manifest_body("amd64").as_bytes());
        let arm = Digest::sha256_of(manifest_body("arm64").as_bytes());
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{amd}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{arm}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#
        )
    }

    /// A manifest answer with its true `Docker-Content-Digest`.
    fn honest(body: &str, media_type: &str) -> Reply {
        Reply::body(200, body)
            .header("Content-Type", media_type)
            .header(
                "Docker-Content-Digest",
                &Digest::sha256_of(body.as_bytes()).to_string(),
            )
    }

    /// Talks plain HTTP to `host` (`insecure: true`).
    fn plain_http(settings: &mut RegistrySettings, host: &str) {
        settings.hosts.insert(
            host.to_owned(),
            HostSettings {
                insecure: true,
                ..HostSettings::default()
            },
        );
    }

    fn settings_for(hosts: &[&Server]) -> RegistrySettings {
        let mut settings = RegistrySettings {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            retries: 2,
            // No docker config of the machine running the tests.
            docker_config: Some(PathBuf::from("/nonexistent/supplygate-test/config.json")),
            ..RegistrySettings::default()
        };
        for server in hosts {
            plain_http(&mut settings, &server.host());
        }
        settings
    }

    fn image(server: &Server, rest: &str) -> ImageRef {
        ImageRef::parse(&format!("{}/{rest}", server.host())).unwrap()
    }

    fn methods_and_paths(server: &Server) -> Vec<String> {
        server
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path()))
            .collect()
    }

    #[tokio::test]
    async fn resolves_tag_with_one_get_and_caches_it() {
        let body = manifest_body("single");
        let server = Server::start({
            let body = body.clone();
            move |_| honest(&body, OCI_MANIFEST)
        })
        .await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let img = image(&server, "team/app:v1");
        let resolved = registry.resolve(&img).await.unwrap();
        assert_eq!(resolved.digest, Digest::sha256_of(body.as_bytes()));
        assert_eq!(resolved.media_type, OCI_MANIFEST);
        assert!(resolved.platforms.is_empty());
        assert_eq!(resolved.tag_digest, None);
        let requests = server.requests();
        assert_eq!(
            methods_and_paths(&server),
            ["GET /v2/team/app/manifests/v1"]
        );
        let accept = requests[0].header("accept").unwrap();
        for t in media::ACCEPTED_MANIFEST_TYPES {
            assert!(accept.contains(t), "{accept}");
        }
        // Again by tag, then pinned to the digest just learnt: no new request.
        registry.resolve(&img).await.unwrap();
        let pinned = registry
            .resolve(&img.without_digest().with_digest(resolved.digest.clone()))
            .await
            .unwrap();
        assert_eq!(pinned.tag_digest, Some(resolved.digest.clone()));
        let manifest = registry
            .manifest(&img, &resolved.digest.to_string())
            .await
            .unwrap();
        assert_eq!(manifest.body, body.as_bytes());
        assert_eq!(server.requests().len(), 1);
        assert_eq!(
            registry.stats(),
            Stats {
                requests: 1,
                cache_hits: 4
            }
        );
    }

    #[tokio::test]
    async fn resolves_index_tag_with_platforms_in_one_request() {
        let server = Server::start(|_| honest(&index_body(), OCI_INDEX)).await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let resolved = registry
            .resolve(&image(&server, "app:multi"))
            .await
            .unwrap();
        assert_eq!(resolved.media_type, OCI_INDEX);
        let platforms: Vec<String> = resolved
            .platforms
            .iter()
            .map(|p| {
                format!(
                    "{}/{}/{}",
                    p.os,
                    p.architecture,
                    p.variant.as_deref().unwrap_or("-")
                )
            })
            .collect();
        assert_eq!(platforms, ["linux/amd64/-", "linux/arm64/v8"]);
        assert_eq!(
            resolved.platforms[1].digest,
            Digest::sha256_of(manifest_body("arm64").as_bytes())
        );
        assert_eq!(registry.stats().requests, 1);
    }

    #[tokio::test]
    async fn denies_body_that_does_not_match_announced_digest() {
        let announced = Digest::sha256_of(b"what the registry claims");
        let server = Server::start(move |_| {
            Reply::body(200, manifest_body("swapped"))
                .header("Content-Type", OCI_MANIFEST)
                .header("Docker-Content-Digest", &announced.to_string())
        })
        .await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let err = registry
            .resolve(&image(&server, "app:v1"))
            .await
            .unwrap_err();
        match &err {
            RegistryError::DigestMismatch {
                expected, actual, ..
            } => {
                assert_eq!(*expected, Digest::sha256_of(b"what the registry claims"));
                assert_eq!(
                    *actual,
                    Digest::sha256_of(manifest_body("swapped").as_bytes())
                );
            }
            other => panic!("expected a digest mismatch, got {other:?}"),
        }
        assert_eq!(err.code(), "digest-mismatch");
    }

    #[tokio::test]
    async fn denies_body_that_does_not_match_requested_digest() {
        // The registry serves another manifest under the pinned digest and announces the
        // pinned digest, as a tampering proxy would.
        let wanted = Digest::sha256_of(manifest_body("genuine").as_bytes());
        let server = Server::start({
            let wanted = wanted.clone();
            move |_| {
                Reply::body(200, manifest_body("tampered"))
                    .header("Content-Type", OCI_MANIFEST)
                    .header("Docker-Content-Digest", &wanted.to_string())
            }
        })
        .await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let pinned = image(&server, &format!("app@{wanted}"));
        let err = registry.resolve(&pinned).await.unwrap_err();
        let RegistryError::DigestMismatch {
            expected, actual, ..
        } = err
        else {
            panic!("expected a digest mismatch, got {err:?}");
        };
        assert_eq!(expected, wanted);
        assert_eq!(
            actual,
            Digest::sha256_of(manifest_body("tampered").as_bytes())
        );
        assert_eq!(
            methods_and_paths(&server),
            [format!("GET /v2/app/manifests/{wanted}")]
        );
    }

    #[tokio::test]
    async fn denies_pinned_body_that_does_not_match_announced_digest() {
        let body = manifest_body("genuine");
        let wanted = Digest::sha256_of(body.as_bytes());
        let server = Server::start(move |_| {
            Reply::body(200, body.clone()).header(
                "Docker-Content-Digest",
                &Digest::sha256_of(b"other").to_string(),
            )
        })
        .await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let err = registry
            .resolve(&image(&server, &format!("app@{wanted}")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "digest-mismatch");
    }

    #[tokio::test]
    async fn rejects_garbage_body_and_bad_digest_header_as_invalid_response() {
        let server = Server::start(|r: &Request| {
            if r.path().ends_with("/garbage") {
                Reply::body(200, "<html>maintenance</html>").header("Content-Type", "text/html")
            } else {
                Reply::body(200, manifest_body("x")).header("Docker-Content-Digest", "md5:abc")
            }
        })
        .await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let err = registry
            .resolve(&image(&server, "app:garbage"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid-registry-response", "{err}");
        let err = registry
            .resolve(&image(&server, "app:bad"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid-registry-response", "{err}");
        assert!(err.to_string().contains("Docker-Content-Digest"));
    }

    #[tokio::test]
    async fn a_json_parse_error_of_an_answer_is_explained_before_its_cause() {
        let server = Server::start(|_: &Request| {
            honest("{\"schemaVersion\": 2, \"config\": ", OCI_MANIFEST)
        })
        .await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let app = image(&server, "app:v1");
        let err = registry.resolve(&app).await.unwrap_err();
        assert_eq!(err.code(), "invalid-registry-response", "{err}");
        let raw = err.to_string();
        assert!(raw.contains("EOF while parsing"), "{raw}");
        let finding = crate::gate::registry_finding(&app, &err);
        assert_eq!(
            finding.message,
            format!(
                "a JSON document (a registry's answer or a file) does not have the shape \
                 expected here; the cause: {raw}"
            )
        );
        let hint = finding.hint.unwrap();
        assert!(
            hint.starts_with("check that the file is the kind the setting names, or that the host is the registry itself"),
            "{hint}"
        );
    }

    #[test]
    fn a_tls_error_from_rustls_is_explained_before_its_cause() {
        let app = ImageRef::parse("registry.example/app:v1").unwrap();
        let err = RegistryError::Unavailable {
            image: app.to_string(),
            reason: "error sending request for url (https://registry.example/v2/): client \
                     error (Connect): invalid peer certificate: UnknownIssuer"
                .to_owned(),
        };
        let finding = crate::gate::registry_finding(&app, &err);
        assert_eq!(finding.code.as_str(), "registry-unavailable");
        assert!(
            finding
                .message
                .starts_with("the registry's TLS certificate is not trusted on this machine"),
            "{}",
            finding.message
        );
        assert!(finding.message.ends_with(&format!("; the cause: {err}")));
        assert!(finding
            .hint
            .unwrap()
            .starts_with("install the registry's CA certificate in the system trust store"));
        // An image whose name only looks like a cause is not explained.
        let app = ImageRef::parse("registry.example/tls-handshake:v1").unwrap();
        let err = RegistryError::Unavailable {
            image: app.to_string(),
            reason: "HTTP 503 after 2 retries".to_owned(),
        };
        assert_eq!(
            crate::gate::registry_finding(&app, &err).message,
            err.to_string()
        );
    }

    #[tokio::test]
    async fn refuses_oversized_manifest_with_and_without_content_length() {
        let big = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{}},"pad":"{}"}}"#,
            "x".repeat(10_000)
        );
        let server = Server::start(move |r: &Request| {
            if r.path().ends_with("/sized") {
                Reply::body(200, big.clone())
            } else {
                Reply::Unsized {
                    status: 200,
                    headers: Vec::new(),
                    body: big.clone().into_bytes(),
                }
            }
        })
        .await;
        let settings = RegistrySettings {
            max_manifest_bytes: 4096,
            ..settings_for(&[&server])
        };
        let registry = Registry::new(settings).unwrap();
        for tag in ["sized", "unsized"] {
            let err = registry
                .resolve(&image(&server, &format!("app:{tag}")))
                .await
                .unwrap_err();
            assert!(
                matches!(err, RegistryError::TooLarge { limit: 4096, .. }),
                "{tag}: {err}"
            );
        }
        // Too large is an answer, not a transient failure: no retries.
        assert_eq!(registry.stats().requests, 2);
    }

    #[tokio::test]
    async fn retries_429_honouring_retry_after_then_succeeds() {
        let calls = Arc::new(AtomicUsize::new(0));
        let body = manifest_body("throttled");
        let server = Server::start({
            let calls = Arc::clone(&calls);
            let body = body.clone();
            move |_| {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Reply::status(429).header("Retry-After", "1")
                } else {
                    honest(&body, OCI_MANIFEST)
                }
            }
        })
        .await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let resolved = registry.resolve(&image(&server, "app:v1")).await.unwrap();
        assert_eq!(resolved.digest, Digest::sha256_of(body.as_bytes()));
        assert_eq!(server.requests().len(), 2);
        assert_eq!(registry.stats().requests, 2);
    }

    #[tokio::test]
    async fn gives_up_on_503_after_the_configured_retries() {
        let server = Server::start(|_| Reply::status(503).header("Retry-After", "0")).await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let err = registry
            .resolve(&image(&server, "app:v1"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "registry-unavailable");
        assert!(err.to_string().contains("503"), "{err}");
        assert!(err.to_string().contains("after 2 retries"), "{err}");
        assert_eq!(server.requests().len(), 3);
    }

    #[tokio::test]
    async fn hanging_response_times_out_after_retries() {
        let server = Server::start(|_| Reply::Hang).await;
        let settings = RegistrySettings {
            request_timeout: Duration::from_millis(300),
            retries: 1,
            ..settings_for(&[&server])
        };
        let registry = Registry::new(settings).unwrap();
        let err = registry
            .resolve(&image(&server, "app:v1"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::Timeout { seconds: 1, .. }),
            "{err}"
        );
        assert_eq!(registry.stats().requests, 2);
    }

    /// Issue 15's adversarial suite: a body that trickles (a byte every 20ms, so no single
    /// read ever waits long) still has to arrive whole within the request timeout.
    #[tokio::test]
    async fn trickling_body_times_out_as_a_whole() {
        let server = Server::start(|_| {
            Reply::Trickle(
                Duration::from_millis(20),
                Box::new(honest(&manifest_body("slow"), OCI_MANIFEST)),
            )
        })
        .await;
        let settings = RegistrySettings {
            request_timeout: Duration::from_millis(300),
            retries: 0,
            ..settings_for(&[&server])
        };
        let registry = Registry::new(settings).unwrap();
        let err = registry
            .resolve(&image(&server, "app:v1"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "registry-timeout", "{err}");
    }

    #[tokio::test]
    async fn refused_connection_is_unavailable_after_retries() {
        // Bound but not listening: connections are refused, and no other test can take the
        // port while this one runs.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = socket.local_addr().unwrap().port();
        let host = format!("127.0.0.1:{port}");
        let mut settings = RegistrySettings {
            retries: 1,
            ..RegistrySettings::default()
        };
        plain_http(&mut settings, &host);
        let registry = Registry::new(settings).unwrap();
        let img = ImageRef::parse(&format!("{host}/app:v1")).unwrap();
        let err = registry.resolve(&img).await.unwrap_err();
        assert_eq!(err.code(), "registry-unavailable");
        assert!(err.to_string().contains("after 1 retry"), "{err}");
        assert_eq!(registry.stats().requests, 2);
    }

    #[tokio::test]
    async fn a_host_the_url_parser_would_rewrite_is_not_contacted() {
        let server = Server::start(|_| Reply::status(404)).await;
        let port = server.host().rsplit_once(':').unwrap().1.to_owned();
        for host in [format!("0x7f.1:{port}"), format!("127.000.0.1:{port}")] {
            let mut settings = RegistrySettings::default();
            settings.hosts.insert(
                host.clone(),
                HostSettings {
                    insecure: true,
                    ..HostSettings::default()
                },
            );
            let registry = Registry::new(settings).unwrap();
            let img = ImageRef::parse(&format!("{host}/app:v1")).unwrap();
            let err = registry.resolve(&img).await.unwrap_err();
            assert_eq!(err.code(), "registry-not-allowed", "{host}: {err}");
            assert!(
                err.to_string()
                    .contains(&format!("contacted as `127.0.0.1:{port}`")),
                "{err}"
            );
        }
        assert!(server.requests().is_empty());
    }

    #[tokio::test]
    async fn tls_to_a_plain_http_registry_is_not_allowed_at_once_with_a_hint() {
        let server = Server::start(|_| Reply::status(404)).await;
        let settings = RegistrySettings {
            retries: 3,
            ..RegistrySettings::default()
        };
        let registry = Registry::new(settings).unwrap();
        let err = registry
            .resolve(&image(&server, "app:v1"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "registry-not-allowed");
        assert!(err.to_string().contains("set `insecure: true`"), "{err}");
        // No retries: a plain-HTTP server does not learn TLS.
        assert_eq!(registry.stats().requests, 1);
    }

    #[tokio::test]
    async fn maps_404_and_401_without_credentials() {
        let server = Server::start(|r: &Request| {
            if r.path().contains("/private/") {
                Reply::status(401).header("WWW-Authenticate", r#"Basic realm="registry""#)
            } else {
                Reply::status(404)
            }
        })
        .await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let err = registry
            .resolve(&image(&server, "app:gone"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "image-not-found");
        let err = registry
            .resolve(&image(&server, "private/app:v1"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::Unauthorized { status: 401, .. }),
            "{err}"
        );
        // No credentials to offer: the 401 is final, not sent again.
        assert_eq!(server.requests().len(), 2);
    }

    /// A registry that wants `Bearer tok-<repository>` tokens from its own `/token` realm,
    /// which wants `Basic` credentials `alice:s3cret`.
    async fn bearer_registry() -> Server {
        let expected_basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
        );
        Server::start(move |r: &Request| {
            let host = r.header("host").unwrap_or_default().to_owned();
            if r.path() == "/token" {
                if r.header("authorization") != Some(expected_basic.as_str()) {
                    return Reply::status(401);
                }
                let scope = r
                    .target
                    .split("scope=")
                    .nth(1)
                    .unwrap_or_default()
                    .replace("%3A", ":")
                    .replace("%2F", "/");
                let repo = scope
                    .trim_start_matches("repository:")
                    .trim_end_matches(":pull")
                    .to_owned();
                return Reply::body(200, format!(r#"{{"token":"tok-{repo}","expires_in":300}}"#));
            }
            let repo = r
                .path()
                .trim_start_matches("/v2/")
                .split("/manifests/")
                .next()
                .unwrap_or_default()
                .to_owned();
            if r.header("authorization") == Some(format!("Bearer tok-{repo}").as_str()) {
                return honest(&manifest_body(&repo), OCI_MANIFEST);
            }
            Reply::status(401).header(
                "WWW-Authenticate",
                &format!(
                    r#"Bearer realm="http://{host}/token",service="test-registry",scope="repository:{repo}:pull""#
                ),
            )
        })
        .await
    }

    #[tokio::test]
    async fn bearer_flow_caches_token_per_scope_and_sends_basic_only_to_token_server() {
        let server = bearer_registry().await;
        let config_dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        std::fs::write(
            config_dir.path().join("config.json"),
            format!(
                r#"{{"auths":{{"http://{}":{{"auth":"{auth}"}}}}}}"#,
                server.host()
            ),
        )
        .unwrap();
        let settings = RegistrySettings {
            docker_config: Some(config_dir.path().join("config.json")),
            ..settings_for(&[&server])
        };
        let registry = Registry::new(settings).unwrap();

        registry
            .resolve(&image(&server, "team/a:v1"))
            .await
            .unwrap();
        assert_eq!(
            methods_and_paths(&server),
            [
                "GET /v2/team/a/manifests/v1",
                "GET /token",
                "GET /v2/team/a/manifests/v1"
            ]
        );
        let token_request = &server.requests()[1];
        assert!(token_request.target.contains("service=test-registry"));
        assert!(token_request
            .target
            .contains("scope=repository%3Ateam%2Fa%3Apull"));

        // Same scope: the cached token, one request.
        registry
            .resolve(&image(&server, "team/a:v2"))
            .await
            .unwrap();
        assert_eq!(server.requests().len(), 4);

        // Another repository: a new token, fetched up front since the challenge is known.
        registry
            .resolve(&image(&server, "team/b:v1"))
            .await
            .unwrap();
        let all = methods_and_paths(&server);
        assert_eq!(all[4..], ["GET /token", "GET /v2/team/b/manifests/v1"]);
        assert!(server.requests()[4].target.contains("team%2Fb"));
        assert_eq!(registry.stats().requests, 6);

        // The password went to the token server only; tokens never show in Debug.
        for request in server.requests() {
            let authorization = request.header("authorization").unwrap_or_default();
            if request.path() != "/token" {
                assert!(!authorization.starts_with("Basic"), "{request:?}");
            }
        }
        let shown = format!("{registry:?}");
        assert!(
            !shown.contains("tok-team") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn bearer_flow_without_credentials_is_unauthorized() {
        let server = bearer_registry().await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let err = registry
            .resolve(&image(&server, "team/a:v1"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::Unauthorized { status: 401, .. }),
            "{err}"
        );
        assert!(!err.to_string().contains("s3cret"));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn basic_challenge_uses_credentials_from_a_credential_helper() {
        use std::os::unix::fs::PermissionsExt as _;

        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("helper-user:helper-pw")
        );
        let server = Server::start(move |r: &Request| {
            if r.header("authorization") == Some(expected.as_str()) {
                honest(&manifest_body("basic"), OCI_MANIFEST)
            } else {
                Reply::status(401).header("WWW-Authenticate", r#"Basic realm="Registry Realm""#)
            }
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            format!(r#"{{"credHelpers":{{"{}":"test"}}}}"#, server.host()),
        )
        .unwrap();
        let helper = dir.path().join("docker-credential-test");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread -r host || true\n\
             echo \"{\\\"ServerURL\\\":\\\"$host\\\",\\\"Username\\\":\\\"helper-user\\\",\\\"Secret\\\":\\\"helper-pw\\\"}\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let settings = RegistrySettings {
            docker_config: Some(dir.path().join("config.json")),
            credential_helper_dir: Some(dir.path().to_path_buf()),
            ..settings_for(&[&server])
        };
        let registry = Registry::new(settings).unwrap();
        registry.resolve(&image(&server, "app:v1")).await.unwrap();
        // Later requests to the host send the credentials up front.
        registry.resolve(&image(&server, "other:v1")).await.unwrap();
        assert_eq!(registry.stats().requests, 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_first_requests_to_a_host_meet_its_challenge_once() {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("u:p")
        );
        let server = Server::start(move |r: &Request| {
            if r.header("authorization") == Some(expected.as_str()) {
                honest(&manifest_body(r.path()), OCI_MANIFEST)
            } else {
                Reply::status(401).header("WWW-Authenticate", r#"Basic realm="r""#)
            }
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("u:p");
        std::fs::write(
            dir.path().join("config.json"),
            format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, server.host()),
        )
        .unwrap();
        let settings = RegistrySettings {
            docker_config: Some(dir.path().join("config.json")),
            concurrency: 4,
            ..settings_for(&[&server])
        };
        let registry = Arc::new(Registry::new(settings).unwrap());
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..12 {
            let registry = Arc::clone(&registry);
            let img = image(&server, &format!("app:v{i}"));
            tasks.spawn(async move { registry.resolve(&img).await });
        }
        while let Some(result) = tasks.join_next().await {
            result.unwrap().unwrap();
        }
        let refused = server
            .requests()
            .iter()
            .filter(|r| r.header("authorization").is_none())
            .count();
        assert_eq!(refused, 1);
        assert_eq!(registry.stats().requests, 13);
    }

    #[tokio::test]
    async fn identity_token_is_exchanged_with_an_oauth2_refresh_grant() {
        let server = Server::start(|r: &Request| {
            let host = r.header("host").unwrap_or_default().to_owned();
            if r.path() == "/oauth" {
                let form = String::from_utf8_lossy(&r.body).into_owned();
                let ok = r.method == "POST"
                    && form.contains("grant_type=refresh_token")
                    && form.contains("refresh_token=refresh-123")
                    && form.contains("scope=repository%3Aapp%3Apull")
                    && r.header("authorization").is_none();
                return if ok {
                    Reply::body(200, r#"{"access_token":"oauth-tok","expires_in":300}"#)
                } else {
                    Reply::status(401)
                };
            }
            if r.header("authorization") == Some("Bearer oauth-tok") {
                return honest(&manifest_body("oauth"), OCI_MANIFEST);
            }
            Reply::status(401).header(
                "WWW-Authenticate",
                &format!(r#"Bearer realm="http://{host}/oauth",service="svc""#),
            )
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            format!(
                r#"{{"auths":{{"{}":{{"identitytoken":"refresh-123"}}}}}}"#,
                server.host()
            ),
        )
        .unwrap();
        let settings = RegistrySettings {
            docker_config: Some(dir.path().join("config.json")),
            ..settings_for(&[&server])
        };
        let registry = Registry::new(settings).unwrap();
        registry.resolve(&image(&server, "app:v1")).await.unwrap();
        assert_eq!(
            methods_and_paths(&server),
            [
                "GET /v2/app/manifests/v1",
                "POST /oauth",
                "GET /v2/app/manifests/v1"
            ]
        );
        assert!(!format!("{registry:?}").contains("refresh-123"));
    }

    #[tokio::test]
    async fn pinned_tag_is_fetched_by_digest_and_its_tag_looked_up_with_head() {
        let pinned_body = manifest_body("old");
        let current_body = manifest_body("new");
        let server = Server::start({
            let pinned_body = pinned_body.clone();
            let current_body = current_body.clone();
            move |r: &Request| {
                if r.path().ends_with("/manifests/v1") {
                    honest(&current_body, OCI_MANIFEST)
                } else if r.path().ends_with("/manifests/v2") {
                    // No digest header on HEAD: the client must GET and hash.
                    Reply::body(200, current_body.clone())
                } else {
                    honest(&pinned_body, OCI_MANIFEST)
                }
            }
        })
        .await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let old = Digest::sha256_of(pinned_body.as_bytes());
        let new = Digest::sha256_of(current_body.as_bytes());
        let resolved = registry
            .resolve(&image(&server, &format!("app:v1@{old}")))
            .await
            .unwrap();
        assert_eq!(resolved.digest, old);
        assert_eq!(resolved.tag_digest, Some(new.clone()));
        let mut seen = methods_and_paths(&server);
        seen.sort();
        assert_eq!(
            seen,
            [
                format!("GET /v2/app/manifests/{old}"),
                "HEAD /v2/app/manifests/v1".to_owned()
            ]
        );

        let resolved = registry
            .resolve(&image(&server, &format!("app:v2@{old}")))
            .await
            .unwrap();
        assert_eq!(resolved.tag_digest, Some(new));
        let seen = methods_and_paths(&server);
        assert_eq!(
            seen[2..],
            ["HEAD /v2/app/manifests/v2", "GET /v2/app/manifests/v2"]
        );
    }

    #[tokio::test]
    async fn deleted_tag_of_pinned_reference_leaves_tag_digest_empty() {
        let body = manifest_body("pinned");
        let digest = Digest::sha256_of(body.as_bytes());
        let server = Server::start(move |r: &Request| {
            if r.path().ends_with("/manifests/gone") {
                Reply::status(404)
            } else {
                honest(&body, OCI_MANIFEST)
            }
        })
        .await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let resolved = registry
            .resolve(&image(&server, &format!("app:gone@{digest}")))
            .await
            .unwrap();
        assert_eq!(resolved.digest, digest);
        assert_eq!(resolved.tag_digest, None);
    }

    /// A registry that takes a while over every manifest (its path is its marker).
    fn slow(r: &Request) -> Reply {
        honest(&manifest_body(r.path()), OCI_MANIFEST).delayed(Duration::from_millis(400))
    }

    /// Resolves every image at once; each must be the manifest `slow` serves for it.
    async fn resolve_all_at_once(registry: &Arc<Registry>, images: Vec<ImageRef>) {
        let mut tasks = tokio::task::JoinSet::new();
        for img in images {
            let registry = Arc::clone(registry);
            tasks.spawn(async move {
                let resolved = registry.resolve(&img).await;
                (img, resolved)
            });
        }
        while let Some(result) = tasks.join_next().await {
            let (img, resolved) = result.unwrap();
            let path = format!("/v2/{}/manifests/{}", img.repository(), img.tag().unwrap());
            assert_eq!(
                resolved.unwrap().digest,
                Digest::sha256_of(manifest_body(&path).as_bytes()),
                "{img}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn host_concurrency_bounds_that_host_and_leaves_others_to_the_global_bound() {
        let bounded = Server::start(slow).await;
        let free = Server::start(slow).await;
        let mut settings = RegistrySettings {
            concurrency: 8,
            ..settings_for(&[&bounded, &free])
        };
        settings.hosts.get_mut(&bounded.host()).unwrap().concurrency = Some(2);
        let registry = Arc::new(Registry::new(settings).unwrap());
        let images = (0..10)
            .flat_map(|i| [&bounded, &free].map(|s| image(s, &format!("app:v{i}"))))
            .collect();
        resolve_all_at_once(&registry, images).await;
        assert_eq!(bounded.requests().len(), 10);
        assert_eq!(free.requests().len(), 10);
        assert_eq!(bounded.most_in_flight(), 2);
        // Requests queued for the bounded host hold no global permit: the other host gets
        // more than the bounded host's share of the 8.
        assert!(free.most_in_flight() > 2, "{}", free.most_in_flight());
        assert!(free.most_in_flight() <= 8, "{}", free.most_in_flight());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mirror_requests_count_against_the_mirrors_own_bound() {
        let mirror = Server::start(slow).await;
        let mut settings = settings_for(&[&mirror]);
        settings.hosts.get_mut(&mirror.host()).unwrap().concurrency = Some(3);
        settings.hosts.insert(
            "origin.example".to_owned(),
            HostSettings {
                mirrors: vec![format!("http://{}", mirror.host())],
                concurrency: Some(1),
                ..HostSettings::default()
            },
        );
        let registry = Arc::new(Registry::new(settings).unwrap());
        let images = (0..10)
            .map(|i| ImageRef::parse(&format!("origin.example/app:v{i}")).unwrap())
            .collect();
        resolve_all_at_once(&registry, images).await;
        assert_eq!(mirror.requests().len(), 10);
        // The mirror's 3, not the origin's 1.
        assert_eq!(mirror.most_in_flight(), 3);
    }

    #[tokio::test]
    async fn coalesces_concurrent_identical_lookups_into_one_request() {
        let body = manifest_body("popular");
        let server = Server::start(move |_| honest(&body, OCI_MANIFEST)).await;
        let registry = Arc::new(Registry::new(settings_for(&[&server])).unwrap());
        let img = image(&server, "app:v1");
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let registry = Arc::clone(&registry);
            let img = img.clone();
            tasks.spawn(async move { registry.resolve(&img).await });
        }
        let mut digests = Vec::new();
        while let Some(result) = tasks.join_next().await {
            digests.push(result.unwrap().unwrap().digest);
        }
        digests.dedup();
        assert_eq!(digests.len(), 1);
        assert_eq!(
            registry.stats(),
            Stats {
                requests: 1,
                cache_hits: 7
            }
        );
    }

    #[tokio::test]
    async fn follows_blob_redirects_without_credentials_and_verifies_blob() {
        let blob = b"layer bytes".to_vec();
        let digest = Digest::sha256_of(&blob);
        let server = Server::start({
            let blob = blob.clone();
            move |r: &Request| match r.path() {
                p if p.starts_with("/v2/app/blobs/") => {
                    Reply::status(307).header("Location", "/storage/hop1?sig=abc")
                }
                "/storage/hop1" => Reply::status(302).header("Location", "hop2"),
                "/storage/hop2" => Reply::body(200, blob.clone()),
                "/storage/loop" => Reply::status(302).header("Location", "/storage/loop"),
                _ => Reply::body(200, "not the blob"),
            }
        })
        .await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let img = image(&server, "app:v1");
        assert_eq!(registry.blob(&img, &digest, 1024).await.unwrap(), blob);
        assert_eq!(
            methods_and_paths(&server),
            [
                format!("GET /v2/app/blobs/{digest}"),
                "GET /storage/hop1".to_owned(),
                "GET /storage/hop2".to_owned()
            ]
        );
        assert_eq!(server.requests()[1].target, "/storage/hop1?sig=abc");
        // Cached: the same blob again costs nothing.
        registry.blob(&img, &digest, 1024).await.unwrap();
        assert_eq!(registry.stats().requests, 3);

        let err = registry.blob(&img, &digest, 4).await.unwrap_err();
        assert_eq!(err.code(), "manifest-too-large");

        let other = image(&server, "other:v1");
        let err = registry.blob(&other, &digest, 1024).await.unwrap_err();
        assert_eq!(err.code(), "digest-mismatch");
    }

    #[tokio::test]
    async fn stops_after_five_blob_redirects_and_refuses_http_redirect_to_other_hosts() {
        let server = Server::start(|r: &Request| {
            if r.path().starts_with("/v2/loop/") || r.path() == "/again" {
                Reply::status(302).header("Location", "/again")
            } else {
                Reply::status(302).header("Location", "http://localhost:9/blob")
            }
        })
        .await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let digest = Digest::sha256_of(b"x");
        let err = registry
            .blob(&image(&server, "loop:v1"), &digest, 1024)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("more than 5"), "{err}");
        assert_eq!(server.requests().len(), 6);
        let err = registry
            .blob(&image(&server, "leak:v1"), &digest, 1024)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "registry-not-allowed");
        assert!(err.to_string().contains("insecure: true"), "{err}");
        assert_eq!(server.requests().len(), 7);
    }

    /// Issue 15's adversarial suite: a blob redirect to another port of the same address is
    /// another host. Not configured, it is not contacted over plain HTTP; configured, what it
    /// serves is still checked against the digest.
    #[tokio::test]
    async fn blob_redirect_to_another_port_is_another_host() {
        let other = Server::start(|_| Reply::body(200, "not the blob")).await;
        let target = format!("http://{}/storage/blob", other.host());
        let server = Server::start(move |_| Reply::status(307).header("Location", &target)).await;
        let digest = Digest::sha256_of(b"layer bytes");
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let err = registry
            .blob(&image(&server, "app:v1"), &digest, 1024)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "registry-not-allowed", "{err}");
        assert!(other.requests().is_empty());
        let registry = Registry::new(settings_for(&[&server, &other])).unwrap();
        let err = registry
            .blob(&image(&server, "app:v1"), &digest, 1024)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "digest-mismatch", "{err}");
        assert_eq!(other.requests().len(), 1);
        assert_eq!(other.requests()[0].header("authorization"), None);
    }

    #[tokio::test]
    async fn tries_mirrors_before_the_host() {
        let body = manifest_body("mirrored");
        let mirror = Server::start(|_| Reply::status(404)).await;
        let origin = Server::start(move |_| honest(&body, OCI_MANIFEST)).await;
        let mut settings = settings_for(&[&mirror, &origin]);
        if let Some(host) = settings.hosts.get_mut(&origin.host()) {
            host.mirrors = vec![mirror.host()];
        }
        let registry = Registry::new(settings).unwrap();
        registry.resolve(&image(&origin, "app:v1")).await.unwrap();
        assert_eq!(methods_and_paths(&mirror), ["GET /v2/app/manifests/v1"]);
        assert_eq!(methods_and_paths(&origin), ["GET /v2/app/manifests/v1"]);
    }

    #[tokio::test]
    async fn offline_host_without_layout_has_its_own_code() {
        let registry = Registry::new(RegistrySettings {
            offline: true,
            ..RegistrySettings::default()
        })
        .unwrap();
        let err = registry
            .resolve(&ImageRef::parse("ghcr.io/acme/app:v1").unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "offline-no-layout");
        assert_eq!(
            err.to_string(),
            "ghcr.io/acme/app:v1: offline, and no OCI layout is configured for host `ghcr.io`"
        );
        assert_eq!(registry.stats().requests, 0);
    }

    fn demo_layouts() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/layouts")
    }

    fn layout_settings(host: &str, layout: PathBuf) -> RegistrySettings {
        let mut settings = RegistrySettings {
            offline: true,
            ..RegistrySettings::default()
        };
        settings.hosts.insert(
            host.to_owned(),
            HostSettings {
                layout: Some(layout),
                ..HostSettings::default()
            },
        );
        settings
    }

    const MULTIARCH: &str =
        "sha256:7609b07e75220bf3b9b97aebadf80f96ff93e9bdef133afc6ebdf25c66d85c70";
    const AMD64: &str = "sha256:6671f7d080fc2a6f25df4aa1c50c218ef079d2e7c5f95568427cbb083c8251b8";
    const ARM64: &str = "sha256:4fda8d2584a49b7e717560ae8b7c4939e847c56516a00e718f5b7a602ebf3d3b";

    #[tokio::test]
    async fn resolves_nested_index_from_a_directory_of_layouts() {
        let registry =
            Registry::new(layout_settings("registry.demo.example", demo_layouts())).unwrap();
        let img = ImageRef::parse("registry.demo.example/demo/multiarch:v1").unwrap();
        let resolved = registry.resolve(&img).await.unwrap();
        assert_eq!(resolved.digest.to_string(), MULTIARCH);
        assert_eq!(resolved.media_type, OCI_INDEX);
        let platforms: Vec<(String, String, Option<String>, String)> = resolved
            .platforms
            .iter()
            .map(|p| {
                (
                    p.os.clone(),
                    p.architecture.clone(),
                    p.variant.clone(),
                    p.digest.to_string(),
                )
            })
            .collect();
        assert_eq!(
            platforms,
            [
                ("linux".into(), "amd64".into(), None, AMD64.into()),
                (
                    "linux".into(),
                    "arm64".into(),
                    Some("v8".into()),
                    ARM64.into()
                ),
            ]
        );
        // A platform manifest by digest, and the pinned tag with its current digest.
        let arm = registry.manifest(&img, ARM64).await.unwrap();
        assert_eq!(arm.media_type, OCI_MANIFEST);
        let pinned = img.with_digest(Digest::parse(MULTIARCH).unwrap());
        let resolved = registry.resolve(&pinned).await.unwrap();
        assert_eq!(resolved.tag_digest.unwrap().to_string(), MULTIARCH);
        let signed = ImageRef::parse("registry.demo.example/demo/cosign-signed:v1").unwrap();
        assert_eq!(
            registry.resolve(&signed).await.unwrap().digest.to_string(),
            "sha256:63a15806ff4b4b36722c34adea031171e417e76e8ddc5368a616726cb7352455"
        );
        assert_eq!(registry.stats().requests, 0);
    }

    #[tokio::test]
    async fn single_layout_matches_bare_tags_for_any_repository_of_its_host() {
        let layout = demo_layouts().join("demo/multiarch");
        let registry = Registry::new(layout_settings("127.0.0.1:5123", layout)).unwrap();
        let img = ImageRef::parse("127.0.0.1:5123/demo/multiarch:v1").unwrap();
        assert_eq!(
            registry.resolve(&img).await.unwrap().digest.to_string(),
            MULTIARCH
        );
        let sig_tag = format!("{}.sig", Digest::parse(AMD64).unwrap().tag_prefix());
        let sig = registry.manifest(&img, &sig_tag).await.unwrap();
        assert_eq!(
            sig.digest.to_string(),
            "sha256:9332edf9403821243f5bc73cdcddea428950c571b7dd87bae294e7c97389c5be"
        );
        let elsewhere = ImageRef::parse("127.0.0.1:5123/any/repo:v1").unwrap();
        assert_eq!(
            registry
                .resolve(&elsewhere)
                .await
                .unwrap()
                .digest
                .to_string(),
            MULTIARCH
        );
        let missing = ImageRef::parse("127.0.0.1:5123/demo/multiarch:v9").unwrap();
        assert_eq!(
            registry.resolve(&missing).await.unwrap_err().code(),
            "image-not-found"
        );
        let blob = registry
            .blob(&img, &Digest::parse(ARM64).unwrap(), 4096)
            .await
            .unwrap();
        assert!(Digest::parse(ARM64).unwrap().matches(&blob));
    }

    #[tokio::test]
    async fn layout_blob_that_does_not_match_its_name_is_a_digest_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let source = demo_layouts().join("demo/multiarch");
        std::fs::copy(source.join("oci-layout"), dir.path().join("oci-layout")).unwrap();
        std::fs::copy(source.join("index.json"), dir.path().join("index.json")).unwrap();
        let blobs = dir.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let hex = MULTIARCH.trim_start_matches("sha256:");
        std::fs::write(blobs.join(hex), index_body()).unwrap();
        let registry =
            Registry::new(layout_settings("127.0.0.1:5123", dir.path().to_path_buf())).unwrap();
        let img = ImageRef::parse("127.0.0.1:5123/demo/multiarch:v1").unwrap();
        let err = registry.resolve(&img).await.unwrap_err();
        assert_eq!(err.code(), "digest-mismatch", "{err}");
    }

    #[test]
    fn manifest_reference_accepts_tags_and_digests_only() {
        assert_eq!(
            Reference::parse("v1.2_3-x"),
            Some(Reference::Tag("v1.2_3-x".into()))
        );
        assert!(matches!(
            Reference::parse(AMD64),
            Some(Reference::Digest(_))
        ));
        assert_eq!(Reference::parse("../../etc"), None);
        assert_eq!(Reference::parse(".hidden"), None);
        assert_eq!(Reference::parse(""), None);
        assert_eq!(Reference::parse(&"a".repeat(129)), None);
    }

    const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

    /// An index listing one referrer of artifact type `BUNDLE` per digest.
    fn referrers_index(referrers: &[&Digest]) -> String {
        let entries: Vec<String> = referrers
            .iter()
            .map(|d| {
                format!(
                    r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":300,"artifactType":"{BUNDLE}","annotations":{{"k":"v"}}}}"#
                )
            })
            .collect();
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
            entries.join(",")
        )
    }

    #[tokio::test]
    async fn falls_back_to_the_referrers_tag_and_remembers_a_host_without_the_api() {
        let signed = Digest::sha256_of(b"signed image");
        let unsigned = Digest::sha256_of(b"unsigned image");
        let referrer = Digest::sha256_of(b"a bundle manifest");
        let index = referrers_index(&[&referrer]);
        let tag = signed.tag_prefix();
        let server = Server::start({
            let tag_path = format!("/v2/app/manifests/{tag}");
            move |r: &Request| {
                if r.path().contains("/referrers/") {
                    // What Debian's docker-registry 2.8 answers: its router's 404.
                    Reply::body(404, "404 page not found\n")
                        .header("Content-Type", "text/plain; charset=utf-8")
                } else if r.path() == tag_path {
                    honest(&index, OCI_INDEX)
                } else {
                    Reply::body(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#)
                        .header("Content-Type", "application/json")
                }
            }
        })
        .await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let img = image(&server, "app:v1");
        let found = registry.referrers(&img, &signed).await.unwrap();
        assert_eq!(
            found,
            [Referrer {
                descriptor: Descriptor {
                    media_type: OCI_MANIFEST.to_owned(),
                    digest: referrer,
                    size: 300,
                    artifact_type: Some(BUNDLE.to_owned()),
                    annotations: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
                },
                source: ReferrerSource::Tag { tag: tag.clone() },
            }]
        );
        assert!(registry
            .referrers(&img, &unsigned)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            methods_and_paths(&server),
            [
                format!("GET /v2/app/referrers/{signed}"),
                format!("GET /v2/app/manifests/{tag}"),
                // The host has no API: the second digest goes to its tag at once.
                format!("GET /v2/app/manifests/{}", unsigned.tag_prefix()),
            ]
        );
        registry.referrers(&img, &signed).await.unwrap();
        assert_eq!(registry.stats().requests, 3);
    }

    #[tokio::test]
    async fn registry_error_404_from_the_referrers_api_is_not_remembered_for_the_host() {
        let server = Server::start(|_: &Request| {
            Reply::body(404, r#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#)
                .header("Content-Type", "application/json")
        })
        .await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let img = image(&server, "app:v1");
        for seed in [b"one", b"two"] {
            let digest = Digest::sha256_of(seed);
            assert!(registry.referrers(&img, &digest).await.unwrap().is_empty());
        }
        let referrers_calls = methods_and_paths(&server)
            .iter()
            .filter(|p| p.contains("/referrers/"))
            .count();
        assert_eq!(referrers_calls, 2);
    }

    #[tokio::test]
    async fn reads_every_page_of_a_referrers_answer_and_refuses_non_index_answers() {
        let a = Digest::sha256_of(b"referrer a");
        let b = Digest::sha256_of(b"referrer b");
        let subject = Digest::sha256_of(b"subject");
        let (page1, page2) = (referrers_index(&[&a]), referrers_index(&[&b]));
        let server = Server::start(move |r: &Request| {
            if r.path().starts_with("/v2/paged/") && r.target.ends_with("?page=2") {
                Reply::body(200, page2.clone()).header("Content-Type", OCI_INDEX)
            } else if r.path().starts_with("/v2/paged/") {
                Reply::body(200, page1.clone())
                    .header("Content-Type", OCI_INDEX)
                    .header("Link", r#"<?page=2>; rel="next""#)
            } else if r.path().starts_with("/v2/elsewhere/") {
                Reply::body(200, page1.clone())
                    .header("Content-Type", OCI_INDEX)
                    .header("Link", r#"<http://127.0.0.1:9/x>; rel="next""#)
            } else {
                honest(&manifest_body("not an index"), OCI_MANIFEST)
            }
        })
        .await;
        let registry = Registry::new(settings_for(&[&server])).unwrap();
        let found = registry
            .referrers(&image(&server, "paged:v1"), &subject)
            .await
            .unwrap();
        let digests: Vec<&Digest> = found.iter().map(|r| &r.descriptor.digest).collect();
        assert_eq!(digests, [&a, &b]);
        assert!(found.iter().all(|r| r.source == ReferrerSource::Api));

        let err = registry
            .referrers(&image(&server, "elsewhere:v1"), &subject)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("another origin"), "{err}");
        let err = registry
            .referrers(&image(&server, "manifest:v1"), &subject)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid-registry-response");
        assert!(
            err.to_string().contains("expected an OCI image index"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn referrers_api_server_error_fails_closed_without_fallback() {
        let server = Server::start(|_: &Request| Reply::status(502)).await;
        let mut settings = settings_for(&[&server]);
        settings.retries = 0;
        let registry = Registry::new(settings).unwrap();
        let err = registry
            .referrers(&image(&server, "app:v1"), &Digest::sha256_of(b"x"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "registry-unavailable", "{err}");
        assert_eq!(methods_and_paths(&server).len(), 1);
    }

    #[tokio::test]
    async fn layout_lists_manifests_whose_subject_is_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        let store = |body: &str| {
            let digest = Digest::sha256_of(body.as_bytes());
            std::fs::write(blobs.join(digest.hex()), body).unwrap();
            digest
        };
        let subject_body = manifest_body("image");
        let subject = store(&subject_body);
        let referrer_body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{BUNDLE}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}},"layers":[],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":{}}},"annotations":{{"a":"b"}}}}"#,
            subject_body.len()
        );
        let referrer = store(&referrer_body);
        let tagged = Digest::sha256_of(b"listed by the referrers tag only");
        let tag_index = store(&referrers_index(&[&tagged]));
        std::fs::write(
            dir.path().join("index.json"),
            format!(
                r#"{{"schemaVersion":2,"manifests":[
                {{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":1,"annotations":{{"org.opencontainers.image.ref.name":"v1"}}}},
                {{"mediaType":"{OCI_MANIFEST}","digest":"{referrer}","size":1}},
                {{"mediaType":"{OCI_INDEX}","digest":"{tag_index}","size":1,"annotations":{{"org.opencontainers.image.ref.name":"{}"}}}}]}}"#,
                subject.tag_prefix()
            ),
        )
        .unwrap();
        let registry =
            Registry::new(layout_settings("r.example", dir.path().to_path_buf())).unwrap();
        let img = ImageRef::parse("r.example/app:v1").unwrap();
        let found = registry.referrers(&img, &subject).await.unwrap();
        let seen: Vec<(&Digest, &ReferrerSource, Option<&str>)> = found
            .iter()
            .map(|r| {
                (
                    &r.descriptor.digest,
                    &r.source,
                    r.descriptor.artifact_type.as_deref(),
                )
            })
            .collect();
        let tag = ReferrerSource::Tag {
            tag: subject.tag_prefix(),
        };
        assert_eq!(
            seen,
            [
                (&tagged, &tag, Some(BUNDLE)),
                (&referrer, &ReferrerSource::Api, Some(BUNDLE)),
            ]
        );
        assert_eq!(found[1].descriptor.annotations["a"], "b");
        let other = Digest::sha256_of(b"nothing attached");
        assert!(registry.referrers(&img, &other).await.unwrap().is_empty());
        assert_eq!(registry.stats().requests, 0);
    }

    #[test]
    fn image_manifest_reads_layers_annotations_and_subject() {
        let subject = Digest::sha256_of(b"s");
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{subject}","size":2}},
            "layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{subject}","size":7,"annotations":{{"dev.cosignproject.cosign/signature":"c2ln"}}}}],
            "subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":9}}}}"#
        );
        let manifest = Manifest {
            digest: Digest::sha256_of(body.as_bytes()),
            media_type: OCI_MANIFEST.to_owned(),
            body: body.into_bytes(),
        };
        let img = ImageRef::parse("r.example/app:v1").unwrap();
        let parsed = manifest.image_manifest(&img).unwrap();
        assert_eq!(parsed.layers.len(), 1);
        assert_eq!(parsed.layers[0].size, 7);
        assert_eq!(
            parsed.layers[0].annotations["dev.cosignproject.cosign/signature"],
            "c2ln"
        );
        assert_eq!(parsed.subject.unwrap().digest, subject);
        assert_eq!(
            parsed
                .artifact_type
                .as_deref()
                .unwrap_or(&parsed.config.media_type),
            "application/vnd.oci.image.config.v1+json"
        );

        let index = Manifest {
            digest: Digest::sha256_of(index_body().as_bytes()),
            media_type: OCI_INDEX.to_owned(),
            body: index_body().into_bytes(),
        };
        let err = index.image_manifest(&img).unwrap_err();
        assert_eq!(err.code(), "invalid-registry-response");
        let bad_layer = Manifest {
            body: br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:1","size":1}}"#
                .to_vec(),
            ..manifest
        };
        assert!(bad_layer
            .image_manifest(&img)
            .unwrap_err()
            .to_string()
            .contains("invalid digest"));
    }

    #[tokio::test]
    async fn answers_from_a_lock_what_it_recorded_without_a_request() {
        let index = index_body();
        let blob = b"signature payload".to_vec();
        let blob_digest = Digest::sha256_of(&blob);
        let server = Server::start({
            let (index, blob) = (index.clone(), blob.clone());
            move |r: &Request| match r.path() {
                "/v2/team/app/manifests/v1" => honest(&index, OCI_INDEX),
                p if p.starts_with("/v2/team/app/blobs/") => Reply::body(200, blob.clone()),
                _ => Reply::status(404),
            }
        })
        .await;
        let settings = settings_for(&[&server]);
        let online = Registry::new(settings.clone()).unwrap().with_recorder();
        let img = image(&server, "team/app:v1");
        let resolved = online.resolve(&img).await.unwrap();
        assert_eq!(online.blob(&img, &blob_digest, 1024).await.unwrap(), blob);
        let missing = image(&server, "team/app:gone");
        assert_eq!(
            online.resolve(&missing).await.unwrap_err().code(),
            "image-not-found"
        );
        let lock = crate::lock::Lock::new(
            online.take_recording(),
            &crate::report::Report::default(),
            crate::lock::Fingerprint {
                trust: Digest::sha256_of(b"t"),
                policy: Digest::sha256_of(b"p"),
            },
            jiff::Timestamp::UNIX_EPOCH,
        );
        let text = lock.to_json();
        let path = Path::new("test.lock");
        let lock = crate::lock::Lock::parse(text.as_bytes(), path).unwrap();
        let before = server.requests().len();

        let locked = Registry::from_lock(settings.clone(), Arc::new(lock)).unwrap();
        assert_eq!(locked.resolve(&img).await.unwrap(), resolved);
        assert_eq!(locked.blob(&img, &blob_digest, 1024).await.unwrap(), blob);
        assert_eq!(
            locked.tag_digest(&img, "v1").await.unwrap(),
            resolved.digest
        );
        // Absent from the lock: not found (as when it was recorded), never a request.
        assert_eq!(
            locked.resolve(&missing).await.unwrap_err().code(),
            "image-not-found"
        );
        assert_eq!(
            locked
                .blob(&img, &Digest::sha256_of(b"other"), 1024)
                .await
                .unwrap_err()
                .code(),
            "image-not-found"
        );
        assert_eq!(
            locked.blob(&img, &blob_digest, 4).await.unwrap_err().code(),
            "manifest-too-large"
        );
        assert_eq!(server.requests().len(), before);
        assert_eq!(locked.stats().requests, 0);

        // An object edited in the lock is a digest mismatch, for manifests and blobs alike.
        let b64 = base64::engine::general_purpose::STANDARD;
        let edited = text
            .replace(
                &b64.encode(index.as_bytes()),
                &b64.encode(format!("{index} ")),
            )
            .replace(&b64.encode(&blob), &b64.encode(b"forged payload"));
        assert_ne!(edited, text);
        let lock = crate::lock::Lock::parse(edited.as_bytes(), path).unwrap();
        let locked = Registry::from_lock(settings, Arc::new(lock)).unwrap();
        assert_eq!(
            locked.resolve(&img).await.unwrap_err().code(),
            "digest-mismatch"
        );
        assert_eq!(
            locked
                .blob(&img, &blob_digest, 1024)
                .await
                .unwrap_err()
                .code(),
            "digest-mismatch"
        );
        assert_eq!(server.requests().len(), before);
    }
}
