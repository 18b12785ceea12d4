//! `--format sarif`: SARIF 2.1.0 for code scanning (GitHub, GitLab, Azure DevOps).
//!
//! One result per finding on an image and per unreadable file, located at the manifest's
//! `file:line:column` relative to the repository root (`uriBaseId` `%SRCROOT%`, or the
//! `--sarif-root`), or by an absolute `file://` URI for a file outside it; one rule per
//! diagnostic code used; run-level notices (an exemption that matched nothing) as tool
//! notifications, since they have no manifest location. Each result carries a
//! `partialFingerprints` entry computed from the image, the file, the object and the code, and
//! not from the line, so that an alert survives lines added above it.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::{Code, Decision, Report, Severity, SourceRoot};

/// The SARIF version written.
pub const SARIF_VERSION: &str = "2.1.0";
/// The `$schema` written: the OASIS schema of [`SARIF_VERSION`] (errata 01).
pub const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
/// The key of the fingerprint in `partialFingerprints`; bumped if its recipe changes.
pub const FINGERPRINT_KEY: &str = "supplygate/v1";

const INFORMATION_URI: &str = env!("CARGO_PKG_REPOSITORY");

/// Renders the report as a SARIF 2.1.0 log (pretty JSON, one run).
pub fn render(report: &Report, root: &SourceRoot) -> String {
    let mut codes: BTreeSet<&Code> = BTreeSet::new();
    for i in &report.images {
        codes.extend(i.findings.iter().map(|f| &f.code));
    }
    codes.extend(report.file_errors.iter().map(|e| &e.code));
    let mut codes: Vec<&Code> = codes.into_iter().collect();
    codes.sort_by_key(|c| c.as_str());
    let rule_index = |code: &Code| codes.iter().position(|c| *c == code);
    let rules: Vec<Value> = codes.iter().map(|c| rule(c)).collect();

    let mut results = Vec::new();
    for i in &report.images {
        let file = root.relative(&i.site.origin);
        let r = &i.site.resource;
        let object = format!(
            "{}/{}/{}",
            r.kind,
            r.namespace.as_deref().unwrap_or_default(),
            r.name.as_deref().unwrap_or_default()
        );
        let shown_file = file.clone().unwrap_or_else(|| i.site.origin.to_string());
        for f in &i.findings {
            let mut text = with_image(&i.site.image, &f.message);
            if let (Some(e), Some(found)) = (&f.expected, &f.found) {
                text.push_str(&format!("; expected {e}, found {found}"));
            }
            if let Some(h) = &f.hint {
                text.push_str(&format!("; hint: {h}"));
            }
            let mut result = json!({
                "ruleId": f.code.as_str(),
                "level": level(f.severity),
                "message": { "text": text },
                "partialFingerprints": {
                    FINGERPRINT_KEY: fingerprint(&[&i.site.image, &shown_file, &object, f.code.as_str()]),
                },
                "properties": {
                    "image": i.site.image,
                    "digest": i.resolved.as_ref().map(|r| r.digest.to_string()),
                    "decision": i.decision(),
                    "object": object,
                },
            });
            if let Some(index) = rule_index(&f.code) {
                set(&mut result, "ruleIndex", json!(index));
            }
            if let Some(package) = &f.package {
                if let Some(properties) =
                    result.get_mut("properties").and_then(Value::as_object_mut)
                {
                    properties.insert("package".to_owned(), json!(package));
                }
            }
            let artifact = match &file {
                Some(uri) => Some(relative_artifact(uri)),
                None => root.absolute(&i.site.origin).map(|p| absolute_artifact(&p)),
            };
            let related: Vec<Value> = f
                .config
                .iter()
                .enumerate()
                .filter_map(|(id, c)| {
                    let artifact = match root.relative_file(&c.file) {
                        Some(uri) => relative_artifact(&uri),
                        None => absolute_artifact(&root.absolute_file(&c.file)?),
                    };
                    let mut l = location(artifact, c.line, c.column);
                    set(&mut l, "id", json!(id));
                    set(
                        &mut l,
                        "message",
                        json!({ "text": format!("config: {}", c.key) }),
                    );
                    Some(l)
                })
                .collect();
            if !related.is_empty() {
                set(&mut result, "relatedLocations", Value::Array(related));
            }
            if let Some(artifact) = artifact {
                set(
                    &mut result,
                    "locations",
                    json!([location(artifact, i.site.span.line, i.site.span.column)]),
                );
            }
            results.push(result);
        }
    }
    for e in &report.file_errors {
        let file = root.relative_file(&e.file);
        let shown_file = file.clone().unwrap_or_else(|| e.file.clone());
        let mut result = json!({
            "ruleId": e.code.as_str(),
            "level": "error",
            "message": { "text": format!("{}: {}", shown_file, e.message) },
            "partialFingerprints": {
                FINGERPRINT_KEY: fingerprint(&["", &shown_file, "", e.code.as_str()]),
            },
        });
        if let Some(index) = rule_index(&e.code) {
            set(&mut result, "ruleIndex", json!(index));
        }
        let artifact = match &file {
            Some(uri) => Some(relative_artifact(uri)),
            None => root.absolute_file(&e.file).map(|p| absolute_artifact(&p)),
        };
        if let Some(artifact) = artifact {
            set(
                &mut result,
                "locations",
                json!([location(
                    artifact,
                    e.line.unwrap_or(1),
                    e.column.unwrap_or(1)
                )]),
            );
        }
        results.push(result);
    }

    let notifications: Vec<Value> = report
        .notices
        .iter()
        .map(|n| {
            let mut text = n.message.clone();
            if let Some(h) = &n.hint {
                text.push_str(&format!("; hint: {h}"));
            }
            json!({
                "level": level(n.severity),
                "message": { "text": text },
                "descriptor": { "id": n.code.as_str() },
            })
        })
        .collect();
    let resolved_only: Vec<Value> = report
        .resolved_only()
        .map(|i| {
            let file = root.display(&i.site.origin);
            json!({
                "location": format!("{file}:{}:{}", i.site.span.line, i.site.span.column),
                "image": i.site.image,
                "note": super::RESOLVED_ONLY,
            })
        })
        .collect();
    let decision = report.decision();
    let log = json!({
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": { "driver": {
                "name": "supplygate",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }},
            "invocations": [{
                // "Could not decide" is a failed run, not a clean one.
                "executionSuccessful": decision != Decision::Error,
                "exitCode": decision.exit_code(),
                "toolExecutionNotifications": notifications,
            }],
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {
                "decision": decision,
                "images": report.images.len(),
                "skippedDocuments": report.skipped_documents,
                "unchangedDocuments": report.unchanged_documents,
                "documents": report.documents,
                "excludedPaths": report.excluded_paths,
                "resolvedOnly": resolved_only,
                "notes": report.notes(),
            },
        }],
    });
    // Serialising a `Value` cannot fail.
    serde_json::to_string_pretty(&log).unwrap_or_default() + "\n"
}

/// The message, preceded by the image when it does not name it already.
pub(crate) fn with_image(image: &str, message: &str) -> String {
    if message.contains(image) {
        message.to_owned()
    } else {
        format!("`{image}`: {message}")
    }
}

fn rule(code: &Code) -> Value {
    let help = match code {
        Code::Rule(_) => format!(
            "`{code}` comes from a policy rule; the shipped library's codes are documented in \
             policies/README.md, a user policy's by its author."
        ),
        _ => format!(
            "`{code}`: {}. The message says what was expected and found, and the hint the likely \
             fix; see docs/diagnostics.md.",
            code.description()
        ),
    };
    json!({
        "id": code.as_str(),
        "name": code.as_str(),
        "shortDescription": { "text": code.description() },
        "help": { "text": help },
        "helpUri": format!("{INFORMATION_URI}/blob/main/docs/diagnostics.md"),
        "properties": { "tags": ["supply-chain", "security"] },
    })
}

/// Adds a member to a JSON object (results are built as objects, so this never drops one).
fn set(object: &mut Value, key: &str, value: Value) {
    if let Some(map) = object.as_object_mut() {
        map.insert(key.to_owned(), value);
    }
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Warn => "warning",
        Severity::Deny | Severity::Error => "error",
    }
}

fn location(artifact: Value, line: usize, column: usize) -> Value {
    json!({
        "physicalLocation": {
            "artifactLocation": artifact,
            "region": { "startLine": line.max(1), "startColumn": column.max(1) },
        }
    })
}

/// A file under the root: relative to `%SRCROOT%`, as code hosts place findings.
fn relative_artifact(path: &str) -> Value {
    json!({ "uri": encode_uri_path(path), "uriBaseId": "%SRCROOT%" })
}

/// A file outside the root (run from another repository, or `--sarif-root` elsewhere): an
/// absolute `file://` URI, so that the finding still names its file.
fn absolute_artifact(path: &Path) -> Value {
    json!({ "uri": file_uri(path) })
}

/// `file:///abs/path` with each segment percent-encoded (`C:/x` becomes `file:///C:/x`).
fn file_uri(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let text = text.trim_start_matches('/');
    let mut uri = String::from("file:///");
    for (n, segment) in text.split('/').enumerate() {
        if n > 0 {
            uri.push('/');
        }
        // A drive letter's colon stays, as in `file:///C:/…`.
        if n == 0 && segment.len() == 2 && segment.ends_with(':') {
            uri.push_str(segment);
        } else {
            uri.push_str(&encode_uri_path(segment));
        }
    }
    uri
}

/// Stable across runs and machines: the parts joined with NUL, SHA-256, the first 32 hex digits.
fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Percent-encodes a relative path for a URI reference: unreserved characters and `/` stay.
fn encode_uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_percent_encoded_as_uri_references() {
        assert_eq!(
            encode_uri_path("apps/web app/d.yaml"),
            "apps/web%20app/d.yaml"
        );
        assert_eq!(encode_uri_path("a#b?c%.yaml"), "a%23b%3Fc%25.yaml");
        assert_eq!(encode_uri_path("é.yaml"), "%C3%A9.yaml");
    }

    #[test]
    fn absolute_paths_are_file_uris() {
        assert_eq!(
            file_uri(Path::new("/tmp/other repo/d#1.yaml")),
            "file:///tmp/other%20repo/d%231.yaml"
        );
        assert_eq!(file_uri(Path::new("C:\\x\\d.yaml")), "file:///C:/x/d.yaml");
    }

    #[test]
    fn fingerprints_depend_on_every_part_and_not_on_joins() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
        assert_eq!(fingerprint(&["a", "b"]), fingerprint(&["a", "b"]));
        assert_eq!(fingerprint(&["a"]).len(), 32);
    }
}
