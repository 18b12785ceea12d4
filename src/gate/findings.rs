//! Findings of one image: the gate's own (registry and fact errors), the policy's decision
//! turned into findings, and the overrides (break-glass, exemptions) applied to them.

use std::sync::Arc;

use super::{AttestationChecks, Resolutions, SignatureChecks};
use crate::config::{Config, Unmatched};
use crate::errors::{causes, Chain};
use crate::facts::{Code, ConfigLocation, Finding, ImageReport, Severity};
use crate::manifest::{self, ImageSite};
use crate::policy;
use crate::reference::ImageRef;
use crate::registry::RegistryError;

/// The finding for a policy rule's entry. A signature or attestation reason a dependency
/// wrote (a certificate that does not decode) gets a sentence in the user's terms before the
/// rule's own hint; `found` keeps the raw reason.
fn violation_finding(v: policy::Violation, severity: Severity) -> Finding {
    let explained = v
        .found
        .as_deref()
        .and_then(crate::hint::explain_dependency_error);
    let hint = match (explained, v.hint) {
        (Some(x), Some(h)) => Some(format!("{}: {}; {h}", x.meaning, x.action)),
        (Some(x), None) => Some(format!("{}: {}", x.meaning, x.action)),
        (None, h) => h,
    };
    Finding {
        code: v
            .code
            .as_deref()
            .map(Code::from_rule)
            .unwrap_or_else(|| Code::Rule(Arc::from("policy"))),
        severity,
        message: v.msg,
        expected: v.expected,
        found: v.found,
        hint,
        package: Some(v.package),
        config: Vec::new(),
    }
}

/// The shipped packages whose findings [`config_locations`] traces back to the config (user
/// modules cannot define rules in them: a load error).
const SIGNATURES: &str = "data.supplygate.signatures";
const PROVENANCE: &str = "data.supplygate.provenance";
const IMAGES: &str = "data.supplygate.images";

/// The config entries behind a finding of the shipped library, from the rules the gate
/// matched for the policy (`matched`): a `signatures` finding names the matching `require:`
/// rules its verified signatures leave unsatisfied (all matching ones when none is, e.g.
/// signatures that could not be looked up) and, for `signature-not-trusted`, where their
/// signers are defined; a `provenance` finding the matching `provenance:` rules; an `images`
/// finding the `policy:` key it enforces, when written. Other packages name none: the gate
/// cannot tell which entry their rules read.
fn config_locations(
    config: &Config,
    report: &ImageReport,
    matched: &policy::facts::Matched,
    finding: &Finding,
) -> Vec<ConfigLocation> {
    match finding.package.as_deref() {
        Some(SIGNATURES) => {
            let rules: Vec<(usize, &crate::config::Requirement)> = matched
                .require
                .iter()
                .filter_map(|&i| config.requirements.get(i).map(|r| (i, r)))
                .collect();
            let unsatisfied: Vec<_> = rules
                .iter()
                .filter(|(_, r)| {
                    report
                        .signatures
                        .as_ref()
                        .is_some_and(|s| !s.satisfies(&r.signers))
                })
                .collect();
            let responsible = if unsatisfied.is_empty() {
                rules.iter().collect()
            } else {
                unsatisfied
            };
            // Signatures there, none verified by the rule's signers: their definitions (key,
            // identity) are behind it too.
            let untrusted = finding.code == Code::SignatureNotTrusted;
            let mut out: Vec<ConfigLocation> = Vec::new();
            for (i, r) in responsible {
                out.extend(config_at(
                    config,
                    format!("require[{i}]"),
                    (r.line, r.column),
                ));
                for s in r.signers.iter().filter(|_| untrusted) {
                    let key = format!("signers.{}", s.name);
                    let defined = config.signer_positions.get(&s.name);
                    if let Some(&at) = defined.filter(|_| !out.iter().any(|c| c.key == key)) {
                        out.extend(config_at(config, key, at));
                    }
                }
            }
            out
        }
        Some(PROVENANCE) => matched
            .provenance
            .iter()
            .filter_map(|&i| {
                let r = config.provenance.get(i)?;
                config_at(config, format!("provenance[{i}]"), (r.line, r.column))
            })
            .collect(),
        Some(IMAGES) => {
            let key = match finding.code.as_str() {
                "registry-not-allowed-by-policy" => "allowed_registries",
                "latest-tag" => "allow_latest",
                "image-not-covered" => "unmatched_images",
                _ => return Vec::new(),
            };
            policy_key(config, key).into_iter().collect()
        }
        _ => Vec::new(),
    }
}

/// `key` of the config file at `position`; `None` for a config not read from a file.
fn config_at(
    config: &Config,
    key: String,
    (line, column): (usize, usize),
) -> Option<ConfigLocation> {
    Some(ConfigLocation {
        file: config.file.as_ref()?.display().to_string(),
        line,
        column,
        key,
    })
}

/// The key `policy.<key>`, where it is written (`None` when it is left at its default).
fn policy_key(config: &Config, key: &str) -> Option<ConfigLocation> {
    let position = *config.policy.positions.get(key)?;
    config_at(config, format!("policy.{key}"), position)
}

/// Where exemption `i` is written.
fn exemption_at(config: &Config, i: usize, e: &crate::config::Exemption) -> Vec<ConfigLocation> {
    config_at(config, format!("exemptions[{i}]"), (e.line, e.column))
        .into_iter()
        .collect()
}

/// A value under an `image` key, found by the generic pass, that is not an image reference:
/// whatever reads that field is unknown, so `policy.unknown_image_fields` decides (allowed
/// without a finding under `allow`, a warning or a denial otherwise) instead of an
/// `invalid-reference` denial. The site stays in the report either way (and the webhook,
/// which evaluates one site at a time, gets an answer for it).
pub(super) fn unrecognised_field(
    config: &Config,
    site: ImageSite,
    error: &crate::reference::ReferenceError,
) -> ImageReport {
    let severity = match config.policy.unknown_image_fields {
        Unmatched::Allow => None,
        Unmatched::Warn => Some(Severity::Warn),
        Unmatched::Deny => Some(Severity::Deny),
    };
    // A mapping or list is kept as JSON text: say what it is rather than how the text fails.
    let why = match site.image.chars().next() {
        Some('{') => "it is a mapping".to_owned(),
        Some('[') => "it is a list".to_owned(),
        _ => error.to_string(),
    };
    let embedded = site.extractor == manifest::kinds::ARGO_EMBEDDED;
    let findings = severity.map(|severity| {
        let message = if embedded {
            format!(
                "`{}` of {} holds images Argo runs, but the string was not read ({}): its \
                 images are not checked",
                site.path,
                site.resource.kind,
                site.image.trim_start_matches('<').trim_end_matches('>')
            )
        } else {
            format!(
                "`{}` of {} `{}` is not an image reference ({why}); the generic pass found it \
             and no extractor knows what reads this field: it was not checked",
                site.path, site.resource.kind, site.image
            )
        };
        let mut finding = Finding::new(Code::UnrecognisedImageField, severity, message).hint(
            "if this field names an image, write a reference; if the kind runs images, add an \
         `images.extra` rule for it; `policy.unknown_image_fields` sets how this is decided",
        );
        finding.config = policy_key(config, "unknown_image_fields")
            .into_iter()
            .collect();
        finding
    });
    ImageReport {
        site,
        reference: None,
        resolved: None,
        findings: findings.into_iter().collect(),
        signatures: None,
        attestations: None,
    }
}

/// Turns the policy's deny/warn entries into findings. A denial with a code the gate already
/// reported for this image (e.g. `image-not-found`) is not repeated.
/// Each finding names the config entries behind it ([`config_locations`]).
pub(super) fn apply_decision(
    config: &Config,
    report: &mut ImageReport,
    decision: policy::Decision,
    matched: &policy::facts::Matched,
) {
    let already: Vec<String> = report
        .findings
        .iter()
        .map(|f| f.code.as_str().to_owned())
        .collect();
    for v in decision.denies {
        let mut finding = violation_finding(v, Severity::Deny);
        finding.config = config_locations(config, report, matched, &finding);
        // A policy that reports missing facts ("could not check") keeps the could-not-decide
        // weight: exit 2, not a plain deny.
        if matches!(
            finding.code,
            Code::SignatureCheckFailed | Code::ProvenanceCheckFailed | Code::PolicyError
        ) {
            finding.severity = Severity::Error;
        }
        // Evidence that failed its digest is a definite deny the gate reported already; the
        // policy's "could not check" for the same evidence adds nothing and would turn the
        // deny into a could-not-decide.
        let tampered = already.iter().any(|c| c == Code::DigestMismatch.as_str());
        if tampered && finding.severity == Severity::Error {
            continue;
        }
        if !already.iter().any(|c| c == finding.code.as_str()) {
            report.findings.push(finding);
        }
    }
    for v in decision.warns {
        let mut finding = violation_finding(v, Severity::Warn);
        finding.config = config_locations(config, report, matched, &finding);
        report.findings.push(finding);
    }
    for e in decision.errors {
        report
            .findings
            .push(Finding::new(Code::PolicyError, Severity::Error, e).hint(
                "a policy that cannot be evaluated denies: fix the rule or raise `policy.timeout`",
            ));
    }
}

/// Break-glass (in the namespaces that allow it) and unexpired exemptions turn the policy's
/// denials into warnings; both are always reported. Fact errors (could not decide) and
/// tampering are never overridden.
pub(super) fn apply_overrides(
    config: &Config,
    now: jiff::Timestamp,
    report: &mut ImageReport,
    used: &mut [bool],
) {
    // Only policy denials: an image that is missing, unreadable or tampered with stays denied.
    let overridable = |f: &Finding| {
        f.severity == Severity::Deny
            && !matches!(
                f.code,
                Code::DigestMismatch | Code::ImageNotFound | Code::InvalidReference
            )
    };
    if !report.findings.iter().any(overridable) {
        return;
    }
    let resource = &report.site.resource;
    let namespace = resource.namespace.clone().unwrap_or_default();
    let bg = &config.break_glass;
    if let Some(why) = resource.annotations.get(&bg.annotation) {
        // Like an exemption, break-glass must say why: a value with no letter or digit (empty,
        // spaces, zero-width characters, punctuation) is no reason, and overrides nothing.
        if !why.chars().any(char::is_alphanumeric) {
            report.findings.push(
                Finding::new(
                    Code::BreakGlassWithoutReason,
                    Severity::Deny,
                    format!(
                        "break-glass annotation `{}` on `{}` gives no reason; denials stand",
                        bg.annotation, report.site.image
                    ),
                )
                .expected_found("a reason (who, why, which incident)", format!("{why:?}"))
                .hint(format!(
                    "write why in the annotation: `{}: \"INC-123: …\"`",
                    bg.annotation
                )),
            );
            return;
        }
        if bg.namespaces.contains(&namespace) {
            for f in report.findings.iter_mut().filter(|f| overridable(f)) {
                f.severity = Severity::Warn;
                f.message = format!("{} (overridden by break-glass)", f.message);
            }
            report.findings.push(
                Finding::new(
                    Code::BreakGlass,
                    Severity::Warn,
                    format!("break-glass in namespace `{namespace}`: denials of `{}` are warnings: {why}", report.site.image),
                )
                .hint(format!("remove the `{}` annotation once the emergency is over", bg.annotation)),
            );
            return;
        }
        report.findings.push(
            Finding::new(
                Code::BreakGlass,
                Severity::Warn,
                format!("break-glass annotation ignored: namespace `{namespace}` is not in `break_glass.namespaces`"),
            ),
        );
    }
    let Some(name) = report.reference.as_ref().map(ImageRef::name) else {
        return;
    };
    for (i, e) in config.exemptions.iter().enumerate() {
        let applies = e.images.iter().any(|g| g.matches(&name))
            && (e.namespaces.is_empty() || e.namespaces.contains(&namespace));
        if !applies {
            continue;
        }
        if let Some(u) = used.get_mut(i) {
            *u = true;
        }
        if now >= e.expires {
            report.findings.push(
                Finding::new(
                    Code::Exemption,
                    Severity::Warn,
                    format!(
                        "the exemption at config line {} expired on {}; it no longer exempts `{}`",
                        e.line, e.expires_written, report.site.image
                    ),
                )
                .hint("renew it with a new `expires` if it is still needed, or fix the image")
                .config(exemption_at(config, i, e)),
            );
            continue;
        }
        for f in report.findings.iter_mut().filter(|f| overridable(f)) {
            f.severity = Severity::Warn;
            f.message = format!(
                "{} (exempted until {}: {})",
                f.message, e.expires_written, e.reason
            );
        }
        report.findings.push(
            Finding::new(
                Code::Exemption,
                Severity::Warn,
                format!(
                    "`{}` is exempted until {} (config line {}): {}",
                    report.site.image, e.expires_written, e.line, e.reason
                ),
            )
            .config(exemption_at(config, i, e)),
        );
        return;
    }
}

/// An image that did not resolve can never be allowed, whatever the policies say.
pub(super) fn fail_closed_if_unresolved(report: &mut ImageReport) {
    let blocked = report
        .findings
        .iter()
        .any(|f| matches!(f.severity, Severity::Deny | Severity::Error));
    if report.resolved.is_none() && !blocked {
        report.findings.push(Finding::new(
            Code::PolicyError,
            Severity::Error,
            format!(
                "`{}` did not resolve to a digest and no policy denied it; failing closed",
                report.site.image
            ),
        ));
    }
}

/// The gate's own findings about facts it could not establish (discovery failed): those
/// images cannot be decided, whatever the policies say.
pub(super) fn fact_findings(
    config: &Config,
    report: &mut ImageReport,
    signatures: &SignatureChecks,
    attestations: &AttestationChecks,
) {
    let Some(image) = report.reference.clone() else {
        return;
    };
    if report.resolved.is_none() {
        return;
    }
    let name = image.name();
    if config.requirements_for(&name).next().is_some() {
        match signatures.get(&image) {
            Some(Ok(checked)) => {
                notation_logged_warnings(report, &image, checked);
                report.signatures = Some(Arc::clone(checked));
            }
            // Evidence that does not hash to its digest was tampered with: a deny, as for
            // the image manifest itself, not a could-not-decide.
            Some(Err(e)) if matches!(**e, RegistryError::DigestMismatch { .. }) => {
                report.findings.push(registry_finding(&image, e));
            }
            Some(Err(e)) => {
                let mut f = registry_finding(&image, e);
                f.code = Code::SignatureCheckFailed;
                f.severity = Severity::Error;
                f.message = format!("could not look for signatures: {}", Chain(&**e));
                report.findings.push(f);
            }
            None => report.findings.push(Finding::new(
                Code::SignatureCheckFailed,
                Severity::Error,
                format!(
                    "signatures of `{image}` were not checked (internal error); failing closed"
                ),
            )),
        }
    }
    if config.provenance_for(&name).next().is_some() {
        match attestations.get(&image) {
            Some(Ok(checked)) => report.attestations = Some(Arc::clone(checked)),
            Some(Err(e)) if matches!(**e, RegistryError::DigestMismatch { .. }) => {
                report.findings.push(registry_finding(&image, e));
            }
            Some(Err(e)) => report.findings.push(
                Finding::new(
                    Code::ProvenanceCheckFailed,
                    Severity::Error,
                    format!("could not look for attestations: {}", Chain(&**e)),
                )
                .hint("the gate fails closed; retry when the registry answers"),
            ),
            None => report.findings.push(Finding::new(
                Code::ProvenanceCheckFailed,
                Severity::Error,
                format!(
                    "attestations of `{image}` were not checked (internal error); failing closed"
                ),
            )),
        }
    }
}

/// A Notary Project signature that counted for a signer although a check failed (its trust
/// policy statement only logs it) is a warning naming the check and the image: the docs
/// promise logged failures are visible, not only in the JSON facts.
fn notation_logged_warnings(
    report: &mut ImageReport,
    image: &ImageRef,
    checked: &crate::facts::SignatureReport,
) {
    use crate::verify::notation_stage::CheckOutcome;
    for fact in &checked.facts {
        let Some(notation) = &fact.notation else {
            continue;
        };
        for verdict in notation
            .verdicts
            .iter()
            .filter(|v| fact.verified_by.contains(&v.signer))
        {
            for check in verdict
                .checks
                .iter()
                .filter(|c| c.outcome == CheckOutcome::Logged)
            {
                report.findings.push(
                    Finding::new(
                        Code::NotationCheckLogged,
                        Severity::Warn,
                        format!(
                            "Notation signature on `{image}` counted for signer `{}` although its `{}` check failed ({}); trust policy statement `{}` only logs it",
                            verdict.signer,
                            check.check.as_str(),
                            check.reason.as_deref().unwrap_or("no reason given"),
                            verdict.statement.as_deref().unwrap_or("?"),
                        ),
                    )
                    .hint("enforce the check in the trust policy (level `strict`, or drop the `override`) once the signatures pass it"),
                );
            }
        }
    }
}

pub(super) fn image_report(
    site: ImageSite,
    reference: Result<ImageRef, crate::reference::ReferenceError>,
    resolutions: &Resolutions,
) -> ImageReport {
    let mut findings = Vec::new();
    let mut resolved = None;
    let reference = match reference {
        Ok(r) => Some(r),
        Err(e) => {
            findings.push(
                Finding::new(
                    Code::InvalidReference,
                    Severity::Deny,
                    format!("`{}` is not a valid image reference: {e}", site.image),
                )
                .hint("write `registry/repository:tag` or `…@sha256:<64 hex digits>`"),
            );
            None
        }
    };
    if let Some(r) = &reference {
        match resolutions.get(r) {
            Some(Ok(res)) => {
                // A tag that moved away from the pinned digest is the policies' call
                // (`tag-moved` in the shipped library): the pinned digest is what runs.
                resolved = Some(res.clone());
            }
            Some(Err(e)) => findings.push(registry_finding(r, e)),
            None => findings.push(Finding::new(
                Code::RegistryUnavailable,
                Severity::Error,
                format!("`{r}` was not looked up (internal error); failing closed"),
            )),
        }
    }
    ImageReport {
        site,
        reference,
        resolved,
        findings,
        signatures: None,
        attestations: None,
    }
}

/// The finding for a registry error: tampering and absence deny; everything else is undecided.
pub fn registry_finding(image: &ImageRef, e: &RegistryError) -> Finding {
    if let RegistryError::DigestMismatch {
        expected, actual, ..
    } = e
    {
        return Finding::new(Code::DigestMismatch, Severity::Deny, e.to_string())
            .expected_found(expected.to_string(), actual.to_string())
            .hint("the registry, a mirror or a proxy served content that is not what was asked for: do not deploy it, investigate");
    }
    let host = image.registry();
    // By variant: a new variant is a compile error here, not a string that falls through.
    let (code, severity, hint) = match e {
        RegistryError::DigestMismatch { .. } => (
            Code::DigestMismatch,
            Severity::Deny,
            "do not deploy it, investigate".to_owned(),
        ),
        RegistryError::NotFound { .. } => (
            Code::ImageNotFound,
            Severity::Deny,
            format!(
                "check the tag and that CI pushed it: `skopeo inspect docker://{image}` shows what the registry has"
            ),
        ),
        RegistryError::Unauthorized { .. } => (
            Code::RegistryUnauthorized,
            Severity::Error,
            format!(
                "log in (`docker login {host}`) or point `network.docker_config` at a config.json with credentials"
            ),
        ),
        RegistryError::TooLarge { .. } => (
            Code::ManifestTooLarge,
            Severity::Error,
            "raise `network.max_manifest_bytes` if this manifest is legitimate".to_owned(),
        ),
        RegistryError::InvalidResponse { .. } => (
            Code::InvalidRegistryResponse,
            Severity::Error,
            "is the host a registry? check `registries:` and any proxy in between".to_owned(),
        ),
        RegistryError::Timeout { .. } => (
            Code::RegistryTimeout,
            Severity::Error,
            "the gate fails closed; retry, or raise `network.request_timeout`".to_owned(),
        ),
        RegistryError::NotAllowed { .. } => (
            Code::RegistryNotAllowed,
            Severity::Error,
            format!(
                "for a registry without TLS set `registries: {{\"{host}\": {{insecure: true}}}}`"
            ),
        ),
        RegistryError::Offline { .. } => (
            Code::OfflineNoLayout,
            Severity::Error,
            format!(
                "offline (`--offline` or `network.offline: true`) images are read only from OCI layouts: map the host to one under `registries:` (`\"{host}\": {{layout: DIR}}`, e.g. filled by `skopeo copy docker://{image} oci:DIR`), or run without `--offline`"
            ),
        ),
        RegistryError::Layout { .. } => (
            Code::InvalidOciLayout,
            Severity::Error,
            "check the layout directory (`oci-layout`, `index.json`, `blobs/`)".to_owned(),
        ),
        // Could not decide: fail closed.
        RegistryError::Unavailable { .. } => (
            Code::RegistryUnavailable,
            Severity::Error,
            "the gate fails closed; retry when the registry is back, or configure a mirror or an OCI layout".to_owned(),
        ),
    };
    // An error a dependency wrote (rustls, reqwest, serde_json, a DER decoder) is said in the
    // user's terms first, then verbatim. Read from the reason and the causes, never the image
    // name.
    let cause = match e {
        RegistryError::Unavailable { reason, .. }
        | RegistryError::InvalidResponse { reason, .. }
        | RegistryError::Layout { reason, .. } => Some(format!("{reason}: {}", causes(e))),
        _ => None,
    };
    let message = Chain(e);
    match cause
        .as_deref()
        .and_then(crate::hint::explain_dependency_error)
    {
        Some(explained) => Finding::new(
            code,
            severity,
            format!("{}; the cause: {message}", explained.meaning),
        )
        .hint(format!("{}; {hint}", explained.action)),
        None => Finding::new(code, severity, message.to_string()).hint(hint),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_that_does_not_decode_is_explained_before_the_rule_hint() {
        let raw = "cosign keyless signature: the certificate cannot be parsed (malformed ASN.1 \
                   DER value for GeneralizedTime at DER byte 71)";
        let v = policy::Violation {
            code: Some("signature-not-trusted".into()),
            msg: "1 signature on `x` (sha256:…), none by `ci`".into(),
            hint: Some("`supplygate explain x` lists every signature".into()),
            expected: Some("a signature by `ci`".into()),
            found: Some(raw.into()),
            package: "data.supplygate.signatures".into(),
        };
        let f = violation_finding(v, Severity::Deny);
        assert_eq!(f.code, Code::SignatureNotTrusted);
        assert_eq!(f.found.as_deref(), Some(raw), "the raw cause stays");
        assert_eq!(
            f.package.as_deref(),
            Some("data.supplygate.signatures"),
            "the package that decided stays with the finding"
        );
        assert_eq!(
            f.hint.as_deref(),
            Some(
                "a certificate or key could not be decoded: its bytes are damaged, truncated \
                 or not the kind of object expected here: get a fresh copy of it (export the \
                 key again with `cosign public-key`, download the trusted root again, or sign \
                 the image again); `supplygate explain x` lists every signature"
            )
        );
    }
}
