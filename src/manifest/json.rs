//! Stage (1) for objects already in JSON (an admission request's `object`): the JSON text read
//! straight into the tree the YAML reader builds ([`Node`]), so that the same walker finds the
//! same images with the same semantics, without writing the object out as text and reading it
//! back with the YAML reader.
//!
//! The tree is what the YAML reader makes of the same object serialised as JSON text (which is
//! what the webhook did before): strings are double-quoted scalars, numbers, booleans and
//! `null` plain scalars with serde_json's text for them, mapping keys double-quoted strings.
//! It is positions-free: every node's span is line 1, column 1, and its `start` is the node's
//! place in document order (pre-order), so that sorting sites by `span.start` keeps them in
//! the order they are written.
//!
//! Refused as the YAML reader refuses them in the same object ([`ObjectTree::check`]): more
//! than `max_depth` nested collections, more than `max_nodes` nodes, more than
//! `max_file_bytes` of JSON, and U+0085, U+2028 or U+2029 in a string or key. A key written
//! twice in one mapping is refused too (readers disagree on which value wins).

use std::fmt;
use std::sync::Arc;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::yaml::{Node, Value, HARD_MAX_DEPTH};
use super::{Limits, ManifestError, Origin, ScalarStyle, Span};

/// A JSON object read into a [`Node`] tree, with what the limits are checked against.
#[derive(Debug, Clone)]
pub struct ObjectTree {
    /// The object.
    pub root: Node,
    /// Bytes of JSON text it was read from.
    bytes: usize,
    /// Deepest nesting of collections.
    depth: usize,
    /// Nodes, keys included.
    nodes: usize,
    /// The first construct the YAML reader would refuse in the same object, and why.
    refused: Option<String>,
}

impl ObjectTree {
    /// Reads one JSON value. Only serde_json's own limits apply here (its recursion limit
    /// keeps the stack bounded); [`Self::check`] applies the configured ones.
    ///
    /// # Errors
    /// When `text` is not one JSON value.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        let mut state = State::default();
        let mut de = serde_json::Deserializer::from_str(text);
        let root = Seed(&mut state).deserialize(&mut de)?;
        de.end()?;
        Ok(Self {
            root,
            bytes: text.len(),
            depth: state.max_depth,
            nodes: state.ordinal,
            refused: state.refused,
        })
    }

    /// Refuses what the YAML reader would refuse in the same object under `limits`.
    ///
    /// # Errors
    /// [`ManifestError::TooLarge`], [`ManifestError::Syntax`] (a limit) or
    /// [`ManifestError::Ambiguous`].
    pub fn check(&self, origin: &Arc<Origin>, limits: &Limits) -> Result<(), ManifestError> {
        if u64::try_from(self.bytes).map_or(true, |len| len > limits.max_file_bytes) {
            return Err(ManifestError::TooLarge {
                origin: origin.clone(),
                limit: limits.max_file_bytes,
            });
        }
        let syntax = |message: String| ManifestError::Syntax {
            origin: origin.clone(),
            line: 1,
            column: 1,
            message,
        };
        let max_depth = limits.max_depth.min(HARD_MAX_DEPTH);
        if self.depth > max_depth {
            return Err(syntax(format!(
                "nesting is deeper than the limit of {max_depth} levels"
            )));
        }
        if self.nodes > limits.max_nodes {
            return Err(syntax(format!(
                "document has more than {} nodes (aliases expanded); refusing it as a possible \
                 alias bomb",
                limits.max_nodes
            )));
        }
        if let Some(message) = &self.refused {
            return Err(ManifestError::Ambiguous {
                origin: origin.clone(),
                line: 1,
                column: 1,
                message: message.clone(),
            });
        }
        Ok(())
    }
}

#[derive(Default)]
struct State {
    /// Nodes started so far: the next node's place in document order.
    ordinal: usize,
    depth: usize,
    max_depth: usize,
    refused: Option<String>,
}

impl State {
    fn node(&mut self, value: Value) -> Node {
        let span = self.span();
        Node { span, value }
    }

    fn span(&mut self) -> Span {
        let start = self.ordinal;
        self.ordinal += 1;
        Span {
            line: 1,
            column: 1,
            start,
            end: start + 1,
        }
    }

    fn text(&mut self, text: String, style: ScalarStyle) -> Node {
        if self.refused.is_none() {
            if let Some(c) = text
                .chars()
                .find(|c| matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}'))
            {
                self.refused = Some(format!(
                    "U+{:04X} is a line break for Kubernetes' YAML reader (YAML 1.1) and text \
                     for ours; refused as in a manifest file",
                    u32::from(c)
                ));
            }
        }
        self.node(Value::Scalar { text, style })
    }

    fn enter(&mut self) {
        self.depth += 1;
        self.max_depth = self.max_depth.max(self.depth);
    }
}

struct Seed<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Node;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(self.0.text(v.to_string(), ScalarStyle::Plain))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(self.0.text(v.to_string(), ScalarStyle::Plain))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(self.0.text(v.to_string(), ScalarStyle::Plain))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Node, E> {
        // serde_json's own text for the number, as `Value::to_string` wrote it.
        let number = serde_json::Number::from_f64(v)
            .ok_or_else(|| E::custom("a number that is not finite"))?;
        Ok(self.0.text(number.to_string(), ScalarStyle::Plain))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(self.0.text(v.to_owned(), ScalarStyle::DoubleQuoted))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(self.0.text(v, ScalarStyle::DoubleQuoted))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(self.0.text("null".to_owned(), ScalarStyle::Plain))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let span = self.0.span();
        self.0.enter();
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(Seed(&mut *self.0))? {
            items.push(item);
        }
        self.0.depth -= 1;
        Ok(Node {
            span,
            value: Value::Sequence(items),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let span = self.0.span();
        self.0.enter();
        let mut entries: Vec<(Node, Node)> = Vec::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let key = self.0.text(key.into_owned(), ScalarStyle::DoubleQuoted);
            let value = map.next_value_seed(Seed(&mut *self.0))?;
            entries.push((key, value));
        }
        self.0.depth -= 1;
        if self.0.refused.is_none() {
            if let Some(key) = duplicate_key(&entries) {
                self.0.refused = Some(format!(
                    "the key `{key}` is written twice in one mapping: readers disagree on which \
                     value wins"
                ));
            }
        }
        Ok(Node {
            span,
            value: Value::Mapping(entries),
        })
    }
}

/// A key that two entries of a mapping share (compared by text: JSON keys are strings).
fn duplicate_key(entries: &[(Node, Node)]) -> Option<&str> {
    let keys = entries.iter().filter_map(|(k, _)| k.as_str());
    if entries.len() <= 16 {
        let keys: Vec<&str> = keys.collect();
        return keys
            .iter()
            .enumerate()
            .find(|(i, k)| keys.get(i + 1..).is_some_and(|rest| rest.contains(k)))
            .map(|(_, k)| *k);
    }
    let mut sorted: Vec<&str> = keys.collect();
    sorted.sort_unstable();
    sorted.windows(2).find_map(|w| match w {
        [a, b] if a == b => Some(*a),
        _ => None,
    })
}
