//! How Kubernetes' YAML reader (go-yaml v2, YAML 1.1) types plain scalars and mapping keys.

use super::super::ScalarStyle;
use super::{Node, Value};

pub(super) fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// What Kubernetes' YAML reader (sigs.k8s.io/yaml on go-yaml v2, YAML 1.1 types) makes of a
/// plain scalar: `resolve` in go-yaml's `resolve.go`, with timestamps left as strings (go-yaml
/// v2 hands them to an `interface{}` as their text).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Plain {
    Null,
    Bool(bool),
    Int(serde_json::Number),
    Float(f64),
    /// `.inf`, `.nan` and their spellings: JSON cannot hold them, and kubectl fails the file.
    NotFinite,
    Str,
}

pub(super) fn resolve_plain(text: &str) -> Plain {
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
pub(super) fn finite(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Go's `strconv.ParseInt(text, 0, 64)`, then `ParseUint(text, 0, 64)`: an optional sign
/// (`ParseInt` only), then `0x`, `0o`, `0b`, a leading `0` (octal) or decimal digits.
pub(super) fn go_parse_int(text: &str) -> Option<serde_json::Number> {
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
pub(super) fn is_yaml11_float(text: &str) -> bool {
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
pub(super) fn plain_scalar_json(text: &str) -> serde_json::Value {
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
pub(super) fn json_key(key: &Node) -> Option<String> {
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
