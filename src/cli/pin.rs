//! `supplygate pin`: rewrites tag references to `repo:tag@sha256:…` in place.
//!
//! All lookups happen before any write: a failure leaves every file as it was. Each file is
//! written atomically (temp file + rename), and only the image values change.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use super::{progress_printer, write_stdout, Context, Format};
use crate::gate;
use crate::manifest::{self, Edit, Origin};
use crate::reference::{pin_written, ImageRef};
use crate::report::human::Verbosity;
use crate::report::{Code, Finding, ImageReport, Report, Severity};
use crate::webhook::{self, Log, LogFormat};

/// Arguments of `pin`.
#[derive(Debug, Args)]
pub(crate) struct PinArgs {
    /// Manifest files or directories; `-` reads stdin and writes the pinned text to stdout
    #[arg(value_name = "PATH", default_value = ".")]
    paths: Vec<PathBuf>,
    /// Write nothing; exit 1 listing every image without a digest
    #[arg(long, env = "SUPPLYGATE_PIN_CHECK", conflicts_with = "dry_run")]
    check: bool,
    /// Resolve and print a unified diff of what would change; write nothing
    #[arg(long, env = "SUPPLYGATE_DRY_RUN")]
    dry_run: bool,
    /// Output format: with json, the rewrites (file, line, column, old, new) on stdout instead
    /// of the pinned text or diff; the report for `--check` and for failures
    #[arg(long, env = "SUPPLYGATE_PIN_FORMAT", value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// One image value `pin` rewrites (or would, with `--dry-run`).
#[derive(Debug, serde::Serialize)]
struct Rewrite {
    file: String,
    line: usize,
    column: usize,
    old: String,
    new: String,
}

/// The JSON document of `pin --format json`.
#[derive(Debug, serde::Serialize)]
struct Rewrites<'a> {
    /// Whether files were left as they were (`--dry-run`).
    dry_run: bool,
    rewrites: &'a [Rewrite],
}

pub(crate) fn run(ctx: &Context, args: PinArgs) -> anyhow::Result<u8> {
    let started = std::time::Instant::now();
    let manifests = gate::read_manifests(&args.paths, &ctx.config)?;
    let mut report = Report {
        file_errors: manifests.file_errors,
        skipped_documents: manifests.skipped,
        unchanged_documents: manifests.unchanged,
        documents: manifests.documents,
        objects: manifests.objects,
        excluded_paths: manifests.excluded,
        ..Report::default()
    };
    if !report.file_errors.is_empty() {
        write_stdout(&ctx.render(&report, args.format, Verbosity::Problems))?;
        return Ok(2);
    }
    let mut unpinned = BTreeSet::new();
    for site in manifests.sites {
        let reference = ImageRef::parse(&site.image);
        let mut findings = Vec::new();
        // A string in a string (an Argo `resource.manifest` or `podSpecPatch`) is checked but
        // cannot be rewritten in place.
        let embedded = site.extractor == manifest::kinds::ARGO_EMBEDDED;
        // A mapping or list under an `image` key of an unknown field, or an embedded string
        // that could not be read, holds no reference to pin (`check` decides it).
        let unknown = site.extractor == manifest::kinds::GENERIC_IMAGE_KEY || embedded;
        match &reference {
            Err(_) if unknown && site.image.starts_with(['{', '[', '<']) => continue,
            Ok(r) if !r.is_pinned() && embedded && !args.check => findings.push(
                Finding::new(
                    Code::UnpinnedImage,
                    Severity::Warn,
                    format!(
                        "`{}` is in a string (`{}`): pin does not rewrite it",
                        site.image, site.path
                    ),
                )
                .hint("pin it by hand: add `@sha256:…` inside the string"),
            ),
            Err(e) => findings.push(Finding::new(
                Code::InvalidReference,
                Severity::Error,
                format!("`{}` is not a valid image reference: {e}", site.image),
            )),
            Ok(r) if !r.is_pinned() => {
                unpinned.insert(r.clone());
                if args.check {
                    findings.push(
                        Finding::new(
                            Code::UnpinnedImage,
                            Severity::Deny,
                            format!("`{}` is not pinned to a digest", site.image),
                        )
                        .hint("run `supplygate pin` to add `@sha256:…`"),
                    );
                }
            }
            Ok(_) => {}
        }
        report.images.push(ImageReport {
            site,
            reference: reference.ok(),
            resolved: None,
            findings,
            signatures: None,
            attestations: None,
        });
    }
    // `pin --check` gates like `check`: an input without any Kubernetes object (a render step
    // that printed nothing or an error) is `no-manifests`, not a pass.
    if args.check {
        gate::refuse_empty(&mut report, gate::EmptyInput::Refuse);
    }
    if args.check || report.decision() != crate::report::Decision::Allow {
        write_stdout(&ctx.render(&report, args.format, Verbosity::Problems))?;
        return Ok(report.decision().exit_code());
    }

    let progress = progress_printer("resolving");
    let before = ctx.registry.stats();
    let distinct = unpinned.len();
    let resolutions = ctx
        .runtime
        .block_on(gate::resolve_all(unpinned, &ctx.registry, &progress));
    report.stats = gate::run_stats(distinct, before, ctx.registry.stats(), started);
    let mut edits: BTreeMap<Arc<Origin>, Vec<Edit>> = BTreeMap::new();
    for image in &mut report.images {
        if image.site.extractor == manifest::kinds::ARGO_EMBEDDED {
            continue;
        }
        let Some(r) = image.reference.as_ref().filter(|r| !r.is_pinned()) else {
            continue;
        };
        match resolutions.get(r) {
            Some(Ok(resolved)) => {
                edits
                    .entry(Arc::clone(&image.site.origin))
                    .or_default()
                    .push(Edit {
                        span: image.site.span,
                        style: image.site.style,
                        new_value: pin_written(&image.site.image, &resolved.digest),
                    });
                image.resolved = Some(resolved.clone());
            }
            Some(Err(e)) => image.findings.push(gate::registry_finding(r, e)),
            None => image.findings.push(Finding::new(
                Code::RegistryUnavailable,
                Severity::Error,
                format!("`{r}` was not looked up"),
            )),
        }
    }
    if report.decision() != crate::report::Decision::Allow {
        write_stdout(&ctx.render(&report, args.format, Verbosity::Problems))?;
        status(
            true,
            "nothing-written",
            "nothing was written: every image must resolve before any file changes",
            serde_json::json!({}),
        );
        return Ok(report.decision().exit_code());
    }

    // Rewrite everything in memory first, so that an edit error writes nothing.
    let mut outputs = Vec::new();
    for source in &manifests.sources {
        let Some(file_edits) = edits.get(&source.origin) else {
            continue;
        };
        let text = manifest::apply_edits(&source.text, file_edits)
            .and_then(|text| {
                // Read the result again: exactly the intended sites and values, or nothing is
                // written at all.
                let before: Vec<&manifest::ImageSite> = report
                    .images
                    .iter()
                    .map(|image| &image.site)
                    .filter(|site| site.origin == source.origin)
                    .collect();
                manifest::rewrite::verify_rewrite(
                    source,
                    &before,
                    &text,
                    file_edits,
                    &ctx.config.extra_images,
                    &ctx.config.limits,
                )
                .map(|()| text)
            })
            .with_context(|| format!("cannot rewrite {}", source.origin))?;
        outputs.push((Arc::clone(&source.origin), text, file_edits.len()));
    }
    let mut rewrites: Vec<Rewrite> = edits
        .iter()
        .flat_map(|(origin, file_edits)| file_edits.iter().map(move |edit| (origin, edit)))
        .map(|(origin, edit)| Rewrite {
            file: origin.to_string(),
            line: edit.span.line,
            column: edit.span.column,
            old: report
                .images
                .iter()
                .find(|i| i.site.origin == *origin && i.site.span == edit.span)
                .map(|i| i.site.image.clone())
                .unwrap_or_default(),
            new: edit.new_value.clone(),
        })
        .collect();
    rewrites.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    let mut pinned = 0;
    let mut diff = String::new();
    for (origin, text, n) in &outputs {
        if args.dry_run {
            let old = manifests
                .sources
                .iter()
                .find(|s| s.origin == *origin)
                .map(|s| s.text.as_str())
                .unwrap_or_default();
            let name = origin_bytes(origin);
            diff.push_str(&super::diff::unified(
                &super::diff::header_name("a/", &name),
                &super::diff::header_name("b/", &name),
                old,
                text,
            ));
        } else {
            match origin.as_ref() {
                // Standard input's pinned text is the output, unless JSON was asked for.
                Origin::Stdin | Origin::Named(_) if args.format == Format::Human => {
                    write_stdout(text)?;
                }
                Origin::Stdin | Origin::Named(_) => {}
                Origin::File(path) => manifest::write_atomic(path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?,
            }
        }
        pinned += n;
    }
    match args.format {
        Format::Json => write_stdout(
            &(serde_json::to_string_pretty(&Rewrites {
                dry_run: args.dry_run,
                rewrites: &rewrites,
            })? + "\n"),
        )?,
        Format::Human if args.dry_run => write_stdout(&diff)?,
        Format::Human => {}
    }
    let files = outputs.len();
    let verb = if args.dry_run { "would pin" } else { "pinned" };
    let stats = report.stats;
    let message = format!(
        "{verb} {pinned} image{} in {files} file{}; {} distinct reference{}, {} registry request{}",
        plural(pinned),
        plural(files),
        stats.distinct_images,
        plural(stats.distinct_images),
        stats.requests,
        plural(usize::try_from(stats.requests).unwrap_or(usize::MAX)),
    );
    status(
        false,
        if args.dry_run { "dry-run" } else { "pinned" },
        &message,
        serde_json::json!({
            "images": pinned,
            "files": files,
            "distinct_images": stats.distinct_images,
            "requests": stats.requests,
        }),
    );
    Ok(0)
}

/// The name of `origin` in a diff header: a file's path as its bytes (quoted there when
/// needed), else the display name.
fn origin_bytes(origin: &Origin) -> Vec<u8> {
    match origin {
        #[cfg(unix)]
        Origin::File(path) => {
            use std::os::unix::ffi::OsStrExt as _;
            path.as_os_str().as_bytes().to_vec()
        }
        other => other.to_string().into_bytes(),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A status line on stderr, whatever the verbosity: plain text, or with `--log-format json`
/// an event line like the webhook's (`ts`, `level`, `event`, `message`, then `fields`).
fn status(warn: bool, event: &str, message: &str, fields: serde_json::Value) {
    if webhook::json_logs() {
        let mut fields = fields;
        if let Some(map) = fields.as_object_mut() {
            map.insert("message".into(), serde_json::json!(message));
        }
        let log = Log::new(LogFormat::Json);
        if warn {
            log.warn(event, fields);
        } else {
            log.info(event, fields);
        }
    } else {
        eprintln!("{message}");
    }
}
