//! SLSA provenance attestations made and attached as cosign does: an in-toto statement in a
//! DSSE envelope signed with a test key, pushed as `sha256-<hex>.att`, so that each negative
//! test can break exactly one thing.
//!
//! `common::att`, also reachable as `crate::att`.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{json, Value};

use crate::common::{TestRegistry, OCI_MANIFEST};
use crate::pki::{b64, dsse_pae, TestKey, ANNOTATION_SIGNATURE, IN_TOTO};

pub const BUILDER: &str =
    "https://github.com/acme/builder/.github/workflows/build.yml@refs/heads/main";
pub const SOURCE: &str = "https://github.com/acme/app";
pub const COMMIT: &str = "4d329c75e7ec1725f7c9ce917a8799d408d06be3";
pub const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
pub const SLSA_V0_2: &str = "https://slsa.dev/provenance/v0.2";
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
pub const STATEMENT_V0_1: &str = "https://in-toto.io/Statement/v0.1";

// ---------------------------------------------------------------- attestations

/// Which SLSA provenance predicate an attestation carries.
#[derive(Clone, Copy)]
pub enum Slsa {
    V1,
    V0_2,
}

/// One SLSA provenance attestation about an image digest, made and signed as cosign does.
#[derive(Clone)]
pub struct Att {
    pub subject_name: String,
    pub subject_digest: String,
    pub builder: String,
    pub repository: String,
    pub git_ref: String,
    pub commit: String,
    pub slsa: Slsa,
    /// Applied to the statement after it was signed.
    pub edit_after_signing: Option<fn(&mut Value)>,
    /// Applied to the statement before it is signed (a genuine signature over odd content).
    pub edit_before_signing: Option<fn(&mut Value)>,
}

impl Att {
    /// Provenance for `digest` of `subject_name` (`host/repo`): built by [`BUILDER`] from
    /// [`SOURCE`] at `refs/heads/main`, commit [`COMMIT`], SLSA v1.
    pub fn about(subject_name: &str, digest: &str) -> Self {
        Self {
            subject_name: subject_name.to_owned(),
            subject_digest: digest.to_owned(),
            builder: BUILDER.to_owned(),
            repository: SOURCE.to_owned(),
            git_ref: "refs/heads/main".to_owned(),
            commit: COMMIT.to_owned(),
            slsa: Slsa::V1,
            edit_after_signing: None,
            edit_before_signing: None,
        }
    }

    pub fn builder(mut self, id: &str) -> Self {
        self.builder = id.to_owned();
        self
    }

    pub fn repository(mut self, uri: &str) -> Self {
        self.repository = uri.to_owned();
        self
    }

    pub fn git_ref(mut self, git_ref: &str) -> Self {
        self.git_ref = git_ref.to_owned();
        self
    }

    pub fn commit(mut self, commit: &str) -> Self {
        self.commit = commit.to_owned();
        self
    }

    pub fn subject_digest(mut self, digest: &str) -> Self {
        self.subject_digest = digest.to_owned();
        self
    }

    pub fn slsa_v0_2(mut self) -> Self {
        self.slsa = Slsa::V0_2;
        self
    }

    pub fn edit_after_signing(mut self, edit: fn(&mut Value)) -> Self {
        self.edit_after_signing = Some(edit);
        self
    }

    pub fn edit_before_signing(mut self, edit: fn(&mut Value)) -> Self {
        self.edit_before_signing = Some(edit);
        self
    }

    pub fn predicate_type(&self) -> &'static str {
        match self.slsa {
            Slsa::V1 => SLSA_V1,
            Slsa::V0_2 => SLSA_V0_2,
        }
    }

    /// The in-toto statement.
    pub fn statement(&self) -> Value {
        let subject = json!([{
            "name": self.subject_name,
            "digest": { "sha256": self.subject_digest.trim_start_matches("sha256:") },
        }]);
        let source_uri = format!("git+{}@{}", self.repository, self.git_ref);
        match self.slsa {
            Slsa::V1 => json!({
                "_type": STATEMENT_V1,
                "subject": subject,
                "predicateType": SLSA_V1,
                "predicate": {
                    "buildDefinition": {
                        "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                        "externalParameters": {
                            "workflow": {
                                "repository": self.repository,
                                "ref": self.git_ref,
                                "path": ".github/workflows/release.yml",
                            },
                        },
                        "resolvedDependencies": [
                            { "uri": source_uri, "digest": { "gitCommit": self.commit } },
                        ],
                    },
                    "runDetails": {
                        "builder": { "id": self.builder },
                        "metadata": {
                            "invocationId": "https://github.com/acme/app/actions/runs/1/attempts/1",
                            "startedOn": "2024-01-01T00:00:00Z",
                        },
                    },
                },
            }),
            Slsa::V0_2 => json!({
                "_type": STATEMENT_V0_1,
                "subject": subject,
                "predicateType": SLSA_V0_2,
                "predicate": {
                    "builder": { "id": self.builder },
                    "buildType": "https://github.com/slsa-framework/slsa-github-generator/container@v1",
                    "invocation": {
                        "configSource": {
                            "uri": source_uri,
                            "digest": { "sha1": self.commit },
                            "entryPoint": ".github/workflows/release.yml",
                        },
                    },
                    "materials": [{ "uri": source_uri, "digest": { "sha1": self.commit } }],
                },
            }),
        }
    }

    /// The DSSE envelope: the statement signed (over the PAE) with `key`, then edited if asked.
    pub fn envelope(&self, key: &TestKey) -> Vec<u8> {
        let mut statement = self.statement();
        if let Some(edit) = self.edit_before_signing {
            edit(&mut statement);
        }
        let signed = serde_json::to_vec(&statement).unwrap();
        let sig = key.sign_payload(dsse_pae(IN_TOTO, &signed)).signature;
        let payload = match self.edit_after_signing {
            Some(edit) => {
                edit(&mut statement);
                let edited = serde_json::to_vec(&statement).unwrap();
                assert_ne!(edited, signed, "the edit changes the payload");
                edited
            }
            None => signed,
        };
        serde_json::to_vec(&json!({
            "payloadType": IN_TOTO,
            "payload": b64(&payload),
            "signatures": [{ "keyid": "", "sig": sig }],
        }))
        .unwrap()
    }
}

/// One DSSE layer of an `.att` manifest.
pub struct AttLayer {
    pub envelope: Vec<u8>,
    pub predicate_type: &'static str,
    /// Certificate, chain and Rekor bundle, for keyless layers.
    pub annotations: Vec<(&'static str, String)>,
}

impl AttLayer {
    pub fn signed(att: &Att, key: &TestKey) -> Self {
        Self {
            envelope: att.envelope(key),
            predicate_type: att.predicate_type(),
            annotations: Vec::new(),
        }
    }
}

/// Pushes `layers` to `repo` as cosign's attestation manifest of `image_digest`: an OCI
/// manifest tagged `sha256-<hex>.att`, one DSSE layer per attestation annotated with its
/// predicate type. Returns the digests of the layer blobs, in order.
pub fn push_attestations(
    registry: &TestRegistry,
    repo: &str,
    image_digest: &str,
    layers: &[AttLayer],
) -> Vec<String> {
    let blobs: Vec<String> = layers
        .iter()
        .map(|l| registry.upload_blob(repo, &l.envelope))
        .collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{ "created": "0001-01-01T00:00:00Z" }],
        "os": "",
        "rootfs": { "type": "layers", "diff_ids": blobs },
        "config": {},
    }))
    .unwrap();
    let config_digest = registry.upload_blob(repo, &config);
    let descriptors: Vec<Value> = layers
        .iter()
        .zip(&blobs)
        .map(|(l, digest)| {
            let mut annotations = json!({
                ANNOTATION_SIGNATURE: "",
                "predicateType": l.predicate_type,
            });
            for (k, v) in &l.annotations {
                annotations[*k] = json!(v);
            }
            json!({
                "mediaType": DSSE,
                "size": l.envelope.len(),
                "digest": digest,
                "annotations": annotations,
            })
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": config.len(),
            "digest": config_digest,
        },
        "layers": descriptors,
    }))
    .unwrap();
    let tag = format!("{}.att", image_digest.replacen(':', "-", 1));
    registry.put_manifest(repo, &tag, OCI_MANIFEST, &manifest);
    blobs
}
