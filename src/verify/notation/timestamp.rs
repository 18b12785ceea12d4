//! RFC 3161 timestamp countersignatures (`io.cncf.notary.timestampSignature`): the token's
//! CMS signature by a TSA certificate that chains to a `tsa` trust store (EKU timeStamping,
//! at the stamped time), its message imprint over the envelope's signature bytes, and the
//! stamped time with its accuracy, which the signing chain must cover.

use der::asn1::{Int, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Sequence, Tagged as _};
use jiff::Timestamp;
use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use sha2::Digest as _;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::Extensions;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};

use super::Failure;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
/// id-kp-timeStamping, DER content octets.
const TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];
const TIME_STAMPING_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// What is wrong with a timestamp countersignature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampProblem {
    /// Not a CMS SignedData holding a TSTInfo.
    #[error("it is not a CMS SignedData holding a TSTInfo")]
    Malformed,
    /// The message imprint is not the hash of the envelope's signature.
    #[error("its message imprint is not the hash of this signature")]
    MessageImprintMismatch,
    /// A hash or signature algorithm outside SHA-2 with RSA PKCS#1 v1.5 or ECDSA.
    #[error("it uses an unsupported hash or signature algorithm")]
    UnsupportedAlgorithm,
    /// Not exactly one signer, or its signed attributes lack the TSTInfo content type or a
    /// message digest matching the TSTInfo.
    #[error("its signer or signed attributes are not as RFC 3161 requires")]
    SignedAttributes,
    /// The signer's certificate is not in the token.
    #[error("the TSA certificate is not in the token")]
    SignerCertificateNotFound,
    /// The signer's certificate does not have the timeStamping EKU.
    #[error("the TSA certificate lacks the timeStamping extended key usage")]
    NotTimestampingCertificate,
    /// The TSA's signature does not verify.
    #[error("the TSA signature does not verify")]
    SignatureInvalid,
    /// The TSA certificate does not chain to the `tsa` trust store (or lacks the
    /// timeStamping EKU, or was not valid at the stamped time).
    #[error("the TSA certificate does not chain to the `tsa` trust store ({0})")]
    Untrusted(webpki::Error),
    /// The stamped time (less its accuracy) is not later than the envelope's signing time.
    #[error("the stamped time is not later than the signing time")]
    NotAfterSigningTime,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

/// RFC 3161's module is `IMPLICIT TAGS`: `millis [0]` and `micros [1]` are implicit.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct Accuracy {
    #[asn1(optional = "true")]
    seconds: Option<u64>,
    #[asn1(context_specific = "0", optional = "true", tag_mode = "IMPLICIT")]
    millis: Option<u16>,
    #[asn1(context_specific = "1", optional = "true", tag_mode = "IMPLICIT")]
    micros: Option<u16>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TstInfo {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    /// Kept raw: der's `GeneralizedTime` refuses the fractional seconds RFC 3161 allows (and
    /// Microsoft's TSA writes).
    gen_time: der::Any,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", optional = "true", tag_mode = "IMPLICIT")]
    extensions: Option<Extensions>,
}

/// The stamped time as an interval: `genTime` ± accuracy (to the millisecond, rounded
/// outwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamped {
    /// Earliest instant the signature may have existed at.
    pub earliest: Timestamp,
    /// Latest.
    pub latest: Timestamp,
}

impl Stamped {
    /// Notation's `BoundedAfter`: the whole interval is later than `signing_time`, so the
    /// stamp cannot predate the signature it vouches for.
    pub fn after(self, signing_time: Timestamp) -> Result<Self, TimestampProblem> {
        if self.earliest > signing_time {
            Ok(self)
        } else {
            Err(TimestampProblem::NotAfterSigningTime)
        }
    }
}

fn hash(oid: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    Some(match *oid {
        SHA256 => sha2::Sha256::digest(data).to_vec(),
        SHA384 => sha2::Sha384::digest(data).to_vec(),
        SHA512 => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

fn signature_algorithms(
    signature_alg: &ObjectIdentifier,
    digest_alg: &ObjectIdentifier,
) -> Option<&'static [&'static dyn SignatureVerificationAlgorithm]> {
    use webpki::aws_lc_rs as a;
    const RSA256: &[&dyn SignatureVerificationAlgorithm] = &[a::RSA_PKCS1_2048_8192_SHA256];
    const RSA384: &[&dyn SignatureVerificationAlgorithm] = &[a::RSA_PKCS1_2048_8192_SHA384];
    const RSA512: &[&dyn SignatureVerificationAlgorithm] = &[a::RSA_PKCS1_2048_8192_SHA512];
    const EC256: &[&dyn SignatureVerificationAlgorithm] = &[
        a::ECDSA_P256_SHA256,
        a::ECDSA_P384_SHA256,
        a::ECDSA_P521_SHA256,
    ];
    const EC384: &[&dyn SignatureVerificationAlgorithm] = &[
        a::ECDSA_P256_SHA384,
        a::ECDSA_P384_SHA384,
        a::ECDSA_P521_SHA384,
    ];
    const EC512: &[&dyn SignatureVerificationAlgorithm] = &[
        a::ECDSA_P256_SHA512,
        a::ECDSA_P384_SHA512,
        a::ECDSA_P521_SHA512,
    ];
    Some(match (*signature_alg, *digest_alg) {
        (RSA_ENCRYPTION, SHA256) | (SHA256_WITH_RSA, SHA256) => RSA256,
        (RSA_ENCRYPTION, SHA384) | (SHA384_WITH_RSA, SHA384) => RSA384,
        (RSA_ENCRYPTION, SHA512) | (SHA512_WITH_RSA, SHA512) => RSA512,
        (ECDSA_WITH_SHA256, SHA256) => EC256,
        (ECDSA_WITH_SHA384, SHA384) => EC384,
        (ECDSA_WITH_SHA512, SHA512) => EC512,
        _ => return None,
    })
}

fn signer_matches(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            cert.tbs_certificate.issuer == id.issuer
                && cert.tbs_certificate.serial_number == id.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => cert
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .filter(|e| e.extn_id == ObjectIdentifier::new_unwrap("2.5.29.14"))
            .any(|e| {
                x509_cert::ext::pkix::SubjectKeyIdentifier::from_der(e.extn_value.as_bytes())
                    .is_ok_and(|found| found == *ski)
            }),
    }
}

fn single_value(attrs: &x509_cert::attr::Attributes, oid: ObjectIdentifier) -> Option<&der::Any> {
    let attr = attrs.iter().find(|a| a.oid == oid)?;
    let mut values = attr.values.iter();
    let value = values.next()?;
    values.next().is_none().then_some(value)
}

/// `YYYYMMDDHHMMSS[.f*]Z` (RFC 3161 §2.4.2: UTC, fraction without trailing zeros).
fn generalized_time(any: &der::Any) -> Option<Timestamp> {
    if any.tag() != der::Tag::GeneralizedTime {
        return None;
    }
    let text = std::str::from_utf8(any.value()).ok()?;
    let body = text.strip_suffix('Z')?;
    let (whole, fraction) = match body.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (body, None),
    };
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if fraction.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let part = |range: std::ops::Range<usize>| whole.get(range);
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}{}Z",
        part(0..4)?,
        part(4..6)?,
        part(6..8)?,
        part(8..10)?,
        part(10..12)?,
        part(12..14)?,
        fraction.map(|f| format!(".{f}")).unwrap_or_default()
    );
    rfc3339.parse().ok()
}

/// Verifies `token` as a timestamp of `signature` by a TSA chaining to `tsa_roots`.
pub(super) fn verify(
    token: &[u8],
    signature: &[u8],
    tsa_roots: &[Vec<u8>],
) -> Result<Stamped, TimestampProblem> {
    use TimestampProblem as P;
    let content_info = ContentInfo::from_der(token).map_err(|_| P::Malformed)?;
    if content_info.content_type != ID_SIGNED_DATA {
        return Err(P::Malformed);
    }
    let signed: SignedData = content_info.content.decode_as().map_err(|_| P::Malformed)?;
    if signed.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(P::Malformed);
    }
    let tst_der = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or(P::Malformed)?
        .value();
    let tst = TstInfo::from_der(tst_der).map_err(|_| P::Malformed)?;
    if tst.version != 1 {
        return Err(P::Malformed);
    }

    let imprint = &tst.message_imprint;
    let expected = hash(&imprint.hash_algorithm.oid, signature).ok_or(P::UnsupportedAlgorithm)?;
    if expected != imprint.hashed_message.as_bytes() {
        return Err(P::MessageImprintMismatch);
    }

    let mut signers = signed.signer_infos.0.iter();
    let (Some(signer), None) = (signers.next(), signers.next()) else {
        return Err(P::SignedAttributes);
    };
    let attrs = signer.signed_attrs.as_ref().ok_or(P::SignedAttributes)?;
    let content_type = single_value(attrs, ID_CONTENT_TYPE)
        .and_then(|v| v.decode_as::<ObjectIdentifier>().ok())
        .ok_or(P::SignedAttributes)?;
    let digest = single_value(attrs, ID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or(P::SignedAttributes)?;
    let content_digest = hash(&signer.digest_alg.oid, tst_der).ok_or(P::UnsupportedAlgorithm)?;
    if content_type != ID_CT_TST_INFO || digest.as_bytes() != content_digest {
        return Err(P::SignedAttributes);
    }

    let certs: Vec<Vec<u8>> = signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|choice| match choice {
            CertificateChoices::Certificate(cert) => cert.to_der().ok(),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    let (signer_der, signer_parsed) = certs
        .iter()
        .find_map(|der| {
            let cert = Certificate::from_der(der).ok()?;
            signer_matches(&signer.sid, &cert).then_some((der, cert))
        })
        .ok_or(P::SignerCertificateNotFound)?;
    // RFC 3161 §2.3: the TSA certificate has the timeStamping EKU (webpki checks the EKU of
    // every certificate of the path alike, so the leaf's is checked here)
    let timestamping = signer_parsed
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id == EXTENDED_KEY_USAGE)
        .any(|e| {
            x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes())
                .is_ok_and(|eku| eku.0.contains(&TIME_STAMPING_OID))
        });
    if !timestamping {
        return Err(P::NotTimestampingCertificate);
    }

    let algorithms = signature_algorithms(&signer.signature_algorithm.oid, &signer.digest_alg.oid)
        .ok_or(P::UnsupportedAlgorithm)?;
    // RFC 5652 §5.4: the signature covers the DER of the signed attributes as a SET OF
    let signed_attrs_der = attrs.to_der().map_err(|_| P::Malformed)?;
    let signer_cert_der = CertificateDer::from(signer_der.as_slice());
    let signer_cert = webpki::EndEntityCert::try_from(&signer_cert_der).map_err(P::Untrusted)?;
    let verified = algorithms.iter().any(|alg| {
        signer_cert
            .verify_signature(*alg, &signed_attrs_der, signer.signature.as_bytes())
            .is_ok()
    });
    if !verified {
        return Err(P::SignatureInvalid);
    }

    let gen_time = generalized_time(&tst.gen_time).ok_or(P::Malformed)?;
    let anchors = tsa_roots
        .iter()
        .map(|der| {
            webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                .map(|anchor| anchor.to_owned())
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(P::Untrusted)?;
    let intermediates: Vec<CertificateDer<'_>> = certs
        .iter()
        .filter(|der| *der != signer_der)
        .map(|der| CertificateDer::from(der.as_slice()))
        .collect();
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(gen_time.as_second()).map_err(|_| P::Malformed)?,
    ));
    signer_cert
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            at,
            webpki::KeyUsage::required_if_present(TIME_STAMPING),
            None,
            None,
        )
        .map_err(P::Untrusted)?;

    let accuracy_ms = tst.accuracy.as_ref().map_or(0, |a| {
        let seconds = a.seconds.unwrap_or(0).saturating_mul(1000);
        let millis = u64::from(a.millis.unwrap_or(0));
        let micros = u64::from(a.micros.unwrap_or(0)).div_ceil(1000);
        seconds.saturating_add(millis).saturating_add(micros)
    });
    let accuracy =
        jiff::SignedDuration::from_millis(i64::try_from(accuracy_ms).unwrap_or(i64::MAX));
    let earliest = gen_time.checked_sub(accuracy).map_err(|_| P::Malformed)?;
    let latest = gen_time.checked_add(accuracy).map_err(|_| P::Malformed)?;
    Ok(Stamped { earliest, latest })
}

impl From<TimestampProblem> for Failure {
    fn from(problem: TimestampProblem) -> Self {
        Failure::TimestampInvalid { problem }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    fn gt(text: &str) -> Option<Timestamp> {
        generalized_time(&der::Any::new(der::Tag::GeneralizedTime, text.as_bytes()).unwrap())
    }

    #[test]
    fn a_stamp_must_be_later_than_the_signing_time_by_more_than_its_accuracy() {
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let stamped = Stamped {
            earliest: at("2024-01-01T00:00:00.5Z"),
            latest: at("2024-01-01T00:00:02.5Z"),
        };
        assert_eq!(stamped.after(at("2024-01-01T00:00:00Z")), Ok(stamped));
        for signing_time in ["2024-01-01T00:00:00.5Z", "2024-01-01T00:00:01Z"] {
            assert_eq!(
                stamped.after(at(signing_time)),
                Err(TimestampProblem::NotAfterSigningTime),
                "{signing_time}"
            );
        }
    }

    #[test]
    fn generalized_time_with_and_without_fraction() {
        assert_eq!(gt("20250121091746Z"), "2025-01-21T09:17:46Z".parse().ok());
        assert_eq!(
            gt("20250121091746.641Z"),
            "2025-01-21T09:17:46.641Z".parse().ok()
        );
        assert_eq!(gt("20250121091746.Z"), None);
        assert_eq!(gt("20250121091746+0100"), None);
        assert_eq!(gt("2025012109174Z"), None);
    }
}
