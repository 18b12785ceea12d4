//! The one evaluation: manifests -> image references -> registry facts -> findings -> report.
//!
//! `check`, `pin` and the pre-sync hook all call into this module; the front ends only
//! translate arguments in and the [`Report`] out.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::config::{Config, Unmatched};
use crate::manifest::exclude::PathGlob;
use crate::manifest::{self, ImageSite, ManifestError, Source};
use crate::policy::{self, input::Mode, input::ReachabilityFact};
use crate::provenance::{
    self, commit_reachable, repository_matches, AttestationCandidate, AttestationFact,
    Reachability, RefPattern,
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
    let now = jiff::Timestamp::now();
    check_signatures_at(registry, image, resolved, signers, now).await
}

/// [`check_signatures`] with the clock Notary Project signatures are judged at (certificate
/// validity, signature expiry, CRL freshness): the run's clock.
pub async fn check_signatures_at(
    registry: &Registry,
    image: &ImageRef,
    resolved: &Resolved,
    signers: &[Arc<Signer>],
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
    let notation = |digest| verify::notation::stage::check(registry, image, digest, signers, now);
    let top = discover::signatures(registry, image, &resolved.digest).await?;
    let mut facts = verify_all(&resolved.digest, top);
    facts.extend(notation(&resolved.digest).await?);
    let mut platforms = Vec::with_capacity(resolved.platforms.len());
    for p in &resolved.platforms {
        let candidates = discover::signatures(registry, image, &p.digest).await?;
        let mut facts = verify_all(&p.digest, candidates);
        facts.extend(notation(&p.digest).await?);
        platforms.push(PlatformSignatures {
            platform: p.name(),
            digest: p.digest.clone(),
            facts,
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
    /// Documents set aside as unchanged (`check --changed-since`): read, not evaluated.
    pub unchanged: usize,
    /// Documents read that are not empty.
    pub documents: usize,
    /// Kubernetes objects read (see [`manifest::Extracted::objects`]).
    pub objects: usize,
    /// Paths skipped by `--exclude` or `paths.exclude`.
    pub excluded: usize,
}

/// What a run that read no document decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyInput {
    /// Could not decide (`no-manifests`, exit 2): a render step that printed nothing must not
    /// pass for an empty deployment.
    Refuse,
    /// Allowed, with a `no-manifests` warning (`--allow-empty`).
    Allow,
}

/// Adds the `no-manifests` notice to a report whose run read no document at all and had no
/// unreadable file (which already fails the run): an error under [`EmptyInput::Refuse`], a
/// warning under [`EmptyInput::Allow`].
pub fn refuse_empty(report: &mut Report, empty: EmptyInput) {
    if report.objects > 0 || !report.images.is_empty() || !report.file_errors.is_empty() {
        return;
    }
    let excluded = match report.excluded_paths {
        0 => String::new(),
        n => format!(" ({n} path{} excluded)", if n == 1 { "" } else { "s" }),
    };
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let what = match report.documents {
        0 => "the input holds no YAML or JSON document".to_owned(),
        n => format!(
            "{n} document{} read, {} skipped as not Kubernetes objects (no `apiVersion` and \
             `kind`)",
            plural(n),
            report.skipped_documents
        ),
    };
    let finding = match empty {
        EmptyInput::Refuse => Finding::new(
            Code::NoManifests,
            Severity::Error,
            format!("no Kubernetes object was read: {what}{excluded}"),
        )
        .hint(
            "check the render step that feeds supplygate (kustomize, helm) and the paths given; \
             `--allow-empty` accepts an empty input on purpose",
        ),
        EmptyInput::Allow => Finding::new(
            Code::NoManifests,
            Severity::Warn,
            format!("no Kubernetes object was read: {what}{excluded}; allowed by `--allow-empty`"),
        ),
    };
    report.notices.push(finding);
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// A path named on the command line could not be opened.
    #[error("cannot read `{}`", path.display())]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// The cause, shown once (by the chain, not by this message).
        #[source]
        source: std::io::Error,
    },
}

/// Reads and searches every path. A file that is not valid YAML becomes a [`FileError`]; a path
/// that cannot be opened is an error for the whole run.
pub fn read_manifests(paths: &[PathBuf], config: &Config) -> Result<Manifests, GateError> {
    read_manifests_excluding(paths, config, &[])
}

/// [`read_manifests`], skipping the paths `exclude` (`--exclude`) or `paths.exclude` match.
pub fn read_manifests_excluding(
    paths: &[PathBuf],
    config: &Config,
    exclude: &[PathGlob],
) -> Result<Manifests, GateError> {
    let globs: Vec<PathGlob> = config
        .paths
        .exclude
        .iter()
        .chain(exclude)
        .cloned()
        .collect();
    let read = manifest::load_excluding(paths, &config.limits, &globs);
    for path in &read.excluded {
        tracing::info!(path = %path.display(), "excluded");
    }
    let mut loaded = Vec::new();
    // A file named twice (`pin f.yaml f.yaml`, `f.yaml ./f.yaml`, a directory and a file in
    // it) is read once: twice, `pin` would rewrite it twice and `check` count it twice.
    let mut seen = BTreeSet::new();
    for source in read.sources {
        if let Ok(Source { origin, .. }) = &source {
            if let manifest::Origin::File(path) = origin.as_ref() {
                let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                if !seen.insert(key) {
                    tracing::info!(path = %path.display(), "named more than once; read once");
                    continue;
                }
            }
        }
        match source {
            // A path the user named that cannot be opened is a usage error, not a finding.
            Err(ManifestError::Io { path, source }) if paths.contains(&path) => {
                return Err(GateError::Unreadable { path, source })
            }
            other => loaded.push(other),
        }
    }
    let mut manifests = search_named(loaded, config, paths);
    manifests.excluded = read.excluded.len();
    Ok(manifests)
}

/// Searches texts already in memory (or read by [`read_manifests`]) for images; a text that is
/// not valid YAML, or a load error, becomes a [`FileError`].
pub fn search_manifests(loaded: Vec<Result<Source, ManifestError>>, config: &Config) -> Manifests {
    search_named(loaded, config, &[])
}

/// [`search_manifests`]; a document of standard input or of a file in `named` (named on the
/// command line) that is a scalar or a list is an `invalid-manifest` error, as kubectl refuses
/// it. In a file found in a directory it is skipped (and counted).
fn search_named(
    loaded: Vec<Result<Source, ManifestError>>,
    config: &Config,
    named: &[PathBuf],
) -> Manifests {
    let mut out = Manifests::default();
    for loaded in loaded {
        let source = match loaded {
            Ok(s) => s,
            Err(e) => {
                out.file_errors.push(file_error(&e));
                continue;
            }
        };
        // In a Helm chart, a template is rendered before anything reads it as YAML, so a
        // template that happens to be valid YAML (its actions in comments, say) is still no
        // manifest: what Helm renders from it may hold other images.
        if in_helm_chart(&source.origin) && source.text.contains("{{") {
            out.file_errors.push(FileError {
                file: source.origin.to_string(),
                line: text_line_of_template(&source.text),
                column: None,
                code: Code::HelmTemplate,
                message: "a Helm (Go) template in a chart (a `Chart.yaml` above it): it holds \
                          template actions `{{ … }}`, and Helm renders it before anything \
                          reads it as YAML, even where it is valid YAML (actions in comments); \
                          hint: render it first (`helm template RELEASE CHART | supplygate \
                          check -`), or skip it with `--exclude` or `paths.exclude`"
                    .to_owned(),
            });
            out.sources.push(source);
            continue;
        }
        match manifest::extract(&source, &config.extra_images, &config.limits) {
            Ok(found) => {
                let explicit = match source.origin.as_ref() {
                    manifest::Origin::Stdin => true,
                    manifest::Origin::File(path) => named.contains(path),
                    manifest::Origin::Named(_) => false,
                };
                let refused = if explicit { found.not_objects.len() } else { 0 };
                if explicit {
                    out.file_errors
                        .extend(found.not_objects.iter().map(|s| FileError {
                            file: s.origin.to_string(),
                            line: Some(s.line),
                            column: None,
                            code: Code::InvalidManifest,
                            message: format!(
                                "document {}: {} (kubectl refuses it)",
                                s.document + 1,
                                s.reason
                            ),
                        }));
                }
                out.file_errors
                    .extend(found.kustomizations.iter().map(|k| FileError {
                        file: k.origin.to_string(),
                        line: Some(k.line),
                        column: None,
                        code: Code::KustomizationNotRendered,
                        message: format!(
                            "{}; the files as written are not what is deployed; hint: \
                             render it first (`kubectl kustomize DIR | supplygate check -`, \
                             `kustomize build DIR`, or `helm template`), or skip it with \
                             `--exclude`",
                            k.reason
                        ),
                    }));
                out.skipped += found.skipped.len() - refused;
                out.documents += found.documents;
                out.objects += found.objects;
                out.sites.extend(found.sites);
            }
            Err(e) if is_template(&source.text) => out.file_errors.push(helm_template(&source, &e)),
            Err(e) => out.file_errors.push(file_error(&e)),
        }
        out.sources.push(source);
    }
    // Reports list images in file and line order, whatever order the reader found them in.
    out.sites
        .sort_by(|a, b| (&a.origin, a.span.start).cmp(&(&b.origin, b.span.start)));
    out
}

/// Whether a text that is not valid YAML holds Go template actions: a Helm chart's template,
/// to be rendered first. An action is `{{-`, or `{{` followed by a field or variable (`.Values`,
/// `$x`), a comment or a template keyword or function (`if`, `range`, `include`, ...); Argo
/// Workflows' `{{inputs.parameters.x}}` and `{{item}}` are not (and a valid YAML text is read
/// as it is, whatever its strings hold).
fn is_template(text: &str) -> bool {
    const WORDS: [&str; 18] = [
        "if", "else", "end", "range", "with", "define", "template", "block", "include", "tpl",
        "toYaml", "required", "default", "printf", "quote", "nindent", "indent", "fail",
    ];
    text.split("{{").skip(1).any(|rest| {
        if rest.starts_with('-') {
            return true;
        }
        let action = rest.trim_start();
        if action.starts_with(['.', '$']) || action.starts_with("/*") {
            return true;
        }
        let word: String = action
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let after = action.get(word.len()..).unwrap_or_default();
        WORDS.contains(&word.as_str())
            && (after.starts_with(char::is_whitespace) || after.starts_with("}}"))
    })
}

/// Whether a file lies in a Helm chart: a `Chart.yaml` in any directory above it (Helm
/// renders templates at any depth under `templates/`). In a chart every `{{` is an action
/// Helm evaluates, whatever follows it (`{{ "text" }}`, `{{ print … }}`).
fn in_helm_chart(origin: &manifest::Origin) -> bool {
    let manifest::Origin::File(path) = origin else {
        return false;
    };
    let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
    path.ancestors()
        .skip(1)
        .any(|dir| dir.join("Chart.yaml").is_file())
}

/// One finding for a whole Helm template, rather than its first YAML error.
fn helm_template(source: &Source, e: &ManifestError) -> FileError {
    let line = text_line_of_template(&source.text);
    FileError {
        file: source.origin.to_string(),
        line,
        column: None,
        code: Code::HelmTemplate,
        message: format!(
            "a Helm (Go) template, not a manifest: it holds template actions `{{{{ … }}}}` and is \
             not valid YAML ({}); hint: render it first (`helm template RELEASE CHART | \
             supplygate check -`), or skip it with `--exclude` or `paths.exclude`",
            syntax_message(e)
        ),
    }
}

/// A reader error without the file name, which the finding carries already.
fn syntax_message(e: &ManifestError) -> String {
    match e {
        ManifestError::Syntax {
            line,
            column,
            message,
            ..
        } => format!("line {line}, column {column}: {message}"),
        other => other.to_string(),
    }
}

/// The 1-based line of the first template action.
fn text_line_of_template(text: &str) -> Option<usize> {
    let at = text.find("{{")?;
    Some(text.get(..at)?.matches('\n').count() + 1)
}

fn file_error(e: &ManifestError) -> FileError {
    let code = match e {
        ManifestError::Ambiguous { .. } => Code::AmbiguousYaml,
        _ => Code::InvalidManifest,
    };
    let (file, line, column, message) = match e {
        ManifestError::Syntax {
            origin,
            line,
            column,
            message,
        }
        | ManifestError::Ambiguous {
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
        code,
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
    manifests: Manifests,
    config: &Config,
    registry: &Arc<Registry>,
    policy: &PolicyRun,
    progress: Progress<'_>,
) -> Report {
    let started = Instant::now();
    let mut unrecognised = Vec::new();
    let parsed: Vec<(ImageSite, Result<ImageRef, _>)> = manifests
        .sites
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
    let resolutions = resolve_all(distinct, registry, progress).await;
    let signatures = check_all_signatures(config, registry, &resolutions, policy.now).await;
    let attestations = check_all_attestations(config, registry, &resolutions).await;
    let after = registry.stats();
    let mut linkage = Linkage::default();
    let mut exemptions_used = vec![false; config.exemptions.len()];
    let now = policy.now.to_string();
    let mut images: Vec<ImageReport> = parsed
        .into_iter()
        .map(|(site, r)| {
            let mut report = image_report(site, r, &resolutions);
            fact_findings(config, &mut report, &signatures, &attestations);
            let reachability = reachability_facts(config, &report, &mut linkage);
            let input = policy::input::document(
                &report,
                policy.mode,
                &now,
                &reachability,
                &config.policy.data,
            );
            let decision = policy.engine.evaluate(&input);
            apply_decision(&mut report, decision);
            apply_overrides(config, policy.now, &mut report, &mut exemptions_used);
            fail_closed_if_unresolved(&mut report);
            report
        })
        .collect();
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

/// The finding for a policy rule's entry. A signature or attestation reason a dependency
/// wrote (a certificate that does not decode) gets a sentence in the user's terms before the
/// rule's own hint; `found` keeps the raw reason.
fn violation_finding(v: policy::Violation, severity: Severity) -> Finding {
    let explained = v
        .found
        .as_deref()
        .and_then(crate::report::explain_dependency_error);
    let hint = match (explained, v.hint) {
        (Some(x), Some(h)) => Some(format!("{}: {}; {h}", x.meaning, x.action)),
        (Some(x), None) => Some(format!("{}: {}", x.meaning, x.action)),
        (None, h) => h,
    };
    Finding {
        code: v
            .code
            .as_deref()
            .map(Code::from_rule)
            .unwrap_or_else(|| Code::Rule(Arc::from("policy"))),
        severity,
        message: v.msg,
        expected: v.expected,
        found: v.found,
        hint,
    }
}

/// A value under an `image` key, found by the generic pass, that is not an image reference:
/// whatever reads that field is unknown, so `policy.unknown_image_fields` decides (allowed
/// without a finding under `allow`, a warning or a denial otherwise) instead of an
/// `invalid-reference` denial. The site stays in the report either way (and the webhook,
/// which evaluates one site at a time, gets an answer for it).
fn unrecognised_field(
    config: &Config,
    site: ImageSite,
    error: &crate::reference::ReferenceError,
) -> ImageReport {
    let severity = match config.policy.unknown_image_fields {
        Unmatched::Allow => None,
        Unmatched::Warn => Some(Severity::Warn),
        Unmatched::Deny => Some(Severity::Deny),
    };
    // A mapping or list is kept as JSON text: say what it is rather than how the text fails.
    let why = match site.image.chars().next() {
        Some('{') => "it is a mapping".to_owned(),
        Some('[') => "it is a list".to_owned(),
        _ => error.to_string(),
    };
    let embedded = site.extractor == manifest::kinds::ARGO_EMBEDDED;
    let findings = severity.map(|severity| {
        let message = if embedded {
            format!(
                "`{}` of {} holds images Argo runs, but the string was not read ({}): its \
                 images are not checked",
                site.path,
                site.resource.kind,
                site.image.trim_start_matches('<').trim_end_matches('>')
            )
        } else {
            format!(
                "`{}` of {} `{}` is not an image reference ({why}); the generic pass found it \
             and no extractor knows what reads this field: it was not checked",
                site.path, site.resource.kind, site.image
            )
        };
        Finding::new(Code::UnrecognisedImageField, severity, message).hint(
            "if this field names an image, write a reference; if the kind runs images, add an \
         `images.extra` rule for it; `policy.unknown_image_fields` sets how this is decided",
        )
    });
    ImageReport {
        site,
        reference: None,
        resolved: None,
        findings: findings.into_iter().collect(),
        signatures: None,
        attestations: None,
    }
}

/// Turns the policy's deny/warn entries into findings. A denial with a code the gate already
/// reported for this image (e.g. `image-not-found`) is not repeated.
fn apply_decision(report: &mut ImageReport, decision: policy::Decision) {
    let already: Vec<String> = report
        .findings
        .iter()
        .map(|f| f.code.as_str().to_owned())
        .collect();
    for v in decision.denies {
        let mut finding = violation_finding(v, Severity::Deny);
        // A policy that reports missing facts ("could not check") keeps the could-not-decide
        // weight: exit 2, not a plain deny.
        if matches!(
            finding.code,
            Code::SignatureCheckFailed | Code::ProvenanceCheckFailed | Code::PolicyError
        ) {
            finding.severity = Severity::Error;
        }
        // Evidence that failed its digest is a definite deny the gate reported already; the
        // policy's "could not check" for the same evidence adds nothing and would turn the
        // deny into a could-not-decide.
        let tampered = already.iter().any(|c| c == Code::DigestMismatch.as_str());
        if tampered && finding.severity == Severity::Error {
            continue;
        }
        if !already.iter().any(|c| c == finding.code.as_str()) {
            report.findings.push(finding);
        }
    }
    for v in decision.warns {
        report.findings.push(violation_finding(v, Severity::Warn));
    }
    for e in decision.errors {
        report
            .findings
            .push(Finding::new(Code::PolicyError, Severity::Error, e).hint(
                "a policy that cannot be evaluated denies: fix the rule or raise `policy.timeout`",
            ));
    }
}

/// Break-glass (in the namespaces that allow it) and unexpired exemptions turn the policy's
/// denials into warnings; both are always reported. Fact errors (could not decide) and
/// tampering are never overridden.
fn apply_overrides(
    config: &Config,
    now: jiff::Timestamp,
    report: &mut ImageReport,
    used: &mut [bool],
) {
    // Only policy denials: an image that is missing, unreadable or tampered with stays denied.
    let overridable = |f: &Finding| {
        f.severity == Severity::Deny
            && !matches!(
                f.code,
                Code::DigestMismatch | Code::ImageNotFound | Code::InvalidReference
            )
    };
    if !report.findings.iter().any(overridable) {
        return;
    }
    let resource = &report.site.resource;
    let namespace = resource.namespace.clone().unwrap_or_default();
    let bg = &config.break_glass;
    if let Some(why) = resource.annotations.get(&bg.annotation) {
        // Like an exemption, break-glass must say why: a value with no letter or digit (empty,
        // spaces, zero-width characters, punctuation) is no reason, and overrides nothing.
        if !why.chars().any(char::is_alphanumeric) {
            report.findings.push(
                Finding::new(
                    Code::BreakGlassWithoutReason,
                    Severity::Deny,
                    format!(
                        "break-glass annotation `{}` on `{}` gives no reason; denials stand",
                        bg.annotation, report.site.image
                    ),
                )
                .expected_found("a reason (who, why, which incident)", format!("{why:?}"))
                .hint(format!(
                    "write why in the annotation: `{}: \"INC-123: …\"`",
                    bg.annotation
                )),
            );
            return;
        }
        if bg.namespaces.contains(&namespace) {
            for f in report.findings.iter_mut().filter(|f| overridable(f)) {
                f.severity = Severity::Warn;
                f.message = format!("{} (overridden by break-glass)", f.message);
            }
            report.findings.push(
                Finding::new(
                    Code::BreakGlass,
                    Severity::Warn,
                    format!("break-glass in namespace `{namespace}`: denials of `{}` are warnings: {why}", report.site.image),
                )
                .hint(format!("remove the `{}` annotation once the emergency is over", bg.annotation)),
            );
            return;
        }
        report.findings.push(
            Finding::new(
                Code::BreakGlass,
                Severity::Warn,
                format!("break-glass annotation ignored: namespace `{namespace}` is not in `break_glass.namespaces`"),
            ),
        );
    }
    let Some(name) = report.reference.as_ref().map(ImageRef::name) else {
        return;
    };
    for (i, e) in config.exemptions.iter().enumerate() {
        let applies = e.images.iter().any(|g| g.matches(&name))
            && (e.namespaces.is_empty() || e.namespaces.contains(&namespace));
        if !applies {
            continue;
        }
        if let Some(u) = used.get_mut(i) {
            *u = true;
        }
        if now >= e.expires {
            report.findings.push(
                Finding::new(
                    Code::Exemption,
                    Severity::Warn,
                    format!(
                        "the exemption at config line {} expired on {}; it no longer exempts `{}`",
                        e.line, e.expires_written, report.site.image
                    ),
                )
                .hint("renew it with a new `expires` if it is still needed, or fix the image"),
            );
            continue;
        }
        for f in report.findings.iter_mut().filter(|f| overridable(f)) {
            f.severity = Severity::Warn;
            f.message = format!(
                "{} (exempted until {}: {})",
                f.message, e.expires_written, e.reason
            );
        }
        report.findings.push(Finding::new(
            Code::Exemption,
            Severity::Warn,
            format!(
                "`{}` is exempted until {} (config line {}): {}",
                report.site.image, e.expires_written, e.line, e.reason
            ),
        ));
        return;
    }
}

/// An image that did not resolve can never be allowed, whatever the policies say.
fn fail_closed_if_unresolved(report: &mut ImageReport) {
    let blocked = report
        .findings
        .iter()
        .any(|f| matches!(f.severity, Severity::Deny | Severity::Error));
    if report.resolved.is_none() && !blocked {
        report.findings.push(Finding::new(
            Code::PolicyError,
            Severity::Error,
            format!(
                "`{}` did not resolve to a digest and no policy denied it; failing closed",
                report.site.image
            ),
        ));
    }
}

/// The verdict of one check per resolved reference (signatures, attestations).
pub type Checks<T> = HashMap<ImageRef, Result<Arc<T>, Arc<RegistryError>>>;

/// Runs `check` concurrently for every resolved reference `applies` to (the registry bounds
/// the concurrency). A panicking task leaves its reference out; `fact_findings` fails closed.
async fn check_all<T, F, Fut>(
    registry: &Arc<Registry>,
    resolutions: &Resolutions,
    applies: impl Fn(&ImageRef) -> bool,
    check: F,
) -> Checks<T>
where
    T: Send + Sync + 'static,
    F: Fn(Arc<Registry>, ImageRef, Resolved) -> Fut,
    Fut: std::future::Future<Output = Result<T, RegistryError>> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for (image, resolved) in resolutions {
        let Ok(resolved) = resolved else { continue };
        if !applies(image) {
            continue;
        }
        let work = check(Arc::clone(registry), image.clone(), resolved.clone());
        let image = image.clone();
        tasks.spawn(async move { (image, work.await.map(Arc::new).map_err(Arc::new)) });
    }
    let mut out = Checks::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((image, result)) = joined {
            out.insert(image, result);
        }
    }
    out
}

/// Runs [`check_signatures`] for every resolved reference that a requirement applies to.
async fn check_all_signatures(
    config: &Config,
    registry: &Arc<Registry>,
    resolutions: &Resolutions,
    now: jiff::Timestamp,
) -> SignatureChecks {
    let signers: Arc<Vec<Arc<Signer>>> = Arc::new(config.signers.values().cloned().collect());
    let applies = |image: &ImageRef| config.requirements_for(&image.name()).next().is_some();
    check_all(
        registry,
        resolutions,
        applies,
        |registry, image, resolved| {
            // Notation signers only where a rule for this image names one: no Notation lookup
            // for images whose rules ask for cosign signatures only.
            let notation = config
                .requirements_for(&image.name())
                .any(|r| r.signers.iter().any(|s| s.is_notation()));
            let signers: Vec<Arc<Signer>> = signers
                .iter()
                .filter(|s| notation || !s.is_notation())
                .cloned()
                .collect();
            async move { check_signatures_at(&registry, &image, &resolved, &signers, now).await }
        },
    )
    .await
}

/// Runs [`check_attestations`] for every resolved reference that a provenance rule applies to.
async fn check_all_attestations(
    config: &Config,
    registry: &Arc<Registry>,
    resolutions: &Resolutions,
) -> AttestationChecks {
    let signers: Arc<Vec<Arc<Signer>>> = Arc::new(config.signers.values().cloned().collect());
    let applies = |image: &ImageRef| config.provenance_for(&image.name()).next().is_some();
    check_all(
        registry,
        resolutions,
        applies,
        |registry, image, resolved| {
            let signers = Arc::clone(&signers);
            async move { check_attestations(&registry, &image, &resolved, &signers).await }
        },
    )
    .await
}

/// Reachability answers, memoised per clone, commit and refs within one run.
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

/// The gate's own findings about facts it could not establish (discovery failed): those
/// images cannot be decided, whatever the policies say.
fn fact_findings(
    config: &Config,
    report: &mut ImageReport,
    signatures: &SignatureChecks,
    attestations: &AttestationChecks,
) {
    let Some(image) = report.reference.clone() else {
        return;
    };
    if report.resolved.is_none() {
        return;
    }
    let name = image.name();
    if config.requirements_for(&name).next().is_some() {
        match signatures.get(&image) {
            Some(Ok(checked)) => report.signatures = Some(Arc::clone(checked)),
            // Evidence that does not hash to its digest was tampered with: a deny, as for
            // the image manifest itself, not a could-not-decide.
            Some(Err(e)) if matches!(**e, RegistryError::DigestMismatch { .. }) => {
                report.findings.push(registry_finding(&image, e));
            }
            Some(Err(e)) => {
                let mut f = registry_finding(&image, e);
                f.code = Code::SignatureCheckFailed;
                f.severity = Severity::Error;
                f.message = format!("could not look for signatures: {e}");
                report.findings.push(f);
            }
            None => report.findings.push(Finding::new(
                Code::SignatureCheckFailed,
                Severity::Error,
                format!(
                    "signatures of `{image}` were not checked (internal error); failing closed"
                ),
            )),
        }
    }
    if config.provenance_for(&name).next().is_some() {
        match attestations.get(&image) {
            Some(Ok(checked)) => report.attestations = Some(Arc::clone(checked)),
            Some(Err(e)) if matches!(**e, RegistryError::DigestMismatch { .. }) => {
                report.findings.push(registry_finding(&image, e));
            }
            Some(Err(e)) => report.findings.push(
                Finding::new(
                    Code::ProvenanceCheckFailed,
                    Severity::Error,
                    format!("could not look for attestations: {e}"),
                )
                .hint("the gate fails closed; retry when the registry answers"),
            ),
            None => report.findings.push(Finding::new(
                Code::ProvenanceCheckFailed,
                Severity::Error,
                format!(
                    "attestations of `{image}` were not checked (internal error); failing closed"
                ),
            )),
        }
    }
}

/// For every verified provenance commit whose repository has a local clone, whether it is
/// reachable from the refs of each provenance rule that applies (git runs here, the policy
/// decides on the answers).
fn reachability_facts(
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
                    result: "no-commit",
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
                Ok(Reachability::Reachable { via }) => ("reachable", Some(via), None),
                Ok(Reachability::NotReachable { refs_checked }) => (
                    "not-reachable",
                    None,
                    Some(format!("on none of the {refs_checked} matching refs")),
                ),
                Ok(Reachability::NotInClone) => ("not-in-clone", None, None),
                Err(e) => ("error", None, Some(e)),
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
                // A tag that moved away from the pinned digest is the policies' call
                // (`tag-moved` in the shipped library): the pinned digest is what runs.
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
                "for a registry without TLS set `registries: {{\"{host}\": {{insecure: true}}}}`"
            ),
        ),
        "offline-no-layout" => (
            Code::OfflineNoLayout,
            Severity::Error,
            format!(
                "offline (`--offline` or `network.offline: true`) images are read only from OCI layouts: map the host to one under `registries:` (`\"{host}\": {{layout: DIR}}`, e.g. filled by `skopeo copy docker://{image} oci:DIR`), or run without `--offline`"
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
    // An error a dependency wrote (rustls, reqwest, serde_json, a DER decoder) is said in the
    // user's terms first, then verbatim.
    let cause = match e {
        RegistryError::Unavailable { reason, .. }
        | RegistryError::InvalidResponse { reason, .. }
        | RegistryError::Layout { reason, .. } => Some(reason.as_str()),
        _ => None,
    };
    match cause.and_then(crate::report::explain_dependency_error) {
        Some(explained) => Finding::new(
            code,
            severity,
            format!("{}; the cause: {e}", explained.meaning),
        )
        .hint(format!("{}; {hint}", explained.action)),
        None => Finding::new(code, severity, e.to_string()).hint(hint),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_certificate_that_does_not_decode_is_explained_before_the_rule_hint() {
        let raw = "cosign keyless signature: the certificate cannot be parsed (malformed ASN.1 \
                   DER value for GeneralizedTime at DER byte 71)";
        let v = policy::Violation {
            code: Some("signature-not-trusted".into()),
            msg: "1 signature on `x` (sha256:…), none by `ci`".into(),
            hint: Some("`supplygate explain x` lists every signature".into()),
            expected: Some("a signature by `ci`".into()),
            found: Some(raw.into()),
            package: "data.supplygate.signatures".into(),
        };
        let f = violation_finding(v, Severity::Deny);
        assert_eq!(f.code, Code::SignatureNotTrusted);
        assert_eq!(f.found.as_deref(), Some(raw), "the raw cause stays");
        assert_eq!(
            f.hint.as_deref(),
            Some(
                "a certificate or key could not be decoded: its bytes are damaged, truncated \
                 or not the kind of object expected here: get a fresh copy of it (export the \
                 key again with `cosign public-key`, download the trusted root again, or sign \
                 the image again); `supplygate explain x` lists every signature"
            )
        );
    }
}
