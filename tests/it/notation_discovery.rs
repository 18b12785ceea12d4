//! Notary Project signatures found where Notation leaves them and decided by
//! `verify::notation`: the OCI layouts of notation's e2e suite read from disk (their referrers
//! tag `sha256-<hex>` lists one signature; `index.json` lists every signature manifest, found
//! by its `subject`), and the same images in Debian's `docker-registry` (no referrers API), the
//! image copied with skopeo and the signature manifests and referrers tag index pushed as they
//! are (skopeo 1.9 will not copy that index with its digests preserved).
use crate::common;
use crate::common::case::Case;

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jiff::Timestamp;
use supplygate::reference::{Digest, ImageRef};
use supplygate::registry::{HostSettings, Registry, RegistrySettings};
use supplygate::verify::discover;
use supplygate::verify::notation::{
    self, Check, Failure, Finding, Outcome, StoreKind, Target, TrustPolicy, TrustStore,
};
use supplygate::verify::Candidate;
use supplygate::verify::Location;

use common::TestRegistry;

const E2E: &str = "fixtures/external/notaryproject/notation/test/e2e/testdata";
const E2E_SUBJECT: &str = "CN=e2e,O=Notary,L=Seattle,ST=WA,C=US";
/// The `v1` image of every e2e layout (the same content in each).
const IMAGE: &str = "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";
/// The signature manifest of `e2e-valid-signature`, also the one its referrers tag lists.
const SIGNATURE: &str = "sha256:90ceaff260d657d797c408ac73564a9c7bb9d86055877c2a811f0e63b8c6524f";
/// The second signature of `e2e-valid-multiple-signatures` (not in the referrers tag).
const SECOND_SIGNATURE: &str =
    "sha256:c3ebe4a20b6832328fc5078a7795ddc1114b896e13fca2add38109c3866b5fbf";

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(E2E).join(path)
}

fn layout(name: &str) -> PathBuf {
    fixture(&format!("registry/oci_layout/{name}"))
}

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

/// After the e2e certificates that expire, before the ones that do not (as tests/notation.rs).
fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

/// The e2e suite's `trustpolicy.json` and `ca:e2e` holding `localkeys/e2e.crt`.
fn decide(found: &Candidate, target: &Target) -> Outcome {
    let (media_type, envelope) = found.notation_envelope().unwrap();
    let policy = TrustPolicy::from_json(
        &std::fs::read(fixture("config/trustpolicies/trustpolicy.json")).unwrap(),
    )
    .unwrap();
    let pem = std::fs::read_to_string(fixture("config/localkeys/e2e.crt")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut store = TrustStore::new();
    store.add(StoreKind::Ca, "e2e", STANDARD.decode(body).unwrap());
    let statement = policy.statement_for("localhost:5000/e2e").unwrap();
    notation::verify(media_type, envelope, target, statement, &store, now()).unwrap()
}

fn signer(outcome: Outcome) -> String {
    match outcome {
        Outcome::Verified(v) => v.signer,
        other => panic!("expected verified, got {other:?}"),
    }
}

fn manifest_of(found: &Candidate) -> &Digest {
    match &found.location {
        Location::Referrers { manifest, .. } | Location::ReferrersTag { manifest, .. } => manifest,
        other => panic!("not a referrer: {other:?}"),
    }
}

/// A client reading `localhost:5000` from the OCI layout at `dir` only.
fn layout_client(dir: PathBuf) -> Registry {
    let mut settings = RegistrySettings {
        offline: true,
        ..RegistrySettings::default()
    };
    settings.hosts.insert(
        "localhost:5000".to_owned(),
        HostSettings {
            layout: Some(dir),
            ..HostSettings::default()
        },
    );
    Registry::new(settings).unwrap()
}

/// Finds the signatures of the layout's `v1` and the target they must name.
async fn found_in(client: &Registry, image: &ImageRef) -> (Vec<Candidate>, Target) {
    let manifest = client.manifest(image, "v1").await.unwrap();
    let target = Target::of_manifest(&manifest);
    assert_eq!(target.digest, digest(IMAGE));
    let found = discover::notation_signatures(client, image, &target.digest)
        .await
        .unwrap();
    (found, target)
}

#[tokio::test]
async fn e2e_layouts_are_found_from_disk_and_decide_as_notation_does() {
    let image = ImageRef::parse("localhost:5000/e2e:v1").unwrap();

    let client = layout_client(layout("e2e-valid-signature"));
    let (found, target) = found_in(&client, &image).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0].location,
        Location::ReferrersTag {
            tag: digest(IMAGE).tag_prefix(),
            manifest: digest(SIGNATURE),
            artifact_type: notation::SIGNATURE_ARTIFACT_TYPE.to_owned()
        }
    );
    assert_eq!(found[0].attached_to, digest(IMAGE));
    assert_eq!(
        found[0].notation_envelope().unwrap().0,
        notation::JWS_MEDIA_TYPE
    );
    assert_eq!(signer(decide(&found[0], &target)), E2E_SUBJECT);
    assert_eq!(client.stats().requests, 0);

    // both signatures of the multiple-signature layout are found, the second one by its
    // `subject` only; the one by e2e.crt counts
    let client = layout_client(layout("e2e-valid-multiple-signatures"));
    let (found, target) = found_in(&client, &image).await;
    let manifests: Vec<&Digest> = found.iter().map(manifest_of).collect();
    assert_eq!(
        manifests,
        vec![&digest(SIGNATURE), &digest(SECOND_SIGNATURE)]
    );
    assert!(
        matches!(found[1].location, Location::Referrers { .. }),
        "{:?}",
        found[1].location
    );
    let verified: Vec<String> = found
        .iter()
        .filter_map(|f| match decide(f, &target) {
            Outcome::Verified(v) => Some(v.signer),
            _ => None,
        })
        .collect();
    assert_eq!(verified, vec![E2E_SUBJECT.to_owned()]);

    // the invalid signature is found, and refused on its envelope type
    let client = layout_client(layout("e2e-invalid-signature"));
    let (found, target) = found_in(&client, &image).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        decide(&found[0], &target),
        Outcome::Rejected(Finding {
            check: Check::Integrity,
            failure: Failure::UnsupportedEnvelope {
                media_type: "application/vnd.oci.image.layer.v1.tar".into()
            }
        })
    );

    // the expired signature: found, rejected on expiry under strict
    let client = layout_client(layout("e2e-expired-signature"));
    let (found, target) = found_in(&client, &image).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let Outcome::Rejected(finding) = decide(&found[0], &target) else {
        panic!("expired signature accepted");
    };
    assert_eq!(finding.check, Check::Expiry);
    assert!(
        matches!(finding.failure, Failure::SignatureExpired { .. }),
        "{finding:?}"
    );
}

#[tokio::test]
async fn a_signature_is_found_only_for_the_digest_it_is_attached_to() {
    // The signature manifest itself has no signature; neither has an unrelated digest.
    let client = layout_client(layout("e2e-valid-signature"));
    let image = ImageRef::parse("localhost:5000/e2e:v1").unwrap();
    for other in [
        SIGNATURE,
        "sha256:0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let found = discover::notation_signatures(&client, &image, &digest(other))
            .await
            .unwrap();
        assert!(found.is_empty(), "{other}: {found:#?}");
    }
}

/// Pushes every signature manifest of the layout (the untagged entries of `index.json`, with
/// their blobs) by digest, and its referrers tag index under its tag, bytes as they are.
fn push_signatures(registry: &TestRegistry, dir: &Path, repo: &str) {
    let read = |digest: &str| {
        std::fs::read(
            dir.join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mut tagged_index = None;
    for entry in index["manifests"].as_array().unwrap() {
        let digest = entry["digest"].as_str().unwrap();
        let media_type = entry["mediaType"].as_str().unwrap();
        match entry["annotations"]["org.opencontainers.image.ref.name"].as_str() {
            Some("v1") => {}
            Some(tag) => tagged_index = Some((tag.to_owned(), read(digest))),
            None => {
                let body = read(digest);
                let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let layers = manifest["layers"].as_array().unwrap();
                for blob in layers.iter().chain([&manifest["config"]]) {
                    registry.upload_blob(repo, &read(blob["digest"].as_str().unwrap()));
                }
                registry.put_manifest(repo, digest, media_type, &body);
            }
        }
    }
    let (tag, body) = tagged_index.unwrap();
    registry.put_manifest(repo, &tag, common::OCI_INDEX, &body);
}

#[tokio::test]
async fn e2e_layouts_are_found_in_docker_registry() {
    let registry = TestRegistry::start();
    let tag = digest(IMAGE).tag_prefix();
    for name in ["e2e-valid-signature", "e2e-valid-multiple-signatures"] {
        registry.push_layout(&layout(name), "v1", &format!("{name}:v1"));
        push_signatures(&registry, &layout(name), name);
    }
    let client = Registry::new(common::client_settings(&registry)).unwrap();
    for name in ["e2e-valid-signature", "e2e-valid-multiple-signatures"] {
        let image = ImageRef::parse(&registry.image(&format!("{name}:v1"))).unwrap();
        let (found, target) = found_in(&client, &image).await;
        // docker-registry 2.8 has no referrers API: the referrers tag lists one signature
        // (in both layouts), which is all a client of this registry can see.
        assert_eq!(found.len(), 1, "{name}: {found:#?}");
        assert_eq!(
            found[0].location,
            Location::ReferrersTag {
                tag: tag.clone(),
                manifest: digest(SIGNATURE),
                artifact_type: notation::SIGNATURE_ARTIFACT_TYPE.to_owned()
            },
            "{name}"
        );
        assert_eq!(signer(decide(&found[0], &target)), E2E_SUBJECT, "{name}");
    }
    // an image copied without its referrers tag has no signature
    registry.push_layout(&layout("e2e-valid-signature"), "v1", "unsigned:v1");
    let image = ImageRef::parse(&registry.image("unsigned:v1")).unwrap();
    let (found, _) = found_in(&client, &image).await;
    assert!(found.is_empty(), "{found:#?}");

    // a signature manifest with two envelope layers, listed as a signature: Notation refuses
    // it, and it is not a candidate here
    let dir = layout("e2e-valid-signature");
    registry.push_layout(&dir, "v1", "two-layers:v1");
    push_signatures(&registry, &dir, "two-layers");
    let blob = dir.join("blobs/sha256").join(&SIGNATURE["sha256:".len()..]);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap();
    let layer = manifest["layers"][0].clone();
    manifest["layers"] = serde_json::json!([layer.clone(), layer]);
    let body = serde_json::to_vec(&manifest).unwrap();
    let two = common::sha256_digest(&body);
    registry.put_manifest("two-layers", &two, common::OCI_MANIFEST, &body);
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": common::OCI_INDEX,
        "manifests": [{"mediaType": common::OCI_MANIFEST, "digest": two, "size": body.len(),
                       "artifactType": notation::SIGNATURE_ARTIFACT_TYPE}],
    });
    registry.put_manifest(
        "two-layers",
        &tag,
        common::OCI_INDEX,
        &serde_json::to_vec(&index).unwrap(),
    );
    let image = ImageRef::parse(&registry.image("two-layers:v1")).unwrap();
    let (found, _) = found_in(&client, &image).await;
    assert!(found.is_empty(), "{found:#?}");
}

// ------------------------------------------------------------ check, --locked, explain

/// A [`Case`] for `supplygate check`: `pod.yaml` naming `image`, a trust store in Notation's
/// layout under `truststore/`, and `supplygate.yaml` as given.
pub(crate) struct NotationCheck {
    case: Case,
}

impl NotationCheck {
    pub(crate) fn new(image: &str) -> Self {
        let case = Self { case: Case::new() };
        case.write(
            "pod.yaml",
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n    - name: c\n      image: {image}\n"
            ),
        );
        case
    }

    pub(crate) fn write(&self, name: &str, text: &str) {
        self.case.write(name, text);
    }

    pub(crate) fn dir(&self) -> &Path {
        self.case.dir()
    }

    /// Puts `config/localkeys/<cert>` into the `ca:<store>` trust store.
    pub(crate) fn trust(&self, store: &str, cert: &str) {
        let pem = std::fs::read_to_string(fixture(&format!("config/localkeys/{cert}"))).unwrap();
        self.write(&format!("truststore/x509/ca/{store}/{cert}"), &pem);
    }

    /// `supplygate.yaml` serving `localhost:5000` from the e2e layout `layout`, with
    /// `signers` (YAML under `signers:`) and one rule requiring `required` for it.
    pub(crate) fn config(&self, layout_name: &str, signers: &str, required: &str) {
        self.write(
            "supplygate.yaml",
            &format!(
                "registries:\n  localhost:5000:\n    layout: {}\nnetwork:\n  offline: true\nsigners:\n{signers}require:\n  - images: [\"localhost:5000/**\"]\n    signers: [{required}]\n",
                layout(layout_name).display()
            ),
        );
    }

    pub(crate) fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--now", "2026-06-01T00:00:00Z"]);
        let out = self.case.run(&all);
        (out.code, out.stdout, out.stderr)
    }

    /// `check pod.yaml --format json`: the exit code and the one image's report.
    pub(crate) fn check(&self, extra: &[&str]) -> (i32, serde_json::Value) {
        let mut args = vec!["check", "pod.yaml", "--format", "json"];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = self.run(&args);
        let json: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{e}: exit {code}\n{stdout}\n{stderr}"));
        (code, json["images"][0].clone())
    }
}

/// An inline `notation:` signer named `notary-e2e` over `truststore/`.
pub(crate) fn inline_signer(level: &str, identities: &str) -> String {
    format!(
        "  notary-e2e:\n    notation:\n      trust_store: truststore\n      identities: {identities}\n      level: {level}\n"
    )
}

pub(crate) const E2E_IDENTITY: &str =
    "[\"x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=e2e\"]";

/// The Notation facts of the image's only signature, and its rejection reasons.
pub(crate) fn only_signature(image: &serde_json::Value) -> &serde_json::Value {
    let facts = image["signatures"]["facts"].as_array().unwrap();
    assert_eq!(facts.len(), 1, "{image:#}");
    &facts[0]
}

pub(crate) fn reasons(fact: &serde_json::Value) -> Vec<String> {
    fact["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}: {}",
                r["signer"].as_str().unwrap(),
                r["reason"].as_str().unwrap()
            )
        })
        .collect()
}

pub(crate) fn codes(image: &serde_json::Value) -> Vec<&str> {
    image["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect()
}

fn check_outcomes(fact: &serde_json::Value) -> Vec<(String, String)> {
    fact["notation"]["verdicts"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_owned(),
                c["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn check_decides_each_e2e_layout_as_notation_documents() {
    let image = "localhost:5000/e2e:v1";
    // (layout, certificate in ca:e2e, level, identities, exit, expected reason or None)
    type Row<'a> = (&'a str, &'a str, &'a str, &'a str, i32, Option<&'a str>);
    let cases: &[Row<'_>] = &[
        ("e2e-valid-signature", "e2e.crt", "strict", E2E_IDENTITY, 0, None),
        ("e2e-valid-signature", "e2e.crt", "strict", "[\"*\"]", 0, None),
        ("e2e-valid-multiple-signatures", "e2e.crt", "strict", E2E_IDENTITY, 0, None),
        (
            "e2e-invalid-signature",
            "e2e.crt",
            "audit",
            E2E_IDENTITY,
            1,
            Some("integrity: envelope media type `application/vnd.oci.image.layer.v1.tar` is not supported"),
        ),
        (
            "e2e-expired-signature",
            "e2e.crt",
            "strict",
            E2E_IDENTITY,
            1,
            Some("expiry: the signature expired at 2023-06-27T05:21:21Z"),
        ),
        ("e2e-expired-signature", "e2e.crt", "permissive", E2E_IDENTITY, 0, None),
        (
            "e2e-with-expired-cert",
            "expired_e2e.crt",
            "strict",
            "[\"*\"]",
            1,
            Some("authenticTimestamp: certificate 0 of the chain: it has expired"),
        ),
        ("e2e-with-expired-cert", "expired_e2e.crt", "audit", "[\"*\"]", 0, None),
        (
            "e2e-valid-signature",
            "new_e2e.crt",
            "permissive",
            "[\"*\"]",
            1,
            Some("authenticity: the certificate chain contains no trusted certificate"),
        ),
        (
            "e2e-valid-signature",
            "e2e.crt",
            "strict",
            "[\"x509.subject: C=US, ST=WA, O=Acme\"]",
            1,
            Some("authenticity: signer `CN=e2e,O=Notary,L=Seattle,ST=WA,C=US` is not a trusted identity"),
        ),
        // Notation's `audit` logs an untrusted signer and accepts; the gate does not count
        // a signature whose signer is not trusted, whatever the level.
        (
            "e2e-valid-signature",
            "new_e2e.crt",
            "audit",
            "[\"*\"]",
            1,
            Some("authenticity: the certificate chain contains no trusted certificate (only logged under level `audit`; a signature whose signer is not trusted never satisfies `require:`)"),
        ),
        // Signed at run time of notation's suite by a certificate it does not ship: no
        // trust store here can vouch for them, whatever their timestamp says.
        (
            "e2e-with-timestamped-signature",
            "e2e.crt",
            "strict",
            "[\"*\"]",
            1,
            Some("authenticity: the certificate chain contains no trusted certificate"),
        ),
        (
            "e2e-with-invalid-timestamped-signature",
            "e2e.crt",
            "strict",
            "[\"*\"]",
            1,
            Some("authenticity: the certificate chain contains no trusted certificate"),
        ),
    ];
    for (layout_name, cert, level, identities, exit, reason) in cases {
        let what = format!("{layout_name} with {cert} under {level}, identities {identities}");
        let case = NotationCheck::new(image);
        case.trust("e2e", cert);
        case.config(layout_name, &inline_signer(level, identities), "notary-e2e");
        let (code, report) = case.check(&[]);
        assert_eq!(code, *exit, "{what}: {report:#}");
        let facts = report["signatures"]["facts"].as_array().unwrap();
        let ours: Vec<&serde_json::Value> = facts
            .iter()
            .filter(|f| {
                f["verified_by"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|v| v == "notary-e2e")
            })
            .collect();
        match reason {
            None => {
                assert_eq!(report["decision"], "allow", "{what}: {report:#}");
                assert_eq!(ours.len(), 1, "{what}: {report:#}");
                assert_eq!(ours[0]["kind"], "notation", "{what}");
                let subject = match *cert {
                    "e2e.crt" => E2E_SUBJECT,
                    _ => "O=Internet Widgits Pty Ltd,ST=Some-State,C=AU",
                };
                assert_eq!(
                    ours[0]["notation"]["certificate_subject"], subject,
                    "{what}"
                );
            }
            Some(reason) => {
                assert_eq!(
                    codes(&report),
                    vec!["signature-not-trusted"],
                    "{what}: {report:#}"
                );
                assert!(ours.is_empty(), "{what}: {report:#}");
                let fact = only_signature(&report);
                assert_eq!(
                    reasons(fact),
                    vec![format!("notary-e2e: {reason}")],
                    "{what}"
                );
                // the countersignature is reported, whether or not it could be verified
                let timestamped = layout_name.contains("timestamped");
                assert_eq!(fact["notation"]["timestamped"], timestamped, "{what}");
            }
        }
    }
}

#[test]
fn logged_failures_are_in_the_facts_of_a_signature_that_counts() {
    let case = NotationCheck::new("localhost:5000/e2e:v1");
    case.trust("e2e", "e2e.crt");
    case.config(
        "e2e-expired-signature",
        &inline_signer("permissive", E2E_IDENTITY),
        "notary-e2e",
    );
    let (code, report) = case.check(&[]);
    assert_eq!(code, 0, "{report:#}");
    let fact = only_signature(&report);
    assert_eq!(fact["verified_by"], serde_json::json!(["notary-e2e"]));
    let verdict = &fact["notation"]["verdicts"][0];
    assert_eq!(verdict["level"], "permissive");
    assert_eq!(
        check_outcomes(fact),
        [
            ("integrity", "passed"),
            ("authenticity", "passed"),
            ("authenticTimestamp", "passed"),
            ("expiry", "logged"),
            ("revocation", "passed"),
        ]
        .map(|(c, o)| (c.to_owned(), o.to_owned()))
    );
    assert_eq!(
        verdict["checks"][3]["reason"],
        "the signature expired at 2023-06-27T05:21:21Z"
    );
    assert_eq!(verdict["revocation"], "not-revocable");
    assert_eq!(fact["notation"]["signing_scheme"], "notary.x509");
    assert_eq!(fact["notation"]["algorithm"], "PS256");
    assert_eq!(fact["notation"]["expiry"], "2023-06-27T05:21:21Z");
    assert_eq!(fact["notation"]["chain"].as_array().unwrap().len(), 1);
}

#[test]
fn an_unsigned_image_is_unsigned_to_a_notation_rule() {
    let case = NotationCheck::new("localhost:5000/e2e:v1");
    case.trust("e2e", "e2e.crt");
    case.config("e2e", &inline_signer("strict", E2E_IDENTITY), "notary-e2e");
    let (code, report) = case.check(&[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(codes(&report), vec!["unsigned-image"]);
}

#[test]
fn an_existing_trust_policy_file_and_trust_store_are_used_as_they_are() {
    let policies = fixture("config/trustpolicies");
    let signer = |file: &str| {
        format!(
            "  notary-e2e:\n    notation:\n      trust_policy: {}\n      trust_store: truststore\n",
            policies.join(file).display()
        )
    };
    let case = NotationCheck::new("localhost:5000/e2e:v1");
    case.trust("e2e", "e2e.crt");
    case.config(
        "e2e-valid-signature",
        &signer("trustpolicy.json"),
        "notary-e2e",
    );
    let (code, report) = case.check(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        only_signature(&report)["notation"]["verdicts"][0]["statement"],
        "e2e"
    );

    // A policy whose only statement covers `localhost:5000/test-repo`: none applies here.
    case.config(
        "e2e-valid-signature",
        &signer("registry_scope_trustpolicy.json"),
        "notary-e2e",
    );
    let (code, report) = case.check(&[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        reasons(only_signature(&report)),
        vec!["notary-e2e: no trust policy statement applies to `localhost:5000/e2e`"]
    );

    // Level `skip` in the policy file: nothing is verified, so the signature never counts.
    case.config(
        "e2e-valid-signature",
        &signer("skip_trustpolicy.json"),
        "notary-e2e",
    );
    let (code, report) = case.check(&[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        reasons(only_signature(&report)),
        vec!["notary-e2e: trust policy statement `e2e` has level `skip`: nothing was verified"]
    );
}

#[test]
fn one_rule_accepts_a_cosign_key_or_a_notation_ca() {
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/keys/demo-ci.pub");
    let signers = format!(
        "  demo-ci:\n    key: {}\n    insecure_ignore_tlog: true\n{}",
        key.display(),
        inline_signer("strict", E2E_IDENTITY)
    );
    let case = NotationCheck::new("localhost:5000/e2e:v1");
    case.trust("e2e", "e2e.crt");
    case.config("e2e-valid-signature", &signers, "demo-ci, notary-e2e");
    let (code, report) = case.check(&[]);
    assert_eq!(code, 0, "{report:#}");
    let fact = only_signature(&report);
    assert_eq!(fact["verified_by"], serde_json::json!(["notary-e2e"]));
    assert_eq!(
        reasons(fact),
        vec!["demo-ci: a Notary Project signature; this signer verifies cosign signatures only"]
    );
    // The same rule with the cosign key alone: the Notation signature is not looked up.
    case.config("e2e-valid-signature", &signers, "demo-ci");
    let (code, report) = case.check(&[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(codes(&report), vec!["unsigned-image"]);
}

#[test]
fn explain_lists_notation_signatures_with_their_checks() {
    let case = NotationCheck::new("localhost:5000/e2e:v1");
    case.trust("e2e", "e2e.crt");
    case.config(
        "e2e-valid-multiple-signatures",
        &inline_signer("strict", E2E_IDENTITY),
        "notary-e2e",
    );
    let (code, stdout, stderr) = case.run(&["explain", "localhost:5000/e2e:v1"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("(notation)"), "{stdout}");
    assert!(
        stdout.contains("certificate       CN=e2e,O=Notary,L=Seattle,ST=WA,C=US"),
        "{stdout}"
    );
    assert!(stdout.contains("verified by `notary-e2e`"), "{stdout}");
    // the second signature, by an expired one-day certificate outside the store
    assert!(
        stdout.contains(
            "not `notary-e2e`: authenticity: the certificate chain contains no trusted certificate"
        ),
        "{stdout}"
    );
}

/// The problems of loading `signers` (and `rest`) from a config in a directory whose
/// `truststore/` holds `e2e.crt` as `ca:e2e`: `(line, message)`.
pub(crate) fn config_problems(signers: &str, rest: &str) -> Vec<(usize, String)> {
    let case = NotationCheck::new("localhost:5000/e2e:v1");
    case.trust("e2e", "e2e.crt");
    let text = format!("signers:\n{signers}{rest}");
    let path = case.dir().join("supplygate.yaml");
    match supplygate::config::Config::parse(&text, &path) {
        Err(supplygate::config::ConfigError::Invalid { problems, .. }) => {
            problems.into_iter().map(|p| (p.line, p.message)).collect()
        }
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn notation_signer_config_errors_name_the_line() {
    let signer = |body: &str| format!("  n:\n    notation:\n{body}");
    assert_eq!(
        config_problems(
            &signer("      trust_store: truststore\n      identities: [\"*\"]\n      level: skip\n"),
            ""
        ),
        vec![(6, "notation signer `n`: level `skip` verifies nothing, so this signer could never satisfy `require:`; leave the images out of the rule instead".to_owned())]
    );
    assert_eq!(
        config_problems(
            &signer("      identities: [\"*\"]\n      level: strict\n"),
            ""
        ),
        vec![(4, "notation signer `n` needs a `trust_store`".to_owned())]
    );
    assert_eq!(
        config_problems(
            &signer("      trust_store: truststore\n      identities: [\"x509.subject: CN=e2e\"]\n      level: strict\n"),
            ""
        ),
        vec![(5, "notation signer `n`: statement `n`: trusted identity `x509.subject: CN=e2e` is invalid".to_owned())]
    );
    assert_eq!(
        config_problems(
            &signer("      trust_store: truststore\n      identities: [\"*\"]\n      level: strict\n      trust_stores: [\"ca:missing\"]\n"),
            ""
        ),
        vec![(7, "notation signer `n`: trust store `ca:missing` has no certificates".to_owned())]
    );
    let policy = fixture("config/trustpolicies/trustpolicy.json");
    assert_eq!(
        config_problems(
            &signer(&format!(
                "      trust_store: truststore\n      trust_policy: {}\n      level: strict\n",
                policy.display()
            )),
            ""
        ),
        vec![(
            6,
            "`level` comes from the `trust_policy` file of signer `n`".to_owned()
        )]
    );
    assert_eq!(
        config_problems(
            &signer("      trust_store: truststore\n      identities: [\"*\"]\n      level: strict\n"),
            "provenance:\n  - images: [\"**\"]\n    signers: [n]\n    builders: [\"https://example.com/b\"]\n"
        ),
        vec![(9, "signer `n` is a `notation:` signer: it verifies image signatures, not provenance attestations".to_owned())]
    );
    assert_eq!(
        config_problems(
            "  n:\n    key: keys/none.pub\n    notation:\n      trust_store: truststore\n      identities: [\"*\"]\n      level: strict\n",
            ""
        )[0],
        (3, "`key` does not go with `notation:` (signer `n`)".to_owned())
    );
}

#[test]
fn check_from_docker_registry_records_a_lock_that_replays_offline() {
    let mut registry = TestRegistry::start();
    for name in ["e2e-valid-signature", "e2e-expired-signature"] {
        registry.push_layout(&layout(name), "v1", &format!("{name}:v1"));
        push_signatures(&registry, &layout(name), name);
    }
    let case = NotationCheck::new(&registry.image(&format!("e2e-valid-signature:v1@{IMAGE}")));
    case.write(
        "expired.yaml",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: q}}\nspec:\n  containers:\n    - name: c\n      image: {}\n",
            registry.image("e2e-expired-signature:v1")
        ),
    );
    case.trust("e2e", "e2e.crt");
    case.write(
        "supplygate.yaml",
        &format!(
            "registries:\n  \"{host}\":\n    insecure: true\nnetwork:\n  request_timeout: 5s\n  retries: 1\nsigners:\n{}require:\n  - images: [\"{host}/**\"]\n    signers: [notary-e2e]\n",
            inline_signer("strict", E2E_IDENTITY),
            host = registry.host()
        ),
    );
    let (code, report) = case.check(&["--write-lock", "supplygate.lock"]);
    assert_eq!(code, 0, "{report:#}");
    let fact = only_signature(&report);
    assert_eq!(fact["verified_by"], serde_json::json!(["notary-e2e"]));
    assert_eq!(fact["location"]["via"], "referrers-tag", "{fact:#}");
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(case.dir().join("supplygate.lock")).unwrap())
            .unwrap();
    // The signature manifest and its envelope are in the lock, as the material verified.
    let objects = lock["objects"].as_object().unwrap();
    assert!(objects.contains_key(SIGNATURE), "{lock:#}");

    // The expired signature is denied from the registry for its reason.
    let (code, stdout, stderr) = case.run(&["check", "expired.yaml", "--format", "json"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let expired: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        reasons(only_signature(&expired["images"][0])),
        vec!["notary-e2e: expiry: the signature expired at 2023-06-27T05:21:21Z"]
    );

    // With the registry gone, the lock replays the same decision offline.
    registry.stop();
    let (code, replayed) = case.check(&["--locked", "supplygate.lock", "--offline"]);
    assert_eq!(code, 0, "{replayed:#}");
    assert_eq!(
        only_signature(&replayed)["verified_by"],
        serde_json::json!(["notary-e2e"])
    );
    // The trust changed since the lock (another level): the lock no longer replays.
    let config = std::fs::read_to_string(case.dir().join("supplygate.yaml")).unwrap();
    case.write(
        "supplygate.yaml",
        &config.replace("level: strict", "level: permissive"),
    );
    let (code, stale) = case.check(&["--locked", "supplygate.lock", "--offline"]);
    assert_eq!(code, 1, "{stale:#}");
    assert_eq!(codes(&stale), vec!["lock-stale"], "{stale:#}");
}

#[test]
fn a_file_in_the_trust_store_crl_folder_that_is_not_a_crl_is_a_config_error() {
    let case = NotationCheck::new("localhost:5000/e2e:v1");
    case.trust("e2e", "e2e.crt");
    case.write("truststore/crl/root.crl", "not a CRL");
    let text = format!("signers:\n{}", inline_signer("strict", "[\"*\"]"));
    let path = case.dir().join("supplygate.yaml");
    let problems = match supplygate::config::Config::parse(&text, &path) {
        Err(supplygate::config::ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    };
    let crl = case.dir().join("truststore/crl/root.crl");
    assert_eq!(
        problems
            .iter()
            .map(|p| (p.line, p.message.clone()))
            .collect::<Vec<_>>(),
        vec![(
            4,
            format!(
                "signer `notary-e2e`: `{}` is not a certificate revocation list (PEM `X509 CRL` or DER)",
                crl.display()
            )
        )]
    );
}
