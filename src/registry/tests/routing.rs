#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::*;

/// A registry that takes a while over every manifest (its path is its marker).
fn slow(r: &Request) -> Reply {
    honest(&manifest_body(r.path()), OCI_MANIFEST).delayed(Duration::from_millis(400))
}

/// Resolves every image at once; each must be the manifest `slow` serves for it.
async fn resolve_all_at_once(registry: &Arc<Registry>, images: Vec<ImageRef>) {
    let mut tasks = tokio::task::JoinSet::new();
    for img in images {
        let registry = Arc::clone(registry);
        tasks.spawn(async move {
            let resolved = registry.resolve(&img).await;
            (img, resolved)
        });
    }
    while let Some(result) = tasks.join_next().await {
        let (img, resolved) = result.unwrap();
        let path = format!("/v2/{}/manifests/{}", img.repository(), img.tag().unwrap());
        assert_eq!(
            resolved.unwrap().digest,
            Digest::sha256_of(manifest_body(&path).as_bytes()),
            "{img}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_concurrency_bounds_that_host_and_leaves_others_to_the_global_bound() {
    let bounded = Server::start(slow).await;
    let free = Server::start(slow).await;
    let mut settings = RegistrySettings {
        concurrency: 8,
        ..settings_for(&[&bounded, &free])
    };
    settings.hosts.get_mut(&bounded.host()).unwrap().concurrency = Some(2);
    let registry = Arc::new(Registry::new(settings).unwrap());
    let images = (0..10)
        .flat_map(|i| [&bounded, &free].map(|s| image(s, &format!("app:v{i}"))))
        .collect();
    resolve_all_at_once(&registry, images).await;
    assert_eq!(bounded.requests().len(), 10);
    assert_eq!(free.requests().len(), 10);
    assert_eq!(bounded.most_in_flight(), 2);
    // Requests queued for the bounded host hold no global permit: the other host gets
    // more than the bounded host's share of the 8.
    assert!(free.most_in_flight() > 2, "{}", free.most_in_flight());
    assert!(free.most_in_flight() <= 8, "{}", free.most_in_flight());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_requests_count_against_the_mirrors_own_bound() {
    let mirror = Server::start(slow).await;
    let mut settings = settings_for(&[&mirror]);
    settings.hosts.get_mut(&mirror.host()).unwrap().concurrency = Some(3);
    settings.hosts.insert(
        "origin.example".to_owned(),
        HostSettings {
            mirrors: vec![format!("http://{}", mirror.host())],
            concurrency: Some(1),
            ..HostSettings::default()
        },
    );
    let registry = Arc::new(Registry::new(settings).unwrap());
    let images = (0..10)
        .map(|i| ImageRef::parse(&format!("origin.example/app:v{i}")).unwrap())
        .collect();
    resolve_all_at_once(&registry, images).await;
    assert_eq!(mirror.requests().len(), 10);
    // The mirror's 3, not the origin's 1.
    assert_eq!(mirror.most_in_flight(), 3);
}

#[tokio::test]
async fn coalesces_concurrent_identical_lookups_into_one_request() {
    let body = manifest_body("popular");
    let server = Server::start(move |_| honest(&body, OCI_MANIFEST)).await;
    let registry = Arc::new(Registry::new(settings_for(&[&server])).unwrap());
    let img = image(&server, "app:v1");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let registry = Arc::clone(&registry);
        let img = img.clone();
        tasks.spawn(async move { registry.resolve(&img).await });
    }
    let mut digests = Vec::new();
    while let Some(result) = tasks.join_next().await {
        digests.push(result.unwrap().unwrap().digest);
    }
    digests.dedup();
    assert_eq!(digests.len(), 1);
    assert_eq!(
        registry.stats(),
        Stats {
            requests: 1,
            cache_hits: 7
        }
    );
}

#[tokio::test]
async fn follows_blob_redirects_without_credentials_and_verifies_blob() {
    let blob = b"layer bytes".to_vec();
    let digest = Digest::sha256_of(&blob);
    let server = Server::start({
        let blob = blob.clone();
        move |r: &Request| match r.path() {
            p if p.starts_with("/v2/app/blobs/") => {
                Reply::status(307).header("Location", "/storage/hop1?sig=abc")
            }
            "/storage/hop1" => Reply::status(302).header("Location", "hop2"),
            "/storage/hop2" => Reply::body(200, blob.clone()),
            "/storage/loop" => Reply::status(302).header("Location", "/storage/loop"),
            _ => Reply::body(200, "not the blob"),
        }
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let img = image(&server, "app:v1");
    assert_eq!(registry.blob(&img, &digest, 1024).await.unwrap(), blob);
    assert_eq!(
        methods_and_paths(&server),
        [
            format!("GET /v2/app/blobs/{digest}"),
            "GET /storage/hop1".to_owned(),
            "GET /storage/hop2".to_owned()
        ]
    );
    assert_eq!(server.requests()[1].target, "/storage/hop1?sig=abc");
    // Cached: the same blob again costs nothing.
    registry.blob(&img, &digest, 1024).await.unwrap();
    assert_eq!(registry.stats().requests, 3);

    let err = registry.blob(&img, &digest, 4).await.unwrap_err();
    assert_eq!(err.code(), "manifest-too-large");

    let other = image(&server, "other:v1");
    let err = registry.blob(&other, &digest, 1024).await.unwrap_err();
    assert_eq!(err.code(), "digest-mismatch");
}

#[tokio::test]
async fn stops_after_five_blob_redirects_and_refuses_http_redirect_to_other_hosts() {
    let server = Server::start(|r: &Request| {
        if r.path().starts_with("/v2/loop/") || r.path() == "/again" {
            Reply::status(302).header("Location", "/again")
        } else {
            Reply::status(302).header("Location", "http://localhost:9/blob")
        }
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let digest = Digest::sha256_of(b"x");
    let err = registry
        .blob(&image(&server, "loop:v1"), &digest, 1024)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("more than 5"), "{err}");
    assert_eq!(server.requests().len(), 6);
    let err = registry
        .blob(&image(&server, "leak:v1"), &digest, 1024)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "registry-not-allowed");
    assert!(err.to_string().contains("insecure: true"), "{err}");
    assert_eq!(server.requests().len(), 7);
}

/// Issue 15's adversarial suite: a blob redirect to another port of the same address is
/// another host. Not configured, it is not contacted over plain HTTP; configured, what it
/// serves is still checked against the digest.
#[tokio::test]
async fn blob_redirect_to_another_port_is_another_host() {
    let other = Server::start(|_| Reply::body(200, "not the blob")).await;
    let target = format!("http://{}/storage/blob", other.host());
    let server = Server::start(move |_| Reply::status(307).header("Location", &target)).await;
    let digest = Digest::sha256_of(b"layer bytes");
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let err = registry
        .blob(&image(&server, "app:v1"), &digest, 1024)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "registry-not-allowed", "{err}");
    assert!(other.requests().is_empty());
    let registry = Registry::new(settings_for(&[&server, &other])).unwrap();
    let err = registry
        .blob(&image(&server, "app:v1"), &digest, 1024)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "digest-mismatch", "{err}");
    assert_eq!(other.requests().len(), 1);
    assert_eq!(other.requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn tries_mirrors_before_the_host() {
    let body = manifest_body("mirrored");
    let mirror = Server::start(|_| Reply::status(404)).await;
    let origin = Server::start(move |_| honest(&body, OCI_MANIFEST)).await;
    let mut settings = settings_for(&[&mirror, &origin]);
    if let Some(host) = settings.hosts.get_mut(&origin.host()) {
        host.mirrors = vec![mirror.host()];
    }
    let registry = Registry::new(settings).unwrap();
    registry.resolve(&image(&origin, "app:v1")).await.unwrap();
    assert_eq!(methods_and_paths(&mirror), ["GET /v2/app/manifests/v1"]);
    assert_eq!(methods_and_paths(&origin), ["GET /v2/app/manifests/v1"]);
}

#[tokio::test]
async fn offline_host_without_layout_has_its_own_code() {
    let registry = Registry::new(RegistrySettings {
        offline: true,
        ..RegistrySettings::default()
    })
    .unwrap();
    let err = registry
        .resolve(&ImageRef::parse("ghcr.io/acme/app:v1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "offline-no-layout");
    assert_eq!(
        err.to_string(),
        "ghcr.io/acme/app:v1: offline, and no OCI layout is configured for host `ghcr.io`"
    );
    assert_eq!(registry.stats().requests, 0);
}

#[tokio::test]
async fn resolves_nested_index_from_a_directory_of_layouts() {
    let registry = Registry::new(layout_settings("registry.demo.example", demo_layouts())).unwrap();
    let img = ImageRef::parse("registry.demo.example/demo/multiarch:v1").unwrap();
    let resolved = registry.resolve(&img).await.unwrap();
    assert_eq!(resolved.digest.to_string(), MULTIARCH);
    assert_eq!(resolved.media_type, OCI_INDEX);
    let platforms: Vec<(String, String, Option<String>, String)> = resolved
        .platforms
        .iter()
        .map(|p| {
            (
                p.os.clone(),
                p.architecture.clone(),
                p.variant.clone(),
                p.digest.to_string(),
            )
        })
        .collect();
    assert_eq!(
        platforms,
        [
            ("linux".into(), "amd64".into(), None, AMD64.into()),
            (
                "linux".into(),
                "arm64".into(),
                Some("v8".into()),
                ARM64.into()
            ),
        ]
    );
    // A platform manifest by digest, and the pinned tag with its current digest.
    let arm = registry.manifest(&img, ARM64).await.unwrap();
    assert_eq!(arm.media_type, OCI_MANIFEST);
    let pinned = img.with_digest(Digest::parse(MULTIARCH).unwrap());
    let resolved = registry.resolve(&pinned).await.unwrap();
    assert_eq!(resolved.tag_digest.unwrap().to_string(), MULTIARCH);
    let signed = ImageRef::parse("registry.demo.example/demo/cosign-signed:v1").unwrap();
    assert_eq!(
        registry.resolve(&signed).await.unwrap().digest.to_string(),
        "sha256:63a15806ff4b4b36722c34adea031171e417e76e8ddc5368a616726cb7352455"
    );
    assert_eq!(registry.stats().requests, 0);
}

#[tokio::test]
async fn single_layout_matches_bare_tags_for_any_repository_of_its_host() {
    let layout = demo_layouts().join("demo/multiarch");
    let registry = Registry::new(layout_settings("127.0.0.1:5123", layout)).unwrap();
    let img = ImageRef::parse("127.0.0.1:5123/demo/multiarch:v1").unwrap();
    assert_eq!(
        registry.resolve(&img).await.unwrap().digest.to_string(),
        MULTIARCH
    );
    let sig_tag = format!("{}.sig", Digest::parse(AMD64).unwrap().tag_prefix());
    let sig = registry.manifest(&img, &sig_tag).await.unwrap();
    assert_eq!(
        sig.digest.to_string(),
        "sha256:9332edf9403821243f5bc73cdcddea428950c571b7dd87bae294e7c97389c5be"
    );
    let elsewhere = ImageRef::parse("127.0.0.1:5123/any/repo:v1").unwrap();
    assert_eq!(
        registry
            .resolve(&elsewhere)
            .await
            .unwrap()
            .digest
            .to_string(),
        MULTIARCH
    );
    let missing = ImageRef::parse("127.0.0.1:5123/demo/multiarch:v9").unwrap();
    assert_eq!(
        registry.resolve(&missing).await.unwrap_err().code(),
        "image-not-found"
    );
    let blob = registry
        .blob(&img, &Digest::parse(ARM64).unwrap(), 4096)
        .await
        .unwrap();
    assert!(Digest::parse(ARM64).unwrap().matches(&blob));
}

#[tokio::test]
async fn layout_blob_that_does_not_match_its_name_is_a_digest_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let source = demo_layouts().join("demo/multiarch");
    std::fs::copy(source.join("oci-layout"), dir.path().join("oci-layout")).unwrap();
    std::fs::copy(source.join("index.json"), dir.path().join("index.json")).unwrap();
    let blobs = dir.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let hex = MULTIARCH.trim_start_matches("sha256:");
    std::fs::write(blobs.join(hex), index_body()).unwrap();
    let registry =
        Registry::new(layout_settings("127.0.0.1:5123", dir.path().to_path_buf())).unwrap();
    let img = ImageRef::parse("127.0.0.1:5123/demo/multiarch:v1").unwrap();
    let err = registry.resolve(&img).await.unwrap_err();
    assert_eq!(err.code(), "digest-mismatch", "{err}");
}
