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
//! - The data is what Kubernetes reads (sigs.k8s.io/yaml on go-yaml v2, YAML 1.1; see
//!   `docs/yaml.md`), or the document is refused with [`ManifestError::Ambiguous`]
//!   (`ambiguous-yaml`): plain scalars are typed as go-yaml types them (`yes` and `off` are
//!   booleans, `0755` is octal, `1_000` is 1000) and mapping keys become the JSON keys it makes.
//!   Refused: tags (but `!!str` on text that is a string anyway, `!!map`, `!!seq`), NEL, LS and
//!   PS anywhere (line breaks for go-yaml, text for us), `.inf`/`.nan`, the `\/` escape, null,
//!   float and collection keys.
//! - Merge keys (plain `<<`, which Kubernetes applies) are applied when a mapping ends: keys
//!   written after `<<` win, then the merged mappings in order (the first that sets a key).
//!   A key written before `<<` that a merged mapping also sets, and a second `<<` in one
//!   mapping, are refused: go-yaml v2 and other readers disagree on which value wins. A quoted
//!   `"<<"` is an ordinary key, for both readers.
//! - Duplicate keys in a mapping (after conversion to JSON keys) are refused: readers disagree
//!   on which one wins, so one could show a checked image to us and another to the cluster.
//! - The parser is saphyr-parser with a patch (`patches/saphyr-parser`) that gives it
//!   libyaml's acceptance of flow collections closed left of their key's indentation.
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

use saphyr_parser::{Event, Parser, ScalarStyle as SaphyrStyle, ScanError, Tag};

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
    refuse_unicode_line_breaks(text, origin)?;
    refuse_kubectl_separators(text, origin)?;
    // kubectl reads a file line by line, so its last line always ends with a break. A last
    // line of blanks without one is read by our parser into a block scalar above it as one
    // more line (`a: |\n  x\n  ` is `x\n\n`, for kubectl `x\n`): parse it terminated. Only
    // blanks follow the original text, so every position stays where it was.
    let terminated;
    let text = match text.rsplit_once(['\n', '\r']) {
        Some((_, last)) if !last.is_empty() && last.chars().all(|c| c == ' ' || c == '\t') => {
            terminated = format!("{text}\n");
            terminated.as_str()
        }
        _ => text,
    };
    let mut builder = Builder::new(text, origin, limits);
    let mut parser = Parser::new_from_str(text);
    while let Some(item) = parser.next_event() {
        let (event, span) = item.map_err(|e| scan_error(text, origin, &e))?;
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

/// Refuses NEL (U+0085), LINE SEPARATOR (U+2028) and PARAGRAPH SEPARATOR (U+2029) anywhere:
/// go-yaml (YAML 1.1) breaks lines at them where our parser (YAML 1.2) reads them as text, so
/// inside a `# comment` they end the comment for Kubernetes and what follows is read as data
/// (a second `image:` key). Escaped in a double-quoted string (`"\u2028"`) they are fine.
fn refuse_unicode_line_breaks(text: &str, origin: &Arc<Origin>) -> Result<(), ManifestError> {
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
fn refuse_kubectl_separators(text: &str, origin: &Arc<Origin>) -> Result<(), ManifestError> {
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
fn line_and_column(before: &str) -> (usize, usize) {
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

fn scan_error(text: &str, origin: &Arc<Origin>, e: &ScanError) -> ManifestError {
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
fn offset_of(text: &str, line: usize, column: usize) -> usize {
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
fn alias_name_at(text: &str, line: usize, col: usize) -> String {
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
                    // The parser refuses the keys `json_key` cannot convert.
                    let key = json_key(k).unwrap_or_else(|| k.to_json().to_string());
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

/// What Kubernetes' YAML reader (sigs.k8s.io/yaml on go-yaml v2, YAML 1.1 types) makes of a
/// plain scalar: `resolve` in go-yaml's `resolve.go`, with timestamps left as strings (go-yaml
/// v2 hands them to an `interface{}` as their text).
#[derive(Debug, Clone, PartialEq)]
enum Plain {
    Null,
    Bool(bool),
    Int(serde_json::Number),
    Float(f64),
    /// `.inf`, `.nan` and their spellings: JSON cannot hold them, and kubectl fails the file.
    NotFinite,
    Str,
}

fn resolve_plain(text: &str) -> Plain {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Plain::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Plain::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Plain::Bool(false)
        }
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => return Plain::NotFinite,
        _ => {}
    }
    match text.as_bytes().first() {
        Some(b'.') => {
            if is_yaml11_float(text) {
                if let Some(f) = finite(text) {
                    return Plain::Float(f);
                }
            }
            Plain::Str
        }
        Some(b'+' | b'-' | b'0'..=b'9') => {
            let plain = text.replace('_', "");
            if let Some(n) = go_parse_int(&plain) {
                return Plain::Int(n);
            }
            if is_yaml11_float(&plain) {
                if let Some(f) = finite(&plain) {
                    return Plain::Float(f);
                }
            }
            Plain::Str
        }
        _ => Plain::Str,
    }
}

/// A float that Go's `strconv.ParseFloat` reads without error (it fails on overflow, and
/// go-yaml then keeps the text as a string).
fn finite(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Go's `strconv.ParseInt(text, 0, 64)`, then `ParseUint(text, 0, 64)`: an optional sign
/// (`ParseInt` only), then `0x`, `0o`, `0b`, a leading `0` (octal) or decimal digits.
fn go_parse_int(text: &str) -> Option<serde_json::Number> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, text.get(1..)?),
        b'+' => (false, text.get(1..)?),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(d) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        (16, d)
    } else if let Some(d) = unsigned
        .strip_prefix("0o")
        .or_else(|| unsigned.strip_prefix("0O"))
    {
        (8, d)
    } else if let Some(d) = unsigned
        .strip_prefix("0b")
        .or_else(|| unsigned.strip_prefix("0B"))
    {
        (2, d)
    } else if unsigned.len() > 1 && unsigned.starts_with('0') {
        (8, unsigned.get(1..)?)
    } else {
        (10, unsigned)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        // ParseInt: down to i64::MIN; ParseUint refuses a sign.
        let n = 0i128 - i128::from(magnitude);
        i64::try_from(n).ok().map(serde_json::Number::from)
    } else if text.starts_with('+') {
        i64::try_from(magnitude).ok().map(serde_json::Number::from)
    } else {
        Some(serde_json::Number::from(magnitude))
    }
}

/// go-yaml's `yamlStyleFloat`:
/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml11_float(text: &str) -> bool {
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
    if int_digits == 0 {
        // `\.[0-9]+`
        if b.get(i) != Some(&b'.') {
            return false;
        }
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else if b.get(i) == Some(&b'.') {
        i += 1;
        digits(&mut i);
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

/// A plain scalar as JSON, typed as Kubernetes types it.
fn plain_scalar_json(text: &str) -> serde_json::Value {
    use serde_json::Value as J;
    match resolve_plain(text) {
        Plain::Null => J::Null,
        Plain::Bool(b) => J::Bool(b),
        Plain::Int(n) => J::Number(n),
        Plain::Float(f) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
        Plain::NotFinite | Plain::Str => J::String(text.to_owned()),
    }
}

/// The JSON object key Kubernetes makes of a mapping key (sigs.k8s.io/yaml's
/// `convertToJSONableObject`): strings as they are, integers in decimal, booleans as
/// `true`/`false`. `None` for keys it cannot convert or converts by rules we do not repeat:
/// null (an error there) and floats (formatted as 32-bit floats).
fn json_key(key: &Node) -> Option<String> {
    match &key.value {
        Value::Scalar {
            text,
            style: ScalarStyle::Plain,
        } => match resolve_plain(text) {
            Plain::Str => Some(text.clone()),
            Plain::Int(n) => Some(n.to_string()),
            Plain::Bool(b) => Some(b.to_string()),
            Plain::Null | Plain::Float(_) | Plain::NotFinite => None,
        },
        Value::Scalar { text, .. } => Some(text.clone()),
        Value::Null | Value::Sequence(_) | Value::Mapping(_) => None,
    }
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
    /// A flow collection (`[...]`, `{...}`), or inside one.
    flow: bool,
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

    fn ambiguous(&self, span: &Span, message: String) -> ManifestError {
        ManifestError::Ambiguous {
            origin: self.origin.clone(),
            line: span.line,
            column: span.column,
            message,
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
                if anchor > 0 {
                    self.check_anchor_name(&self.positions.span(&raw), '&')?;
                }
                self.check_scalar(&raw, &span, &text, style)?;
                self.check_scalar_meaning(&span, &text, style, tag.as_deref())?;
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
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                let mapping = matches!(event, Event::MappingStart(..));
                let span = self.positions.span(&raw);
                if anchor > 0 {
                    self.check_anchor_name(&span, '&')?;
                }
                self.check_collection_tag(&span, mapping, tag.as_deref())?;
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
                let flow = self.stack.last().is_some_and(|f| f.flow)
                    || opens_flow(self.positions.text.get(span.start..).unwrap_or_default());
                self.stack.push(Frame {
                    mapping,
                    flow,
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
                self.check_anchor_name(&span, '*')?;
                let Some(anchored) = self.anchors.get(&id) else {
                    if self.stack.iter().any(|f| f.anchor == id) {
                        return Err(self.error(
                            &span,
                            "alias refers to a node that contains it (recursive alias)".to_owned(),
                        ));
                    }
                    // saphyr keeps a previous document's anchors; YAML and Kubernetes do not.
                    let name = alias_name_at(
                        self.positions.text,
                        span.line,
                        span.column.saturating_sub(1),
                    );
                    return Err(self.error(
                        &span,
                        format!(
                            "undefined alias `{name}`: no anchor `&{name}` before it in this \
                             document (anchors do not reach across `---`)"
                        ),
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

    /// Pairs up keys and values, refuses keys Kubernetes would read otherwise and duplicate
    /// keys, and applies merge keys (`<<`).
    fn finish_mapping(&self, items: Vec<Node>) -> Result<Vec<(Node, Node)>, ManifestError> {
        let mut entries = Vec::with_capacity(items.len() / 2);
        // Each merge key with the number of explicit entries before it.
        let mut merges = Vec::new();
        let mut items = items.into_iter();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            let is_merge = matches!(
                &k.value,
                Value::Scalar { text, style: ScalarStyle::Plain } if text == "<<"
            );
            if is_merge {
                merges.push((entries.len(), k, v));
            } else {
                entries.push((k, v));
            }
        }
        let keys = self.json_keys(&entries)?;
        self.refuse_duplicates(&entries, &keys)?;
        let mut merges = merges.into_iter();
        let Some((explicit_before, key, value)) = merges.next() else {
            return Ok(entries);
        };
        if let Some((_, second, _)) = merges.next() {
            return Err(self.ambiguous(
                &second.span,
                format!(
                    "a second merge key `<<` in one mapping (first at line {}): Kubernetes' \
                     reader lets the last one win, others refuse it or let the first win \
                     (hint: use one `<<: [*a, *b]`)",
                    key.span.line
                ),
            ));
        }
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
        let explicit: HashMap<&str, usize> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        let mut seen = std::collections::HashSet::new();
        let mut merged_entries = Vec::new();
        for source in sources {
            let Value::Mapping(merged) = source.value else {
                continue;
            };
            for (k, v) in merged {
                // Keys of a merged mapping were checked when it was read.
                let name = json_key(&k).unwrap_or_default();
                match explicit.get(name.as_str()) {
                    Some(&i) if i < explicit_before => {
                        let span = entries.get(i).map_or(&key.span, |(e, _)| &e.span);
                        return Err(self.ambiguous(
                            span,
                            format!(
                                "`{name}` is set before the merge key `<<` on line {} that \
                                 also sets it: Kubernetes' reader (go-yaml v2) lets the merged \
                                 value win, the YAML spec and other readers the explicit one \
                                 (hint: put `<<` first)",
                                key.span.line
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        // From a list of mappings, the first one that sets a key wins.
                        if seen.insert(name) {
                            merged_entries.push((k, v));
                        }
                    }
                }
            }
        }
        entries.extend(merged_entries);
        Ok(entries)
    }

    /// The JSON key of every entry, refusing the keys that Kubernetes cannot convert or
    /// converts by rules we do not repeat.
    fn json_keys(&self, entries: &[(Node, Node)]) -> Result<Vec<String>, ManifestError> {
        entries
            .iter()
            .map(|(k, _)| {
                json_key(k).ok_or_else(|| {
                    self.ambiguous(
                        &k.span,
                        format!(
                            "a mapping key that is {}: Kubernetes' reader refuses it or turns \
                             it into a string by its own rules (hint: quote the key)",
                            k.kind_name()
                        ),
                    )
                })
            })
            .collect()
    }

    fn refuse_duplicates(
        &self,
        entries: &[(Node, Node)],
        names: &[String],
    ) -> Result<(), ManifestError> {
        let mut keys: Vec<(&str, &Span)> = names
            .iter()
            .zip(entries)
            .map(|(name, (k, _))| (name.as_str(), &k.span))
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

    /// Refuses what Kubernetes would read differently in a scalar: a tag (other than `!!str`
    /// on text that is a string anyway), `.inf`/`.nan`, and the `\/` escape.
    fn check_scalar_meaning(
        &self,
        span: &Span,
        value: &str,
        style: SaphyrStyle,
        tag: Option<&Tag>,
    ) -> Result<(), ManifestError> {
        let plain = style == SaphyrStyle::Plain;
        if let Some(tag) = tag {
            // `!!str <<` is the key `<<` for go-yaml, a merge for an untagged reading.
            let string_anyway = !plain || (resolve_plain(value) == Plain::Str && value != "<<");
            if tag_name(tag) == "tag:yaml.org,2002:str" && string_anyway {
                return Ok(());
            }
            let why = if tag_name(tag) == "tag:yaml.org,2002:str" {
                format!(
                    "`!!str` makes `{value}` a string for Kubernetes, where an untagged reader \
                     sees {} (hint: write it quoted: `\"{value}\"`)",
                    plain_kind(value)
                )
            } else {
                "Kubernetes' reader applies it (`!!binary` decodes base64, `!!int` and \
                 `!!bool` retype quoted text, other tags turn a value into a string) and \
                 supplygate does not read tags (hint: remove the tag)"
                    .to_owned()
            };
            return Err(self.ambiguous(span, format!("tag `{}`: {why}", tag_display(tag))));
        }
        if self.stack.is_empty() && matches!(style, SaphyrStyle::Literal | SaphyrStyle::Folded) {
            // YAML 1.1 (libyaml, go-yaml) wants a top-level block scalar's lines indented at
            // least one column, YAML 1.2 does not: `|\n#x` is `#x` for us and empty there.
            return Err(self.ambiguous(
                span,
                "a block scalar (`|`, `>`) as a whole document: YAML 1.1 readers and ours \
                 disagree on its indentation (a document that is text is no Kubernetes \
                 object anyway)"
                    .to_owned(),
            ));
        }
        let in_flow = self.stack.last().is_some_and(|f| f.flow);
        if plain && in_flow && (value.contains('?') || value.starts_with(':')) {
            return Err(self.ambiguous(
                span,
                format!(
                    "`{value}` inside `[...]` or `{{...}}`: for Kubernetes' reader (YAML 1.1) \
                     `?` is an indicator there (`?b` is the key `b`) and a plain scalar cannot \
                     start with `:`; for ours both are text (hint: quote it)"
                ),
            ));
        }
        if plain && resolve_plain(value) == Plain::NotFinite {
            return Err(self.ambiguous(
                span,
                format!(
                    "`{value}` is an infinite or not-a-number float that Kubernetes cannot \
                     read (JSON has none) (hint: quote it)"
                ),
            ));
        }
        if style == SaphyrStyle::DoubleQuoted {
            let written = self
                .positions
                .text
                .get(span.start..span.end)
                .unwrap_or_default();
            let mut chars = written.chars();
            while let Some(c) = chars.next() {
                if c == '\\' && chars.next() == Some('/') {
                    return Err(self.ambiguous(
                        span,
                        "the escape `\\/` (YAML 1.2) is an error for Kubernetes' reader \
                         (YAML 1.1) (hint: write `/`)"
                            .to_owned(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Refuses an anchor (`&name`, `indicator` `&`) or alias (`*name`) whose name has other
    /// characters than letters, digits, `-` and `_`: libyaml and go-yaml end the name there
    /// (`&a?b x` anchors `a` on `?b x`), YAML 1.2 and our parser read on.
    fn check_anchor_name(&self, span: &Span, indicator: char) -> Result<(), ManifestError> {
        let text = self.positions.text.get(span.start..).unwrap_or_default();
        // The node's properties come first, in either order: `&a !t x` or `!t &a x`.
        let mut rest = text;
        let mut at = span.start;
        while let Some(tag) = rest.strip_prefix('!') {
            let end = tag.find(char::is_whitespace).map_or(tag.len(), |i| i + 1);
            let skipped = rest.len() - tag.len() + end;
            let after = rest.get(skipped..).unwrap_or_default();
            let trimmed = after.trim_start();
            at += skipped + (after.len() - trimmed.len());
            rest = trimmed;
        }
        let Some(name) = rest.strip_prefix(indicator) else {
            return Ok(());
        };
        let name: String = name
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
            .collect();
        if name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        {
            return Ok(());
        }
        let before = self.positions.text.get(..at).unwrap_or_default();
        let (line, column) = line_and_column(before);
        Err(ManifestError::Ambiguous {
            origin: self.origin.clone(),
            line,
            column,
            message: format!(
                "{} name `{name}`: Kubernetes' reader (libyaml's grammar) ends a name at the \
                 first character that is not a letter, digit, `-` or `_` and reads the rest as \
                 data (hint: rename it)",
                if indicator == '&' { "anchor" } else { "alias" }
            ),
        })
    }

    /// Refuses a tag on a collection other than `!!map` on a mapping or `!!seq` on a
    /// sequence (Kubernetes ignores custom tags there, `!!set` and `!!omap` change the data).
    fn check_collection_tag(
        &self,
        span: &Span,
        mapping: bool,
        tag: Option<&Tag>,
    ) -> Result<(), ManifestError> {
        let Some(tag) = tag else {
            return Ok(());
        };
        let expected = if mapping {
            "tag:yaml.org,2002:map"
        } else {
            "tag:yaml.org,2002:seq"
        };
        if tag_name(tag) == expected {
            return Ok(());
        }
        Err(self.ambiguous(
            span,
            format!(
                "tag `{}` on a {}: readers differ on what it means (hint: remove the tag)",
                tag_display(tag),
                if mapping { "mapping" } else { "list" }
            ),
        ))
    }
}

/// Whether a collection written at the start of `text` is a flow collection: `[` or `{` after
/// its anchor and tag, if any (saphyr's span starts at them), and blanks or comments.
fn opens_flow(text: &str) -> bool {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.starts_with(['&', '!']) {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            rest = rest.get(end..).unwrap_or_default();
        } else if rest.starts_with('#') {
            let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
            rest = rest.get(end..).unwrap_or_default();
        } else {
            return rest.starts_with(['[', '{']);
        }
    }
}

/// A tag's full name (`tag:yaml.org,2002:str` for `!!str`, `!foo` for a local tag).
fn tag_name(tag: &Tag) -> String {
    format!("{}{}", tag.handle, tag.suffix)
}

/// A tag as it is usually written.
fn tag_display(tag: &Tag) -> String {
    match tag.handle.as_str() {
        "tag:yaml.org,2002:" => format!("!!{}", tag.suffix),
        "!" | "" => format!("!{}", tag.suffix.trim_start_matches('!')),
        handle => format!("!<{handle}{}>", tag.suffix),
    }
}

/// What an untagged plain scalar is, for messages.
fn plain_kind(text: &str) -> &'static str {
    match resolve_plain(text) {
        Plain::Null => "null",
        Plain::Bool(_) => "a boolean",
        Plain::Int(_) => "an integer",
        Plain::Float(_) | Plain::NotFinite => "a number",
        Plain::Str => "a string",
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
    fn to_json_types_plain_scalars_as_kubernetes_does() {
        // YAML 1.1 as go-yaml v2 reads it (kubectl's JSON for the same text): `yes` and `n`
        // are booleans, `0755` is octal, `1_000` has separators, `1:30` and dates are text.
        let text = "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: '1'\ng: 0x1f\nh: yes\nj:\n\
                    k: 0755\nl: 0o755\nm: 1_000\nx: 1:30\no: 2001-12-14\np: n\nq: 1e3\n\
                    r: 0b101\ns: 09\nt: +12\nu: 1e400\nv: -0x1F\nw: 18446744073709551615\n";
        assert_eq!(
            parse(text)[0].root.to_json(),
            serde_json::json!({"a": 1, "b": -2, "c": 1.5, "d": true, "e": null, "f": "1",
                               "g": 31, "h": true, "j": null, "k": 493, "l": 493, "m": 1000,
                               "x": "1:30", "o": "2001-12-14", "p": false, "q": 1000.0,
                               "r": 5, "s": 9.0, "t": 12, "u": "1e400", "v": -31,
                               "w": 18_446_744_073_709_551_615_u64})
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
    fn refuses_lines_kubectl_splits_otherwise() {
        let limits = Limits::default();
        for text in [
            "a: 1\n---# : |\n  kind: Pod\n",
            "a: 1\n---#\n",
            "a: 1\n--- {b: 2}\n",
            "a: 1\n---x\n",
            "a: 1\r\n---#x\r\n",
        ] {
            let err = parse_documents(text, &origin(), &limits).unwrap_err();
            assert!(
                matches!(
                    err,
                    ManifestError::Ambiguous {
                        line: 2,
                        column: 1,
                        ..
                    }
                ),
                "{text:?}: {err:?}"
            );
        }
        for text in [
            "a: 1\n---\nb: 2\n",
            "a: 1\n--- # c\nb: 2\n",
            "a: 1\r\n---\t\r\nb: 2\r\n",
        ] {
            assert_eq!(parse(text).len(), 2, "{text:?}");
        }
        // Inside a block scalar, indented: not at a line's start.
        assert_eq!(parse("a: |\n  ---#x\n").len(), 1);
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

    fn ambiguous_err(text: &str) -> (usize, usize, String) {
        match parse_documents(text, &origin(), &Limits::default()) {
            Err(ManifestError::Ambiguous {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("expected an ambiguous-yaml refusal, got {other:?}"),
        }
    }

    #[test]
    fn reports_a_tab_where_it_is() {
        let text = "a:\n  b: 1\n  c: 2\n  d: 3\n  e: 4\n  f: 5\n  name: abcdefgh\n\timage: x\n";
        let (line, column, message) = parse_err(text, &Limits::default());
        assert_eq!((line, column), (8, 1), "{message}");
        assert!(message.contains("found a tab"), "{message}");
    }

    #[test]
    fn names_an_undefined_alias() {
        for (text, line) in [("a: 1\nb: *nope\n", 2), ("x: &nope 1\n---\nb: *nope\n", 3)] {
            let (l, column, message) = parse_err(text, &Limits::default());
            assert_eq!((l, column), (line, 4));
            assert!(message.starts_with("undefined alias `nope`"), "{message}");
        }
    }

    #[test]
    fn accepts_flow_collections_closed_at_the_key_column() {
        let text =
            "c:\n  args: [\n    a, b,\n  ]\n  env: [\n  x\n  ]\n  cmd: ['\n    echo \"hi\"\n  ']\n";
        let root = &parse(text)[0].root;
        assert_eq!(
            root.to_json(),
            serde_json::json!({"c": {"args": ["a", "b"], "env": ["x"], "cmd": [" echo \"hi\" "]}})
        );
        let text = "c:\n  d:\n    v: [\"a\n  b\"]\n";
        let v = parse(text)[0]
            .root
            .get("c")
            .unwrap()
            .get("d")
            .unwrap()
            .get("v")
            .cloned();
        let items = v.unwrap();
        let item = &items.as_sequence().unwrap()[0];
        assert_eq!(item.as_str(), Some("a b"));
        assert_eq!(written(text, item), "\"a\n  b\"");
    }

    #[test]
    fn refuses_unicode_line_breaks() {
        for (c, name) in [
            ('\u{2028}', "LINE SEPARATOR"),
            ('\u{2029}', "PARAGRAPH SEPARATOR"),
            ('\u{85}', "NEXT LINE"),
        ] {
            let text = format!("a: 1\nimage: signed:1 # x{c}image: evil:1\n");
            let (line, column, message) = ambiguous_err(&text);
            assert_eq!((line, column), (2, 20));
            assert!(message.contains(name), "{message}");
        }
        // Escaped, it is only text.
        let root = &parse("a: \"x\\u2028y\"\n")[0].root;
        assert_eq!(root.get("a").unwrap().as_str(), Some("x\u{2028}y"));
    }

    #[test]
    fn refuses_tags_that_change_the_data() {
        for (text, needle) in [
            ("c:\n  !!binary aW1hZ2U=: evil:1\n", "tag `!!binary`"),
            ("image: !!str null\n", "`!!str` makes `null` a string"),
            ("image: !!str\n", "`!!str` makes `` a string"),
            ("a: !!int \"3\"\n", "tag `!!int`"),
            ("a: !foo bar\n", "tag `!foo`"),
            ("a: ! 3\n", "tag `!`"),
            ("a: !!set {x, y}\n", "tag `!!set` on a mapping"),
            ("a: !!omap [x: 1]\n", "tag `!!omap` on a list"),
            (
                "%TAG !! tag:example.com,2000:\n---\na: !!str x\n",
                "tag `!<tag:example.com",
            ),
            (
                "b: &b {image: evil}\nc:\n  !!merge \"<<\": *b\n",
                "tag `!!merge`",
            ),
            (
                "b: &b {image: evil}\nc:\n  !!str <<: *b\n",
                "`!!str` makes `<<` a string",
            ),
        ] {
            let (_, _, message) = ambiguous_err(text);
            assert!(message.contains(needle), "{text:?}: {message}");
        }
        // Tags that change nothing are read.
        let root = &parse("a: !!str x\nb: !!str '1'\nc: !!map {d: !!seq [e]}\n")[0].root;
        assert_eq!(
            root.to_json(),
            serde_json::json!({"a": "x", "b": "1", "c": {"d": ["e"]}})
        );
    }

    #[test]
    fn merge_keys_follow_kubernetes_or_are_refused() {
        // Quoted `<<` is an ordinary key for both readers.
        let root = &parse("c: {\"<<\": {image: evil}}\n")[0].root;
        assert_eq!(
            root.to_json(),
            serde_json::json!({"c": {"<<": {"image": "evil"}}})
        );
        // The first of a list of mappings wins, like go-yaml.
        let root = &parse("c: {<<: [{image: first}, {image: second}]}\n")[0].root;
        assert_eq!(
            root.get("c").unwrap().get("image").unwrap().as_str(),
            Some("first")
        );
        let (line, column, message) = ambiguous_err("c:\n  image: signed\n  <<: {image: evil}\n");
        assert_eq!((line, column), (2, 3));
        assert!(
            message.contains("`image` is set before the merge key"),
            "{message}"
        );
        let (line, _, message) = ambiguous_err("c: {<<: {image: a},\n  <<: {image: b}}\n");
        assert_eq!(line, 2);
        assert!(message.contains("a second merge key"), "{message}");
    }

    #[test]
    fn keys_are_converted_like_kubernetes_and_checked_for_duplicates_after() {
        let root = &parse("a: {yes: v, 0755: s, 1_0: t, 0x10: z, n: w}\n")[0].root;
        assert_eq!(
            root.to_json(),
            serde_json::json!({"a": {"true": "v", "493": "s", "10": "t", "16": "z", "false": "w"}})
        );
        let (line, _, message) = parse_err("a: {1: x, \"1\": y}\n", &Limits::default());
        assert_eq!(line, 1);
        assert!(message.contains("duplicate key `1`"), "{message}");
        for text in ["a: {1.5: x}\n", "a: {~: x}\n", "a: {[1]: x}\n"] {
            let (_, _, message) = ambiguous_err(text);
            assert!(message.contains("a mapping key that is"), "{message}");
        }
    }

    #[test]
    fn refuses_question_marks_in_flow_plain_scalars() {
        // kubectl: `[a, ?b: c]` is `["a", {"b": "c"}]` and `[?c]` is `[{"c": null}]`.
        for (text, expected) in [
            ("a: [a, ?b: c]\n", 1),
            ("a: {b: [?c]}\n", 1),
            ("c: [{name: a, ?image: evil}]\n", 1),
            ("c: &c [?image: evil]\n", 1),
            ("c: &c # x\n  !!seq [?image: evil]\n", 2),
        ] {
            let (line, _, message) = ambiguous_err(text);
            assert_eq!(line, expected);
            assert!(message.contains("`?` is an indicator there"), "{message}");
        }
        // Outside flow collections, and quoted, `?` is text for both.
        let root = &parse("a: c?d\nb: ['?c', \"x?y\"]\nc: ?d\n")[0].root;
        assert_eq!(
            root.to_json(),
            serde_json::json!({"a": "c?d", "b": ["?c", "x?y"], "c": "?d"})
        );
    }

    #[test]
    fn reads_a_last_line_of_blanks_without_a_break_as_kubectl_does() {
        // Found by the yaml_kubernetes fuzz target; the values are kubectl's.
        for (text, value) in [
            ("pie: |\n e: |\n ", "e: |\n"),
            ("a: |\n  x\n  ", "x\n"),
            ("a: |\n  x\n   ", "x\n \n"),
            ("a: |\n  x", "x\n"),
        ] {
            let root = &parse(text)[0].root;
            let json = root.to_json();
            let got = json.as_object().and_then(|o| o.values().next()).cloned();
            assert_eq!(got, Some(serde_json::json!(value)), "{text:?}");
        }
        let docs = parse("a: 1\nimage: nginx\n  ");
        assert_eq!(docs.len(), 1);
    }

    #[test]
    fn refuses_anchor_names_that_libyaml_ends_early() {
        // For go-yaml, `&a?image` is the anchor `a` on the scalar `?image`.
        for (text, line, column) in [
            ("a: &L?z\n", 1, 4),
            ("a: &x.y [1]\n", 1, 4),
            ("a: !!str &x:y b\n", 1, 10),
            ("a: &ok 1\nb: *ok\nc: [&x? 2]\n", 3, 5),
        ] {
            let (l, c, message) = ambiguous_err(text);
            assert_eq!((l, c), (line, column), "{text:?}: {message}");
            assert!(message.contains("name `"), "{message}");
        }
        let root = &parse("a: &a-1_B {x: 1}\nb: *a-1_B\nc: !!str &t yz\n")[0].root;
        assert_eq!(
            root.to_json(),
            serde_json::json!({"a": {"x": 1}, "b": {"x": 1}, "c": "yz"})
        );
    }

    #[test]
    fn refuses_what_kubernetes_cannot_read() {
        for text in [
            "a: .inf\n",
            "a: [-.Inf]\n",
            "a: .nan\n",
            "a: \"\\/\"\n",
            "a: [c?d]\n",
            "a: [:d]\n",
        ] {
            let (line, _, _) = ambiguous_err(text);
            assert_eq!(line, 1);
        }
        let (_, _, message) = ambiguous_err("|\n#x\n");
        assert!(message.contains("block scalar"), "{message}");
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
