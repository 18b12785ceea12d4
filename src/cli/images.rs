//! `supplygate images` (and `check --list`): the image sites found in manifests, with where
//! and how each was found, without resolving anything or touching the network (like
//! `conftest parse`).

use std::path::PathBuf;

use clap::Args;

use super::{write_stdout, Format};
use crate::config::Config;
use crate::gate;
use crate::manifest::exclude::PathGlob;
use crate::report::FileError;

/// Arguments of `images`.
#[derive(Debug, Args)]
pub(crate) struct ImagesArgs {
    /// Manifest files or directories (searched for .yaml, .yml, .json); `-` reads stdin
    #[arg(value_name = "PATH", default_value = ".")]
    pub(crate) paths: Vec<PathBuf>,
    /// Output format
    #[arg(long, env = "SUPPLYGATE_IMAGES_FORMAT", value_enum, default_value_t = Format::Human)]
    pub(crate) format: Format,
}

/// One image site, as listed.
#[derive(Debug, serde::Serialize)]
struct Listed<'a> {
    file: String,
    line: usize,
    column: usize,
    api_version: &'a str,
    kind: &'a str,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    container: Option<&'a str>,
    /// Path from the object root, e.g. `spec.template.spec.containers[0].image`.
    field: &'a str,
    extractor: &'static str,
    image: &'a str,
}

/// The JSON document of `images --format json`.
#[derive(Debug, serde::Serialize)]
struct Listing<'a> {
    images: Vec<Listed<'a>>,
    /// Files that could not be read (the run exits 2).
    errors: &'a [FileError],
    /// Documents that were not Kubernetes objects.
    skipped_documents: usize,
}

/// Lists the image sites of `paths`; exit 0, or 2 when a file could not be read.
pub(crate) fn run(
    config: &Config,
    paths: &[PathBuf],
    exclude: &[PathGlob],
    format: Format,
) -> anyhow::Result<u8> {
    // `paths.exclude` applies here as in `check`; `check --list` passes its `--exclude` too,
    // so the listing shows what `check` would read.
    let manifests = gate::read_manifests_excluding(paths, config, exclude)?;
    let listed: Vec<Listed> = manifests
        .sites
        .iter()
        .map(|site| Listed {
            file: site.origin.to_string(),
            line: site.span.line,
            column: site.span.column,
            api_version: &site.resource.api_version,
            kind: &site.resource.kind,
            namespace: site.resource.namespace.as_deref(),
            name: site.resource.name.as_deref(),
            container: site.container.as_deref(),
            field: &site.path,
            extractor: site.extractor,
            image: &site.image,
        })
        .collect();
    let text = match format {
        Format::Json => {
            let listing = Listing {
                images: listed,
                errors: &manifests.file_errors,
                skipped_documents: manifests.skipped,
            };
            serde_json::to_string_pretty(&listing)? + "\n"
        }
        Format::Human => human(&listed, &manifests.file_errors, manifests.skipped),
    };
    write_stdout(&text)?;
    Ok(if manifests.file_errors.is_empty() {
        0
    } else {
        2
    })
}

/// Aligned columns, one site per line, then the files that could not be read. Manifest text
/// is escaped: it must not drive the terminal.
fn human(listed: &[Listed], errors: &[FileError], skipped: usize) -> String {
    let rows: Vec<[String; 5]> = listed
        .iter()
        .map(|l| {
            [
                escape(&format!("{}:{}:{}", l.file, l.line, l.column)),
                escape(&format!("{}/{}", l.kind, l.name.unwrap_or("<unnamed>"))),
                escape(l.field),
                l.extractor.to_owned(),
                escape(l.image),
            ]
        })
        .collect();
    let header = ["LOCATION", "WORKLOAD", "FIELD", "EXTRACTOR", "IMAGE"].map(str::to_owned);
    let mut widths = [0; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (k, (cell, width)) in row.iter().zip(widths).enumerate() {
            if k + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:width$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for e in errors {
        let at = match (e.line, e.column) {
            (Some(line), Some(column)) => format!(":{line}:{column}"),
            (Some(line), None) => format!(":{line}"),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{}{at}: error[{}]: {}\n",
            escape(&e.file),
            e.code.as_str(),
            escape(&e.message)
        ));
    }
    let n = listed.len();
    out.push_str(&format!(
        "\n{n} image site{}{}\n",
        if n == 1 { "" } else { "s" },
        match skipped {
            0 => String::new(),
            1 => ", 1 document skipped (not a Kubernetes object)".to_owned(),
            k => format!(", {k} documents skipped (not Kubernetes objects)"),
        }
    ));
    out
}

/// Control characters and the bidi and invisible formatting characters as `\u{…}`, so that
/// a manifest cannot move the cursor, recolour the terminal or reorder what is shown.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let hidden = c.is_control()
            || matches!(
                c,
                '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
            );
        if hidden {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls_and_bidi_overrides() {
        assert_eq!(
            escape("a\u{1b}[31mb\u{202e}c\td"),
            "a\\u{1b}[31mb\\u{202e}c\\u{9}d"
        );
        assert_eq!(escape("ghcr.io/acme/app:v1"), "ghcr.io/acme/app:v1");
    }
}
