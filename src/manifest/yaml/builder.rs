//! Events to documents: the tree builder, enforcing the limits, applying merge keys and
//! refusing what go-yaml and we could read differently.

use std::collections::HashMap;
use std::sync::Arc;

use saphyr_parser::{Event, ScalarStyle as SaphyrStyle, Tag};

use super::super::{Limits, ManifestError, Origin, ScalarStyle, Span};
use super::checks::*;
use super::positions::*;
use super::scalar::*;
use super::{Document, Node, Value, HARD_MAX_DEPTH};

/// A collection being built.
pub(super) struct Frame {
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
pub(super) struct Anchored {
    node: Node,
    count: usize,
    height: usize,
}

/// Turns events into documents, enforcing the limits.
pub(super) struct Builder<'a> {
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
    pub(super) fn new(text: &'a str, origin: &'a Arc<Origin>, limits: &Limits) -> Self {
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

    pub(super) fn event(
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
pub(super) fn opens_flow(text: &str) -> bool {
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
pub(super) fn tag_name(tag: &Tag) -> String {
    format!("{}{}", tag.handle, tag.suffix)
}

/// A tag as it is usually written.
pub(super) fn tag_display(tag: &Tag) -> String {
    match tag.handle.as_str() {
        "tag:yaml.org,2002:" => format!("!!{}", tag.suffix),
        "!" | "" => format!("!{}", tag.suffix.trim_start_matches('!')),
        handle => format!("!<{handle}{}>", tag.suffix),
    }
}

/// What an untagged plain scalar is, for messages.
pub(super) fn plain_kind(text: &str) -> &'static str {
    match resolve_plain(text) {
        Plain::Null => "null",
        Plain::Bool(_) => "a boolean",
        Plain::Int(_) => "an integer",
        Plain::Float(_) | Plain::NotFinite => "a number",
        Plain::Str => "a string",
    }
}
