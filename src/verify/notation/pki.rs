//! X.509 for Notary Project signatures: the certificate requirements of the signature
//! specification (leaf and CA key usage, EKU, chain order), the key/algorithm pairing, the
//! envelope signature, subject DNs for `trustedIdentities`, and the chain to a trust store
//! (path building by rustls-webpki on aws-lc-rs).

use std::collections::BTreeMap;

use jiff::Timestamp;
use rustls::pki_types::{CertificateDer, UnixTime};
use x509_cert::der::asn1::{
    Ia5StringRef, ObjectIdentifier, PrintableStringRef, TeletexStringRef, UintRef,
};
use x509_cert::der::{self as der, Decode, Encode, Reader, SliceReader};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
use x509_cert::name::Name;
use x509_cert::Certificate;

use super::envelope::Algorithm;
use super::{CertificateProblem, Failure};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const CRL_DISTRIBUTION_POINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.31");
const AUTHORITY_INFO_ACCESS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1");
/// The last arc of the EKUs (`1.3.6.1.5.5.7.3.<n>`) a signing certificate must not have:
/// serverAuth, clientAuth, emailProtection, timeStamping, OCSPSigning (notation-core-go's
/// list; code signing itself is not required).
const EXCLUDED_EKU_ARCS: [u32; 5] = [1, 2, 4, 8, 9];
/// id-kp-codeSigning, DER content octets (for webpki's EKU error context).
const CODE_SIGNING_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

fn excluded_eku(arcs: &[usize]) -> bool {
    matches!(arcs, [1, 3, 6, 1, 5, 5, 7, 3, last]
        if EXCLUDED_EKU_ARCS.iter().any(|e| usize::try_from(*e).is_ok_and(|e| e == *last)))
}

/// A certificate of a signature's chain, parsed once.
#[derive(Debug, Clone)]
pub(super) struct ChainCert {
    pub der: Vec<u8>,
    pub cert: Certificate,
}

/// Parses `x5c`. Index 0 is the signing certificate.
pub(super) fn parse_chain(chain: &[Vec<u8>]) -> Result<Vec<ChainCert>, Failure> {
    chain
        .iter()
        .enumerate()
        .map(|(index, der)| {
            Certificate::from_der(der)
                .map(|cert| ChainCert {
                    der: der.clone(),
                    cert,
                })
                .map_err(|_| Failure::Certificate {
                    index,
                    problem: CertificateProblem::Unparseable,
                })
        })
        .collect()
}

fn extension<'a, T: Decode<'a>>(
    cert: &'a Certificate,
    oid: ObjectIdentifier,
    index: usize,
) -> Result<Option<(bool, T)>, Failure> {
    let Some(ext) = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == oid)
    else {
        return Ok(None);
    };
    T::from_der(ext.extn_value.as_bytes())
        .map(|value| Some((ext.critical, value)))
        .map_err(|_| Failure::Certificate {
            index,
            problem: CertificateProblem::Unparseable,
        })
}

fn same_name(a: &Name, b: &Name) -> bool {
    matches!((a.to_der(), b.to_der()), (Ok(x), Ok(y)) if x == y)
}

/// The specification's certificate requirements, as notation-core-go checks them: the chain
/// is ordered (each certificate issued by the next, none but the last self-issued) and ends
/// in a self-issued certificate; the signing certificate has a critical key usage with
/// `digitalSignature` and no encipherment/agreement/certificate or CRL signing bit, is not a
/// CA, and has none of the EKUs server/client auth, email, timestamping, OCSP signing; every
/// other certificate is a CA with a critical key usage allowing `keyCertSign`. Signatures
/// between certificates and validity are checked later, by [`chain_to_trust_store`] and the
/// authentic-timestamp check.
pub(super) fn check_chain_profile(chain: &[ChainCert]) -> Result<(), Failure> {
    let problem = |index, problem| Failure::Certificate { index, problem };
    for (index, pair) in chain.windows(2).enumerate() {
        if let [child, parent] = pair {
            let tbs = &child.cert.tbs_certificate;
            if same_name(&tbs.issuer, &tbs.subject) {
                return Err(problem(index, CertificateProblem::SelfIssuedBeforeRoot));
            }
            if !same_name(
                &child.cert.tbs_certificate.issuer,
                &parent.cert.tbs_certificate.subject,
            ) {
                return Err(problem(index, CertificateProblem::NotIssuedByNext));
            }
        }
    }
    if let Some(last) = chain.last() {
        let tbs = &last.cert.tbs_certificate;
        if !same_name(&tbs.issuer, &tbs.subject) {
            return Err(problem(chain.len() - 1, CertificateProblem::ChainNotRooted));
        }
    }
    for (index, entry) in chain.iter().enumerate() {
        let cert = &entry.cert;
        let key_usage = extension::<KeyUsage>(cert, KEY_USAGE, index)?;
        let basic = extension::<BasicConstraints>(cert, BASIC_CONSTRAINTS, index)?;
        if index == 0 {
            match key_usage {
                Some((true, ku))
                    if ku.digital_signature()
                        && !(ku.key_encipherment()
                            || ku.data_encipherment()
                            || ku.key_agreement()
                            || ku.key_cert_sign()
                            || ku.crl_sign()
                            || ku.encipher_only()
                            || ku.decipher_only()) => {}
                _ => return Err(problem(index, CertificateProblem::LeafKeyUsage)),
            }
            if matches!(basic, Some((_, bc)) if bc.ca) {
                return Err(problem(index, CertificateProblem::LeafIsCa));
            }
            if let Some((_, eku)) = extension::<ExtendedKeyUsage>(cert, EXTENDED_KEY_USAGE, index)?
            {
                let arcs = |oid: &ObjectIdentifier| {
                    oid.arcs()
                        .map(|a| usize::try_from(a).unwrap_or(usize::MAX))
                        .collect::<Vec<_>>()
                };
                if eku.0.iter().any(|oid| excluded_eku(&arcs(oid))) {
                    return Err(problem(index, CertificateProblem::LeafExtendedKeyUsage));
                }
            }
        } else {
            if !matches!(basic, Some((_, bc)) if bc.ca) {
                return Err(problem(index, CertificateProblem::NotCa));
            }
            if !matches!(key_usage, Some((true, ku)) if ku.key_cert_sign()) {
                return Err(problem(index, CertificateProblem::CaKeyUsage));
            }
        }
    }
    Ok(())
}

/// The algorithm the specification pairs with the signing certificate's key.
pub(super) fn algorithm_for_key(leaf: &Certificate) -> Result<Algorithm, Failure> {
    let spki = &leaf.tbs_certificate.subject_public_key_info;
    let unsupported = Failure::Certificate {
        index: 0,
        problem: CertificateProblem::UnsupportedKey,
    };
    if spki.algorithm.oid == RSA_ENCRYPTION {
        let key = spki.subject_public_key.raw_bytes();
        let mut reader = SliceReader::new(key).map_err(|_| unsupported.clone())?;
        let modulus = reader
            .sequence(|r| {
                let modulus = UintRef::decode(r)?;
                let _exponent = UintRef::decode(r)?;
                Ok(modulus.as_bytes().to_vec())
            })
            .map_err(|_| unsupported.clone())?;
        let bits = modulus.len() * 8 - modulus.first().map_or(8, |b| b.leading_zeros() as usize);
        return match bits {
            2048 => Ok(Algorithm::PS256),
            3072 => Ok(Algorithm::PS384),
            4096 => Ok(Algorithm::PS512),
            _ => Err(unsupported),
        };
    }
    if spki.algorithm.oid == EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        return match curve {
            Some(c) if c == P256 => Ok(Algorithm::ES256),
            Some(c) if c == P384 => Ok(Algorithm::ES384),
            Some(c) if c == P521 => Ok(Algorithm::ES512),
            _ => Err(unsupported),
        };
    }
    Err(unsupported)
}

/// JWS ECDSA signatures are `r || s`; webpki wants the ASN.1 `ECDSA-Sig-Value`.
fn ecdsa_der(raw: &[u8], field_len: usize) -> Option<Vec<u8>> {
    if raw.len() != field_len * 2 {
        return None;
    }
    let (r, s) = raw.split_at(field_len);
    let mut body = Vec::new();
    for part in [r, s] {
        let int = UintRef::new(part).ok()?;
        body.extend(int.to_der().ok()?);
    }
    let mut out = vec![0x30];
    der::Length::try_from(body.len())
        .ok()?
        .encode_to_vec(&mut out)
        .ok()?;
    out.extend(body);
    Some(out)
}

/// Verifies the envelope signature with the signing certificate's key.
pub(super) fn verify_signature(
    leaf_der: &[u8],
    algorithm: Algorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), Failure> {
    use webpki::aws_lc_rs as algs;
    let leaf_der = CertificateDer::from(leaf_der);
    let leaf = webpki::EndEntityCert::try_from(&leaf_der).map_err(|_| Failure::Certificate {
        index: 0,
        problem: CertificateProblem::Unparseable,
    })?;
    let (alg, der_signature) = match algorithm {
        Algorithm::PS256 => (algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY, None),
        Algorithm::PS384 => (algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY, None),
        Algorithm::PS512 => (algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY, None),
        Algorithm::ES256 => (algs::ECDSA_P256_SHA256, Some(ecdsa_der(signature, 32))),
        Algorithm::ES384 => (algs::ECDSA_P384_SHA384, Some(ecdsa_der(signature, 48))),
        Algorithm::ES512 => (algs::ECDSA_P521_SHA512, Some(ecdsa_der(signature, 66))),
    };
    let signature = match der_signature {
        None => signature.to_vec(),
        Some(Some(der)) => der,
        Some(None) => return Err(Failure::SignatureInvalid),
    };
    leaf.verify_signature(alg, message, &signature)
        .map_err(|_| Failure::SignatureInvalid)
}

/// Accepts a leaf without the excluded EKUs (the rule of [`check_chain_profile`], for webpki).
struct NoExcludedEku;

impl webpki::ExtendedKeyUsageValidator for NoExcludedEku {
    fn validate(&self, iter: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let present = iter
            .map(|id| id.map(|id| id.to_decoded_oid()))
            .collect::<Result<Vec<_>, _>>()?;
        if !present.iter().any(|oid| excluded_eku(oid)) {
            return Ok(());
        }
        Err(webpki::Error::RequiredEkuNotFoundContext(
            webpki::RequiredEkuNotFoundContext {
                required: webpki::KeyUsage::required(CODE_SIGNING_DER),
                present,
            },
        ))
    }
}

fn unix_time(at: Timestamp) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(at.as_second()).unwrap_or(0),
    ))
}

/// Notation's authenticity rule: one certificate of the chain is byte-for-byte a certificate
/// of the trust stores, and the chain verifies (signatures, constraints) up to it. Like
/// notation, this does not judge validity periods (the authentic-timestamp check does); webpki
/// needs an instant, so it gets one at which every certificate is valid, or `fallback` (the
/// signing time) when there is none.
pub(super) fn chain_to_trust_store(
    chain: &[ChainCert],
    trusted: &[Vec<u8>],
    fallback: Timestamp,
) -> Result<(), Failure> {
    let at = common_validity(chain).unwrap_or(fallback);
    let anchor_index = chain
        .iter()
        .position(|c| trusted.contains(&c.der))
        .ok_or(Failure::NoTrustedCertificate)?;
    let anchor_der = chain
        .get(anchor_index)
        .map(|c| CertificateDer::from(c.der.as_slice()))
        .ok_or(Failure::NoTrustedCertificate)?;
    let anchor = webpki::anchor_from_trusted_cert(&anchor_der)
        .map_err(|error| Failure::ChainInvalid { error })?;
    let leaf_der = chain
        .first()
        .map(|c| CertificateDer::from(c.der.as_slice()))
        .ok_or(Failure::MissingCertificateChain)?;
    let leaf = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|error| Failure::ChainInvalid { error })?;
    let intermediates: Vec<CertificateDer<'_>> = chain
        .iter()
        .take(anchor_index)
        .skip(1)
        .map(|c| CertificateDer::from(c.der.as_slice()))
        .collect();
    let algs = webpki::ALL_VERIFICATION_ALGS;
    leaf.verify_for_usage(
        algs,
        &[anchor],
        &intermediates,
        unix_time(at),
        NoExcludedEku,
        None,
        None,
    )
    .map(|_| ())
    .map_err(|error| Failure::ChainInvalid { error })
}

fn seconds(t: &x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// The latest `notBefore` of the chain, when every certificate is still valid then.
pub(super) fn common_validity(chain: &[ChainCert]) -> Option<Timestamp> {
    let validities = chain.iter().map(|c| &c.cert.tbs_certificate.validity);
    let start = validities.clone().map(|v| seconds(&v.not_before)).max()?;
    let end = validities.map(|v| seconds(&v.not_after)).min()?;
    (start <= end)
        .then(|| Timestamp::from_second(start).ok())
        .flatten()
}

/// The first certificate of the chain that is not valid at `at`, as a failure.
pub(super) fn validity_at(chain: &[ChainCert], at: Timestamp) -> Result<(), Failure> {
    for (index, entry) in chain.iter().enumerate() {
        let validity = &entry.cert.tbs_certificate.validity;
        if at.as_second() < seconds(&validity.not_before) {
            return Err(Failure::Certificate {
                index,
                problem: CertificateProblem::NotYetValid,
            });
        }
        if at.as_second() > seconds(&validity.not_after) {
            return Err(Failure::Certificate {
                index,
                problem: CertificateProblem::Expired,
            });
        }
    }
    Ok(())
}

/// Whether a certificate of the chain has expired at `at` (Notation's test for
/// `verifyTimestamp: afterCertExpiry`; a certificate not yet valid does not count).
pub(super) fn expired_at(chain: &[ChainCert], at: Timestamp) -> bool {
    chain
        .iter()
        .any(|entry| at.as_second() > seconds(&entry.cert.tbs_certificate.validity.not_after))
}

/// Whether `cert` names a CRL distribution point or an OCSP responder.
pub(super) fn is_revocable(cert: &Certificate) -> bool {
    cert.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .any(|e| e.extn_id == CRL_DISTRIBUTION_POINTS || e.extn_id == AUTHORITY_INFO_ACCESS)
}

fn attribute_name(oid: &ObjectIdentifier) -> String {
    let short = match oid.to_string().as_str() {
        "2.5.4.3" => "CN",
        "2.5.4.5" => "SERIALNUMBER",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.17" => "POSTALCODE",
        other => return other.to_owned(),
    };
    short.to_owned()
}

fn attribute_value(value: &der::Any) -> Option<String> {
    if let Ok(s) = value.decode_as::<der::asn1::Utf8StringRef<'_>>() {
        return Some(s.as_str().to_owned());
    }
    if let Ok(s) = value.decode_as::<PrintableStringRef<'_>>() {
        return Some(s.as_str().to_owned());
    }
    if let Ok(s) = value.decode_as::<Ia5StringRef<'_>>() {
        return Some(s.as_str().to_owned());
    }
    if let Ok(s) = value.decode_as::<TeletexStringRef<'_>>() {
        return Some(s.as_str().to_owned());
    }
    None
}

/// A distinguished name as attribute type → value. Notation refuses a DN that repeats an
/// attribute type, and so does this (otherwise `O=evil, O=trusted` could match either way).
pub type DistinguishedName = BTreeMap<String, String>;

/// The subject of a certificate as a [`DistinguishedName`]; `None` when it repeats an
/// attribute or holds a value that is not a string.
pub(super) fn subject_dn(cert: &Certificate) -> Option<DistinguishedName> {
    let mut out = DistinguishedName::new();
    for rdn in cert.tbs_certificate.subject.0.iter() {
        for atv in rdn.0.iter() {
            let value = attribute_value(&atv.value)?;
            if out.insert(attribute_name(&atv.oid), value).is_some() {
                return None;
            }
        }
    }
    Some(out)
}

/// The subject as Notation prints it (Go's `pkix.Name.String`): the well-known attributes in
/// the order `SERIALNUMBER, CN, OU, O, POSTALCODE, STREET, L, ST, C`, then any other attribute
/// by dotted OID, values escaped as RFC 4514 requires.
pub(super) fn subject_string(cert: &Certificate) -> String {
    name_string(&cert.tbs_certificate.subject)
}

/// The issuer of a certificate, as [`subject_string`] writes subjects.
pub(super) fn issuer_string(cert: &Certificate) -> String {
    name_string(&cert.tbs_certificate.issuer)
}

fn name_string(name: &x509_cert::name::Name) -> String {
    const ORDER: [&str; 9] = [
        "SERIALNUMBER",
        "CN",
        "OU",
        "O",
        "POSTALCODE",
        "STREET",
        "L",
        "ST",
        "C",
    ];
    let pairs: Vec<(String, String)> = name
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .map(|atv| {
            let value = attribute_value(&atv.value).unwrap_or_else(|| {
                atv.value
                    .to_der()
                    .map(|der| format!("#{}", hex(&der)))
                    .unwrap_or_default()
            });
            (attribute_name(&atv.oid), value)
        })
        .collect();
    let known = ORDER
        .iter()
        .flat_map(|name| pairs.iter().filter(move |(n, _)| n == name));
    let others = pairs
        .iter()
        .rev()
        .filter(|(n, _)| !ORDER.contains(&n.as_str()));
    known
        .chain(others)
        .map(|(name, value)| format!("{name}={}", escape_dn_value(value)))
        .collect::<Vec<_>>()
        .join(",")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let edge_space = c == ' ' && (i == 0 || i == last);
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || edge_space
            || (i == 0 && c == '#')
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn ecdsa_signature_is_reencoded_as_der() {
        let mut raw = vec![0u8; 64];
        if let Some(b) = raw.get_mut(0) {
            *b = 0x80;
        }
        if let Some(b) = raw.get_mut(63) {
            *b = 1;
        }
        let der = ecdsa_der(&raw, 32).unwrap();
        // SEQUENCE { INTEGER 0x00 0x80 …(33 bytes), INTEGER 0x01 }
        assert_eq!(der.first(), Some(&0x30));
        assert_eq!(der.len(), 2 + 2 + 33 + 2 + 1);
        assert_eq!(ecdsa_der(&raw, 48), None);
    }
}
