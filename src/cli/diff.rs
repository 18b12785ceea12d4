//! A unified diff of two versions of a text, for `pin --dry-run`.
//!
//! `pin` changes image values in place, so the two texts agree outside a few small regions:
//! the lines are walked in step and, where they differ, the nearest pair of equal lines is
//! taken as the next point where they agree again. Any such alignment is a correct diff
//! (only equal lines are ever called unchanged); it is the shortest one for in-place edits.

use std::fmt::Write as _;

/// Lines of context around each change, like `diff -u`.
const CONTEXT: usize = 3;

/// One run of lines: equal in both, or removed and added.
#[derive(Debug, PartialEq, Eq)]
enum Op {
    /// `old[i..i + n]` equals `new[j..j + n]`.
    Equal { old: usize, new: usize, len: usize },
    /// `old[i..i + removed]` became `new[j..j + added]`.
    Change {
        old: usize,
        removed: usize,
        new: usize,
        added: usize,
    },
}

/// `---`/`+++` headers and `@@` hunks; empty when the texts are equal.
pub(crate) fn unified(old_name: &str, new_name: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = align(&a, &b);
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    // Group changes whose context overlaps into one hunk.
    let mut index = 0;
    while index < ops.len() {
        let Some(first) = ops
            .iter()
            .skip(index)
            .position(|op| matches!(op, Op::Change { .. }))
            .map(|p| p + index)
        else {
            break;
        };
        let mut last = first;
        let mut next = first + 1;
        while let (Some(Op::Equal { len, .. }), Some(Op::Change { .. })) =
            (ops.get(next), ops.get(next + 1))
        {
            if *len > 2 * CONTEXT {
                break;
            }
            last = next + 1;
            next += 2;
        }
        // Changes and equal runs alternate: the runs around the hunk give its context.
        let start = first.saturating_sub(1);
        let end = (last + 1).min(ops.len().saturating_sub(1));
        let slice = ops.get(start..=end).unwrap_or_default();
        hunk(&mut out, &a, &b, slice, first > 0);
        index = last + 1;
    }
    out
}

/// Writes one hunk: `ops` are the changes with the equal runs between them, plus the equal
/// run before (when `leading`) and after, of which only `CONTEXT` lines are shown.
fn hunk(out: &mut String, a: &[&str], b: &[&str], ops: &[Op], leading: bool) {
    let mut body = String::new();
    let (mut old_start, mut new_start) = (None, None);
    let (mut old_len, mut new_len) = (0, 0);
    let count = ops.len();
    for (k, op) in ops.iter().enumerate() {
        match *op {
            Op::Equal { old, new, len } => {
                let range = if k == 0 && leading {
                    len.saturating_sub(CONTEXT)..len
                } else if k + 1 == count {
                    0..len.min(CONTEXT)
                } else {
                    0..len
                };
                old_start.get_or_insert(old + range.start);
                new_start.get_or_insert(new + range.start);
                for i in range {
                    line(&mut body, ' ', a.get(old + i).copied().unwrap_or_default());
                    old_len += 1;
                    new_len += 1;
                }
            }
            Op::Change {
                old,
                removed,
                new,
                added,
            } => {
                old_start.get_or_insert(old);
                new_start.get_or_insert(new);
                for text in a.iter().skip(old).take(removed) {
                    line(&mut body, '-', text);
                }
                for text in b.iter().skip(new).take(added) {
                    line(&mut body, '+', text);
                }
                old_len += removed;
                new_len += added;
            }
        }
    }
    let _ = writeln!(
        out,
        "@@ -{} +{} @@",
        range(old_start.unwrap_or(0), old_len),
        range(new_start.unwrap_or(0), new_len)
    );
    out.push_str(&body);
}

/// `start,len` in 1-based lines; an empty range names the line before it, like `diff -u`.
fn range(start: usize, len: usize) -> String {
    if len == 0 {
        format!("{start},0")
    } else if len == 1 {
        format!("{}", start + 1)
    } else {
        format!("{},{len}", start + 1)
    }
}

fn line(body: &mut String, mark: char, text: &str) {
    body.push(mark);
    body.push_str(text);
    if !text.ends_with('\n') {
        body.push_str("\n\\ No newline at end of file\n");
    }
}

/// Walks both line lists in step; at a difference, finds the closest pair of equal lines
/// (smallest `di + dj`) after which both agree again.
fn align(a: &[&str], b: &[&str]) -> Vec<Op> {
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let same = a
            .iter()
            .skip(i)
            .zip(b.iter().skip(j))
            .take_while(|(x, y)| x == y)
            .count();
        if same > 0 {
            ops.push(Op::Equal {
                old: i,
                new: j,
                len: same,
            });
            i += same;
            j += same;
            continue;
        }
        let (di, dj) = resync(a, b, i, j);
        ops.push(Op::Change {
            old: i,
            removed: di,
            new: j,
            added: dj,
        });
        i += di;
        j += dj;
    }
    ops
}

/// The smallest step `(di, dj)` from `(i, j)` to a pair of equal lines, or to the ends.
fn resync(a: &[&str], b: &[&str], i: usize, j: usize) -> (usize, usize) {
    let (rest_a, rest_b) = (a.len() - i.min(a.len()), b.len() - j.min(b.len()));
    for total in 1..rest_a + rest_b {
        for di in total.saturating_sub(rest_b)..=total.min(rest_a) {
            let dj = total - di;
            if di < rest_a && dj < rest_b && a.get(i + di) == b.get(j + dj) {
                return (di, dj);
            }
        }
    }
    (rest_a, rest_b)
}

/// A `---`/`+++` header name as git writes it: `prefix` (`a/`, `b/`) and the path, in double
/// quotes with C escapes (`\n`, `\t`, `\"`, `\\`, octal `\302` for other bytes) when the path
/// holds a space, a quote, a backslash, a control or a non-ASCII byte. Unquoted, a newline in
/// a file name would end the header early and let `patch` write to another file.
pub(crate) fn header_name(prefix: &str, path: &[u8]) -> String {
    let plain = |b: u8| b.is_ascii_graphic() && b != b'"' && b != b'\\';
    if path.iter().all(|&b| plain(b)) {
        return format!("{prefix}{}", String::from_utf8_lossy(path));
    }
    let mut out = String::from("\"");
    for &b in prefix.as_bytes().iter().chain(path) {
        match b {
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x0b => out.push_str("\\v"),
            0x0c => out.push_str("\\f"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b' ' => out.push(' '),
            b if plain(b) => out.push(char::from(b)),
            b => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_quoted_like_git() {
        assert_eq!(header_name("a/", b"deploy/app.yaml"), "a/deploy/app.yaml");
        assert_eq!(
            header_name("b/", b"x y\n+++ b/evil\t\"\\\x1b\xc3\xa9.yaml"),
            "\"b/x y\\n+++ b/evil\\t\\\"\\\\\\033\\303\\251.yaml\""
        );
    }

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified("a", "b", "x\n", "x\n"), "");
    }

    #[test]
    fn one_changed_line_has_three_lines_of_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        assert_eq!(
            unified("a/f", "b/f", old, new),
            "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn distant_changes_are_separate_hunks_and_near_ones_merge() {
        let old: String = (1..=20).map(|n| format!("{n}\n")).collect();
        let new = old.replace("2\n", "two\n").replace("\n9\n", "\nnine\n");
        let diff = unified("a", "b", &old, &new);
        assert_eq!(diff.matches("@@ -").count(), 1, "{diff}");
        let new = old
            .replace("\n2\n", "\ntwo\n")
            .replace("\n18\n", "\neighteen\n");
        let diff = unified("a", "b", &old, &new);
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
    }

    #[test]
    fn a_change_at_the_end_without_newline_is_marked() {
        let diff = unified("a", "b", "x\ny", "x\nz");
        assert_eq!(
            diff,
            "--- a\n+++ b\n@@ -1,2 +1,2 @@\n x\n-y\n\\ No newline at end of file\n+z\n\\ No newline at end of file\n"
        );
    }

    #[test]
    fn lines_that_change_count_are_aligned() {
        let diff = unified("a", "b", "k:\n  'a\n  b'\nz\n", "k:\n  'ab'\nz\n");
        assert_eq!(
            diff,
            "--- a\n+++ b\n@@ -1,4 +1,3 @@\n k:\n-  'a\n-  b'\n+  'ab'\n z\n"
        );
    }
}
