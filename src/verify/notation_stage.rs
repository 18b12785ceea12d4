//! Notation in the verify stage (beside [`super::notation`], which holds Notation's own rules
//! and crypto and knows nothing of signers): one Notary Project signature found on a digest, decided by
//! every `notation:` signer under the statement its trust policy has for the image's
//! repository, recorded as a [`SignatureFact`] like a cosign signature (`verified_by`,
//! `rejections`, `signed_at`) with the Notation details beside it ([`NotationFact`]).
//!
//! A signature counts for a signer only when [`super::notation::decide`] verifies it: level `skip`
//! (nothing verified), a repository no statement covers, or a trust store that cannot be read
//! never count.

use std::sync::Arc;

use jiff::Timestamp;

use super::discover::SIGNATURE_ARTIFACT_TYPE;
use super::notation::policy::{Action, Check, Level, Statement};
use super::notation::{
    decide, inspect, Algorithm, Decision, Outcome, RevocationStatus, SigningScheme, Target,
};
use crate::reference::Digest;
use crate::verify::signature::ANY_SIGNER;
use crate::verify::signers::SignerKind;
use crate::verify::{Candidate, Reason, Rejection, SignatureFact, SignatureKind, Signer};

/// What happened to one check under one signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckOutcome {
    /// Ran and passed.
    Passed,
    /// Failed, and the statement says `log`: the signature still counts.
    Logged,
    /// Failed and enforced: the signature does not count.
    Failed,
    /// The statement skips it.
    Skipped,
    /// Not reached: an earlier check rejected the signature.
    NotRun,
}

/// One check's result, with the failure when it failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckResult {
    /// The check (`integrity`, `authenticity`, `authenticTimestamp`, `expiry`, `revocation`).
    pub check: Check,
    /// What happened.
    pub outcome: CheckOutcome,
    /// Why it failed (`logged` or `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// How one `notation:` signer decided the signature.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotationVerdict {
    /// The signer's name in config.
    pub signer: String,
    /// The trust policy statement applied (`None`: none covers the repository).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// Its level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// Each check in Notation's order.
    pub checks: Vec<CheckResult>,
    /// Revocation of the signing chain.
    pub revocation: RevocationStatus,
    /// The verified RFC 3161 timestamp: the earliest and latest instants it allows (RFC
    /// 3339), when one was verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<[String; 2]>,
}

/// What a Notary Project signature says about itself (read without trusting it) and each
/// Notation signer's verdict.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotationFact {
    /// The envelope's media type (`application/jose+json` or `application/cose`).
    pub envelope: String,
    /// `io.cncf.notary.signingScheme`, when the envelope decodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_scheme: Option<SigningScheme>,
    /// `alg`, when the envelope decodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<Algorithm>,
    /// The signing certificate's subject (RFC 4514), when the chain decodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_subject: Option<String>,
    /// The signing certificate's issuer (RFC 4514).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_issuer: Option<String>,
    /// sha256 of each certificate of the chain, signing certificate first.
    pub chain: Vec<Digest>,
    /// The signing time the envelope claims (RFC 3339); authentic only under
    /// `notary.x509.signingAuthority` or with a verified timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_time: Option<String>,
    /// `io.cncf.notary.expiry` (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
    /// Whether the envelope carries an RFC 3161 countersignature (verified or not: see the
    /// verdicts).
    pub timestamped: bool,
    /// One per `notation:` signer.
    pub verdicts: Vec<NotationVerdict>,
}

/// Decides one Notary Project signature found on `target.digest` of `repository`
/// (`registry/repository`) with every Notation signer of `signers`, at `now`. Other signers
/// are listed as rejections: they verify cosign signatures only.
pub fn verify_candidate(
    candidate: &Candidate,
    target: &Target,
    repository: &str,
    signers: &[Arc<Signer>],
    now: Timestamp,
) -> SignatureFact {
    let (media_type, envelope) = candidate.notation_envelope().unwrap_or_default();
    let inspected = inspect(media_type, envelope);
    let mut fact = SignatureFact::unverified(
        candidate.location.clone(),
        candidate.attached_to.clone(),
        Some(SignatureKind::Notation),
    );
    let mut notation = NotationFact {
        envelope: media_type.to_owned(),
        signing_scheme: inspected.as_ref().map(|i| i.scheme),
        algorithm: inspected.as_ref().map(|i| i.algorithm),
        certificate_subject: inspected.as_ref().and_then(|i| i.signer.clone()),
        certificate_issuer: inspected.as_ref().and_then(|i| i.issuer.clone()),
        chain: inspected
            .as_ref()
            .map(|i| i.chain.clone())
            .unwrap_or_default(),
        signing_time: inspected.as_ref().map(|i| i.signing_time.to_string()),
        expiry: inspected
            .as_ref()
            .and_then(|i| i.expiry.map(|e| e.to_string())),
        timestamped: inspected.as_ref().is_some_and(|i| i.timestamped),
        verdicts: Vec::new(),
    };
    for signer in signers {
        let SignerKind::Notation(trust) = &signer.kind else {
            fact.rejections.push(Rejection {
                signer: signer.name.clone(),
                reason: Reason::CosignSignerOnly,
            });
            continue;
        };
        let reject = |fact: &mut SignatureFact, reason: Reason| {
            fact.rejections.push(Rejection {
                signer: signer.name.clone(),
                reason,
            })
        };
        let Some(statement) = trust.statement_for(repository) else {
            reject(
                &mut fact,
                Reason::NoTrustStatement {
                    repository: repository.to_owned(),
                },
            );
            notation.verdicts.push(NotationVerdict {
                signer: signer.name.clone(),
                statement: None,
                level: None,
                checks: Vec::new(),
                revocation: RevocationStatus::NotRun,
                timestamp: None,
            });
            continue;
        };
        let decided = decide(
            media_type,
            envelope,
            target,
            statement,
            &trust.store,
            &trust.crls,
            now,
        );
        let decision = match decided {
            Ok(d) => d,
            Err(e) => {
                reject(&mut fact, Reason::TrustStoreUnusable(e));
                continue;
            }
        };
        notation
            .verdicts
            .push(verdict(&signer.name, statement, &decision));
        match &decision.outcome {
            // A statement that skips authenticity (`override: {authenticity: skip}`) lets
            // anyone's self-signed certificate through: such a signature cannot vouch here.
            Outcome::Verified(_) if statement.action(Check::Authenticity) == Action::Skip => {
                reject(
                    &mut fact,
                    Reason::AuthenticitySkipped {
                        statement: statement.name.clone(),
                    },
                )
            }
            Outcome::Verified(v) => {
                // Notation lets `audit` (or `override: {authenticity: log}`) accept a signature
                // whose chain reaches no trusted certificate; for a gate that would let anyone
                // who can sign satisfy `require:`, so such a signature never counts here.
                if let Some(untrusted) = v.logged.iter().find(|f| f.check == Check::Authenticity) {
                    reject(
                        &mut fact,
                        Reason::UntrustedSigner {
                            finding: untrusted.clone(),
                            level: statement.level,
                        },
                    );
                    continue;
                }
                fact.verified_by.push(signer.name.clone());
                let proven = match (v.scheme, decision.timestamp) {
                    (SigningScheme::X509SigningAuthority, _) => Some(v.signing_time),
                    (_, Some(stamped)) => {
                        fact.time_proofs.push(format!(
                            "RFC 3161 timestamp between {} and {} (signer `{}`)",
                            stamped.earliest, stamped.latest, signer.name
                        ));
                        Some(stamped.earliest)
                    }
                    _ => None,
                };
                if let Some(t) = proven {
                    let t = t.to_string();
                    if fact
                        .signed_at
                        .as_deref()
                        .is_none_or(|s| crate::verify::signature::earlier(&t, s))
                    {
                        fact.signed_at = Some(t);
                    }
                }
            }
            Outcome::Skipped => reject(
                &mut fact,
                Reason::SkipLevel {
                    statement: statement.name.clone(),
                },
            ),
            Outcome::Rejected(finding) => reject(&mut fact, Reason::Notation(finding.clone())),
        }
    }
    if inspected.is_none() && fact.verified_by.is_empty() && fact.rejections.is_empty() {
        fact.rejections.push(Rejection {
            signer: ANY_SIGNER.into(),
            reason: Reason::EnvelopeUndecodable,
        });
    }
    fact.notation = Some(Box::new(notation));
    fact
}

fn verdict(signer: &str, statement: &Statement, decision: &Decision) -> NotationVerdict {
    let rejected = match &decision.outcome {
        Outcome::Rejected(f) => Some(f),
        _ => None,
    };
    let mut reached = true;
    let checks = Check::ALL
        .into_iter()
        .map(|check| {
            let logged = decision.logged.iter().find(|f| f.check == check);
            let (outcome, reason) = if !reached {
                (CheckOutcome::NotRun, None)
            } else if decision.outcome == Outcome::Skipped
                || statement.action(check) == Action::Skip
            {
                (CheckOutcome::Skipped, None)
            } else if let Some(f) = rejected.filter(|f| f.check == check) {
                reached = false;
                (CheckOutcome::Failed, Some(f.failure.to_string()))
            } else if let Some(f) = logged {
                (CheckOutcome::Logged, Some(f.failure.to_string()))
            } else {
                (CheckOutcome::Passed, None)
            };
            CheckResult {
                check,
                outcome,
                reason,
            }
        })
        .collect();
    NotationVerdict {
        signer: signer.to_owned(),
        statement: Some(statement.name.clone()),
        level: Some(statement.level),
        checks,
        revocation: decision.revocation,
        timestamp: decision
            .timestamp
            .map(|s| [s.earliest.to_string(), s.latest.to_string()]),
    }
}

/// Finds the Notary Project signatures on `digest` of `image` and decides each with the
/// Notation signers of `signers`, at `now`; nothing (no lookup at all) when there is no
/// Notation signer. The payload must name the manifest as fetched by digest (media type,
/// size), fetched only when there is a signature.
pub async fn check(
    registry: &crate::registry::Registry,
    image: &crate::reference::ImageRef,
    digest: &Digest,
    signers: &[Arc<Signer>],
    now: Timestamp,
) -> Result<Vec<SignatureFact>, crate::registry::RegistryError> {
    if !signers.iter().any(|s| s.is_notation()) {
        return Ok(Vec::new());
    }
    let (found, listed) =
        crate::verify::discover::notation_signatures_counted(registry, image, digest).await?;
    let read = crate::verify::discover::MAX_NOTATION_SIGNATURES;
    // The deny must say that signatures went unread (anyone who can push can list junk
    // first), not only a stderr warning.
    let truncated = (listed > read).then(|| SignatureFact {
        rejections: vec![Rejection {
            signer: ANY_SIGNER.into(),
            reason: Reason::NotationSignaturesTruncated { listed, read },
        }],
        ..SignatureFact::unverified(
            crate::verify::Location::Referrers {
                manifest: digest.clone(),
                artifact_type: SIGNATURE_ARTIFACT_TYPE.to_owned(),
            },
            digest.clone(),
            Some(SignatureKind::Notation),
        )
    });
    if found.is_empty() {
        return Ok(truncated.into_iter().collect());
    }
    let manifest = registry.manifest(image, &digest.to_string()).await?;
    let target = Target::of_manifest(&manifest);
    let repository = image.name();
    Ok(found
        .iter()
        .map(|c| verify_candidate(c, &target, &repository, signers, now))
        .chain(truncated)
        .collect())
}
