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

use std::sync::Arc;

use saphyr_parser::Parser;

use super::{Limits, ManifestError, Origin, ScalarStyle, Span};

mod builder;
mod checks;
mod positions;
mod scalar;

use builder::*;
use checks::*;
use scalar::*;

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

#[cfg(test)]
mod tests;
