//! The human report: grouped by file, `line:column`, one line per image, the reason and the
//! fix under each denial. Colour only when asked for or on a terminal; styles are named by
//! meaning, not by colour.

use std::fmt::Write as _;

use super::{escape_unsafe, escape_unsafe_except, Code, Decision, Report, Severity};

/// Whether to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// Plain text.
    Never,
    /// ANSI styles.
    Always,
}

/// Text styles, by meaning.
#[derive(Clone, Copy)]
enum Style {
    Allow,
    Deny,
    Warn,
    Error,
    Context,
    File,
}

struct Painter(Color);

impl Painter {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.0 == Color::Never {
            return text.to_owned();
        }
        let code = match style {
            Style::Allow => "32",
            Style::Deny => "1;31",
            Style::Warn => "33",
            Style::Error => "1;35",
            Style::Context => "2",
            Style::File => "1",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// How much to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Only images with findings.
    Problems,
    /// Every image.
    All,
}

/// Renders the report for a person.
pub fn render(report: &Report, color: Color, verbosity: Verbosity) -> String {
    let p = Painter(color);
    let mut out = String::new();
    let mut current_file: Option<String> = None;
    for i in &report.images {
        let decision = i.decision();
        if verbosity == Verbosity::Problems && i.findings.is_empty() {
            continue;
        }
        let file = escape_unsafe(&i.site.origin.to_string()).into_owned();
        if current_file.as_deref() != Some(&file) {
            if current_file.is_some() {
                out.push('\n');
            }
            let _ = writeln!(out, "{}", p.paint(Style::File, &file));
            current_file = Some(file);
        }
        let (label, style) = match decision {
            Decision::Allow => ("allow", Style::Allow),
            Decision::Deny => ("deny ", Style::Deny),
            Decision::Error => ("error", Style::Error),
        };
        let position = format!("{}:{}", i.site.span.line, i.site.span.column);
        let pinned_here = i
            .reference
            .as_ref()
            .and_then(|r| r.digest())
            .zip(i.resolved.as_ref())
            .is_some_and(|(pinned, r)| *pinned == r.digest);
        let target = match &i.resolved {
            Some(r) if pinned_here => match r.platforms.len() {
                0 => String::new(),
                n => format!(" ({n} platforms)"),
            },
            Some(r) => {
                let platforms = match r.platforms.len() {
                    0 => String::new(),
                    n => format!(" ({n} platforms)"),
                };
                format!(" -> {}{platforms}", r.digest)
            }
            None => String::new(),
        };
        let signed_by = match &i.signatures {
            Some(s) => {
                let names = s.verified_by();
                if names.is_empty() {
                    String::new()
                } else {
                    format!(" signed by `{}`", names.join("`, `"))
                }
            }
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:>7}  {}  {}{}{}",
            p.paint(Style::Context, &position),
            p.paint(style, label),
            escape_unsafe(&i.site.image),
            p.paint(Style::Context, &target),
            p.paint(Style::Allow, &signed_by)
        );
        if i.resolved_only() {
            let _ = writeln!(
                out,
                "           {} {}",
                p.paint(Style::Context, "note:"),
                super::RESOLVED_ONLY
            );
        }
        for f in &i.findings {
            let style = match f.severity {
                Severity::Warn => Style::Warn,
                Severity::Deny => Style::Deny,
                Severity::Error => Style::Error,
            };
            let _ = writeln!(
                out,
                "           {}: {}",
                p.paint(style, &escape_unsafe(f.code.as_str())),
                lines(&f.message, FINDING_INDENT)
            );
            if let (Some(e), Some(found)) = (&f.expected, &f.found) {
                let _ = writeln!(
                    out,
                    "           {} {}, {} {}",
                    p.paint(Style::Context, "expected"),
                    lines(e, FINDING_INDENT),
                    p.paint(Style::Context, "found"),
                    lines(found, FINDING_INDENT)
                );
            }
            if let Some(h) = &f.hint {
                let _ = writeln!(
                    out,
                    "           {} {}",
                    p.paint(Style::Context, "hint:"),
                    lines(h, FINDING_INDENT)
                );
            }
            if let Some(package) = &f.package {
                let _ = writeln!(
                    out,
                    "           {} {}",
                    p.paint(Style::Context, "policy:"),
                    escape_unsafe(package)
                );
            }
            for c in &f.config {
                let _ = writeln!(
                    out,
                    "           {} {}",
                    p.paint(Style::Context, "config:"),
                    escape_unsafe(&c.to_string())
                );
            }
        }
    }
    for e in &report.file_errors {
        if !out.is_empty() {
            out.push('\n');
        }
        let file = escape_unsafe(&e.file);
        let position = match (e.line, e.column) {
            (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
            (Some(l), None) => format!("{file}:{l}"),
            _ => file.into_owned(),
        };
        let _ = writeln!(
            out,
            "{}  {}: {}",
            p.paint(Style::File, &position),
            p.paint(Style::Error, e.code.as_str()),
            lines(&e.message, "  ")
        );
    }
    for n in &report.notices {
        if !out.is_empty() {
            out.push('\n');
        }
        let style = match n.severity {
            Severity::Warn => Style::Warn,
            Severity::Deny => Style::Deny,
            Severity::Error => Style::Error,
        };
        let _ = writeln!(
            out,
            "{}: {}",
            p.paint(style, &escape_unsafe(n.code.as_str())),
            lines(&n.message, "  ")
        );
        if let Some(h) = &n.hint {
            let _ = writeln!(
                out,
                "  {} {}",
                p.paint(Style::Context, "hint:"),
                lines(h, "  ")
            );
        }
    }
    if !out.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "{}", summary(report, &p));
    out
}

/// How far the lines under an image are indented.
const FINDING_INDENT: &str = "           ";

/// Text from a manifest, a registry or a policy, shown on a terminal: every control and
/// bidirectional character escaped (`\u{202e}`); a line break starts a line indented by
/// `indent` plus two, so that no text can pass for a line of the report's own.
fn lines(s: &str, indent: &str) -> String {
    escape_unsafe_except(s, &['\n']).replace('\n', &format!("\n{indent}  "))
}

/// The one-line verdict and counts that ends the human report, without colour (the GitHub and
/// Markdown reports end with it too).
pub fn summary_line(report: &Report) -> String {
    summary(report, &Painter(Color::Never))
}

fn summary(report: &Report, p: &Painter) -> String {
    let (allowed, denied, errors) = report.counts();
    let mut parts = vec![format!(
        "{} image{}",
        report.images.len(),
        if report.images.len() == 1 { "" } else { "s" }
    )];
    parts.push(p.paint(Style::Allow, &format!("{allowed} allowed")));
    if denied > 0 {
        parts.push(p.paint(Style::Deny, &format!("{denied} denied")));
    }
    if errors > 0 {
        parts.push(p.paint(Style::Error, &format!("{errors} undecided")));
    }
    let warnings = report.warnings();
    if warnings > 0 {
        parts.push(p.paint(
            Style::Warn,
            &format!("{warnings} warning{}", if warnings == 1 { "" } else { "s" }),
        ));
    }
    let run_errors = report
        .file_errors
        .iter()
        .filter(|e| matches!(e.code, Code::RunFailed | Code::InvalidConfig))
        .count();
    let counts = [
        (Style::Error, run_errors, "run error", ""),
        (
            Style::Error,
            report.file_errors.len() - run_errors,
            "unreadable file",
            "",
        ),
        (
            Style::Context,
            report.skipped_documents,
            "document",
            " skipped (not a Kubernetes object)",
        ),
        (
            Style::Context,
            report.unchanged_documents,
            "unchanged document",
            " not evaluated",
        ),
    ];
    for (style, n, what, then) in counts {
        if n > 0 {
            let s = if n == 1 { "" } else { "s" };
            parts.push(p.paint(style, &format!("{n} {what}{s}{then}")));
        }
    }
    let verdict = match report.decision() {
        Decision::Allow => p.paint(Style::Allow, "allow"),
        Decision::Deny => p.paint(Style::Deny, "deny"),
        Decision::Error => p.paint(Style::Error, "error (could not decide: fail closed)"),
    };
    let s = report.stats;
    // What was not checked comes last, after the counters (which already count the unchanged
    // documents).
    let unchanged = report.unchanged_note();
    let notes: String = report
        .notes()
        .iter()
        .filter(|n| unchanged.as_ref() != Some(*n))
        .map(|n| format!("; {}", p.paint(Style::Context, n)))
        .collect();
    format!(
        "{verdict}: {}; {} distinct reference{}, {} registry request{}, {:.1}s{notes}",
        parts.join(", "),
        s.distinct_images,
        if s.distinct_images == 1 { "" } else { "s" },
        s.requests,
        if s.requests == 1 { "" } else { "s" },
        s.elapsed_ms as f64 / 1000.0
    )
}
