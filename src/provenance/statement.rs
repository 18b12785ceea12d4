//! Stage (4), attestations: the in-toto Statement inside a DSSE envelope (v0.1 and v1),
//! parsed under limits. Only the fields the gate uses are typed; the predicate stays JSON
//! until [`super::slsa`] reads it.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::verify::Reason;

/// The DSSE payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// `_type` of an in-toto Statement v0.1 (cosign 2.x still writes it).
pub const STATEMENT_V0_1: &str = "https://in-toto.io/Statement/v0.1";
/// `_type` of an in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The largest statement parsed (slsa-github-generator's are about 20 KiB).
pub const STATEMENT_MAX: usize = 4 * 1024 * 1024;
/// Subjects of one statement read at most.
pub const SUBJECTS_MAX: usize = 1024;

/// One subject of a statement: a name and its digests by algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StatementSubject {
    /// The subject's name (an image repository, a file name, a purl…); may be empty.
    #[serde(default)]
    pub name: String,
    /// Digests by algorithm (`sha256` → lowercase hex).
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
}

/// An in-toto statement, as far as the gate reads it.
#[derive(Debug, Clone)]
pub struct Statement {
    /// `_type`: [`STATEMENT_V0_1`] or [`STATEMENT_V1`].
    pub statement_type: String,
    /// `predicateType`.
    pub predicate_type: String,
    /// `subject`.
    pub subjects: Vec<StatementSubject>,
    /// `predicate` (JSON `null` when absent).
    pub predicate: serde_json::Value,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(rename = "_type")]
    statement_type: String,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    #[serde(default)]
    subject: Vec<StatementSubject>,
    #[serde(default)]
    predicate: serde_json::Value,
}

/// Parses a DSSE payload as an in-toto statement of a known version; the error is a
/// one-line lowercase reason.
pub fn parse(payload: &[u8]) -> Result<Statement, Reason> {
    if payload.len() > STATEMENT_MAX {
        return Err(Reason::TooLarge {
            what: "the statement",
            len: payload.len(),
            max: STATEMENT_MAX,
        });
    }
    let wire: Wire = serde_json::from_slice(payload).map_err(|e| Reason::PayloadNotStatement {
        detail: e.to_string(),
    })?;
    if wire.statement_type != STATEMENT_V0_1 && wire.statement_type != STATEMENT_V1 {
        return Err(Reason::UnknownStatementType {
            found: wire.statement_type,
        });
    }
    if wire.subject.len() > SUBJECTS_MAX {
        return Err(Reason::TooManySubjects {
            count: wire.subject.len(),
            max: SUBJECTS_MAX,
        });
    }
    if wire.predicate_type.is_empty() {
        return Err(Reason::EmptyPredicateType);
    }
    Ok(Statement {
        statement_type: wire.statement_type,
        predicate_type: wire.predicate_type,
        subjects: wire.subject,
        predicate: wire.predicate,
    })
}

/// Whether `bytes` look like a bare in-toto statement (buildkit's unsigned attestation
/// layers): JSON with a `_type` and no DSSE `payloadType`.
pub fn looks_like_bare_statement(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "_type")]
        statement_type: Option<String>,
        #[serde(rename = "payloadType")]
        payload_type: Option<String>,
    }
    bytes.len() <= STATEMENT_MAX
        && serde_json::from_slice::<Probe>(bytes)
            .is_ok_and(|p| p.statement_type.is_some() && p.payload_type.is_none())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    #[test]
    fn parses_v1_and_v0_1_statements() {
        for t in [STATEMENT_V1, STATEMENT_V0_1] {
            let json = format!(
                r#"{{"_type":"{t}","predicateType":"https://slsa.dev/provenance/v1","subject":[{{"name":"a","digest":{{"sha256":"ab"}}}}],"predicate":{{"x":1}}}}"#
            );
            let s = parse(json.as_bytes()).unwrap();
            assert_eq!(s.statement_type, t);
            assert_eq!(s.subjects[0].name, "a");
            assert_eq!(s.subjects[0].digest["sha256"], "ab");
            assert_eq!(s.predicate["x"], 1);
        }
    }

    #[test]
    fn rejects_unknown_statement_type() {
        let json =
            br#"{"_type":"https://in-toto.io/Statement/v9","predicateType":"p","subject":[]}"#;
        let e = parse(json).unwrap_err();
        assert_eq!(
            e,
            Reason::UnknownStatementType {
                found: "https://in-toto.io/Statement/v9".into()
            }
        );
    }

    #[test]
    fn rejects_payload_that_is_not_a_statement() {
        assert!(matches!(
            parse(b"[1,2]").unwrap_err(),
            Reason::PayloadNotStatement { .. }
        ));
        assert!(matches!(
            parse(br#"{"_type":"https://in-toto.io/Statement/v1"}"#).unwrap_err(),
            Reason::PayloadNotStatement { .. }
        ));
    }

    #[test]
    fn rejects_oversized_statement() {
        let big = vec![b' '; STATEMENT_MAX + 1];
        assert_eq!(
            parse(&big).unwrap_err(),
            Reason::TooLarge {
                what: "the statement",
                len: STATEMENT_MAX + 1,
                max: STATEMENT_MAX
            }
        );
    }

    #[test]
    fn recognises_a_bare_statement_but_not_an_envelope() {
        assert!(looks_like_bare_statement(
            br#"{"_type":"https://in-toto.io/Statement/v0.1","subject":[]}"#
        ));
        assert!(!looks_like_bare_statement(
            br#"{"payloadType":"application/vnd.in-toto+json","payload":""}"#
        ));
        assert!(!looks_like_bare_statement(b"not json"));
    }
}
