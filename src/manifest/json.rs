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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::manifest::{extract, extract_object, ExtraImagePaths, ImageSite, Source};

    const SYNTHETIC: &str = r#"
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: shop, labels: {app: w}}
spec:
  runner: {containers: [{name: r, image: "registry.example/runner:1"}]}
  tools: [{name: t, image: registry.example/tool:2}, {name: u, image: 1.5}]
---
apiVersion: unknown.example/v1
kind: Gadget
metadata: {name: g}
spec:
  deep: {nested: {initContainers: [{name: i, image: "registry.example/init:1"}]}}
  volumes: [{name: v, image: {reference: "registry.example/data:3"}}]
  helm: {image: {repository: nginx, tag: "1.25"}}
  other: {image: "registry.example/other:4", list: [{image: true}, {image: ~}]}
---
metadata: {name: no-kind}
spec: {containers: [{name: c, image: registry.example/c:1}]}
---
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: p, image: "registry.example/p:1"}]}}
  - just text
---
apiVersion: batch.volcano.sh/v1alpha1
kind: Job
spec: {tasks: [{template: {spec: {containers: [{image: "registry.example/vc:1"}]}}}]}
"#;

    /// What a site says, positions aside.
    fn facts(site: &ImageSite) -> String {
        let r = &site.resource;
        format!(
            "{} | {} | {:?} | {:?} | {} | {} {} {:?}/{:?} {:?} {:?}",
            site.image,
            site.path,
            site.container,
            site.container_kind,
            site.extractor,
            r.api_version,
            r.kind,
            r.namespace,
            r.name,
            r.labels,
            r.annotations
        )
    }

    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                files(&path, out);
            } else if path
                .extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
            {
                out.push(path);
            }
        }
    }

    /// Issue 17 item 5: the webhook's reading (the object's JSON into the tree) finds exactly
    /// what the manifest reader finds in the same objects written as YAML, on every fixture:
    /// built-in workloads, lists, every custom-resource extractor's examples, embedded Argo
    /// manifests, and `image` keys that hold no reference (`unrecognised-image-field`).
    #[test]
    fn the_json_tree_finds_what_the_yaml_reader_finds_in_every_fixture() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut paths = Vec::new();
        for dir in ["manifests", "demo/manifests", "external", "admission"] {
            files(&root.join(dir), &mut paths);
        }
        // Beside the corpus: the generic pass, a user rule, and `image` keys that hold no
        // reference.
        let synthetic = PathBuf::from("synthetic.yaml");
        paths.push(synthetic.clone());
        let limits = Limits::default();
        let extra = ExtraImagePaths {
            rules: vec![crate::manifest::ExtraRule {
                kind: "Widget".to_owned(),
                api_version: Some("example.com".to_owned()),
                pod_specs: vec!["spec.runner".to_owned()],
                images: vec!["spec.tools[*].image".to_owned()],
            }],
        };
        let (mut documents, mut sites, mut extractors) = (0, 0, BTreeMap::new());
        for path in &paths {
            let text = if *path == synthetic {
                SYNTHETIC.to_owned()
            } else {
                std::fs::read_to_string(path).unwrap()
            };
            // An admission fixture: its object, as the API server sends it.
            let text = if path.starts_with(root.join("admission")) {
                let review: serde_json::Value = serde_json::from_str(&text).unwrap();
                review["request"]["object"].to_string()
            } else {
                text
            };
            let origin = Arc::new(Origin::File(path.clone()));
            let source = Source {
                origin: origin.clone(),
                text,
            };
            let Ok(from_yaml) = extract(&source, &extra, &limits) else {
                continue; // refused by the YAML reader: nothing to compare
            };
            let docs =
                crate::manifest::yaml::parse_documents(&source.text, &origin, &limits).unwrap();
            let mut from_json = Vec::new();
            let mut skipped_json = Vec::new();
            for (i, doc) in docs.iter().enumerate() {
                if doc.root.as_mapping().is_none() {
                    continue;
                }
                let tree = ObjectTree::parse(&doc.root.to_json().to_string()).unwrap();
                tree.check(&origin, &limits).unwrap();
                let found = extract_object(&tree.root, &origin, &extra, &limits, None);
                documents += 1;
                from_json.extend(found.sites.iter().map(|s| (i, facts(s))));
                skipped_json.extend(found.skipped.iter().map(|s| (i, s.reason.clone())));
            }
            let mut from_yaml_sites: Vec<(usize, String)> = from_yaml
                .sites
                .iter()
                .map(|s| (s.resource.document, facts(s)))
                .collect();
            // Argo's embedded manifests are placed in the outer document.
            from_json.sort();
            from_yaml_sites.sort();
            assert_eq!(from_json, from_yaml_sites, "{}", path.display());
            let mut skipped_yaml: Vec<(usize, String)> = from_yaml
                .skipped
                .iter()
                .filter(|s| s.reason != "empty document" && !s.reason.contains("the document is"))
                .map(|s| (s.document, s.reason.clone()))
                .collect();
            skipped_json.sort();
            skipped_yaml.sort();
            assert_eq!(skipped_json, skipped_yaml, "{}", path.display());
            sites += from_yaml_sites.len();
            for s in &from_yaml.sites {
                *extractors.entry(s.extractor).or_insert(0) += 1;
            }
        }
        // The comparison covered every kind of extractor, on a real corpus.
        for extractor in [
            crate::manifest::kinds::KUBERNETES,
            crate::manifest::kinds::GENERIC_CONTAINERS,
            crate::manifest::kinds::GENERIC_IMAGE_KEY,
            crate::manifest::kinds::ARGO_EMBEDDED,
            crate::manifest::kinds::USER_RULE,
            "tekton",
            "argo-workflows",
        ] {
            assert!(
                extractors.contains_key(extractor),
                "no fixture site by `{extractor}`: {extractors:?}"
            );
        }
        assert!(
            documents >= 200 && sites >= 100,
            "{documents} documents, {sites} sites"
        );
    }

    /// What the YAML reader refuses in an object, the JSON tree refuses, each with its reason.
    #[test]
    fn refuses_what_the_yaml_reader_refuses_and_keys_written_twice() {
        let origin = Arc::new(Origin::Named("Pod shop/x".to_owned()));
        let limits = Limits {
            max_file_bytes: 200,
            max_depth: 3,
            max_nodes: 12,
        };
        let refused = |text: &str| ObjectTree::parse(text).unwrap().check(&origin, &limits);
        let message = |e: ManifestError| e.to_string();
        assert!(refused(r#"{"a": {"b": {"c": 1}}}"#).is_ok());
        let deep = refused(r#"{"a": {"b": {"c": []}}}"#).unwrap_err();
        assert!(
            message(deep).contains("nesting is deeper than the limit of 3 levels"),
            "deep"
        );
        let many = refused(r#"{"a": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}"#).unwrap_err();
        assert!(message(many).contains("more than 12 nodes"));
        let big = format!(r#"{{"a": "{}"}}"#, "x".repeat(200));
        assert!(matches!(
            refused(&big),
            Err(ManifestError::TooLarge { limit: 200, .. })
        ));
        for (text, want) in [
            ("{\"a\": \"x\u{2028}y\"}", "U+2028"),
            ("{\"a\": \"x\\u2029y\"}", "U+2029"),
            ("{\"a\u{85}\": 1}", "U+0085"),
            (
                r#"{"image": "a", "x": 1, "image": "b"}"#,
                "the key `image` is written twice",
            ),
        ] {
            match refused(text) {
                Err(ManifestError::Ambiguous { message, .. }) => {
                    assert!(message.contains(want), "{text}: {message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        // Many keys: found twice without a quadratic scan.
        let mut keys: Vec<String> = (0..5000).map(|i| format!(r#""k{i}": 1"#)).collect();
        keys.push(r#""k17": 2"#.to_owned());
        let wide = ObjectTree::parse(&format!("{{{}}}", keys.join(","))).unwrap();
        assert!(matches!(
            wide.check(&origin, &Limits::default()),
            Err(ManifestError::Ambiguous { message, .. }) if message.contains("`k17`")
        ));
        // Text after the object, and an object that never closes: serde_json's own refusals.
        let classify = |text| {
            ObjectTree::parse(text)
                .map(|_| ())
                .map_err(|e| e.classify())
        };
        assert_eq!(classify("{} {}"), Err(serde_json::error::Category::Syntax));
        assert_eq!(classify("{"), Err(serde_json::error::Category::Eof));
    }

    /// Scalars read as the YAML reader read the same object written out by serde_json (the
    /// webhook's old path); spans are document order.
    #[test]
    fn scalars_and_spans_are_what_the_yaml_reader_makes_of_the_json_text() {
        let text =
            r#"{"s": "1.0", "f": 1.0, "e": 1e100, "i": -3, "b": true, "n": null, "x": [{}]}"#;
        let tree = ObjectTree::parse(text).unwrap();
        let origin = Arc::new(Origin::Named("x".to_owned()));
        // What the webhook read before: the object written out by serde_json, read as YAML.
        let written = serde_json::from_str::<serde_json::Value>(text)
            .unwrap()
            .to_string();
        let yaml = &crate::manifest::yaml::parse_documents(&written, &origin, &Limits::default())
            .unwrap()[0]
            .root;
        assert_eq!(tree.root.to_json(), yaml.to_json());
        for key in ["s", "f", "e", "i", "b", "n"] {
            let (a, b) = (tree.root.get(key).unwrap(), yaml.get(key).unwrap());
            assert_eq!(a.value, b.value, "{key}");
            assert_eq!(a.is_null(), b.is_null(), "{key}");
        }
        let starts: Vec<usize> = tree
            .root
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(_, v)| v.span.start)
            .collect();
        assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    }
}
