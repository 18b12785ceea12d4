//! `--format markdown`: a pull-request comment or job summary (GitHub-flavoured Markdown).
//!
//! A heading with the verdict and the summary line, a table of the images with findings
//! (file:line, image, digest, signature, provenance, decision, reason and hint), unreadable
//! files and notices, then the allowed images folded into a `<details>` block so that a run
//! over hundreds of images stays readable. Each table shows at most [`ROWS_MAX`] rows (GitHub
//! refuses a job summary over 1 MiB); the JSON report has everything.
//!
//! Manifest text is untrusted (a pull request from a fork): every value is escaped, so an
//! image name can neither break the table nor add links, images or HTML; control and
//! bidirectional characters are written `\u{202e}`.

use std::fmt::Write as _;

use super::{human, Decision, ImageReport, Report, Severity, SourceRoot};
use crate::provenance::AttestationKind;

/// The most rows shown in one table.
pub const ROWS_MAX: usize = 1000;

/// Renders the report as Markdown.
pub fn render(report: &Report, root: &SourceRoot) -> String {
    let mut out = String::new();
    let verdict = match report.decision() {
        Decision::Allow => "✅ allow",
        Decision::Deny => "❌ deny",
        Decision::Error => "⛔ error (could not decide)",
    };
    let _ = writeln!(out, "### supplygate: {verdict}\n");
    let _ = writeln!(out, "{}\n", text(&human::summary_line(report)));

    let (problems, allowed): (Vec<&ImageReport>, Vec<&ImageReport>) =
        report.images.iter().partition(|i| !i.findings.is_empty());
    if !problems.is_empty() {
        table(&mut out, &problems, root);
    }
    if !report.file_errors.is_empty() {
        let _ = writeln!(out, "**Unreadable files**\n");
        for e in report.file_errors.iter().take(ROWS_MAX) {
            let file = root
                .relative_file(&e.file)
                .unwrap_or_else(|| e.file.clone());
            let place = match (e.line, e.column) {
                (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
                (Some(l), None) => format!("{file}:{l}"),
                _ => file,
            };
            let _ = writeln!(
                out,
                "- {} **{}**: {}",
                code(&place),
                text(e.code.as_str()),
                text(&e.message)
            );
        }
        more(&mut out, report.file_errors.len());
        out.push('\n');
    }
    if !report.notices.is_empty() {
        let _ = writeln!(out, "**Notices**\n");
        for n in &report.notices {
            let hint = n
                .hint
                .as_deref()
                .map(|h| format!(" (hint: {})", text(h)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "- **{}**: {}{hint}",
                text(n.code.as_str()),
                text(&n.message)
            );
        }
        out.push('\n');
    }
    if !allowed.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>{} allowed image{} without findings</summary>\n",
            allowed.len(),
            if allowed.len() == 1 { "" } else { "s" }
        );
        table(&mut out, &allowed, root);
        let _ = writeln!(out, "</details>\n");
    }
    out
}

fn table(out: &mut String, images: &[&ImageReport], root: &SourceRoot) {
    let _ = writeln!(
        out,
        "| location | image | digest | signature | provenance | decision | reason |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for i in images.iter().take(ROWS_MAX) {
        let place = format!("{}:{}", root.display(&i.site.origin), i.site.span.line);
        let digest = i
            .resolved
            .as_ref()
            .map(|r| code(&short_digest(&r.digest.to_string())))
            .unwrap_or_default();
        let decision = match i.decision() {
            Decision::Allow if i.findings.is_empty() => "allow",
            Decision::Allow => "allow (warnings)",
            Decision::Deny => "**deny**",
            Decision::Error => "**error**",
        };
        let reasons: Vec<String> = i
            .findings
            .iter()
            .map(|f| {
                let mut r = format!(
                    "{}{}: {}",
                    if f.severity == Severity::Warn {
                        "⚠️ "
                    } else {
                        ""
                    },
                    code(f.code.as_str()),
                    text(&f.message)
                );
                if let Some(h) = &f.hint {
                    let _ = write!(r, " (hint: {})", text(h));
                }
                for c in &f.config {
                    let _ = write!(r, " (config: {})", code(&root.config_entry(c)));
                }
                r
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {digest} | {} | {} | {decision} | {} |",
            code(&place),
            code(&i.site.image),
            signature_cell(i),
            provenance_cell(i),
            reasons.join("<br>")
        );
    }
    more(out, images.len());
    out.push('\n');
}

fn more(out: &mut String, total: usize) {
    if total > ROWS_MAX {
        let _ = writeln!(
            out,
            "\n…and {} more; the JSON report (`--json-out`) lists them all.",
            total - ROWS_MAX
        );
    }
}

fn signature_cell(i: &ImageReport) -> String {
    if i.resolved_only() {
        return text(super::RESOLVED_ONLY);
    }
    let Some(s) = &i.signatures else {
        return "–".to_owned();
    };
    let names = s.verified_by();
    if !names.is_empty() {
        let names: Vec<String> = names.iter().map(|n| code(n)).collect();
        format!("✅ {}", names.join(", "))
    } else if s.facts.is_empty() {
        "❌ none".to_owned()
    } else {
        format!("❌ {} unverified", s.facts.len())
    }
}

fn provenance_cell(i: &ImageReport) -> String {
    let Some(a) = &i.attestations else {
        return "–".to_owned();
    };
    let slsa = a.facts.iter().filter(|f| {
        matches!(
            f.kind,
            Some(AttestationKind::SlsaProvenanceV1 | AttestationKind::SlsaProvenanceV0_2)
        )
    });
    let mut verified: Vec<String> = slsa
        .clone()
        .filter(|f| !f.verified_by.is_empty())
        .map(|f| {
            f.provenance
                .as_ref()
                .and_then(|p| p.builder_id.as_deref())
                .map_or_else(|| "verified".to_owned(), |b| format!("builder {}", code(b)))
        })
        .collect();
    verified.dedup();
    if !verified.is_empty() {
        format!("✅ {}", verified.join(", "))
    } else {
        match slsa.count() {
            0 => "❌ none".to_owned(),
            n => format!("❌ {n} unverified"),
        }
    }
}

/// `sha256:` and the first 12 hex digits.
fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) => {
            format!("{algorithm}:{}", hex.chars().take(12).collect::<String>())
        }
        None => digest.chars().take(19).collect(),
    }
}

/// Plain text in a table cell: Markdown and HTML specials backslash-escaped, one line.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '!' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' | '\t' => out.push(' '),
            c if super::is_unsafe_char(c) => super::push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// A code span that holds any text: a fence longer than any run of backticks inside, `|`
/// escaped for the table, one line.
pub fn code(s: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    let mut body = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\t' => body.push(' '),
            '|' => body.push_str("\\|"),
            c if super::is_unsafe_char(c) => super::push_escaped(&mut body, c),
            c => body.push(c),
        }
    }
    let pad = if body.starts_with('`') || body.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{body}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_break_the_table_or_add_markup() {
        assert_eq!(
            text("a|b [x](http://e) <img src=x> `c`\nd"),
            "a\\|b \\[x\\](http://e) \\<img src=x\\> \\`c\\` d"
        );
    }

    #[test]
    fn code_spans_hold_backticks_and_pipes() {
        assert_eq!(code("nginx:1"), "`nginx:1`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("a\u{202e}b\u{1b}"), "`a\\u{202e}b\\u{1b}`");
        assert_eq!(text("a\u{202e}b\u{7}"), "a\\u{202e}b\\u{7}");
    }

    #[test]
    fn digests_are_shortened_to_twelve_hex_digits() {
        assert_eq!(
            short_digest("sha256:0123456789abcdef0123"),
            "sha256:0123456789ab"
        );
    }
}
