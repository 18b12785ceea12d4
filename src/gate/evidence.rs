//! Evidence per image: signatures and attestations found and verified on each resolved digest,
//! and the reachability of provenance commits in local clones.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::policy::input::{ReachabilityFact, ReachabilityResult};
use crate::provenance::{
    self, commit_reachable, repository_matches, AttestationCandidate, AttestationFact,
    Reachability, RefPattern,
};
use crate::reference::{Digest, ImageRef};
use crate::registry::{Registry, RegistryError, Resolved};
use crate::report::ImageReport;
use crate::verify::{self, discover, Location, SignatureFact, Signer};

/// Signature facts per distinct reference (only for references a requirement applies to).
pub type SignatureChecks = Checks<SignatureReport>;

/// Attestation facts per distinct reference (only for references a provenance rule applies to).
pub type AttestationChecks = Checks<AttestationReport>;

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
    /// The signers that verified a signature on the resolved digest, sorted, each once.
    pub fn verified_by(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .facts
            .iter()
            .flat_map(|f| f.verified_by.iter().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

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
        platforms.push(PlatformSignatures {
            platform: p.name(),
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

/// The verdict of one check per resolved reference (signatures, attestations).
pub type Checks<T> = HashMap<ImageRef, Result<Arc<T>, Arc<RegistryError>>>;

/// Everything looked up for one distinct reference.
pub(super) struct Found {
    pub(super) image: ImageRef,
    pub(super) resolved: Result<Resolved, Arc<RegistryError>>,
    /// `None` when no requirement applies (or the reference did not resolve).
    pub(super) signatures: Option<Result<Arc<SignatureReport>, Arc<RegistryError>>>,
    /// `None` when no provenance rule applies (or the reference did not resolve).
    pub(super) attestations: Option<Result<Arc<AttestationReport>, Arc<RegistryError>>>,
}

/// One task per distinct reference (the registry bounds the concurrency): resolve it, then
/// check the signatures a requirement asks for, then the attestations a provenance rule asks
/// for. A panicking task leaves its reference out; `fact_findings` and `image_report` then
/// fail closed.
pub(super) fn gather_evidence(
    config: &Config,
    registry: &Arc<Registry>,
    images: BTreeSet<ImageRef>,
) -> tokio::task::JoinSet<Found> {
    let signers: Arc<Vec<Arc<Signer>>> = Arc::new(config.signers.values().cloned().collect());
    let mut tasks = tokio::task::JoinSet::new();
    for image in images {
        let name = image.name();
        let wants_signatures = config.requirements_for(&name).next().is_some();
        let wants_attestations = config.provenance_for(&name).next().is_some();
        let registry = Arc::clone(registry);
        let signers = Arc::clone(&signers);
        tasks.spawn(async move {
            let resolved = registry.resolve(&image).await.map_err(Arc::new);
            let (mut signatures, mut attestations) = (None, None);
            if let Ok(r) = &resolved {
                if wants_signatures {
                    let checked = check_signatures(&registry, &image, r, &signers).await;
                    signatures = Some(checked.map(Arc::new).map_err(Arc::new));
                }
                if wants_attestations {
                    let checked = check_attestations(&registry, &image, r, &signers).await;
                    attestations = Some(checked.map(Arc::new).map_err(Arc::new));
                }
            }
            Found {
                image,
                resolved,
                signatures,
                attestations,
            }
        });
    }
    tasks
}

/// Reachability answers, memoised per clone, commit and refs within one run.
#[derive(Default)]
pub(super) struct Linkage {
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
    crate::policy::facts::ANY_BRANCH_OR_TAG
        .iter()
        .filter_map(|p| RefPattern::parse(p).ok())
        .collect()
}

/// For every verified provenance commit whose repository has a local clone, whether it is
/// reachable from the refs of each provenance rule that applies (git runs here, the policy
/// decides on the answers).
pub(super) fn reachability_facts(
    config: &Config,
    report: &ImageReport,
    linkage: &mut Linkage,
) -> Vec<ReachabilityFact> {
    let (Some(image), Some(checked)) = (&report.reference, &report.attestations) else {
        return Vec::new();
    };
    let name = image.name();
    let mut out: Vec<ReachabilityFact> = Vec::new();
    for rule in config.provenance_for(&name) {
        let refs = if rule.refs.is_empty() {
            any_branch_or_tag()
        } else {
            rule.refs.clone()
        };
        let ref_names: Vec<String> = refs.iter().map(|r| r.as_str().to_owned()).collect();
        for fact in &checked.facts {
            let Some(p) = fact.verified_provenance() else {
                continue;
            };
            let Some(repo) = p.source_repository.as_deref().or(rule.source.as_deref()) else {
                continue;
            };
            let Some((_, clone)) = config
                .source
                .clones
                .iter()
                .find(|(url, _)| repository_matches(url, repo))
            else {
                continue;
            };
            // With a clone to check against, a provenance without a commit is a fact too:
            // the policy must not read its silence as "reachable".
            let Some(commit) = p.source_commit.as_deref() else {
                out.push(ReachabilityFact {
                    repository: repo.to_owned(),
                    commit: String::new(),
                    refs: ref_names.clone(),
                    clone: clone.display().to_string(),
                    result: ReachabilityResult::NoCommit,
                    via: None,
                    message: Some("the provenance names no commit".to_owned()),
                });
                continue;
            };
            if out
                .iter()
                .any(|f| f.commit == commit && f.refs == ref_names && f.repository == repo)
            {
                continue;
            }
            let (result, via, message) = match linkage.reachable(clone, commit, &refs) {
                Ok(Reachability::Reachable { via }) => {
                    (ReachabilityResult::Reachable, Some(via), None)
                }
                Ok(Reachability::NotReachable { refs_checked }) => (
                    ReachabilityResult::NotReachable,
                    None,
                    Some(format!("on none of the {refs_checked} matching refs")),
                ),
                Ok(Reachability::NotInClone) => (ReachabilityResult::NotInClone, None, None),
                Err(e) => (ReachabilityResult::Error, None, Some(e)),
            };
            out.push(ReachabilityFact {
                repository: repo.to_owned(),
                commit: commit.to_owned(),
                refs: ref_names.clone(),
                clone: clone.display().to_string(),
                result,
                via,
                message,
            });
        }
    }
    out
}
