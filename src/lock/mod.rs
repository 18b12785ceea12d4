//! The evidence lock: what the registry said during an online `check --write-lock`, kept so
//! that `check --locked` (the pre-sync hook) and the webhook can re-verify it offline.
//!
//! The lock is a content store, not a verdict to trust: `--locked` runs the same pipeline
//! ([`crate::gate::evaluate_manifests`]: the same signature and provenance verification, the
//! same policies) with a [`Registry`] that answers from the lock instead of the network
//! ([`Registry::from_lock`]). Objects are content-addressed and checked against their digest
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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;

use crate::config::Config;
use crate::reference::{Digest, ImageRef};
use crate::registry::{Descriptor, Referrer, ReferrerSource, Registry, RegistryError};
use crate::report::{Code, Decision, FileError, Finding, Report, Severity};
use crate::verify::signers::SignerKind;
use crate::verify::Signer;

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
    #[error("the lock `{}` is not a supplygate lock: {source}", path.display())]
    Json {
        /// The lock file.
        path: PathBuf,
        /// Where and what.
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
    #[error("cannot serialise {what}: {source}")]
    Serialize {
        /// What.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// One stored object: a manifest or a blob, as the registry served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The manifest's media type; `None` for a blob.
    pub media_type: Option<String>,
    /// The bytes (not yet checked against their digest: [`Registry`] checks them on use).
    pub data: Vec<u8>,
}

/// Everything a [`Registry`] fetched and verified while recording (see
/// [`Registry::with_recorder`]): tag answers, referrers listings, and every manifest and blob.
/// Negative answers are not recorded: in a lock, absent means not found.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub(crate) tags: BTreeMap<String, Digest>,
    pub(crate) referrers: BTreeMap<String, Vec<Referrer>>,
    pub(crate) objects: BTreeMap<Digest, Object>,
}

impl Recording {
    pub(crate) fn tag(&mut self, image: &ImageRef, tag: &str, digest: &Digest) {
        self.tags.insert(tag_key(image, tag), digest.clone());
    }

    pub(crate) fn object(&mut self, digest: &Digest, media_type: Option<&str>, data: &[u8]) {
        self.objects
            .entry(digest.clone())
            .or_insert_with(|| Object {
                media_type: media_type.map(str::to_owned),
                data: data.to_vec(),
            });
    }

    pub(crate) fn referrers(&mut self, image: &ImageRef, digest: &Digest, found: &[Referrer]) {
        self.referrers
            .insert(referrers_key(image, digest), found.to_vec());
    }
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// `sha256` over every signer (name, kind, key or identity, options) and its trusted root.
    pub trust: Digest,
    /// The policy library's [`crate::policy::Engine::digest`].
    pub policy: Digest,
}

impl Fingerprint {
    /// The fingerprint of a run with `config`'s signers and the `policy` library.
    pub fn new(config: &Config, policy: &crate::policy::Engine) -> Result<Self, LockError> {
        Ok(Self {
            trust: trust_digest(config.signers.values())?,
            policy: policy.digest().clone(),
        })
    }
}

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
    tags: BTreeMap<String, Digest>,
    referrers: BTreeMap<String, Vec<Referrer>>,
    objects: BTreeMap<Digest, Object>,
    /// Where it was read from (for messages); `None` for a lock made in memory.
    path: Option<PathBuf>,
}

impl Lock {
    /// A lock of `report`'s images, with everything `recording` saw, judged under `fingerprint`.
    ///
    /// An image that did not resolve (not found, so denied) is recorded without a digest; the
    /// caller refuses to write a lock of a run that could not decide.
    pub fn new(
        recording: Recording,
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
            tags: recording.tags,
            referrers: recording.referrers,
            objects: recording.objects,
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
            tags: raw.tags,
            referrers,
            objects,
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
            tags: self.tags.clone(),
            referrers: self
                .referrers
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().map(RawReferrer::from).collect()))
                .collect(),
            objects: self
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
        self.tags.get(&tag_key(image, tag))
    }

    /// The stored object named `digest` (unchecked: the registry checks it on use).
    pub fn object(&self, digest: &Digest) -> Option<&Object> {
        self.objects.get(digest)
    }

    /// The recorded referrers listing of `digest` in `image`'s repository.
    pub fn referrers(&self, image: &ImageRef, digest: &Digest) -> Option<&[Referrer]> {
        self.referrers
            .get(&referrers_key(image, digest))
            .map(Vec::as_slice)
    }

    fn name(&self) -> String {
        self.path.as_deref().map_or_else(
            || "the lock".to_owned(),
            |p| format!("the lock `{}`", p.display()),
        )
    }

    /// Compares a run made from this lock (or checked against it) with what it recorded, and
    /// adds a denying finding to every image where they differ:
    ///
    /// * `lock-stale`: signers, trusted roots or policies changed since it was written;
    /// * `not-in-lock`: the image is not in the lock;
    /// * `lock-mismatch`: the image resolved to another digest, or was decided otherwise.
    ///
    /// Images in the lock that the manifests no longer name are ignored.
    pub fn review(&self, report: &mut Report, current: &Fingerprint) {
        let name = self.name();
        // The decision per reference, over all its sites, before lock findings change it.
        let mut decided: BTreeMap<String, LockedDecision> = BTreeMap::new();
        for image in &report.images {
            if let Some(reference) = &image.reference {
                let decision = match image.decision() {
                    Decision::Allow => LockedDecision::Allow,
                    Decision::Deny | Decision::Error => LockedDecision::Deny,
                };
                let entry = decided
                    .entry(reference.to_string())
                    .or_insert(LockedDecision::Allow);
                if decision == LockedDecision::Deny {
                    *entry = LockedDecision::Deny;
                }
            }
        }
        let stale: Vec<Finding> = [
            (
                "signers or trusted roots",
                &self.fingerprint.trust,
                &current.trust,
            ),
            ("the policies", &self.fingerprint.policy, &current.policy),
        ]
        .into_iter()
        .filter(|(_, locked, now)| locked != now)
        .map(|(what, locked, now)| {
            Finding::new(
                Code::LockStale,
                Severity::Deny,
                format!("{what} changed since {name} was written"),
            )
            .expected_found(locked.to_string(), now.to_string())
        })
        .collect();
        let rewrite = "run `supplygate check --write-lock` online on these manifests, review \
                       the lock's diff and commit it with them";
        if report.images.is_empty() {
            // No image to carry the finding: a stale lock still fails the run (exit 2: it no
            // longer vouches for anything), as a problem with the lock file itself.
            for finding in &stale {
                report.file_errors.push(FileError {
                    file: self
                        .path
                        .as_deref()
                        .map_or_else(|| "lock".to_owned(), |p| p.display().to_string()),
                    line: None,
                    column: None,
                    code: Code::LockStale,
                    message: format!("{}; {rewrite}", finding.message),
                });
            }
        }
        for image in &mut report.images {
            for finding in &stale {
                image.findings.push(finding.clone().hint(rewrite));
            }
            let Some(reference) = &image.reference else {
                continue;
            };
            let key = reference.to_string();
            let Some(locked) = self.images.get(&key) else {
                image.findings.push(
                    Finding::new(
                        Code::NotInLock,
                        Severity::Deny,
                        format!("`{key}` is not in {name}"),
                    )
                    .hint(rewrite),
                );
                continue;
            };
            let digest = image.resolved.as_ref().map(|r| &r.digest);
            if digest != locked.digest.as_ref() {
                let show = |d: Option<&Digest>| {
                    d.map_or_else(|| "not found".to_owned(), Digest::to_string)
                };
                image.findings.push(
                    Finding::new(
                        Code::LockMismatch,
                        Severity::Deny,
                        format!("`{key}` resolved to another digest than {name} records"),
                    )
                    .expected_found(show(locked.digest.as_ref()), show(digest))
                    .hint(rewrite),
                );
            } else {
                // Same index digest: the platform digests come from the index itself, so a
                // difference is an edit of the lock's `platforms`.
                let platforms: BTreeMap<String, Digest> = image
                    .resolved
                    .iter()
                    .flat_map(|r| &r.platforms)
                    .map(|p| (platform_name(p), p.digest.clone()))
                    .collect();
                if platforms != locked.platforms {
                    let show = |m: &BTreeMap<String, Digest>| {
                        m.iter()
                            .map(|(p, d)| format!("{p}={d}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    image.findings.push(
                        Finding::new(
                            Code::LockMismatch,
                            Severity::Deny,
                            format!("`{key}` has other platform digests than {name} records"),
                        )
                        .expected_found(show(&locked.platforms), show(&platforms))
                        .hint(rewrite),
                    );
                }
            }
            let now = decided.get(&key).copied().unwrap_or(LockedDecision::Deny);
            if now != locked.decision {
                image.findings.push(
                    Finding::new(
                        Code::LockMismatch,
                        Severity::Deny,
                        format!(
                            "`{key}` is decided `{}` now, but {name} records `{}`",
                            now.as_str(),
                            locked.decision.as_str()
                        ),
                    )
                    .expected_found(locked.decision.as_str(), now.as_str())
                    .hint(rewrite),
                );
            }
        }
    }
}

/// What `check --locked` does with an unpinned reference (a tag, no digest) whose tag was not
/// re-checked against the registry in this run: offline, or the registry could not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UncheckedTags {
    /// Deny it with `unpinned-image`: the lock's tag -> digest answer cannot be re-checked,
    /// and the kubelet pulls whatever the tag names at pull time. The same rule as
    /// `serve --lock`.
    Deny,
    /// Allow it on the lock's word, with a warning notice per tag
    /// (`--insecure-allow-unpinned-with-lock`).
    Warn,
}

/// Why a tag was not re-checked against the registry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum NotChecked {
    /// `--offline` or `offline: true`.
    Offline,
    /// The registry was asked and could not answer (the error, for the message).
    Unanswered(String),
    /// The check itself failed (a panicked task).
    Failed,
}

impl NotChecked {
    fn why(&self) -> String {
        match self {
            Self::Offline => "offline: `--offline` or `offline: true`".to_owned(),
            Self::Unanswered(e) => format!("the registry could not answer: {e}"),
            Self::Failed => "the check failed (internal error)".to_owned(),
        }
    }

    fn hint(&self) -> &'static str {
        match self {
            Self::Offline => {
                "pin it in git with `supplygate pin` (`repo:tag@sha256:…`) so that what runs is \
                 what the lock verified, or run without `--offline` so that the tag is re-checked \
                 against the registry"
            }
            Self::Unanswered(_) | Self::Failed => {
                "pin it in git with `supplygate pin` (`repo:tag@sha256:…`) so that what runs is \
                 what the lock verified, or run again when the registry answers so that the tag \
                 is re-checked"
            }
        }
    }
}

/// Asks `registry` (the network) where every tag of the report's unpinned references points
/// now, and denies, with `tag-moved-since-lock`, each one that no longer names the digest the
/// lock recorded (or no longer exists): the cluster would pull something else than what was
/// verified. A tag that still names the locked digest is allowed. A pinned reference runs its
/// digest whatever the tag does, so it is not asked.
///
/// A tag the registry could not answer for was not re-checked: under [`UncheckedTags::Deny`]
/// its images are denied with `unpinned-image` (as [`deny_unchecked_tags`] does offline), under
/// [`UncheckedTags::Warn`] a warning notice says which tag was not checked and the lock alone
/// decides.
pub async fn check_tags(
    lock: &Lock,
    report: &mut Report,
    registry: &Arc<Registry>,
    unchecked: UncheckedTags,
) {
    let wanted = unpinned_tags(lock, report);
    let mut tasks = tokio::task::JoinSet::new();
    for (reference, tag, locked) in wanted.iter().cloned() {
        let registry = Arc::clone(registry);
        tasks.spawn(async move {
            let now = registry.tag_digest(&reference, &tag).await;
            (reference, tag, locked, now)
        });
    }
    let name = lock.name();
    let mut moved: Vec<(ImageRef, Finding)> = Vec::new();
    let mut answered: BTreeSet<(ImageRef, String, Digest)> = BTreeSet::new();
    let mut not_checked: Vec<(ImageRef, String, Digest, NotChecked)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        // A task that panicked names no tag: every wanted tag without an answer is treated as
        // not checked below, so a failed check never allows by omission.
        let Ok((reference, tag, locked, now)) = joined else {
            continue;
        };
        answered.insert((reference.clone(), tag.clone(), locked.clone()));
        let hint = "the cluster would pull another image than the one verified: pin the \
                    reference (`supplygate pin`), or write the lock again and review it";
        match now {
            Ok(now) if now == locked => {}
            Ok(now) => moved.push((
                reference.clone(),
                Finding::new(
                    Code::TagMovedSinceLock,
                    Severity::Deny,
                    format!("the tag `{tag}` of `{reference}` moved since {name} was written"),
                )
                .expected_found(locked.to_string(), now.to_string())
                .hint(hint),
            )),
            Err(RegistryError::NotFound { .. }) => moved.push((
                reference.clone(),
                Finding::new(
                    Code::TagMovedSinceLock,
                    Severity::Deny,
                    format!("the tag `{tag}` of `{reference}` no longer exists; {name} records it"),
                )
                .expected_found(locked.to_string(), "no such tag")
                .hint(hint),
            )),
            Err(e) => {
                tracing::warn!("{reference}: tag `{tag}` not checked against the registry: {e}");
                not_checked.push((
                    reference,
                    tag,
                    locked,
                    NotChecked::Unanswered(e.to_string()),
                ));
            }
        }
    }
    for (reference, tag, locked) in wanted {
        if !answered.contains(&(reference.clone(), tag.clone(), locked.clone())) {
            tracing::warn!(
                "{reference}: tag `{tag}` not checked against the registry: the check failed"
            );
            not_checked.push((reference, tag, locked, NotChecked::Failed));
        }
    }
    for image in &mut report.images {
        for (reference, finding) in &moved {
            if image.reference.as_ref() == Some(reference) {
                image.findings.push(finding.clone());
            }
        }
    }
    not_checked.sort();
    match unchecked {
        UncheckedTags::Deny => deny_unpinned(report, not_checked),
        UncheckedTags::Warn => {
            for (reference, tag, locked, why) in not_checked {
                report.notices.push(
                    Finding::new(
                        Code::TagMovedSinceLock,
                        Severity::Warn,
                        format!(
                            "the tag `{tag}` of `{reference}` was not checked against the \
                             registry ({}): the lock verified `{locked}`, but the cluster pulls \
                             whatever the tag names when it starts the image",
                            why.why()
                        ),
                    )
                    .expected_found(locked.to_string(), "not checked")
                    .hint(
                        "decided from the lock alone (`--insecure-allow-unpinned-with-lock`): \
                         pin the reference (`supplygate pin`), or run again when the registry \
                         answers",
                    ),
                );
            }
        }
    }
}

/// When the tags are not checked (`--offline`), under [`UncheckedTags::Deny`]: denies, with
/// `unpinned-image`, every image whose unpinned reference names a tag the lock records, since
/// nothing then shows that the tag still names the locked digest and the kubelet pulls
/// whatever it names at pull time. The same rule as `serve --lock`. Pinned references
/// (`repo:tag@digest`) run the locked digest and are not affected; an image allowed by an
/// exemption or break-glass keeps its warning notice instead, as in the webhook.
pub fn deny_unchecked_tags(lock: &Lock, report: &mut Report) {
    let not_checked = unpinned_tags(lock, report)
        .into_iter()
        .map(|(reference, tag, locked)| (reference, tag, locked, NotChecked::Offline))
        .collect();
    deny_unpinned(report, not_checked);
}

/// Denies with `unpinned-image` every image of `report` whose reference is one of
/// `not_checked`, unless an exemption or break-glass allowed it unverified (then a warning
/// notice says the tag was not checked, as the webhook keeps it).
fn deny_unpinned(report: &mut Report, not_checked: Vec<(ImageRef, String, Digest, NotChecked)>) {
    for (reference, tag, locked, why) in not_checked {
        let mut excepted = false;
        for image in &mut report.images {
            if image.reference.as_ref() != Some(&reference) {
                continue;
            }
            if image
                .findings
                .iter()
                .any(|f| matches!(f.code, Code::Exemption | Code::BreakGlass))
            {
                excepted = true;
                continue;
            }
            image.findings.push(
                Finding::new(
                    Code::UnpinnedImage,
                    Severity::Deny,
                    format!(
                        "`{reference}` names no digest and its tag `{tag}` was not re-checked \
                         against the registry ({}): under the evidence lock only a digest, or a \
                         tag re-checked online, is admitted, since the kubelet pulls whatever the \
                         tag names when it starts the container; the lock verified `{locked}`",
                        why.why()
                    ),
                )
                .expected_found(locked.to_string(), "not checked")
                .hint(why.hint()),
            );
        }
        if excepted {
            report.notices.push(
                Finding::new(
                    Code::TagMovedSinceLock,
                    Severity::Warn,
                    format!(
                        "the tag `{tag}` of `{reference}` was not checked against the registry \
                         ({}): allowed by an exemption or break-glass; the lock verified \
                         `{locked}`, but the cluster pulls whatever the tag names",
                        why.why()
                    ),
                )
                .expected_found(locked.to_string(), "not checked")
                .hint(why.hint()),
            );
        }
    }
}

/// When the tags are not checked (`--offline`) and unpinned references are allowed
/// (`serve --lock`'s per-image warnings, `check --locked --insecure-allow-unpinned-with-lock`):
/// a warning notice per unpinned tag of the report that the lock records, since nothing then
/// shows that the tag still names the locked digest, and the cluster pulls whatever it names
/// at pull time. Pinned references (`repo:tag@digest`) run the locked digest and need no
/// notice.
pub fn tags_not_checked(lock: &Lock, report: &mut Report) {
    for (reference, tag, locked) in unpinned_tags(lock, report) {
        report.notices.push(
            Finding::new(
                Code::TagMovedSinceLock,
                Severity::Warn,
                format!(
                    "the tag `{tag}` of `{reference}` was not checked against the registry \
                     (offline): the lock verified `{locked}`, but the cluster pulls whatever \
                     the tag names when it starts the image"
                ),
            )
            .expected_found(locked.to_string(), "not checked")
            .hint(
                "pin the reference (`repo:tag@digest`, `supplygate pin`) so that what runs is \
                 what the lock verified, or run without `--offline` to check the tag",
            ),
        );
    }
}

/// `(reference, tag, locked digest)` of every unpinned reference of the report whose tag the
/// lock records.
fn unpinned_tags(lock: &Lock, report: &Report) -> BTreeSet<(ImageRef, String, Digest)> {
    let mut wanted = BTreeSet::new();
    for image in &report.images {
        let Some(reference) = &image.reference else {
            continue;
        };
        if reference.digest().is_some() {
            continue;
        }
        let tag = reference.tag_or_default().unwrap_or("latest").to_owned();
        if let Some(locked) = lock.tag(reference, &tag) {
            wanted.insert((reference.clone(), tag, locked.clone()));
        }
    }
    wanted
}

/// `sha256` over a canonical JSON of the signers (sorted by name): kind, key (DER) or identity,
/// verification options, and the trusted root each uses.
fn trust_digest<'a>(signers: impl Iterator<Item = &'a Arc<Signer>>) -> Result<Digest, LockError> {
    let serialize = |source| LockError::Serialize {
        what: "a trusted root",
        source,
    };
    let mut entries: Vec<serde_json::Value> = Vec::new();
    for signer in signers {
        let root_digest = |root: &sigstore_verify::trust_root::TrustedRoot| {
            serde_json::to_vec(root)
                .map(|json| Digest::sha256_of(&json).to_string())
                .map_err(serialize)
        };
        entries.push(match &signer.kind {
            SignerKind::Key {
                key,
                algorithm,
                scheme,
                tlog,
                trusted_root,
                ..
            } => serde_json::json!({
                "name": signer.name,
                "kind": "key",
                "key": base64::engine::general_purpose::STANDARD.encode(key.as_bytes()),
                "algorithm": format!("{algorithm:?}"),
                "scheme": format!("{scheme:?}"),
                "tlog": format!("{tlog:?}"),
                "trusted_root": root_digest(trusted_root)?,
            }),
            SignerKind::Keyless {
                issuer,
                subject,
                trusted_root,
                insecure_skip_sct,
                constraints,
                timestamp_threshold,
                allow_timestamp_only,
                ..
            } => {
                let mut entry = serde_json::json!({
                    "name": signer.name,
                    "kind": "keyless",
                    "issuer": issuer,
                    "subject": subject.to_string(),
                    "insecure_skip_sct": insecure_skip_sct,
                    "trusted_root": root_digest(trusted_root)?,
                });
                // Only when set, so that locks written before constraints existed still match.
                if let (false, Some(map)) = (constraints.is_empty(), entry.as_object_mut()) {
                    map.insert("constraints".into(), constraints.to_string().into());
                }
                // Likewise only when not the default.
                if let (true, Some(map)) = (*timestamp_threshold != 1, entry.as_object_mut()) {
                    map.insert("timestamp_threshold".into(), (*timestamp_threshold).into());
                }
                if let (true, Some(map)) = (*allow_timestamp_only, entry.as_object_mut()) {
                    map.insert("allow_timestamp_only".into(), true.into());
                }
                entry
            }
            SignerKind::Notation(trust) => serde_json::json!({
                "name": signer.name,
                "kind": "notation",
                "trust": trust.fingerprint(),
            }),
        });
    }
    entries.sort_by_key(|e| e.get("name").and_then(|n| n.as_str()).map(str::to_owned));
    let text = serde_json::to_string(&entries).map_err(|source| LockError::Serialize {
        what: "the signers",
        source,
    })?;
    Ok(Digest::sha256_of(text.as_bytes()))
}

/// The first line where `file` differs from `canonical`: its 1-based number, the line as
/// written by supplygate and the line in the file, each shortened for a message.
fn first_difference(canonical: &str, file: &[u8]) -> (usize, String, String) {
    const SHOWN: usize = 200;
    let shorten = |line: Option<&str>| match line {
        None => "end of file".to_owned(),
        Some(line) => {
            let line = line.trim();
            match line.char_indices().nth(SHOWN) {
                Some((cut, _)) => format!("{}…", line.get(..cut).unwrap_or_default()),
                None => line.to_owned(),
            }
        }
    };
    let file = String::from_utf8_lossy(file);
    let mut expected = canonical.split('\n');
    let mut found = file.split('\n');
    let mut number = 0;
    loop {
        number += 1;
        let (e, f) = (expected.next(), found.next());
        if e != f || (e.is_none() && f.is_none()) {
            return (number, shorten(e), shorten(f));
        }
    }
}

fn platform_name(p: &crate::registry::Platform) -> String {
    p.name()
}

/// `host/repository:tag`.
fn tag_key(image: &ImageRef, tag: &str) -> String {
    format!("{}/{}:{tag}", image.registry(), image.repository())
}

/// `host/repository@digest`.
fn referrers_key(image: &ImageRef, digest: &Digest) -> String {
    format!("{}/{}@{digest}", image.registry(), image.repository())
}

/// The file format (see docs/lock.md).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    version: u32,
    written_at: String,
    supplygate: String,
    trust: Digest,
    policy: Digest,
    images: BTreeMap<String, LockedImage>,
    #[serde(default)]
    tags: BTreeMap<String, Digest>,
    #[serde(default)]
    referrers: BTreeMap<String, Vec<RawReferrer>>,
    #[serde(default)]
    objects: BTreeMap<Digest, RawObject>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    data: String,
}

/// A referrers listing entry: the descriptor and where the listing came from.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReferrer {
    media_type: String,
    digest: Digest,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    /// `api`, or the referrers tag it was read from.
    via: String,
}

impl From<&Referrer> for RawReferrer {
    fn from(r: &Referrer) -> Self {
        Self {
            media_type: r.descriptor.media_type.clone(),
            digest: r.descriptor.digest.clone(),
            size: r.descriptor.size,
            artifact_type: r.descriptor.artifact_type.clone(),
            annotations: r.descriptor.annotations.clone(),
            via: match &r.source {
                ReferrerSource::Api => "api".to_owned(),
                ReferrerSource::Tag { tag } => format!("tag {tag}"),
            },
        }
    }
}

impl TryFrom<RawReferrer> for Referrer {
    /// The unknown `via`.
    type Error = String;

    fn try_from(r: RawReferrer) -> Result<Self, String> {
        let source = match r.via.as_str() {
            "api" => ReferrerSource::Api,
            via => match via.strip_prefix("tag ") {
                Some(tag) if !tag.is_empty() && !tag.contains(char::is_whitespace) => {
                    ReferrerSource::Tag {
                        tag: tag.to_owned(),
                    }
                }
                _ => return Err(r.via),
            },
        };
        Ok(Self {
            descriptor: Descriptor {
                media_type: r.media_type,
                digest: r.digest,
                size: r.size,
                artifact_type: r.artifact_type,
                annotations: r.annotations,
            },
            source,
        })
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

    use super::*;

    fn sample() -> Lock {
        let mut recording = Recording::default();
        let image = ImageRef::parse("registry.example/team/app:v1").unwrap();
        let body = br#"{"schemaVersion":2}"#;
        let digest = Digest::sha256_of(body);
        recording.tag(&image, "v1", &digest);
        recording.object(
            &digest,
            Some("application/vnd.oci.image.manifest.v1+json"),
            body,
        );
        recording.referrers(
            &image,
            &digest,
            &[Referrer {
                descriptor: Descriptor {
                    media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
                    digest: Digest::sha256_of(b"sig"),
                    size: 3,
                    artifact_type: Some("application/vnd.dev.sigstore.bundle.v0.3+json".into()),
                    annotations: BTreeMap::new(),
                },
                source: ReferrerSource::Tag {
                    tag: "sha256-abc".to_owned(),
                },
            }],
        );
        Lock::new(
            recording,
            &Report::default(),
            Fingerprint {
                trust: Digest::sha256_of(b"trust"),
                policy: Digest::sha256_of(b"policy"),
            },
            "2026-11-24T12:00:00Z".parse().unwrap(),
        )
    }

    #[test]
    fn round_trips_through_json_byte_for_byte() {
        let lock = sample();
        let text = lock.to_json();
        let again = Lock::parse(text.as_bytes(), Path::new("supplygate.lock")).unwrap();
        assert_eq!(again.to_json(), text);
        let image = ImageRef::parse("registry.example/team/app:v1").unwrap();
        let digest = again.tag(&image, "v1").unwrap().clone();
        assert_eq!(
            again.object(&digest).unwrap().data,
            br#"{"schemaVersion":2}"#
        );
        assert_eq!(again.referrers(&image, &digest).unwrap().len(), 1);
        assert!(matches!(
            &again.referrers(&image, &digest).unwrap()[0].source,
            ReferrerSource::Tag { tag } if tag == "sha256-abc"
        ));
    }

    #[test]
    fn refuses_another_version_unknown_fields_and_bad_base64() {
        let text = sample().to_json();
        let path = Path::new("x.lock");
        let v2 = text.replacen("\"version\": 1", "\"version\": 2", 1);
        assert!(matches!(
            Lock::parse(v2.as_bytes(), path),
            Err(LockError::Version { found: 2, .. })
        ));
        let unknown = text.replacen("\"version\": 1", "\"version\": 1, \"extra\": 0", 1);
        assert!(matches!(
            Lock::parse(unknown.as_bytes(), path),
            Err(LockError::Json { .. })
        ));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let data = value["objects"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()["data"]
            .as_str()
            .unwrap()
            .to_owned();
        let bad = text.replacen(&data, "!!!", 1);
        let err = Lock::parse(bad.as_bytes(), path).unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
    }

    #[test]
    fn policy_digest_ignores_file_names_order_and_config_lines_but_not_sources() {
        use crate::policy::{Limits, Loader};
        let load = |modules: &[(&str, &str)], line: u64, images: &str| {
            let mut loader = Loader::new(Limits::default());
            for (name, source) in modules {
                loader.module(*name, *source);
            }
            loader.data_value(
                "supplygate.yaml",
                serde_json::json!({"supplygate": {"config": {
                    "require": [{"images": [images], "line": line}]
                }}}),
            );
            loader.load().unwrap().digest().clone()
        };
        let a = "package supplygate.a\n\nx := 1\n";
        let b = "package supplygate.b\n\ny := 2\n";
        let base = load(&[("a.rego", a), ("b.rego", b)], 3, "team/**");
        assert_eq!(load(&[("b.rego", b), ("x/a.rego", a)], 9, "team/**"), base);
        let edited = "package supplygate.a\n\nx := 2\n";
        assert_ne!(
            load(&[("a.rego", edited), ("b.rego", b)], 3, "team/**"),
            base
        );
        assert_ne!(load(&[("a.rego", a), ("b.rego", b)], 3, "other/**"), base);
    }

    #[test]
    fn trust_digest_changes_with_signers_and_not_with_their_order() {
        let key = |pem: &str, name: &str| Arc::new(Signer::key(name, pem, true).unwrap());
        let one = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8Hw8mQvV9uRB5CCpHfqCe3FqOoVl\nbbV8WXhzSggBvVS0LK9XybiJvXu5P5Uqpo1rbOzAPrJmP8Gh5P2WDNFpFg==\n-----END PUBLIC KEY-----\n";
        let a = key(one, "a");
        let b = key(one, "b");
        let base = trust_digest([&a, &b].into_iter()).unwrap();
        assert_eq!(trust_digest([&b, &a].into_iter()).unwrap(), base);
        assert_ne!(trust_digest([&a].into_iter()).unwrap(), base);
        let c = Arc::new(Signer::key("b", one, false).unwrap());
        assert_ne!(trust_digest([&a, &c].into_iter()).unwrap(), base);
    }

    #[test]
    fn trust_digest_changes_with_keyless_constraints() {
        let keyless = |constraints: crate::verify::CertificateConstraints| {
            Arc::new(
                Signer::keyless(
                    "ci",
                    "https://token.actions.githubusercontent.com".into(),
                    crate::verify::SubjectMatcher::Exact(
                        "https://github.com/a/b/.github/workflows/r.yml@refs/heads/main".into(),
                    ),
                    None,
                )
                .unwrap()
                .with_constraints(constraints),
            )
        };
        let plain = trust_digest([&keyless(Default::default())].into_iter()).unwrap();
        let hosted = keyless(crate::verify::CertificateConstraints {
            deny_self_hosted_runners: true,
            ..Default::default()
        });
        assert_ne!(trust_digest([&hosted].into_iter()).unwrap(), plain);
        // The time rules too; their defaults leave the digest as it was before they existed.
        let signer = || {
            Signer::keyless(
                "ci",
                "https://token.actions.githubusercontent.com".into(),
                crate::verify::SubjectMatcher::Exact(
                    "https://github.com/a/b/.github/workflows/r.yml@refs/heads/main".into(),
                ),
                None,
            )
            .unwrap()
        };
        let default_threshold = Arc::new(signer().with_timestamp_threshold(1).unwrap());
        assert_eq!(
            trust_digest([&default_threshold].into_iter()).unwrap(),
            plain
        );
        let two = Arc::new(signer().with_timestamp_threshold(2).unwrap());
        let two = trust_digest([&two].into_iter()).unwrap();
        assert_ne!(two, plain);
        let timestamp_only = Arc::new(signer().allow_timestamp_only());
        let timestamp_only = trust_digest([&timestamp_only].into_iter()).unwrap();
        assert_ne!(timestamp_only, plain);
        assert_ne!(timestamp_only, two);
    }

    #[test]
    fn refuses_duplicate_keys_and_any_other_form_naming_the_line() {
        let text = sample().to_json();
        let path = Path::new("x.lock");
        let (key, _) = sample().tags.into_iter().next().unwrap();
        // A second entry for the same tag: serde keeps the last one, a reviewer reads the first.
        let other = Digest::sha256_of(b"other");
        let line = format!("    \"{key}\": \"");
        let at = text.find(&line).unwrap();
        let duplicated = format!(
            "{}    \"{key}\": \"{other}\",\n{}",
            &text[..at],
            &text[at..]
        );
        let err = Lock::parse(duplicated.as_bytes(), path).unwrap_err();
        let line_number = text[..at].lines().count() + 1;
        assert!(
            matches!(&err, LockError::NotCanonical { line, found, .. }
                if *line == line_number && found.contains(&other.to_string())),
            "{err:?}"
        );
        assert!(err.to_string().contains("--write-lock"), "{err}");
        // The same content in another form: compact, or without the final newline.
        let compact =
            serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&text).unwrap())
                .unwrap();
        assert!(matches!(
            Lock::parse(compact.as_bytes(), path),
            Err(LockError::NotCanonical { line: 1, .. })
        ));
        assert!(matches!(
            Lock::parse(text.trim_end().as_bytes(), path),
            Err(LockError::NotCanonical { .. })
        ));
        // `canonical` gives back the accepted form.
        assert_eq!(Lock::canonical(compact.as_bytes(), path).unwrap(), text);
        assert_eq!(Lock::canonical(duplicated.as_bytes(), path).unwrap(), text);
    }

    #[test]
    fn refuses_an_unknown_referrer_via() {
        let text = sample().to_json();
        let path = Path::new("x.lock");
        for via in ["\"API\"", "\"tag \"", "\"tag a b\"", "\"http\""] {
            let edited = text.replacen("\"tag sha256-abc\"", via, 1);
            let err = Lock::parse(edited.as_bytes(), path).unwrap_err();
            assert!(err.to_string().contains("`via`"), "{via}: {err}");
        }
        let api = text.replacen("\"tag sha256-abc\"", "\"api\"", 1);
        let lock = Lock::parse(api.as_bytes(), path).unwrap();
        let image = ImageRef::parse("registry.example/team/app:v1").unwrap();
        let digest = lock.tag(&image, "v1").unwrap().clone();
        assert!(matches!(
            lock.referrers(&image, &digest).unwrap()[0].source,
            ReferrerSource::Api
        ));
    }

    #[test]
    fn refuses_a_file_over_the_size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.lock");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_LOCK_BYTES + 1).unwrap();
        assert!(matches!(Lock::read(&path), Err(LockError::TooLarge { .. })));
    }
}
