//! Stage (1) for `supplygate pin`: replaces scalars in a manifest's text byte-exactly, keeping
//! each scalar's quoting style and every byte outside the edited spans (comments, key order,
//! indentation, line endings), and writes files atomically.

use std::io::Write;
use std::path::Path;

use super::{extract, ExtraImagePaths, ImageSite, Limits, ScalarStyle, Source, Span};

/// One replacement: the scalar at `span`, written in `style`, becomes `new_value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Edit {
    /// The scalar as found by [`super::extract`] (quotes included).
    pub span: Span,
    /// How the scalar is written now; the new value is written the same way.
    pub style: ScalarStyle,
    /// The new value, unquoted.
    pub new_value: String,
}

/// Why edits could not be applied. Nothing is changed when one of them fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// Block scalars (`|`, `>`) are not rewritten: their indentation rules make a safe in-place
    /// edit fiddly and image references are never written that way in practice.
    #[error(
        "{line}:{column}: cannot rewrite a block scalar (`|` or `>`); write the image on one line"
    )]
    BlockStyle {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The span does not hold a scalar of the stated style: the text changed since it was read.
    #[error(
        "{line}:{column}: the text at bytes {start}..{end} is not the {style} scalar that was \
         read (did the file change since?)"
    )]
    StaleSpan {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Byte offset of the span's start.
        start: usize,
        /// Byte offset of the span's end.
        end: usize,
        /// The style expected.
        style: &'static str,
    },
    /// Two different edits touch overlapping text.
    #[error("{line}:{column}: two edits overlap (at bytes {first_start} and {second_start})")]
    Overlap {
        /// 1-based line of the second edit.
        line: usize,
        /// 1-based column of the second edit.
        column: usize,
        /// Byte offset of the first edit.
        first_start: usize,
        /// Byte offset of the second edit.
        second_start: usize,
    },
    /// The rewritten text does not read back as exactly the intended change: same image sites
    /// in the same places, each with its pinned (or untouched) value.
    #[error(
        "the rewritten text does not read back as intended: {reason}; nothing was written \
         (hint: please report this with the file)"
    )]
    Unverified {
        /// What differs.
        reason: String,
    },
    /// The new value cannot be written in the scalar's style without changing its meaning.
    #[error("{line}:{column}: cannot write `{value}` as a {style} scalar: {reason}")]
    UnsafeValue {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The value (escaped for display).
        value: String,
        /// The style.
        style: &'static str,
        /// Why.
        reason: &'static str,
    },
}

fn style_name(style: ScalarStyle) -> &'static str {
    match style {
        ScalarStyle::Plain => "plain",
        ScalarStyle::SingleQuoted => "single-quoted",
        ScalarStyle::DoubleQuoted => "double-quoted",
        ScalarStyle::Block => "block",
    }
}

/// Applies `edits` to `text`: each span's scalar is replaced by `new_value` written in the
/// same style (plain stays plain, `'...'` single-quoted with `''` escaping, `"..."`
/// double-quoted with `\"` and `\\` escaping). Identical edits are applied once (one anchor
/// reached through several aliases); every byte outside the spans is kept.
///
/// # Errors
/// [`RewriteError`] for a block scalar, a span that does not hold the scalar it claims, two
/// different edits that overlap, or a value that the style cannot hold safely.
pub fn apply_edits(text: &str, edits: &[Edit]) -> Result<String, RewriteError> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by(|a, b| {
        (a.span.start, a.span.end, &a.new_value).cmp(&(b.span.start, b.span.end, &b.new_value))
    });
    sorted.dedup_by(|a, b| a == b);

    let mut out = String::with_capacity(text.len() + 80 * sorted.len());
    let mut copied = 0;
    for edit in sorted {
        let span = edit.span;
        if span.start < copied {
            return Err(RewriteError::Overlap {
                line: span.line,
                column: span.column,
                first_start: copied,
                second_start: span.start,
            });
        }
        let written = check_span(text, edit)?;
        let replacement = render(edit)?;
        tracing::trace!(from = written, to = %replacement, "rewriting at {}:{}", span.line, span.column);
        out.push_str(text.get(copied..span.start).unwrap_or_default());
        out.push_str(&replacement);
        copied = span.end;
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    Ok(out)
}

/// The scalar as written at the edit's span, after checking that it looks like one of the
/// edit's style.
fn check_span<'t>(text: &'t str, edit: &Edit) -> Result<&'t str, RewriteError> {
    let span = edit.span;
    if edit.style == ScalarStyle::Block {
        return Err(RewriteError::BlockStyle {
            line: span.line,
            column: span.column,
        });
    }
    let stale = || RewriteError::StaleSpan {
        line: span.line,
        column: span.column,
        start: span.start,
        end: span.end,
        style: style_name(edit.style),
    };
    let written = text.get(span.start..span.end).ok_or_else(stale)?;
    let quoted = |q: char| written.len() >= 2 && written.starts_with(q) && written.ends_with(q);
    let ok = match edit.style {
        ScalarStyle::Plain => {
            !written.is_empty()
                && !written.starts_with(['\'', '"', ' ', '\t', '\r', '\n'])
                && !written.ends_with([' ', '\t', '\r', '\n'])
        }
        ScalarStyle::SingleQuoted => quoted('\''),
        ScalarStyle::DoubleQuoted => quoted('"'),
        ScalarStyle::Block => false,
    };
    if ok {
        Ok(written)
    } else {
        Err(stale())
    }
}

/// The new value written in the edit's style.
fn render(edit: &Edit) -> Result<String, RewriteError> {
    let value = edit.new_value.as_str();
    let unsafe_value = |reason| RewriteError::UnsafeValue {
        line: edit.span.line,
        column: edit.span.column,
        value: value.escape_debug().to_string(),
        style: style_name(edit.style),
        reason,
    };
    match edit.style {
        ScalarStyle::Plain => {
            unsafe_plain(value).map_or_else(|| Ok(value.to_owned()), |r| Err(unsafe_value(r)))
        }
        ScalarStyle::SingleQuoted => {
            if value.chars().any(char::is_control) {
                return Err(unsafe_value(
                    "it contains a control character or line break",
                ));
            }
            Ok(format!("'{}'", value.replace('\'', "''")))
        }
        ScalarStyle::DoubleQuoted => {
            let mut out = String::with_capacity(value.len() + 2);
            out.push('"');
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
                    c => out.push(c),
                }
            }
            out.push('"');
            Ok(out)
        }
        ScalarStyle::Block => Err(RewriteError::BlockStyle {
            line: edit.span.line,
            column: edit.span.column,
        }),
    }
}

/// Why `value` cannot be a plain scalar in any context (block or flow) with the same meaning,
/// or `None` when it can. Conservative: image references (letters, digits, `._-/:@+`, starting
/// with a letter or digit, never ending with `:`) always pass, unless they would read as a
/// number, boolean or null.
fn unsafe_plain(value: &str) -> Option<&'static str> {
    let Some(first) = value.chars().next() else {
        return Some("an empty plain scalar reads as null");
    };
    if !first.is_ascii_alphanumeric() {
        return Some("a plain scalar must start with a letter or digit here");
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@' | '+'))
    {
        return Some("it contains a character that a plain scalar cannot hold safely");
    }
    if value.ends_with(':') {
        return Some("a plain scalar cannot end with `:`");
    }
    let lower = value.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null"
    ) {
        return Some("it would be read as a boolean or null");
    }
    let numeric = first.is_ascii_digit()
        && value
            .chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | '_' | ':' | '+' | '-' | 'x' | 'o'));
    if numeric {
        return Some("it could be read as a number");
    }
    None
}

/// Reads `rewritten` (the result of [`apply_edits`] on `source` with `edits`) again and checks
/// that it means exactly the intended change: the same image sites as `before` (the sites
/// [`extract`] found in `source`, in order), in the same documents at the same paths, in the
/// same styles, each with its edit's value, or its old value when no edit was made there.
/// `pin` calls it before writing anything, so a wrong span (a parser position bug) is refused
/// instead of corrupting a file.
///
/// # Errors
/// [`RewriteError::Unverified`] naming the first difference.
pub fn verify_rewrite(
    source: &Source,
    before: &[&ImageSite],
    rewritten: &str,
    edits: &[Edit],
    extra: &ExtraImagePaths,
    limits: &Limits,
) -> Result<(), RewriteError> {
    let unverified = |reason: String| RewriteError::Unverified { reason };
    // By span (one pass each, not sites × edits: a file can hold a million images).
    let by_span: std::collections::HashMap<Span, &str> = edits
        .iter()
        .map(|edit| (edit.span, edit.new_value.as_str()))
        .collect();
    let mut at_a_site = std::collections::HashSet::with_capacity(by_span.len());
    let mut expected = Vec::with_capacity(before.len());
    for &site in before {
        let value = match by_span.get(&site.span) {
            Some(value) => {
                at_a_site.insert(site.span);
                value
            }
            None => site.image.as_str(),
        };
        expected.push((site, value));
    }
    if let Some(edit) = edits.iter().find(|edit| !at_a_site.contains(&edit.span)) {
        return Err(unverified(format!(
            "the edit at {}:{} is not at an image",
            edit.span.line, edit.span.column
        )));
    }
    let after = extract(
        &Source {
            origin: source.origin.clone(),
            text: rewritten.to_owned(),
        },
        extra,
        limits,
    )
    .map_err(|e| unverified(format!("the rewritten text does not read: {e}")))?;
    if after.sites.len() != expected.len() {
        return Err(unverified(format!(
            "it has {} image sites instead of {}",
            after.sites.len(),
            expected.len()
        )));
    }
    for ((old, value), new) in expected.iter().zip(&after.sites) {
        let same = old.resource.document == new.resource.document
            && old.path == new.path
            && old.style == new.style
            && new.image == *value;
        if !same {
            return Err(unverified(format!(
                "at {}:{} (`{}`) `{}` was expected, found `{}` at `{}`",
                old.span.line, old.span.column, old.path, value, new.image, new.path
            )));
        }
    }
    Ok(())
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, given the old file's permissions, then renamed over `path`. A symbolic link is
/// followed, so the link stays and its target is replaced.
///
/// # Errors
/// Any I/O error; `path` is unchanged then.
pub fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    let target = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(e),
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".supplygate-")
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    tmp.write_all(contents.as_bytes())?;
    if let Ok(meta) = std::fs::metadata(&target) {
        tmp.as_file().set_permissions(meta.permissions())?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    // Make the rename itself durable; not every platform can open a directory, so best effort.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::manifest::{extract, yaml, ExtraImagePaths, Limits, Origin, Source};

    fn source(text: &str) -> Source {
        Source {
            origin: Arc::new(Origin::File("t.yaml".into())),
            text: text.to_owned(),
        }
    }

    fn edit_all(text: &str, f: impl Fn(&str) -> String) -> Result<String, RewriteError> {
        let found = extract(
            &source(text),
            &ExtraImagePaths::default(),
            &Limits::default(),
        )
        .unwrap();
        let edits: Vec<Edit> = found
            .sites
            .iter()
            .map(|s| Edit {
                span: s.span,
                style: s.style,
                new_value: f(&s.image),
            })
            .collect();
        apply_edits(text, &edits)
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// Removes every span's text from `text`, leaving what must not change.
    fn outside(text: &str, spans: &[Span]) -> String {
        let mut spans = spans.to_vec();
        spans.sort_by_key(|s| s.start);
        spans.dedup();
        let mut out = String::new();
        let mut at = 0;
        for s in spans {
            out.push_str(&text[at..s.start]);
            out.push('\u{0}');
            at = s.end;
        }
        out.push_str(&text[at..]);
        out
    }

    fn assert_pins_every_image(text: &str) {
        let pin = |image: &str| format!("{image}@{DIGEST}");
        let before = extract(
            &source(text),
            &ExtraImagePaths::default(),
            &Limits::default(),
        )
        .unwrap();
        assert!(!before.sites.is_empty());
        let output = edit_all(text, pin).unwrap();
        let after = extract(
            &source(&output),
            &ExtraImagePaths::default(),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(before.sites.len(), after.sites.len());
        for (b, a) in before.sites.iter().zip(&after.sites) {
            assert_eq!(a.image, pin(&b.image));
            assert_eq!(a.style, b.style);
            assert_eq!(a.path, b.path);
        }
        let old_spans: Vec<Span> = before.sites.iter().map(|s| s.span).collect();
        let new_spans: Vec<Span> = after.sites.iter().map(|s| s.span).collect();
        assert_eq!(outside(text, &old_spans), outside(&output, &new_spans));
    }

    #[test]
    fn pins_every_style_and_keeps_everything_else() {
        let text = "# top comment\r\napiVersion: v1\r\nkind: Pod\r\nmetadata: {name: p}  # keep\r\n\
                    spec:\r\n  initContainers:\r\n  - name: i\r\n    image: 'busy''box:1'   # why\r\n\
                    \x20 containers:\r\n  - {name: a, image: \"nginx:1.25\"}\r\n\
                    \x20 - name: b\r\n    image: redis:7 # plain\r\n";
        assert_pins_every_image(text);
    }

    #[test]
    fn pins_fixtures_byte_exactly() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/manifests");
        for name in ["deployment.yaml", "cronjob.yaml", "list.yaml", "multi.yaml"] {
            let text = std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
            assert_pins_every_image(&text);
        }
    }

    #[test]
    fn applies_one_edit_for_an_anchor_reached_through_aliases() {
        let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: &img nginx:1\n\
                    \x20 - name: b\n    image: *img\n";
        let out = edit_all(text, |_| "nginx:2".to_owned()).unwrap();
        assert_eq!(out, text.replace("nginx:1", "nginx:2"));
    }

    #[test]
    fn refuses_different_values_for_one_span() {
        let span = Span {
            line: 1,
            column: 4,
            start: 3,
            end: 4,
        };
        let edits = [
            Edit {
                span,
                style: ScalarStyle::Plain,
                new_value: "b".into(),
            },
            Edit {
                span,
                style: ScalarStyle::Plain,
                new_value: "c".into(),
            },
        ];
        assert!(matches!(
            apply_edits("a: x\n", &edits),
            Err(RewriteError::Overlap { .. })
        ));
    }

    #[test]
    fn refuses_overlapping_edits() {
        let edits = [
            Edit {
                span: Span {
                    line: 1,
                    column: 1,
                    start: 0,
                    end: 4,
                },
                style: ScalarStyle::Plain,
                new_value: "x".into(),
            },
            Edit {
                span: Span {
                    line: 1,
                    column: 3,
                    start: 2,
                    end: 6,
                },
                style: ScalarStyle::Plain,
                new_value: "y".into(),
            },
        ];
        assert!(matches!(
            apply_edits("abcdefgh", &edits),
            Err(RewriteError::Overlap { .. })
        ));
    }

    #[test]
    fn refuses_block_scalars() {
        let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: |-\n      nginx\n";
        let err = edit_all(text, |_| "nginx:2".to_owned()).unwrap_err();
        assert!(
            matches!(err, RewriteError::BlockStyle { line: 6, .. }),
            "{err}"
        );
    }

    #[test]
    fn refuses_values_unsafe_as_plain_scalars() {
        let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: nginx\n";
        for bad in [
            "x: y", "x #y", "[x]", "-x", "true", "12", "1.5", "x\ny", "", "'x", "x:",
        ] {
            let err = edit_all(text, |_| bad.to_owned()).unwrap_err();
            assert!(
                matches!(err, RewriteError::UnsafeValue { .. }),
                "{bad}: {err}"
            );
        }
        // Every realistic pinned reference passes.
        for good in [
            format!("nginx@{DIGEST}"),
            format!("ghcr.io/o/r/i:v1.2.3-rc.1_x@{DIGEST}"),
            "localhost:5000/a+b:1".to_owned(),
        ] {
            let out = edit_all(text, |_| good.clone()).unwrap();
            let doc = &yaml::parse_documents(&out, &Arc::new(Origin::Stdin), &Limits::default())
                .unwrap()[0];
            let image = doc
                .root
                .get("spec")
                .unwrap()
                .get("containers")
                .unwrap()
                .as_sequence()
                .unwrap()[0]
                .get("image")
                .unwrap();
            assert_eq!(image.as_str(), Some(good.as_str()));
        }
    }

    #[test]
    fn escapes_quotes_in_quoted_styles() {
        let text =
            "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: 'a'\n  - image: \"b\"\n";
        let weird = "it's \"odd\" \\ x";
        let out = edit_all(text, |_| weird.to_owned()).unwrap();
        let found = extract(
            &source(&out),
            &ExtraImagePaths::default(),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(found.sites.len(), 2);
        assert!(found.sites.iter().all(|s| s.image == weird));
        let err = edit_all(text, |_| "a\nb".to_owned()).unwrap_err();
        assert!(
            matches!(
                err,
                RewriteError::UnsafeValue {
                    style: "single-quoted",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_stale_span() {
        let edit = Edit {
            span: Span {
                line: 1,
                column: 4,
                start: 3,
                end: 6,
            },
            style: ScalarStyle::DoubleQuoted,
            new_value: "y".into(),
        };
        let err = apply_edits("a: xyz\n", &[edit]).unwrap_err();
        assert!(matches!(err, RewriteError::StaleSpan { .. }), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_keeps_permissions_and_links() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.yaml");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }

    #[test]
    fn verify_rewrite_accepts_exactly_the_intended_change() {
        let text = "kind: Pod\napiVersion: v1\nspec:\n  containers:\n  - name: app\n    image: nginx:1.25\n  - name: side\n    image: 'redis:7'\n";
        let src = source(text);
        let (extra, limits) = (ExtraImagePaths::default(), Limits::default());
        let sites = extract(&src, &extra, &limits).unwrap().sites;
        assert_eq!(sites.len(), 2);
        let before: Vec<&ImageSite> = sites.iter().collect();
        let pin = |i: usize| Edit {
            span: sites[i].span,
            style: sites[i].style,
            new_value: format!("{}@{DIGEST}", sites[i].image),
        };
        // One site pinned, the other untouched: both read back as intended.
        let rewritten = apply_edits(text, &[pin(1)]).unwrap();
        verify_rewrite(&src, &before, &rewritten, &[pin(1)], &extra, &limits).unwrap();

        // Text that does not hold the edits' values (as if a span had pointed elsewhere).
        let other = apply_edits(text, &[pin(0)]).unwrap();
        let err = verify_rewrite(&src, &before, &other, &[pin(1)], &extra, &limits).unwrap_err();
        assert!(matches!(err, RewriteError::Unverified { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("`nginx:1.25` was expected, found `nginx:1.25@sha256:"),
            "{err}"
        );

        // An edit that is not at an image site.
        let name = text.find("app").unwrap();
        let stray = Edit {
            span: Span {
                start: name,
                end: name + 3,
                line: 5,
                column: 11,
            },
            style: ScalarStyle::Plain,
            new_value: "nginx".to_owned(),
        };
        let err = verify_rewrite(&src, &before, &rewritten, &[pin(1), stray], &extra, &limits)
            .unwrap_err();
        assert!(err.to_string().contains("is not at an image"), "{err}");

        // A rewrite that adds or removes an image site.
        let fewer = text.replace("  - name: side\n    image: 'redis:7'\n", "");
        let err = verify_rewrite(&src, &before, &fewer, &[], &extra, &limits).unwrap_err();
        assert!(
            err.to_string().contains("1 image sites instead of 2"),
            "{err}"
        );
    }
}
