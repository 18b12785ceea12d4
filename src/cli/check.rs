//! `supplygate check`: the pull-request check and the pre-sync hook.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use super::output::OutputArgs;
use super::select::SelectArgs;
use super::{progress_printer, Context};
use crate::cache::{Cache, CacheSettings};
use crate::config::ConfigError;
use crate::gate::{self, GateError};
use crate::gate::{Evidence, TagCheck};
use crate::lock::{Fingerprint, Lock, UncheckedTags};
use crate::manifest::{write_atomic, ManifestError};
use crate::policy::input::Mode;
use crate::reference::{Digest, ImageRef};
use crate::registry::{Recall, Registry, Store};
use crate::report::{Code, Decision, FileError, Finding, Report, Severity};

/// Arguments of `check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Manifest files or directories (searched for .yaml, .yml, .json); `-` reads stdin
    #[arg(value_name = "PATH", default_value = ".")]
    pub(crate) paths: Vec<PathBuf>,
    /// List the image sites found (like `supplygate images`) and exit; resolve nothing
    ///
    /// Has no SUPPLYGATE_* variable on purpose: a variable left in a pipeline's environment
    /// would turn every check into a listing that exits 0, which the pipeline reads as allow.
    #[arg(long, conflicts_with_all = ["changed_since", "locked", "write_lock"])]
    pub(crate) list: bool,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    #[command(flatten)]
    pub(crate) select: SelectArgs,
    /// Where this runs; policies see it as `input.mode`
    #[arg(long, env = "SUPPLYGATE_MODE", value_enum, default_value_t = RunMode::Check)]
    mode: RunMode,
    /// Write an evidence lock: every image's digest, signatures, attestations and decision, to
    /// re-verify offline with --locked (not written when the run cannot decide)
    #[arg(
        long,
        env = "SUPPLYGATE_WRITE_LOCK",
        value_name = "FILE",
        conflicts_with = "locked"
    )]
    write_lock: Option<PathBuf>,
    /// Decide from this evidence lock, re-verifying it without registry reads; a tag-only
    /// reference is re-checked against the registry, and denied when its tag moved or could
    /// not be re-checked (--offline, no answer); not with --changed-since: every image is
    /// re-checked
    #[arg(
        long,
        env = "SUPPLYGATE_LOCKED",
        value_name = "FILE",
        conflicts_with = "changed_since"
    )]
    locked: Option<PathBuf>,
    /// With --locked, allow tag-only references whose tag was not re-checked against the
    /// registry (--offline, or no answer) with a warning instead of denying them: the kubelet
    /// then pulls whatever the tag names, which the lock never verified
    #[arg(long, env = "SUPPLYGATE_INSECURE_ALLOW_UNPINNED_WITH_LOCK")]
    insecure_allow_unpinned_with_lock: bool,
    /// Keep verified evidence across runs in DIR (see docs/cache.md): a repeated check asks
    /// the registry only for tags, nothing about a digest it already verified; overrides
    /// `cache.dir`
    #[arg(long, env = "SUPPLYGATE_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Allow a run that read no document at all (with a `no-manifests` warning) instead of
    /// failing it with exit 2: an empty render is then indistinguishable from an empty
    /// deployment
    #[arg(long, env = "SUPPLYGATE_ALLOW_EMPTY")]
    allow_empty: bool,
}

/// `input.mode` for `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum RunMode {
    /// Pull-request check
    Check,
    /// Argo CD / Flux pre-sync hook
    Presync,
}

pub(crate) fn run(ctx: &Context, args: CheckArgs) -> anyhow::Result<u8> {
    match decide(ctx, &args) {
        Ok(Decided { report, then_fail }) => {
            args.output.emit(ctx, &report)?;
            match then_fail {
                Some(e) => Err(e),
                None => Ok(report.decision().exit_code()),
            }
        }
        Err(e) => failed(&args, e),
    }
}

/// `check` could not decide before it had a report (a path that cannot be read, the config, a
/// flag, the policies, the registry client): every requested report is still written, with
/// the error as its finding, then the error ends the run (exit 2). A CI step that uploads
/// the SARIF file finds one, and it says why.
pub(crate) fn failed(args: &CheckArgs, e: anyhow::Error) -> anyhow::Result<u8> {
    let report = failure_report(&e);
    match args.output.emit_failure(&report) {
        Ok(()) => Err(e),
        Err(writing) => Err(writing.context(format!("{e:#}"))),
    }
}

/// The report of a run that failed with `e`: each config problem at its line and column, a
/// path that cannot be read as itself, anything else as one run-level error.
fn failure_report(e: &anyhow::Error) -> Report {
    let error = |file: String, line, column, code, message| FileError {
        file,
        line,
        column,
        code,
        message,
    };
    let file_errors = match (
        e.downcast_ref::<ConfigError>(),
        e.downcast_ref::<GateError>(),
    ) {
        (Some(ConfigError::Invalid { path, problems }), _) => problems
            .iter()
            .map(|p| {
                let message = match &p.hint {
                    Some(hint) => format!("{} ({hint})", p.message),
                    None => p.message.clone(),
                };
                let file = path.display().to_string();
                error(
                    file,
                    Some(p.line),
                    Some(p.column),
                    Code::InvalidConfig,
                    message,
                )
            })
            .collect(),
        (
            Some(ConfigError::Syntax(ManifestError::Syntax {
                origin,
                line,
                column,
                message,
            })),
            _,
        ) => vec![error(
            origin.to_string(),
            Some(*line),
            Some(*column),
            Code::InvalidConfig,
            message.clone(),
        )],
        (Some(ConfigError::Read { path, source }), _) => vec![error(
            path.display().to_string(),
            None,
            None,
            Code::InvalidConfig,
            format!("cannot be read: {source}"),
        )],
        (_, Some(GateError::Unreadable { path, source })) => vec![error(
            path.display().to_string(),
            None,
            None,
            Code::RunFailed,
            format!("cannot be read: {source}"),
        )],
        _ => vec![error(
            RUN.to_owned(),
            None,
            None,
            Code::RunFailed,
            format!("{e:#}"),
        )],
    };
    Report {
        file_errors,
        ..Report::default()
    }
}

/// What a run-level error names in place of a file.
const RUN: &str = "<run>";

/// A report, and the error that ends the run once the report is written (the lock could not
/// be written): the report says what was decided, the error why the run still fails.
struct Decided {
    report: Report,
    then_fail: Option<anyhow::Error>,
}

fn decide(ctx: &Context, args: &CheckArgs) -> anyhow::Result<Decided> {
    args.output.validate()?;
    let mut then_fail = None;
    let mode = match args.mode {
        RunMode::Check => Mode::Check,
        RunMode::Presync => Mode::Presync,
    };
    // A pre-sync hook admits what it does not check: it must evaluate every document.
    if let (Mode::Presync, Some(rev)) = (mode, args.select.changed_since()) {
        anyhow::bail!(
            "--mode presync checks every document, but --changed-since {rev} (or \
             SUPPLYGATE_CHANGED_SINCE) would set unchanged ones aside: drop --changed-since"
        );
    }
    let policy = ctx.policy(mode)?;
    let exclude = args.select.exclude()?;
    let mut manifests = gate::read_manifests_excluding(&args.paths, &ctx.config, &exclude)?;
    args.select.apply(&args.paths, &mut manifests)?;
    // Refused by clap already (`conflicts_with`); kept so that no selection can ever make a
    // hook skip documents, which it would then admit unchecked.
    if args.locked.is_some() && manifests.unchanged > 0 {
        anyhow::bail!(
            "--locked re-checks every image of the manifests, but {} document(s) were set \
             aside as unchanged: drop --changed-since",
            manifests.unchanged
        );
    }
    if args.write_lock.is_some() && manifests.unchanged > 0 {
        anyhow::bail!(
            "--write-lock records every image of the manifests, but --changed-since set {} \
             document(s) aside: drop --changed-since to write the lock",
            manifests.unchanged
        );
    }
    let progress = progress_printer("checking");
    let empty = if args.allow_empty {
        gate::EmptyInput::Allow
    } else {
        gate::EmptyInput::Refuse
    };
    let fingerprint = Fingerprint::new(&ctx.config, &policy.engine)?;
    let (cache, cache_unusable) = open_cache(ctx, args, &fingerprint)?;
    let evidence = if let Some(path) = &args.locked {
        let lock = Arc::new(Lock::read(path)?);
        // The same rule as `serve --lock`: a tag-only reference is admitted only when its
        // tag was re-checked against the registry just now and still names the locked digest.
        let unchecked = if args.insecure_allow_unpinned_with_lock {
            tracing::warn!(
                "--insecure-allow-unpinned-with-lock: tag-only references whose tag is not \
                 re-checked are allowed with a warning; the kubelet pulls whatever the tag \
                 names, which the lock never verified"
            );
            UncheckedTags::Warn
        } else {
            UncheckedTags::Deny
        };
        let tags = if ctx.config.registry.offline {
            TagCheck::Offline(unchecked)
        } else {
            TagCheck::Online(Arc::clone(&ctx.registry), unchecked)
        };
        Evidence::replaying(ctx.config.registry.clone(), lock, fingerprint.clone(), tags)
            .context("cannot set up the registry client")?
    } else if args.write_lock.is_some() || cache.is_some() {
        let mut registry = Registry::new(ctx.config.registry.clone())
            .context("cannot set up the registry client")?
            .with_recorder();
        if let Some(cache) = &cache {
            registry = registry.with_recall(Arc::clone(cache) as Arc<dyn Recall>);
        }
        Evidence::Recording(Arc::new(registry))
    } else {
        Evidence::Live(Arc::clone(&ctx.registry))
    };
    let mut report = ctx.runtime.block_on(gate::evaluate_with(
        manifests,
        &ctx.config,
        &evidence,
        &policy,
        &progress,
    ));
    gate::refuse_empty(&mut report, empty);
    // One line for `-v` that stays readable at any size: the run's volume and its cost.
    let stats = &report.stats;
    tracing::info!(
        sites = report.images.len(),
        distinct_images = stats.distinct_images,
        requests = stats.requests,
        requests_per_image = format!(
            "{:.2}",
            stats.requests as f64 / stats.distinct_images.max(1) as f64
        ),
        recalled = evidence.registry().recalled(),
        elapsed_ms = stats.elapsed_ms,
        "checked"
    );
    if let Evidence::Recording(registry) = &evidence {
        let recording = registry.take_recording();
        if let Some(cache) = &cache {
            cache.save(&recording, vouched(&report).iter().map(|(r, d)| (r, d)));
            let stats = cache.stats();
            tracing::info!(
                entries_used = stats.entries_used,
                entries_written = stats.entries_written,
                objects_written = stats.objects_written,
                answers_recalled = registry.recalled(),
                "verification cache `{}`",
                cache.dir().display()
            );
        }
        if let Some(path) = &args.write_lock {
            if report.decision() == Decision::Error {
                // No complete evidence to record: the report says why, then the run fails.
                then_fail = Some(anyhow::anyhow!(
                    "the lock `{}` was not written: the run could not decide; fix that and run \
                     again",
                    path.display()
                ));
            } else if let Err(e) = write_lock(ctx, path, recording, &report, fingerprint) {
                report.file_errors.push(FileError {
                    file: path.display().to_string(),
                    line: None,
                    column: None,
                    code: Code::RunFailed,
                    message: format!("{e:#}"),
                });
                then_fail = Some(e);
            }
        }
    }
    if let Some(why) = cache_unusable {
        report.notices.push(
            Finding::new(
                Code::CacheEntryIgnored,
                Severity::Warn,
                format!("the {why}"),
            )
            .hint(
                "the registry was asked instead; remove or repair the directory (it is only \
                 ever a shortcut)",
            ),
        );
    }
    if let Some(cache) = &cache {
        for problem in cache.problems() {
            report.notices.push(
                Finding::new(
                    Code::CacheEntryIgnored,
                    Severity::Warn,
                    format!("the verification cache's {problem}; ignored and removed"),
                )
                .hint(
                    "nothing was read from it: the registry was asked instead. A cache entry \
                     that changes by itself points at a disk problem or at someone writing the \
                     cache directory",
                ),
            );
        }
    }
    Ok(Decided { report, then_fail })
}

/// The verification cache of this run (`--cache-dir`, `cache.dir`), if one is configured and
/// the run does not replay a lock.
fn open_cache(
    ctx: &Context,
    args: &CheckArgs,
    fingerprint: &Fingerprint,
) -> anyhow::Result<(Option<Arc<Cache>>, Option<String>)> {
    let settings = match (&args.cache_dir, &ctx.config.cache) {
        (Some(dir), configured) => CacheSettings {
            dir: dir.clone(),
            ..configured
                .clone()
                .unwrap_or_else(|| CacheSettings::new(dir.clone()))
        },
        (None, Some(configured)) => configured.clone(),
        (None, None) => return Ok((None, None)),
    };
    if args.locked.is_some() {
        // A replayed lock is the evidence, all of it: nothing is read from or written to a
        // cache.
        return Ok((None, None));
    }
    let key =
        Digest::sha256_of(format!("{}\n{}", fingerprint.trust, fingerprint.policy).as_bytes());
    // The cache is only ever a shortcut: one that cannot be opened is not used this run (a
    // warning naming the path), never a failed run.
    match Cache::open(settings.clone(), key, std::time::SystemTime::from(ctx.now)) {
        Ok(cache) => Ok((Some(Arc::new(cache)), None)),
        Err(e) => {
            let why = format!(
                "verification cache `{}` cannot be used ({e}): not used this run",
                settings.dir.display()
            );
            tracing::warn!("{why}");
            Ok((None, Some(why)))
        }
    }
}

/// `(reference, digest)` of every image the run allowed at each of its sites, and of its
/// platforms: what the cache may keep answers about.
fn vouched(report: &Report) -> Vec<(ImageRef, Digest)> {
    let denied: BTreeSet<&ImageRef> = report
        .images
        .iter()
        .filter(|i| i.decision() != Decision::Allow)
        .filter_map(|i| i.reference.as_ref())
        .collect();
    let mut out = Vec::new();
    for image in &report.images {
        let (Some(reference), Some(resolved)) = (&image.reference, &image.resolved) else {
            continue;
        };
        if denied.contains(reference) {
            continue;
        }
        out.push((reference.clone(), resolved.digest.clone()));
        out.extend(
            resolved
                .platforms
                .iter()
                .map(|p| (reference.clone(), p.digest.clone())),
        );
    }
    out
}

/// Writes the lock of an online run (allowed or denied: the decisions are recorded), atomically.
fn write_lock(
    ctx: &Context,
    path: &std::path::Path,
    recording: Store,
    report: &Report,
    fingerprint: Fingerprint,
) -> anyhow::Result<()> {
    let lock = Lock::new(recording, report, fingerprint, ctx.now);
    let text = lock.json()?;
    let existed = path.exists();
    write_atomic(path, &text)
        .with_context(|| format!("cannot write the lock `{}`", path.display()))?;
    #[cfg(unix)]
    if !existed {
        // A new lock is committed next to the manifests: readable like them, not private.
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("cannot set the permissions of `{}`", path.display()))?;
    }
    tracing::info!(
        images = lock.images.len(),
        "wrote the evidence lock `{}`",
        path.display()
    );
    Ok(())
}
