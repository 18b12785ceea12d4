//! Stage (4), verification: what proved a signature's time (which TSA, which log, when),
//! and why an RFC 3161 timestamp was not accepted, in words a user can act on.
//!
//! sigstore-verify (over the patched sigstore-tsa in `patches/`) decides; when it rejects a
//! timestamp its error names only the last timestamp authority it tried. This module runs
//! the same per-authority check ([`verify_timestamp_for_authority`]) for each timestamp of
//! the bundle and, for the first one no authority accepts, says what was found (the TSA the
//! token names, its genTime, what it covers) and what was expected (the trusted root's
//! timestamp authorities, and why each refused it). It never accepts anything itself.

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::ObjectIdentifier;
use der::{Any, Decode, Encode, Tag, Tagged};
use sha2::Digest as _;
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::tsa::{verify_timestamp_for_authority, Error as TsaError, TsaAuthority};
use sigstore_verify::types::{Bundle, SignatureBytes, SignatureContent};
use x509_cert::Certificate;

/// What proved the signing time of a bundle that verified, one line each: every RFC 3161
/// timestamp (the TSA of the trusted root that accepted it, and its genTime) and, when the
/// verifier checked the log entries (`tlog_checked`: not for a key signer with
/// `insecure_ignore_tlog`, whose entries are skipped unread), every log entry (the log of the
/// trusted root it is in, its index, and the integrated time when a SET signs it). Only
/// checked proofs are listed. Call only after the bundle verified against `root`.
pub(crate) fn time_proofs(bundle: &Bundle, root: &TrustedRoot, tlog_checked: bool) -> Vec<String> {
    let mut proofs = Vec::new();
    if let Some(signature) = signature_of(bundle) {
        let authorities = root.tsa_authorities();
        for ts in &bundle
            .verification_material
            .timestamp_verification_data
            .rfc3161_timestamps
        {
            let accepted = authorities.iter().find_map(|a| {
                verify_timestamp_for_authority(&ts.signed_timestamp, &signature, a)
                    .ok()
                    .map(|time| (authority_name(a), time))
            });
            if let Some((name, time)) = accepted {
                proofs.push(format!("RFC 3161 timestamp by `{name}` at {time}"));
            }
        }
    }
    let checked_entries = if tlog_checked {
        bundle.verification_material.tlog_entries.as_slice()
    } else {
        &[]
    };
    for entry in checked_entries {
        let log = root
            .tlogs
            .iter()
            .find(|t| t.log_id.key_id == entry.log_id.key_id)
            .map_or("an unnamed log", |t| t.base_url.as_str());
        let time = match (&entry.inclusion_promise, entry.integrated_time) {
            (Some(_), Some(t)) => format!("integrated at {t} (signed entry timestamp)"),
            _ => "inclusion proof, no signed time".to_owned(),
        };
        proofs.push(format!("log `{log}` entry {}: {time}", entry.log_index));
    }
    proofs
}

/// The independent sources of verified time of a bundle that verified against `root`, one
/// name each: every timestamp authority of the root that accepted one of its RFC 3161
/// timestamps (two tokens from one authority count once), and every log whose SET signs an
/// integrated time (the verifier has checked each SET by then). Call only after the bundle
/// verified against `root`.
pub(crate) fn independent_times(bundle: &Bundle, root: &TrustedRoot) -> Vec<String> {
    let mut sources: Vec<String> = Vec::new();
    let mut add = |name: String| {
        if !sources.contains(&name) {
            sources.push(name);
        }
    };
    if let Some(signature) = signature_of(bundle) {
        let authorities = root.tsa_authorities();
        for ts in &bundle
            .verification_material
            .timestamp_verification_data
            .rfc3161_timestamps
        {
            let accepted = authorities.iter().find(|a| {
                verify_timestamp_for_authority(&ts.signed_timestamp, &signature, a).is_ok()
            });
            if let Some(a) = accepted {
                add(format!("TSA `{}`", authority_name(a)));
            }
        }
    }
    for entry in &bundle.verification_material.tlog_entries {
        if let (Some(_), Some(_)) = (&entry.inclusion_promise, entry.integrated_time) {
            let log = root
                .tlogs
                .iter()
                .find(|t| t.log_id.key_id == entry.log_id.key_id)
                .map_or("an unnamed log", |t| t.base_url.as_str());
            add(format!("log `{log}`"));
        }
    }
    sources
}

fn signature_of(bundle: &Bundle) -> Option<SignatureBytes> {
    match &bundle.content {
        SignatureContent::MessageSignature(m) => Some(m.signature.clone()),
        SignatureContent::DsseEnvelope(e) => Some(e.signature.sig.clone()),
        _ => None,
    }
}

/// What a token says about itself, read without trusting it.
#[derive(Debug, Default)]
struct Found {
    /// The subject of the signing certificate, or the issuer and serial the token names.
    signer: Option<String>,
    /// `genTime` as written.
    gen_time: Option<String>,
    /// Whether the message imprint is the hash of the signature (`None`: cannot tell).
    covers_signature: Option<bool>,
}

/// Why the bundle's timestamps were not accepted, or `None` when every one is accepted by
/// some authority (the failure was elsewhere).
pub(crate) fn explain_rejection(bundle: &Bundle, root: &TrustedRoot) -> Option<String> {
    let signature = signature_of(bundle)?;
    let timestamps = &bundle
        .verification_material
        .timestamp_verification_data
        .rfc3161_timestamps;
    let authorities = root.tsa_authorities();
    for (index, ts) in timestamps.iter().enumerate() {
        let token = ts.signed_timestamp.as_bytes();
        let verdicts: Vec<(String, Result<jiff::Timestamp, TsaError>)> = authorities
            .iter()
            .map(|a| {
                let verdict = verify_timestamp_for_authority(&ts.signed_timestamp, &signature, a);
                (authority_name(a), verdict)
            })
            .collect();
        if verdicts.iter().any(|(_, v)| v.is_ok()) {
            continue;
        }
        let found = inspect(token, &signature);
        let which = if timestamps.len() > 1 {
            format!("RFC 3161 timestamp {} of {}", index + 1, timestamps.len())
        } else {
            "the RFC 3161 timestamp".to_owned()
        };
        let malformed = verdicts
            .iter()
            .any(|(_, v)| matches!(v, Err(TsaError::Parse(_))));
        let expected = if malformed {
            "a DER-encoded TimeStampResp or TimeStampToken (RFC 3161)".to_owned()
        } else {
            expected(&verdicts)
        };
        return Some(format!(
            "{which} was not accepted: {}; found {}; expected {expected}",
            summary(&found, &verdicts),
            describe(&found),
        ));
    }
    None
}

/// The one sentence that says what to do about it.
fn summary(found: &Found, verdicts: &[(String, Result<jiff::Timestamp, TsaError>)]) -> String {
    let errors: Vec<&TsaError> = verdicts
        .iter()
        .filter_map(|(_, v)| v.as_ref().err())
        .collect();
    if errors.is_empty() {
        return "the trusted root lists no timestamp authority valid now; add the TSA that \
                signed it to `timestampAuthorities`"
            .into();
    }
    if let Some(TsaError::Parse(message)) = errors.first() {
        // A malformed token is malformed for every authority.
        return format!(
            "the token is malformed ({}); ask its producer for a DER-encoded token",
            lowercase(message)
        );
    }
    if found.covers_signature == Some(false) {
        return "it covers other bytes than this signature (its message imprint is not the \
                hash of the bundle's signature): it was made for another signature"
            .into();
    }
    if errors.iter().any(|e| is_validity(e)) {
        return "the TSA certificate was not valid at genTime; the token was made outside \
                the certificate's lifetime"
            .into();
    }
    if errors
        .iter()
        .any(|e| matches!(e, TsaError::TimestampOutsideValidity { .. }))
    {
        return "genTime is outside the `validFor` window the trusted root gives its TSA".into();
    }
    "it is not signed by a timestamp authority of the trusted root; add its TSA's chain to \
     the root's `timestampAuthorities` if you trust it"
        .into()
}

fn is_validity(e: &TsaError) -> bool {
    matches!(e, TsaError::CertificateValidationError(m)
        if m.contains("CertNotValidYet") || m.contains("CertExpired"))
}

fn describe(found: &Found) -> String {
    let signer = found
        .signer
        .as_deref()
        .map_or("an unnamed signer".to_owned(), |s| format!("`{s}`"));
    let time = found
        .gen_time
        .as_deref()
        .map_or("no readable genTime".to_owned(), |t| {
            format!("genTime `{t}`")
        });
    // What the token claims: its signer is only known once an authority verifies it.
    format!("a token naming {signer} as its signer, with {time}")
}

fn expected(verdicts: &[(String, Result<jiff::Timestamp, TsaError>)]) -> String {
    if verdicts.is_empty() {
        return "a TSA of the trusted root, which lists none".into();
    }
    let each: Vec<String> = verdicts
        .iter()
        .filter_map(|(name, v)| v.as_ref().err().map(|e| format!("`{name}`: {}", why(e))))
        .collect();
    format!(
        "a token from a TSA of the trusted root ({})",
        each.join("; ")
    )
}

/// Why one authority refused the token.
fn why(e: &TsaError) -> String {
    match e {
        TsaError::SignatureVerificationError(m) if m.contains("does not match") => {
            "not the token's signer".into()
        }
        TsaError::SignatureVerificationError(_) => {
            "names it as signer, but its key does not verify the token's signature".into()
        }
        TsaError::HashMismatch { .. } => "a digest in the token does not match".into(),
        e if is_validity(e) => "its certificate was not valid at genTime".into(),
        TsaError::CertificateValidationError(m) if m.contains("RequiredEkuNotFound") => {
            "its certificate lacks the timestamping extended key usage".into()
        }
        TsaError::CertificateValidationError(_) => {
            "its certificate does not chain to the root it is listed with".into()
        }
        TsaError::TimestampOutsideValidity { time } => {
            format!("genTime {time} is outside its `validFor` window")
        }
        other => lowercase(&other.to_string()),
    }
}

fn authority_name(authority: &TsaAuthority) -> String {
    Certificate::from_der(authority.leaf.as_bytes())
        .map(|c| c.tbs_certificate.subject.to_string())
        .unwrap_or_else(|_| "a certificate that cannot be parsed".into())
}

/// Reads the signer, genTime and imprint of a TimeStampResp or a bare TimeStampToken.
fn inspect(bytes: &[u8], signature: &SignatureBytes) -> Found {
    let mut found = Found::default();
    let Some(token) = token_of(bytes) else {
        return found;
    };
    let Ok(signed) = token.content.decode_as::<SignedData>() else {
        return found;
    };
    if let Some(info) = signed.signer_infos.0.get(0) {
        found.signer = Some(signer_name(&info.sid, &signed));
    }
    let Some(tst) = signed
        .encap_content_info
        .econtent
        .as_ref()
        .and_then(|c| Vec::<Any>::from_der(c.value()).ok())
    else {
        return found;
    };
    found.gen_time = tst
        .get(4)
        .filter(|t| t.tag() == Tag::GeneralizedTime)
        .map(|t| {
            String::from_utf8_lossy(t.value())
                .escape_default()
                .to_string()
        });
    found.covers_signature = tst.get(2).and_then(|imprint| covers(imprint, signature));
    found
}

fn token_of(bytes: &[u8]) -> Option<ContentInfo> {
    let items = Vec::<Any>::from_der(bytes).ok()?;
    match items.first() {
        // A TimeStampToken: ContentInfo starts with its content type.
        Some(first) if first.tag() == Tag::ObjectIdentifier => ContentInfo::from_der(bytes).ok(),
        // A TimeStampResp: the status, then the token.
        _ => ContentInfo::from_der(&items.get(1)?.to_der().ok()?).ok(),
    }
}

fn signer_name(sid: &SignerIdentifier, signed: &SignedData) -> String {
    let SignerIdentifier::IssuerAndSerialNumber(id) = sid else {
        return "a signer named by key identifier".into();
    };
    let embedded = signed.certificates.iter().flat_map(|set| set.0.iter());
    for choice in embedded {
        if let cms::cert::CertificateChoices::Certificate(cert) = choice {
            let tbs = &cert.tbs_certificate;
            if tbs.issuer == id.issuer && tbs.serial_number == id.serial_number {
                return tbs.subject.to_string();
            }
        }
    }
    format!("serial {} issued by {}", id.serial_number, id.issuer)
}

/// Whether a MessageImprint is the hash of `signature` (`None`: an unknown algorithm).
fn covers(imprint: &Any, signature: &SignatureBytes) -> Option<bool> {
    let parts = imprint.decode_as::<Vec<Any>>().ok()?;
    let algorithm = parts.first()?.decode_as::<Vec<Any>>().ok()?;
    let oid = algorithm.first()?.decode_as::<ObjectIdentifier>().ok()?;
    let hashed = parts.get(1)?.value();
    let data = signature.as_bytes();
    let digest = match oid.to_string().as_str() {
        "2.16.840.1.101.3.4.2.1" => sha2::Sha256::digest(data).to_vec(),
        "2.16.840.1.101.3.4.2.2" => sha2::Sha384::digest(data).to_vec(),
        "2.16.840.1.101.3.4.2.3" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    };
    Some(digest == hashed)
}

fn lowercase(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
