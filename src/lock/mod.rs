//! The evidence lock: what the registry said during an online `check --write-lock`, kept so
//! that `check --locked` (the pre-sync hook) and the webhook can re-verify it offline.
//!
//! The lock is a content store, not a verdict to trust: `--locked` runs the same pipeline
//! ([`crate::gate::evaluate_manifests`]: the same signature and provenance verification, the
//! same policies) with a [`Registry`] that answers from the lock instead of the network
//! ([`Registry::replaying`] on [`Lock::evidence`]). Objects are content-addressed and checked against their digest
//! when used, exactly as network answers are, so an edited object is a `digest-mismatch`, and
//! an object edited with a recomputed digest fails its signature. What the lock cannot prove
//! by itself — which digest a tag names, which referrers a digest has — is checked against
//! the registry when it is reachable ([`check_tags`]) and, like everything else, re-judged by
//! the policies. An unpinned reference whose tag could not be re-checked (offline, or the
//! registry did not answer) is denied `unpinned-image` ([`deny_unchecked_tags`]), the same
//! rule as `serve --lock`: what runs must be a digest the lock verified.
//!
//! [`Lock::review`] then compares the run with what the lock recorded: images missing from
//! the lock, signers, trusted roots or policies changed since it was written, and digests or
//! decisions that differ all deny.

mod fingerprint;
mod format;
mod review;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;

use crate::reference::{Digest, ImageRef};
#[cfg(doc)]
use crate::registry::Registry;
use crate::registry::{Object, Referrer, Store};
use crate::report::{Decision, Report};
pub use fingerprint::Fingerprint;
use format::{first_difference, RawLock, RawObject, RawReferrer};
pub use review::{
    check_tags, deny_unchecked_tags, tags_not_checked, tags_not_checked_in_images, UncheckedTags,
};

/// The lock format version this build reads and writes.
pub const VERSION: u32 = 1;

/// The largest lock file read (64 MiB): objects are signatures, bundles and manifests, a few
/// kilobytes each.
pub const MAX_LOCK_BYTES: u64 = 64 * 1024 * 1024;

/// Why a lock could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The file could not be read.
    #[error("cannot read the lock `{}`", path.display())]
    Read {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_LOCK_BYTES`].
    #[error("the lock `{}` is larger than the limit of {limit} bytes", path.display())]
    TooLarge {
        /// The lock file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// Not the JSON of a lock.
    #[error("the lock `{}` is not a supplygate lock", path.display())]
    Json {
        /// The lock file.
        path: PathBuf,
        /// Where and what.
        #[source]
        source: serde_json::Error,
    },
    /// Written by a version of supplygate with another format.
    #[error(
        "the lock `{}` has format version {found}; this supplygate reads version {supported}: \
         write it again with `supplygate check --write-lock`",
        path.display()
    )]
    Version {
        /// The lock file.
        path: PathBuf,
        /// The lock's `version`.
        found: u32,
        /// [`VERSION`].
        supported: u32,
    },
    /// A field that does not parse (a digest, base64 data, a referrer's `via`).
    #[error("the lock `{}`: {reason}", path.display())]
    Invalid {
        /// The lock file.
        path: PathBuf,
        /// What is wrong, naming the entry.
        reason: String,
    },
    /// Valid JSON, but not byte for byte what `--write-lock` writes for the same content:
    /// duplicate keys (of which only the last would be used), unsorted keys, other spacing or
    /// escapes. Refused, so that what a reviewer reads in the diff is what is used.
    #[error(
        "the lock `{}` is not in the form supplygate writes: line {line} is `{found}`, expected \
         `{expected}` (duplicate or unsorted keys, or an edit by hand): write it again with \
         `supplygate check --write-lock` and review its diff",
        path.display()
    )]
    NotCanonical {
        /// The lock file.
        path: PathBuf,
        /// The first line (1-based) that differs.
        line: usize,
        /// That line as supplygate writes it (shortened), or `end of file`.
        expected: String,
        /// That line in the file (shortened), or `end of file`.
        found: String,
    },
    /// The lock or a digest input could not be serialised (never expected: refused rather
    /// than replaced by a fixed value).
    #[error("cannot serialise {what}")]
    Serialize {
        /// What.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A signer setting this build has no stable name for in the trust digest (a new key
    /// algorithm or signing scheme of the crypto library): refused rather than named by a
    /// `Debug` text that could change.
    #[error("cannot fingerprint the signers: no stable name for this {what}")]
    UnnamedTrust {
        /// What has no name.
        what: &'static str,
    },
}

/// What the lock recorded about one image reference (all its sites together).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedImage {
    /// The digest it resolved to; absent for an image that did not resolve (not found: denied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// For an index, `os/architecture[/variant]` -> platform manifest digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub platforms: BTreeMap<String, Digest>,
    /// The decision: the most severe over its sites.
    pub decision: LockedDecision,
    /// The codes of every finding on it, sorted (for review; not compared).
    #[serde(default)]
    pub codes: Vec<String>,
    /// `file:line` of every site (for review; not compared).
    #[serde(default)]
    pub sites: Vec<String>,
}

/// A decision as the lock records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockedDecision {
    /// May run.
    Allow,
    /// Must not run.
    Deny,
}

impl LockedDecision {
    fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// The digests of what judged the images: signers and trusted roots, and the policy library.
/// A lock: read from a file ([`Lock::read`]) or made from a run ([`Lock::new`]).
#[derive(Debug, Clone)]
pub struct Lock {
    /// When it was written (RFC 3339).
    pub written_at: String,
    /// The supplygate version that wrote it.
    pub supplygate: String,
    /// Trust and policy digests when it was written.
    pub fingerprint: Fingerprint,
    /// Per image reference (as [`ImageRef`] prints it).
    pub images: BTreeMap<String, LockedImage>,
    /// What the registry answered: the content store a `--locked` run replays.
    store: Arc<Store>,
    /// Where it was read from (for messages); `None` for a lock made in memory.
    path: Option<PathBuf>,
}

impl Lock {
    /// A lock of `report`'s images, with everything `recording` saw, judged under `fingerprint`.
    ///
    /// An image that did not resolve (not found, so denied) is recorded without a digest; the
    /// caller refuses to write a lock of a run that could not decide.
    pub fn new(
        recording: Store,
        report: &Report,
        fingerprint: Fingerprint,
        written_at: jiff::Timestamp,
    ) -> Self {
        let mut images: BTreeMap<String, LockedImage> = BTreeMap::new();
        for image in &report.images {
            let Some(reference) = &image.reference else {
                continue;
            };
            let resolved = image.resolved.as_ref();
            let decision = match image.decision() {
                Decision::Allow => LockedDecision::Allow,
                Decision::Deny | Decision::Error => LockedDecision::Deny,
            };
            let site = format!("{}:{}", image.site.origin, image.site.span.line);
            let entry = images
                .entry(reference.to_string())
                .or_insert_with(|| LockedImage {
                    digest: resolved.map(|r| r.digest.clone()),
                    platforms: resolved
                        .iter()
                        .flat_map(|r| &r.platforms)
                        .map(|p| (platform_name(p), p.digest.clone()))
                        .collect(),
                    decision,
                    codes: Vec::new(),
                    sites: Vec::new(),
                });
            if decision == LockedDecision::Deny {
                entry.decision = LockedDecision::Deny;
            }
            entry.sites.push(site);
            entry
                .codes
                .extend(image.findings.iter().map(|f| f.code.as_str().to_owned()));
        }
        for entry in images.values_mut() {
            entry.codes.sort();
            entry.codes.dedup();
        }
        Self {
            written_at: written_at.to_string(),
            supplygate: env!("CARGO_PKG_VERSION").to_owned(),
            fingerprint,
            images,
            // "Not found" answers are left out: in a lock, absent means not found.
            store: Arc::new(Store {
                missing_tags: BTreeSet::new(),
                ..recording
            }),
            path: None,
        }
    }

    /// Reads and parses a lock file (at most [`MAX_LOCK_BYTES`]).
    pub fn read(path: &Path) -> Result<Self, LockError> {
        let read = |source| LockError::Read {
            path: path.to_owned(),
            source,
        };
        let Some(bytes) = crate::bounded::read_file(path, MAX_LOCK_BYTES).map_err(read)? else {
            return Err(LockError::TooLarge {
                path: path.to_owned(),
                limit: MAX_LOCK_BYTES,
            });
        };
        let mut lock = Self::parse(&bytes, path)?;
        lock.path = Some(path.to_owned());
        Ok(lock)
    }

    /// Parses the JSON of a lock; `path` names it in errors.
    ///
    /// Only the exact bytes that [`Lock::json`] writes are accepted: a lock with duplicate keys
    /// (of which serde would keep the last), unsorted keys or any other spelling is refused
    /// ([`LockError::NotCanonical`]), so that what a reviewer reads in the diff is what is used.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, LockError> {
        let lock = Self::parse_any_form(bytes, path)?;
        // Duplicate keys parse (the last wins) and so would anything reordered: refuse every
        // file that is not exactly what this lock serialises to.
        let canonical = lock.json()?;
        if canonical.as_bytes() != bytes {
            let (line, expected, found) = first_difference(&canonical, bytes);
            return Err(LockError::NotCanonical {
                path: path.to_owned(),
                line,
                expected,
                found,
            });
        }
        Ok(lock)
    }

    /// The form [`Lock::parse`] accepts of the lock JSON in `bytes`, which may have other key
    /// order or spacing (with duplicate keys, the last wins): for tools that edit a lock as
    /// JSON. Fields are checked as by [`Lock::parse`].
    pub fn canonical(bytes: &[u8], path: &Path) -> Result<String, LockError> {
        Self::parse_any_form(bytes, path)?.json()
    }

    fn parse_any_form(bytes: &[u8], path: &Path) -> Result<Self, LockError> {
        let invalid = |reason: String| LockError::Invalid {
            path: path.to_owned(),
            reason,
        };
        // The version first, so that a future format says so instead of "unknown field".
        #[derive(serde::Deserialize)]
        struct Versioned {
            version: u32,
        }
        let versioned: Versioned =
            serde_json::from_slice(bytes).map_err(|source| LockError::Json {
                path: path.to_owned(),
                source,
            })?;
        if versioned.version != VERSION {
            return Err(LockError::Version {
                path: path.to_owned(),
                found: versioned.version,
                supported: VERSION,
            });
        }
        let raw: RawLock = serde_json::from_slice(bytes).map_err(|source| LockError::Json {
            path: path.to_owned(),
            source,
        })?;
        let mut objects = BTreeMap::new();
        for (digest, object) in raw.objects {
            let data = base64::engine::general_purpose::STANDARD
                .decode(object.data.as_bytes())
                .map_err(|e| invalid(format!("object `{digest}`: `data` is not base64: {e}")))?;
            objects.insert(
                digest,
                Object {
                    media_type: object.media_type,
                    data,
                },
            );
        }
        let mut referrers = BTreeMap::new();
        for (key, listing) in raw.referrers {
            let listing = listing
                .into_iter()
                .map(|r| {
                    Referrer::try_from(r).map_err(|via| {
                        invalid(format!(
                        "referrers of `{key}`: `via` is `{via}`; expected `api` or `tag <name>`"
                    ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            referrers.insert(key, listing);
        }
        Ok(Self {
            written_at: raw.written_at,
            supplygate: raw.supplygate,
            fingerprint: Fingerprint {
                trust: raw.trust,
                policy: raw.policy,
            },
            images: raw.images,
            store: Arc::new(Store {
                tags: raw.tags,
                missing_tags: BTreeSet::new(),
                referrers,
                objects,
            }),
            path: Some(path.to_owned()),
        })
    }

    /// The lock as JSON: keys sorted, one entry per line, so that diffs are reviewable. This is
    /// the only form [`Lock::parse`] accepts.
    pub fn json(&self) -> Result<String, LockError> {
        let raw = RawLock {
            version: VERSION,
            written_at: self.written_at.clone(),
            supplygate: self.supplygate.clone(),
            trust: self.fingerprint.trust.clone(),
            policy: self.fingerprint.policy.clone(),
            images: self.images.clone(),
            tags: self.store.tags.clone(),
            referrers: self
                .store
                .referrers
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().map(RawReferrer::from).collect()))
                .collect(),
            objects: self
                .store
                .objects
                .iter()
                .map(|(digest, object)| {
                    (
                        digest.clone(),
                        RawObject {
                            media_type: object.media_type.clone(),
                            data: base64::engine::general_purpose::STANDARD.encode(&object.data),
                        },
                    )
                })
                .collect(),
        };
        let mut text =
            serde_json::to_string_pretty(&raw).map_err(|source| LockError::Serialize {
                what: "the lock",
                source,
            })?;
        text.push('\n');
        Ok(text)
    }

    /// [`Lock::json`], for tests.
    #[cfg(test)]
    #[allow(clippy::expect_used)]
    pub(crate) fn to_json(&self) -> String {
        self.json().expect("a lock serialises")
    }

    /// The digest the lock recorded for `image`'s `tag`.
    pub fn tag(&self, image: &ImageRef, tag: &str) -> Option<&Digest> {
        self.store.tag(image, tag)
    }

    /// The stored object named `digest` (unchecked: the registry checks it on use).
    pub fn object(&self, digest: &Digest) -> Option<&Object> {
        self.store.object(digest)
    }

    /// The evidence: the content store a registry replays ([`Registry::replaying`]).
    pub fn evidence(&self) -> Arc<Store> {
        Arc::clone(&self.store)
    }

    /// The recorded referrers listing of `digest` in `image`'s repository.
    pub fn referrers(&self, image: &ImageRef, digest: &Digest) -> Option<&[Referrer]> {
        self.store.referrers(image, digest)
    }

    fn name(&self) -> String {
        self.path.as_deref().map_or_else(
            || "the lock".to_owned(),
            |p| format!("the lock `{}`", p.display()),
        )
    }
}

fn platform_name(p: &crate::registry::Platform) -> String {
    p.name()
}
