//! `--format json`: the documented, versioned machine-readable report (see docs/reports.md, "JSON").

use std::io::Write as _;

use serde::Serialize;

use super::{Decision, FileError, Finding, ImageReport, Report, RunStats};
use crate::manifest::ContainerKind;
use crate::registry::Platform;

/// Bumped on any incompatible change of the shape.
pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct Json<'a> {
    version: u32,
    decision: Decision,
    summary: Summary,
    stats: RunStats,
    images: Images<'a>,
    errors: &'a [FileError],
    notices: &'a [Finding],
    notes: Vec<String>,
}

/// The images, each made into its JSON shape as it is written (not all at once).
struct Images<'a>(&'a [ImageReport]);

impl Serialize for Images<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(image))
    }
}

#[derive(Serialize)]
struct Summary {
    images: usize,
    allowed: usize,
    denied: usize,
    errors: usize,
    warnings: usize,
    skipped_documents: usize,
    unchanged_documents: usize,
    documents: usize,
    excluded_paths: usize,
    resolved_only: usize,
}

#[derive(Serialize)]
struct Image<'a> {
    file: String,
    line: usize,
    column: usize,
    image: &'a str,
    normalized: Option<String>,
    digest: Option<String>,
    media_type: Option<&'a str>,
    platforms: &'a [Platform],
    #[serde(skip_serializing_if = "Option::is_none")]
    tag_digest: Option<String>,
    resource: Resource<'a>,
    container: Option<&'a str>,
    container_kind: ContainerKind,
    path: &'a str,
    extractor: &'a str,
    decision: Decision,
    resolved_only: bool,
    findings: &'a [Finding],
    #[serde(skip_serializing_if = "Option::is_none")]
    signatures: Option<&'a crate::facts::SignatureReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attestations: Option<&'a crate::facts::AttestationReport>,
}

#[derive(Serialize)]
struct Resource<'a> {
    api_version: &'a str,
    kind: &'a str,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
}

/// Renders the report as pretty JSON.
pub fn render(report: &Report) -> String {
    // Serialising plain structs of strings and numbers cannot fail.
    serde_json::to_string_pretty(&document(report)).unwrap_or_default()
}

/// Writes [`render`]'s text and a newline to `out` as it is serialised, without holding the
/// whole text: a report of 10,000 images is tens of megabytes of JSON.
pub fn write(report: &Report, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    serde_json::to_writer_pretty(&mut out, &document(report))?;
    out.write_all(b"\n")?;
    out.flush()
}

fn document(report: &Report) -> Json<'_> {
    let (allowed, denied, errors) = report.counts();
    Json {
        version: VERSION,
        decision: report.decision(),
        summary: Summary {
            images: report.images.len(),
            allowed,
            denied,
            errors,
            warnings: report.warnings(),
            skipped_documents: report.skipped_documents,
            unchanged_documents: report.unchanged_documents,
            documents: report.documents,
            excluded_paths: report.excluded_paths,
            resolved_only: report.resolved_only().count(),
        },
        stats: report.stats,
        images: Images(&report.images),
        errors: &report.file_errors,
        notices: &report.notices,
        notes: report.notes(),
    }
}

/// One image in its JSON shape.
fn image(i: &ImageReport) -> Image<'_> {
    let r = &i.site.resource;
    Image {
        file: i.site.origin.to_string(),
        line: i.site.span.line,
        column: i.site.span.column,
        image: &i.site.image,
        normalized: i.reference.as_ref().map(ToString::to_string),
        digest: i.resolved.as_ref().map(|r| r.digest.to_string()),
        media_type: i.resolved.as_ref().map(|r| r.media_type.as_str()),
        platforms: i.resolved.as_ref().map_or(&[], |r| &r.platforms),
        tag_digest: i
            .resolved
            .as_ref()
            .and_then(|r| r.tag_digest.as_ref().map(ToString::to_string)),
        resource: Resource {
            api_version: &r.api_version,
            kind: &r.kind,
            namespace: r.namespace.as_deref(),
            name: r.name.as_deref(),
        },
        container: i.site.container.as_deref(),
        container_kind: i.site.container_kind,
        path: &i.site.path,
        extractor: i.site.extractor,
        decision: i.decision(),
        resolved_only: i.resolved_only(),
        findings: &i.findings,
        signatures: i.signatures.as_deref(),
        attestations: i.attestations.as_deref(),
    }
}
