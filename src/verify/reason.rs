//! Why a signature or an attestation does not count: one typed reason per way it can fail,
//! shared by cosign and Sigstore signatures, attestations and Notary Project signatures.
//!
//! A [`Reason`] reaches reports and the policy input as its one-line text (`Display`, also its
//! serialisation), so the wording is the same as before it was typed; code and tests match on
//! the variant.

use std::fmt;

use crate::verify::notation;
use crate::verify::signature::IN_TOTO_PAYLOAD_TYPE as IN_TOTO;

/// `sha256:63a15806ff4b…`: enough to tell digests apart in one line.
pub(crate) fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => {
            format!("{alg}:{}…", hex.get(..12).unwrap_or(hex))
        }
        _ => digest.to_owned(),
    }
}

/// A digest as `short` writes it, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Short(pub String);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&short(&self.0))
    }
}

/// Why a signer did not accept a signature or attestation (or, under signer `*`, why it could
/// not even be read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    // ---------------------------------------------------------------- reading the material
    /// A part is larger than its limit.
    #[error("{what} is {len} bytes; the limit is {max}")]
    TooLarge {
        /// What (`payload`, `bundle`, `dsse envelope`, `the statement`, …).
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `dev.cosignproject.cosign/signature` is not base64.
    #[error("the signature annotation is not base64")]
    SignatureNotBase64,
    /// The simple-signing payload is not JSON of that shape.
    #[error("payload is not a cosign simple-signing document ({detail})")]
    PayloadNotSimpleSigning {
        /// What the JSON reader said.
        detail: String,
    },
    /// `critical.type` is not `cosign container image signature`.
    #[error(
        "payload type is `{found}`, not `{}`",
        crate::verify::signature::SIMPLE_SIGNING_TYPE
    )]
    PayloadType {
        /// The type written.
        found: String,
    },
    /// `critical.image.docker-manifest-digest` does not parse.
    #[error("payload digest `{digest}` is not a valid digest")]
    PayloadDigestInvalid {
        /// As written.
        digest: String,
    },
    /// `critical.identity.docker-reference` does not parse.
    #[error("payload reference `{reference}` is not an image reference")]
    PayloadReferenceInvalid {
        /// As written.
        reference: String,
    },
    /// The payload names another repository.
    #[error("signed for `{signed_for}`, not `{expected}`")]
    SignedForOtherRepository {
        /// The repository it names.
        signed_for: String,
        /// This image's.
        expected: String,
    },
    /// The signature (or statement) is about another digest.
    #[error("signs `{signed}`, not this image's `{expected}`")]
    SignsOtherDigest {
        /// What it signs.
        signed: Short,
        /// This image's digest.
        expected: Short,
    },
    /// The in-toto statement names no subject digest.
    #[error("the statement has no subject digest")]
    NoSubjectDigest,
    /// An attestation's statement names neither the image nor one of its platforms.
    #[error("the statement is about `{about}`, not this image's `{expected}`{}", if *.platforms { " or one of its platforms" } else { "" })]
    StatementAboutOther {
        /// The first subject digest.
        about: Short,
        /// This image's digest.
        expected: Short,
        /// Whether platform digests were also accepted.
        platforms: bool,
    },
    /// The Rekor bundle annotation (or one of its parts) is malformed.
    #[error("{0}")]
    Rekor(RekorProblem),
    /// Not a DSSE envelope.
    #[error("not a dsse envelope ({detail})")]
    NotDsseEnvelope {
        /// What the JSON reader said.
        detail: String,
    },
    /// The DSSE payload is not base64.
    #[error("the dsse payload is not base64")]
    DssePayloadNotBase64,
    /// A bundle's DSSE payload type is not in-toto.
    #[error("dsse payload type is `{found}`, not `{IN_TOTO}`")]
    DssePayloadType {
        /// The type written.
        found: String,
    },
    /// An attestation's payload type is not in-toto.
    #[error("unknown payload type `{found}`; expected `{IN_TOTO}`")]
    UnknownPayloadType {
        /// The type written (at most 200 characters).
        found: String,
    },
    /// A signature bundle's DSSE payload is not an in-toto statement.
    #[error("dsse payload is not an in-toto statement ({detail})")]
    BundlePayloadNotStatement {
        /// What the JSON reader said.
        detail: String,
    },
    /// An attestation's DSSE payload is not an in-toto statement.
    #[error("the dsse payload is not an in-toto statement ({detail})")]
    PayloadNotStatement {
        /// What the JSON reader said.
        detail: String,
    },
    /// The statement's `_type` is not a known in-toto version.
    #[error("unknown statement type `{found}`; expected `https://in-toto.io/Statement/v1` or `https://in-toto.io/Statement/v0.1`")]
    UnknownStatementType {
        /// The type written.
        found: String,
    },
    /// More subjects than read.
    #[error("the statement has {count} subjects; the limit is {max}")]
    TooManySubjects {
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// `predicateType` is empty.
    #[error("the statement has an empty `predicateType`")]
    EmptyPredicateType,
    /// A bundle attached as a signature holds an attestation.
    #[error("attestation `{predicate_type}`, not a signature")]
    AttestationNotSignature {
        /// Its predicate type.
        predicate_type: String,
    },
    /// A bundle holds neither kind of content.
    #[error("the bundle holds neither a message signature nor a dsse envelope")]
    NeitherMessageNorDsse,
    /// An attestation bundle holds a message signature.
    #[error("the bundle holds a message signature, not an attestation")]
    BundleIsMessageSignature,
    /// A cosign `.att` layer given as a signature.
    #[error("a cosign attestation layer, not a signature")]
    NotASignature,
    /// A Notary Project envelope given to the cosign verifier.
    #[error("a Notary Project signature, not a cosign one")]
    NotationEnvelope,
    /// A cosign `.sig` layer given as an attestation.
    #[error("a cosign signature layer, not an attestation")]
    NotAnAttestation,
    /// A bare in-toto statement (buildkit).
    #[error(
        "an unsigned in-toto statement, not a dsse envelope (buildkit attestations never count)"
    )]
    BareStatement,
    /// The bundle is not UTF-8.
    #[error("the bundle is not utf-8")]
    BundleNotUtf8,
    /// Not a Sigstore bundle.
    #[error("not a sigstore bundle ({detail})")]
    NotBundle {
        /// What the bundle reader said.
        detail: String,
    },
    /// The certificate annotation is not PEM.
    #[error("the certificate annotation is not a PEM certificate")]
    CertificateNotPem,
    /// The certificate does not parse.
    #[error("the certificate cannot be parsed ({detail})")]
    CertificateUnparseable {
        /// What the parser said.
        detail: String,
    },
    /// A digest the verifier cannot take.
    #[error("digest `{digest}` cannot be used")]
    DigestUnusable {
        /// The digest.
        digest: String,
    },

    // ---------------------------------------------------------------- the signer
    /// A certificate signature, a key signer.
    #[error("signed with a certificate, signer `{signer}` is a key")]
    SignedWithCertificate {
        /// The signer.
        signer: String,
    },
    /// A key signature, a keyless signer.
    #[error("signed with a key, signer `{signer}` is a keyless identity")]
    SignedWithKey {
        /// The signer.
        signer: String,
    },
    /// A cosign or Sigstore signature, a `notation:` signer.
    #[error("a cosign signature; signer `{signer}` verifies Notary Project signatures only")]
    NotationSignerOnly {
        /// The signer.
        signer: String,
    },
    /// A Notary Project signature, a cosign signer.
    #[error("a Notary Project signature; this signer verifies cosign signatures only")]
    CosignSignerOnly,
    /// Internal: a key path reached with a keyless signer.
    #[error("internal: not a key signer")]
    NotAKeySigner,
    /// The signature does not verify with the signer's key.
    #[error("signature does not verify with this key")]
    KeySignatureInvalid,
    /// No DSSE signature verifies with the signer's key.
    #[error("dsse signature does not verify with this key")]
    DsseSignatureInvalid,
    /// A key signature without a log proof, and the signer requires one.
    #[error("no transparency log proof; set `insecure_ignore_tlog: true` on signer `{signer}` for keys signed with `--tlog-upload=false`")]
    NoTlogProof {
        /// The signer.
        signer: String,
    },
    /// A keyless attestation without a log proof or timestamp.
    #[error("no transparency log proof or timestamp: cannot tell when the certificate was valid")]
    NoTimeProof,
    /// The old slsa-github-generator format without a log proof.
    #[error("the certificate is inside the dsse signature (old slsa-github-generator format) and there is no transparency log proof: it cannot be verified offline")]
    CertificateInsideDsse,
    /// A bundle with timestamps only, and the signer does not allow that.
    #[error("the bundle has no transparency log entry, only {timestamps} RFC 3161 timestamp{}; a keyless signer accepts that only with `allow_timestamp_only: true`", if *.timestamps == 1 { "" } else { "s" })]
    TimestampOnly {
        /// How many timestamps.
        timestamps: usize,
    },
    /// Fewer independent verified times than `timestamp_threshold`.
    #[error("{} independent verified time{} ({}), the signer requires {required} (`timestamp_threshold`)", .found.len(), if .found.len() == 1 { "" } else { "s" }, if .found.is_empty() { "none".to_owned() } else { .found.join(", ") })]
    TimestampThreshold {
        /// The times found, one line each.
        found: Vec<String>,
        /// The threshold.
        required: usize,
    },
    /// The verifier did not verify the certificate chain.
    #[error("the certificate chain was not verified")]
    CertificateChainNotVerified,
    /// No URI or email SAN.
    #[error("the certificate has no URI or email subject")]
    NoCertificateSubject,
    /// The SAN does not match the signer's subject.
    #[error("identity `{identity}` does not match {expected}")]
    IdentityMismatch {
        /// The certificate's SAN.
        identity: String,
        /// The signer's subject, as [`crate::verify::SubjectMatcher`] displays it.
        expected: String,
    },
    /// The certificate's CI claims cannot be read.
    #[error("the certificate's claims cannot be read")]
    ClaimsUnreadable,
    /// A CI claim differs from the signer's constraint.
    #[error("{}", match .found { Some(found) => format!("{what} `{found}` ({oid}) is not `{expected}`"), None => format!("the certificate has no {what} ({oid}); expected `{expected}`") })]
    Claim {
        /// Which claim.
        what: &'static str,
        /// Its OID.
        oid: &'static str,
        /// What the signer requires.
        expected: String,
        /// What the certificate says.
        found: Option<String>,
    },
    /// The certificate's issuer is not the signer's.
    #[error("{}", match .actual { Some(actual) => format!("issuer `{actual}` is not `{expected}`"), None => format!("the certificate has no issuer; expected `{expected}`") })]
    IssuerMismatch {
        /// The signer's issuer.
        expected: String,
        /// The certificate's.
        actual: Option<String>,
    },
    /// sigstore-verify refused the bundle: its message (lowercased), with a plain-language
    /// explanation first when one is known.
    #[error("{}", match .plain { Some(plain) => format!("{plain} ({raw})"), None => raw.clone() })]
    Verifier {
        /// What it means, when known.
        plain: Option<&'static str>,
        /// The verifier's message.
        raw: String,
    },
    /// An RFC 3161 timestamp was refused, explained per authority of the trusted root.
    #[error("{explained}")]
    TimestampRejected {
        /// Which TSA, which genTime, why each authority refused it.
        explained: String,
    },

    // ---------------------------------------------------------------- Notary Project
    /// A Notation check failed and is enforced: `<check>: <failure>`.
    #[error("{}: {}", .0.check.as_str(), .0.failure)]
    Notation(notation::Finding),
    /// Authenticity failed and the statement only logs it (`audit`, or an override): Notation
    /// would accept the signature, a gate does not.
    #[error("{}: {} (only logged under level `{}`; a signature whose signer is not trusted never satisfies `require:`)", .finding.check.as_str(), .finding.failure, serde_json::json!(.level).as_str().unwrap_or("?"))]
    UntrustedSigner {
        /// The logged authenticity failure.
        finding: notation::Finding,
        /// The statement's level.
        level: notation::Level,
    },
    /// The signer's trust policy has no statement for the image's repository.
    #[error("no trust policy statement applies to `{repository}`")]
    NoTrustStatement {
        /// `registry/repository`.
        repository: String,
    },
    /// The statement's level is `skip`: nothing was verified.
    #[error("trust policy statement `{statement}` has level `skip`: nothing was verified")]
    SkipLevel {
        /// The statement.
        statement: String,
    },
    /// The statement skips authenticity (`override: {authenticity: skip}`): the signer was
    /// never checked, so the signature cannot satisfy `require:`.
    #[error("trust policy statement `{statement}` skips authenticity: a signature whose signer was never checked cannot satisfy `require:`")]
    AuthenticitySkipped {
        /// The statement.
        statement: String,
    },
    /// The statement names a trust store that cannot be used.
    #[error("trust store unusable: {0}")]
    TrustStoreUnusable(notation::PolicyError),
    /// The envelope does not decode and no Notation signer judged it.
    #[error("the Notary Project signature envelope does not decode")]
    EnvelopeUndecodable,
    /// More Notary Project signatures are attached than are read: the rest were not checked.
    #[error("{listed} Notary Project signatures are attached; only the first {read} were read, the rest were not checked")]
    NotationSignaturesTruncated {
        /// How many the referrers listing names.
        listed: usize,
        /// How many were read.
        read: usize,
    },
}

/// What is wrong with a legacy Rekor bundle annotation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RekorProblem {
    /// Not JSON of the bundle's shape.
    #[error("rekor bundle annotation is malformed ({detail})")]
    Malformed {
        /// What the JSON reader said.
        detail: String,
    },
    /// The entry body is not base64.
    #[error("rekor entry body is not base64")]
    BodyNotBase64,
    /// The entry body is not JSON of an entry.
    #[error("rekor entry body is malformed ({detail})")]
    BodyMalformed {
        /// What the JSON reader said.
        detail: String,
    },
    /// An entry kind this verifier does not handle.
    #[error("rekor entry kind `{kind}` version `{version}` is not supported")]
    UnsupportedKind {
        /// `kind`.
        kind: String,
        /// `apiVersion`.
        version: String,
    },
    /// A negative log index.
    #[error("rekor log index `{index}` is invalid")]
    LogIndex {
        /// As written.
        index: i64,
    },
    /// The log id is not hex.
    #[error("rekor log id `{id}` is not hex")]
    LogId {
        /// As written.
        id: String,
    },
    /// The integrated time is out of range.
    #[error("rekor integrated time `{time}` is invalid")]
    IntegratedTime {
        /// As written.
        time: i64,
    },
    /// The signed entry timestamp is not base64.
    #[error("rekor signed entry timestamp is not base64")]
    SetNotBase64,
}

impl From<RekorProblem> for Reason {
    fn from(p: RekorProblem) -> Self {
        Self::Rekor(p)
    }
}

impl serde::Serialize for Reason {
    /// As its one-line text: reports and the policy input read the same words as ever.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_serialises_as_its_one_line_text() {
        let reason = Reason::SignsOtherDigest {
            signed: Short(
                "sha256:309f2197ead520b0393d343706195162f3621d69270af529ed5bc78f3affcc40".into(),
            ),
            expected: Short("sha256:abc".into()),
        };
        assert_eq!(
            serde_json::to_value(&reason).ok(),
            Some(serde_json::json!(
                "signs `sha256:309f2197ead5…`, not this image's `sha256:abc`"
            ))
        );
        assert_eq!(
            Reason::TimestampThreshold {
                found: vec![],
                required: 2
            }
            .to_string(),
            "0 independent verified times (none), the signer requires 2 (`timestamp_threshold`)"
        );
    }
}
