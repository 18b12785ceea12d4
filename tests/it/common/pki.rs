//! A test Sigstore: a Fulcio-like certificate authority (root and intermediate), a Rekor-like
//! log key and a CT log key, a writer for their `trusted_root.json`, and signatures made with
//! them as cosign makes them:
//! - cosign simple-signing `.sig` layers, keyless (a short-lived certificate with its embedded
//!   SCT, and a Rekor SET) or with a plain key, which [`push_signatures`] stores in the test
//!   registry as cosign's `sha256-<hex>.sig` manifest;
//! - cosign v3 Sigstore bundles (v0.3, DSSE, Rekor SET and inclusion proof), which
//!   [`push_bundle_referrer`] attaches as OCI referrers (tag schema).
//!
//! Every key is a fresh ECDSA P-256 key (rcgen on aws-lc-rs); nothing leaves the process. Each
//! option of [`Keyless`] gets one thing wrong, so that tests can show each is rejected for its
//! own reason. The unit tests at the bottom check all of it with sigstore-verify directly.
//!
//! `common::pki`, also reachable as `crate::pki` (the push helpers use
//! `crate::common::TestRegistry`).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    PublicKeyData as _, SanType, SigningKey as _,
};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use x509_cert::der::{Decode as _, Encode as _};

/// The OIDC issuer of GitHub Actions, the default in certificates.
pub const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The default certificate subject (URI SAN): a GitHub workflow at a ref.
pub const SUBJECT: &str =
    "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
/// The default `source_repository_uri` claim.
pub const SOURCE_REPOSITORY: &str = "https://github.com/acme/app";
/// The default `source_repository_ref` claim.
pub const SOURCE_REF: &str = "refs/heads/main";
/// The default `source_repository_digest` claim (a commit SHA).
pub const SOURCE_COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
/// The default `build_trigger` claim.
pub const TRIGGER: &str = "push";
/// Media type of a cosign simple-signing layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Media type of a Sigstore trusted root.
pub const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
/// cosign's signature annotation (base64).
pub const ANNOTATION_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// cosign's certificate annotation (PEM).
pub const ANNOTATION_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
/// cosign's chain annotation (PEM).
pub const ANNOTATION_CHAIN: &str = "dev.sigstore.cosign/chain";
/// cosign's Rekor bundle annotation (JSON).
pub const ANNOTATION_BUNDLE: &str = "dev.sigstore.cosign/bundle";

/// The in-toto predicate type of a cosign v3 image signature.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// Media type of a Sigstore bundle v0.3 (also the referrer's `artifactType`).
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The DSSE payload type of in-toto statements.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// Media type of the OCI empty descriptor (`{}`).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Start of every trust window in the roots written here (CA, Rekor and CT log keys).
const TRUST_START: &str = "2020-01-01T00:00:00Z";

const OID_FULCIO_ISSUER: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 1];
const OID_FULCIO_ISSUER_V2: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 8];
const OID_BUILD_SIGNER_URI: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 9];
const OID_SOURCE_REPOSITORY_URI: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 12];
const OID_SOURCE_REPOSITORY_DIGEST: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 13];
const OID_SOURCE_REPOSITORY_REF: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 14];
const OID_BUILD_CONFIG_URI: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 18];
const OID_BUILD_TRIGGER: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 20];
/// RFC 6962 embedded SCT list.
const OID_CT_PRECERT_SCTS: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];

/// A certificate authority: its certificate, its key, and the certificates above it.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// DER of the CAs above this one, nearest first.
    above: Vec<Vec<u8>>,
}

impl Ca {
    /// A self-signed root CA named `name` (valid 2020-2100), like Fulcio's root.
    pub fn root(name: &str) -> Self {
        let mut params = ca_params(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self {
            issuer,
            above: Vec::new(),
        }
    }

    /// An intermediate CA named `name` under this one, like Fulcio's `sigstore-intermediate`
    /// (path length 0, code-signing EKU).
    pub fn intermediate(&self, name: &str) -> Self {
        let mut params = ca_params(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.use_authority_key_identifier_extension = true;
        let issuer =
            CertifiedIssuer::signed_by(params, KeyPair::generate().unwrap(), &self.issuer).unwrap();
        let mut above = vec![self.der()];
        above.extend(self.above.iter().cloned());
        Self { issuer, above }
    }

    /// The CA's certificate, DER.
    pub fn der(&self) -> Vec<u8> {
        self.issuer.der().to_vec()
    }

    /// The CA's certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// This CA's certificate and those above it, nearest the leaf first (DER): the order of
    /// `certChain` in a trusted root and of cosign's chain annotation.
    pub fn chain(&self) -> Vec<Vec<u8>> {
        let mut chain = vec![self.der()];
        chain.extend(self.above.iter().cloned());
        chain
    }

    /// [`Self::chain`] as concatenated PEM blocks.
    pub fn chain_pem(&self) -> String {
        self.chain()
            .iter()
            .map(|der| pem("CERTIFICATE", der))
            .collect()
    }

    /// The CA key's SubjectPublicKeyInfo, DER (what an SCT's issuer key hash is made of).
    pub fn spki_der(&self) -> Vec<u8> {
        self.issuer.key().subject_public_key_info()
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "supplygate-test");
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2100, 1, 1);
    params
}

/// A log's signing key (Rekor or a CT log).
pub struct LogKey {
    key: KeyPair,
}

impl LogKey {
    /// A fresh P-256 log key.
    pub fn generate() -> Self {
        Self {
            key: KeyPair::generate().unwrap(),
        }
    }

    /// The public key, DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        self.key.subject_public_key_info()
    }

    /// The log ID: SHA-256 of the DER public key.
    pub fn key_id(&self) -> [u8; 32] {
        Sha256::digest(self.spki_der()).into()
    }

    /// The `tlogs[]`/`ctlogs[]` entry of a trusted root for this key.
    fn trusted_root_entry(&self, base_url: &str) -> serde_json::Value {
        json!({
            "baseUrl": base_url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": b64(&self.spki_der()),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": { "start": TRUST_START },
            },
            "logId": { "keyId": b64(&self.key_id()) },
        })
    }

    /// cosign's Rekor bundle annotation for an entry with `body` (the canonical Rekor entry
    /// JSON), whose SignedEntryTimestamp is this key's signature over the canonical JSON of
    /// `{body, integratedTime, logID, logIndex}`, exactly what sigstore-verify's `verify_set`
    /// rebuilds.
    pub fn rekor_bundle(&self, body: &[u8], integrated_time: i64, log_index: i64) -> String {
        let body = b64(body);
        let log_id = hex(&self.key_id());
        // RFC 8785: keys sorted, no whitespace; base64 and hex need no escaping.
        let canonical = format!(
            r#"{{"body":"{body}","integratedTime":{integrated_time},"logID":"{log_id}","logIndex":{log_index}}}"#
        );
        let set = b64(&self.key.sign(canonical.as_bytes()).unwrap());
        json!({
            "SignedEntryTimestamp": set,
            "Payload": {
                "body": body,
                "integratedTime": integrated_time,
                "logIndex": log_index,
                "logID": log_id,
            },
        })
        .to_string()
    }

    /// An inclusion proof of `body` as the only entry of a tree, with a checkpoint signed by
    /// this key (signed-note format; the key hint is the first 4 bytes of the log ID).
    pub fn single_leaf_proof(&self, body: &[u8]) -> serde_json::Value {
        let mut leaf = vec![0u8];
        leaf.extend_from_slice(body);
        let root = Sha256::digest(&leaf);
        let origin = "rekor.supplygate.invalid";
        let note = format!("{origin} - 1\n1\n{}\n", b64(&root));
        let mut signed = self.key_id()[..4].to_vec();
        signed.extend_from_slice(&self.key.sign(note.as_bytes()).unwrap());
        json!({
            "logIndex": "0",
            "rootHash": b64(&root),
            "treeSize": "1",
            "hashes": [],
            "checkpoint": { "envelope": format!("{note}\n\u{2014} {origin} {}\n", b64(&signed)) },
        })
    }

    /// The DER content of an RFC 6962 embedded-SCT extension (an OCTET STRING holding a
    /// one-SCT list) for a precertificate whose TBS (without the SCT extension) is `tbs`,
    /// issued by the CA whose SPKI is `issuer_spki`, logged at `timestamp_ms`.
    fn embedded_sct(&self, tbs: &[u8], issuer_spki: &[u8], timestamp_ms: u64) -> Vec<u8> {
        let mut signed = vec![0u8, 0u8]; // v1, certificate_timestamp
        signed.extend_from_slice(&timestamp_ms.to_be_bytes());
        signed.extend_from_slice(&1u16.to_be_bytes()); // precert_entry
        signed.extend_from_slice(&Sha256::digest(issuer_spki));
        let tbs_len = u32::try_from(tbs.len()).unwrap().to_be_bytes();
        signed.extend_from_slice(&tbs_len[1..]); // u24
        signed.extend_from_slice(tbs);
        signed.extend_from_slice(&0u16.to_be_bytes()); // no extensions
        let signature = self.key.sign(&signed).unwrap();

        let mut sct = vec![0u8]; // v1
        sct.extend_from_slice(&self.key_id());
        sct.extend_from_slice(&timestamp_ms.to_be_bytes());
        sct.extend_from_slice(&0u16.to_be_bytes()); // no extensions
        sct.extend_from_slice(&[4, 3]); // sha256, ecdsa
        sct.extend_from_slice(&u16::try_from(signature.len()).unwrap().to_be_bytes());
        sct.extend_from_slice(&signature);

        let mut list = u16::try_from(sct.len() + 2).unwrap().to_be_bytes().to_vec();
        list.extend_from_slice(&u16::try_from(sct.len()).unwrap().to_be_bytes());
        list.extend_from_slice(&sct);
        der_tlv(0x04, &list)
    }
}

/// A Fulcio + Rekor + CT log of our own.
pub struct TestSigstore {
    /// The root CA.
    pub root: Ca,
    /// The intermediate CA that issues leaves, when there is one.
    pub intermediate: Option<Ca>,
    /// The Rekor log key.
    pub rekor: LogKey,
    /// The CT log key (signs the SCTs embedded in leaves).
    pub ctlog: LogKey,
}

impl Default for TestSigstore {
    fn default() -> Self {
        Self::new()
    }
}

impl TestSigstore {
    /// A root, an intermediate issuing the leaves (as Fulcio does), a Rekor key and a CT log key.
    pub fn new() -> Self {
        let root = Ca::root("supplygate-test-root");
        let intermediate = Some(root.intermediate("supplygate-test-intermediate"));
        Self {
            root,
            intermediate,
            rekor: LogKey::generate(),
            ctlog: LogKey::generate(),
        }
    }

    /// Like [`Self::new`], but the root issues the leaves itself.
    pub fn without_intermediate() -> Self {
        Self {
            root: Ca::root("supplygate-test-root"),
            intermediate: None,
            rekor: LogKey::generate(),
            ctlog: LogKey::generate(),
        }
    }

    /// The CA that issues leaves.
    pub fn issuing_ca(&self) -> &Ca {
        self.intermediate.as_ref().unwrap_or(&self.root)
    }

    /// The trusted root (Sigstore's `trusted_root.json` format): the CA chain, the Rekor key,
    /// the CT log key, no timestamp authority; every trust window starts on 2020-01-01.
    pub fn trusted_root_json(&self) -> String {
        let certificates: Vec<_> = self
            .issuing_ca()
            .chain()
            .iter()
            .map(|der| json!({ "rawBytes": b64(der) }))
            .collect();
        let root = json!({
            "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
            "tlogs": [self.rekor.trusted_root_entry("https://rekor.supplygate.invalid")],
            "certificateAuthorities": [{
                "subject": { "organization": "supplygate-test", "commonName": "supplygate-test-root" },
                "uri": "https://fulcio.supplygate.invalid",
                "certChain": { "certificates": certificates },
                "validFor": { "start": TRUST_START },
            }],
            "ctlogs": [self.ctlog.trusted_root_entry("https://ctfe.supplygate.invalid")],
            "timestampAuthorities": [],
        });
        serde_json::to_string_pretty(&root).unwrap()
    }

    /// Like [`Self::trusted_root_json`] with `ctlogs: []`, as a private Sigstore without a CT
    /// log publishes it (then only a policy that skips SCTs can verify its certificates).
    pub fn trusted_root_json_without_ctlogs(&self) -> String {
        let mut root: serde_json::Value = serde_json::from_str(&self.trusted_root_json()).unwrap();
        root["ctlogs"] = json!([]);
        serde_json::to_string_pretty(&root).unwrap()
    }

    /// Writes [`Self::trusted_root_json`] to `path`.
    pub fn write_trusted_root(&self, path: &Path) {
        std::fs::write(path, self.trusted_root_json()).unwrap();
    }

    /// The trusted root, parsed by sigstore-verify.
    pub fn trusted_root(&self) -> sigstore_verify::trust_root::TrustedRoot {
        sigstore_verify::trust_root::TrustedRoot::from_json(&self.trusted_root_json()).unwrap()
    }

    /// A keyless signature of `digest` as cosign makes it for `docker_reference` (the
    /// repository, e.g. `127.0.0.1:5000/team/app`): configure it, then [`Keyless::sign`].
    pub fn keyless(&self, docker_reference: &str, digest: &str) -> Keyless<'_> {
        Keyless {
            sigstore: self,
            ca: None,
            docker_reference: docker_reference.to_owned(),
            digest: digest.to_owned(),
            predicate_type: COSIGN_SIGN_PREDICATE.to_owned(),
            payload: simple_signing_payload(docker_reference, digest),
            san: San::Uri(SUBJECT.to_owned()),
            issuer: Some(ISSUER.to_owned()),
            github: Some(GithubClaims::default()),
            cert_starts: -60,
            cert_lasts: 600,
            logged_at: Some(-30),
            sct: true,
            random_signature: false,
        }
    }
}

/// A certificate's subject alternative name.
#[derive(Debug, Clone)]
pub enum San {
    /// A URI (workload identities: GitHub workflows, SPIFFE, ...).
    Uri(String),
    /// An email address (people).
    Email(String),
}

/// The GitHub Actions claims of a Fulcio certificate.
#[derive(Debug, Clone)]
pub struct GithubClaims {
    /// `source_repository_uri` (1.3.6.1.4.1.57264.1.12).
    pub repository: String,
    /// `source_repository_ref` (.1.14).
    pub git_ref: String,
    /// `source_repository_digest` (.1.13).
    pub commit: String,
    /// `build_config_uri` (.1.18) and `build_signer_uri` (.1.9).
    pub workflow: String,
    /// `build_trigger` (.1.20).
    pub trigger: String,
}

impl Default for GithubClaims {
    fn default() -> Self {
        Self {
            repository: SOURCE_REPOSITORY.to_owned(),
            git_ref: SOURCE_REF.to_owned(),
            commit: SOURCE_COMMIT.to_owned(),
            workflow: SUBJECT.to_owned(),
            trigger: TRIGGER.to_owned(),
        }
    }
}

/// A keyless signature being made. By default it is genuine: a fresh P-256 key, a leaf from
/// the issuing CA valid from a minute ago for 10 minutes with an SCT, subject [`SUBJECT`],
/// issuer [`ISSUER`], the GitHub claims, and a Rekor entry integrated 30 seconds ago.
pub struct Keyless<'a> {
    sigstore: &'a TestSigstore,
    ca: Option<&'a Ca>,
    docker_reference: String,
    digest: String,
    predicate_type: String,
    payload: Vec<u8>,
    san: San,
    issuer: Option<String>,
    github: Option<GithubClaims>,
    cert_starts: i64,
    cert_lasts: u64,
    logged_at: Option<i64>,
    sct: bool,
    random_signature: bool,
}

impl<'a> Keyless<'a> {
    /// The certificate's URI SAN.
    pub fn subject(mut self, uri: &str) -> Self {
        self.san = San::Uri(uri.to_owned());
        self
    }

    /// An email SAN instead of a URI.
    pub fn email(mut self, address: &str) -> Self {
        self.san = San::Email(address.to_owned());
        self
    }

    /// The OIDC issuer (both Fulcio extensions, .1.1 raw and .1.8 DER).
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.issuer = Some(issuer.to_owned());
        self
    }

    /// No OIDC issuer extension at all.
    pub fn without_issuer(mut self) -> Self {
        self.issuer = None;
        self
    }

    /// These GitHub claims instead of the defaults.
    pub fn github(mut self, claims: GithubClaims) -> Self {
        self.github = Some(claims);
        self
    }

    /// No GitHub claims (a certificate for a person, say).
    pub fn without_github_claims(mut self) -> Self {
        self.github = None;
        self
    }

    /// Issued by `ca` instead of the sigstore's issuing CA (a CA outside the trusted root;
    /// the Rekor entry and the SCT still come from the genuine logs).
    pub fn issued_by(mut self, ca: &'a Ca) -> Self {
        self.ca = Some(ca);
        self
    }

    /// The certificate is valid from `starts` seconds from now (negative: in the past) for
    /// `lasts` seconds.
    pub fn cert_window(mut self, starts: i64, lasts: u64) -> Self {
        self.cert_starts = starts;
        self.cert_lasts = lasts;
        self
    }

    /// The Rekor entry was integrated `offset` seconds from now (keep it `<= 0`: sigstore
    /// rejects log times in the future).
    pub fn logged_at(mut self, offset: i64) -> Self {
        self.logged_at = Some(offset);
        self
    }

    /// No Rekor bundle annotation: no log proof, no verified signing time.
    pub fn not_logged(mut self) -> Self {
        self.logged_at = None;
        self
    }

    /// No embedded SCT in the certificate.
    pub fn without_sct(mut self) -> Self {
        self.sct = false;
        self
    }

    /// Sign this payload instead of the simple-signing JSON for the digest.
    pub fn payload(mut self, payload: Vec<u8>) -> Self {
        self.payload = payload;
        self
    }

    /// For [`Self::sign_bundle`]: this in-toto predicate type instead of cosign's signature
    /// predicate (an attestation, which is not a signature).
    pub fn predicate_type(mut self, predicate_type: &str) -> Self {
        self.predicate_type = predicate_type.to_owned();
        self
    }

    /// Replace the signature annotation with random bytes after signing; the certificate and
    /// the Rekor SET stay genuine (the entry logs the genuine signature).
    pub fn random_signature(mut self) -> Self {
        self.random_signature = true;
        self
    }

    /// The certificate (PEM) and its key, as configured.
    pub fn certificate(&self) -> (String, KeyPair) {
        let ca = self.ca.unwrap_or_else(|| self.sigstore.issuing_ca());
        let key = KeyPair::generate().unwrap();
        let not_before = now() + self.cert_starts;
        let not_after = not_before + i64::try_from(self.cert_lasts).unwrap();
        let mut params = CertificateParams::default();
        // Fulcio leaves: empty subject, so the SAN is critical.
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = vec![match &self.san {
            San::Uri(uri) => SanType::URI(uri.clone().try_into().unwrap()),
            San::Email(email) => SanType::Rfc822Name(email.clone().try_into().unwrap()),
        }];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, not_before, not_after);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&unique_serial()));
        if let Some(issuer) = &self.issuer {
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    OID_FULCIO_ISSUER,
                    issuer.as_bytes().to_vec(),
                ));
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    OID_FULCIO_ISSUER_V2,
                    der_utf8(issuer),
                ));
        }
        if let Some(claims) = &self.github {
            for (oid, value) in [
                (OID_BUILD_SIGNER_URI, &claims.workflow),
                (OID_SOURCE_REPOSITORY_URI, &claims.repository),
                (OID_SOURCE_REPOSITORY_DIGEST, &claims.commit),
                (OID_SOURCE_REPOSITORY_REF, &claims.git_ref),
                (OID_BUILD_CONFIG_URI, &claims.workflow),
                (OID_BUILD_TRIGGER, &claims.trigger),
            ] {
                params
                    .custom_extensions
                    .push(CustomExtension::from_oid_content(oid, der_utf8(value)));
            }
        }
        if self.sct {
            // The SCT signs the precertificate: this TBS without the SCT extension, which is
            // what the verifier rebuilds by removing the extension again.
            let precert = params.signed_by(&key, &ca.issuer).unwrap();
            let tbs = x509_cert::Certificate::from_der(precert.der())
                .unwrap()
                .tbs_certificate
                .to_der()
                .unwrap();
            let sct = self.sigstore.ctlog.embedded_sct(
                &tbs,
                &ca.spki_der(),
                u64::try_from(not_before).unwrap() * 1000,
            );
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(OID_CT_PRECERT_SCTS, sct));
        }
        let cert = params.signed_by(&key, &ca.issuer).unwrap();
        (cert.pem(), key)
    }

    /// Signs as cosign v3 does (`--new-bundle-format`): a Sigstore bundle v0.3 JSON holding a
    /// DSSE envelope of an in-toto statement (predicate [`COSIGN_SIGN_PREDICATE`], subject the
    /// image digest), the leaf certificate, and a Rekor `dsse` 0.0.1 entry with its SET and an
    /// inclusion proof in a one-entry tree with a signed checkpoint. Honours the certificate,
    /// log-time and random-signature options; a bundle always has a log entry.
    pub fn sign_bundle(self) -> Vec<u8> {
        let (certificate, key) = self.certificate();
        let cert_der = x509_cert::Certificate::from_der(&pem_body(&certificate))
            .unwrap()
            .to_der()
            .unwrap();
        let statement = serde_json::to_vec(&json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{
                "name": self.docker_reference,
                "digest": { "sha256": self.digest.trim_start_matches("sha256:") },
            }],
            "predicateType": self.predicate_type,
            "predicate": {},
        }))
        .unwrap();
        let signature = key.sign(&dsse_pae(IN_TOTO, &statement)).unwrap();
        let envelope = json!({
            "payload": b64(&statement),
            "payloadType": IN_TOTO,
            "signatures": [{ "sig": b64(&signature), "keyid": "" }],
        });
        let body = serde_json::to_vec(&json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {
                    "algorithm": "sha256",
                    "value": hex(&Sha256::digest(serde_json::to_vec(&envelope).unwrap())),
                },
                "payloadHash": { "algorithm": "sha256", "value": hex(&Sha256::digest(&statement)) },
                "signatures": [{
                    "signature": b64(&signature),
                    "verifier": b64(certificate.as_bytes()),
                }],
            },
        }))
        .unwrap();
        let rekor = &self.sigstore.rekor;
        let integrated_time = now() + self.logged_at.unwrap_or(-30);
        let log_index = next_log_index();
        let set: serde_json::Value =
            serde_json::from_str(&rekor.rekor_bundle(&body, integrated_time, log_index)).unwrap();
        let mut envelope = envelope;
        if self.random_signature {
            envelope["signatures"][0]["sig"] = json!(b64(&pseudo_random_bytes(71)));
        }
        let bundle = json!({
            "mediaType": BUNDLE_V03,
            "verificationMaterial": {
                "certificate": { "rawBytes": b64(&cert_der) },
                "tlogEntries": [{
                    "logIndex": log_index.to_string(),
                    "logId": { "keyId": b64(&rekor.key_id()) },
                    "kindVersion": { "kind": "dsse", "version": "0.0.1" },
                    "integratedTime": integrated_time.to_string(),
                    "inclusionPromise": { "signedEntryTimestamp": set["SignedEntryTimestamp"] },
                    "inclusionProof": rekor.single_leaf_proof(&body),
                    "canonicalizedBody": b64(&body),
                }],
            },
            "dsseEnvelope": envelope,
        });
        serde_json::to_vec(&bundle).unwrap()
    }

    /// Signs: the `.sig` layer cosign would push.
    pub fn sign(self) -> SigLayer {
        let ca = self.ca.unwrap_or_else(|| self.sigstore.issuing_ca());
        let (certificate, key) = self.certificate();
        let signature = b64(&key.sign(&self.payload).unwrap());
        let rekor_bundle = self.logged_at.map(|offset| {
            let body = hashedrekord(&self.payload, &signature, &certificate);
            self.sigstore
                .rekor
                .rekor_bundle(&body, now() + offset, next_log_index())
        });
        let signature = if self.random_signature {
            b64(&pseudo_random_bytes(71))
        } else {
            signature
        };
        SigLayer {
            payload: self.payload,
            signature,
            certificate: Some(certificate),
            chain: Some(ca.chain_pem()),
            rekor_bundle,
        }
    }
}

/// A plain signing key (cosign `generate-key-pair`).
pub struct TestKey {
    key: KeyPair,
}

impl Default for TestKey {
    fn default() -> Self {
        Self::generate()
    }
}

impl TestKey {
    /// A fresh ECDSA P-256 key.
    pub fn generate() -> Self {
        Self {
            key: KeyPair::generate().unwrap(),
        }
    }

    /// The public key, PEM `PUBLIC KEY` (SubjectPublicKeyInfo), as in `cosign.pub`.
    pub fn public_pem(&self) -> String {
        self.key.public_key_pem()
    }

    /// The public key, DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        self.key.subject_public_key_info()
    }

    /// A `.sig` layer for `digest` without a transparency log entry (cosign
    /// `--tlog-upload=false`).
    pub fn sign(&self, docker_reference: &str, digest: &str) -> SigLayer {
        self.sign_payload(simple_signing_payload(docker_reference, digest))
    }

    /// A `.sig` layer signing exactly `payload`, without a log entry.
    pub fn sign_payload(&self, payload: Vec<u8>) -> SigLayer {
        let signature = b64(&self.key.sign(&payload).unwrap());
        SigLayer {
            payload,
            signature,
            certificate: None,
            chain: None,
            rekor_bundle: None,
        }
    }

    /// A `.sig` layer for `digest` with a Rekor entry (hashedrekord with this public key) in
    /// `sigstore`'s log, integrated 30 seconds ago.
    pub fn sign_logged(
        &self,
        sigstore: &TestSigstore,
        docker_reference: &str,
        digest: &str,
    ) -> SigLayer {
        let mut layer = self.sign(docker_reference, digest);
        let body = hashedrekord(&layer.payload, &layer.signature, &self.public_pem());
        layer.rekor_bundle = Some(
            sigstore
                .rekor
                .rekor_bundle(&body, now() - 30, next_log_index()),
        );
        layer
    }
}

/// One cosign simple-signing layer: the payload blob and the annotations.
#[derive(Debug, Clone)]
pub struct SigLayer {
    /// The payload blob (the signed bytes).
    pub payload: Vec<u8>,
    /// `dev.cosignproject.cosign/signature`: base64 of the DER ECDSA signature.
    pub signature: String,
    /// `dev.sigstore.cosign/certificate`: the leaf, PEM (keyless only).
    pub certificate: Option<String>,
    /// `dev.sigstore.cosign/chain`: the CA chain, PEM (keyless only).
    pub chain: Option<String>,
    /// `dev.sigstore.cosign/bundle`: the Rekor bundle JSON (when logged).
    pub rekor_bundle: Option<String>,
}

impl SigLayer {
    /// The same layer with `critical.image.docker-manifest-digest` of the payload replaced by
    /// `digest` after signing (signature, certificate and log entry unchanged).
    pub fn with_payload_digest(mut self, digest: &str) -> Self {
        let mut payload: serde_json::Value = serde_json::from_slice(&self.payload).unwrap();
        payload["critical"]["image"]["docker-manifest-digest"] = json!(digest);
        self.payload = serde_json::to_vec(&payload).unwrap();
        self
    }

    /// The layer's annotations, as cosign writes them.
    pub fn annotations(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut annotations = serde_json::Map::new();
        annotations.insert(ANNOTATION_SIGNATURE.to_owned(), json!(self.signature));
        if let Some(certificate) = &self.certificate {
            annotations.insert(ANNOTATION_CERTIFICATE.to_owned(), json!(certificate));
        }
        if let Some(chain) = &self.chain {
            annotations.insert(ANNOTATION_CHAIN.to_owned(), json!(chain));
        }
        if let Some(bundle) = &self.rekor_bundle {
            annotations.insert(ANNOTATION_BUNDLE.to_owned(), json!(bundle));
        }
        annotations
    }
}

/// cosign's simple-signing payload for `digest` in `docker_reference` (keys in cosign's order).
pub fn simple_signing_payload(docker_reference: &str, digest: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "critical": {
            "identity": { "docker-reference": docker_reference },
            "image": { "docker-manifest-digest": digest },
            "type": "cosign container image signature",
        },
        "optional": null,
    }))
    .unwrap()
}

/// The body of a Rekor `hashedrekord` 0.0.1 entry for `payload`, its base64 signature and the
/// PEM of the certificate or public key.
pub fn hashedrekord(payload: &[u8], signature_b64: &str, verifier_pem: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha256", "value": hex(&Sha256::digest(payload)) } },
            "signature": {
                "content": signature_b64,
                "publicKey": { "content": b64(verifier_pem.as_bytes()) },
            },
        },
    }))
    .unwrap()
}

/// The cosign signature manifest for `layers`: an OCI manifest with a small config and one
/// simple-signing layer per signature (the payload blob, the annotations).
pub fn signature_manifest(layers: &[SigLayer]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let blobs: Vec<Vec<u8>> = layers.iter().map(|l| l.payload.clone()).collect();
    let diff_ids: Vec<String> = blobs.iter().map(|b| sha256_digest(b)).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{ "created": "0001-01-01T00:00:00Z" }],
        "os": "",
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "config": {},
    }))
    .unwrap();
    let descriptors: Vec<_> = layers
        .iter()
        .map(|layer| {
            json!({
                "mediaType": SIMPLE_SIGNING,
                "size": layer.payload.len(),
                "digest": sha256_digest(&layer.payload),
                "annotations": layer.annotations(),
            })
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": config.len(),
            "digest": sha256_digest(&config),
        },
        "layers": descriptors,
    }))
    .unwrap();
    let mut all_blobs = vec![config];
    all_blobs.extend(blobs);
    (manifest, all_blobs)
}

/// cosign's signature tag for an image digest: `sha256-<hex>.sig`.
pub fn sig_tag(image_digest: &str) -> String {
    format!("{}.sig", image_digest.replacen(':', "-", 1))
}

/// Pushes `layers` to `repo` (without the host) as the cosign signature manifest of
/// `image_digest`, tagged `sha256-<hex>.sig`, replacing any earlier one (cosign appends; push
/// every layer at once). Returns the signature manifest's digest.
pub fn push_signatures(
    registry: &crate::common::TestRegistry,
    repo: &str,
    image_digest: &str,
    layers: &[SigLayer],
) -> String {
    let (manifest, blobs) = signature_manifest(layers);
    for blob in &blobs {
        registry.upload_blob(repo, blob);
    }
    registry.put_manifest(
        repo,
        &sig_tag(image_digest),
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    );
    sha256_digest(&manifest)
}

/// DSSE pre-authentication encoding.
pub fn dsse_pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The DER inside the first PEM block of `pem`.
fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// Attaches a Sigstore bundle to `image_digest` in `repo` as cosign v3 does, in the OCI
/// referrers tag schema (distribution 2.8 has no referrers API): a referrer manifest
/// (`artifactType` [`BUNDLE_V03`], empty config, the bundle as its one layer, `subject` the
/// image) stored by digest, listed in the image index tagged `sha256-<hex>` (replacing any
/// earlier list). Returns the referrer manifests' digests, in order.
pub fn push_bundle_referrer(
    registry: &crate::common::TestRegistry,
    repo: &str,
    image_digest: &str,
    bundles: &[Vec<u8>],
) -> Vec<String> {
    let subject_size = registry
        .skopeo_raw_manifest(&format!("{repo}@{image_digest}"))
        .len();
    let empty = registry.upload_blob(repo, b"{}");
    let mut descriptors = Vec::new();
    let mut digests = Vec::new();
    for bundle in bundles {
        let layer = registry.upload_blob(repo, bundle);
        let annotations = json!({
            "dev.sigstore.bundle.content": "dsse-envelope",
            "dev.sigstore.bundle.predicateType": COSIGN_SIGN_PREDICATE,
        });
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": BUNDLE_V03,
            "config": { "mediaType": OCI_EMPTY, "digest": empty, "size": 2 },
            "layers": [{ "mediaType": BUNDLE_V03, "digest": layer, "size": bundle.len() }],
            "subject": {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": image_digest,
                "size": subject_size,
            },
            "annotations": annotations,
        }))
        .unwrap();
        let digest = sha256_digest(&manifest);
        registry.put_manifest(
            repo,
            &digest,
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        );
        descriptors.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": manifest.len(),
            "artifactType": BUNDLE_V03,
            "annotations": annotations,
        }));
        digests.push(digest);
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": descriptors,
    }))
    .unwrap();
    registry.put_manifest(
        repo,
        &image_digest.replacen(':', "-", 1),
        "application/vnd.oci.image.index.v1+json",
        &index,
    );
    digests
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(elapsed.as_secs()).unwrap()
}

fn set_validity(params: &mut CertificateParams, not_before: i64, not_after: i64) {
    let at =
        |unix: i64| date_time_ymd(1970, 1, 1) + Duration::from_secs(u64::try_from(unix).unwrap());
    params.not_before = at(not_before);
    params.not_after = at(not_after);
}

fn next_log_index() -> i64 {
    static NEXT: AtomicI64 = AtomicI64::new(1000);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn unique_serial() -> Vec<u8> {
    let mut serial = pseudo_random_bytes(16);
    serial[0] &= 0x7f; // positive
    serial[0] |= 0x01; // and no leading zero byte to strip
    serial
}

/// Unpredictable enough for tests: SHA-256 chained over the time and a counter.
fn pseudo_random_bytes(len: usize) -> Vec<u8> {
    static COUNTER: AtomicI64 = AtomicI64::new(0);
    let seed = format!(
        "{:?}-{}-{}",
        SystemTime::now(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut out = Vec::with_capacity(len + 32);
    let mut block: [u8; 32] = Sha256::digest(seed.as_bytes()).into();
    while out.len() < len {
        out.extend_from_slice(&block);
        block = Sha256::digest(block).into();
    }
    out.truncate(len);
    out
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Standard base64 with padding.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = b64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}

fn der_utf8(text: &str) -> Vec<u8> {
    der_tlv(0x0c, text.as_bytes())
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap());
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | u8::try_from(bytes.len() - skip).unwrap());
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A CA and a serving certificate for 127.0.0.1 under it, for `supplygate serve`.
pub struct ServingCert {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl ServingCert {
    pub fn new(ca_name: &str) -> Self {
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, ca_name);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "supplygate.supplygate.svc");
        params.subject_alt_names = vec![
            SanType::IpAddress("127.0.0.1".parse().unwrap()),
            SanType::DnsName("supplygate.supplygate.svc".try_into().unwrap()),
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        Self {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes `tls.key` and `tls.crt` into `dir`.
    pub fn write(&self, dir: &Path) {
        // Key first, then the certificate: a reload sees a complete pair once both changed.
        std::fs::write(dir.join("tls.key"), &self.key_pem).unwrap();
        std::fs::write(dir.join("tls.crt"), &self.cert_pem).unwrap();
    }
}

#[cfg(test)]
mod tests {
    //! The PKI checked on its own: sigstore-verify accepts what it makes and rejects each
    //! broken variant for the reason that variant is about.

    use sigstore_verify::crypto::{sha256, verify_signature, SigningScheme};
    use sigstore_verify::types::bundle::{
        CertificateContent, InclusionPromise, LogId, MessageDigest, MessageSignature,
        SignatureContent, TransparencyLogEntry, VerificationMaterial, VerificationMaterialContent,
    };
    use sigstore_verify::types::{
        Artifact, Bundle, CanonicalizedBody, DerCertificate, DerPublicKey, DigestBytes,
        HashAlgorithm, KindVersion, LogIndex, LogKeyId, MediaType, SignatureBytes, SignedTimestamp,
    };
    use sigstore_verify::{
        PublicKeyVerificationPolicy, VerificationPolicy, VerificationResult, Verifier,
    };

    use super::*;

    const REFERENCE: &str = "127.0.0.1:5000/team/app";
    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The legacy cosign layer as a v0.1 bundle (the conversion the memo describes).
    fn bundle(layer: &SigLayer) -> Bundle {
        let mut material = match &layer.certificate {
            Some(pem) => VerificationMaterial::new(VerificationMaterialContent::Certificate(
                CertificateContent::new(DerCertificate::from_pem(pem).unwrap()),
            )),
            None => panic!("keyless layers only"),
        };
        if let Some(rekor) = &layer.rekor_bundle {
            let rekor: serde_json::Value = serde_json::from_str(rekor).unwrap();
            let payload = &rekor["Payload"];
            let entry = TransparencyLogEntry::new(
                LogIndex::try_from(payload["logIndex"].as_i64().unwrap()).unwrap(),
                LogId::new(LogKeyId::new(unhex(payload["logID"].as_str().unwrap()))),
                KindVersion::HashedRekordV001,
                CanonicalizedBody::from_base64(payload["body"].as_str().unwrap()).unwrap(),
            )
            .with_integrated_time(
                jiff::Timestamp::from_second(payload["integratedTime"].as_i64().unwrap()).unwrap(),
            )
            .with_inclusion_promise(InclusionPromise::new(
                SignedTimestamp::from_base64(rekor["SignedEntryTimestamp"].as_str().unwrap())
                    .unwrap(),
            ));
            material = material.with_tlog_entries(vec![entry]);
        }
        let content = SignatureContent::MessageSignature(
            MessageSignature::new(SignatureBytes::from_base64(&layer.signature).unwrap())
                .with_message_digest(MessageDigest::new(
                    HashAlgorithm::Sha2256,
                    DigestBytes::new(sha256(&layer.payload).as_slice().to_vec()),
                )),
        );
        Bundle::new(MediaType::Bundle0_1, material, content)
    }

    fn verify_keyless(
        sigstore: &TestSigstore,
        layer: &SigLayer,
        policy: &VerificationPolicy,
    ) -> Result<VerificationResult, String> {
        let verifier = Verifier::new(&sigstore.trusted_root()).unwrap();
        verifier
            .verify(Artifact::from_blob(&layer.payload), &bundle(layer), policy)
            .map_err(|e| e.to_string())
    }

    fn expect_rejected(result: Result<VerificationResult, String>, reason: &str) {
        match result {
            Ok(_) => panic!("verified, expected a rejection containing `{reason}`"),
            Err(e) => assert!(
                e.to_lowercase().contains(&reason.to_lowercase()),
                "rejected for `{e}`, expected `{reason}`"
            ),
        }
    }

    fn policy() -> VerificationPolicy {
        VerificationPolicy::new(
            sigstore_verify::IdentityMatcher::Uri(SUBJECT.to_owned()),
            ISSUER,
        )
    }

    #[test]
    fn trusted_root_has_the_sigstore_shape() {
        let sigstore = TestSigstore::new();
        let root: serde_json::Value = serde_json::from_str(&sigstore.trusted_root_json()).unwrap();
        assert_eq!(root["mediaType"], TRUSTED_ROOT_MEDIA_TYPE);
        let chain = root["certificateAuthorities"][0]["certChain"]["certificates"]
            .as_array()
            .unwrap();
        assert_eq!(chain.len(), 2, "intermediate then root");
        assert_eq!(
            chain[1]["rawBytes"],
            json!(b64(&sigstore.root.der())),
            "the root comes last"
        );
        let log_id = root["tlogs"][0]["logId"]["keyId"].as_str().unwrap();
        assert_eq!(
            log_id,
            b64(&Sha256::digest(sigstore.rekor.spki_der())),
            "log ID is sha256 of the DER public key"
        );
        assert_eq!(root["ctlogs"].as_array().unwrap().len(), 1);
        assert_eq!(root["timestampAuthorities"], json!([]));
        assert!(Verifier::new(&sigstore.trusted_root()).is_ok());
    }

    #[test]
    fn genuine_keyless_signature_verifies_with_identity_and_claims() {
        let sigstore = TestSigstore::new();
        let layer = sigstore.keyless(REFERENCE, DIGEST).sign();
        let result = verify_keyless(&sigstore, &layer, &policy()).unwrap();
        assert!(result.certificate_verified());
        assert!(result.sct_verified());
        assert!(result.tlog_verified());
        assert_eq!(result.identity().map(|i| i.as_str()), Some(SUBJECT));
        assert_eq!(result.issuer(), Some(ISSUER));
        let claims = &result.certificate().unwrap().ci_claims;
        assert_eq!(
            claims.source_repository_uri.as_deref(),
            Some(SOURCE_REPOSITORY)
        );
        assert_eq!(claims.source_repository_ref.as_deref(), Some(SOURCE_REF));
        assert_eq!(
            claims.source_repository_digest.as_deref(),
            Some(SOURCE_COMMIT)
        );
        assert_eq!(claims.build_config_uri.as_deref(), Some(SUBJECT));
        assert_eq!(claims.build_trigger.as_deref(), Some(TRIGGER));
        let payload: serde_json::Value = serde_json::from_slice(&layer.payload).unwrap();
        assert_eq!(
            payload["critical"]["image"]["docker-manifest-digest"],
            DIGEST
        );
    }

    #[test]
    fn leaf_issued_by_the_root_itself_verifies() {
        let sigstore = TestSigstore::without_intermediate();
        let layer = sigstore.keyless(REFERENCE, DIGEST).sign();
        assert!(verify_keyless(&sigstore, &layer, &policy()).is_ok());
    }

    #[test]
    fn email_identity_without_claims_verifies() {
        let sigstore = TestSigstore::new();
        let layer = sigstore
            .keyless(REFERENCE, DIGEST)
            .email("dev@acme.test")
            .issuer("https://accounts.acme.test")
            .without_github_claims()
            .sign();
        let policy = VerificationPolicy::new(
            sigstore_verify::IdentityMatcher::Email("dev@acme.test".into()),
            "https://accounts.acme.test",
        );
        let result = verify_keyless(&sigstore, &layer, &policy).unwrap();
        assert!(result
            .certificate()
            .unwrap()
            .ci_claims
            .source_repository_uri
            .is_none());
    }

    #[test]
    fn wrong_identity_is_rejected() {
        let sigstore = TestSigstore::new();
        let layer = sigstore
            .keyless(REFERENCE, DIGEST)
            .subject("https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main")
            .sign();
        expect_rejected(verify_keyless(&sigstore, &layer, &policy()), "identity");
    }

    #[test]
    fn wrong_issuer_is_rejected() {
        let sigstore = TestSigstore::new();
        let layer = sigstore
            .keyless(REFERENCE, DIGEST)
            .issuer("https://issuer.evil.test")
            .sign();
        expect_rejected(verify_keyless(&sigstore, &layer, &policy()), "issuer");
    }

    #[test]
    fn leaf_from_a_ca_outside_the_root_is_rejected() {
        let sigstore = TestSigstore::new();
        let rogue = Ca::root("supplygate-test-root");
        let layer = sigstore.keyless(REFERENCE, DIGEST).issued_by(&rogue).sign();
        expect_rejected(
            verify_keyless(&sigstore, &layer, &policy()),
            "certificate chain validation failed",
        );
    }

    #[test]
    fn signature_without_log_entry_has_no_verified_time() {
        let sigstore = TestSigstore::new();
        let layer = sigstore.keyless(REFERENCE, DIGEST).not_logged().sign();
        expect_rejected(
            verify_keyless(&sigstore, &layer, &policy()),
            "inclusion promise",
        );
    }

    #[test]
    fn expired_certificate_without_log_entry_is_rejected() {
        let sigstore = TestSigstore::new();
        let layer = sigstore
            .keyless(REFERENCE, DIGEST)
            .cert_window(-7200, 600)
            .not_logged()
            .sign();
        expect_rejected(
            verify_keyless(&sigstore, &layer, &policy()),
            "inclusion promise",
        );
    }

    #[test]
    fn log_time_after_the_certificate_expired_is_rejected() {
        let sigstore = TestSigstore::new();
        let layer = sigstore
            .keyless(REFERENCE, DIGEST)
            .cert_window(-7200, 600)
            .logged_at(-60)
            .sign();
        expect_rejected(verify_keyless(&sigstore, &layer, &policy()), "expired");
    }

    #[test]
    fn random_signature_bytes_with_genuine_cert_and_set_are_rejected() {
        let sigstore = TestSigstore::new();
        let layer = sigstore
            .keyless(REFERENCE, DIGEST)
            .random_signature()
            .sign();
        expect_rejected(verify_keyless(&sigstore, &layer, &policy()), "signature");
    }

    #[test]
    fn payload_edited_after_signing_is_rejected() {
        let sigstore = TestSigstore::new();
        let other = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
        let layer = sigstore
            .keyless(REFERENCE, DIGEST)
            .sign()
            .with_payload_digest(other);
        assert!(verify_keyless(&sigstore, &layer, &policy()).is_err());
    }

    #[test]
    fn set_from_another_log_is_rejected() {
        let sigstore = TestSigstore::new();
        let other = TestSigstore::new();
        let mut layer = sigstore.keyless(REFERENCE, DIGEST).sign();
        let genuine: serde_json::Value =
            serde_json::from_str(layer.rekor_bundle.as_ref().unwrap()).unwrap();
        let body = base64::engine::general_purpose::STANDARD
            .decode(genuine["Payload"]["body"].as_str().unwrap())
            .unwrap();
        layer.rekor_bundle = Some(other.rekor.rekor_bundle(&body, now() - 30, 1));
        assert!(verify_keyless(&sigstore, &layer, &policy()).is_err());
    }

    #[test]
    fn certificate_without_sct_needs_a_policy_that_skips_scts() {
        let sigstore = TestSigstore::new();
        let layer = sigstore.keyless(REFERENCE, DIGEST).without_sct().sign();
        expect_rejected(verify_keyless(&sigstore, &layer, &policy()), "sct");
        assert!(verify_keyless(&sigstore, &layer, &policy().skip_sct()).is_ok());
    }

    #[test]
    fn root_without_ctlogs_verifies_only_when_scts_are_skipped() {
        let sigstore = TestSigstore::new();
        let root = sigstore_verify::trust_root::TrustedRoot::from_json(
            &sigstore.trusted_root_json_without_ctlogs(),
        )
        .unwrap();
        let verifier = Verifier::new(&root).unwrap();
        let layer = sigstore.keyless(REFERENCE, DIGEST).sign();
        let artifact = || Artifact::from_blob(&layer.payload);
        let strict = verifier.verify(artifact(), &bundle(&layer), &policy());
        assert!(
            strict
                .as_ref()
                .is_err_and(|e| e.to_string().contains("no CT log keys")),
            "{strict:?}"
        );
        assert!(verifier
            .verify(artifact(), &bundle(&layer), &policy().skip_sct())
            .is_ok());
    }

    #[test]
    fn key_signature_verifies_with_its_public_key_only() {
        let key = TestKey::generate();
        let layer = key.sign(REFERENCE, DIGEST);
        assert!(layer.certificate.is_none() && layer.rekor_bundle.is_none());
        let public = DerPublicKey::from_pem(&key.public_pem()).unwrap();
        let signature = SignatureBytes::from_base64(&layer.signature).unwrap();
        assert!(verify_signature(
            &public,
            &layer.payload,
            &signature,
            SigningScheme::EcdsaP256Sha256
        )
        .is_ok());
        let other = DerPublicKey::from_pem(&TestKey::generate().public_pem()).unwrap();
        assert!(verify_signature(
            &other,
            &layer.payload,
            &signature,
            SigningScheme::EcdsaP256Sha256
        )
        .is_err());
    }

    #[test]
    fn logged_key_signature_verifies_with_its_set() {
        let sigstore = TestSigstore::new();
        let key = TestKey::generate();
        let layer = key.sign_logged(&sigstore, REFERENCE, DIGEST);
        let rekor: serde_json::Value =
            serde_json::from_str(layer.rekor_bundle.as_ref().unwrap()).unwrap();
        let payload = &rekor["Payload"];
        let entry = TransparencyLogEntry::new(
            LogIndex::try_from(payload["logIndex"].as_i64().unwrap()).unwrap(),
            LogId::new(LogKeyId::new(unhex(payload["logID"].as_str().unwrap()))),
            KindVersion::HashedRekordV001,
            CanonicalizedBody::from_base64(payload["body"].as_str().unwrap()).unwrap(),
        )
        .with_integrated_time(
            jiff::Timestamp::from_second(payload["integratedTime"].as_i64().unwrap()).unwrap(),
        )
        .with_inclusion_promise(InclusionPromise::new(
            SignedTimestamp::from_base64(rekor["SignedEntryTimestamp"].as_str().unwrap()).unwrap(),
        ));
        let public = DerPublicKey::from_pem(&key.public_pem()).unwrap();
        let material = VerificationMaterial::new(VerificationMaterialContent::PublicKey(
            sigstore_verify::types::bundle::PublicKeyIdentifier::new(String::new()),
        ))
        .with_tlog_entries(vec![entry]);
        let content = SignatureContent::MessageSignature(
            MessageSignature::new(SignatureBytes::from_base64(&layer.signature).unwrap())
                .with_message_digest(MessageDigest::new(
                    HashAlgorithm::Sha2256,
                    DigestBytes::new(sha256(&layer.payload).as_slice().to_vec()),
                )),
        );
        let bundle = Bundle::new(MediaType::Bundle0_1, material, content);
        let verifier = Verifier::new(&sigstore.trusted_root()).unwrap();
        let result = verifier
            .verify(
                Artifact::from_blob(&layer.payload),
                &bundle,
                &PublicKeyVerificationPolicy::new(public),
            )
            .unwrap();
        assert!(result.tlog_verified());
    }

    #[test]
    fn cosign_v3_bundle_verifies_over_the_image_digest() {
        let sigstore = TestSigstore::new();
        let bundle = sigstore.keyless(REFERENCE, DIGEST).sign_bundle();
        let bundle = Bundle::from_json(std::str::from_utf8(&bundle).unwrap()).unwrap();
        let verifier = Verifier::new(&sigstore.trusted_root()).unwrap();
        let digest = sigstore_verify::types::Sha256Hash::from_hex(&DIGEST[7..]).unwrap();
        let result = verifier
            .verify(
                Artifact::Digest(sigstore_verify::types::ArtifactDigest::sha256(digest)),
                &bundle,
                &policy(),
            )
            .unwrap();
        assert!(result.tlog_verified() && result.sct_verified());

        let other = sigstore_verify::types::Sha256Hash::from_hex(&"22".repeat(32)).unwrap();
        assert!(verifier
            .verify(
                Artifact::Digest(sigstore_verify::types::ArtifactDigest::sha256(other)),
                &bundle,
                &policy(),
            )
            .is_err());
    }

    #[test]
    fn cosign_v3_bundle_with_random_signature_is_rejected() {
        let sigstore = TestSigstore::new();
        let bundle = sigstore
            .keyless(REFERENCE, DIGEST)
            .random_signature()
            .sign_bundle();
        let bundle = Bundle::from_json(std::str::from_utf8(&bundle).unwrap()).unwrap();
        let verifier = Verifier::new(&sigstore.trusted_root()).unwrap();
        let digest = sigstore_verify::types::Sha256Hash::from_hex(&DIGEST[7..]).unwrap();
        assert!(verifier
            .verify(
                Artifact::Digest(sigstore_verify::types::ArtifactDigest::sha256(digest)),
                &bundle,
                &policy(),
            )
            .is_err());
    }

    #[test]
    fn signature_manifest_is_cosign_shaped() {
        let key = TestKey::generate();
        let layers = [key.sign(REFERENCE, DIGEST), key.sign(REFERENCE, DIGEST)];
        let (manifest, blobs) = signature_manifest(&layers);
        let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);
        assert_eq!(manifest["layers"][0]["mediaType"], SIMPLE_SIGNING);
        assert_eq!(
            manifest["layers"][1]["annotations"][ANNOTATION_SIGNATURE],
            json!(layers[1].signature)
        );
        assert_eq!(
            manifest["config"]["digest"],
            json!(sha256_digest(&blobs[0]))
        );
        assert_eq!(
            sig_tag(DIGEST),
            "sha256-1111111111111111111111111111111111111111111111111111111111111111.sig"
        );
    }
}
