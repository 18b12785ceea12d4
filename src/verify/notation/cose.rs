//! Notary Project COSE_Sign1 envelopes (`application/cose`): a small strict CBOR reader
//! (definite lengths only, no duplicate map keys, bounded depth) and the mapping of the COSE
//! headers onto the checks shared with JWS (`super::envelope::judge`).

use jiff::Timestamp;

use super::envelope::{
    judge, parse_payload, Algorithm, Envelope, Headers, TimeHeader, AUTHENTIC_SIGNING_TIME, EXPIRY,
    SIGNING_AGENT, SIGNING_SCHEME, SIGNING_TIME, TIMESTAMP_SIGNATURE,
};
use super::{EnvelopeField, Failure};

/// CBOR nesting deeper than this is refused (no Notary header nests more than 3 levels).
const MAX_DEPTH: usize = 8;
const COSE_SIGN1_TAG: u64 = 18;
const EPOCH_TIME_TAG: u64 = 1;
const LABEL_ALG: i64 = 1;
const LABEL_CRIT: i64 = 2;
const LABEL_CONTENT_TYPE: i64 = 3;
const LABEL_X5CHAIN: i64 = 33;

/// A decoded CBOR item (the subset COSE headers use).
#[derive(Debug, Clone, PartialEq)]
enum Cbor {
    Int(i128),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Cbor>),
    Map(Vec<(Cbor, Cbor)>),
    Tag(u64, Box<Cbor>),
    /// false, true, null, undefined, and floats (kept only to be refused where they matter).
    Simple,
    Null,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn argument(&mut self, info: u8) -> Option<u64> {
        let be = |b: &[u8]| b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
        match info {
            0..=23 => Some(u64::from(info)),
            24 => self.take(1).map(be),
            25 => self.take(2).map(be),
            26 => self.take(4).map(be),
            27 => self.take(8).map(be),
            // 28..=30 reserved, 31 indefinite length: refused
            _ => None,
        }
    }

    fn item(&mut self, depth: usize) -> Option<Cbor> {
        if depth > MAX_DEPTH {
            return None;
        }
        let initial = *self.take(1)?.first()?;
        let (major, info) = (initial >> 5, initial & 0x1f);
        if major == 7 {
            return match info {
                22 => Some(Cbor::Null),
                20 | 21 | 23 => Some(Cbor::Simple),
                25 => self.take(2).map(|_| Cbor::Simple),
                26 => self.take(4).map(|_| Cbor::Simple),
                27 => self.take(8).map(|_| Cbor::Simple),
                _ => None,
            };
        }
        let arg = self.argument(info)?;
        let len = || usize::try_from(arg).ok();
        Some(match major {
            0 => Cbor::Int(i128::from(arg)),
            1 => Cbor::Int(-1 - i128::from(arg)),
            2 => Cbor::Bytes(self.take(len()?)?.to_vec()),
            3 => Cbor::Text(String::from_utf8(self.take(len()?)?.to_vec()).ok()?),
            4 => {
                let n = len()?;
                // each item takes at least one byte: a length beyond the input is a lie (and
                // nothing is reserved up front from a length the input states)
                if n > self.bytes.len() {
                    return None;
                }
                let mut items = Vec::new();
                for _ in 0..n {
                    items.push(self.item(depth + 1)?);
                }
                Cbor::Array(items)
            }
            5 => {
                let n = len()?;
                if n > self.bytes.len() {
                    return None;
                }
                let mut entries: Vec<(Cbor, Cbor)> = Vec::new();
                for _ in 0..n {
                    let key = self.item(depth + 1)?;
                    if entries.iter().any(|(k, _)| *k == key) {
                        return None;
                    }
                    let value = self.item(depth + 1)?;
                    entries.push((key, value));
                }
                Cbor::Map(entries)
            }
            6 => Cbor::Tag(arg, Box::new(self.item(depth + 1)?)),
            _ => return None,
        })
    }
}

/// Decodes exactly one CBOR item spanning all of `bytes`.
fn decode(bytes: &[u8]) -> Option<Cbor> {
    let mut reader = Reader { bytes, pos: 0 };
    let item = reader.item(0)?;
    (reader.pos == bytes.len()).then_some(item)
}

fn encode_head(major: u8, len: usize, out: &mut Vec<u8>) {
    let len = len as u64;
    let major = major << 5;
    match len {
        0..=23 => out.push(major | len as u8),
        24..=0xff => out.extend([major | 24, len as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend((len as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend((len as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend(len.to_be_bytes());
        }
    }
}

/// `Sig_structure` = ["Signature1", protected, external_aad = h'', payload] (RFC 9052 §4.4).
fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x84];
    encode_head(3, 10, &mut out);
    out.extend_from_slice(b"Signature1");
    encode_head(2, protected.len(), &mut out);
    out.extend_from_slice(protected);
    out.push(0x40);
    encode_head(2, payload.len(), &mut out);
    out.extend_from_slice(payload);
    out
}

fn algorithm(value: i128) -> Option<Algorithm> {
    Some(match value {
        -37 => Algorithm::PS256,
        -38 => Algorithm::PS384,
        -39 => Algorithm::PS512,
        -7 => Algorithm::ES256,
        -35 => Algorithm::ES384,
        -36 => Algorithm::ES512,
        _ => return None,
    })
}

fn get<'a>(map: &'a [(Cbor, Cbor)], label: &Cbor) -> Option<&'a Cbor> {
    map.iter().find(|(k, _)| k == label).map(|(_, v)| v)
}

fn text_label(name: &str) -> Cbor {
    Cbor::Text(name.to_owned())
}

fn label_name(label: &Cbor) -> Option<String> {
    match label {
        Cbor::Text(text) => Some(text.clone()),
        Cbor::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn cose_time(map: &[(Cbor, Cbor)], name: &str) -> TimeHeader {
    match get(map, &text_label(name)) {
        None => TimeHeader::Absent,
        Some(Cbor::Tag(EPOCH_TIME_TAG, inner)) => match **inner {
            Cbor::Int(seconds) => i64::try_from(seconds)
                .ok()
                .and_then(|s| Timestamp::from_second(s).ok())
                .map_or(TimeHeader::Invalid, TimeHeader::At),
            _ => TimeHeader::Invalid,
        },
        Some(_) => TimeHeader::Invalid,
    }
}

/// Decodes a COSE_Sign1 envelope and checks its protected header like [`super::parse_jws`].
/// A detached payload (`nil`) is refused: a Notary signature carries what it signs.
pub fn parse_cose(bytes: &[u8]) -> Result<Envelope, Failure> {
    let malformed = |field| Failure::Malformed { field };
    let items = match decode(bytes) {
        Some(Cbor::Tag(COSE_SIGN1_TAG, inner)) => match *inner {
            Cbor::Array(items) => items,
            _ => return Err(malformed(EnvelopeField::Envelope)),
        },
        _ => return Err(malformed(EnvelopeField::Envelope)),
    };
    let [protected, unprotected, payload, signature] = items.as_slice() else {
        return Err(malformed(EnvelopeField::Envelope));
    };
    let Cbor::Bytes(protected_bytes) = protected else {
        return Err(malformed(EnvelopeField::Protected));
    };
    let Some(Cbor::Map(map)) = decode(protected_bytes) else {
        return Err(malformed(EnvelopeField::Protected));
    };

    let alg = match get(&map, &Cbor::Int(i128::from(LABEL_ALG))) {
        Some(Cbor::Int(value)) => algorithm(*value).ok_or(Failure::UnsupportedAlgorithm {
            alg: value.to_string(),
        })?,
        Some(Cbor::Text(text)) => return Err(Failure::UnsupportedAlgorithm { alg: text.clone() }),
        _ => return Err(Failure::MissingHeader { header: "alg" }),
    };
    let crit = match get(&map, &Cbor::Int(i128::from(LABEL_CRIT))) {
        None => None,
        Some(Cbor::Array(labels)) => Some(labels.iter().map(label_name).collect()),
        Some(_) => return Err(malformed(EnvelopeField::Protected)),
    };
    let text = |label: &Cbor| match get(&map, label) {
        Some(Cbor::Text(text)) => Some(text.clone()),
        _ => None,
    };
    let headers = Headers {
        cty: text(&Cbor::Int(i128::from(LABEL_CONTENT_TYPE))),
        scheme: text(&text_label(SIGNING_SCHEME)),
        crit,
        present: map.iter().filter_map(|(k, _)| label_name(k)).collect(),
        signing_time: cose_time(&map, SIGNING_TIME),
        authentic_signing_time: cose_time(&map, AUTHENTIC_SIGNING_TIME),
        expiry: cose_time(&map, EXPIRY),
    };
    let judged = judge(&headers)?;

    let payload_bytes = match payload {
        Cbor::Bytes(bytes) => bytes,
        Cbor::Null => return Err(Failure::DetachedPayload),
        _ => return Err(malformed(EnvelopeField::Payload)),
    };
    let (target, annotations) = parse_payload(payload_bytes)?;

    let Cbor::Map(unprotected) = unprotected else {
        return Err(malformed(EnvelopeField::Envelope));
    };
    let chain = match get(unprotected, &Cbor::Int(i128::from(LABEL_X5CHAIN))) {
        None => return Err(Failure::MissingCertificateChain),
        Some(Cbor::Bytes(one)) => vec![one.clone()],
        Some(Cbor::Array(certs)) => certs
            .iter()
            .map(|c| match c {
                Cbor::Bytes(der) => Ok(der.clone()),
                _ => Err(malformed(EnvelopeField::CertificateChain)),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(malformed(EnvelopeField::CertificateChain)),
    };
    if chain.is_empty() {
        return Err(Failure::MissingCertificateChain);
    }
    let timestamp_token = match get(unprotected, &text_label(TIMESTAMP_SIGNATURE)) {
        None => None,
        Some(Cbor::Bytes(token)) => Some(token.clone()),
        Some(_) => return Err(malformed(EnvelopeField::TimestampSignature)),
    };
    let signing_agent = match get(unprotected, &text_label(SIGNING_AGENT)) {
        Some(Cbor::Text(agent)) => Some(agent.clone()),
        _ => None,
    };
    let Cbor::Bytes(signature) = signature else {
        return Err(malformed(EnvelopeField::Signature));
    };

    Ok(Envelope {
        algorithm: alg,
        scheme: judged.scheme,
        signing_time: judged.signing_time,
        expiry: judged.expiry,
        target,
        annotations,
        chain,
        timestamp_token,
        signing_agent,
        signing_input: sig_structure(protected_bytes, payload_bytes),
        signature: signature.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_refuses_indefinite_lengths_duplicate_keys_trailing_bytes_and_deep_nesting() {
        assert_eq!(decode(&[0x9f, 0x01, 0xff]), None); // indefinite array
        assert_eq!(decode(&[0xa2, 0x01, 0x01, 0x01, 0x02]), None); // {1: 1, 1: 2}
        assert_eq!(decode(&[0x01, 0x01]), None); // trailing byte
        assert_eq!(
            decode(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(decode(&[0x81; 20]), None); // 20 nested arrays
        assert_eq!(
            decode(&[0xa1, 0x01, 0x38, 0x24]),
            Some(Cbor::Map(vec![(Cbor::Int(1), Cbor::Int(-37))]))
        );
    }

    #[test]
    fn sig_structure_matches_rfc_9052_layout() {
        let s = sig_structure(&[0xa0], b"x");
        assert_eq!(
            s,
            [
                &[0x84, 0x6a][..],
                b"Signature1",
                &[0x41, 0xa0, 0x40, 0x41, b'x']
            ]
            .concat()
        );
    }
}
