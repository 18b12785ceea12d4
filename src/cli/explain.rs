//! `supplygate explain IMAGE`: everything known about one image — digest, platforms, every
//! signature found, where, what kind, and which signer verified it or exactly why not.

use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;

use super::{write_stdout, Context, Format};
use crate::facts::{AttestationReport, SignatureReport};
use crate::gate;
use crate::manifest::json::ObjectTree;
use crate::manifest::{self, Origin};
use crate::reference::ImageRef;
use crate::registry::Resolved;
use crate::report::{Decision, Finding};
use crate::verify::{Identity, Rejection, SignatureFact, SignatureKind, Signer};

/// Arguments of `explain`.
#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The image, as it would be written in a manifest (`ghcr.io/acme/app:v1`, `…@sha256:…`)
    #[arg(value_name = "IMAGE")]
    image: String,
    /// Output format
    #[arg(long, env = "SUPPLYGATE_EXPLAIN_FORMAT", value_enum, default_value_t = Format::Human)]
    format: Format,
    /// The namespace to decide for (exemptions and break-glass depend on it)
    #[arg(
        long,
        env = "SUPPLYGATE_EXPLAIN_NAMESPACE",
        value_name = "NAME",
        default_value = "default"
    )]
    namespace: String,
}

#[derive(Serialize)]
struct Explanation<'a> {
    image: &'a str,
    normalized: String,
    /// The registry facts, or `None` when they could not be read (the findings say why).
    #[serde(flatten)]
    facts: Option<Facts<'a>>,
    requirements: Vec<RequirementOutcome>,
    findings: &'a [Finding],
    decision: Decision,
}

/// What the registry said about the image.
#[derive(Serialize)]
struct Facts<'a> {
    #[serde(flatten)]
    resolved: &'a Resolved,
    signatures: &'a SignatureReport,
    attestations: &'a AttestationReport,
}

#[derive(Serialize)]
struct RequirementOutcome {
    images: Vec<String>,
    signers: Vec<String>,
    line: usize,
    satisfied: bool,
}

pub(crate) fn run(ctx: &Context, args: ExplainArgs) -> anyhow::Result<u8> {
    let image = ImageRef::parse(&args.image)
        .with_context(|| format!("`{}` is not a valid image reference", args.image))?;
    let signers: Vec<Arc<Signer>> = ctx.config.signers.values().cloned().collect();
    // A lookup that fails is not an error of `explain`: the evaluation below turns it into the
    // same finding and exit code as `check` (a missing image denies, exit 1; a registry that
    // does not answer cannot decide, exit 2).
    let facts = ctx.runtime.block_on(async {
        let resolved = ctx.registry.resolve(&image).await?;
        let signatures =
            gate::check_signatures_at(&ctx.registry, &image, &resolved, &signers, ctx.now).await?;
        let attestations =
            gate::check_attestations(&ctx.registry, &image, &resolved, &signers).await?;
        Ok::<_, crate::registry::RegistryError>((resolved, signatures, attestations))
    });
    if let Err(e) = &facts {
        tracing::debug!("explain: {}", crate::errors::Chain(e));
    }
    let name = image.name();
    let requirements: Vec<RequirementOutcome> = ctx
        .config
        .requirements_for(&name)
        .map(|r| RequirementOutcome {
            images: r.images.iter().map(ToString::to_string).collect(),
            signers: r.signers.iter().map(|s| s.name.clone()).collect(),
            line: r.line,
            satisfied: facts
                .as_ref()
                .is_ok_and(|(_, signatures, _)| signatures.satisfies(&r.signers)),
        })
        .collect();
    // The decision is `check`'s, over a one-container Pod held in memory: read as the webhook
    // reads an admission request's object (the manifest reader's walker on the tree of its
    // JSON), then the same evaluation, policies and all (the facts above are fetched again
    // from the registry's cache, not the network).
    let pod = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "explain", "namespace": args.namespace},
        "spec": {"containers": [{"name": "explain", "image": args.image}]},
    });
    let tree = ObjectTree::parse(&pod.to_string()).context("cannot read the Pod to explain")?;
    let origin = Arc::new(Origin::Named("explain (a one-container Pod)".to_owned()));
    tree.check(&origin, &ctx.config.limits)?;
    let found = manifest::extract_object(
        &tree.root,
        &origin,
        &ctx.config.extra_images,
        &ctx.config.limits,
        None,
    );
    let manifests = gate::Manifests {
        sites: found.sites,
        documents: found.documents,
        objects: found.objects,
        ..gate::Manifests::default()
    };
    let policy = ctx.policy(crate::policy::input::Mode::Check)?;
    let report = ctx.runtime.block_on(gate::evaluate_manifests(
        manifests,
        &ctx.config,
        &ctx.registry,
        &policy,
        &|_, _| {},
    ));
    let findings: Vec<Finding> = report
        .images
        .first()
        .map(|i| i.findings.clone())
        .unwrap_or_default();
    let decision = report.decision();
    let explanation = Explanation {
        image: &args.image,
        normalized: image.to_string(),
        facts: facts
            .as_ref()
            .ok()
            .map(|(resolved, signatures, attestations)| Facts {
                resolved,
                signatures,
                attestations,
            }),
        requirements,
        findings: &findings,
        decision,
    };
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&explanation)? + "\n",
        Format::Human => human(&explanation),
    };
    write_stdout(&text)?;
    Ok(decision.exit_code())
}

fn human(e: &Explanation<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "image       {}", e.image);
    let _ = writeln!(out, "normalized  {}", e.normalized);
    match &e.facts {
        Some(facts) => {
            let _ = writeln!(
                out,
                "digest      {} ({})",
                facts.resolved.digest, facts.resolved.media_type
            );
            for p in &facts.signatures.platforms {
                let _ = writeln!(out, "platform    {} {}", p.platform, p.digest);
            }
        }
        None => {
            let _ = writeln!(
                out,
                "digest      unknown: the registry facts could not be read"
            );
        }
    }
    if e.requirements.is_empty() {
        let _ = writeln!(
            out,
            "required    nothing: no `require` rule matches this image"
        );
    }
    for r in &e.requirements {
        let _ = writeln!(
            out,
            "required    one of `{}` (config line {}, images {}): {}",
            r.signers.join("`, `"),
            r.line,
            r.images.join(", "),
            if r.satisfied {
                "satisfied"
            } else {
                "NOT satisfied"
            }
        );
    }
    if let Some(facts) = &e.facts {
        section(
            &mut out,
            &format!("{}", facts.signatures.digest),
            &facts.signatures.facts,
        );
        for p in &facts.signatures.platforms {
            section(&mut out, &format!("{} {}", p.platform, p.digest), &p.facts);
        }
        attestation_section(&mut out, facts.attestations);
    }
    if !e.findings.is_empty() {
        let _ = writeln!(out, "\nfindings");
    }
    for f in e.findings {
        let _ = writeln!(out, "  {}: {}", f.code.as_str(), f.message);
        if let (Some(x), Some(found)) = (&f.expected, &f.found) {
            let _ = writeln!(out, "    expected {x}, found {found}");
        }
        if let Some(h) = &f.hint {
            let _ = writeln!(out, "    hint: {h}");
        }
    }
    let _ = writeln!(
        out,
        "\n{}",
        match e.decision {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Error => "error (could not decide: fail closed)",
        }
    );
    out
}

fn section(out: &mut String, what: &str, facts: &[SignatureFact]) {
    let _ = writeln!(out, "\nsignatures on {what}: {}", facts.len());
    if facts.is_empty() {
        let _ = writeln!(
            out,
            "  none (no `.sig` tag, no Sigstore bundle among the referrers)"
        );
    }
    for f in facts {
        let kind = match f.kind {
            Some(SignatureKind::CosignKey) => "cosign, key",
            Some(SignatureKind::CosignKeyless) => "cosign, keyless",
            Some(SignatureKind::Bundle) => "sigstore bundle",
            Some(SignatureKind::Notation) => "notation",
            None => "unreadable",
        };
        let _ = writeln!(out, "  {}  ({kind})", f.location);
        if let Some(r) = &f.docker_reference {
            let _ = writeln!(out, "    docker-reference  {r}");
        }
        if let Some(i) = &f.identity {
            identity(out, i);
        }
        if let Some(n) = &f.notation {
            notation(out, n);
        }
        if let Some(t) = &f.signed_at {
            let _ = writeln!(out, "    signed at         {t}");
        }
        for p in &f.time_proofs {
            let _ = writeln!(out, "    time proved by    {p}");
        }
        verdicts(out, &f.verified_by, &f.rejections);
    }
}

fn attestation_section(out: &mut String, report: &AttestationReport) {
    let _ = writeln!(
        out,
        "\nattestations on {}: {}",
        report.digest,
        report.facts.len()
    );
    for f in &report.facts {
        let what = f.predicate_type.as_deref().unwrap_or("unknown predicate");
        let _ = writeln!(out, "  {} ({what})", f.location);
        if let Some(m) = &f.subject_match {
            let platform = m
                .platform
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            let _ = writeln!(out, "    subject           {}{platform}", m.digest);
        }
        if let Some(p) = f.provenance.as_ref() {
            let fields = [
                ("builder", &p.builder_id),
                ("build type", &p.build_type),
                ("source", &p.source_repository),
                ("ref", &p.source_ref),
                ("commit", &p.source_commit),
                ("entry point", &p.entry_point),
                ("started", &p.build_started_on),
                ("finished", &p.build_finished_on),
            ];
            for (label, value) in fields {
                if let Some(v) = value {
                    let _ = writeln!(out, "    {label:<17} {v}");
                }
            }
        }
        if let Some(i) = &f.identity {
            identity(out, i);
        }
        verdicts(out, &f.verified_by, &f.rejections);
    }
}

/// Which signers verified it, and each other signer's reason (`*`: every signer's).
fn verdicts(out: &mut String, verified_by: &[String], rejections: &[Rejection]) {
    for v in verified_by {
        let _ = writeln!(out, "    verified by `{v}`");
    }
    for r in rejections {
        if r.signer == "*" {
            let _ = writeln!(out, "    rejected: {}", r.reason);
        } else {
            let _ = writeln!(out, "    not `{}`: {}", r.signer, r.reason);
        }
    }
}

/// A Notary Project signature: what it says, and each Notation signer's checks.
fn notation(out: &mut String, n: &crate::verify::notation_stage::NotationFact) {
    let scheme = match (n.signing_scheme, n.algorithm) {
        (Some(s), Some(a)) => format!("{}, {a}", serde_json::json!(s).as_str().unwrap_or("")),
        _ => "envelope does not decode".to_owned(),
    };
    let _ = writeln!(out, "    envelope          {} ({scheme})", n.envelope);
    let fields = [
        ("certificate", &n.certificate_subject),
        ("issued by", &n.certificate_issuer),
        ("signing time", &n.signing_time),
        ("expiry", &n.expiry),
    ];
    for (label, value) in fields {
        if let Some(v) = value {
            let _ = writeln!(out, "    {label:<17} {v}");
        }
    }
    for v in &n.verdicts {
        let checks: Vec<String> = v
            .checks
            .iter()
            .map(|c| {
                let outcome = serde_json::json!(c.outcome);
                format!("{} {}", c.check.as_str(), outcome.as_str().unwrap_or(""))
            })
            .collect();
        let level = v
            .level
            .map(|l| serde_json::json!(l).as_str().unwrap_or("").to_owned())
            .unwrap_or_else(|| "no statement".to_owned());
        let _ = writeln!(out, "    `{}` ({level})  {}", v.signer, checks.join(", "));
    }
}

fn identity(out: &mut String, i: &Identity) {
    // The signer differs from the workflow only for a reusable workflow: say so then only.
    let signer = i
        .signer_workflow
        .clone()
        .filter(|s| Some(s) != i.workflow.as_ref());
    let fields = [
        ("issuer", &i.issuer),
        ("subject", &i.subject),
        ("repository", &i.source_repository),
        ("ref", &i.source_ref),
        ("commit", &i.source_commit),
        ("workflow", &i.workflow),
        ("signer workflow", &signer),
        ("trigger", &i.trigger),
        ("runner", &i.runner_environment),
    ];
    for (label, value) in fields {
        if let Some(v) = value {
            let _ = writeln!(out, "    {label:<17} {v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_names_a_reusable_signer_workflow_and_the_runner() {
        let caller = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
        let called = "https://github.com/acme/ci/.github/workflows/attest.yml@refs/heads/main";
        let mut i = Identity {
            workflow: Some(caller.into()),
            signer_workflow: Some(caller.into()),
            runner_environment: Some("github-hosted".into()),
            ..Identity::default()
        };
        let mut out = String::new();
        identity(&mut out, &i);
        assert_eq!(
            out,
            format!("    workflow          {caller}\n    runner            github-hosted\n")
        );
        i.signer_workflow = Some(called.into());
        let mut out = String::new();
        identity(&mut out, &i);
        assert_eq!(
            out,
            format!("    workflow          {caller}\n    signer workflow   {called}\n    runner            github-hosted\n")
        );
    }
}
