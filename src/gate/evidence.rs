//! Evidence per image: signatures and attestations found and verified on each resolved digest,
//! and the reachability of provenance commits in local clones.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Config, ProvenanceRule};
use crate::facts::{
    verified_by_one_of, AttestationReport, ImageReport, PlatformSignatures, SignatureReport,
};
use crate::policy::input::{ReachabilityFact, ReachabilityResult};
use crate::provenance::{
    self, commit_reachable, repository_matches, AttestationCandidate, AttestationFact,
    Reachability, RefPattern,
};
use crate::reference::{Digest, ImageRef};
use crate::registry::{Registry, RegistryError, Resolved};
use crate::verify::{self, discover, Location, SignatureFact, Signer};

/// Signature facts per distinct reference (only for references a requirement applies to).
pub type SignatureChecks = Checks<SignatureReport>;

/// Attestation facts per distinct reference (only for references a provenance rule applies to).
pub type AttestationChecks = Checks<AttestationReport>;

/// Finds and verifies every attestation on `resolved.digest`: cosign `.att` layers and
/// Sigstore bundles among the referrers. Subjects may name the digest or a platform digest.
pub async fn check_attestations(
    registry: &Registry,
    image: &ImageRef,
    resolved: &Resolved,
    signers: &[Arc<Signer>],
) -> Result<AttestationReport, RegistryError> {
    check_attestations_for(registry, image, resolved, signers, None).await
}

/// [`check_attestations`], looking for bundles among the referrers only when the `.att`
/// attestations cannot satisfy `rules` (`None`: always, for a full account such as
/// `explain`; the caller passes rules only under the conditions of
/// `gather_evidence`). Fewer facts can then only deny more, never allow more: the
/// shipped policies are monotone in attestation facts, and the `.att` facts come first either
/// way.
pub async fn check_attestations_for(
    registry: &Registry,
    image: &ImageRef,
    resolved: &Resolved,
    signers: &[Arc<Signer>],
    rules: Option<&[ProvenanceRule]>,
) -> Result<AttestationReport, RegistryError> {
    let name = image.name();
    let verify_all = |candidates: &[AttestationCandidate]| -> Vec<AttestationFact> {
        candidates
            .iter()
            .map(|c| {
                provenance::verify_attestation(
                    c,
                    &name,
                    &resolved.digest,
                    &resolved.platforms,
                    signers,
                )
            })
            // A bundle that is a plain signature is not an attestation: leave it to signatures.
            .filter(|f| {
                f.statement_type.is_some()
                    || matches!(&f.location, Location::CosignTag { tag, .. } if tag.ends_with(".att"))
            })
            .collect()
    };
    let attached = discover::attestations(registry, image, &resolved.digest).await?;
    let mut facts = verify_all(&attached);
    if !rules.is_some_and(|rules| provenance_satisfied(rules, image.tag(), &facts)) {
        let referred: Vec<AttestationCandidate> =
            discover::bundle_referrers(registry, image, &resolved.digest)
                .await?
                .iter()
                .filter(|c| matches!(c.material, verify::Material::Bundle { .. }))
                .filter_map(AttestationCandidate::from_signature_candidate)
                .collect();
        facts.extend(verify_all(&referred));
    }
    // Collected through a filter, the vector has room for four facts (a few KiB each) where
    // one is usual; the report keeps it for the whole run.
    facts.shrink_to_fit();
    Ok(AttestationReport {
        digest: resolved.digest.clone(),
        facts,
    })
}

/// Whether every one of `rules` has, among `facts`, a verified provenance about the image
/// digest itself that passes it, judged by the policy facts' own checks
/// ([`crate::policy::facts::provenance_satisfied`]: signer, builder, source repository, refs,
/// commit-SHA tag, certificate agreement) — what the provenance policy looks for first. When
/// this holds, more attestations cannot change an allow; when it does not, the caller looks
/// further.
fn provenance_satisfied(
    rules: &[ProvenanceRule],
    tag: Option<&str>,
    facts: &[AttestationFact],
) -> bool {
    crate::policy::facts::provenance_satisfied(rules, tag, facts)
}

/// Finds and verifies every signature on `resolved.digest` and on each platform digest.
pub async fn check_signatures(
    registry: &Registry,
    image: &ImageRef,
    resolved: &Resolved,
    signers: &[Arc<Signer>],
) -> Result<SignatureReport, RegistryError> {
    check_signatures_at(registry, image, resolved, signers, jiff::Timestamp::now()).await
}

/// [`check_signatures`] with the clock Notary Project signatures are judged at (certificate
/// validity, signature expiry, CRL freshness): the run's clock. A full account: the
/// referrers are always looked at.
pub async fn check_signatures_at(
    registry: &Registry,
    image: &ImageRef,
    resolved: &Resolved,
    signers: &[Arc<Signer>],
    now: jiff::Timestamp,
) -> Result<SignatureReport, RegistryError> {
    check_signatures_needed(registry, image, resolved, signers, None, now).await
}

/// [`check_signatures`], looking for Sigstore bundles among the referrers only when the
/// signatures found so far cannot satisfy `needed` (one signer set per matching `require:`
/// rule; `None`: always, for a full account such as `explain`). A signature that is only
/// among the referrers is still found whenever the rules need it; when they are satisfied,
/// more signatures cannot change the decision (the policy asks for one verified signature
/// per rule), so the referrers lookup is a request saved per digest.
pub async fn check_signatures_for(
    registry: &Registry,
    image: &ImageRef,
    resolved: &Resolved,
    signers: &[Arc<Signer>],
    needed: Option<&[Vec<Arc<Signer>>]>,
) -> Result<SignatureReport, RegistryError> {
    check_signatures_needed(
        registry,
        image,
        resolved,
        signers,
        needed,
        jiff::Timestamp::now(),
    )
    .await
}

async fn check_signatures_needed(
    registry: &Registry,
    image: &ImageRef,
    resolved: &Resolved,
    signers: &[Arc<Signer>],
    needed: Option<&[Vec<Arc<Signer>>]>,
    now: jiff::Timestamp,
) -> Result<SignatureReport, RegistryError> {
    let name = image.name();
    let verify_all = |digest: &Digest, candidates: Vec<verify::Candidate>| -> Vec<SignatureFact> {
        candidates
            .iter()
            .map(|c| verify::verify_candidate(c, &name, digest, signers))
            .collect()
    };
    // Notary Project signatures, when a Notation signer is asked for (none: no lookup).
    let notation = |digest| verify::notation_stage::check(registry, image, digest, signers, now);
    let mut facts = verify_all(
        &resolved.digest,
        discover::cosign_signatures(registry, image, &resolved.digest).await?,
    );
    facts.extend(notation(&resolved.digest).await?);
    let satisfied =
        needed.is_some_and(|needed| needed.iter().all(|set| verified_by_one_of(&facts, set)));
    if !satisfied {
        let bundles = discover::bundle_referrers(registry, image, &resolved.digest).await?;
        facts.extend(verify_all(&resolved.digest, bundles));
    }
    let mut platforms = Vec::with_capacity(resolved.platforms.len());
    for p in &resolved.platforms {
        // Platform signatures are reported, never required: their bundles are looked for
        // only when the image's own signatures fall short.
        let mut candidates = discover::cosign_signatures(registry, image, &p.digest).await?;
        if !satisfied {
            candidates.extend(discover::bundle_referrers(registry, image, &p.digest).await?);
        }
        let mut facts = verify_all(&p.digest, candidates);
        facts.extend(notation(&p.digest).await?);
        facts.shrink_to_fit();
        platforms.push(PlatformSignatures {
            platform: p.name(),
            digest: p.digest.clone(),
            facts,
        });
    }
    facts.shrink_to_fit();
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

/// Whether discovery may stop at the `.sig`/`.att` evidence when it already satisfies the
/// rules (the referrers shortcut), for any image of this run.
///
/// Only with the shipped library alone: its rules are monotone in signature and attestation
/// facts — each asks for at least one verified signature per `require:` rule and one passing
/// provenance per `provenance:` rule, and no shipped rule denies because of a signature or an
/// attestation that verified — so facts it is not shown can only deny more, never allow more.
/// A user policy (`policy.paths`, or `policy.builtin: false`) is promised every signature and
/// attestation on the digest and may deny on one (a quarantine signer, a vulnerability scan):
/// with one loaded, discovery is always full.
pub(super) fn shortcut_allowed(config: &Config) -> bool {
    config.policy.builtin && config.policy.paths.is_empty()
}

/// Whether a tag reads as a commit SHA (7 to 40 hex digits), which the shipped provenance
/// policy compares with the provenance's commit.
fn commit_like_tag(tag: &str) -> bool {
    (7..=40).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The signer sets whose satisfaction by `.sig` signatures lets discovery skip the referrers
/// of `image` (one per matching `require:` rule); `None`: full discovery.
fn signature_shortcut(config: &Config, image: &ImageRef) -> Option<Vec<Vec<Arc<Signer>>>> {
    shortcut_allowed(config).then(|| {
        config
            .requirements_for(&image.name())
            .map(|r| r.signers.clone())
            .collect()
    })
}

/// The provenance rules whose satisfaction by `.att` attestations lets discovery skip the
/// referrers of `image` (see [`gather_evidence`]); `None`: full discovery. `claimed`:
/// a site naming the image claims a commit.
fn attestation_shortcut(
    config: &Config,
    image: &ImageRef,
    claimed: bool,
) -> Option<Vec<ProvenanceRule>> {
    let commit_checked = claimed || image.tag().is_some_and(commit_like_tag);
    (shortcut_allowed(config) && config.source.clones.is_empty() && !commit_checked)
        .then(|| config.provenance_for(&image.name()).cloned().collect())
}

/// One task per distinct reference (the registry bounds the concurrency of requests; at most
/// [`Gathering::in_flight`] tasks exist at a time, so that a run of 10,000 images does not hold
/// 10,000 suspended lookups): resolve it, then check the signatures a requirement asks for,
/// then the attestations a provenance rule asks for. A panicking task leaves its reference
/// out; `fact_findings` and `image_report` then fail closed. The `.att` shortcut is taken only
/// where `provenance_satisfied` covers what the shipped provenance policy will check: never
/// with a user policy ([`shortcut_allowed`]), never when a site naming the image claims a
/// commit (`claimed`: the workload's `source.commit_key`), when the tag reads as a commit SHA,
/// or with local clones.
pub(super) fn gather_evidence<'a>(
    config: &'a Config,
    registry: &Arc<Registry>,
    images: BTreeSet<ImageRef>,
    now: jiff::Timestamp,
    claimed: &'a HashSet<ImageRef>,
) -> Gathering<'a> {
    Gathering {
        config,
        registry: Arc::clone(registry),
        signers: Arc::new(config.signers.values().cloned().collect()),
        now,
        claimed,
        images: images.into_iter(),
        // Enough to keep every request permit busy (a task makes its requests one after
        // another), few enough that memory does not grow with the run's size.
        in_flight: config.registry.concurrency.saturating_mul(4).max(256),
        tasks: tokio::task::JoinSet::new(),
    }
}

/// The evidence tasks of one run (see [`gather_evidence`]), started as earlier ones finish.
pub(super) struct Gathering<'a> {
    config: &'a Config,
    registry: Arc<Registry>,
    signers: Arc<Vec<Arc<Signer>>>,
    now: jiff::Timestamp,
    claimed: &'a HashSet<ImageRef>,
    images: std::collections::btree_set::IntoIter<ImageRef>,
    in_flight: usize,
    tasks: tokio::task::JoinSet<Found>,
}

impl Gathering<'_> {
    /// The next finished task (in completion order), after starting tasks up to the limit;
    /// `None` when every reference has been looked up.
    pub(super) async fn join_next(&mut self) -> Option<Result<Found, tokio::task::JoinError>> {
        while self.tasks.len() < self.in_flight {
            let Some(image) = self.images.next() else {
                break;
            };
            self.spawn(image);
        }
        self.tasks.join_next().await
    }

    fn spawn(&mut self, image: ImageRef) {
        let config = self.config;
        let name = image.name();
        let wants_signatures = config.requirements_for(&name).next().is_some();
        // Notation signers only where a rule for this image names one: no Notation lookup
        // for images whose rules ask for cosign signatures only.
        let notation = config
            .requirements_for(&name)
            .any(|r| r.signers.iter().any(|s| s.is_notation()));
        let signature_signers: Vec<Arc<Signer>> = self
            .signers
            .iter()
            .filter(|s| notation || !s.is_notation())
            .cloned()
            .collect();
        // The referrers shortcuts, where they are safe (see `shortcut_allowed`).
        let needed = signature_shortcut(config, &image);
        let wants_attestations = config.provenance_for(&name).next().is_some();
        let rules = attestation_shortcut(config, &image, self.claimed.contains(&image));
        let registry = Arc::clone(&self.registry);
        let signers = Arc::clone(&self.signers);
        let now = self.now;
        self.tasks.spawn(async move {
            let resolved = registry.resolve(&image).await.map_err(Arc::new);
            let (mut signatures, mut attestations) = (None, None);
            if let Ok(r) = &resolved {
                if wants_signatures {
                    let checked = check_signatures_needed(
                        &registry,
                        &image,
                        r,
                        &signature_signers,
                        needed.as_deref(),
                        now,
                    )
                    .await;
                    signatures = Some(checked.map(Arc::new).map_err(Arc::new));
                }
                if wants_attestations {
                    let checked =
                        check_attestations_for(&registry, &image, r, &signers, rules.as_deref())
                            .await;
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
            .or_insert_with(|| {
                commit_reachable(clone, commit, refs)
                    .map_err(|e| crate::errors::Chain(&e).to_string())
            })
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfA3b0ffjJL8Zpd49DdQg3fl9O7cf\nWApIEJumKC6nt6WXnPTi7bbqRvckHfiPD6+0repNrMtrr5SksJD8fSLvlg==\n-----END PUBLIC KEY-----";

    fn config(extra: &str) -> Config {
        let key = KEY.replace('\n', "\n      ");
        let text = format!(
            "signers:\n  release:\n    insecure_ignore_tlog: true\n    key: |\n      {key}\n\
             require:\n  - images: [\"**\"]\n    signers: [release]\n\
             provenance:\n  - images: [\"**\"]\n    signers: [release]\n{extra}"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("policies")).unwrap();
        std::fs::write(
            dir.path().join("policies/mine.rego"),
            "package supplygate.user\nimport rego.v1\n",
        )
        .unwrap();
        Config::parse(&text, &dir.path().join("supplygate.yaml")).unwrap()
    }

    #[test]
    fn a_user_policy_forces_full_discovery_of_signatures_and_attestations() {
        let image = ImageRef::parse("registry.example/team/app:v1").unwrap();
        // The shipped library alone: the shortcut may be taken for both.
        let shipped = config("");
        assert!(shortcut_allowed(&shipped));
        assert_eq!(signature_shortcut(&shipped, &image).unwrap().len(), 1);
        assert_eq!(
            attestation_shortcut(&shipped, &image, false).unwrap().len(),
            1
        );
        // A user policy is promised every signature and attestation: never the shortcut.
        let user = config("policy:\n  paths: [policies]\n");
        assert!(!shortcut_allowed(&user));
        assert!(signature_shortcut(&user, &image).is_none());
        assert!(attestation_shortcut(&user, &image, false).is_none());
    }

    /// An attestation verified by `verified_by` whose provenance (builder `acme/builder`,
    /// repository `acme/app`) names `git_ref`, about the image digest or one `platform`.
    fn provenance_fact(
        verified_by: &[&str],
        git_ref: &str,
        platform: Option<&str>,
    ) -> AttestationFact {
        let digest = Digest::sha256_of(b"image");
        AttestationFact {
            location: Location::Referrers {
                manifest: Digest::sha256_of(b"bundle"),
                artifact_type: "application/vnd.dev.sigstore.bundle.v0.3+json".to_owned(),
            },
            attached_to: digest.clone(),
            signature_kind: None,
            statement_type: Some("https://in-toto.io/Statement/v1".to_owned()),
            predicate_type: Some("https://slsa.dev/provenance/v1".to_owned()),
            kind: None,
            verified_by: verified_by.iter().map(|s| (*s).to_owned()).collect(),
            rejections: Vec::new(),
            subject_match: Some(provenance::SubjectMatch {
                digest,
                platform: platform.map(str::to_owned),
            }),
            subject_names: Vec::new(),
            subject_name_matches_repository: true,
            provenance: Some(provenance::Provenance {
                slsa_version: provenance::SlsaVersion::V1,
                builder_id: Some("https://github.com/acme/builder@v1".to_owned()),
                build_type: None,
                source_uri: None,
                source_repository: Some("https://github.com/acme/app".to_owned()),
                source_ref: Some(git_ref.to_owned()),
                source_commit: None,
                entry_point: None,
                build_started_on: None,
                build_finished_on: None,
                problems: Vec::new(),
            }),
            predicate: None,
            identity: None,
            certificate_agreement: None,
            signed_at: None,
            notes: Vec::new(),
        }
    }

    /// Issue 13 item 4: the shortcut judges a provenance with the policy facts' checks, so it
    /// stops looking only where the policy would allow (a ref git could not have, which the
    /// policy refuses, no longer passes the shortcut).
    #[test]
    fn the_attestation_shortcut_judges_provenance_as_the_policy_does() {
        let shipped = config(
            "    builders: [\"https://github.com/acme/*\"]\n    source: https://github.com/acme/app\n    refs: [\"refs/tags/v*\"]\n",
        );
        let rules = &shipped.provenance;
        assert_eq!(rules.len(), 1);
        let good = provenance_fact(&["release"], "refs/tags/v1.2.0", None);
        assert!(provenance_satisfied(
            rules,
            Some("v1"),
            std::slice::from_ref(&good)
        ));
        // Not a git ref: `refs/tags/v*` must not accept it, here as in the policy.
        let dotted = provenance_fact(&["release"], "refs/tags/v1/../../heads/dev", None);
        assert!(!provenance_satisfied(rules, Some("v1"), &[dotted]));
        let side = provenance_fact(&["release"], "refs/heads/dev", None);
        assert!(!provenance_satisfied(rules, Some("v1"), &[side]));
        // Another signer, or provenance about one platform only: look further.
        let other = provenance_fact(&["other"], "refs/tags/v1.2.0", None);
        assert!(!provenance_satisfied(rules, Some("v1"), &[other]));
        let platform = provenance_fact(&["release"], "refs/tags/v1.2.0", Some("linux/amd64"));
        assert!(!provenance_satisfied(rules, Some("v1"), &[platform]));
        // A commit-SHA tag the provenance does not match fails it.
        assert!(!provenance_satisfied(rules, Some("0123abcd"), &[good]));
    }

    #[test]
    fn a_commit_claim_or_a_commit_sha_tag_forces_full_attestation_discovery() {
        let shipped = config("");
        let image = ImageRef::parse("registry.example/team/app:v1").unwrap();
        // The workload claims a commit: the right commit's provenance may be a referrer.
        assert!(attestation_shortcut(&shipped, &image, true).is_none());
        // The tag reads as a commit SHA: the same.
        let sha = ImageRef::parse("registry.example/team/app:0123abc").unwrap();
        assert!(attestation_shortcut(&shipped, &sha, false).is_none());
        // Signatures keep the shortcut: no commit rule looks at them.
        assert!(signature_shortcut(&shipped, &sha).is_some());
    }

    /// A run of more images than tasks in flight: every reference is looked up exactly once,
    /// and never more than `in_flight` lookups exist at a time.
    #[tokio::test]
    async fn gathering_keeps_a_bounded_number_of_tasks_and_looks_up_every_image_once() {
        use crate::registry::testserver::{Reply, Request, Server};
        let server = Server::start(|_: &Request| {
            Reply::body(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#)
                .header("Content-Type", "application/json")
        })
        .await;
        let registry = Arc::new(Registry::new(server.settings()).unwrap());
        let config = config("");
        let images: BTreeSet<ImageRef> = (0..600)
            .map(|i| ImageRef::parse(&format!("{}/app:v{i}", server.host())).unwrap())
            .collect();
        let claimed = HashSet::new();
        let mut gathering = gather_evidence(
            &config,
            &registry,
            images.clone(),
            jiff::Timestamp::now(),
            &claimed,
        );
        assert_eq!(gathering.in_flight, 256);
        let mut seen = BTreeSet::new();
        while let Some(found) = gathering.join_next().await {
            assert!(gathering.tasks.len() < gathering.in_flight);
            let found = found.unwrap();
            let Err(e) = &found.resolved else {
                panic!("{} resolved", found.image);
            };
            assert_eq!(e.code(), "image-not-found", "{e}");
            assert!(seen.insert(found.image), "looked up twice");
        }
        assert_eq!(seen, images);
    }
}
