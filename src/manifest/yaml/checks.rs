//! Refusals made on the text before parsing, and positions for parser errors.

use std::sync::Arc;

use saphyr_parser::ScanError;

use super::super::{ManifestError, Origin};

/// Refuses a directive line (`%YAML`, `%TAG` or a reserved one: a line starting with `%`)
/// that holds non-ASCII text. saphyr-parser 0.3.4 counts such a directive's name and
/// parameters in bytes where every other position is in characters, so every position after
/// it would be off and `pin` would edit the wrong bytes. A line inside a block or multi-line
/// scalar that starts with `%` is refused too: rare, and safe.
pub(super) fn refuse_non_ascii_directives(
    text: &str,
    origin: &Arc<Origin>,
) -> Result<(), ManifestError> {
    let mut line = 1;
    let mut rest = text;
    loop {
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        let (current, after) = rest.split_at(end);
        // saphyr skips a byte order mark before a directive (at the stream's start, or
        // after `...`).
        let directive = current.trim_start_matches('\u{feff}');
        if directive.starts_with('%') && !directive.is_ascii() {
            let column = directive.chars().take_while(char::is_ascii).count() + 1;
            return Err(ManifestError::Syntax {
                origin: origin.clone(),
                line,
                column,
                message: "non-ASCII text in a YAML directive (a line starting with `%`) is not \
                          supported (hint: remove the directive or keep it ASCII)"
                    .to_owned(),
            });
        }
        let Some(first) = after.chars().next() else {
            return Ok(());
        };
        let skip = if after.starts_with("\r\n") {
            2
        } else {
            first.len_utf8()
        };
        rest = after.get(skip..).unwrap_or_default();
        line += 1;
    }
}

/// Refuses NEL (U+0085), LINE SEPARATOR (U+2028) and PARAGRAPH SEPARATOR (U+2029) anywhere:
/// go-yaml (YAML 1.1) breaks lines at them where our parser (YAML 1.2) reads them as text, so
/// inside a `# comment` they end the comment for Kubernetes and what follows is read as data
/// (a second `image:` key). Escaped in a double-quoted string (`"\u2028"`) they are fine.
pub(super) fn refuse_unicode_line_breaks(
    text: &str,
    origin: &Arc<Origin>,
) -> Result<(), ManifestError> {
    let Some(at) = text.find(['\u{85}', '\u{2028}', '\u{2029}']) else {
        return Ok(());
    };
    let before = text.get(..at).unwrap_or_default();
    let (line, column) = line_and_column(before);
    let c = text
        .get(at..)
        .and_then(|r| r.chars().next())
        .unwrap_or('\u{85}');
    Err(ManifestError::Ambiguous {
        origin: origin.clone(),
        line,
        column,
        message: format!(
            "U+{:04X} ({}) is a line break for Kubernetes' YAML reader (YAML 1.1) and text for \
             ours, so the two would read different data (in a comment, the rest of the line \
             becomes YAML) (hint: remove it, or write it escaped in a double-quoted string: \
             `\"\\u{:04X}\"`)",
            u32::from(c),
            match c {
                '\u{85}' => "NEXT LINE",
                '\u{2028}' => "LINE SEPARATOR",
                _ => "PARAGRAPH SEPARATOR",
            },
            u32::from(c),
        ),
    })
}

/// Refuses a line that starts with `---` where kubectl and YAML disagree about a document
/// break. kubectl splits a file into documents line by line before any YAML is read: a line
/// starting with `---` whose rest, trimmed, is empty or a `#` comment ends a document, any other
/// rest is an error. For YAML, `---` is a marker only when a blank or the line's end follows
/// it: `---# x` is a key for YAML (the following indented lines its value) and a document break
/// for kubectl, which then applies what YAML read as a string. Only markers both read alike
/// pass: `---`, `--- # comment`.
pub(super) fn refuse_kubectl_separators(
    text: &str,
    origin: &Arc<Origin>,
) -> Result<(), ManifestError> {
    for (index, line) in text.split('\n').enumerate() {
        let Some(rest) = line.strip_prefix("---") else {
            continue;
        };
        let rest = rest.strip_suffix('\r').unwrap_or(rest);
        let trimmed = rest.trim_matches([' ', '\t']);
        let yaml_marker = rest.is_empty() || rest.starts_with([' ', '\t']);
        let kubectl_marker = trimmed.is_empty() || trimmed.starts_with('#');
        if yaml_marker && kubectl_marker {
            continue;
        }
        let why = if kubectl_marker {
            "kubectl starts a new document here, YAML does not (`---` must be followed by a \
             blank to be a document marker), so the two read different objects"
        } else {
            "kubectl refuses a document separator followed by anything but a comment, and YAML \
             reads it as content"
        };
        return Err(ManifestError::Ambiguous {
            origin: origin.clone(),
            line: index + 1,
            column: 1,
            message: format!(
                "a line starting with `---`: {why} (hint: write `---` alone on its line, or \
                 `--- # comment`)"
            ),
        });
    }
    Ok(())
}

/// 1-based line and column (in characters) of the position just after `before`, counting
/// `\n`, `\r\n` and `\r` as line breaks like the parser does.
pub(super) fn line_and_column(before: &str) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    let mut chars = before.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                line += 1;
                column = 1;
            }
            _ => column += 1,
        }
    }
    (line, column)
}

pub(super) fn scan_error(text: &str, origin: &Arc<Origin>, e: &ScanError) -> ManifestError {
    let (mut line, mut column) = (e.marker().line(), e.marker().col() + 1);
    if e.info() == "while scanning a plain scalar, found a tab" {
        // saphyr reports the scalar's start; point at the tab itself.
        let from = offset_of(text, line, column);
        if let Some(tab) = text.get(from..).and_then(|rest| rest.find('\t')) {
            (line, column) = line_and_column(text.get(..from + tab).unwrap_or_default());
        }
    }
    ManifestError::Syntax {
        origin: origin.clone(),
        line,
        column,
        message: match e.info() {
            // saphyr's own limit: it looks ahead over `[`/`{` to find simple keys, so it can
            // meet its limit of 255 flow levels before our depth check sees the events.
            "recursion limit exceeded" => {
                "flow nesting (`[`, `{`) is deeper than the parser's limit of 255 levels".to_owned()
            }
            "while parsing node, found unknown anchor" => {
                let name = alias_name_at(text, e.marker().line(), e.marker().col());
                format!(
                    "undefined alias `{name}`: no anchor `&{name}` before it in this document \
                     (anchors do not reach across `---`)"
                )
            }
            info => format!("invalid YAML: {info}"),
        },
    }
}

/// The byte offset of 1-based `line` and `column` (in characters), `\n` ending lines.
pub(super) fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start = text
        .match_indices('\n')
        .nth(line.saturating_sub(2))
        .map_or(0, |(i, _)| i + 1);
    let start = if line <= 1 { 0 } else { start };
    let rest = text.get(start..).unwrap_or_default();
    start
        + rest
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(rest.len(), |(i, _)| i)
}

/// The name of the alias (`*name`) at 1-based `line`, 0-based character `col`.
pub(super) fn alias_name_at(text: &str, line: usize, col: usize) -> String {
    let line_text = text
        .split('\n')
        .nth(line.saturating_sub(1))
        .unwrap_or_default();
    line_text
        .chars()
        .skip(col)
        .skip_while(|&c| c == '*')
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
        .take(64)
        .collect()
}
