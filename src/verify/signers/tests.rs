#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use super::*;

const COSIGN_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfA3b0ffjJL8Zpd49DdQg3fl9O7cf
WApIEJumKC6nt6WXnPTi7bbqRvckHfiPD6+0repNrMtrr5SksJD8fSLvlg==
-----END PUBLIC KEY-----
";

fn keys_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys")
}

#[test]
fn regex_is_anchored_at_both_ends() {
    let m = SubjectMatcher::regex("https://github.com/acme/app").unwrap();
    assert!(m.matches("https://github.com/acme/app"));
    assert!(!m.matches("https://github.com/acme/app-evil/x"));
    assert!(!m.matches("xhttps://github.com/acme/app"));
}

#[test]
fn wildcard_regex_stays_inside_the_repository_path() {
    let m = SubjectMatcher::regex("https://github.com/acme/app/.*").unwrap();
    assert!(m.matches("https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"));
    assert!(!m.matches("https://github.com/acme/app-evil/.github/workflows/x.yml"));
    assert!(!m.matches("https://evil.example/https://github.com/acme/app/x"));
}

#[test]
fn regex_alternation_is_anchored_as_a_whole() {
    // Without the group, `^a|b$` would match anything starting with `a`.
    let m = SubjectMatcher::regex("https://a.example/x|https://b.example/y").unwrap();
    assert!(m.matches("https://a.example/x"));
    assert!(m.matches("https://b.example/y"));
    assert!(!m.matches("https://a.example/x-evil"));
    assert!(!m.matches("evil-https://b.example/y"));
}

#[test]
fn flags_and_parentheses_in_the_pattern_cannot_unanchor_it() {
    // `(?m)` is scoped to the group: the outer anchors stay at the ends of the subject.
    let m = SubjectMatcher::regex("(?m)^https://github.com/acme/app/.*$").unwrap();
    assert!(m.matches("https://github.com/acme/app/x"));
    assert!(!m.matches("https://evil.example/x\nhttps://github.com/acme/app/y"));
    assert!(!m.matches("https://github.com/acme/app/y\nhttps://evil.example/x"));
    // A pattern that only balances inside the group would leave `.*` unanchored.
    for escape in [
        "https://github.com/acme/app/.*)|(.*",
        "x)|.*|(?:y",
        "https://github.com/acme/app)(.*",
    ] {
        let e = SubjectMatcher::regex(escape).unwrap_err();
        assert!(
            matches!(e, SignerError::InvalidRegex { ref pattern, .. } if pattern == escape),
            "{escape}: {e}"
        );
    }
}

#[test]
fn user_anchors_still_work() {
    let m = SubjectMatcher::regex("^https://github.com/acme/.*@refs/heads/main$").unwrap();
    assert!(m.matches("https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main"));
    assert!(!m.matches("https://github.com/acme/app/.github/workflows/r.yml@refs/heads/dev"));
}

#[test]
fn invalid_regex_is_reported_with_the_pattern() {
    let e = SubjectMatcher::regex("https://(unclosed").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid regex `https://(unclosed`"),
        "{e}"
    );
}

#[test]
fn signers_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Signer>();
}

#[test]
fn exact_subject_matches_only_itself() {
    let m = SubjectMatcher::Exact("a@example.com".into());
    assert!(m.matches("a@example.com"));
    assert!(!m.matches("a@example.com.evil"));
}

#[test]
fn accepts_a_p256_public_key() {
    let s = Signer::key("k", COSIGN_PUB, false).unwrap();
    assert_eq!(s.name(), "k");
    assert!(s.is_key());
    match s.kind {
        SignerKind::Key {
            algorithm,
            scheme,
            tlog,
            ..
        } => {
            assert_eq!(algorithm, KeyAlgorithm::EcdsaP256);
            assert_eq!(scheme, SigningScheme::EcdsaP256Sha256);
            assert_eq!(tlog, TlogPolicy::Require);
        }
        SignerKind::Keyless { .. } | SignerKind::Notation(_) => panic!("a key signer"),
    }
}

#[test]
fn p384_keys_verify_with_sha256_like_cosign() {
    let pem = std::fs::read_to_string(keys_dir().join("p384.pub")).unwrap();
    match Signer::key("k", &pem, true).unwrap().kind {
        SignerKind::Key { scheme, tlog, .. } => {
            assert_eq!(scheme, SigningScheme::EcdsaP384Sha256);
            assert_eq!(tlog, TlogPolicy::InsecureIgnore);
        }
        SignerKind::Keyless { .. } | SignerKind::Notation(_) => panic!("a key signer"),
    }
}

#[test]
fn accepts_ed25519_and_rsa_keys() {
    for (file, algorithm) in [
        ("ed25519.pub", KeyAlgorithm::Ed25519),
        ("rsa.pub", KeyAlgorithm::Rsa),
    ] {
        let pem = std::fs::read_to_string(keys_dir().join(file)).unwrap();
        match Signer::key("k", &pem, false).unwrap().kind {
            SignerKind::Key { algorithm: a, .. } => assert_eq!(a, algorithm, "{file}"),
            SignerKind::Keyless { .. } | SignerKind::Notation(_) => panic!("a key signer"),
        }
    }
}

#[test]
fn rejects_text_that_is_not_pem() {
    let e = Signer::key("k", "keys/cosign.pub", false).unwrap_err();
    assert!(e.to_string().starts_with("not a PEM public key"), "{e}");
}

#[test]
fn rejects_a_private_key_with_a_hint() {
    let pem = "-----BEGIN EC PRIVATE KEY-----\nYWJjZA==\n-----END EC PRIVATE KEY-----\n";
    let e = Signer::key("k", pem, false).unwrap_err().to_string();
    assert!(e.starts_with("not a PEM public key"), "{e}");
    assert!(e.contains("this is a private key"), "{e}");
}

#[test]
fn rejects_garbage_inside_a_public_key_block() {
    let pem = "-----BEGIN PUBLIC KEY-----\nYWJjZA==\n-----END PUBLIC KEY-----\n";
    let e = Signer::key("k", pem, false).unwrap_err().to_string();
    assert!(e.starts_with("unsupported key type"), "{e}");
}

#[test]
fn keyless_signer_uses_the_public_good_root_by_default() {
    let s = Signer::keyless(
        "ci",
        "https://token.actions.githubusercontent.com".into(),
        SubjectMatcher::regex("https://github.com/acme/.*").unwrap(),
        None,
    )
    .unwrap();
    assert!(!s.is_key());
    match &s.kind {
        SignerKind::Keyless { trusted_root, .. } => {
            assert!(!trusted_root.certificate_authorities.is_empty());
        }
        SignerKind::Key { .. } | SignerKind::Notation(_) => panic!("a keyless signer"),
    }
}

#[test]
fn keyless_signer_needs_an_issuer() {
    let e = Signer::keyless("ci", " ".into(), SubjectMatcher::Exact("x".into()), None).unwrap_err();
    assert!(matches!(e, SignerError::EmptyIssuer));
}

fn keyless(root: Option<Arc<TrustedRoot>>) -> Signer {
    Signer::keyless(
        "ci",
        "https://token.actions.githubusercontent.com".into(),
        SubjectMatcher::Exact("x".into()),
        root,
    )
    .unwrap()
}

fn fetched() -> SharedRoot {
    let root = parse_trusted_root(SIGSTORE_PRODUCTION_TRUSTED_ROOT).unwrap();
    SharedRoot::new(Arc::new(root)).unwrap()
}

#[test]
fn only_keyless_signers_on_the_embedded_root_want_a_tuf_root() {
    assert!(keyless(None).wants_tuf_root());
    assert_eq!(keyless(None).root_source(), RootSource::Embedded);
    let own = Arc::new(parse_trusted_root(SIGSTORE_PRODUCTION_TRUSTED_ROOT).unwrap());
    assert!(!keyless(Some(own)).wants_tuf_root());
    let key = Signer::key("k", COSIGN_PUB, false).unwrap();
    assert_eq!(key.root_source(), RootSource::Embedded);
    assert!(
        !key.wants_tuf_root(),
        "key signers never ask for the network"
    );
}

#[test]
fn a_tuf_root_replaces_only_the_embedded_one() {
    let fetched = fetched();
    let updated = keyless(None).with_tuf_root(&fetched).unwrap();
    assert_eq!(updated.root_source(), RootSource::Tuf);
    assert!(!updated.wants_tuf_root());
    match &updated.kind {
        SignerKind::Keyless { trusted_root, .. } => {
            assert!(Arc::ptr_eq(trusted_root, fetched.root()))
        }
        SignerKind::Key { .. } | SignerKind::Notation(_) => panic!("a keyless signer"),
    }
    // A key signer on the embedded root takes it too (its Rekor keys); a configured root
    // always wins.
    let key = Signer::key("k", COSIGN_PUB, false).unwrap();
    assert_eq!(
        key.with_tuf_root(&fetched).unwrap().root_source(),
        RootSource::Tuf
    );
    let own = Arc::new(parse_trusted_root(SIGSTORE_PRODUCTION_TRUSTED_ROOT).unwrap());
    assert!(keyless(Some(own)).with_tuf_root(&fetched).is_none());
}

#[test]
fn loads_a_trusted_root_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/external/sigstore/cosign/pkg/cosign/testdata/trusted_root_pgi.json");
    let root = load_trusted_root(&path).unwrap();
    assert!(!root.tlogs.is_empty());
}

#[test]
fn rejects_a_trusted_root_that_is_not_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root.json");
    std::fs::write(&path, "{\"hello\": 1}").unwrap();
    let e = load_trusted_root(&path).unwrap_err().to_string();
    assert!(e.starts_with("not a Sigstore trusted root"), "{e}");
    let e = load_trusted_root(&dir.path().join("missing.json"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("cannot read it"), "{e}");
}
