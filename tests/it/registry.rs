//! The registry client against a real `docker-registry`: every digest we resolve must be the
//! one skopeo, an independent client, sees for the same reference.
use crate::common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{
    cosign_made, docker_config_empty, docker_config_with_basic, sha256_digest, TestRegistry,
};
use supplygate::config::Config;
use supplygate::reference::{Digest, ImageRef};
use supplygate::registry::{
    HostSettings, Platform, Registry, RegistryError, RegistrySettings, Resolved,
};

const MULTIARCH_INDEX: &str =
    "sha256:7609b07e75220bf3b9b97aebadf80f96ff93e9bdef133afc6ebdf25c66d85c70";
const MULTIARCH_AMD64: &str =
    "sha256:6671f7d080fc2a6f25df4aa1c50c218ef079d2e7c5f95568427cbb083c8251b8";
const MULTIARCH_ARM64: &str =
    "sha256:4fda8d2584a49b7e717560ae8b7c4939e847c56516a00e718f5b7a602ebf3d3b";
const COSIGN_SIGNED: &str =
    "sha256:63a15806ff4b4b36722c34adea031171e417e76e8ddc5368a616726cb7352455";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Settings that reach `registry` over plain HTTP, with a docker config that has no
/// credentials (the machine's own `~/.docker/config.json` never takes part).
fn settings_for(registry: &TestRegistry) -> RegistrySettings {
    common::client_settings(registry)
}

fn client(settings: RegistrySettings) -> Registry {
    Registry::new(settings).expect("build the registry client")
}

fn image_ref(registry: &TestRegistry, reference: &str) -> ImageRef {
    ImageRef::parse(&registry.image(reference)).expect("a valid reference")
}

fn digest(s: &str) -> Digest {
    Digest::parse(s).expect("a valid digest")
}

async fn resolve_ok(client: &Registry, image: &ImageRef) -> Resolved {
    match client.resolve(image).await {
        Ok(resolved) => resolved,
        Err(e) => panic!("resolving {image} failed ({}): {e}", e.code()),
    }
}

fn platform(os: &str, architecture: &str, variant: Option<&str>, digest_: &str) -> Platform {
    Platform {
        os: os.to_owned(),
        architecture: architecture.to_owned(),
        variant: variant.map(str::to_owned),
        digest: digest(digest_),
    }
}

fn sorted(mut platforms: Vec<Platform>) -> Vec<Platform> {
    platforms.sort_by(|a, b| a.digest.cmp(&b.digest));
    platforms
}

// ---- the harness itself -------------------------------------------------------------------

#[test]
fn generated_images_keep_their_digest_through_skopeo() {
    let registry = TestRegistry::start();
    let pushed = registry.push_generated("harness/one:v1", 1);
    assert_eq!(registry.skopeo_digest("harness/one:v1"), pushed);
    let other = registry.push_generated("harness/one:v2", 2);
    assert_ne!(pushed, other, "different seeds make different images");
    let (index, platforms) = registry.push_generated_index("harness/index:v1", 3);
    assert_eq!(registry.skopeo_digest("harness/index:v1"), index);
    assert_eq!(platforms.len(), 2);
}

#[test]
fn images_pushed_over_raw_http_are_the_ones_skopeo_sees() {
    let registry = TestRegistry::start();
    let tags: Vec<String> = (0..3).map(|i| format!("t{i}")).collect();
    let digests = registry.push_generated_many("harness/many", &tags);
    for (tag, pushed) in tags.iter().zip(&digests) {
        let reference = format!("harness/many:{tag}");
        assert_eq!(&registry.skopeo_digest(&reference), pushed);
        assert_eq!(
            &sha256_digest(&registry.skopeo_raw_manifest(&reference)),
            pushed
        );
    }
    assert_eq!(
        registry.push_generated_many("harness/many", &tags),
        digests,
        "the same tag always gets the same image"
    );
}

#[test]
fn access_log_counts_the_requests_the_registry_answered() {
    let registry = TestRegistry::start();
    let before = registry.logged_requests();
    for _ in 0..3 {
        let response =
            common::http(registry.port(), "GET", "/v2/nobody/tags/list", &[], &[]).unwrap();
        assert_eq!(response.status, 404);
    }
    assert_eq!(registry.logged_requests(), before + 3);
}

#[test]
fn registry_stops_answering_once_dropped() {
    let registry = TestRegistry::start();
    let port = registry.port();
    assert_eq!(
        common::http(port, "GET", "/v2/", &[], &[]).unwrap().status,
        200
    );
    drop(registry);
    let e = common::http(port, "GET", "/v2/", &[], &[]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
}

#[test]
fn basic_auth_registry_refuses_anonymous_pushes_and_accepts_the_users() {
    let registry = TestRegistry::start_with_basic_auth("alice", "s3cret");
    let anonymous = common::http(registry.port(), "GET", "/v2/", &[], &[]).unwrap();
    assert_eq!(anonymous.status, 401);
    let pushed = registry.push_generated("private/app:v1", 4);
    assert_eq!(registry.skopeo_digest("private/app:v1"), pushed);
}

// ---- resolving tags -----------------------------------------------------------------------

#[tokio::test]
async fn resolves_single_arch_tag_to_the_digest_skopeo_sees() {
    let registry = TestRegistry::start();
    let pushed = registry.push_generated("demo/app:v1", 10);
    let client = client(settings_for(&registry));

    let resolved = resolve_ok(&client, &image_ref(&registry, "demo/app:v1")).await;

    assert_eq!(
        resolved.digest.to_string(),
        registry.skopeo_digest("demo/app:v1")
    );
    assert_eq!(resolved.digest.to_string(), pushed);
    assert_eq!(resolved.media_type, OCI_MANIFEST);
    assert!(resolved.platforms.is_empty(), "{:?}", resolved.platforms);
    assert_eq!(resolved.tag_digest, None);
}

#[tokio::test]
async fn resolves_multiarch_index_to_the_index_digest_with_its_platforms() {
    let registry = TestRegistry::start();
    registry.push_layout(&cosign_made("multiarch"), "v1", "demo/multiarch:v1");
    let client = client(settings_for(&registry));

    let resolved = resolve_ok(&client, &image_ref(&registry, "demo/multiarch:v1")).await;

    assert_eq!(resolved.digest.to_string(), MULTIARCH_INDEX);
    assert_eq!(
        resolved.digest.to_string(),
        registry.skopeo_digest("demo/multiarch:v1")
    );
    assert_eq!(resolved.media_type, OCI_INDEX);
    assert_eq!(
        sorted(resolved.platforms),
        sorted(vec![
            platform("linux", "amd64", None, MULTIARCH_AMD64),
            platform("linux", "arm64", Some("v8"), MULTIARCH_ARM64),
        ])
    );
}

#[tokio::test]
async fn resolves_generated_index_platforms_to_the_manifests_pushed() {
    let registry = TestRegistry::start();
    let (index, platforms) = registry.push_generated_index("demo/both:v1", 11);
    let client = client(settings_for(&registry));

    let resolved = resolve_ok(&client, &image_ref(&registry, "demo/both:v1")).await;

    assert_eq!(
        resolved.digest.to_string(),
        registry.skopeo_digest("demo/both:v1")
    );
    assert_eq!(resolved.digest.to_string(), index);
    let mut got: Vec<(String, String)> = resolved
        .platforms
        .iter()
        .map(|p| (p.architecture.clone(), p.digest.to_string()))
        .collect();
    got.sort();
    let mut want = platforms;
    want.sort();
    assert_eq!(got, want);
    // Each platform digest is one skopeo can fetch from the same repository.
    for (_, platform_digest) in &want {
        assert_eq!(
            &registry.skopeo_digest(&format!("demo/both@{platform_digest}")),
            platform_digest
        );
    }
}

#[tokio::test]
async fn second_run_sees_a_tag_that_moved_after_the_first() {
    let registry = TestRegistry::start();
    let first_push = registry.push_generated("demo/moving:stable", 20);
    let first = client(settings_for(&registry));
    let before = resolve_ok(&first, &image_ref(&registry, "demo/moving:stable")).await;
    assert_eq!(before.digest.to_string(), first_push);

    let second_push = registry.push_generated("demo/moving:stable", 21);
    assert_ne!(first_push, second_push);
    let second = client(settings_for(&registry));
    let after = resolve_ok(&second, &image_ref(&registry, "demo/moving:stable")).await;

    assert_eq!(after.digest.to_string(), second_push);
    assert_eq!(
        after.digest.to_string(),
        registry.skopeo_digest("demo/moving:stable")
    );
}

#[tokio::test]
async fn deleted_image_is_not_found_on_the_next_run() {
    let registry = TestRegistry::start();
    let pushed = registry.push_generated("demo/doomed:v1", 22);
    let first = client(settings_for(&registry));
    resolve_ok(&first, &image_ref(&registry, "demo/doomed:v1")).await;

    registry.delete_manifest("demo/doomed", &pushed);
    let second = client(settings_for(&registry));
    let err = second
        .resolve(&image_ref(&registry, "demo/doomed:v1"))
        .await
        .expect_err("the manifest was deleted");

    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
}

// ---- pinned references --------------------------------------------------------------------

#[tokio::test]
async fn pinned_reference_reports_where_its_moved_tag_points_now() {
    let registry = TestRegistry::start();
    let old = registry.push_generated("demo/pinned:v1", 30);
    let new = registry.push_generated("demo/pinned:v1", 31);
    let client = client(settings_for(&registry));

    let resolved = resolve_ok(
        &client,
        &image_ref(&registry, &format!("demo/pinned:v1@{old}")),
    )
    .await;

    assert_eq!(resolved.digest.to_string(), old, "the digest written wins");
    assert_eq!(
        resolved.digest.to_string(),
        registry.skopeo_digest(&format!("demo/pinned@{old}"))
    );
    let tag_digest = resolved.tag_digest.expect("the tag is looked up for drift");
    assert_eq!(tag_digest.to_string(), new);
    assert_eq!(
        tag_digest.to_string(),
        registry.skopeo_digest("demo/pinned:v1")
    );
    assert_ne!(resolved.digest, tag_digest);
}

#[tokio::test]
async fn pinned_reference_whose_tag_did_not_move_has_the_same_tag_digest() {
    let registry = TestRegistry::start();
    let pushed = registry.push_generated("demo/steady:v1", 32);
    let client = client(settings_for(&registry));

    let resolved = resolve_ok(
        &client,
        &image_ref(&registry, &format!("demo/steady:v1@{pushed}")),
    )
    .await;

    assert_eq!(resolved.digest.to_string(), pushed);
    assert_eq!(resolved.tag_digest.map(|d| d.to_string()), Some(pushed));
}

#[tokio::test]
async fn digest_only_reference_resolves_without_tag_digest() {
    let registry = TestRegistry::start();
    let pushed = registry.push_generated("demo/bydigest:v1", 33);
    let client = client(settings_for(&registry));

    let resolved = resolve_ok(
        &client,
        &image_ref(&registry, &format!("demo/bydigest@{pushed}")),
    )
    .await;

    assert_eq!(resolved.digest.to_string(), pushed);
    assert_eq!(resolved.tag_digest, None);
}

#[tokio::test]
async fn pinned_digest_missing_from_the_registry_is_not_found() {
    let registry = TestRegistry::start();
    registry.push_generated("demo/gone:v1", 34);
    let absent = sha256_digest(b"no such manifest");
    let client = client(settings_for(&registry));

    let err = client
        .resolve(&image_ref(&registry, &format!("demo/gone@{absent}")))
        .await
        .expect_err("the digest does not exist");

    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
}

// ---- authentication -----------------------------------------------------------------------

#[tokio::test]
async fn basic_auth_registry_is_unauthorized_without_credentials() {
    let registry = TestRegistry::start_with_basic_auth("alice", "s3cret");
    registry.push_generated("private/app:v1", 40);
    let client = client(settings_for(&registry));

    let err = client
        .resolve(&image_ref(&registry, "private/app:v1"))
        .await
        .expect_err("no credentials were given");

    assert!(
        matches!(err, RegistryError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), "registry-unauthorized");
}

#[tokio::test]
async fn basic_auth_registry_is_unauthorized_with_a_wrong_password() {
    let registry = TestRegistry::start_with_basic_auth("alice", "s3cret");
    registry.push_generated("private/app:v1", 41);
    let mut settings = settings_for(&registry);
    settings.docker_config = Some(docker_config_with_basic(
        &registry.scratch_dir().join("docker-wrong"),
        &registry.host(),
        "alice",
        "wrong",
    ));
    let client = client(settings);

    let err = client
        .resolve(&image_ref(&registry, "private/app:v1"))
        .await
        .expect_err("the password is wrong");

    assert_eq!(err.code(), "registry-unauthorized", "{err:?}");
}

#[tokio::test]
async fn basic_auth_registry_resolves_with_docker_config_credentials() {
    let registry = TestRegistry::start_with_basic_auth("alice", "s3cret");
    let pushed = registry.push_generated("private/app:v1", 42);
    let mut settings = settings_for(&registry);
    settings.docker_config = Some(docker_config_with_basic(
        &registry.scratch_dir().join("docker-alice"),
        &registry.host(),
        "alice",
        "s3cret",
    ));
    let client = client(settings);

    let resolved = resolve_ok(&client, &image_ref(&registry, "private/app:v1")).await;

    assert_eq!(resolved.digest.to_string(), pushed);
    assert_eq!(
        resolved.digest.to_string(),
        registry.skopeo_digest("private/app:v1")
    );
}

// ---- failures -----------------------------------------------------------------------------

#[tokio::test]
async fn unknown_tag_is_not_found() {
    let registry = TestRegistry::start();
    registry.push_generated("demo/app:v1", 50);
    let client = client(settings_for(&registry));

    let err = client
        .resolve(&image_ref(&registry, "demo/app:v2"))
        .await
        .expect_err("tag v2 was never pushed");

    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
    assert_eq!(err.code(), "image-not-found");
}

#[tokio::test]
async fn unknown_repository_is_not_found() {
    let registry = TestRegistry::start();
    let client = client(settings_for(&registry));

    let err = client
        .resolve(&image_ref(&registry, "nobody/nothing:v1"))
        .await
        .expect_err("the repository does not exist");

    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn plain_http_to_a_host_not_marked_insecure_is_not_allowed() {
    let registry = TestRegistry::start();
    registry.push_generated("demo/app:v1", 51);
    let mut settings = settings_for(&registry);
    settings.hosts.clear();
    let client = client(settings);

    let err = client
        .resolve(&image_ref(&registry, "demo/app:v1"))
        .await
        .expect_err("the host is not marked insecure");

    assert!(matches!(err, RegistryError::NotAllowed { .. }), "{err:?}");
    assert_eq!(err.code(), "registry-not-allowed");
    assert!(
        err.to_string().contains("insecure"),
        "the message says how to allow it: {err}"
    );
    // The TLS error that showed the plain-HTTP answer is kept as the source, not the message.
    assert!(std::error::Error::source(&err).is_some(), "{err:?}");
}

#[tokio::test]
async fn tampered_manifest_served_for_a_tag_is_a_digest_mismatch() {
    let registry = TestRegistry::start();
    let pushed = registry.push_generated("demo/tampered:v1", 52);
    registry.tamper_blob(&pushed, |body| {
        let text = String::from_utf8(body.clone()).unwrap();
        *body = text
            .replace("\"schemaVersion\":2", "\"schemaVersion\": 2")
            .into_bytes();
    });
    let client = client(settings_for(&registry));

    let err = client
        .resolve(&image_ref(&registry, "demo/tampered:v1"))
        .await
        .expect_err("the body no longer hashes to the announced digest");

    match &err {
        RegistryError::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected.to_string(), pushed);
            assert_ne!(actual, expected);
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert_eq!(err.code(), "digest-mismatch");
}

#[tokio::test]
async fn tampered_manifest_fetched_by_digest_is_a_digest_mismatch() {
    let registry = TestRegistry::start();
    registry.push_layout(&cosign_made("multiarch"), "v1", "demo/multiarch:v1");
    // Same length, still valid JSON: only hashing tells.
    registry.tamper_blob(MULTIARCH_INDEX, |body| {
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.contains("\"amd64\""));
        *body = text.replace("\"amd64\"", "\"amd65\"").into_bytes();
    });
    let client = client(settings_for(&registry));

    let err = client
        .resolve(&image_ref(
            &registry,
            &format!("demo/multiarch@{MULTIARCH_INDEX}"),
        ))
        .await
        .expect_err("the body no longer hashes to the digest written");

    assert_eq!(err.code(), "digest-mismatch", "{err:?}");
}

// ---- manifests and blobs ------------------------------------------------------------------

#[tokio::test]
async fn manifest_by_tag_is_the_body_skopeo_fetches() {
    let registry = TestRegistry::start();
    let pushed = registry.push_generated("demo/app:v1", 60);
    let client = client(settings_for(&registry));

    let manifest = client
        .manifest(&image_ref(&registry, "demo/app:v1"), "v1")
        .await
        .expect("the manifest exists");

    assert_eq!(manifest.digest.to_string(), pushed);
    assert_eq!(manifest.body, registry.skopeo_raw_manifest("demo/app:v1"));
    assert_eq!(manifest.media_type, OCI_MANIFEST);
}

#[tokio::test]
async fn blob_is_fetched_and_checked_against_its_digest() {
    let registry = TestRegistry::start();
    registry.push_generated("demo/app:v1", 61);
    let body = registry.skopeo_raw_manifest("demo/app:v1");
    let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let client = client(settings_for(&registry));
    let image = image_ref(&registry, "demo/app:v1");

    let config = client
        .blob(&image, &digest(&config_digest), 1 << 20)
        .await
        .expect("the config blob exists");
    assert_eq!(sha256_digest(&config), config_digest);

    let too_small = client.blob(&image, &digest(&config_digest), 8).await;
    assert!(
        matches!(too_small, Err(RegistryError::TooLarge { limit: 8, .. })),
        "{too_small:?}"
    );
}

#[tokio::test]
async fn tampered_blob_is_a_digest_mismatch() {
    let registry = TestRegistry::start();
    registry.push_generated("demo/app:v1", 62);
    let body = registry.skopeo_raw_manifest("demo/app:v1");
    let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_owned();
    registry.tamper_blob(&config_digest, |bytes| {
        let text = String::from_utf8(bytes.clone()).unwrap();
        *bytes = text.replace("amd64", "arm64").into_bytes();
    });
    let client = client(settings_for(&registry));

    let err = client
        .blob(
            &image_ref(&registry, "demo/app:v1"),
            &digest(&config_digest),
            1 << 20,
        )
        .await
        .expect_err("the blob no longer hashes to its digest");

    assert_eq!(err.code(), "digest-mismatch", "{err:?}");
}

// ---- mirrors ------------------------------------------------------------------------------

/// Settings where `upstream` is reached through `mirror` first; both plain HTTP.
fn mirrored_settings(upstream: &TestRegistry, mirror: &TestRegistry) -> RegistrySettings {
    let mut settings = settings_for(upstream);
    settings.hosts.insert(
        upstream.host(),
        HostSettings {
            insecure: true,
            mirrors: vec![mirror.host()],
            ..HostSettings::default()
        },
    );
    settings.hosts.insert(
        mirror.host(),
        HostSettings {
            insecure: true,
            ..HostSettings::default()
        },
    );
    settings
}

#[tokio::test]
async fn mirror_that_has_the_tag_answers_and_the_registry_is_not_asked() {
    let upstream = TestRegistry::start();
    let mirror = TestRegistry::start();
    upstream.push_generated("demo/app:v1", 90);
    let mirrored = mirror.push_generated("demo/app:v1", 91);
    let upstream_before = upstream.logged_requests();
    let client = client(mirrored_settings(&upstream, &mirror));

    let resolved = resolve_ok(&client, &image_ref(&upstream, "demo/app:v1")).await;

    assert_eq!(resolved.digest.to_string(), mirrored);
    assert_eq!(
        resolved.digest.to_string(),
        mirror.skopeo_digest("demo/app:v1")
    );
    assert_eq!(upstream.logged_requests(), upstream_before);
}

#[tokio::test]
async fn mirror_without_the_tag_falls_back_to_the_registry() {
    let upstream = TestRegistry::start();
    let mirror = TestRegistry::start();
    let pushed = upstream.push_generated("demo/app:v1", 92);
    let client = client(mirrored_settings(&upstream, &mirror));

    let resolved = resolve_ok(&client, &image_ref(&upstream, "demo/app:v1")).await;

    assert_eq!(resolved.digest.to_string(), pushed);
    assert_eq!(
        resolved.digest.to_string(),
        upstream.skopeo_digest("demo/app:v1")
    );
}

#[tokio::test]
async fn forged_body_from_a_mirror_is_never_accepted_for_a_pinned_digest() {
    let upstream = TestRegistry::start();
    let mirror = TestRegistry::start();
    for registry in [&upstream, &mirror] {
        registry.push_layout(&cosign_made("multiarch"), "v1", "demo/multiarch:v1");
    }
    mirror.tamper_blob(MULTIARCH_INDEX, |body| {
        let text = String::from_utf8(body.clone()).unwrap();
        *body = text.replace("\"amd64\"", "\"amd65\"").into_bytes();
    });
    let client = client(mirrored_settings(&upstream, &mirror));

    let result = client
        .resolve(&image_ref(
            &upstream,
            &format!("demo/multiarch@{MULTIARCH_INDEX}"),
        ))
        .await;

    // Denying (the mirror proved tampering) and falling back to the registry are both safe;
    // taking the forged platforms is not.
    match result {
        Err(e) => assert_eq!(e.code(), "digest-mismatch", "{e:?}"),
        Ok(resolved) => assert!(
            resolved.platforms.iter().all(|p| p.architecture != "amd65"),
            "forged platforms accepted: {:?}",
            resolved.platforms
        ),
    }
}

// ---- OCI layouts --------------------------------------------------------------------------

/// Settings serving `host` from the layout `layout` only.
fn layout_settings(host: &str, layout: PathBuf) -> RegistrySettings {
    let mut settings = RegistrySettings::default();
    settings.hosts.insert(
        host.to_owned(),
        HostSettings {
            layout: Some(layout),
            ..HostSettings::default()
        },
    );
    settings
}

#[tokio::test]
async fn layout_backend_resolves_to_the_digests_the_registry_serves() {
    let registry = TestRegistry::start();
    registry.push_layout(&cosign_made("cosign-signed"), "v1", "demo/cosign-signed:v1");
    registry.push_layout(&cosign_made("multiarch"), "v1", "demo/multiarch:v1");
    let network = client(settings_for(&registry));

    for name in ["cosign-signed", "multiarch"] {
        let reference = format!("demo/{name}:v1");
        let from_registry = resolve_ok(&network, &image_ref(&registry, &reference)).await;
        let offline = client(layout_settings("layout.invalid", cosign_made(name)));
        let image = ImageRef::parse(&format!("layout.invalid/{reference}")).unwrap();
        let from_layout = resolve_ok(&offline, &image).await;

        assert_eq!(from_layout.digest, from_registry.digest, "{name}");
        assert_eq!(from_layout.media_type, from_registry.media_type, "{name}");
        assert_eq!(
            sorted(from_layout.platforms),
            sorted(from_registry.platforms),
            "{name}"
        );
        assert_eq!(
            from_layout.digest.to_string(),
            registry.skopeo_digest(&reference)
        );
        assert_eq!(offline.stats().requests, 0, "a layout needs no network");
    }
    let cosign_signed = resolve_ok(&network, &image_ref(&registry, "demo/cosign-signed:v1")).await;
    assert_eq!(cosign_signed.digest.to_string(), COSIGN_SIGNED);
}

#[tokio::test]
async fn layout_backend_reports_an_unknown_tag_as_not_found() {
    let offline = client(layout_settings(
        "layout.invalid",
        cosign_made("cosign-signed"),
    ));
    let image = ImageRef::parse("layout.invalid/demo/cosign-signed:v9").unwrap();

    let err = offline
        .resolve(&image)
        .await
        .expect_err("no tag v9 in the layout");

    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn offline_resolves_from_a_layout_and_refuses_hosts_without_one() {
    let registry = TestRegistry::start();
    registry.push_generated("demo/app:v1", 70);
    let before = registry.logged_requests();
    let mut settings = layout_settings("layout.invalid", cosign_made("cosign-signed"));
    settings.hosts.insert(
        registry.host(),
        HostSettings {
            insecure: true,
            ..HostSettings::default()
        },
    );
    settings.offline = true;
    let offline = client(settings);

    let from_layout = resolve_ok(
        &offline,
        &ImageRef::parse("layout.invalid/demo/cosign-signed:v1").unwrap(),
    )
    .await;
    assert_eq!(from_layout.digest.to_string(), COSIGN_SIGNED);

    let err = offline
        .resolve(&image_ref(&registry, "demo/app:v1"))
        .await
        .expect_err("offline: a host without a layout is not reached");
    assert!(matches!(err, RegistryError::Offline { .. }), "{err:?}");
    assert_eq!(err.code(), "offline-no-layout");
    assert_eq!(offline.stats().requests, 0);
    assert_eq!(
        registry.logged_requests(),
        before,
        "the registry saw nothing"
    );
}

// ---- request counting ---------------------------------------------------------------------

#[tokio::test]
async fn resolving_the_same_reference_twice_sends_no_second_request() {
    let registry = TestRegistry::start();
    registry.push_generated("demo/app:v1", 80);
    let client = client(settings_for(&registry));
    let image = image_ref(&registry, "demo/app:v1");

    let first = resolve_ok(&client, &image).await;
    let after_first = client.stats();
    let second = resolve_ok(&client, &image).await;
    let after_second = client.stats();

    assert_eq!(first, second);
    assert!(after_first.requests >= 1, "{after_first:?}");
    assert_eq!(
        after_second.requests, after_first.requests,
        "{after_second:?}"
    );
    assert_eq!(after_second.cache_hits, after_first.cache_hits + 1);
}

async fn resolve_all(client: Arc<Registry>, images: Vec<ImageRef>) -> Vec<Resolved> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, image) in images.into_iter().enumerate() {
        let client = Arc::clone(&client);
        tasks.spawn(async move {
            let resolved = client
                .resolve(&image)
                .await
                .map_err(|e| format!("{e} ({})", e.code()));
            (i, resolved)
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        out.push(joined.expect("the task did not panic"));
    }
    out.sort_by_key(|(i, _)| *i);
    let failures: Vec<&String> = out.iter().filter_map(|(_, r)| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} failed, e.g. {:?}",
        failures.len(),
        out.len(),
        &failures[..failures.len().min(3)]
    );
    out.into_iter().filter_map(|(_, r)| r.ok()).collect()
}

// ---- per-host concurrency ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_concurrency_of_one_from_the_config_still_resolves_every_image() {
    let registry = TestRegistry::start();
    let tags: Vec<String> = (0..24).map(|i| format!("v{i}")).collect();
    let mut expected = registry.push_generated_many("demo/serial", &tags);
    let (index, _) = registry.push_generated_index("demo/serial-index:v1", 90);
    expected.push(index);
    let docker_config = docker_config_empty(&registry.scratch_dir().join("docker-empty"));
    let text = format!(
        "registries:\n  {}:\n    insecure: true\n    concurrency: 1\nnetwork:\n  concurrency: 16\n  docker_config: '{}'\n",
        registry.host(),
        docker_config.display()
    );
    let config = Config::parse(&text, &registry.scratch_dir().join("supplygate.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.registry.hosts[&registry.host()].concurrency, Some(1));
    let client = Arc::new(client(config.registry));
    let mut images: Vec<ImageRef> = tags
        .iter()
        .map(|tag| image_ref(&registry, &format!("demo/serial:{tag}")))
        .collect();
    images.push(image_ref(&registry, "demo/serial-index:v1"));
    let before = registry.logged_requests();

    let resolved = resolve_all(Arc::clone(&client), images).await;

    let digests: Vec<String> = resolved.iter().map(|r| r.digest.to_string()).collect();
    assert_eq!(digests, expected);
    assert_eq!(resolved.last().unwrap().platforms.len(), 2);
    // One `GET` per reference, as without the bound: waiting for a permit is not a retry.
    let n = expected.len();
    assert_eq!(registry.logged_requests() - before, n);
    assert_eq!(client.stats().requests, n as u64);
}

// What `src/registry/mod.rs` promises, not counting authentication: `repo:tag` costs one `GET`
// (its body gives the verified digest and the platforms), `repo@digest` one `GET`, and
// `repo:tag@digest` two (a `GET` by digest and a `HEAD` of the tag for drift).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_tags_cost_one_request_each() {
    let registry = TestRegistry::start();
    let tags: Vec<String> = (0..40).map(|i| format!("v{i}")).collect();
    let pushed = registry.push_generated_many("demo/many", &tags);
    let client = Arc::new(client(settings_for(&registry)));
    let images = tags
        .iter()
        .map(|tag| image_ref(&registry, &format!("demo/many:{tag}")))
        .collect();

    let resolved = resolve_all(Arc::clone(&client), images).await;

    let digests: Vec<String> = resolved.iter().map(|r| r.digest.to_string()).collect();
    assert_eq!(digests, pushed);
    let n = tags.len() as u64;
    let stats = client.stats();
    assert!(stats.requests <= n, "{n} tags: {stats:?}");
    assert!(
        stats.requests >= n,
        "one request per tag at least: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_pinned_references_cost_two_requests_each_and_digests_one() {
    let registry = TestRegistry::start();
    let tags: Vec<String> = (0..15).map(|i| format!("v{i}")).collect();
    let pushed = registry.push_generated_many("demo/pins", &tags);
    let pinned: Vec<ImageRef> = tags
        .iter()
        .zip(&pushed)
        .map(|(tag, d)| image_ref(&registry, &format!("demo/pins:{tag}@{d}")))
        .collect();
    let by_digest: Vec<ImageRef> = pushed
        .iter()
        .map(|d| image_ref(&registry, &format!("demo/pins@{d}")))
        .collect();
    let n = tags.len() as u64;

    let pins = Arc::new(client(settings_for(&registry)));
    let resolved = resolve_all(Arc::clone(&pins), pinned).await;
    assert!(resolved
        .iter()
        .all(|r| r.tag_digest.as_ref() == Some(&r.digest)));
    let stats = pins.stats();
    assert!(stats.requests <= 2 * n, "{n} `repo:tag@digest`: {stats:?}");

    let digests = Arc::new(client(settings_for(&registry)));
    resolve_all(Arc::clone(&digests), by_digest).await;
    let stats = digests.stats();
    assert!(stats.requests <= n, "{n} `repo@digest`: {stats:?}");
}

#[tokio::test]
async fn pinning_a_reference_resolved_by_tag_before_costs_nothing() {
    let registry = TestRegistry::start();
    let pushed = registry.push_generated("demo/app:v1", 81);
    let client = client(settings_for(&registry));
    resolve_ok(&client, &image_ref(&registry, "demo/app:v1")).await;
    let after_tag = client.stats();

    let pinned = resolve_ok(
        &client,
        &image_ref(&registry, &format!("demo/app:v1@{pushed}")),
    )
    .await;
    let by_digest = resolve_ok(
        &client,
        &image_ref(&registry, &format!("demo/app@{pushed}")),
    )
    .await;

    assert_eq!(pinned.digest.to_string(), pushed);
    assert_eq!(
        pinned.tag_digest.map(|d| d.to_string()),
        Some(pushed.clone())
    );
    assert_eq!(by_digest.digest.to_string(), pushed);
    assert_eq!(
        client.stats().requests,
        after_tag.requests,
        "{:?}",
        client.stats()
    );
}

#[tokio::test]
async fn basic_auth_credentials_go_up_front_once_the_challenge_is_known() {
    let registry = TestRegistry::start_with_basic_auth("alice", "s3cret");
    let tags: Vec<String> = (0..5).map(|i| format!("v{i}")).collect();
    registry.push_generated_many("private/seq", &tags);
    let mut settings = settings_for(&registry);
    settings.docker_config = Some(docker_config_with_basic(
        &registry.scratch_dir().join("docker-alice"),
        &registry.host(),
        "alice",
        "s3cret",
    ));
    let client = client(settings);

    resolve_ok(&client, &image_ref(&registry, "private/seq:v0")).await;
    let first = client.stats().requests;
    assert_eq!(first, 2, "a 401, then the request with credentials");
    for tag in &tags[1..] {
        resolve_ok(
            &client,
            &image_ref(&registry, &format!("private/seq:{tag}")),
        )
        .await;
    }

    let later = client.stats().requests - first;
    assert_eq!(
        later, 4,
        "one request per later tag, credentials sent up front"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_tags_behind_basic_auth_cost_one_request_each_after_the_first_challenges() {
    let registry = TestRegistry::start_with_basic_auth("alice", "s3cret");
    let tags: Vec<String> = (0..30).map(|i| format!("v{i}")).collect();
    let pushed = registry.push_generated_many("private/many", &tags);
    let mut settings = settings_for(&registry);
    settings.docker_config = Some(docker_config_with_basic(
        &registry.scratch_dir().join("docker-alice"),
        &registry.host(),
        "alice",
        "s3cret",
    ));
    settings.concurrency = 4;
    let concurrency = settings.concurrency as u64;
    let client = Arc::new(client(settings));
    let images = tags
        .iter()
        .map(|tag| image_ref(&registry, &format!("private/many:{tag}")))
        .collect();

    let resolved = resolve_all(Arc::clone(&client), images).await;

    let digests: Vec<String> = resolved.iter().map(|r| r.digest.to_string()).collect();
    assert_eq!(digests, pushed);
    let n = tags.len() as u64;
    let stats = client.stats();
    // Once the host's Basic challenge is known, credentials go with every request; before
    // that, each request in flight may meet one 401.
    assert!(
        stats.requests <= n + concurrency,
        "{n} tags with at most {concurrency} in flight: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_counter_matches_the_registry_access_log() {
    let registry = TestRegistry::start();
    let tags: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    registry.push_generated_many("demo/counted", &tags);
    registry.push_layout(&cosign_made("multiarch"), "v1", "demo/multiarch:v1");
    let before = registry.logged_requests();
    let client = Arc::new(client(settings_for(&registry)));
    let mut images: Vec<ImageRef> = tags
        .iter()
        .map(|tag| image_ref(&registry, &format!("demo/counted:{tag}")))
        .collect();
    images.push(image_ref(&registry, "demo/multiarch:v1"));
    images.push(image_ref(
        &registry,
        &format!("demo/multiarch:v1@{MULTIARCH_INDEX}"),
    ));
    images.push(image_ref(&registry, "demo/counted:v0"));

    resolve_all(Arc::clone(&client), images).await;
    let _ = client
        .resolve(&image_ref(&registry, "demo/counted:nope"))
        .await;

    let seen_by_registry = registry.logged_requests() - before;
    assert_eq!(client.stats().requests, seen_by_registry as u64);
}
