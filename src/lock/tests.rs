#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::sync::Arc;

use super::fingerprint::trust_digest;
use super::*;
use crate::registry::{Descriptor, ReferrerSource, Registry};
use crate::verify::Signer;

fn sample() -> Lock {
    let mut recording = Store::default();
    let image = ImageRef::parse("registry.example/team/app:v1").unwrap();
    let body = br#"{"schemaVersion":2}"#;
    let digest = Digest::sha256_of(body);
    recording.insert_tag(&image, "v1", &digest);
    recording.insert_object(
        &digest,
        Some("application/vnd.oci.image.manifest.v1+json"),
        body,
    );
    recording.insert_referrers(
        &image,
        &digest,
        &[Referrer {
            descriptor: Descriptor {
                media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
                digest: Digest::sha256_of(b"sig"),
                size: 3,
                artifact_type: Some("application/vnd.dev.sigstore.bundle.v0.3+json".into()),
                annotations: BTreeMap::new(),
            },
            source: ReferrerSource::Tag {
                tag: "sha256-abc".to_owned(),
            },
        }],
    );
    Lock::new(
        recording,
        &Report::default(),
        Fingerprint {
            trust: Digest::sha256_of(b"trust"),
            policy: Digest::sha256_of(b"policy"),
        },
        "2026-11-24T12:00:00Z".parse().unwrap(),
    )
}

#[test]
fn round_trips_through_json_byte_for_byte() {
    let lock = sample();
    let text = lock.to_json();
    let again = Lock::parse(text.as_bytes(), Path::new("supplygate.lock")).unwrap();
    assert_eq!(again.to_json(), text);
    let image = ImageRef::parse("registry.example/team/app:v1").unwrap();
    let digest = again.tag(&image, "v1").unwrap().clone();
    assert_eq!(
        again.object(&digest).unwrap().data,
        br#"{"schemaVersion":2}"#
    );
    assert_eq!(again.referrers(&image, &digest).unwrap().len(), 1);
    assert!(matches!(
        &again.referrers(&image, &digest).unwrap()[0].source,
        ReferrerSource::Tag { tag } if tag == "sha256-abc"
    ));
}

#[test]
fn refuses_another_version_unknown_fields_and_bad_base64() {
    let text = sample().to_json();
    let path = Path::new("x.lock");
    let v2 = text.replacen("\"version\": 1", "\"version\": 2", 1);
    assert!(matches!(
        Lock::parse(v2.as_bytes(), path),
        Err(LockError::Version { found: 2, .. })
    ));
    let unknown = text.replacen("\"version\": 1", "\"version\": 1, \"extra\": 0", 1);
    assert!(matches!(
        Lock::parse(unknown.as_bytes(), path),
        Err(LockError::Json { .. })
    ));
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let data = value["objects"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()["data"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = text.replacen(&data, "!!!", 1);
    let err = Lock::parse(bad.as_bytes(), path).unwrap_err();
    assert!(err.to_string().contains("not base64"), "{err}");
}

#[test]
fn policy_digest_ignores_file_names_order_and_config_lines_but_not_sources() {
    use crate::policy::{Limits, Loader};
    let load = |modules: &[(&str, &str)], line: u64, images: &str| {
        let mut loader = Loader::new(Limits::default());
        for (name, source) in modules {
            loader.module(*name, *source);
        }
        loader.data_value(
            "supplygate.yaml",
            serde_json::json!({"supplygate": {"config": {
                "require": [{"images": [images], "line": line}]
            }}}),
        );
        loader.load().unwrap().digest().clone()
    };
    let a = "package supplygate.a\n\nx := 1\n";
    let b = "package supplygate.b\n\ny := 2\n";
    let base = load(&[("a.rego", a), ("b.rego", b)], 3, "team/**");
    assert_eq!(load(&[("b.rego", b), ("x/a.rego", a)], 9, "team/**"), base);
    let edited = "package supplygate.a\n\nx := 2\n";
    assert_ne!(
        load(&[("a.rego", edited), ("b.rego", b)], 3, "team/**"),
        base
    );
    assert_ne!(load(&[("a.rego", a), ("b.rego", b)], 3, "other/**"), base);
}

#[test]
fn trust_digest_changes_with_signers_and_not_with_their_order() {
    let key = |pem: &str, name: &str| Arc::new(Signer::key(name, pem, true).unwrap());
    let one = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8Hw8mQvV9uRB5CCpHfqCe3FqOoVl\nbbV8WXhzSggBvVS0LK9XybiJvXu5P5Uqpo1rbOzAPrJmP8Gh5P2WDNFpFg==\n-----END PUBLIC KEY-----\n";
    let a = key(one, "a");
    let b = key(one, "b");
    let base = trust_digest([&a, &b].into_iter()).unwrap();
    assert_eq!(trust_digest([&b, &a].into_iter()).unwrap(), base);
    assert_ne!(trust_digest([&a].into_iter()).unwrap(), base);
    let c = Arc::new(Signer::key("b", one, false).unwrap());
    assert_ne!(trust_digest([&a, &c].into_iter()).unwrap(), base);
}

#[test]
fn trust_digest_changes_with_keyless_constraints() {
    let keyless = |constraints: crate::verify::CertificateConstraints| {
        Arc::new(
            Signer::keyless(
                "ci",
                "https://token.actions.githubusercontent.com".into(),
                crate::verify::SubjectMatcher::Exact(
                    "https://github.com/a/b/.github/workflows/r.yml@refs/heads/main".into(),
                ),
                None,
            )
            .unwrap()
            .with_constraints(constraints),
        )
    };
    let plain = trust_digest([&keyless(Default::default())].into_iter()).unwrap();
    let hosted = keyless(crate::verify::CertificateConstraints {
        deny_self_hosted_runners: true,
        ..Default::default()
    });
    assert_ne!(trust_digest([&hosted].into_iter()).unwrap(), plain);
    // The time rules too; their defaults leave the digest as it was before they existed.
    let signer = || {
        Signer::keyless(
            "ci",
            "https://token.actions.githubusercontent.com".into(),
            crate::verify::SubjectMatcher::Exact(
                "https://github.com/a/b/.github/workflows/r.yml@refs/heads/main".into(),
            ),
            None,
        )
        .unwrap()
    };
    let default_threshold = Arc::new(signer().with_timestamp_threshold(1).unwrap());
    assert_eq!(
        trust_digest([&default_threshold].into_iter()).unwrap(),
        plain
    );
    let two = Arc::new(signer().with_timestamp_threshold(2).unwrap());
    let two = trust_digest([&two].into_iter()).unwrap();
    assert_ne!(two, plain);
    let timestamp_only = Arc::new(signer().allow_timestamp_only());
    let timestamp_only = trust_digest([&timestamp_only].into_iter()).unwrap();
    assert_ne!(timestamp_only, plain);
    assert_ne!(timestamp_only, two);
}

#[test]
fn refuses_duplicate_keys_and_any_other_form_naming_the_line() {
    let text = sample().to_json();
    let path = Path::new("x.lock");
    let (key, _) = sample().store.tags.clone().into_iter().next().unwrap();
    // A second entry for the same tag: serde keeps the last one, a reviewer reads the first.
    let other = Digest::sha256_of(b"other");
    let line = format!("    \"{key}\": \"");
    let at = text.find(&line).unwrap();
    let duplicated = format!(
        "{}    \"{key}\": \"{other}\",\n{}",
        &text[..at],
        &text[at..]
    );
    let err = Lock::parse(duplicated.as_bytes(), path).unwrap_err();
    let line_number = text[..at].lines().count() + 1;
    assert!(
        matches!(&err, LockError::NotCanonical { line, found, .. }
            if *line == line_number && found.contains(&other.to_string())),
        "{err:?}"
    );
    assert!(err.to_string().contains("--write-lock"), "{err}");
    // The same content in another form: compact, or without the final newline.
    let compact =
        serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&text).unwrap()).unwrap();
    assert!(matches!(
        Lock::parse(compact.as_bytes(), path),
        Err(LockError::NotCanonical { line: 1, .. })
    ));
    assert!(matches!(
        Lock::parse(text.trim_end().as_bytes(), path),
        Err(LockError::NotCanonical { .. })
    ));
    // `canonical` gives back the accepted form.
    assert_eq!(Lock::canonical(compact.as_bytes(), path).unwrap(), text);
    assert_eq!(Lock::canonical(duplicated.as_bytes(), path).unwrap(), text);
}

#[test]
fn refuses_an_unknown_referrer_via() {
    let text = sample().to_json();
    let path = Path::new("x.lock");
    for via in ["\"API\"", "\"tag \"", "\"tag a b\"", "\"http\""] {
        let edited = text.replacen("\"tag sha256-abc\"", via, 1);
        let err = Lock::parse(edited.as_bytes(), path).unwrap_err();
        assert!(err.to_string().contains("`via`"), "{via}: {err}");
    }
    let api = text.replacen("\"tag sha256-abc\"", "\"api\"", 1);
    let lock = Lock::parse(api.as_bytes(), path).unwrap();
    let image = ImageRef::parse("registry.example/team/app:v1").unwrap();
    let digest = lock.tag(&image, "v1").unwrap().clone();
    assert!(matches!(
        lock.referrers(&image, &digest).unwrap()[0].source,
        ReferrerSource::Api
    ));
}

#[test]
fn refuses_a_file_over_the_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.lock");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(MAX_LOCK_BYTES + 1).unwrap();
    assert!(matches!(Lock::read(&path), Err(LockError::TooLarge { .. })));
}

/// What the registry replays from a lock is what it recorded: each object checked against its
/// digest on use, so an object edited in the lock file (its base64 changed, the file still
/// canonical) is a digest mismatch, for manifests and blobs alike, and never a request.
#[tokio::test]
async fn a_registry_replaying_a_lock_checks_every_object_against_its_digest() {
    use base64::Engine as _;

    let image = ImageRef::parse("registry.example/team/app:v1").unwrap();
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    let digest = Digest::sha256_of(manifest);
    let blob = b"signature payload".to_vec();
    let blob_digest = Digest::sha256_of(&blob);
    let mut store = Store::default();
    store.insert_tag(&image, "v1", &digest);
    store.insert_object(
        &digest,
        Some("application/vnd.oci.image.manifest.v1+json"),
        manifest,
    );
    store.insert_object(&blob_digest, None, &blob);
    let lock = Lock::new(
        store,
        &Report::default(),
        Fingerprint {
            trust: Digest::sha256_of(b"t"),
            policy: Digest::sha256_of(b"p"),
        },
        jiff::Timestamp::UNIX_EPOCH,
    );
    let text = lock.to_json();
    let path = Path::new("test.lock");
    let settings = crate::registry::RegistrySettings::default();

    let replaying = Registry::replaying(
        settings.clone(),
        Lock::parse(text.as_bytes(), path).unwrap().evidence(),
    )
    .unwrap();
    assert_eq!(replaying.resolve(&image).await.unwrap().digest, digest);
    assert_eq!(
        replaying.blob(&image, &blob_digest, 1024).await.unwrap(),
        blob
    );

    let b64 = base64::engine::general_purpose::STANDARD;
    let edited = text
        .replace(
            &b64.encode(manifest),
            &b64.encode([&manifest[..], b" "].concat()),
        )
        .replace(&b64.encode(&blob), &b64.encode(b"forged payload"));
    assert_ne!(edited, text);
    let replaying = Registry::replaying(
        settings,
        Lock::parse(edited.as_bytes(), path).unwrap().evidence(),
    )
    .unwrap();
    assert_eq!(
        replaying.resolve(&image).await.unwrap_err().code(),
        "digest-mismatch"
    );
    assert_eq!(
        replaying
            .blob(&image, &blob_digest, 1024)
            .await
            .unwrap_err()
            .code(),
        "digest-mismatch"
    );
    assert_eq!(replaying.stats().requests, 0);
}
