use super::*;

#[test]
fn manifest_reference_accepts_tags_and_digests_only() {
    assert_eq!(
        Reference::parse("v1.2_3-x"),
        Some(Reference::Tag("v1.2_3-x".into()))
    );
    assert!(matches!(
        Reference::parse(AMD64),
        Some(Reference::Digest(_))
    ));
    assert_eq!(Reference::parse("../../etc"), None);
    assert_eq!(Reference::parse(".hidden"), None);
    assert_eq!(Reference::parse(""), None);
    assert_eq!(Reference::parse(&"a".repeat(129)), None);
}

const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// An index listing one referrer of artifact type `BUNDLE` per digest.
fn referrers_index(referrers: &[&Digest]) -> String {
    let entries: Vec<String> = referrers
        .iter()
        .map(|d| {
            format!(
                r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":300,"artifactType":"{BUNDLE}","annotations":{{"k":"v"}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        entries.join(",")
    )
}

#[tokio::test]
async fn falls_back_to_the_referrers_tag_and_remembers_a_host_without_the_api() {
    let signed = Digest::sha256_of(b"signed image");
    let unsigned = Digest::sha256_of(b"unsigned image");
    let referrer = Digest::sha256_of(b"a bundle manifest");
    let index = referrers_index(&[&referrer]);
    let tag = signed.tag_prefix();
    let server = Server::start({
        let tag_path = format!("/v2/app/manifests/{tag}");
        move |r: &Request| {
            if r.path().contains("/referrers/") {
                // What Debian's docker-registry 2.8 answers: its router's 404.
                Reply::body(404, "404 page not found\n")
                    .header("Content-Type", "text/plain; charset=utf-8")
            } else if r.path() == tag_path {
                honest(&index, OCI_INDEX)
            } else {
                Reply::body(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#)
                    .header("Content-Type", "application/json")
            }
        }
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let img = image(&server, "app:v1");
    let found = registry.referrers(&img, &signed).await.unwrap();
    assert_eq!(
        found,
        [Referrer {
            descriptor: Descriptor {
                media_type: OCI_MANIFEST.to_owned(),
                digest: referrer,
                size: 300,
                artifact_type: Some(BUNDLE.to_owned()),
                annotations: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
            },
            source: ReferrerSource::Tag { tag: tag.clone() },
        }]
    );
    assert!(registry
        .referrers(&img, &unsigned)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        methods_and_paths(&server),
        [
            format!("GET /v2/app/referrers/{signed}"),
            format!("GET /v2/app/manifests/{tag}"),
            // The host has no API: the second digest goes to its tag at once.
            format!("GET /v2/app/manifests/{}", unsigned.tag_prefix()),
        ]
    );
    registry.referrers(&img, &signed).await.unwrap();
    assert_eq!(registry.stats().requests, 3);
}

#[tokio::test]
async fn registry_error_404_from_the_referrers_api_is_remembered_for_the_repository_only() {
    let server = Server::start(|_: &Request| {
        Reply::body(404, r#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#)
            .header("Content-Type", "application/json")
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let digests: Vec<Digest> = [b"one", b"two", b"six"]
        .iter()
        .map(|seed| Digest::sha256_of(*seed))
        .collect();
    for repo in ["app:v1", "other:v1"] {
        let img = image(&server, repo);
        for digest in &digests {
            assert!(registry.referrers(&img, digest).await.unwrap().is_empty());
        }
    }
    let calls = methods_and_paths(&server);
    let referrers: Vec<&String> = calls.iter().filter(|p| p.contains("/referrers/")).collect();
    // The registry's error may be about the repository: asked once per repository, not once
    // per host; every digest's own referrers tag is still asked.
    assert_eq!(
        referrers,
        [
            &format!("GET /v2/app/referrers/{}", digests[0]),
            &format!("GET /v2/other/referrers/{}", digests[0]),
        ]
    );
    let tags = calls
        .iter()
        .filter(|p| p.contains("/manifests/sha256-"))
        .count();
    assert_eq!((calls.len(), tags), (2 + 6, 6));
}

#[tokio::test]
async fn a_huge_json_404_from_the_referrers_api_is_read_in_part_and_remembered_for_nothing() {
    // 1 MiB of padding before the code: only the first KiBs are read, which do not parse, so
    // the 404 is taken as about this digest; the lookup falls back to the tag, never fails.
    let body = format!(
        r#"{{"padding":"{}","errors":[{{"code":"NAME_UNKNOWN"}}]}}"#,
        "x".repeat(1 << 20)
    );
    let server = Server::start(move |r: &Request| {
        if r.path().contains("/referrers/") {
            Reply::body(404, body.clone()).header("Content-Type", "application/json")
        } else {
            Reply::body(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#)
                .header("Content-Type", "application/json")
        }
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let img = image(&server, "app:v1");
    for seed in [b"one", b"two"] {
        let digest = Digest::sha256_of(seed);
        assert!(registry.referrers(&img, &digest).await.unwrap().is_empty());
    }
    let referrers_calls = methods_and_paths(&server)
        .iter()
        .filter(|p| p.contains("/referrers/"))
        .count();
    assert_eq!(referrers_calls, 2);
}

#[tokio::test]
async fn a_404_about_one_digest_or_an_empty_list_is_not_remembered_for_the_next_digest() {
    let missing = Digest::sha256_of(b"subject the registry does not know");
    let empty = Digest::sha256_of(b"subject with no referrers");
    let signed = Digest::sha256_of(b"subject with a bundle");
    let bundle = Digest::sha256_of(b"a bundle manifest");
    let index = referrers_index(&[&bundle]);
    let server = Server::start({
        let (missing, empty) = (missing.to_string(), empty.to_string());
        move |r: &Request| {
            let path = r.path();
            if path.ends_with(&format!("/referrers/{missing}")) {
                // What some registries with the API answer for a subject they do not hold.
                Reply::body(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#)
                    .header("Content-Type", "application/json")
            } else if path.ends_with(&format!("/referrers/{empty}")) {
                Reply::body(200, referrers_index(&[])).header("Content-Type", OCI_INDEX)
            } else if path.contains("/referrers/") {
                Reply::body(200, index.clone()).header("Content-Type", OCI_INDEX)
            } else {
                Reply::body(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#)
                    .header("Content-Type", "application/json")
            }
        }
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let img = image(&server, "app:v1");
    for digest in [&missing, &empty] {
        assert!(registry.referrers(&img, digest).await.unwrap().is_empty());
    }
    // The next digest of the same repository is still asked of the API, and its bundle found.
    let found = registry.referrers(&img, &signed).await.unwrap();
    let listed: Vec<(&Digest, &ReferrerSource)> = found
        .iter()
        .map(|r| (&r.descriptor.digest, &r.source))
        .collect();
    assert_eq!(listed, [(&bundle, &ReferrerSource::Api)]);
    assert_eq!(
        methods_and_paths(&server),
        [
            format!("GET /v2/app/referrers/{missing}"),
            format!("GET /v2/app/manifests/{}", missing.tag_prefix()),
            format!("GET /v2/app/referrers/{empty}"),
            format!("GET /v2/app/referrers/{signed}"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_ask_the_referrers_api_once_per_repository_that_lacks_it() {
    let server = Server::start(|r: &Request| {
        if r.path().contains("/referrers/") {
            Reply::body(404, r#"{"errors":[{"code":"UNSUPPORTED"}]}"#)
                .header("Content-Type", "application/json")
        } else {
            Reply::body(404, r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#)
                .header("Content-Type", "application/json")
        }
    })
    .await;
    let registry = Arc::new(Registry::new(settings_for(&[&server])).unwrap());
    let mut tasks = tokio::task::JoinSet::new();
    for repo in ["a:v1", "b:v1", "c:v1"] {
        for i in 0..8u8 {
            let (registry, img) = (Arc::clone(&registry), image(&server, repo));
            tasks.spawn(async move {
                registry
                    .referrers(&img, &Digest::sha256_of(&[i]))
                    .await
                    .map(|found| found.len())
            });
        }
    }
    while let Some(found) = tasks.join_next().await {
        assert_eq!(found.unwrap().unwrap(), 0);
    }
    let calls = methods_and_paths(&server);
    let mut referrers: Vec<String> = calls
        .iter()
        .filter(|p| p.contains("/referrers/"))
        .map(|p| p.split("/referrers/").next().unwrap_or_default().to_owned())
        .collect();
    referrers.sort();
    assert_eq!(referrers, ["GET /v2/a", "GET /v2/b", "GET /v2/c"]);
    assert_eq!(calls.len(), 3 + 3 * 8);
}

#[tokio::test]
async fn reads_every_page_of_a_referrers_answer_and_refuses_non_index_answers() {
    let a = Digest::sha256_of(b"referrer a");
    let b = Digest::sha256_of(b"referrer b");
    let subject = Digest::sha256_of(b"subject");
    let (page1, page2) = (referrers_index(&[&a]), referrers_index(&[&b]));
    let server = Server::start(move |r: &Request| {
        if r.path().starts_with("/v2/paged/") && r.target.ends_with("?page=2") {
            Reply::body(200, page2.clone()).header("Content-Type", OCI_INDEX)
        } else if r.path().starts_with("/v2/paged/") {
            Reply::body(200, page1.clone())
                .header("Content-Type", OCI_INDEX)
                .header("Link", r#"<?page=2>; rel="next""#)
        } else if r.path().starts_with("/v2/elsewhere/") {
            Reply::body(200, page1.clone())
                .header("Content-Type", OCI_INDEX)
                .header("Link", r#"<http://127.0.0.1:9/x>; rel="next""#)
        } else {
            honest(&manifest_body("not an index"), OCI_MANIFEST)
        }
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let found = registry
        .referrers(&image(&server, "paged:v1"), &subject)
        .await
        .unwrap();
    let digests: Vec<&Digest> = found.iter().map(|r| &r.descriptor.digest).collect();
    assert_eq!(digests, [&a, &b]);
    assert!(found.iter().all(|r| r.source == ReferrerSource::Api));

    let err = registry
        .referrers(&image(&server, "elsewhere:v1"), &subject)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another origin"), "{err}");
    let err = registry
        .referrers(&image(&server, "manifest:v1"), &subject)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid-registry-response");
    assert!(
        err.to_string().contains("expected an OCI image index"),
        "{err}"
    );
}

#[tokio::test]
async fn referrers_api_server_error_fails_closed_without_fallback() {
    let server = Server::start(|_: &Request| Reply::status(502)).await;
    let mut settings = settings_for(&[&server]);
    settings.retries = 0;
    let registry = Registry::new(settings).unwrap();
    let err = registry
        .referrers(&image(&server, "app:v1"), &Digest::sha256_of(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "registry-unavailable", "{err}");
    assert_eq!(methods_and_paths(&server).len(), 1);
}

#[tokio::test]
async fn layout_lists_manifests_whose_subject_is_the_digest() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(
        dir.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let store = |body: &str| {
        let digest = Digest::sha256_of(body.as_bytes());
        std::fs::write(blobs.join(digest.hex()), body).unwrap();
        digest
    };
    let subject_body = manifest_body("image");
    let subject = store(&subject_body);
    let referrer_body = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"{BUNDLE}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}},"layers":[],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":{}}},"annotations":{{"a":"b"}}}}"#,
        subject_body.len()
    );
    let referrer = store(&referrer_body);
    let tagged = Digest::sha256_of(b"listed by the referrers tag only");
    let tag_index = store(&referrers_index(&[&tagged]));
    std::fs::write(
        dir.path().join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":1,"annotations":{{"org.opencontainers.image.ref.name":"v1"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{referrer}","size":1}},
            {{"mediaType":"{OCI_INDEX}","digest":"{tag_index}","size":1,"annotations":{{"org.opencontainers.image.ref.name":"{}"}}}}]}}"#,
            subject.tag_prefix()
        ),
    )
    .unwrap();
    let registry = Registry::new(layout_settings("r.example", dir.path().to_path_buf())).unwrap();
    let img = ImageRef::parse("r.example/app:v1").unwrap();
    let found = registry.referrers(&img, &subject).await.unwrap();
    let seen: Vec<(&Digest, &ReferrerSource, Option<&str>)> = found
        .iter()
        .map(|r| {
            (
                &r.descriptor.digest,
                &r.source,
                r.descriptor.artifact_type.as_deref(),
            )
        })
        .collect();
    let tag = ReferrerSource::Tag {
        tag: subject.tag_prefix(),
    };
    assert_eq!(
        seen,
        [
            (&tagged, &tag, Some(BUNDLE)),
            (&referrer, &ReferrerSource::Api, Some(BUNDLE)),
        ]
    );
    assert_eq!(found[1].descriptor.annotations["a"], "b");
    let other = Digest::sha256_of(b"nothing attached");
    assert!(registry.referrers(&img, &other).await.unwrap().is_empty());
    assert_eq!(registry.stats().requests, 0);
}

#[test]
fn image_manifest_reads_layers_annotations_and_subject() {
    let subject = Digest::sha256_of(b"s");
    let body = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{subject}","size":2}},
        "layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{subject}","size":7,"annotations":{{"dev.cosignproject.cosign/signature":"c2ln"}}}}],
        "subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":9}}}}"#
    );
    let manifest = Manifest {
        digest: Digest::sha256_of(body.as_bytes()),
        media_type: OCI_MANIFEST.to_owned(),
        body: body.into_bytes(),
    };
    let img = ImageRef::parse("r.example/app:v1").unwrap();
    let parsed = manifest.image_manifest(&img).unwrap();
    assert_eq!(parsed.layers.len(), 1);
    assert_eq!(parsed.layers[0].size, 7);
    assert_eq!(
        parsed.layers[0].annotations["dev.cosignproject.cosign/signature"],
        "c2ln"
    );
    assert_eq!(parsed.subject.unwrap().digest, subject);
    assert_eq!(
        parsed
            .artifact_type
            .as_deref()
            .unwrap_or(&parsed.config.media_type),
        "application/vnd.oci.image.config.v1+json"
    );

    let index = Manifest {
        digest: Digest::sha256_of(index_body().as_bytes()),
        media_type: OCI_INDEX.to_owned(),
        body: index_body().into_bytes(),
    };
    let err = index.image_manifest(&img).unwrap_err();
    assert_eq!(err.code(), "invalid-registry-response");
    let bad_layer = Manifest {
        body: br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:1","size":1}}"#
            .to_vec(),
        ..manifest
    };
    assert!(bad_layer
        .image_manifest(&img)
        .unwrap_err()
        .to_string()
        .contains("invalid digest"));
}

#[tokio::test]
async fn replays_a_recorded_store_without_a_request() {
    let index = index_body();
    let blob = b"signature payload".to_vec();
    let blob_digest = Digest::sha256_of(&blob);
    let server = Server::start({
        let (index, blob) = (index.clone(), blob.clone());
        move |r: &Request| match r.path() {
            "/v2/team/app/manifests/v1" => honest(&index, OCI_INDEX),
            p if p.starts_with("/v2/team/app/blobs/") => Reply::body(200, blob.clone()),
            _ => Reply::status(404),
        }
    })
    .await;
    let settings = settings_for(&[&server]);
    let online = Registry::new(settings.clone()).unwrap().with_recorder();
    let img = image(&server, "team/app:v1");
    let resolved = online.resolve(&img).await.unwrap();
    assert_eq!(online.blob(&img, &blob_digest, 1024).await.unwrap(), blob);
    let missing = image(&server, "team/app:gone");
    assert_eq!(
        online.resolve(&missing).await.unwrap_err().code(),
        "image-not-found"
    );
    let store = online.take_recording();
    // The "not found" answer is kept apart: a lock leaves it out, the cache may keep it.
    assert!(store.tag_missing(&missing, "gone"));
    let before = server.requests().len();

    let replaying = Registry::replaying(settings.clone(), Arc::new(store.clone())).unwrap();
    assert_eq!(replaying.resolve(&img).await.unwrap(), resolved);
    assert_eq!(
        replaying.blob(&img, &blob_digest, 1024).await.unwrap(),
        blob
    );
    assert_eq!(
        replaying.tag_digest(&img, "v1").await.unwrap(),
        resolved.digest
    );
    // Absent from the store: not found (as when it was recorded), never a request.
    assert_eq!(
        replaying.resolve(&missing).await.unwrap_err().code(),
        "image-not-found"
    );
    assert_eq!(
        replaying
            .blob(&img, &Digest::sha256_of(b"other"), 1024)
            .await
            .unwrap_err()
            .code(),
        "image-not-found"
    );
    assert_eq!(
        replaying
            .blob(&img, &blob_digest, 4)
            .await
            .unwrap_err()
            .code(),
        "manifest-too-large"
    );
    assert_eq!(server.requests().len(), before);
    assert_eq!(replaying.stats().requests, 0);

    // An object edited in the store is a digest mismatch, for manifests and blobs alike.
    let mut edited = store;
    for object in edited.objects.values_mut() {
        object.data.push(b' ');
    }
    let replaying = Registry::replaying(settings, Arc::new(edited)).unwrap();
    assert_eq!(
        replaying.resolve(&img).await.unwrap_err().code(),
        "digest-mismatch"
    );
    assert_eq!(
        replaying
            .blob(&img, &blob_digest, 1024)
            .await
            .unwrap_err()
            .code(),
        "digest-mismatch"
    );
    assert_eq!(server.requests().len(), before);
}
