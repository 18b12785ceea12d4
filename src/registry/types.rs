//! The registry stage's data: settings, what it answers (manifests, descriptors, referrers)
//! and its counters.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{invalid, media, RegistryError};
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
pub(super) const MAX_REFERRERS: usize = 1024;

/// Counters for the report and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// HTTP requests sent (including retries and token requests).
    pub requests: u64,
    /// Answers served from the in-process cache.
    pub cache_hits: u64,
}

impl Manifest {
    /// Reads this manifest as an image manifest (layers, annotations, `subject`); an index
    /// or a body without a valid `config` is an invalid response.
    pub fn image_manifest(&self, image: &ImageRef) -> Result<ImageManifest, RegistryError> {
        media::parse_image_manifest(&self.body, &self.media_type).map_err(|why| {
            invalid(
                &image.to_string(),
                why.context(format_args!("`{}`", self.digest)),
            )
        })
    }
}
