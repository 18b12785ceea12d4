//! Shared by every signature format: bundle verification, facts, parsing and reasons.

use super::*;

/// The verifier call, with the policy chosen by the signer (never by the bundle).
pub(super) fn verify_bundle(
    bundle: &Bundle,
    artifact: Artifact<'_>,
    signer: &Signer,
) -> Result<Verified, Reason> {
    if let Some(mismatch) = kind_mismatch(signer, bundle.signing_certificate().is_some()) {
        return Err(mismatch);
    }
    match &signer.kind {
        SignerKind::Key {
            key,
            tlog,
            verifier,
            trusted_root,
            ..
        } => {
            let policy = match tlog {
                TlogPolicy::Require => PublicKeyVerificationPolicy::new(key.clone()),
                TlogPolicy::InsecureIgnore => {
                    PublicKeyVerificationPolicy::new(key.clone()).skip_tlog_unsafe()
                }
            };
            let result = verifier
                .verify(artifact, bundle, &policy)
                .map_err(|e| rejection_of(&e, bundle, trusted_root))?;
            // With `insecure_ignore_tlog` the log entries were skipped, not checked: they
            // prove no time.
            let tlog_checked = matches!(tlog, TlogPolicy::Require);
            Ok(verified(&result, None, bundle, trusted_root, tlog_checked))
        }
        SignerKind::Keyless {
            issuer,
            subject,
            verifier,
            insecure_skip_sct,
            trusted_root,
            constraints,
            timestamp_threshold,
            allow_timestamp_only,
            ..
        } => {
            // Identity is matched here (regex or exact) and only on a verified result.
            let mut policy = VerificationPolicy::any_identity().require_issuer(issuer.clone());
            if *insecure_skip_sct {
                policy = policy.skip_sct();
            }
            // A bundle without any log entry but with RFC 3161 timestamps: the log cannot be
            // checked because there is none, so the timestamps alone must prove the time.
            // Only when the signer allows it; a log entry that is present is always checked.
            let material = &bundle.verification_material;
            let timestamps = material
                .timestamp_verification_data
                .rfc3161_timestamps
                .len();
            if material.tlog_entries.is_empty() && timestamps > 0 {
                if !*allow_timestamp_only {
                    return Err(Reason::TimestampOnly { timestamps });
                }
                policy = policy.skip_tlog_unsafe();
            }
            let result = verifier
                .verify(artifact, bundle, &policy)
                .map_err(|e| rejection_of(&e, bundle, trusted_root))?;
            let sources = crate::verify::timestamp::independent_times(bundle, trusted_root);
            if sources.len() < *timestamp_threshold {
                return Err(Reason::TimestampThreshold {
                    found: sources,
                    required: *timestamp_threshold,
                });
            }
            if !result.certificate_verified() {
                return Err(Reason::CertificateChainNotVerified);
            }
            let Some(san) = result.identity() else {
                return Err(Reason::NoCertificateSubject);
            };
            if !subject.matches(san.as_str()) {
                return Err(Reason::IdentityMismatch {
                    identity: san.as_str().to_owned(),
                    expected: subject.to_string(),
                });
            }
            if !constraints.is_empty() {
                let Some(info) = result.certificate() else {
                    return Err(Reason::ClaimsUnreadable);
                };
                constraints.check(&info.ci_claims)?;
            }
            let identity = result.certificate().map(identity_from);
            Ok(verified(&result, identity, bundle, trusted_root, true))
        }
        SignerKind::Notation(_) => Err(notation_only(signer)),
    }
}

pub(super) fn verified(
    result: &VerificationResult,
    identity: Option<Identity>,
    bundle: &Bundle,
    root: &TrustedRoot,
    tlog_checked: bool,
) -> Verified {
    Verified {
        time_proofs: crate::verify::timestamp::time_proofs(bundle, root, tlog_checked),
        identity,
        signed_at: result
            .verified_timestamps()
            .iter()
            .min()
            .map(|t| t.to_string()),
    }
}

pub(super) fn record(fact: &mut SignatureFact, signer: &Signer, verdict: Result<Verified, Reason>) {
    match verdict {
        Ok(v) => {
            fact.verified_by.push(signer.name.clone());
            if let Some(at) = v.signed_at {
                if fact.signed_at.as_ref().is_none_or(|old| earlier(&at, old)) {
                    fact.signed_at = Some(at);
                }
            }
            if fact.identity.is_none() {
                fact.identity = v.identity.map(Box::new);
            }
            if fact.time_proofs.is_empty() {
                fact.time_proofs = v.time_proofs;
            }
        }
        Err(reason) => fact.rejections.push(Rejection {
            signer: signer.name.clone(),
            reason,
        }),
    }
}

/// Whether RFC 3339 time `a` is before `b`. Not string order: a fractional second sorts
/// before the whole one (`…:04.5Z` < `…:04Z` as strings, since `.` < `Z`).
pub(crate) fn earlier(a: &str, b: &str) -> bool {
    match (a.parse::<jiff::Timestamp>(), b.parse::<jiff::Timestamp>()) {
        (Ok(a), Ok(b)) => a < b,
        _ => a < b,
    }
}

pub(super) fn parse_bundle(json: &[u8]) -> Result<Bundle, Reason> {
    if json.len() > BUNDLE_MAX {
        return Err(too_large("bundle", json.len(), BUNDLE_MAX));
    }
    let text = std::str::from_utf8(json).map_err(|_| Reason::BundleNotUtf8)?;
    Bundle::from_json(text).map_err(|e| Reason::NotBundle {
        detail: lowercase_first(&e.to_string()),
    })
}

pub(super) fn parse_certificate_pem(pem: &str) -> Result<DerCertificate, Reason> {
    DerCertificate::from_pem(pem).map_err(|_| Reason::CertificateNotPem)
}

/// The identity in a certificate, read before (and whatever the outcome of) verification.
pub(super) fn identity_of(cert: &DerCertificate) -> Result<Identity, Reason> {
    parse_certificate_info(cert)
        .map(|info| identity_from(&info))
        .map_err(|e| Reason::CertificateUnparseable {
            detail: lowercase_first(&e.to_string()),
        })
}

pub(super) fn identity_from(info: &CertificateInfo) -> Identity {
    let ci = &info.ci_claims;
    Identity {
        issuer: info.issuer.clone(),
        subject: info.identity.as_ref().map(|s| s.as_str().to_owned()),
        source_repository: ci.source_repository_uri.clone(),
        source_ref: ci.source_repository_ref.clone(),
        source_commit: ci.source_repository_digest.clone(),
        workflow: ci.build_config_uri.clone(),
        trigger: ci.build_trigger.clone(),
        source_owner: ci.source_repository_owner_uri.clone(),
        signer_workflow: ci.build_signer_uri.clone(),
        runner_environment: ci.runner_environment.clone(),
    }
}

pub(super) fn artifact_for(subject: Subject<'_>) -> Result<Artifact<'_>, Reason> {
    match subject {
        Subject::Bytes(bytes) => Ok(Artifact::from_blob(bytes)),
        Subject::Digest(d) => {
            let invalid = || Reason::DigestUnusable {
                digest: d.to_string(),
            };
            let digest = match d.algorithm() {
                DigestAlgorithm::Sha256 => {
                    ArtifactDigest::sha256(Sha256Hash::from_hex(d.hex()).map_err(|_| invalid())?)
                }
                DigestAlgorithm::Sha512 => ArtifactDigest::new(
                    HashAlgorithm::Sha2512,
                    DigestBytes::from_hex(d.hex()).map_err(|_| invalid())?,
                )
                .map_err(|_| invalid())?,
            };
            Ok(Artifact::Digest(digest))
        }
    }
}

pub(super) fn algorithm_name(d: &Digest) -> &'static str {
    match d.algorithm() {
        DigestAlgorithm::Sha256 => "sha256",
        DigestAlgorithm::Sha512 => "sha512",
    }
}

pub(super) fn hash_algorithm(d: &Digest) -> HashAlgorithm {
    match d.algorithm() {
        DigestAlgorithm::Sha256 => HashAlgorithm::Sha2256,
        DigestAlgorithm::Sha512 => HashAlgorithm::Sha2512,
    }
}

pub(super) fn hash_name(h: HashAlgorithm) -> &'static str {
    match h {
        HashAlgorithm::Sha2256 => "sha256",
        HashAlgorithm::Sha2384 => "sha384",
        HashAlgorithm::Sha2512 => "sha512",
        _ => "unknown",
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            // Writing to a String cannot fail.
            let _ = write!(s, "{b:02x}");
            s
        })
}

pub(super) fn signs_other_digest(signed: &Digest, expected: &Digest) -> Reason {
    Reason::SignsOtherDigest {
        signed: Short(signed.to_string()),
        expected: Short(expected.to_string()),
    }
}

pub(super) fn too_large(what: &'static str, len: usize, max: usize) -> Reason {
    Reason::TooLarge { what, len, max }
}

/// A verifier error as a one-line reason; a rejected RFC 3161 timestamp is explained
/// (which TSA, which genTime, why each authority of the root refused it).
pub(super) fn rejection_of(
    e: &sigstore_verify::Error,
    bundle: &Bundle,
    root: &TrustedRoot,
) -> Reason {
    if let sigstore_verify::Error::Timestamp(_) = e {
        if let Some(explained) = crate::verify::timestamp::explain_rejection(bundle, root) {
            // The verifier's own message names only the last authority it tried.
            return Reason::TimestampRejected { explained };
        }
    }
    reason_of(e)
}

/// A verifier error as a one-line reason.
pub(super) fn reason_of(e: &sigstore_verify::Error) -> Reason {
    match e {
        sigstore_verify::Error::IssuerMismatch { expected, actual } => Reason::IssuerMismatch {
            expected: expected.clone(),
            actual: actual.clone(),
        },
        other => {
            let raw = lowercase_first(&other.to_string());
            // webpki and the log code speak in type names; say what they mean first.
            let plain = if raw.contains("CertExpired") || raw.contains("CertNotValidYet") {
                Some("the certificate was not valid at the time the log or a timestamp proves")
            } else if raw.contains("UnknownIssuer")
                || (raw.contains("certificate chain")
                    && raw.contains("InvalidSignatureForPublicKey"))
            {
                Some("the certificate was not issued by a CA of the trusted root")
            } else if raw.contains("No log key valid") {
                Some("logged in a transparency log that is not in the trusted root")
            } else {
                None
            };
            Reason::Verifier { plain, raw }
        }
    }
}

/// Lowercases the first letter unless it starts an acronym (`DSSE`, `SCT`).
pub(super) fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some(b)) if a.is_uppercase() && !b.is_uppercase() => {
            let mut out: String = a.to_lowercase().collect();
            out.push_str(s.get(a.len_utf8()..).unwrap_or_default());
            out
        }
        _ => s.to_owned(),
    }
}
