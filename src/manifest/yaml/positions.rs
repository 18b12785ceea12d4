//! saphyr's character indices to byte offsets, and spans corrected to the scalar as written.

use saphyr_parser::ScalarStyle as SaphyrStyle;

use super::super::Span;

/// Converts saphyr's character indices to byte offsets in O(1)-ish: a byte offset is kept for
/// every [`Self::STEP`]th character and the rest is walked.
pub(super) struct Positions<'a> {
    pub(super) text: &'a str,
    /// `None` when the text is ASCII and indices are byte offsets.
    checkpoints: Option<Vec<usize>>,
}

impl<'a> Positions<'a> {
    const STEP: usize = 64;

    pub(super) fn new(text: &'a str) -> Self {
        let checkpoints = (!text.is_ascii()).then(|| {
            text.char_indices()
                .step_by(Self::STEP)
                .map(|(b, _)| b)
                .collect()
        });
        Self { text, checkpoints }
    }

    pub(super) fn byte(&self, char_index: usize) -> usize {
        let Some(checkpoints) = &self.checkpoints else {
            return char_index.min(self.text.len());
        };
        let Some(&base) = checkpoints.get(char_index / Self::STEP) else {
            return self.text.len();
        };
        let tail = self.text.get(base..).unwrap_or_default();
        tail.char_indices()
            .nth(char_index % Self::STEP)
            .map_or(self.text.len(), |(b, _)| base + b)
    }

    pub(super) fn span(&self, s: &saphyr_parser::Span) -> Span {
        Span {
            line: s.start.line(),
            column: s.start.col() + 1,
            start: self.byte(s.start.index()),
            end: self.byte(s.end.index()).max(self.byte(s.start.index())),
        }
    }

    /// The exact span of a scalar: saphyr's span starts at the scalar's anchor or tag, if
    /// any, and for quoted scalars runs on over trailing blanks and comments.
    pub(super) fn scalar_span(&self, s: &saphyr_parser::Span, style: SaphyrStyle) -> Span {
        let mut span = self.span(s);
        let limit = span.end;
        let mut pos = span.start;
        let (mut line, mut column) = (span.line, span.column);
        let rest = |pos: usize| self.text.get(pos..limit).unwrap_or_default();
        // Skip `&anchor`, `!tag`, blanks, line breaks and comments before the scalar.
        if rest(pos).starts_with(['&', '!']) {
            let mut in_comment = false;
            let mut in_property = false;
            let base = pos;
            for (i, c) in rest(base).char_indices() {
                let at = base + i;
                match c {
                    '\n' => {
                        line += 1;
                        column = 1;
                        in_comment = false;
                        in_property = false;
                        continue;
                    }
                    '\r' => continue,
                    _ if in_comment => {}
                    ' ' | '\t' => in_property = false,
                    '#' if !in_property => in_comment = true,
                    '&' | '!' if !in_property => in_property = true,
                    _ if in_property => {}
                    _ => {
                        pos = at;
                        break;
                    }
                }
                column += 1;
                pos = at + c.len_utf8();
            }
            span.start = pos;
            span.line = line;
            span.column = column;
        }
        let quote = match style {
            SaphyrStyle::SingleQuoted => '\'',
            SaphyrStyle::DoubleQuoted => '"',
            _ => return span,
        };
        let mut chars = rest(span.start).char_indices();
        if chars.next().map(|(_, c)| c) != Some(quote) {
            return span;
        }
        while let Some((i, c)) = chars.next() {
            if quote == '"' && c == '\\' {
                chars.next();
            } else if c == quote {
                if quote == '\'' && rest(span.start + i + 1).starts_with('\'') {
                    chars.next();
                } else {
                    span.end = span.start + i + 1;
                    break;
                }
            }
        }
        span
    }
}

/// Checks saphyr's character index against its line and column, which it counts apart: if
/// they disagree, the index has drifted (as after a directive with non-ASCII text) and a span
/// would point at other bytes. Markers are checked in increasing order, so the cursor only
/// moves forward and the whole check is linear in the text.
pub(super) struct LineCursor {
    /// 1-based line the cursor is on.
    line: usize,
    /// Character index of the line's first character.
    start: usize,
    /// Byte offset of the line's first character.
    byte: usize,
}

impl LineCursor {
    pub(super) fn new() -> Self {
        Self {
            line: 1,
            start: 0,
            byte: 0,
        }
    }

    /// Whether `marker`'s index is where its line and column say.
    pub(super) fn agrees(&mut self, text: &str, marker: &saphyr_parser::Marker) -> bool {
        if marker.line() < self.line {
            *self = Self::new();
        }
        while self.line < marker.line() {
            let rest = text.get(self.byte..).unwrap_or_default();
            let Some((at, c)) = rest.char_indices().find(|(_, c)| matches!(c, '\n' | '\r')) else {
                return false;
            };
            let chars = rest.get(..at).map_or(0, |l| l.chars().count());
            let crlf = c == '\r' && rest.get(at + 1..).is_some_and(|r| r.starts_with('\n'));
            let breaks = if crlf { 2 } else { 1 };
            self.start += chars + breaks;
            self.byte += at + breaks;
            self.line += 1;
        }
        // saphyr skips a byte order mark at the start of a line without counting a column.
        let boms = text
            .get(self.byte..)
            .unwrap_or_default()
            .chars()
            .take_while(|&c| c == '\u{feff}')
            .count();
        let at = self.start + marker.col();
        (at..=at + boms).contains(&marker.index())
    }
}

/// Whether `written` (the text at a scalar's span) reads as `value` in `style`: exactly, for a
/// scalar on one line; word for word, for one folded over lines. Double-quoted scalars with
/// escapes and block scalars are only checked for their quotes (block scalars are never
/// rewritten).
pub(super) fn written_matches(written: &str, value: &str, style: SaphyrStyle) -> bool {
    let unquoted = |q: char| {
        (written.len() >= 2 && written.starts_with(q) && written.ends_with(q))
            .then(|| written.get(1..written.len() - 1))
            .flatten()
    };
    let inner = match style {
        SaphyrStyle::Plain => written.to_owned(),
        SaphyrStyle::SingleQuoted => match unquoted('\'') {
            Some(inner) => inner.replace("''", "'"),
            None => return false,
        },
        SaphyrStyle::DoubleQuoted => match unquoted('"') {
            Some(inner) if inner.contains('\\') => return true,
            Some(inner) => inner.to_owned(),
            None => return false,
        },
        SaphyrStyle::Literal | SaphyrStyle::Folded => return true,
    };
    if inner.contains(['\n', '\r']) {
        inner.split_whitespace().eq(value.split_whitespace())
    } else {
        inner == value
    }
}
