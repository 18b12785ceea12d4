//! Notary Project JWS envelopes (JSON serialization, media type `application/jose+json`):
//! decoding and the checks on the protected header that the signature specification demands
//! before any key is touched (algorithm, content type, signing scheme, times, `crit`).

use std::collections::BTreeMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::reference::Digest;

use super::{EnvelopeField, Failure, Target};

/// Media type of a JWS envelope layer.
pub const JWS_MEDIA_TYPE: &str = "application/jose+json";
/// Media type of a COSE_Sign1 envelope layer.
pub const COSE_MEDIA_TYPE: &str = "application/cose";
/// The only payload content type (`cty`) the specification defines.
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";

pub(super) const SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
pub(super) const SIGNING_TIME: &str = "io.cncf.notary.signingTime";
pub(super) const AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
pub(super) const EXPIRY: &str = "io.cncf.notary.expiry";
pub(super) const TIMESTAMP_SIGNATURE: &str = "io.cncf.notary.timestampSignature";
pub(super) const SIGNING_AGENT: &str = "io.cncf.notary.signingAgent";

/// The protected headers this verifier understands when they are listed in `crit`. Plugin
/// headers (`io.cncf.notary.verificationPlugin…`) are not: a signature that requires a
/// verification plugin is rejected, since no plugin runs here.
const UNDERSTOOD_CRITICAL: [&str; 3] = [SIGNING_SCHEME, AUTHENTIC_SIGNING_TIME, EXPIRY];

/// A signature algorithm the specification allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Algorithm {
    /// RSASSA-PSS with SHA-256 (RSA 2048).
    PS256,
    /// RSASSA-PSS with SHA-384 (RSA 3072).
    PS384,
    /// RSASSA-PSS with SHA-512 (RSA 4096).
    PS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// ECDSA P-521 with SHA-512.
    ES512,
}

/// The JWS name (`PS256`, `ES384`, …).
impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
        })
    }
}

impl Algorithm {
    fn from_jws(alg: &str) -> Option<Self> {
        Some(match alg {
            "PS256" => Self::PS256,
            "PS384" => Self::PS384,
            "PS512" => Self::PS512,
            "ES256" => Self::ES256,
            "ES384" => Self::ES384,
            "ES512" => Self::ES512,
            _ => return None,
        })
    }
}

/// `io.cncf.notary.signingScheme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SigningScheme {
    /// `notary.x509`: the signing time is the signer's claim; trust stores of type `ca`.
    #[serde(rename = "notary.x509")]
    X509,
    /// `notary.x509.signingAuthority`: the signing time is authentic; trust stores of type
    /// `signingAuthority`.
    #[serde(rename = "notary.x509.signingAuthority")]
    X509SigningAuthority,
}

/// A decoded JWS envelope whose protected header passed the specification's checks. The
/// signature itself is not verified yet (see `super::verify`).
#[derive(Debug, Clone)]
pub struct Envelope {
    /// `alg`.
    pub algorithm: Algorithm,
    /// `io.cncf.notary.signingScheme`.
    pub scheme: SigningScheme,
    /// `io.cncf.notary.signingTime` or, under `notary.x509.signingAuthority`,
    /// `io.cncf.notary.authenticSigningTime`.
    pub signing_time: Timestamp,
    /// `io.cncf.notary.expiry`, when set.
    pub expiry: Option<Timestamp>,
    /// The signed payload's `targetArtifact`.
    pub target: Target,
    /// The payload's `targetArtifact.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `x5c`: DER certificates, signing certificate first.
    pub chain: Vec<Vec<u8>>,
    /// `io.cncf.notary.timestampSignature`: an RFC 3161 token (DER), when present.
    pub timestamp_token: Option<Vec<u8>>,
    /// `io.cncf.notary.signingAgent`, when present (informational, unsigned).
    pub signing_agent: Option<String>,
    /// ASCII(BASE64URL(protected) || '.' || BASE64URL(payload)): the signed bytes.
    pub(super) signing_input: Vec<u8>,
    /// The signature bytes (for ECDSA, the raw `r || s` of JWS).
    pub(super) signature: Vec<u8>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJws {
    payload: String,
    protected: String,
    header: Map<String, Value>,
    signature: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPayload {
    target_artifact: RawDescriptor,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn b64url(field: EnvelopeField, text: &str) -> Result<Vec<u8>, Failure> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| Failure::Malformed { field })
}

/// A time header as read from either format: absent, a time, or present but not a time.
#[derive(Debug, Clone, Copy)]
pub(super) enum TimeHeader {
    Absent,
    At(Timestamp),
    Invalid,
}

/// The protected headers both envelope formats carry, decoded but not yet judged.
#[derive(Debug, Clone)]
pub(super) struct Headers {
    pub cty: Option<String>,
    pub scheme: Option<String>,
    /// `crit`: `None` when absent; entries that are not names come as `None`.
    pub crit: Option<Vec<Option<String>>>,
    /// Names of every protected header present.
    pub present: Vec<String>,
    pub signing_time: TimeHeader,
    pub authentic_signing_time: TimeHeader,
    pub expiry: TimeHeader,
}

/// What the header checks establish.
pub(super) struct Judged {
    pub scheme: SigningScheme,
    pub signing_time: Timestamp,
    pub expiry: Option<Timestamp>,
}

fn time(header: TimeHeader, name: &'static str) -> Result<Timestamp, Failure> {
    match header {
        TimeHeader::At(at) => Ok(at),
        TimeHeader::Absent => Err(Failure::MissingHeader { header: name }),
        TimeHeader::Invalid => Err(Failure::BadTime { header: name }),
    }
}

/// The specification's rules on the protected header, common to JWS and COSE (the algorithm
/// is checked by each format before).
pub(super) fn judge(headers: &Headers) -> Result<Judged, Failure> {
    match headers.cty.as_deref() {
        Some(PAYLOAD_CONTENT_TYPE) => {}
        Some(other) => {
            return Err(Failure::UnsupportedContentType {
                cty: other.to_owned(),
            })
        }
        None => return Err(Failure::MissingHeader { header: "cty" }),
    }
    let scheme = match headers.scheme.as_deref() {
        Some("notary.x509") => SigningScheme::X509,
        Some("notary.x509.signingAuthority") => SigningScheme::X509SigningAuthority,
        Some(other) => {
            return Err(Failure::UnsupportedSigningScheme {
                scheme: other.to_owned(),
            })
        }
        None => {
            return Err(Failure::MissingHeader {
                header: SIGNING_SCHEME,
            })
        }
    };
    let crit = check_crit(headers)?;
    let signing_time = match scheme {
        SigningScheme::X509 => {
            if !matches!(headers.authentic_signing_time, TimeHeader::Absent) {
                return Err(Failure::UnexpectedHeader {
                    header: AUTHENTIC_SIGNING_TIME,
                });
            }
            time(headers.signing_time, SIGNING_TIME)?
        }
        SigningScheme::X509SigningAuthority => {
            if !crit.contains(&AUTHENTIC_SIGNING_TIME) {
                return Err(Failure::NotMarkedCritical {
                    header: AUTHENTIC_SIGNING_TIME,
                });
            }
            time(headers.authentic_signing_time, AUTHENTIC_SIGNING_TIME)?
        }
    };
    let expiry = match headers.expiry {
        TimeHeader::Absent => None,
        header => {
            if !crit.contains(&EXPIRY) {
                return Err(Failure::NotMarkedCritical { header: EXPIRY });
            }
            let expiry = time(header, EXPIRY)?;
            if expiry <= signing_time {
                return Err(Failure::ExpiryBeforeSigningTime);
            }
            Some(expiry)
        }
    };
    Ok(Judged {
        scheme,
        signing_time,
        expiry,
    })
}

/// `crit` must be present, list `io.cncf.notary.signingScheme`, name only headers that are
/// present, and name only headers this verifier understands. Returns the understood names.
fn check_crit(headers: &Headers) -> Result<Vec<&'static str>, Failure> {
    let listed = headers
        .crit
        .as_ref()
        .ok_or(Failure::MissingHeader { header: "crit" })?;
    let mut understood = Vec::new();
    for entry in listed {
        let name = entry.as_deref().ok_or(Failure::Malformed {
            field: EnvelopeField::Protected,
        })?;
        let Some(known) = UNDERSTOOD_CRITICAL.iter().find(|k| **k == name) else {
            return Err(Failure::UnknownCriticalHeader {
                header: name.to_owned(),
            });
        };
        if !headers.present.iter().any(|p| p == name) {
            return Err(Failure::MissingHeader { header: known });
        }
        understood.push(*known);
    }
    if !understood.contains(&SIGNING_SCHEME) {
        return Err(Failure::NotMarkedCritical {
            header: SIGNING_SCHEME,
        });
    }
    Ok(understood)
}

/// Decodes the Notary payload (`{"targetArtifact": descriptor}`).
pub(super) fn parse_payload(bytes: &[u8]) -> Result<(Target, BTreeMap<String, String>), Failure> {
    let malformed = || Failure::Malformed {
        field: EnvelopeField::Payload,
    };
    let payload: RawPayload = serde_json::from_slice(bytes).map_err(|_| malformed())?;
    let descriptor = payload.target_artifact;
    let target = Target {
        media_type: descriptor.media_type,
        digest: Digest::parse(&descriptor.digest).map_err(|_| malformed())?,
        size: descriptor.size,
    };
    Ok((target, descriptor.annotations))
}

fn json_time(headers: &Map<String, Value>, name: &str) -> TimeHeader {
    match headers.get(name) {
        None => TimeHeader::Absent,
        Some(value) => value
            .as_str()
            .and_then(|text| text.parse::<Timestamp>().ok())
            .map_or(TimeHeader::Invalid, TimeHeader::At),
    }
}

/// Decodes a JWS envelope and checks its protected header. Every problem is a [`Failure`] of
/// the integrity check.
pub fn parse_jws(bytes: &[u8]) -> Result<Envelope, Failure> {
    let raw: RawJws = serde_json::from_slice(bytes).map_err(|_| Failure::Malformed {
        field: EnvelopeField::Envelope,
    })?;
    let protected_bytes = b64url(EnvelopeField::Protected, &raw.protected)?;
    let map: Map<String, Value> =
        serde_json::from_slice(&protected_bytes).map_err(|_| Failure::Malformed {
            field: EnvelopeField::Protected,
        })?;

    let text = |name: &str| map.get(name).and_then(Value::as_str).map(str::to_owned);
    let alg = text("alg").ok_or(Failure::MissingHeader { header: "alg" })?;
    let algorithm = Algorithm::from_jws(&alg).ok_or(Failure::UnsupportedAlgorithm { alg })?;
    let crit = match map.get("crit") {
        None => None,
        Some(value) => Some(
            value
                .as_array()
                .ok_or(Failure::Malformed {
                    field: EnvelopeField::Protected,
                })?
                .iter()
                .map(|entry| entry.as_str().map(str::to_owned))
                .collect(),
        ),
    };
    let headers = Headers {
        cty: text("cty"),
        scheme: text(SIGNING_SCHEME),
        crit,
        present: map.keys().cloned().collect(),
        signing_time: json_time(&map, SIGNING_TIME),
        authentic_signing_time: json_time(&map, AUTHENTIC_SIGNING_TIME),
        expiry: json_time(&map, EXPIRY),
    };
    let judged = judge(&headers)?;

    let payload_bytes = b64url(EnvelopeField::Payload, &raw.payload)?;
    let (target, annotations) = parse_payload(&payload_bytes)?;
    let (chain, timestamp_token, signing_agent) = unprotected(&raw.header)?;
    let signature = b64url(EnvelopeField::Signature, &raw.signature)?;
    let mut signing_input = raw.protected.into_bytes();
    signing_input.push(b'.');
    signing_input.extend_from_slice(raw.payload.as_bytes());

    Ok(Envelope {
        algorithm,
        scheme: judged.scheme,
        signing_time: judged.signing_time,
        expiry: judged.expiry,
        target,
        annotations,
        chain,
        timestamp_token,
        signing_agent,
        signing_input,
        signature,
    })
}

type Unprotected = (Vec<Vec<u8>>, Option<Vec<u8>>, Option<String>);

fn unprotected(header: &Map<String, Value>) -> Result<Unprotected, Failure> {
    let malformed = Failure::Malformed {
        field: EnvelopeField::CertificateChain,
    };
    let x5c = header
        .get("x5c")
        .ok_or(Failure::MissingCertificateChain)?
        .as_array()
        .ok_or(malformed.clone())?;
    let mut chain = Vec::with_capacity(x5c.len());
    for entry in x5c {
        let text = entry.as_str().ok_or(malformed.clone())?;
        chain.push(STANDARD.decode(text).map_err(|_| malformed.clone())?);
    }
    if chain.is_empty() {
        return Err(Failure::MissingCertificateChain);
    }
    let timestamp_token = match header.get(TIMESTAMP_SIGNATURE) {
        None => None,
        Some(value) => {
            let malformed = Failure::Malformed {
                field: EnvelopeField::TimestampSignature,
            };
            let text = value.as_str().ok_or(malformed.clone())?;
            Some(STANDARD.decode(text).map_err(|_| malformed)?)
        }
    };
    let signing_agent = header
        .get(SIGNING_AGENT)
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((chain, timestamp_token, signing_agent))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    fn jws(protected: &Value) -> Vec<u8> {
        let protected = URL_SAFE_NO_PAD.encode(protected.to_string());
        let payload = URL_SAFE_NO_PAD.encode(
            r#"{"targetArtifact":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9","size":517}}"#,
        );
        serde_json::json!({
            "payload": payload, "protected": protected,
            "header": {"x5c": ["AAAA"]}, "signature": "AAAA"
        })
        .to_string()
        .into_bytes()
    }

    fn base() -> Value {
        serde_json::json!({
            "alg": "PS256", "cty": PAYLOAD_CONTENT_TYPE, "crit": [SIGNING_SCHEME],
            SIGNING_SCHEME: "notary.x509", SIGNING_TIME: "2023-06-27T13:30:33+08:00"
        })
    }

    fn with(key: &str, value: Value) -> Value {
        let mut headers = base();
        if let Some(map) = headers.as_object_mut() {
            map.insert(key.to_owned(), value);
        }
        headers
    }

    fn failure(protected: &Value) -> Failure {
        match parse_jws(&jws(protected)) {
            Ok(_) => panic!("accepted"),
            Err(failure) => failure,
        }
    }

    #[test]
    fn accepts_the_minimal_notary_x509_header() {
        let envelope = parse_jws(&jws(&base())).unwrap();
        assert_eq!(envelope.algorithm, Algorithm::PS256);
        assert_eq!(envelope.scheme, SigningScheme::X509);
        assert_eq!(envelope.target.size, 517);
    }

    #[test]
    fn rejects_alg_none_and_hmac() {
        for alg in ["none", "HS256", "RS256", "EdDSA"] {
            assert_eq!(
                failure(&with("alg", alg.into())),
                Failure::UnsupportedAlgorithm { alg: alg.into() }
            );
        }
    }

    #[test]
    fn rejects_unknown_critical_header() {
        let headers = with("crit", serde_json::json!([SIGNING_SCHEME, "x.custom"]));
        let headers = {
            let mut h = headers;
            if let Some(map) = h.as_object_mut() {
                map.insert("x.custom".into(), "1".into());
            }
            h
        };
        assert_eq!(
            failure(&headers),
            Failure::UnknownCriticalHeader {
                header: "x.custom".into()
            }
        );
    }

    #[test]
    fn rejects_verification_plugin_requirement() {
        let mut headers = with(
            "crit",
            serde_json::json!([SIGNING_SCHEME, "io.cncf.notary.verificationPlugin"]),
        );
        if let Some(map) = headers.as_object_mut() {
            map.insert("io.cncf.notary.verificationPlugin".into(), "p".into());
        }
        assert_eq!(
            failure(&headers),
            Failure::UnknownCriticalHeader {
                header: "io.cncf.notary.verificationPlugin".into()
            }
        );
    }

    #[test]
    fn rejects_expiry_not_marked_critical() {
        assert_eq!(
            failure(&with(EXPIRY, "2099-01-01T00:00:00Z".into())),
            Failure::NotMarkedCritical { header: EXPIRY }
        );
    }

    #[test]
    fn rejects_signing_scheme_not_marked_critical() {
        assert_eq!(
            failure(&with("crit", serde_json::json!([]))),
            Failure::NotMarkedCritical {
                header: SIGNING_SCHEME
            }
        );
    }

    #[test]
    fn rejects_other_content_type_and_scheme() {
        assert_eq!(
            failure(&with("cty", "application/json".into())),
            Failure::UnsupportedContentType {
                cty: "application/json".into()
            }
        );
        assert_eq!(
            failure(&with(SIGNING_SCHEME, "notary.default".into())),
            Failure::UnsupportedSigningScheme {
                scheme: "notary.default".into()
            }
        );
    }

    #[test]
    fn rejects_authentic_signing_time_under_notary_x509() {
        assert_eq!(
            failure(&with(AUTHENTIC_SIGNING_TIME, "2023-06-27T13:30:33Z".into())),
            Failure::UnexpectedHeader {
                header: AUTHENTIC_SIGNING_TIME
            }
        );
    }

    #[test]
    fn rejects_unparseable_signing_time() {
        assert_eq!(
            failure(&with(SIGNING_TIME, "yesterday".into())),
            Failure::BadTime {
                header: SIGNING_TIME
            }
        );
    }
}
