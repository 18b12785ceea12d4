//! The one evaluation: manifests -> image references -> registry facts -> findings -> report.
//!
//! `check`, `pin` and the pre-sync hook all call into this module; the front ends only
//! translate arguments in and the [`Report`] out.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::manifest::{self, ImageSite};
use crate::policy::{self, input::Mode};
use crate::reference::ImageRef;
use crate::registry::{Registry, RegistryError, Resolved};
use crate::report::{Code, Finding, ImageReport, Report, RunStats, Severity};

mod evidence;
mod findings;
mod read;
mod sources;

pub use evidence::{
    check_attestations, check_attestations_for, check_signatures, check_signatures_at,
    check_signatures_for, AttestationChecks, Checks, SignatureChecks,
};
use evidence::{gather_evidence, reachability_facts, Found, Linkage};
pub use findings::registry_finding;
use findings::{
    apply_decision, apply_overrides, fact_findings, fail_closed_if_unresolved, image_report,
    unrecognised_field,
};
pub use read::{
    read_manifests, read_manifests_excluding, refuse_empty, search_manifests, EmptyInput,
    GateError, Manifests,
};
pub use sources::{evaluate_with, Evidence, Replay, TagCheck};

/// Called as lookups finish: `(done, total)`.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Send + Sync);

/// What happened to each distinct reference.
pub type Resolutions = HashMap<ImageRef, Result<Resolved, Arc<RegistryError>>>;

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

/// The policy side of a run: the loaded library, the mode and the clock.
#[derive(Debug, Clone)]
pub struct PolicyRun {
    /// The loaded library (shipped and user policies), parsed once.
    pub engine: policy::Engine,
    /// Where the evaluation runs.
    pub mode: Mode,
    /// The evaluation clock (exemption expiry, `input.now`).
    pub now: jiff::Timestamp,
}

/// Loads the shipped library (unless `policy.builtin: false`), the config's policy paths and
/// `extra` paths (`--policy`), with the config as `data.supplygate.config` and the user's
/// data as `data.supplygate.policy`.
pub fn load_policy(
    config: &Config,
    extra: &[PathBuf],
) -> Result<policy::Engine, policy::LoadErrors> {
    let limits = policy::Limits {
        eval_timeout: config.policy.timeout,
        ..policy::Limits::default()
    };
    let mut loader = policy::Loader::new(limits);
    if config.policy.builtin {
        loader.embedded(policy::shipped::MODULES);
    }
    for path in config.policy.paths.iter().chain(extra) {
        loader.path(path, policy::TestFiles::Exclude);
    }
    loader.data_value(
        "supplygate.yaml",
        serde_json::json!({"supplygate": {
            "config": policy::input::config_data(config),
            "policy": config.policy.data,
        }}),
    );
    loader.load()
}

/// Runs the whole pipeline over `paths`.
pub async fn evaluate(
    paths: &[PathBuf],
    config: &Config,
    registry: &Arc<Registry>,
    policy: &PolicyRun,
    progress: Progress<'_>,
) -> Result<Report, GateError> {
    let manifests = read_manifests(paths, config)?;
    Ok(evaluate_manifests(manifests, config, registry, policy, progress).await)
}

/// Runs the pipeline from stage (2) on manifests already read: `check` after `--changed-since`
/// has set documents aside, and the webhook on the object of an admission request.
pub async fn evaluate_manifests(
    mut manifests: Manifests,
    config: &Config,
    registry: &Arc<Registry>,
    policy: &PolicyRun,
    progress: Progress<'_>,
) -> Report {
    let started = Instant::now();
    // The texts are for rewriting (`pin`), not for deciding: not held through the run.
    drop(std::mem::take(&mut manifests.sources));
    let mut unrecognised = Vec::new();
    let parsed: Vec<(ImageSite, Result<ImageRef, _>)> = std::mem::take(&mut manifests.sites)
        .into_iter()
        .filter_map(|site| {
            let r = ImageRef::parse(&site.image);
            match r {
                Err(e)
                    if site.extractor == manifest::kinds::GENERIC_IMAGE_KEY
                        || (site.extractor == manifest::kinds::ARGO_EMBEDDED
                            && site.image.starts_with('<')) =>
                {
                    unrecognised.push(unrecognised_field(config, site, &e));
                    None
                }
                r => Some((site, r)),
            }
        })
        .collect();
    let distinct: BTreeSet<ImageRef> = parsed
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().cloned())
        .collect();
    let before = registry.stats();
    let distinct_images = distinct.len();
    // Images some site claims a commit for: their provenance is checked against that commit.
    let claimed: HashSet<ImageRef> = parsed
        .iter()
        .filter(|(site, _)| {
            let key = &config.source.commit_key;
            site.resource.annotations.contains_key(key) || site.resource.labels.contains_key(key)
        })
        .filter_map(|(_, r)| r.as_ref().ok().cloned())
        .collect();
    let mut decided: Vec<Option<ImageReport>> = (0..parsed.len()).map(|_| None).collect();
    let mut decider = Decider {
        config,
        policy,
        now: policy.now.to_string(),
        rules: policy::facts::Rules::from_config(config),
        linkage: Linkage::default(),
        exemptions_used: vec![false; config.exemptions.len()],
        evidence: Gathered::default(),
    };
    // The sites of each reference, held until its facts are in and then decided; sites whose
    // reference is invalid need no facts from the registry and are decided now.
    let mut waiting: HashMap<ImageRef, Vec<(usize, ImageSite)>> = HashMap::new();
    for (i, (site, r)) in parsed.into_iter().enumerate() {
        match r {
            Ok(r) => waiting.entry(r).or_default().push((i, site)),
            Err(e) => {
                if let Some(slot) = decided.get_mut(i) {
                    *slot = Some(decider.decide(site, Err(e)));
                }
            }
        }
    }
    // No barrier between stages: each reference is resolved, then its signatures and
    // attestations checked, in a task of its own; its sites are decided as soon as that task
    // is done, while the other lookups go on. The report keeps the sites' order.
    let total = distinct.len();
    let mut tasks = gather_evidence(config, registry, distinct, policy.now, &claimed);
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        done += 1;
        progress(done, total);
        // A task only panics on a bug; its sites are decided below without facts, which
        // fails closed.
        let Ok(found) = joined else { continue };
        let image = found.image.clone();
        decider.evidence.add(found);
        for (i, site) in waiting.remove(&image).unwrap_or_default() {
            if let Some(slot) = decided.get_mut(i) {
                *slot = Some(decider.decide(site, Ok(image.clone())));
            }
        }
        // Every site naming it is decided: its facts live on in their reports only, so that
        // a run of 10,000 images does not hold them twice; the table shrinks as it empties.
        decider.evidence.forget(&image);
        if waiting.len() < waiting.capacity() / 4 {
            waiting.shrink_to_fit();
        }
    }
    let after = registry.stats();
    let mut left: Vec<(usize, ImageRef, ImageSite)> = waiting
        .into_iter()
        .flat_map(|(r, sites)| sites.into_iter().map(move |(i, site)| (i, r.clone(), site)))
        .collect();
    left.sort_by_key(|(i, ..)| *i);
    for (i, r, site) in left {
        if let Some(slot) = decided.get_mut(i) {
            *slot = Some(decider.decide(site, Ok(r)));
        }
    }
    let exemptions_used = std::mem::take(&mut decider.exemptions_used);
    // Every slot is decided by now. `filter_map` (unlike `flatten`) collects in place: the
    // reports of 10,000 images are not copied into a second, growing vector.
    #[allow(clippy::filter_map_identity)]
    let mut images: Vec<ImageReport> = decided.into_iter().filter_map(|d| d).collect();
    if !unrecognised.is_empty() {
        images.extend(unrecognised);
        images.sort_by(|a, b| {
            (&a.site.origin, a.site.span.start).cmp(&(&b.site.origin, b.site.span.start))
        });
    }
    // An exemption may serve an image in a document that `--changed-since` set aside: only a
    // whole run can say an exemption is unused.
    let whole_run = manifests.unchanged == 0;
    let notices = config
        .exemptions
        .iter()
        .zip(&exemptions_used)
        .filter(|(_, used)| whole_run && !**used)
        .map(|(e, _)| {
            Finding::new(
                Code::Exemption,
                Severity::Warn,
                format!(
                    "the exemption at config line {} ({}) matched no denied image",
                    e.line, e.reason
                ),
            )
            .hint("remove it if it is no longer needed")
        })
        .collect();
    Report {
        images,
        file_errors: manifests.file_errors,
        skipped_documents: manifests.skipped,
        unchanged_documents: manifests.unchanged,
        documents: manifests.documents,
        objects: manifests.objects,
        excluded_paths: manifests.excluded,
        notices,
        stats: run_stats(distinct_images, before, after, started),
    }
}

/// The facts found so far, per distinct reference.
#[derive(Default)]
struct Gathered {
    resolutions: Resolutions,
    signatures: SignatureChecks,
    attestations: AttestationChecks,
}

impl Gathered {
    fn add(&mut self, found: Found) {
        // The facts a report keeps to the end of the run are copied here, on the thread that
        // decides: made on the lookup threads, between the bodies and parse trees freed
        // right after, they would pin those threads' allocator pages for the whole run.
        if let Some(s) = found.signatures {
            let s = s.map(|s| Arc::new(crate::facts::SignatureReport::clone(&s)));
            self.signatures.insert(found.image.clone(), s);
        }
        if let Some(a) = found.attestations {
            let a = a.map(|a| Arc::new(crate::facts::AttestationReport::clone(&a)));
            self.attestations.insert(found.image.clone(), a);
        }
        self.resolutions.insert(found.image, found.resolved);
    }

    /// Drops what was found for `image` (once every site naming it is decided).
    fn forget(&mut self, image: &ImageRef) {
        self.resolutions.remove(image);
        self.signatures.remove(image);
        self.attestations.remove(image);
    }
}

/// Decides image sites one at a time, on the facts gathered so far.
struct Decider<'a> {
    config: &'a Config,
    policy: &'a PolicyRun,
    now: String,
    rules: policy::facts::Rules,
    linkage: Linkage,
    exemptions_used: Vec<bool>,
    evidence: Gathered,
}

impl Decider<'_> {
    fn decide(
        &mut self,
        site: ImageSite,
        reference: Result<ImageRef, crate::reference::ReferenceError>,
    ) -> ImageReport {
        let (config, policy) = (self.config, self.policy);
        let mut report = image_report(site, reference, &self.evidence.resolutions);
        fact_findings(
            config,
            &mut report,
            &self.evidence.signatures,
            &self.evidence.attestations,
        );
        let reachability = reachability_facts(config, &report, &mut self.linkage);
        let name = report.reference.as_ref().map(ImageRef::name);
        let facts = self.rules.derive(&policy::input::subject(
            &self.rules,
            &report,
            name.as_deref(),
            &reachability,
        ));
        let input = policy::input::document(
            &report,
            policy.mode,
            &self.now,
            &reachability,
            &facts,
            &config.policy.data,
        );
        let decision = policy.engine.evaluate(&input);
        apply_decision(config, &mut report, decision, &facts.matched);
        apply_overrides(config, policy.now, &mut report, &mut self.exemptions_used);
        fail_closed_if_unresolved(&mut report);
        report
    }
}

/// The counters of a run that looked up `distinct_images` references between the registry
/// counters `before` and `after`.
pub fn run_stats(
    distinct_images: usize,
    before: crate::registry::Stats,
    after: crate::registry::Stats,
    started: std::time::Instant,
) -> RunStats {
    RunStats {
        distinct_images,
        requests: after.requests.saturating_sub(before.requests),
        cache_hits: after.cache_hits.saturating_sub(before.cache_hits),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}
