//! Stage (4), Notation: verifies Notary Project signatures (JWS or COSE_Sign1 envelopes
//! signed under the `notary.x509` or `notary.x509.signingAuthority` scheme) against a Notation trust policy and
//! trust store, with Notation's per-check semantics (integrity, authenticity, authentic
//! timestamp, expiry, revocation; enforced, logged or skipped by level).
//!
//! [`crate::verify::discover::notation_signatures`] finds signatures (referrers API, tag
//! fallback, OCI layouts); [`signer`] is the `notation:` signer kind of `supplygate.yaml`;
//! [`crate::verify::notation_stage`] turns each signature into a [`crate::verify::SignatureFact`] for the verify stage.
//! [`envelope`] and [`cose`] decode, [`pki`] handles certificates, [`policy`] holds
//! `trustpolicy.json` and trust stores, [`revocation`] CRLs, [`verify`] runs the checks in
//! Notation's order.

use jiff::Timestamp;

use crate::reference::Digest;

pub mod cose;
pub mod envelope;
mod pki;
pub mod policy;
pub mod revocation;
pub mod signer;
pub mod timestamp;

pub use envelope::{Algorithm, Envelope, SigningScheme, COSE_MEDIA_TYPE, JWS_MEDIA_TYPE};
pub use pki::DistinguishedName;
pub use policy::{
    parse_dn, Action, Check, Level, NotationConfig, PolicyError, Statement, StoreKind, TrustPolicy,
    TrustStore, TrustedIdentities, VerifyTimestamp,
};
pub use revocation::{CrlError, Crls};
pub use signer::{InlinePolicy, NotationSignerError, NotationTrust, PolicySource};

/// Artifact type of a Notation signature manifest (discovery looks for it).
pub use super::discover::SIGNATURE_ARTIFACT_TYPE;

/// The artifact a signature is about: the payload's `targetArtifact` must equal it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Target {
    /// `mediaType` of the artifact's manifest.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

impl Target {
    /// The image manifest as fetched: its media type, digest and size.
    pub fn of_manifest(manifest: &crate::registry::Manifest) -> Self {
        Self {
            media_type: manifest.media_type.clone(),
            digest: manifest.digest.clone(),
            size: u64::try_from(manifest.body.len()).unwrap_or(u64::MAX),
        }
    }
}

/// A part of the envelope that failed to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum EnvelopeField {
    /// The envelope as a whole (not a JWS JSON serialization object).
    #[error("envelope")]
    Envelope,
    /// `protected`.
    #[error("protected")]
    Protected,
    /// `payload`.
    #[error("payload")]
    Payload,
    /// `signature`.
    #[error("signature")]
    Signature,
    /// `header.x5c`.
    #[error("x5c")]
    CertificateChain,
    /// `header.io.cncf.notary.timestampSignature`.
    #[error("io.cncf.notary.timestampSignature")]
    TimestampSignature,
}

/// A field of the payload's `targetArtifact` that differs from the artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum TargetField {
    /// `digest`.
    #[error("digest")]
    Digest,
    /// `mediaType`.
    #[error("mediaType")]
    MediaType,
    /// `size`.
    #[error("size")]
    Size,
}

/// What is wrong with a certificate of the chain (`index` 0 is the signing certificate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum CertificateProblem {
    /// Not a DER X.509 certificate.
    #[error("it is not a DER X.509 certificate")]
    Unparseable,
    /// Its issuer is not the next certificate's subject.
    #[error("its issuer is not the next certificate")]
    NotIssuedByNext,
    /// A certificate before the last is self-issued (a second root, or a self-signed leaf
    /// with more certificates after it).
    #[error("it is self-issued but not the last")]
    SelfIssuedBeforeRoot,
    /// The last certificate is not self-issued (the chain must reach its root).
    #[error("the last certificate is not self-issued")]
    ChainNotRooted,
    /// The signing certificate lacks a critical key usage with `digitalSignature`, or its key
    /// usage allows encipherment, key agreement, certificate or CRL signing.
    #[error("its key usage does not allow (only) digital signatures")]
    LeafKeyUsage,
    /// The signing certificate is a CA.
    #[error("the signing certificate is a CA")]
    LeafIsCa,
    /// The signing certificate's EKU includes server/client auth, email protection,
    /// timestamping or OCSP signing.
    #[error("its extended key usage is excluded for signing")]
    LeafExtendedKeyUsage,
    /// A certificate above the signing one is not a CA (basic constraints).
    #[error("it is not a CA")]
    NotCa,
    /// A CA certificate lacks a critical key usage with `keyCertSign`.
    #[error("its key usage does not allow certificate signing")]
    CaKeyUsage,
    /// The signing key is not RSA 2048/3072/4096 or ECDSA P-256/384/521.
    #[error("its key is not RSA 2048/3072/4096 or ECDSA P-256/384/521")]
    UnsupportedKey,
    /// Not valid yet at the time checked.
    #[error("it is not valid yet")]
    NotYetValid,
    /// Expired at the time checked.
    #[error("it has expired")]
    Expired,
}

/// Why one check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The envelope media type is not one this verifier handles.
    #[error("envelope media type `{media_type}` is not supported")]
    UnsupportedEnvelope {
        /// The layer's media type.
        media_type: String,
    },
    /// A part of the envelope does not decode.
    #[error("envelope part `{field}` is malformed")]
    Malformed {
        /// Which part.
        field: EnvelopeField,
    },
    /// A required protected header is missing.
    #[error("protected header `{header}` is missing")]
    MissingHeader {
        /// Its name.
        header: &'static str,
    },
    /// A COSE envelope without its payload (`nil`): it must carry what it signs.
    #[error("the envelope's payload is detached")]
    DetachedPayload,
    /// `alg` is not one the specification allows (`none`, `HS256`, `RS256` …).
    #[error("signature algorithm `{alg}` is not allowed")]
    UnsupportedAlgorithm {
        /// The `alg` written.
        alg: String,
    },
    /// `cty` is not the Notary Project payload type.
    #[error("payload content type `{cty}` is not supported")]
    UnsupportedContentType {
        /// The `cty` written.
        cty: String,
    },
    /// `io.cncf.notary.signingScheme` has an unknown value.
    #[error("signing scheme `{scheme}` is not supported")]
    UnsupportedSigningScheme {
        /// The scheme written.
        scheme: String,
    },
    /// `crit` names a header this verifier does not understand.
    #[error("critical header `{header}` is not understood")]
    UnknownCriticalHeader {
        /// Its name.
        header: String,
    },
    /// A header the specification requires to be critical is not in `crit`.
    #[error("header `{header}` must be listed in `crit`")]
    NotMarkedCritical {
        /// Its name.
        header: &'static str,
    },
    /// A header that the signing scheme forbids.
    #[error("header `{header}` is not allowed under this signing scheme")]
    UnexpectedHeader {
        /// Its name.
        header: &'static str,
    },
    /// A time header is not RFC 3339.
    #[error("header `{header}` is not an RFC 3339 time")]
    BadTime {
        /// Its name.
        header: &'static str,
    },
    /// No `x5c` certificates.
    #[error("the envelope carries no certificate chain")]
    MissingCertificateChain,
    /// A certificate of the chain breaks the specification's requirements.
    #[error("certificate {index} of the chain: {problem}")]
    Certificate {
        /// 0 = the signing certificate.
        index: usize,
        /// What is wrong.
        problem: CertificateProblem,
    },
    /// `alg` does not match the signing key (e.g. `PS512` with an RSA 2048 key).
    #[error("algorithm {alg} does not match the signing key ({key})")]
    AlgorithmKeyMismatch {
        /// The envelope's `alg`.
        alg: Algorithm,
        /// The algorithm the key calls for.
        key: Algorithm,
    },
    /// `io.cncf.notary.expiry` is not after the signing time.
    #[error("the signature's expiry is not after its signing time")]
    ExpiryBeforeSigningTime,
    /// The signature does not verify with the signing certificate's key.
    #[error("the signature does not verify")]
    SignatureInvalid,
    /// The payload names another artifact.
    #[error("the signed payload names another artifact (its `{field}` differs)")]
    TargetMismatch {
        /// The first field that differs.
        field: TargetField,
    },
    /// No certificate of the chain is in the trust stores the policy names.
    #[error("the certificate chain contains no trusted certificate")]
    NoTrustedCertificate,
    /// The chain does not verify up to the trusted certificate.
    #[error("the certificate chain does not verify: {error}")]
    ChainInvalid {
        /// webpki's reason.
        error: webpki::Error,
    },
    /// The signing certificate's subject matches no `trustedIdentities` entry.
    #[error("signer `{subject}` is not a trusted identity")]
    IdentityNotTrusted {
        /// The subject, RFC 4514.
        subject: String,
    },
    /// The RFC 3161 timestamp countersignature that must vouch for the signing time does not
    /// verify.
    #[error("the timestamp countersignature does not verify: {problem}")]
    TimestampInvalid {
        /// Why.
        problem: timestamp::TimestampProblem,
    },
    /// The statement names a `tsa` store and the timestamp must be verified, but the
    /// envelope carries no `io.cncf.notary.timestampSignature`.
    #[error("the signature carries no timestamp countersignature")]
    TimestampMissing,
    /// `io.cncf.notary.expiry` has passed.
    #[error("the signature expired at {expiry}")]
    SignatureExpired {
        /// The expiry.
        expiry: Timestamp,
    },
    /// A certificate names CRL or OCSP locations and no CRL was given (supplygate does not
    /// fetch them): under `enforce`, fail closed.
    #[error("revocation of certificate {index} was not checked: no CRL was given")]
    RevocationNotChecked {
        /// The certificate.
        index: usize,
    },
    /// A certificate's revocation status could not be established from the CRLs given.
    #[error("revocation status of certificate {index} is unknown: {problem}")]
    RevocationUnknown {
        /// The certificate.
        index: usize,
        /// Why.
        problem: revocation::RevocationProblem,
    },
    /// A certificate of the chain is listed in its issuer's CRL.
    #[error("a certificate of the chain is revoked")]
    CertificateRevoked,
}

/// A failed check and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The check.
    pub check: Check,
    /// Why it failed.
    pub failure: Failure,
}

/// A signature that counts under the statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The trust policy statement applied.
    pub statement: String,
    /// Its level.
    pub level: Level,
    /// The signing scheme.
    pub scheme: SigningScheme,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Signing time (authentic only under `notary.x509.signingAuthority`).
    pub signing_time: Timestamp,
    /// `io.cncf.notary.expiry`.
    pub expiry: Option<Timestamp>,
    /// The signing certificate's subject, RFC 4514.
    pub signer: String,
    /// sha256 of each certificate of the chain, signing certificate first.
    pub chain: Vec<Digest>,
    /// The payload's `targetArtifact.annotations` (signed metadata; Notation's
    /// `--user-metadata` requires given pairs to be among them).
    pub annotations: std::collections::BTreeMap<String, String>,
    /// Checks that failed with action `log`.
    pub logged: Vec<Finding>,
}

/// The decision on one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Level `skip`: nothing was verified.
    Skipped,
    /// The signature counts (possibly with logged failures).
    Verified(Box<Verified>),
    /// An enforced check failed.
    Rejected(Finding),
}

struct Run<'a> {
    statement: &'a Statement,
    logged: Vec<Finding>,
}

impl Run<'_> {
    /// Applies the statement's action to a check's result; `Err` when it rejects.
    fn check(&mut self, check: Check, result: Result<(), Failure>) -> Result<(), Finding> {
        let Err(failure) = result else {
            return Ok(());
        };
        let finding = Finding { check, failure };
        match self.statement.action(check) {
            Action::Enforce => Err(finding),
            Action::Log => {
                self.logged.push(finding);
                Ok(())
            }
            Action::Skip => Ok(()),
        }
    }

    fn runs(&self, check: Check) -> bool {
        self.statement.action(check) != Action::Skip
    }
}

/// Verifies one signature envelope (a layer of a Notation signature manifest, `media_type`
/// its layer media type) for the artifact `target`, under `statement` (see
/// [`TrustPolicy::statement_for`]) and `store`, at time `now`.
///
/// `Err` means the policy's trust stores are unusable: could not decide.
pub fn verify(
    media_type: &str,
    envelope: &[u8],
    target: &Target,
    statement: &Statement,
    store: &TrustStore,
    now: Timestamp,
) -> Result<Outcome, PolicyError> {
    decide(
        media_type,
        envelope,
        target,
        statement,
        store,
        &Crls::none(),
        now,
    )
    .map(|d| d.outcome)
}

/// Whether the certificates of a signature could be revoked, and what was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationStatus {
    /// No certificate of the chain names a CRL distribution point or an OCSP responder:
    /// nothing can revoke them (Notation: `OK`).
    NotRevocable,
    /// A certificate names revocation information and no CRL was given (see
    /// [`Failure::RevocationNotChecked`]).
    NotChecked,
    /// Every revocable certificate is covered by a current CRL of its issuer that does not
    /// list it.
    Good,
    /// A certificate is listed in its issuer's CRL.
    Revoked,
    /// A revocable certificate has no current, valid CRL among those given.
    Unknown,
    /// The check did not run (level `skip`, an override to `skip`, or an earlier check
    /// rejected the signature).
    NotRun,
}

/// [`verify`]'s outcome with what a report shows beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The outcome.
    pub outcome: Outcome,
    /// Checks that failed with action `log`, also before a rejection.
    pub logged: Vec<Finding>,
    /// The verified RFC 3161 timestamp (genTime ± accuracy), when one was verified.
    pub timestamp: Option<timestamp::Stamped>,
    /// Revocation.
    pub revocation: RevocationStatus,
}

/// [`verify`] with the CRLs `crls` for the revocation check, returning also the logged
/// failures, the verified timestamp and the revocation status.
pub fn decide(
    media_type: &str,
    envelope: &[u8],
    target: &Target,
    statement: &Statement,
    store: &TrustStore,
    crls: &Crls,
    now: Timestamp,
) -> Result<Decision, PolicyError> {
    let mut decision = Decision {
        outcome: Outcome::Skipped,
        logged: Vec::new(),
        timestamp: None,
        revocation: RevocationStatus::NotRun,
    };
    if statement.level == Level::Skip {
        return Ok(decision);
    }
    let mut run = Run {
        statement,
        logged: Vec::new(),
    };
    let integrity = integrity(media_type, envelope, target);
    let (envelope, chain) = match integrity {
        Ok(parsed) => parsed,
        Err(failure) => {
            decision.outcome = Outcome::Rejected(Finding {
                check: Check::Integrity,
                failure,
            });
            return Ok(decision);
        }
    };
    let mut stamped = None;
    let mut revocation = RevocationStatus::NotRun;
    let decided = (|| -> Result<Result<(), Finding>, PolicyError> {
        if run.runs(Check::Authenticity) {
            let kind = match envelope.scheme {
                SigningScheme::X509 => StoreKind::Ca,
                SigningScheme::X509SigningAuthority => StoreKind::SigningAuthority,
            };
            let trusted = store.certificates_for(statement, kind)?;
            let result = pki::chain_to_trust_store(&chain, &trusted, envelope.signing_time)
                .and_then(|()| identity(&chain, &statement.identities));
            if let Err(finding) = run.check(Check::Authenticity, result) {
                return Ok(Err(finding));
            }
        }
        if run.runs(Check::AuthenticTimestamp) {
            let result = authentic_timestamp(&envelope, &chain, statement, store, now)?;
            let result = result.map(|s| stamped = s);
            if let Err(finding) = run.check(Check::AuthenticTimestamp, result) {
                return Ok(Err(finding));
            }
        }
        let expired = match envelope.expiry {
            Some(expiry) if expiry <= now => Err(Failure::SignatureExpired { expiry }),
            _ => Ok(()),
        };
        if let Err(finding) = run.check(Check::Expiry, expired) {
            return Ok(Err(finding));
        }
        if !run.runs(Check::Revocation) {
            return Ok(Ok(()));
        }
        let (status, result) = revocation::check(&chain, crls, envelope.signing_time, now);
        revocation = status;
        Ok(run.check(Check::Revocation, result))
    })()?;
    decision.logged = run.logged;
    decision.timestamp = stamped;
    decision.revocation = revocation;
    if let Err(finding) = decided {
        decision.outcome = Outcome::Rejected(finding);
        return Ok(decision);
    }
    let signer = chain
        .first()
        .map(|c| pki::subject_string(&c.cert))
        .unwrap_or_default();
    decision.outcome = Outcome::Verified(Box::new(Verified {
        statement: statement.name.clone(),
        level: statement.level,
        scheme: envelope.scheme,
        algorithm: envelope.algorithm,
        signing_time: envelope.signing_time,
        expiry: envelope.expiry,
        signer,
        chain: chain.iter().map(|c| Digest::sha256_of(&c.der)).collect(),
        annotations: envelope.annotations,
        logged: decision.logged.clone(),
    }));
    Ok(decision)
}

/// What a signature says about itself, read without deciding trust (`notation inspect`):
/// for reports, never for trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// The signing scheme.
    pub scheme: SigningScheme,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The signing time as claimed (authentic only under `notary.x509.signingAuthority`).
    pub signing_time: Timestamp,
    /// `io.cncf.notary.expiry`.
    pub expiry: Option<Timestamp>,
    /// The signing certificate's subject, RFC 4514, when the chain parses.
    pub signer: Option<String>,
    /// The signing certificate's issuer, RFC 4514, when the chain parses.
    pub issuer: Option<String>,
    /// sha256 of each certificate of `x5c`, signing certificate first.
    pub chain: Vec<Digest>,
    /// The artifact the payload names.
    pub target: Target,
    /// Whether it carries a timestamp countersignature (verified or not).
    pub timestamped: bool,
}

/// Decodes an envelope without verifying anything; `None` when it does not decode.
pub fn inspect(media_type: &str, bytes: &[u8]) -> Option<Inspected> {
    let envelope = match media_type {
        JWS_MEDIA_TYPE => envelope::parse_jws(bytes).ok()?,
        COSE_MEDIA_TYPE => cose::parse_cose(bytes).ok()?,
        _ => return None,
    };
    let chain = pki::parse_chain(&envelope.chain).ok();
    let leaf = chain.as_ref().and_then(|c| c.first());
    Some(Inspected {
        scheme: envelope.scheme,
        algorithm: envelope.algorithm,
        signing_time: envelope.signing_time,
        expiry: envelope.expiry,
        signer: leaf.map(|c| pki::subject_string(&c.cert)),
        issuer: leaf.map(|c| pki::issuer_string(&c.cert)),
        chain: envelope
            .chain
            .iter()
            .map(|der| Digest::sha256_of(der))
            .collect(),
        target: envelope.target,
        timestamped: envelope.timestamp_token.is_some(),
    })
}

/// Integrity: the envelope decodes, its header is as the specification demands, the chain
/// has the required profile, the algorithm fits the key, the signature verifies and the
/// payload names `target`.
fn integrity(
    media_type: &str,
    bytes: &[u8],
    target: &Target,
) -> Result<(Envelope, Vec<pki::ChainCert>), Failure> {
    let envelope = match media_type {
        JWS_MEDIA_TYPE => envelope::parse_jws(bytes)?,
        COSE_MEDIA_TYPE => cose::parse_cose(bytes)?,
        _ => {
            return Err(Failure::UnsupportedEnvelope {
                media_type: media_type.to_owned(),
            })
        }
    };
    let chain = pki::parse_chain(&envelope.chain)?;
    let leaf = chain.first().ok_or(Failure::MissingCertificateChain)?;
    let key = pki::algorithm_for_key(&leaf.cert)?;
    if key != envelope.algorithm {
        return Err(Failure::AlgorithmKeyMismatch {
            alg: envelope.algorithm,
            key,
        });
    }
    pki::verify_signature(
        &leaf.der,
        envelope.algorithm,
        &envelope.signing_input,
        &envelope.signature,
    )?;
    pki::check_chain_profile(&chain)?;
    let signed = &envelope.target;
    let differs = if signed.digest != target.digest {
        Some(TargetField::Digest)
    } else if signed.media_type != target.media_type {
        Some(TargetField::MediaType)
    } else if signed.size != target.size {
        Some(TargetField::Size)
    } else {
        None
    };
    if let Some(field) = differs {
        return Err(Failure::TargetMismatch { field });
    }
    Ok((envelope, chain))
}

fn identity(chain: &[pki::ChainCert], identities: &TrustedIdentities) -> Result<(), Failure> {
    let TrustedIdentities::Subjects(subjects) = identities else {
        return Ok(());
    };
    let leaf = chain.first().ok_or(Failure::MissingCertificateChain)?;
    let subject = pki::subject_dn(&leaf.cert);
    let trusted = subject.as_ref().is_some_and(|dn| {
        subjects
            .iter()
            .any(|wanted| wanted.iter().all(|(k, v)| dn.get(k) == Some(v)))
    });
    if trusted {
        Ok(())
    } else {
        Err(Failure::IdentityNotTrusted {
            subject: pki::subject_string(&leaf.cert),
        })
    }
}

/// Notation's authentic-timestamp rule. Under `notary.x509.signingAuthority` the signing time
/// is authentic: the chain must be valid then. Under `notary.x509` the timestamp is verified
/// only when the statement names a `tsa` store and, under `verifyTimestamp: afterCertExpiry`,
/// only once a certificate of the chain has expired; otherwise the chain must be valid now.
/// When it is verified, the countersignature must be present, verify against the `tsa`
/// stores, be later than the signing time, and the chain must be valid throughout the stamped
/// time ± accuracy.
fn authentic_timestamp(
    envelope: &Envelope,
    chain: &[pki::ChainCert],
    statement: &Statement,
    store: &TrustStore,
    now: Timestamp,
) -> Result<Result<Option<timestamp::Stamped>, Failure>, PolicyError> {
    if envelope.scheme == SigningScheme::X509SigningAuthority {
        return Ok(pki::validity_at(chain, envelope.signing_time).map(|()| None));
    }
    let has_tsa_store = statement
        .trust_stores
        .iter()
        .any(|(kind, _)| *kind == StoreKind::Tsa);
    if !has_tsa_store
        || (statement.verify_timestamp == VerifyTimestamp::AfterCertExpiry
            && !pki::expired_at(chain, now))
    {
        return Ok(pki::validity_at(chain, now).map(|()| None));
    }
    let Some(token) = &envelope.timestamp_token else {
        return Ok(Err(Failure::TimestampMissing));
    };
    let roots = store.certificates_for(statement, StoreKind::Tsa)?;
    Ok(timestamp::verify(token, &envelope.signature, &roots)
        .and_then(|stamped| stamped.after(envelope.signing_time))
        .map_err(Failure::from)
        .and_then(|stamped| {
            pki::validity_at(chain, stamped.earliest)
                .and_then(|()| pki::validity_at(chain, stamped.latest))
                .map(|()| Some(stamped))
        }))
}
