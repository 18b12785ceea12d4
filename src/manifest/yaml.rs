//! Stage (1) helper: a YAML tree with exact spans, built from saphyr-parser events under
//! [`super::Limits`]; the manifest reader and the config loader both read YAML through it.
//!
//! Why not a serde deserializer: `pin` rewrites scalars in place, so every scalar needs the
//! exact byte range it occupies, quotes included, and untrusted input needs limits that are
//! enforced while the events stream in, before anything deep or large is built.
//!
//! What the tree does with YAML features:
//! - Positions: saphyr counts `Marker::index` in characters and includes anchors, tags and,
//!   for quoted scalars, trailing blanks and comments in a scalar's span. [`Node::span`] is
//!   corrected: `start..end` are byte offsets and `text[start..end]` is the scalar exactly as
//!   written (with its quotes); line and column point at its first character.
//! - Aliases (`*a`) become copies of the anchored node, keeping the anchor's spans, so that
//!   rewriting an aliased value rewrites the anchor.
//! - Merge keys (`<<: *base`, YAML 1.1, which Kubernetes' YAML reader applies) are applied when
//!   a mapping ends: explicit keys win, then the merged mappings in order. Ignoring them would
//!   hide an `image:` that the cluster sees.
//! - Duplicate keys in a mapping are refused: readers disagree on which one wins, so one could
//!   show a checked image to us and another to the cluster.
//! - Tags are ignored: a scalar is typed by its text and style (YAML 1.2 core schema).
//!
//! Limits (refused with [`ManifestError::Syntax`] at the offending position):
//! - nesting deeper than `max_depth` containers (never more than [`HARD_MAX_DEPTH`]), checked
//!   when a container starts and when an alias is placed, so the tree is never deeper and the
//!   recursive `Drop`, `Clone` and [`Node::to_json`] stay shallow;
//! - more than `max_nodes` nodes in one document, counting every alias expansion;
//! - more than `max_nodes` nodes copied for anchors and aliases in the whole file, so that a
//!   file of many small alias bombs is refused as fast as one big one.

use std::collections::HashMap;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle as SaphyrStyle, ScanError};

use super::{Limits, ManifestError, Origin, ScalarStyle, Span};

/// The deepest nesting accepted whatever [`Limits::max_depth`] says: deeper trees would make
/// the recursive `Drop` and `Clone` of [`Node`] risk the stack.
pub const HARD_MAX_DEPTH: usize = 1024;

/// A YAML node and where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node is. For scalars, exactly the scalar as written (quotes included); for
    /// collections, from the opening indicator or first entry to the end as saphyr reports it.
    pub span: Span,
    /// The node's value.
    pub value: Value,
}

/// The value of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An absent value (`key:` with nothing after it). `~` and `null` are plain scalars for
    /// which [`Node::is_null`] is true.
    Null,
    /// A scalar: its text after unquoting and unescaping, and how it is written.
    Scalar {
        /// The value.
        text: String,
        /// How it is written.
        style: ScalarStyle,
    },
    /// A sequence.
    Sequence(Vec<Node>),
    /// A mapping, in document order, merge keys applied.
    Mapping(Vec<(Node, Node)>),
}

/// One YAML document of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document's root.
    pub root: Node,
    /// 1-based line where the document starts: its `---`, or its first token.
    pub line: usize,
}

/// Parses every document of `text`, under `limits`.
///
/// # Errors
/// [`ManifestError::Syntax`] for malformed YAML or a limit exceeded (with its position), and
/// [`ManifestError::TooLarge`] when `text` is longer than `limits.max_file_bytes`.
pub fn parse_documents(
    text: &str,
    origin: &Arc<Origin>,
    limits: &Limits,
) -> Result<Vec<Document>, ManifestError> {
    let mut docs = Vec::new();
    for_each_document(text, origin, limits, |doc| {
        docs.push(doc);
        Ok(())
    })?;
    Ok(docs)
}

/// Parses `text` like [`parse_documents`], handing each document to `each` as soon as it is
/// complete, so that only one document tree is in memory at a time. Stops at the first error,
/// from the parser or from `each`.
///
/// # Errors
/// As [`parse_documents`], and whatever `each` returns.
pub fn for_each_document<F>(
    text: &str,
    origin: &Arc<Origin>,
    limits: &Limits,
    mut each: F,
) -> Result<(), ManifestError>
where
    F: FnMut(Document) -> Result<(), ManifestError>,
{
    if u64::try_from(text.len()).map_or(true, |len| len > limits.max_file_bytes) {
        return Err(ManifestError::TooLarge {
            origin: origin.clone(),
            limit: limits.max_file_bytes,
        });
    }
    refuse_non_ascii_directives(text, origin)?;
    let mut builder = Builder::new(text, origin, limits);
    let mut parser = Parser::new_from_str(text);
    while let Some(item) = parser.next_event() {
        let (event, span) = item.map_err(|e| scan_error(origin, &e))?;
        if let Some(doc) = builder.event(event, span)? {
            each(doc)?;
        }
    }
    Ok(())
}

/// Refuses a directive line (`%YAML`, `%TAG` or a reserved one: a line starting with `%`)
/// that holds non-ASCII text. saphyr-parser 0.3.4 counts such a directive's name and
/// parameters in bytes where every other position is in characters, so every position after
/// it would be off and `pin` would edit the wrong bytes. A line inside a block or multi-line
/// scalar that starts with `%` is refused too: rare, and safe.
fn refuse_non_ascii_directives(text: &str, origin: &Arc<Origin>) -> Result<(), ManifestError> {
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

fn scan_error(origin: &Arc<Origin>, e: &ScanError) -> ManifestError {
    ManifestError::Syntax {
        origin: origin.clone(),
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: match e.info() {
            // saphyr's own limit: it looks ahead over `[`/`{` to find simple keys, so it can
            // meet its limit of 255 flow levels before our depth check sees the events.
            "recursion limit exceeded" => {
                "flow nesting (`[`, `{`) is deeper than the parser's limit of 255 levels".to_owned()
            }
            info => format!("invalid YAML: {info}"),
        },
    }
}

impl Node {
    /// The value of `key` in a mapping (first match; keys compared by scalar text).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_mapping()?
            .iter()
            .find(|(k, _)| k.scalar_text() == Some(key))
            .map(|(_, v)| v)
    }

    /// The scalar's text, whatever its style; `None` for collections and nulls.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        if self.is_null() {
            return None;
        }
        self.scalar_text()
    }

    /// The entries of a mapping.
    #[must_use]
    pub fn as_mapping(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Mapping(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items of a sequence.
    #[must_use]
    pub fn as_sequence(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Sequence(items) => Some(items),
            _ => None,
        }
    }

    /// A plain `true`/`false` (also `True`, `TRUE`, `False`, `FALSE`: YAML 1.2 core schema).
    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self.plain_text()? {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        }
    }

    /// A plain decimal integer that fits in a `u64`.
    #[must_use]
    pub fn as_u64(&self) -> Option<u64> {
        let text = self.plain_text()?;
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    }

    /// Whether the node is null: empty, or plain `~`, `null`, `Null`, `NULL`.
    #[must_use]
    pub fn is_null(&self) -> bool {
        match &self.value {
            Value::Null => true,
            Value::Scalar {
                text,
                style: ScalarStyle::Plain,
            } => is_null_text(text),
            _ => false,
        }
    }

    /// What the node is, for error messages: "a mapping", "a list", "a string", ...
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Sequence(_) => "a list",
            Value::Mapping(_) => "a mapping",
            Value::Scalar { text, style } => {
                if *style != ScalarStyle::Plain {
                    return "a string";
                }
                match plain_scalar_json(text) {
                    serde_json::Value::Null => "null",
                    serde_json::Value::Bool(_) => "a boolean",
                    serde_json::Value::Number(n) if n.is_f64() => "a number",
                    serde_json::Value::Number(_) => "an integer",
                    _ => "a string",
                }
            }
        }
    }

    /// The node as JSON: plain scalars typed by the YAML 1.2 core schema (null, bool, int,
    /// float; `.inf` and `.nan`, which JSON cannot hold, stay strings), quoted and block
    /// scalars as strings. Non-scalar mapping keys become their JSON text.
    ///
    /// Recursive, but the tree is never deeper than [`HARD_MAX_DEPTH`].
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Scalar { text, style } => match style {
                ScalarStyle::Plain => plain_scalar_json(text),
                _ => serde_json::Value::String(text.clone()),
            },
            Value::Sequence(items) => items.iter().map(Node::to_json).collect(),
            Value::Mapping(entries) => {
                let mut map = serde_json::Map::with_capacity(entries.len());
                for (k, v) in entries {
                    let key = match &k.value {
                        Value::Null => "null".to_owned(),
                        Value::Scalar { text, .. } => text.clone(),
                        _ => k.to_json().to_string(),
                    };
                    map.insert(key, v.to_json());
                }
                serde_json::Value::Object(map)
            }
        }
    }

    /// Scalar text including null-like plain text; `None` for collections and empty values.
    fn scalar_text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    fn plain_text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar {
                text,
                style: ScalarStyle::Plain,
            } => Some(text),
            _ => None,
        }
    }
}

fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// Types a plain scalar by the YAML 1.2 core schema.
fn plain_scalar_json(text: &str) -> serde_json::Value {
    use serde_json::Value as J;
    if is_null_text(text) {
        return J::Null;
    }
    match text {
        "true" | "True" | "TRUE" => return J::Bool(true),
        "false" | "False" | "FALSE" => return J::Bool(false),
        _ => {}
    }
    if let Some(n) = core_int(text) {
        return J::Number(n);
    }
    if is_core_float(text) {
        if let Some(n) = text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            return J::Number(n);
        }
    }
    J::String(text.to_owned())
}

fn core_int(text: &str) -> Option<serde_json::Number> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, text.get(1..)?),
        b'+' => (false, text.get(1..)?),
        _ => (false, text),
    };
    if !text.starts_with(['-', '+']) {
        if let Some(hex) = text.strip_prefix("0x") {
            return (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u64::from_str_radix(hex, 16).ok())
                .flatten()
                .map(serde_json::Number::from);
        }
        if let Some(oct) = text.strip_prefix("0o") {
            return (!oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)))
                .then(|| u64::from_str_radix(oct, 8).ok())
                .flatten()
                .map(serde_json::Number::from);
        }
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if negative {
        text.parse::<i64>().ok().map(serde_json::Number::from)
    } else {
        // Too big for u64: typed as a float below, like other YAML readers do.
        digits.parse::<u64>().ok().map(serde_json::Number::from)
    }
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_core_float(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let from = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - from
    };
    let int_digits = digits(&mut i);
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = digits(&mut i);
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Converts saphyr's character indices to byte offsets in O(1)-ish: a byte offset is kept for
/// every [`Self::STEP`]th character and the rest is walked.
struct Positions<'a> {
    text: &'a str,
    /// `None` when the text is ASCII and indices are byte offsets.
    checkpoints: Option<Vec<usize>>,
}

impl<'a> Positions<'a> {
    const STEP: usize = 64;

    fn new(text: &'a str) -> Self {
        let checkpoints = (!text.is_ascii()).then(|| {
            text.char_indices()
                .step_by(Self::STEP)
                .map(|(b, _)| b)
                .collect()
        });
        Self { text, checkpoints }
    }

    fn byte(&self, char_index: usize) -> usize {
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

    fn span(&self, s: &saphyr_parser::Span) -> Span {
        Span {
            line: s.start.line(),
            column: s.start.col() + 1,
            start: self.byte(s.start.index()),
            end: self.byte(s.end.index()).max(self.byte(s.start.index())),
        }
    }

    /// The exact span of a scalar: saphyr's span starts at the scalar's anchor or tag, if
    /// any, and for quoted scalars runs on over trailing blanks and comments.
    fn scalar_span(&self, s: &saphyr_parser::Span, style: SaphyrStyle) -> Span {
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
struct LineCursor {
    /// 1-based line the cursor is on.
    line: usize,
    /// Character index of the line's first character.
    start: usize,
    /// Byte offset of the line's first character.
    byte: usize,
}

impl LineCursor {
    fn new() -> Self {
        Self {
            line: 1,
            start: 0,
            byte: 0,
        }
    }

    /// Whether `marker`'s index is where its line and column say.
    fn agrees(&mut self, text: &str, marker: &saphyr_parser::Marker) -> bool {
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
fn written_matches(written: &str, value: &str, style: SaphyrStyle) -> bool {
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

/// A collection being built.
struct Frame {
    mapping: bool,
    span: Span,
    anchor: usize,
    /// Nodes in this subtree, itself included.
    count: usize,
    /// Containers on the longest path down from here, itself included.
    height: usize,
    /// Items; for a mapping, keys and values alternate.
    items: Vec<Node>,
}

/// A completed anchored node, ready to be copied where aliases point to it.
struct Anchored {
    node: Node,
    count: usize,
    height: usize,
}

/// Turns events into documents, enforcing the limits.
struct Builder<'a> {
    positions: Positions<'a>,
    cursor: LineCursor,
    origin: &'a Arc<Origin>,
    max_depth: usize,
    max_nodes: usize,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    root: Option<Node>,
    doc_line: usize,
    /// Nodes in the current document, alias expansions included.
    doc_nodes: usize,
    /// Nodes copied for anchors and aliases in the whole stream.
    copied_nodes: usize,
}

impl<'a> Builder<'a> {
    fn new(text: &'a str, origin: &'a Arc<Origin>, limits: &Limits) -> Self {
        Self {
            positions: Positions::new(text),
            cursor: LineCursor::new(),
            origin,
            max_depth: limits.max_depth.min(HARD_MAX_DEPTH),
            max_nodes: limits.max_nodes,
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            doc_line: 1,
            doc_nodes: 0,
            copied_nodes: 0,
        }
    }

    fn error(&self, span: &Span, message: String) -> ManifestError {
        ManifestError::Syntax {
            origin: self.origin.clone(),
            line: span.line,
            column: span.column,
            message,
        }
    }

    fn event(
        &mut self,
        event: Event<'_>,
        raw: saphyr_parser::Span,
    ) -> Result<Option<Document>, ManifestError> {
        match event {
            Event::DocumentStart(_) => {
                self.doc_line = raw.start.line();
                self.doc_nodes = 0;
                self.anchors.clear();
                self.root = None;
            }
            Event::DocumentEnd => {
                let root = self.root.take().unwrap_or(Node {
                    span: self.positions.span(&raw),
                    value: Value::Null,
                });
                self.anchors.clear();
                return Ok(Some(Document {
                    root,
                    line: self.doc_line,
                }));
            }
            Event::Scalar(text, style, anchor, tag) => {
                let span = self.positions.scalar_span(&raw, style);
                self.check_scalar(&raw, &span, &text, style)?;
                self.count_nodes(1, &span)?;
                let value = if text.is_empty() && style == SaphyrStyle::Plain && tag.is_none() {
                    Value::Null
                } else {
                    Value::Scalar {
                        text: text.into_owned(),
                        style: match style {
                            SaphyrStyle::Plain => ScalarStyle::Plain,
                            SaphyrStyle::SingleQuoted => ScalarStyle::SingleQuoted,
                            SaphyrStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
                            SaphyrStyle::Literal | SaphyrStyle::Folded => ScalarStyle::Block,
                        },
                    }
                };
                self.complete(Node { span, value }, 1, 0, anchor)?;
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                let mapping = matches!(event, Event::MappingStart(..));
                let span = self.positions.span(&raw);
                if self.stack.len() >= self.max_depth {
                    return Err(self.error(
                        &span,
                        format!(
                            "nesting is deeper than the limit of {} levels",
                            self.max_depth
                        ),
                    ));
                }
                self.count_nodes(1, &span)?;
                self.stack.push(Frame {
                    mapping,
                    span,
                    anchor,
                    count: 1,
                    height: 1,
                    items: Vec::new(),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let end = self.positions.span(&raw).end;
                if let Some(frame) = self.stack.pop() {
                    let mut span = frame.span;
                    span.end = end.max(span.start);
                    let value = if frame.mapping {
                        Value::Mapping(self.finish_mapping(frame.items)?)
                    } else {
                        Value::Sequence(frame.items)
                    };
                    self.complete(
                        Node { span, value },
                        frame.count,
                        frame.height,
                        frame.anchor,
                    )?;
                }
            }
            Event::Alias(id) => {
                let span = self.positions.span(&raw);
                let Some(anchored) = self.anchors.get(&id) else {
                    return Err(self.error(
                        &span,
                        "alias refers to a node that contains it (recursive alias)".to_owned(),
                    ));
                };
                let (count, height) = (anchored.count, anchored.height);
                if self.stack.len() + height > self.max_depth {
                    return Err(self.error(
                        &span,
                        format!(
                            "alias makes nesting deeper than the limit of {} levels",
                            self.max_depth
                        ),
                    ));
                }
                self.count_nodes(count, &span)?;
                self.count_copies(count, &span)?;
                let node = self
                    .anchors
                    .get(&id)
                    .map(|a| a.node.clone())
                    .unwrap_or(Node {
                        span,
                        value: Value::Null,
                    });
                self.complete(node, count, height, 0)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        Ok(None)
    }

    /// Refuses a scalar whose span is not exactly where, and what, the parser read: a wrong
    /// span would make `pin` rewrite other bytes.
    fn check_scalar(
        &mut self,
        raw: &saphyr_parser::Span,
        span: &Span,
        value: &str,
        style: SaphyrStyle,
    ) -> Result<(), ManifestError> {
        if value.is_empty() && style == SaphyrStyle::Plain {
            // An empty value: saphyr places it loosely (at the next token, or the stream's
            // end), and nothing is ever written there.
            return Ok(());
        }
        let text = self.positions.text;
        let located = self.cursor.agrees(text, &raw.start)
            && text
                .get(span.start..span.end)
                .is_some_and(|written| written_matches(written, value, style));
        if located {
            return Ok(());
        }
        Err(self.error(
            span,
            "cannot locate this scalar exactly in the text (the YAML parser's position \
             disagrees with the text); refusing the file rather than risk editing the wrong \
             bytes (hint: line breaks that are a lone carriage return can cause this: use `\\n` \
             line breaks)"
                .to_owned(),
        ))
    }

    fn count_nodes(&mut self, n: usize, span: &Span) -> Result<(), ManifestError> {
        self.doc_nodes = self.doc_nodes.saturating_add(n);
        if self.doc_nodes > self.max_nodes {
            return Err(self.error(
                span,
                format!(
                    "document has more than {} nodes (aliases expanded); refusing it as a \
                     possible alias bomb",
                    self.max_nodes
                ),
            ));
        }
        Ok(())
    }

    fn count_copies(&mut self, n: usize, span: &Span) -> Result<(), ManifestError> {
        self.copied_nodes = self.copied_nodes.saturating_add(n);
        if self.copied_nodes > self.max_nodes {
            return Err(self.error(
                span,
                format!(
                    "anchors and aliases copy more than {} nodes in this file; refusing it as \
                     a possible alias bomb",
                    self.max_nodes
                ),
            ));
        }
        Ok(())
    }

    /// Attaches a finished node to its parent (or makes it the root) and records its anchor.
    fn complete(
        &mut self,
        node: Node,
        count: usize,
        height: usize,
        anchor: usize,
    ) -> Result<(), ManifestError> {
        if anchor > 0 {
            self.count_copies(count, &node.span)?;
            self.anchors.insert(
                anchor,
                Anchored {
                    node: node.clone(),
                    count,
                    height,
                },
            );
        }
        match self.stack.last_mut() {
            Some(parent) => {
                parent.count = parent.count.saturating_add(count);
                parent.height = parent.height.max(height + 1);
                parent.items.push(node);
            }
            None => self.root = Some(node),
        }
        Ok(())
    }

    /// Pairs up keys and values, refuses duplicate keys and applies merge keys (`<<`).
    fn finish_mapping(&self, items: Vec<Node>) -> Result<Vec<(Node, Node)>, ManifestError> {
        let mut entries = Vec::with_capacity(items.len() / 2);
        let mut merges = Vec::new();
        let mut items = items.into_iter();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            let is_merge = matches!(
                &k.value,
                Value::Scalar { text, style: ScalarStyle::Plain } if text == "<<"
            );
            if is_merge {
                merges.push((k, v));
            } else {
                entries.push((k, v));
            }
        }
        self.refuse_duplicates(&entries)?;
        if merges.is_empty() {
            return Ok(entries);
        }
        let mut seen: std::collections::HashSet<String> = entries
            .iter()
            .filter_map(|(k, _)| k.scalar_text().map(str::to_owned))
            .collect();
        for (key, value) in merges {
            let sources = match value.value {
                Value::Mapping(_) => vec![value],
                Value::Sequence(items) if items.iter().all(|i| i.as_mapping().is_some()) => items,
                _ => {
                    return Err(self.error(
                        &key.span,
                        format!(
                            "merge key `<<` needs a mapping or a list of mappings, found {}",
                            value.kind_name()
                        ),
                    ))
                }
            };
            for source in sources {
                if let Value::Mapping(merged) = source.value {
                    for (k, v) in merged {
                        let new = k.scalar_text().is_none_or(|t| seen.insert(t.to_owned()));
                        if new {
                            entries.push((k, v));
                        }
                    }
                }
            }
        }
        Ok(entries)
    }

    fn refuse_duplicates(&self, entries: &[(Node, Node)]) -> Result<(), ManifestError> {
        let mut keys: Vec<(&str, &Span)> = entries
            .iter()
            .filter_map(|(k, _)| k.scalar_text().map(|t| (t, &k.span)))
            .collect();
        if keys.len() < 2 {
            return Ok(());
        }
        keys.sort_by(|a, b| a.0.cmp(b.0).then(a.1.start.cmp(&b.1.start)));
        let duplicate = keys
            .windows(2)
            .filter_map(|w| match w {
                [first, second] if first.0 == second.0 => Some((*first, *second)),
                _ => None,
            })
            .min_by_key(|(_, second)| second.1.start);
        match duplicate {
            Some((first, second)) => Err(self.error(
                second.1,
                format!(
                    "duplicate key `{}` (first at line {}); readers disagree on which one \
                     wins, so remove one of them",
                    second.0, first.1.line
                ),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use super::*;

    fn origin() -> Arc<Origin> {
        Arc::new(Origin::File("t.yaml".into()))
    }

    fn parse(text: &str) -> Vec<Document> {
        parse_documents(text, &origin(), &Limits::default()).unwrap()
    }

    fn parse_err(text: &str, limits: &Limits) -> (usize, usize, String) {
        match parse_documents(text, &origin(), limits) {
            Err(ManifestError::Syntax {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    fn written<'t>(text: &'t str, node: &Node) -> &'t str {
        &text[node.span.start..node.span.end]
    }

    #[test]
    fn quoted_scalar_span_is_exactly_the_quoted_text() {
        let text = "a: \"x:1\"   # c\nb: 'it''s'  # d\nc: plain   # e\n";
        let root = &parse(text)[0].root;
        assert_eq!(written(text, root.get("a").unwrap()), "\"x:1\"");
        assert_eq!(written(text, root.get("b").unwrap()), "'it''s'");
        assert_eq!(root.get("b").unwrap().as_str(), Some("it's"));
        assert_eq!(written(text, root.get("c").unwrap()), "plain");
        let a = root.get("a").unwrap();
        assert_eq!((a.span.line, a.span.column), (1, 4));
    }

    #[test]
    fn double_quoted_span_skips_escaped_quotes() {
        let text = "a: \"x\\\"y\\\\\"  # c\n";
        let a = parse(text)[0].root.get("a").cloned().unwrap();
        assert_eq!(written(text, &a), "\"x\\\"y\\\\\"");
        assert_eq!(a.as_str(), Some("x\"y\\"));
    }

    #[test]
    fn span_skips_anchor_tag_and_comment_before_the_scalar() {
        let text = "a: &x !!str # c\n  \"v\"  # d\nb: *x\n";
        let root = &parse(text)[0].root;
        let a = root.get("a").unwrap();
        assert_eq!(written(text, a), "\"v\"");
        assert_eq!((a.span.line, a.span.column), (2, 3));
        // The alias keeps the anchor's span, so rewriting it rewrites the anchor.
        assert_eq!(root.get("b").unwrap().span, a.span);
    }

    #[test]
    fn multibyte_text_gives_byte_offsets_and_char_columns() {
        let text = "é: ünï\nx: [ \"ö\", ß ]\n";
        let root = &parse(text)[0].root;
        let v = root.get("é").unwrap();
        assert_eq!(written(text, v), "ünï");
        assert_eq!((v.span.line, v.span.column), (1, 4));
        let items = root.get("x").unwrap().as_sequence().unwrap();
        assert_eq!(written(text, &items[0]), "\"ö\"");
        assert_eq!(written(text, &items[1]), "ß");
        assert_eq!(items[1].span.column, 11);
    }

    #[test]
    fn refuses_directives_with_non_ascii_text() {
        for text in [
            "%\u{e9}\n---\ncontainers:\n- image: nginx\n",
            "# c\r\n%X \u{e9}\u{e9}\n---\na: b\n",
            "\u{feff}%\u{e9}\n---\na: b\n",
        ] {
            let (line, column, message) = parse_err(text, &Limits::default());
            assert!(
                message.contains("non-ASCII text in a YAML directive"),
                "{message}"
            );
            assert_eq!((line, column), if line == 1 { (1, 2) } else { (2, 4) });
        }
        // ASCII directives are fine, and positions after them are right.
        let text = "%YAML 1.2\n%TAG !e! tag:e.com,2000:\n---\nk: \u{e9}\nv: 'x'\n";
        let v = parse(text)[0].root.get("v").cloned().unwrap();
        assert_eq!(written(text, &v), "'x'");
    }

    #[test]
    fn positions_are_checked_against_lines_and_text() {
        let text = "a: b\r\nc: d\re: f\n";
        let mut parser = Parser::new_from_str(text);
        let mut cursor = LineCursor::new();
        let mut scalars = 0;
        while let Some(Ok((event, span))) = parser.next_event() {
            if matches!(event, Event::Scalar(..)) {
                assert!(cursor.agrees(text, &span.start), "{span:?}");
                let drifted = saphyr_parser::Marker::new(
                    span.start.index() + 1,
                    span.start.line(),
                    span.start.col(),
                );
                assert!(!cursor.agrees(text, &drifted));
                scalars += 1;
            }
        }
        assert_eq!(scalars, 6);
        assert!(written_matches(
            "'it''s'",
            "it's",
            SaphyrStyle::SingleQuoted
        ));
        assert!(written_matches("a\n  b", "a b", SaphyrStyle::Plain));
        assert!(!written_matches("ginx", "nginx", SaphyrStyle::Plain));
        assert!(!written_matches("aaa", "nginx", SaphyrStyle::DoubleQuoted));
    }

    #[test]
    fn long_multibyte_text_maps_offsets_past_the_checkpoints() {
        let text = format!("k: {}\nz: \"end\"\n", "é".repeat(300));
        let z = parse(&text)[0].root.get("z").cloned().unwrap();
        assert_eq!(written(&text, &z), "\"end\"");
    }

    #[test]
    fn crlf_and_bom_keep_offsets_right() {
        let text = "\u{feff}a: 'b'\r\nc: \"d\"\r\n";
        let root = &parse(text)[0].root;
        assert_eq!(written(text, root.get("a").unwrap()), "'b'");
        let c = root.get("c").unwrap();
        assert_eq!(written(text, c), "\"d\"");
        assert_eq!((c.span.line, c.span.column), (2, 4));
    }

    #[test]
    fn documents_report_their_start_lines() {
        let docs = parse("# c\na: 1\n---\nb: 2\n---\n\n---\n# only a comment\n");
        assert_eq!(docs.len(), 4);
        assert_eq!(docs[0].line, 2);
        assert_eq!(docs[1].line, 3);
        assert!(docs[2].root.is_null());
        assert_eq!(docs[3].line, 7);
    }

    #[test]
    fn json_reads_like_yaml() {
        let text = "{\n\t\"a\":\"b\",\n\t\"c\": [1, {\"d\": null}]\n}\n";
        let root = &parse(text)[0].root;
        assert_eq!(written(text, root.get("a").unwrap()), "\"b\"");
        assert_eq!(
            root.to_json(),
            serde_json::json!({"a": "b", "c": [1, {"d": null}]})
        );
    }

    #[test]
    fn to_json_types_plain_scalars_by_the_core_schema() {
        let text = "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: '1'\ng: 0x1f\nh: yes\ni: .inf\nj:\n";
        assert_eq!(
            parse(text)[0].root.to_json(),
            serde_json::json!({"a": 1, "b": -2, "c": 1.5, "d": true, "e": null, "f": "1",
                               "g": 31, "h": "yes", "i": ".inf", "j": null})
        );
    }

    #[test]
    fn accessors_type_scalars() {
        let root = &parse("a: 12\nb: 'x'\nc: false\nd: \"true\"\ne: null\nf:\n")[0].root;
        assert_eq!(root.get("a").unwrap().as_u64(), Some(12));
        assert_eq!(root.get("b").unwrap().as_u64(), None);
        assert_eq!(root.get("c").unwrap().as_bool(), Some(false));
        assert_eq!(root.get("d").unwrap().as_bool(), None);
        assert!(root.get("e").unwrap().is_null());
        assert_eq!(root.get("e").unwrap().as_str(), None);
        assert!(root.get("f").unwrap().is_null());
        assert_eq!(root.get("d").unwrap().kind_name(), "a string");
        assert_eq!(root.get("a").unwrap().kind_name(), "an integer");
        assert_eq!(root.kind_name(), "a mapping");
    }

    #[test]
    fn merge_keys_apply_with_explicit_keys_winning() {
        let text = "base: &b {image: 'x:1', name: base}\nc:\n  <<: *b\n  name: mine\n";
        let root = &parse(text)[0].root;
        let c = root.get("c").unwrap();
        assert_eq!(c.get("name").unwrap().as_str(), Some("mine"));
        let image = c.get("image").unwrap();
        assert_eq!(image.as_str(), Some("x:1"));
        assert_eq!(written(text, image), "'x:1'");
        assert!(c.get("<<").is_none());
    }

    #[test]
    fn refuses_merge_of_a_scalar() {
        let (line, _, message) = parse_err("a: &a 1\nb:\n  <<: *a\n", &Limits::default());
        assert_eq!(line, 3);
        assert!(message.contains("merge key"), "{message}");
    }

    #[test]
    fn refuses_duplicate_keys() {
        let (line, column, message) =
            parse_err("a: 1\nimage: x\nb: 2\nimage: y\n", &Limits::default());
        assert_eq!((line, column), (4, 1));
        assert!(
            message.contains("duplicate key `image` (first at line 2)"),
            "{message}"
        );
    }

    #[test]
    fn malformed_yaml_reports_the_parser_position() {
        let (line, column, message) = parse_err("a: b\n c: [1,\n", &Limits::default());
        assert!(line >= 2 && column >= 1, "{line}:{column}");
        assert!(message.starts_with("invalid YAML"), "{message}");
        let err = parse_documents("a: 'x\n", &origin(), &Limits::default()).unwrap_err();
        assert!(err.to_string().starts_with("t.yaml:"), "{err}");
    }

    #[test]
    fn refuses_deep_flow_nesting_without_recursing() {
        for text in [
            "[".repeat(10_000),
            "{a: ".repeat(10_000),
            format!("x: {}1{}", "[".repeat(10_000), "]".repeat(10_000)),
        ] {
            let (line, column, message) = parse_err(&text, &Limits::default());
            assert_eq!(line, 1);
            assert!(column > 128, "{column}");
            assert!(message.contains("is deeper than"), "{message}");
        }
    }

    #[test]
    fn refuses_deep_block_nesting() {
        let dashes = "- ".repeat(10_000) + "x\n";
        let (_, _, message) = parse_err(&dashes, &Limits::default());
        assert!(message.contains("deeper than the limit"), "{message}");
        let mut indented = String::new();
        for i in 0..2_000 {
            indented.push_str(&" ".repeat(i));
            indented.push_str("a:\n");
        }
        let (line, _, message) = parse_err(&indented, &Limits::default());
        assert_eq!(line, 129);
        assert!(message.contains("deeper than the limit"), "{message}");
    }

    #[test]
    fn accepts_nesting_at_the_limit() {
        let limits = Limits {
            max_depth: 5,
            ..Limits::default()
        };
        let ok = "[[[[[1]]]]]";
        assert!(parse_documents(ok, &origin(), &limits).is_ok());
        parse_err("[[[[[[1]]]]]]", &limits);
    }

    #[test]
    fn caps_depth_at_the_hard_limit_whatever_the_config_says() {
        let limits = Limits {
            max_depth: usize::MAX,
            ..Limits::default()
        };
        // Block sequences on one line: `- - - x`. 1,000 levels are built, converted to JSON
        // and dropped on a test thread's small stack; 2,000 are refused.
        let deep = "- ".repeat(1_000) + "x\n";
        let docs = parse_documents(&deep, &origin(), &limits).unwrap();
        let json = docs[0].root.to_json();
        assert!(json.is_array());
        drop(docs);
        let deeper = "- ".repeat(2_000) + "x\n";
        let (_, _, message) = parse_err(&deeper, &limits);
        assert!(
            message.contains(&format!("limit of {HARD_MAX_DEPTH} levels")),
            "{message}"
        );
    }

    #[test]
    fn refuses_aliases_that_nest_past_the_limit() {
        let limits = Limits {
            max_depth: 6,
            ..Limits::default()
        };
        let text = "a: &a [[[1]]]\nb: [[[*a]]]\n";
        let (line, _, message) = parse_err(text, &limits);
        assert_eq!(line, 2);
        assert!(message.contains("alias makes nesting deeper"), "{message}");
    }

    fn billion_laughs() -> String {
        let mut text = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
        let names: Vec<char> = ('b'..='j').collect();
        let mut prev = 'a';
        for name in names {
            let refs = vec![format!("*{prev}"); 10].join(",");
            text.push_str(&format!("{name}: &{name} [{refs}]\n"));
            prev = name;
        }
        text
    }

    #[test]
    fn refuses_alias_bomb() {
        let (line, _, message) = parse_err(&billion_laughs(), &Limits::default());
        assert!(line <= 7, "{line}");
        assert!(message.contains("alias bomb"), "{message}");
    }

    #[test]
    fn refuses_many_small_alias_bombs_across_documents() {
        let limits = Limits {
            max_nodes: 10_000,
            ..Limits::default()
        };
        let doc = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n\
                   c: [*b,*b,*b,*b,*b]\n";
        assert!(parse_documents(doc, &origin(), &limits).is_ok());
        let many = vec![doc; 50].join("---\n");
        let (_, _, message) = parse_err(&many, &limits);
        assert!(message.contains("in this file"), "{message}");
    }

    #[test]
    fn refuses_text_over_the_size_limit() {
        let limits = Limits {
            max_file_bytes: 10,
            ..Limits::default()
        };
        let err = parse_documents("a: 0123456789\n", &origin(), &limits).unwrap_err();
        assert!(
            matches!(err, ManifestError::TooLarge { limit: 10, .. }),
            "{err}"
        );
    }

    #[test]
    fn refuses_recursive_alias() {
        let (_, _, message) = parse_err("a: &a [1, *a]\n", &Limits::default());
        assert!(message.contains("recursive alias"), "{message}");
    }

    #[test]
    fn block_scalars_have_block_style() {
        let text = "a: |\n  x\nb: >-\n  y\n";
        let root = &parse(text)[0].root;
        assert!(matches!(
            &root.get("a").unwrap().value,
            Value::Scalar { text, style: ScalarStyle::Block } if text == "x\n"
        ));
    }
}
