//! Stage (5) input: the facts about one image site as the JSON document policies read
//! (`input`), and the config as `data.supplygate.config`. The shape is documented in
//! `policies/README.md` and `policies/input.schema.json`.

use serde::Serialize;
use serde_json::{json, Value};

use crate::config::Config;
use crate::facts::ImageReport;
use crate::provenance::BuilderRule;

/// Where the evaluation runs; policies may decide differently per mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// `supplygate check` (pull-request check).
    Check,
    /// `supplygate check --mode presync` (Argo CD / Flux hook).
    Presync,
    /// The admission webhook.
    Admission,
}

pub use super::facts::{ReachabilityFact, ReachabilityResult};

/// What the facts of `report` are derived from ([`super::facts::Rules::derive`]).
pub fn subject<'a>(
    rules: &super::facts::Rules,
    report: &'a ImageReport,
    name: Option<&'a str>,
    reachability: &'a [ReachabilityFact],
) -> super::facts::Subject<'a> {
    let r = &report.site.resource;
    let provenances = report
        .attestations
        .as_deref()
        .map(|a| {
            a.facts
                .iter()
                .map(super::facts::ProvenanceView::of)
                .collect()
        })
        .unwrap_or_default();
    super::facts::Subject {
        name,
        tag: report.reference.as_ref().and_then(|r| r.tag()),
        claim: rules.claim(
            |k| r.annotations.get(k).map(String::as_str),
            |k| r.labels.get(k).map(String::as_str),
        ),
        provenances,
        reachability,
        resolved: report.resolved.is_some(),
        platforms: report
            .resolved
            .iter()
            .flat_map(|r| &r.platforms)
            .map(|p| Some(p.digest.to_string()))
            .collect(),
        signatures: report.signatures.as_deref().map(|s| {
            s.facts
                .iter()
                .map(|f| f.verified_by.iter().map(String::as_str).collect())
                .collect()
        }),
        attestations_checked: report.attestations.is_some(),
        attested: report
            .attestations
            .iter()
            .flat_map(|a| &a.facts)
            .map(|f| {
                f.subject_match.as_ref().map(|m| super::facts::Attested {
                    digest: Some(m.digest.to_string()),
                    platform: m.platform.is_some(),
                })
            })
            .collect(),
    }
}

/// The `input` document for one image site.
pub fn document(
    report: &ImageReport,
    mode: Mode,
    now: &str,
    reachability: &[ReachabilityFact],
    facts: &super::facts::Facts,
    policy_data: &Value,
) -> Value {
    let site = &report.site;
    let r = &site.resource;
    let reference = report.reference.as_ref();
    let invalid_reason = match &reference {
        Some(_) => None,
        None => crate::reference::ImageRef::parse(&site.image)
            .err()
            .map(|e| e.to_string()),
    };
    let resolved = report.resolved.as_ref();
    let error = report
        .findings
        .iter()
        .find(|f| {
            f.code.as_str() == "image-not-found" || f.severity == crate::facts::Severity::Error
        })
        .map(|f| json!({"code": f.code.as_str(), "message": f.message}));
    json!({
        "mode": mode,
        "now": now,
        "resource": {
            "api_version": r.api_version,
            "kind": r.kind,
            "namespace": r.namespace,
            "name": r.name,
            "labels": r.labels,
            "annotations": r.annotations,
            "file": site.origin.to_string(),
            "line": r.line,
        },
        "container": {
            "name": site.container,
            "kind": site.container_kind,
            "path": site.path,
            "line": site.span.line,
            "column": site.span.column,
        },
        "image": {
            "written": site.image,
            "valid": reference.is_some(),
            "invalid_reason": invalid_reason,
            "normalized": reference.map(ToString::to_string),
            "registry": reference.map(|r| r.registry()),
            "repository": reference.map(|r| r.repository()),
            "name": reference.map(|r| r.name()),
            "tag": reference.and_then(|r| r.tag()),
            "digest": reference.and_then(|r| r.digest()).map(ToString::to_string),
            "pinned": reference.is_some_and(|r| r.is_pinned()),
            "resolved": resolved.is_some(),
            "resolved_digest": resolved.map(|r| r.digest.to_string()),
            "media_type": resolved.map(|r| r.media_type.as_str()),
            "platforms": resolved.map(|r| r.platforms.as_slice()).unwrap_or_default(),
            "tag_digest": resolved.and_then(|r| r.tag_digest.as_ref()).map(ToString::to_string),
            "error": error,
            "matched": facts.matched,
        },
        "signatures": report.signatures.as_deref(),
        "attestations": report.attestations.as_deref(),
        "reachability": reachability,
        "source_claim": facts.source_claim,
        "provenance_checks": facts.provenance_checks,
        "policy": {"data": policy_data},
    })
}

/// `data.supplygate.config`: the parts of the config that the shipped library reads.
pub fn config_data(config: &Config) -> Value {
    let names = |signers: &[std::sync::Arc<crate::verify::Signer>]| -> Vec<String> {
        signers.iter().map(|s| s.name.clone()).collect()
    };
    let globs = |g: &[crate::glob::ImageGlob]| -> Vec<String> {
        // Normalised: the policies match exactly what the gate's own globs match.
        g.iter().map(|g| g.normalised().to_owned()).collect()
    };
    let require: Vec<Value> = config
        .requirements
        .iter()
        .map(|r| json!({"images": globs(&r.images), "signers": names(&r.signers), "line": r.line}))
        .collect();
    let provenance: Vec<Value> = config
        .provenance
        .iter()
        .map(|r| {
            let builders: Vec<Value> = r
                .builders
                .iter()
                .map(|b| match b {
                    BuilderRule::Exact(id) => json!({"match": "exact", "id": id}),
                    BuilderRule::Prefix(id) => json!({"match": "prefix", "id": id}),
                })
                .collect();
            let refs: Vec<&str> = r.refs.iter().map(|p| p.as_str()).collect();
            json!({
                "images": globs(&r.images),
                "signers": names(&r.signers),
                "builders": builders,
                "source": r.source,
                "refs": refs,
                "line": r.line,
            })
        })
        .collect();
    json!({
        "require": require,
        "provenance": provenance,
        "source": {"commit_key": config.source.commit_key},
        "registries": {"allow": globs(&config.policy.allowed_registries)},
        "images": {
            "allow_latest": config.policy.allow_latest,
            "unmatched": config.policy.unmatched_images.as_str(),
        },
    })
}
