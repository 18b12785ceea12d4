//! `--format github`: GitHub Actions workflow commands, one `::error` or `::warning` per
//! finding at its manifest line (shown on the pull request's diff), then one summary line.
//!
//! Values are escaped as the runner expects: in the message `%` -> `%25`, CR -> `%0D`,
//! LF -> `%0A`; in properties also `:` -> `%3A` and `,` -> `%2C`. A manifest can therefore
//! never end a command early or start one of its own (`::add-mask::`, `::stop-commands::`).
//! Other control and bidirectional characters are written `\u{202e}`.

use std::fmt::Write as _;

use super::{human, Report, Severity, SourceRoot};

/// Renders the report as workflow commands.
pub fn render(report: &Report, root: &SourceRoot) -> String {
    let mut out = String::new();
    for i in &report.images {
        let file = root.display(&i.site.origin);
        for f in &i.findings {
            let mut message = super::sarif::with_image(&i.site.image, &f.message);
            if let (Some(e), Some(found)) = (&f.expected, &f.found) {
                let _ = write!(message, "\nexpected {e}, found {found}");
            }
            if let Some(h) = &f.hint {
                let _ = write!(message, "\nhint: {h}");
            }
            for c in &f.config {
                let _ = write!(message, "\nconfig: {}", root.config_entry(c));
            }
            command(
                &mut out,
                command_name(f.severity),
                &[
                    ("file", &file),
                    ("line", &i.site.span.line.to_string()),
                    ("col", &i.site.span.column.to_string()),
                    ("title", &format!("supplygate {}", f.code)),
                ],
                &message,
            );
        }
    }
    for i in report.resolved_only() {
        command(
            &mut out,
            "notice",
            &[
                ("file", &root.display(&i.site.origin)),
                ("line", &i.site.span.line.to_string()),
                ("col", &i.site.span.column.to_string()),
                ("title", "supplygate resolved only"),
            ],
            &format!("`{}`: {}", i.site.image, super::RESOLVED_ONLY),
        );
    }
    for e in &report.file_errors {
        let file = root
            .relative_file(&e.file)
            .unwrap_or_else(|| e.file.clone());
        let mut props = vec![("file", file.clone())];
        if let Some(l) = e.line {
            props.push(("line", l.to_string()));
        }
        if let Some(c) = e.column {
            props.push(("col", c.to_string()));
        }
        props.push(("title", format!("supplygate {}", e.code)));
        let props: Vec<(&str, &str)> = props.iter().map(|(k, v)| (*k, v.as_str())).collect();
        command(&mut out, "error", &props, &e.message);
    }
    for n in &report.notices {
        let mut message = n.message.clone();
        if let Some(h) = &n.hint {
            let _ = write!(message, "\nhint: {h}");
        }
        command(
            &mut out,
            command_name(n.severity),
            &[("title", &format!("supplygate {}", n.code))],
            &message,
        );
    }
    for note in report.notes() {
        command(&mut out, "notice", &[("title", "supplygate")], &note);
    }
    let _ = writeln!(out, "supplygate {}", human::summary_line(report));
    out
}

fn command_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Warn => "warning",
        Severity::Deny | Severity::Error => "error",
    }
}

fn command(out: &mut String, name: &str, props: &[(&str, &str)], message: &str) {
    out.push_str("::");
    out.push_str(name);
    for (n, (key, value)) in props.iter().enumerate() {
        out.push(if n == 0 { ' ' } else { ',' });
        out.push_str(key);
        out.push('=');
        out.push_str(&escape_property(value));
    }
    out.push_str("::");
    out.push_str(&escape_data(message));
    out.push('\n');
}

/// Escapes a command's message (the runner's `escapeData`), after writing every control and
/// bidirectional character but the line breaks as `\u{…}` ([`super::escape_unsafe`]): the
/// annotation shows what the manifest holds, and a log viewer never acts on it.
pub fn escape_data(s: &str) -> String {
    super::escape_unsafe_except(s, &['\r', '\n'])
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (the runner's `escapeProperty`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_the_actions_runner() {
        assert_eq!(escape_data("50%\r\nnext::x"), "50%25%0D%0Anext::x");
        assert_eq!(escape_property("a:b,c%\nd"), "a%3Ab%2Cc%25%0Ad");
        assert_eq!(
            escape_data("x\u{202e}y\u{1b}[31m"),
            "x\\u{202e}y\\u{1b}[31m"
        );
    }

    #[test]
    fn a_command_is_one_line_whatever_the_values() {
        let mut out = String::new();
        command(
            &mut out,
            "error",
            &[("file", "x,y:z.yaml"), ("title", "t")],
            "evil\n::add-mask::secret",
        );
        assert_eq!(
            out,
            "::error file=x%2Cy%3Az.yaml,title=t::evil%0A::add-mask::secret\n"
        );
        assert_eq!(out.lines().count(), 1);
    }
}
