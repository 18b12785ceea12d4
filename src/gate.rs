//! The one evaluation: manifests -> image references -> registry facts -> findings -> report.
//!
//! `check`, `pin` and the pre-sync hook all call into this module; the front ends only
//! translate arguments in and the [`Report`] out.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::config::{Config, ProvenanceRule, Requirement};
use crate::manifest::{self, ImageSite, ManifestError, Source};
use crate::provenance::{
    self, builder_trusted, commit_matches_claim, commit_reachable, repository_matches,
    AttestationCandidate, AttestationFact, Provenance, Reachability, RefPattern,
};
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

/// Attestation facts per distinct reference (only for references a provenance rule applies to).
pub type AttestationChecks = HashMap<ImageRef, Result<Arc<AttestationReport>, Arc<RegistryError>>>;

/// Every attestation attached to an image's resolved digest, with each signer's verdict and
/// the normalised provenance.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AttestationReport {
    /// The digest they are attached to.
    pub digest: Digest,
    /// One fact per attestation (cosign `.att` layers and DSSE bundles among the referrers).
    pub facts: Vec<AttestationFact>,
}

/// Finds and verifies every attestation on `resolved.digest`: cosign `.att` layers and
/// Sigstore bundles among the referrers. Subjects may name the digest or a platform digest.
pub async fn check_attestations(
    registry: &Registry,
    image: &ImageRef,
    resolved: &Resolved,
    signers: &[Arc<Signer>],
) -> Result<AttestationReport, RegistryError> {
    let (attached, referred) = tokio::join!(
        discover::attestations(registry, image, &resolved.digest),
        discover::signatures(registry, image, &resolved.digest)
    );
    let mut candidates = attached?;
    candidates.extend(
        referred?
            .iter()
            .filter(|c| matches!(c.material, verify::Material::Bundle { .. }))
            .filter_map(AttestationCandidate::from_signature_candidate),
    );
    let name = image.name();
    let facts = candidates
        .iter()
        .map(|c| {
            provenance::verify_attestation(c, &name, &resolved.digest, &resolved.platforms, signers)
        })
        // A bundle that is a plain signature is not an attestation: leave it to signatures.
        .filter(|f| {
            f.statement_type.is_some()
                || matches!(&f.location, Location::CosignTag { tag, .. } if tag.ends_with(".att"))
        })
        .collect();
    Ok(AttestationReport {
        digest: resolved.digest.clone(),
        facts,
    })
}

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
    let attestations = check_all_attestations(config, registry, &resolutions).await;
    let mut linkage = Linkage::default();
    let after = registry.stats();
    let images = parsed
        .into_iter()
        .map(|(site, r)| {
            let mut report = image_report(site, r, &resolutions);
            signature_findings(config, &mut report, &signatures);
            if let Some(Ok(checked)) = report.reference.as_ref().and_then(|r| signatures.get(r)) {
                report.signatures = Some(Arc::clone(checked));
            }
            provenance_findings(config, &mut report, &attestations, &mut linkage);
            if let Some(Ok(checked)) = report.reference.as_ref().and_then(|r| attestations.get(r)) {
                report.attestations = Some(Arc::clone(checked));
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

/// Runs [`check_attestations`] for every resolved reference that a provenance rule applies to.
async fn check_all_attestations(
    config: &Config,
    registry: &Arc<Registry>,
    resolutions: &Resolutions,
) -> AttestationChecks {
    let signers: Arc<Vec<Arc<Signer>>> = Arc::new(config.signers.values().cloned().collect());
    let mut tasks = tokio::task::JoinSet::new();
    for (image, resolved) in resolutions {
        let Ok(resolved) = resolved else { continue };
        if config.provenance_for(&image.name()).next().is_none() {
            continue;
        }
        let (registry, signers) = (Arc::clone(registry), Arc::clone(&signers));
        let (image, resolved) = (image.clone(), resolved.clone());
        tasks.spawn(async move {
            let result = check_attestations(&registry, &image, &resolved, &signers)
                .await
                .map(Arc::new)
                .map_err(Arc::new);
            (image, result)
        });
    }
    let mut out = AttestationChecks::new();
    while let Some(joined) = tasks.join_next().await {
        // A panicking task leaves its reference out; `provenance_findings` fails closed on that.
        if let Ok((image, result)) = joined {
            out.insert(image, result);
        }
    }
    out
}

/// Reachability answers, memoised per clone and commit within one run.
#[derive(Default)]
struct Linkage {
    reachable: HashMap<(PathBuf, String, Vec<String>), Result<Reachability, String>>,
}

impl Linkage {
    fn reachable(
        &mut self,
        clone: &std::path::Path,
        commit: &str,
        refs: &[RefPattern],
    ) -> Result<Reachability, String> {
        let key = (
            clone.to_path_buf(),
            commit.to_owned(),
            refs.iter().map(|r| r.as_str().to_owned()).collect(),
        );
        self.reachable
            .entry(key)
            .or_insert_with(|| commit_reachable(clone, commit, refs).map_err(|e| e.to_string()))
            .clone()
    }
}

/// Refs a commit may be reached from when a rule names none: any branch or tag.
fn any_branch_or_tag() -> Vec<RefPattern> {
    ["refs/heads/*", "refs/tags/*"]
        .iter()
        .filter_map(|p| RefPattern::parse(p).ok())
        .collect()
}

/// Adds the provenance rules' findings to an image that resolved.
fn provenance_findings(
    config: &Config,
    report: &mut ImageReport,
    checks: &AttestationChecks,
    linkage: &mut Linkage,
) {
    let (Some(image), Some(resolved)) = (report.reference.clone(), report.resolved.clone()) else {
        return;
    };
    let name = image.name();
    let rules: Vec<&ProvenanceRule> = config.provenance_for(&name).collect();
    if rules.is_empty() {
        return;
    }
    let checked = match checks.get(&image) {
        Some(Ok(checked)) => Arc::clone(checked),
        Some(Err(e)) => {
            report.findings.push(
                Finding::new(
                    Code::ProvenanceCheckFailed,
                    Severity::Error,
                    format!("could not look for attestations: {e}"),
                )
                .hint("the gate fails closed; retry when the registry answers"),
            );
            return;
        }
        None => {
            report.findings.push(Finding::new(
                Code::ProvenanceCheckFailed,
                Severity::Error,
                format!(
                    "attestations of `{image}` were not checked (internal error); failing closed"
                ),
            ));
            return;
        }
    };
    for rule in rules {
        let wanted = rule
            .signers
            .iter()
            .map(|s| format!("`{}`", s.name))
            .collect::<Vec<_>>()
            .join(" or ");
        let verified: Vec<(&AttestationFact, &Provenance)> = checked
            .facts
            .iter()
            .filter(|f| {
                f.verified_by
                    .iter()
                    .any(|v| rule.signers.iter().any(|s| s.name == *v))
            })
            .filter_map(|f| f.verified_provenance().map(|p| (f, p)))
            .collect();
        if verified.is_empty() {
            let found = if checked.facts.is_empty() {
                "no attestation".to_owned()
            } else {
                checked
                    .facts
                    .iter()
                    .map(describe_attestation)
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            report.findings.push(
                Finding::new(
                    Code::ProvenanceMissing,
                    Severity::Deny,
                    format!(
                        "`{}` ({}) has no SLSA provenance signed by {wanted}",
                        report.site.image, resolved.digest
                    ),
                )
                .expected_found(format!("SLSA provenance signed by {wanted} (config line {})", rule.line), found)
                .hint(format!("attach it in CI (`cosign attest --type slsaprovenance1 …`, or slsa-github-generator); `supplygate explain {}@{}` shows what is there", image.name(), resolved.digest)),
            );
            continue;
        }
        // The rule is satisfied when one verified provenance passes every check; otherwise
        // report what the first one failed.
        let mut outcomes: Vec<Vec<Finding>> = verified
            .iter()
            .map(|(fact, p)| linkage_findings(config, rule, report, fact, p, linkage))
            .collect();
        if outcomes.iter().any(Vec::is_empty) {
            continue;
        }
        if !outcomes.is_empty() {
            report.findings.append(&mut outcomes.swap_remove(0));
        }
    }
}

/// What one verified provenance fails of a rule (empty: it satisfies the rule).
fn linkage_findings(
    config: &Config,
    rule: &ProvenanceRule,
    report: &ImageReport,
    fact: &AttestationFact,
    p: &Provenance,
    linkage: &mut Linkage,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let image = &report.site.image;
    let at = format!("config line {}", rule.line);
    let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_owned());
    if !rule.builders.is_empty() {
        let trusted = p
            .builder_id
            .as_deref()
            .is_some_and(|id| builder_trusted(id, &rule.builders).is_some());
        if !trusted {
            let expected = rule
                .builders
                .iter()
                .map(|b| match b {
                    provenance::BuilderRule::Exact(id) => format!("`{id}`"),
                    provenance::BuilderRule::Prefix(prefix) => format!("`{prefix}*`"),
                })
                .collect::<Vec<_>>()
                .join(" or ");
            out.push(
                Finding::new(
                    Code::UntrustedBuilder,
                    Severity::Deny,
                    format!("`{image}` was built by an untrusted builder"),
                )
                .expected_found(format!("{expected} ({at})"), or_none(&p.builder_id))
                .hint(
                    "build with a trusted builder, or add this one to `builders` if you trust it",
                ),
            );
        }
    }
    if let Some(expected) = &rule.source {
        let ok = p
            .source_repository
            .as_deref()
            .is_some_and(|actual| repository_matches(expected, actual));
        if !ok {
            out.push(
                Finding::new(Code::SourceRepositoryMismatch, Severity::Deny, format!("`{image}` was built from another source repository"))
                    .expected_found(format!("`{expected}` ({at})"), or_none(&p.source_repository))
                    .hint("a build from a fork or another repository: check which pipeline pushed this digest"),
            );
        }
    }
    if !rule.refs.is_empty() {
        let ok = p
            .source_ref
            .as_deref()
            .is_some_and(|r| rule.refs.iter().any(|pat| pat.matches(r)));
        if !ok {
            let expected = rule
                .refs
                .iter()
                .map(|r| format!("`{}`", r.as_str()))
                .collect::<Vec<_>>()
                .join(" or ");
            out.push(
                Finding::new(
                    Code::SourceRefNotAllowed,
                    Severity::Deny,
                    format!("`{image}` was built from a ref that is not allowed"),
                )
                .expected_found(format!("{expected} ({at})"), or_none(&p.source_ref))
                .hint("release from an allowed branch or tag"),
            );
        }
    }
    let commit = p.source_commit.as_deref();
    let resource = &report.site.resource;
    let key = &config.source.commit_key;
    let claim = resource
        .annotations
        .get(key)
        .map(|c| (c, "annotation"))
        .or_else(|| resource.labels.get(key).map(|c| (c, "label")));
    if let Some((claimed, kind)) = claim {
        if !commit.is_some_and(|c| commit_matches_claim(c, claimed)) {
            out.push(
                Finding::new(Code::SourceCommitMismatch, Severity::Deny, format!("`{image}` was not built from the commit the manifest claims ({kind} `{key}`)"))
                    .expected_found(format!("`{claimed}`"), commit.unwrap_or("no commit in the provenance"))
                    .hint("the manifest names one commit and the image was built from another: update the image or the claim"),
            );
        }
    }
    let tag = report.reference.as_ref().and_then(|r| r.tag());
    if let Some(tag) =
        tag.filter(|t| (7..=40).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        if !commit.is_some_and(|c| commit_matches_claim(c, &tag.to_ascii_lowercase())) {
            out.push(
                Finding::new(Code::SourceCommitMismatch, Severity::Deny, format!("tag `{tag}` looks like a commit SHA but the image was built from another commit"))
                    .expected_found(format!("a commit starting with `{tag}`"), commit.unwrap_or("no commit in the provenance"))
                    .hint("the tag = commit SHA convention is broken: was the tag moved, or pushed by another build?"),
            );
        }
    }
    if let Some(agreement) = &fact.certificate_agreement {
        if !agreement.no_disagreement() {
            out.push(
                Finding::new(Code::CertificateProvenanceMismatch, Severity::Deny, format!("the signing certificate of `{image}`'s provenance names another repository or commit than the provenance itself"))
                    .expected_found("certificate and provenance agree", serde_json::to_string(agreement).unwrap_or_default())
                    .hint("the attestation was signed by a workflow of another repository or commit: do not trust it"),
            );
        }
    }
    let repo = p.source_repository.as_deref().or(rule.source.as_deref());
    let clone = repo.and_then(|r| {
        config
            .source
            .clones
            .iter()
            .find(|(url, _)| repository_matches(url, r))
            .map(|(_, path)| path.clone())
    });
    if let (Some(clone), Some(commit)) = (clone, commit) {
        let refs = if rule.refs.is_empty() {
            any_branch_or_tag()
        } else {
            rule.refs.clone()
        };
        match linkage.reachable(&clone, commit, &refs) {
            Ok(Reachability::Reachable { .. }) => {}
            Ok(Reachability::NotReachable { refs_checked }) => out.push(
                Finding::new(Code::CommitNotReachable, Severity::Deny, format!("commit `{commit}` of `{image}` is not on an allowed branch or tag"))
                    .expected_found(format!("reachable from {} in `{}`", refs.iter().map(|r| format!("`{}`", r.as_str())).collect::<Vec<_>>().join(" or "), clone.display()), format!("on none of the {refs_checked} matching refs (a side branch?)"))
                    .hint("merge the change to an allowed branch and build from there; `git fetch` if the clone is old"),
            ),
            Ok(Reachability::NotInClone) => out.push(
                Finding::new(Code::CommitNotReachable, Severity::Deny, format!("commit `{commit}` of `{image}` is not in the clone of its source repository"))
                    .expected_found(format!("a commit of `{}`", clone.display()), "unknown commit (a fork, or the clone is out of date)")
                    .hint("`git fetch` the clone; a commit from a fork must not be deployed"),
            ),
            Err(e) => out.push(
                Finding::new(Code::ProvenanceCheckFailed, Severity::Error, format!("cannot check commit `{commit}` in `{}`: {e}", clone.display()))
                    .hint("check the clone path in `source.clones` or `--source-repo`"),
            ),
        }
    }
    out
}

/// One attestation in one line: where, what, and the verdict.
pub fn describe_attestation(f: &AttestationFact) -> String {
    let place = match &f.location {
        Location::CosignTag { tag, layer, .. } => format!("{tag} layer {layer}"),
        Location::Referrers { manifest, .. } => format!("referrer {manifest}"),
        Location::ReferrersTag { manifest, tag, .. } => format!("referrer {manifest} (tag {tag})"),
    };
    let what = f
        .predicate_type
        .clone()
        .unwrap_or_else(|| "unknown predicate".to_owned());
    if !f.verified_by.is_empty() {
        return format!(
            "{place} ({what}): verified by `{}`",
            f.verified_by.join("`, `")
        );
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
    format!("{place} ({what}): {reasons}")
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
        attestations: None,
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
