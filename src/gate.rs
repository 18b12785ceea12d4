//! The one evaluation: manifests -> image references -> registry facts -> findings -> report.
//!
//! `check`, `pin` and the pre-sync hook all call into this module; the front ends only
//! translate arguments in and the [`Report`] out.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::config::{Config, Requirement};
use crate::manifest::{self, ImageSite, ManifestError, Source};
use crate::reference::{Digest, ImageRef};
use crate::registry::{Registry, RegistryError, Resolved};
use crate::report::{Code, FileError, Finding, ImageReport, Report, RunStats, Severity};
use crate::verify::{self, discover, Location, SignatureFact, Signer};

/// Called as lookups finish: `(done, total)`.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Send + Sync);

/// What happened to each distinct reference.
pub type Resolutions = HashMap<ImageRef, Result<Resolved, Arc<RegistryError>>>;

/// Signature facts per distinct reference (only for references a requirement applies to).
pub type SignatureChecks = HashMap<ImageRef, Result<Arc<SignatureReport>, Arc<RegistryError>>>;

/// Every signature found on an image's resolved digest and on each of its platform manifests,
/// with each signer's verdict.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignatureReport {
    /// The digest the requirement is about (index or single manifest).
    pub digest: Digest,
    /// Signatures attached to `digest`.
    pub facts: Vec<SignatureFact>,
    /// Signatures attached to each platform manifest of an index, recorded separately.
    pub platforms: Vec<PlatformSignatures>,
}

/// Signatures on one platform manifest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlatformSignatures {
    /// `os/architecture[/variant]`.
    pub platform: String,
    /// The platform manifest's digest.
    pub digest: Digest,
    /// Signatures attached to it.
    pub facts: Vec<SignatureFact>,
}

impl SignatureReport {
    /// Whether a signature on the resolved digest was verified by one of `signers`.
    pub fn satisfies(&self, signers: &[Arc<Signer>]) -> bool {
        self.facts.iter().any(|f| {
            f.verified_by
                .iter()
                .any(|v| signers.iter().any(|s| s.name == *v))
        })
    }
}

/// Finds and verifies every signature on `resolved.digest` and on each platform digest.
pub async fn check_signatures(
    registry: &Registry,
    image: &ImageRef,
    resolved: &Resolved,
    signers: &[Arc<Signer>],
) -> Result<SignatureReport, RegistryError> {
    let name = image.name();
    let verify_all = |digest: &Digest, candidates: Vec<verify::Candidate>| -> Vec<SignatureFact> {
        candidates
            .iter()
            .map(|c| verify::verify_candidate(c, &name, digest, signers))
            .collect()
    };
    let top = discover::signatures(registry, image, &resolved.digest).await?;
    let facts = verify_all(&resolved.digest, top);
    let mut platforms = Vec::with_capacity(resolved.platforms.len());
    for p in &resolved.platforms {
        let candidates = discover::signatures(registry, image, &p.digest).await?;
        let mut platform = format!("{}/{}", p.os, p.architecture);
        if let Some(v) = &p.variant {
            platform.push('/');
            platform.push_str(v);
        }
        platforms.push(PlatformSignatures {
            platform,
            digest: p.digest.clone(),
            facts: verify_all(&p.digest, candidates),
        });
    }
    Ok(SignatureReport {
        digest: resolved.digest.clone(),
        facts,
        platforms,
    })
}

/// The manifests of a run, read and searched for images.
#[derive(Debug, Default)]
pub struct Manifests {
    /// The texts, for rewriting (`pin`).
    pub sources: Vec<Source>,
    /// Every image site, in file and line order.
    pub sites: Vec<ImageSite>,
    /// Files that could not be read as YAML.
    pub file_errors: Vec<FileError>,
    /// Documents that were not Kubernetes objects.
    pub skipped: usize,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// A path could not be read at all.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// Reads and searches every path. A file that is not valid YAML becomes a [`FileError`]; a path
/// that cannot be opened is an error for the whole run.
pub fn read_manifests(paths: &[PathBuf], config: &Config) -> Result<Manifests, GateError> {
    let mut out = Manifests::default();
    for loaded in manifest::load_each(paths, &config.limits) {
        let source = match loaded {
            Ok(s) => s,
            // A path the user named that cannot be opened is a usage error, not a finding.
            Err(ManifestError::Io { path, source }) if paths.contains(&path) => {
                return Err(ManifestError::Io { path, source }.into())
            }
            Err(e) => {
                out.file_errors.push(file_error(&e));
                continue;
            }
        };
        match manifest::extract(&source, &config.extra_images, &config.limits) {
            Ok(found) => {
                out.skipped += found.skipped.len();
                out.sites.extend(found.sites);
            }
            Err(e) => out.file_errors.push(file_error(&e)),
        }
        out.sources.push(source);
    }
    // Reports list images in file and line order, whatever order the reader found them in.
    out.sites
        .sort_by(|a, b| (&a.origin, a.span.start).cmp(&(&b.origin, b.span.start)));
    Ok(out)
}

fn file_error(e: &ManifestError) -> FileError {
    let (file, line, column, message) = match e {
        ManifestError::Syntax {
            origin,
            line,
            column,
            message,
        } => (
            origin.to_string(),
            Some(*line),
            Some(*column),
            message.clone(),
        ),
        ManifestError::TooLarge { origin, limit } => (
            origin.to_string(),
            None,
            None,
            format!("file is larger than the limit of {limit} bytes (`limits.max_file_bytes`)"),
        ),
        ManifestError::NotUtf8 { origin } => {
            (origin.to_string(), None, None, "not valid UTF-8".to_owned())
        }
        ManifestError::Io { path, source } => {
            (path.display().to_string(), None, None, source.to_string())
        }
    };
    FileError {
        file,
        line,
        column,
        code: Code::InvalidManifest,
        message,
    }
}

/// Looks up every distinct reference once, concurrently (the registry bounds the concurrency).
pub async fn resolve_all(
    refs: BTreeSet<ImageRef>,
    registry: &Arc<Registry>,
    progress: Progress<'_>,
) -> Resolutions {
    let total = refs.len();
    let mut tasks = tokio::task::JoinSet::new();
    for r in refs {
        let registry = Arc::clone(registry);
        tasks.spawn(async move {
            let result = registry.resolve(&r).await.map_err(Arc::new);
            (r, result)
        });
    }
    let mut out = Resolutions::with_capacity(total);
    while let Some(joined) = tasks.join_next().await {
        // A lookup task only panics on a bug; the reference then stays missing from the map
        // and is reported as undecided by `finding_for_missing`.
        if let Ok((r, result)) = joined {
            out.insert(r, result);
        }
        progress(out.len(), total);
    }
    out
}

/// Runs the whole pipeline over `paths`.
pub async fn evaluate(
    paths: &[PathBuf],
    config: &Config,
    registry: &Arc<Registry>,
    progress: Progress<'_>,
) -> Result<Report, GateError> {
    let started = Instant::now();
    let manifests = read_manifests(paths, config)?;
    let parsed: Vec<(ImageSite, Result<ImageRef, _>)> = manifests
        .sites
        .into_iter()
        .map(|site| {
            let r = ImageRef::parse(&site.image);
            (site, r)
        })
        .collect();
    let distinct: BTreeSet<ImageRef> = parsed
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().cloned())
        .collect();
    let before = registry.stats();
    let distinct_images = distinct.len();
    let resolutions = resolve_all(distinct, registry, progress).await;
    let signatures = check_all_signatures(config, registry, &resolutions).await;
    let after = registry.stats();
    let images = parsed
        .into_iter()
        .map(|(site, r)| {
            let mut report = image_report(site, r, &resolutions);
            signature_findings(config, &mut report, &signatures);
            if let Some(Ok(checked)) = report.reference.as_ref().and_then(|r| signatures.get(r)) {
                report.signatures = Some(Arc::clone(checked));
            }
            report
        })
        .collect();
    Ok(Report {
        images,
        file_errors: manifests.file_errors,
        skipped_documents: manifests.skipped,
        stats: RunStats {
            distinct_images,
            requests: after.requests.saturating_sub(before.requests),
            cache_hits: after.cache_hits.saturating_sub(before.cache_hits),
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        },
    })
}

/// Runs [`check_signatures`] for every resolved reference that a requirement applies to.
async fn check_all_signatures(
    config: &Config,
    registry: &Arc<Registry>,
    resolutions: &Resolutions,
) -> SignatureChecks {
    let signers: Arc<Vec<Arc<Signer>>> = Arc::new(config.signers.values().cloned().collect());
    let mut tasks = tokio::task::JoinSet::new();
    for (image, resolved) in resolutions {
        let Ok(resolved) = resolved else { continue };
        if config.requirements_for(&image.name()).next().is_none() {
            continue;
        }
        let (registry, signers) = (Arc::clone(registry), Arc::clone(&signers));
        let (image, resolved) = (image.clone(), resolved.clone());
        tasks.spawn(async move {
            let result = check_signatures(&registry, &image, &resolved, &signers)
                .await
                .map(Arc::new)
                .map_err(Arc::new);
            (image, result)
        });
    }
    let mut out = SignatureChecks::new();
    while let Some(joined) = tasks.join_next().await {
        // A panicking task leaves its reference out; `signature_findings` fails closed on that.
        if let Ok((image, result)) = joined {
            out.insert(image, result);
        }
    }
    out
}

/// Adds the signature requirement's findings to an image that resolved.
fn signature_findings(config: &Config, report: &mut ImageReport, checks: &SignatureChecks) {
    let (Some(image), Some(resolved)) = (&report.reference, &report.resolved) else {
        return;
    };
    let name = image.name();
    let rules: Vec<&Requirement> = config.requirements_for(&name).collect();
    if rules.is_empty() {
        return;
    }
    let checked = match checks.get(image) {
        Some(Ok(checked)) => Arc::clone(checked),
        Some(Err(e)) => {
            let mut f = registry_finding(image, e);
            f.code = Code::SignatureCheckFailed;
            f.severity = Severity::Error;
            f.message = format!("could not look for signatures: {e}");
            report.findings.push(f);
            return;
        }
        None => {
            report.findings.push(Finding::new(
                Code::SignatureCheckFailed,
                Severity::Error,
                format!(
                    "signatures of `{image}` were not checked (internal error); failing closed"
                ),
            ));
            return;
        }
    };
    for rule in rules {
        if checked.satisfies(&rule.signers) {
            continue;
        }
        let wanted = rule
            .signers
            .iter()
            .map(|s| format!("`{}`", s.name))
            .collect::<Vec<_>>()
            .join(" or ");
        let where_ = format!("config line {}", rule.line);
        if checked.facts.is_empty() {
            report.findings.push(
                Finding::new(
                    Code::UnsignedImage,
                    Severity::Deny,
                    format!(
                        "`{}` ({}) has no signature",
                        report.site.image, resolved.digest
                    ),
                )
                .expected_found(format!("a signature by {wanted} ({where_})"), "none")
                .hint(format!(
                    "sign the digest in CI: `cosign sign --key … {}@{}`",
                    image.name(),
                    resolved.digest
                )),
            );
        } else {
            let reasons = checked
                .facts
                .iter()
                .map(describe_fact)
                .collect::<Vec<_>>()
                .join("; ");
            let n = checked.facts.len();
            report.findings.push(
                Finding::new(
                    Code::SignatureNotTrusted,
                    Severity::Deny,
                    format!(
                        "{n} signature{} on `{}` ({}), none by {wanted}",
                        if n == 1 { "" } else { "s" },
                        report.site.image,
                        resolved.digest
                    ),
                )
                .expected_found(format!("a signature by {wanted} ({where_})"), reasons)
                .hint(format!(
                    "`supplygate explain {}@{}` lists every signature and why it did not count",
                    image.name(),
                    resolved.digest
                )),
            );
        }
    }
}

/// One signature in one line: where, and each signer's verdict.
pub fn describe_fact(f: &SignatureFact) -> String {
    let place = match &f.location {
        Location::CosignTag { tag, layer, .. } => format!("{tag} layer {layer}"),
        Location::Referrers { manifest, .. } => format!("referrer {manifest}"),
        Location::ReferrersTag { tag, manifest, .. } => format!("referrer {manifest} (tag {tag})"),
    };
    if !f.verified_by.is_empty() {
        return format!("{place}: verified by `{}`", f.verified_by.join("`, `"));
    }
    let reasons = f
        .rejections
        .iter()
        .map(|r| {
            if r.signer == "*" {
                r.reason.clone()
            } else {
                format!("`{}`: {}", r.signer, r.reason)
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("{place}: {reasons}")
}

fn image_report(
    site: ImageSite,
    reference: Result<ImageRef, crate::reference::ReferenceError>,
    resolutions: &Resolutions,
) -> ImageReport {
    let mut findings = Vec::new();
    let mut resolved = None;
    let reference = match reference {
        Ok(r) => Some(r),
        Err(e) => {
            findings.push(
                Finding::new(
                    Code::InvalidReference,
                    Severity::Deny,
                    format!("`{}` is not a valid image reference: {e}", site.image),
                )
                .hint("write `registry/repository:tag` or `…@sha256:<64 hex digits>`"),
            );
            None
        }
    };
    if let Some(r) = &reference {
        match resolutions.get(r) {
            Some(Ok(res)) => {
                if let (Some(pinned), Some(now), Some(tag)) = (r.digest(), &res.tag_digest, r.tag())
                {
                    if pinned != now {
                        findings.push(
                            Finding::new(
                                Code::TagMoved,
                                Severity::Warn,
                                format!(
                                    "tag `{tag}` of `{}` now points to another digest than the one pinned",
                                    r.name()
                                ),
                            )
                            .expected_found(pinned.to_string(), now.to_string())
                            .hint("the pinned digest is what runs; re-pin with `supplygate pin` if the tag was moved on purpose"),
                        );
                    }
                }
                resolved = Some(res.clone());
            }
            Some(Err(e)) => findings.push(registry_finding(r, e)),
            None => findings.push(Finding::new(
                Code::RegistryUnavailable,
                Severity::Error,
                format!("`{r}` was not looked up (internal error); failing closed"),
            )),
        }
    }
    ImageReport {
        site,
        reference,
        resolved,
        findings,
        signatures: None,
    }
}

/// The finding for a registry error: tampering and absence deny; everything else is undecided.
pub fn registry_finding(image: &ImageRef, e: &RegistryError) -> Finding {
    if let RegistryError::DigestMismatch {
        expected, actual, ..
    } = e
    {
        return Finding::new(Code::DigestMismatch, Severity::Deny, e.to_string())
            .expected_found(expected.to_string(), actual.to_string())
            .hint("the registry, a mirror or a proxy served content that is not what was asked for: do not deploy it, investigate");
    }
    let host = image.registry();
    let (code, severity, hint) = match e.code() {
        "image-not-found" => (
            Code::ImageNotFound,
            Severity::Deny,
            format!(
                "check the tag and that CI pushed it: `skopeo inspect docker://{image}` shows what the registry has"
            ),
        ),
        "registry-unauthorized" => (
            Code::RegistryUnauthorized,
            Severity::Error,
            format!(
                "log in (`docker login {host}`) or point `network.docker_config` at a config.json with credentials"
            ),
        ),
        "manifest-too-large" => (
            Code::ManifestTooLarge,
            Severity::Error,
            "raise `network.max_manifest_bytes` if this manifest is legitimate".to_owned(),
        ),
        "invalid-registry-response" => (
            Code::InvalidRegistryResponse,
            Severity::Error,
            "is the host a registry? check `registries:` and any proxy in between".to_owned(),
        ),
        "registry-timeout" => (
            Code::RegistryTimeout,
            Severity::Error,
            "the gate fails closed; retry, or raise `network.request_timeout`".to_owned(),
        ),
        "registry-not-allowed" => (
            Code::RegistryNotAllowed,
            Severity::Error,
            format!(
                "for a registry without TLS set `registries: {{\"{host}\": {{insecure: true}}}}`; offline, map the host to an OCI layout"
            ),
        ),
        "invalid-oci-layout" => (
            Code::InvalidOciLayout,
            Severity::Error,
            "check the layout directory (`oci-layout`, `index.json`, `blobs/`)".to_owned(),
        ),
        // `registry-unavailable` and anything new: could not decide, fail closed.
        _ => (
            Code::RegistryUnavailable,
            Severity::Error,
            "the gate fails closed; retry when the registry is back, or configure a mirror or an OCI layout".to_owned(),
        ),
    };
    Finding::new(code, severity, e.to_string()).hint(hint)
}
