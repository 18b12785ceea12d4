//! The YAML reader against an independent YAML 1.1 reading of the same bytes: libyaml's
//! grammar (libyaml-safer, a Rust port of the libyaml that go-yaml was ported from) with
//! go-yaml v2's implicit types, merge keys and sigs.k8s.io/yaml's key conversion, written here
//! without the reader's code. Whenever the reader accepts a text that libyaml also parses,
//! both must give the same JSON: the data Kubernetes would apply is the data the gate checked.
//! A refusal by the reader is always fine; a text libyaml refuses (or libyaml-safer panics
//! on) is skipped: no cluster can apply it (docs/yaml.md lists the known cases).
#![no_main]

use std::collections::HashMap;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use libyaml_safer::{EventData, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};
use supplygate::manifest::{yaml, Limits, Origin};

/// Gives up on texts whose alias expansion grows past this many nodes.
const MAX_NODES: usize = 100_000;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let origin = Arc::new(Origin::Named("fuzz".into()));
    let Ok(docs) = yaml::parse_documents(text, &origin, &Limits::default()) else {
        return;
    };
    // libfuzzer-sys's panic hook aborts: silence it while libyaml-safer may panic.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let theirs = std::panic::catch_unwind(|| reference(text));
    std::panic::set_hook(hook);
    let Ok(Some(theirs)) = theirs else {
        return;
    };
    let ours: Vec<Value> = docs.iter().map(|d| normalise(&d.root.to_json())).collect();
    assert_eq!(
        ours, theirs,
        "the reader and a YAML 1.1 reading disagree on {text:?}"
    );
});

/// A node of the independent reading, before conversion to JSON.
#[derive(Clone)]
enum Node {
    Scalar {
        value: String,
        plain: bool,
        tag: Option<String>,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A collection being read.
enum Frame {
    Seq(Vec<Node>),
    /// Entries so far, and a key waiting for its value.
    Map(Vec<(Node, Node)>, Option<Node>),
}

/// Every document as JSON (numbers as floats), or `None` when libyaml refuses the text or the
/// data is something sigs.k8s.io/yaml refuses.
fn reference(text: &str) -> Option<Vec<Value>> {
    let mut parser = Parser::new();
    // libyaml-safer 0.1.1 folds a CRLF inside a plain scalar into `\n` where libyaml, go-yaml
    // (kubectl) and PyYAML give a space, and miscounts runs of lone CRs; every line break
    // (CRLF, CR, LF) is the same to the data, so the reference reads LFs only.
    let mut text = text.replace("\r\n", "\n").replace('\r', "\n");
    // kubectl splits a file into documents line by line, so the last line ends with a break
    // (`a: |\n  x` is `x\n` there); libyaml-safer panics on a block scalar at the end of input.
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let mut input = text.as_bytes();
    parser.set_input_string(&mut input);
    let mut docs = Vec::new();
    let mut stack: Vec<(Frame, Option<String>)> = Vec::new();
    let mut anchors: HashMap<String, Node> = HashMap::new();
    let mut nodes = 0usize;
    let mut root = None;
    loop {
        let event = parser.parse().ok()?;
        let (node, anchor) = match event.data {
            EventData::StreamEnd => return Some(docs),
            EventData::DocumentStart { .. } => {
                anchors.clear();
                root = None;
                continue;
            }
            EventData::DocumentEnd { .. } => {
                docs.push(match root.take() {
                    Some(node) => normalise(&to_json(&node)?),
                    None => Value::Null,
                });
                continue;
            }
            EventData::Alias { anchor } => {
                let node = anchors.get(&anchor)?.clone();
                nodes += size(&node);
                (node, None)
            }
            EventData::Scalar {
                anchor,
                tag,
                value,
                style,
                ..
            } => {
                let plain = style == ScalarStyle::Plain;
                (Node::Scalar { value, plain, tag }, anchor)
            }
            EventData::SequenceStart { anchor, tag, .. } => {
                if tag.is_some_and(|t| t != "tag:yaml.org,2002:seq") {
                    return None;
                }
                stack.push((Frame::Seq(Vec::new()), anchor));
                continue;
            }
            EventData::MappingStart { anchor, tag, .. } => {
                if tag.is_some_and(|t| t != "tag:yaml.org,2002:map") {
                    return None;
                }
                stack.push((Frame::Map(Vec::new(), None), anchor));
                continue;
            }
            EventData::SequenceEnd | EventData::MappingEnd => match stack.pop()? {
                (Frame::Seq(items), anchor) => (Node::Seq(items), anchor),
                (Frame::Map(entries, None), anchor) => (Node::Map(entries), anchor),
                (Frame::Map(_, Some(_)), _) => return None,
            },
            EventData::StreamStart { .. } => continue,
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return None;
        }
        if let Some(anchor) = anchor {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            Some((Frame::Seq(items), _)) => items.push(node),
            Some((Frame::Map(entries, pending), _)) => match pending.take() {
                Some(key) => entries.push((key, node)),
                None => *pending = Some(node),
            },
            None => root = Some(node),
        }
    }
}

fn size(node: &Node) -> usize {
    match node {
        Node::Scalar { .. } => 1,
        Node::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        Node::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| size(k) + size(v))
                .sum::<usize>()
        }
    }
}

/// sigs.k8s.io/yaml's JSON for a go-yaml v2 value.
fn to_json(node: &Node) -> Option<Value> {
    match node {
        Node::Scalar { value, plain, tag } => scalar(value, *plain, tag.as_deref()),
        Node::Seq(items) => items
            .iter()
            .map(to_json)
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        Node::Map(entries) => {
            let mut out = Map::new();
            for (k, v) in entries {
                if matches!(k, Node::Scalar { value, plain: true, tag: None } if value == "<<") {
                    merge(&mut out, v)?;
                    continue;
                }
                let key = match to_json(k)? {
                    Value::String(s) => s,
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
                    // Floats are formatted as 32-bit floats there; null keys are an error.
                    _ => return None,
                };
                out.insert(key, to_json(v)?);
            }
            Some(Value::Object(out))
        }
    }
}

/// go-yaml v2's merge: a mapping's keys override what is there; of a list of mappings, the
/// first one that sets a key wins.
fn merge(out: &mut Map<String, Value>, source: &Node) -> Option<()> {
    match source {
        Node::Map(_) => {
            let Value::Object(merged) = to_json(source)? else {
                return None;
            };
            out.extend(merged);
            Some(())
        }
        Node::Seq(items) => {
            for item in items.iter().rev() {
                if !matches!(item, Node::Map(_)) {
                    return None;
                }
                merge(out, item)?;
            }
            Some(())
        }
        Node::Scalar { .. } => None,
    }
}

/// go-yaml v2's `resolve` for a scalar, as sigs.k8s.io/yaml hands it to JSON.
fn scalar(value: &str, plain: bool, tag: Option<&str>) -> Option<Value> {
    match tag {
        Some("tag:yaml.org,2002:str") => return Some(Value::String(value.to_owned())),
        // Other tags retype or decode (`!!binary`); the reader refuses them.
        Some(_) => return None,
        None if !plain => return Some(Value::String(value.to_owned())),
        None => {}
    }
    let bools = [
        (
            true,
            [
                "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
            ],
        ),
        (
            false,
            [
                "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
            ],
        ),
    ];
    for (b, spellings) in bools {
        if spellings.contains(&value) {
            return Some(Value::Bool(b));
        }
    }
    if ["", "~", "null", "Null", "NULL"].contains(&value) {
        return Some(Value::Null);
    }
    let lower = value.to_ascii_lowercase();
    if [".inf", "+.inf", "-.inf", ".nan"].contains(&lower.as_str()) {
        // JSON cannot hold them: kubectl fails.
        return None;
    }
    let first = value.chars().next()?;
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '.')) {
        return Some(Value::String(value.to_owned()));
    }
    let plain_text = if first == '.' {
        value.to_owned()
    } else {
        value.replace('_', "")
    };
    if first != '.' {
        if let Some(n) = go_int(&plain_text) {
            return Some(Value::Number(n));
        }
    }
    if go_float_syntax(&plain_text) {
        if let Some(n) = plain_text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(Number::from_f64)
        {
            return Some(Value::Number(n));
        }
    }
    Some(Value::String(value.to_owned()))
}

/// `strconv.ParseInt(s, 0, 64)`, else `strconv.ParseUint(s, 0, 64)`, as floats.
fn go_int(s: &str) -> Option<Number> {
    let (sign, body) = match s.strip_prefix('-') {
        Some(rest) => (-1i128, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_owned())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_owned())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_owned())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_owned())
    } else {
        (10, lower.clone())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = sign * i128::from(u64::from_str_radix(&digits, radix).ok()?);
    let fits_int = i64::try_from(n).is_ok();
    let fits_uint = !s.starts_with(['+', '-']) && u64::try_from(n).is_ok();
    (fits_int || fits_uint)
        .then(|| Number::from_f64(n as f64))
        .flatten()
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`, by hand.
fn go_float_syntax(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            int.chars().all(|c| c.is_ascii_digit())
                && frac.chars().all(|c| c.is_ascii_digit())
                && (!int.is_empty() || !frac.is_empty())
                && !(int.is_empty() && frac.is_empty())
                && (int.is_empty() <= !frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

/// Numbers as floats, so that `1000` and `1000.0` compare equal.
fn normalise(value: &Value) -> Value {
    match value {
        Value::Number(n) => n
            .as_f64()
            .and_then(Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), normalise(v))).collect())
        }
        other => other.clone(),
    }
}
