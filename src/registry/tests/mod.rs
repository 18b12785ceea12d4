use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use base64::Engine as _;

use super::testserver::{Reply, Request, Server};
use super::*;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn manifest_body(marker: &str) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}},"layers":[],"annotations":{{"marker":"{marker}"}}}}"#
    )
}

fn index_body() -> String {
    let amd = Digest::sha256_of(manifest_body("amd64").as_bytes());
    let arm = Digest::sha256_of(manifest_body("arm64").as_bytes());
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
        {{"mediaType":"{OCI_MANIFEST}","digest":"{amd}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},
        {{"mediaType":"{OCI_MANIFEST}","digest":"{arm}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#
    )
}

/// A manifest answer with its true `Docker-Content-Digest`.
fn honest(body: &str, media_type: &str) -> Reply {
    Reply::body(200, body)
        .header("Content-Type", media_type)
        .header(
            "Docker-Content-Digest",
            &Digest::sha256_of(body.as_bytes()).to_string(),
        )
}

/// Talks plain HTTP to `host` (`insecure: true`).
fn plain_http(settings: &mut RegistrySettings, host: &str) {
    settings.hosts.insert(
        host.to_owned(),
        HostSettings {
            insecure: true,
            ..HostSettings::default()
        },
    );
}

fn settings_for(hosts: &[&Server]) -> RegistrySettings {
    let mut settings = RegistrySettings {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        retries: 2,
        // No docker config of the machine running the tests.
        docker_config: Some(PathBuf::from("/nonexistent/supplygate-test/config.json")),
        ..RegistrySettings::default()
    };
    for server in hosts {
        plain_http(&mut settings, &server.host());
    }
    settings
}

fn image(server: &Server, rest: &str) -> ImageRef {
    ImageRef::parse(&format!("{}/{rest}", server.host())).unwrap()
}

fn methods_and_paths(server: &Server) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path()))
        .collect()
}

#[tokio::test]
async fn resolves_tag_with_one_get_and_caches_it() {
    let body = manifest_body("single");
    let server = Server::start({
        let body = body.clone();
        move |_| honest(&body, OCI_MANIFEST)
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let img = image(&server, "team/app:v1");
    let resolved = registry.resolve(&img).await.unwrap();
    assert_eq!(resolved.digest, Digest::sha256_of(body.as_bytes()));
    assert_eq!(resolved.media_type, OCI_MANIFEST);
    assert!(resolved.platforms.is_empty());
    assert_eq!(resolved.tag_digest, None);
    let requests = server.requests();
    assert_eq!(
        methods_and_paths(&server),
        ["GET /v2/team/app/manifests/v1"]
    );
    let accept = requests[0].header("accept").unwrap();
    for t in media::ACCEPTED_MANIFEST_TYPES {
        assert!(accept.contains(t), "{accept}");
    }
    // Again by tag, then pinned to the digest just learnt: no new request.
    registry.resolve(&img).await.unwrap();
    let pinned = registry
        .resolve(&img.without_digest().with_digest(resolved.digest.clone()))
        .await
        .unwrap();
    assert_eq!(pinned.tag_digest, Some(resolved.digest.clone()));
    let manifest = registry
        .manifest(&img, &resolved.digest.to_string())
        .await
        .unwrap();
    assert_eq!(manifest.body, body.as_bytes());
    assert_eq!(server.requests().len(), 1);
    assert_eq!(
        registry.stats(),
        Stats {
            requests: 1,
            cache_hits: 4
        }
    );
}

#[tokio::test]
async fn resolves_index_tag_with_platforms_in_one_request() {
    let server = Server::start(|_| honest(&index_body(), OCI_INDEX)).await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let resolved = registry
        .resolve(&image(&server, "app:multi"))
        .await
        .unwrap();
    assert_eq!(resolved.media_type, OCI_INDEX);
    let platforms: Vec<String> = resolved
        .platforms
        .iter()
        .map(|p| {
            format!(
                "{}/{}/{}",
                p.os,
                p.architecture,
                p.variant.as_deref().unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64/-", "linux/arm64/v8"]);
    assert_eq!(
        resolved.platforms[1].digest,
        Digest::sha256_of(manifest_body("arm64").as_bytes())
    );
    assert_eq!(registry.stats().requests, 1);
}

#[tokio::test]
async fn denies_body_that_does_not_match_announced_digest() {
    let announced = Digest::sha256_of(b"what the registry claims");
    let server = Server::start(move |_| {
        Reply::body(200, manifest_body("swapped"))
            .header("Content-Type", OCI_MANIFEST)
            .header("Docker-Content-Digest", &announced.to_string())
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let err = registry
        .resolve(&image(&server, "app:v1"))
        .await
        .unwrap_err();
    match &err {
        RegistryError::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(*expected, Digest::sha256_of(b"what the registry claims"));
            assert_eq!(
                *actual,
                Digest::sha256_of(manifest_body("swapped").as_bytes())
            );
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert_eq!(err.code(), "digest-mismatch");
}

#[tokio::test]
async fn denies_body_that_does_not_match_requested_digest() {
    // The registry serves another manifest under the pinned digest and announces the
    // pinned digest, as a tampering proxy would.
    let wanted = Digest::sha256_of(manifest_body("genuine").as_bytes());
    let server = Server::start({
        let wanted = wanted.clone();
        move |_| {
            Reply::body(200, manifest_body("tampered"))
                .header("Content-Type", OCI_MANIFEST)
                .header("Docker-Content-Digest", &wanted.to_string())
        }
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let pinned = image(&server, &format!("app@{wanted}"));
    let err = registry.resolve(&pinned).await.unwrap_err();
    let RegistryError::DigestMismatch {
        expected, actual, ..
    } = err
    else {
        panic!("expected a digest mismatch, got {err:?}");
    };
    assert_eq!(expected, wanted);
    assert_eq!(
        actual,
        Digest::sha256_of(manifest_body("tampered").as_bytes())
    );
    assert_eq!(
        methods_and_paths(&server),
        [format!("GET /v2/app/manifests/{wanted}")]
    );
}

#[tokio::test]
async fn denies_pinned_body_that_does_not_match_announced_digest() {
    let body = manifest_body("genuine");
    let wanted = Digest::sha256_of(body.as_bytes());
    let server = Server::start(move |_| {
        Reply::body(200, body.clone()).header(
            "Docker-Content-Digest",
            &Digest::sha256_of(b"other").to_string(),
        )
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let err = registry
        .resolve(&image(&server, &format!("app@{wanted}")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "digest-mismatch");
}

#[tokio::test]
async fn rejects_garbage_body_and_bad_digest_header_as_invalid_response() {
    let server = Server::start(|r: &Request| {
        if r.path().ends_with("/garbage") {
            Reply::body(200, "<html>maintenance</html>").header("Content-Type", "text/html")
        } else {
            Reply::body(200, manifest_body("x")).header("Docker-Content-Digest", "md5:abc")
        }
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let err = registry
        .resolve(&image(&server, "app:garbage"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid-registry-response", "{err}");
    let err = registry
        .resolve(&image(&server, "app:bad"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid-registry-response", "{err}");
    assert!(err.to_string().contains("Docker-Content-Digest"));
}

#[tokio::test]
async fn a_json_parse_error_of_an_answer_is_explained_before_its_cause() {
    let server =
        Server::start(|_: &Request| honest("{\"schemaVersion\": 2, \"config\": ", OCI_MANIFEST))
            .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let app = image(&server, "app:v1");
    let err = registry.resolve(&app).await.unwrap_err();
    assert_eq!(err.code(), "invalid-registry-response", "{err}");
    // The JSON reader's error is the typed source, said once: by the chain, not the message.
    let json = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<serde_json::Error>());
    assert!(json.is_some_and(serde_json::Error::is_eof), "{err:?}");
    assert!(!err.to_string().contains("EOF while parsing"), "{err}");
    let raw = crate::errors::Chain(&err).to_string();
    assert!(raw.contains("EOF while parsing"), "{raw}");
    let finding = crate::gate::registry_finding(&app, &err);
    assert_eq!(
        finding.message,
        format!(
            "a JSON document (a registry's answer or a file) does not have the shape \
             expected here; the cause: {raw}"
        )
    );
    let hint = finding.hint.unwrap();
    assert!(
        hint.starts_with("check that the file is the kind the setting names, or that the host is the registry itself"),
        "{hint}"
    );
}

#[test]
fn a_tls_error_from_rustls_is_explained_before_its_cause() {
    let app = ImageRef::parse("registry.example/app:v1").unwrap();
    // The transport error is the typed cause, not part of the message.
    let transport = std::io::Error::other(
        "error sending request for url (https://registry.example/v2/): client error (Connect): \
         invalid peer certificate: UnknownIssuer",
    );
    let err = RegistryError::unavailable(app.to_string(), "the request failed").because(transport);
    assert_eq!(
        err.to_string(),
        "registry.example/app:v1: the request failed"
    );
    let finding = crate::gate::registry_finding(&app, &err);
    assert_eq!(finding.code.as_str(), "registry-unavailable");
    assert!(
        finding
            .message
            .starts_with("the registry's TLS certificate is not trusted on this machine"),
        "{}",
        finding.message
    );
    assert!(
        finding.message.ends_with(
            "; the cause: registry.example/app:v1: the request failed: error sending request for \
             url (https://registry.example/v2/): client error (Connect): invalid peer \
             certificate: UnknownIssuer"
        ),
        "{}",
        finding.message
    );
    assert!(finding
        .hint
        .unwrap()
        .starts_with("install the registry's CA certificate in the system trust store"));
    // An image whose name only looks like a cause is not explained.
    let app = ImageRef::parse("registry.example/tls-handshake:v1").unwrap();
    let err = RegistryError::unavailable(app.to_string(), "HTTP 503 after 2 retries");
    assert_eq!(
        crate::gate::registry_finding(&app, &err).message,
        err.to_string()
    );
}

#[tokio::test]
async fn refuses_oversized_manifest_with_and_without_content_length() {
    let big = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{}},"pad":"{}"}}"#,
        "x".repeat(10_000)
    );
    let server = Server::start(move |r: &Request| {
        if r.path().ends_with("/sized") {
            Reply::body(200, big.clone())
        } else {
            Reply::Unsized {
                status: 200,
                headers: Vec::new(),
                body: big.clone().into_bytes(),
            }
        }
    })
    .await;
    let settings = RegistrySettings {
        max_manifest_bytes: 4096,
        ..settings_for(&[&server])
    };
    let registry = Registry::new(settings).unwrap();
    for tag in ["sized", "unsized"] {
        let err = registry
            .resolve(&image(&server, &format!("app:{tag}")))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::TooLarge { limit: 4096, .. }),
            "{tag}: {err}"
        );
    }
    // Too large is an answer, not a transient failure: no retries.
    assert_eq!(registry.stats().requests, 2);
}

#[tokio::test]
async fn retries_429_honouring_retry_after_then_succeeds() {
    let calls = Arc::new(AtomicUsize::new(0));
    let body = manifest_body("throttled");
    let server = Server::start({
        let calls = Arc::clone(&calls);
        let body = body.clone();
        move |_| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::status(429).header("Retry-After", "1")
            } else {
                honest(&body, OCI_MANIFEST)
            }
        }
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let resolved = registry.resolve(&image(&server, "app:v1")).await.unwrap();
    assert_eq!(resolved.digest, Digest::sha256_of(body.as_bytes()));
    assert_eq!(server.requests().len(), 2);
    assert_eq!(registry.stats().requests, 2);
}

#[tokio::test]
async fn gives_up_on_503_after_the_configured_retries() {
    let server = Server::start(|_| Reply::status(503).header("Retry-After", "0")).await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let err = registry
        .resolve(&image(&server, "app:v1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "registry-unavailable");
    assert!(err.to_string().contains("503"), "{err}");
    assert!(err.to_string().contains("after 2 retries"), "{err}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn hanging_response_times_out_after_retries() {
    let server = Server::start(|_| Reply::Hang).await;
    let settings = RegistrySettings {
        request_timeout: Duration::from_millis(300),
        retries: 1,
        ..settings_for(&[&server])
    };
    let registry = Registry::new(settings).unwrap();
    let err = registry
        .resolve(&image(&server, "app:v1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Timeout { seconds: 1, .. }),
        "{err}"
    );
    assert_eq!(registry.stats().requests, 2);
}

/// Issue 15's adversarial suite: a body that trickles (a byte every 20ms, so no single
/// read ever waits long) still has to arrive whole within the request timeout.
#[tokio::test]
async fn trickling_body_times_out_as_a_whole() {
    let server = Server::start(|_| {
        Reply::Trickle(
            Duration::from_millis(20),
            Box::new(honest(&manifest_body("slow"), OCI_MANIFEST)),
        )
    })
    .await;
    let settings = RegistrySettings {
        request_timeout: Duration::from_millis(300),
        retries: 0,
        ..settings_for(&[&server])
    };
    let registry = Registry::new(settings).unwrap();
    let err = registry
        .resolve(&image(&server, "app:v1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "registry-timeout", "{err}");
}

#[tokio::test]
async fn refused_connection_is_unavailable_after_retries() {
    // Bound but not listening: connections are refused, and no other test can take the
    // port while this one runs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let host = format!("127.0.0.1:{port}");
    let mut settings = RegistrySettings {
        retries: 1,
        ..RegistrySettings::default()
    };
    plain_http(&mut settings, &host);
    let registry = Registry::new(settings).unwrap();
    let img = ImageRef::parse(&format!("{host}/app:v1")).unwrap();
    let err = registry.resolve(&img).await.unwrap_err();
    assert_eq!(err.code(), "registry-unavailable");
    assert!(err.to_string().contains("after 1 retry"), "{err}");
    // The transport error is the typed source (a connect error), not text in the message.
    let transport =
        std::error::Error::source(&err).and_then(|s| s.downcast_ref::<reqwest::Error>());
    assert!(transport.is_some_and(reqwest::Error::is_connect), "{err:?}");
    assert!(!err.to_string().contains("error sending request"), "{err}");
    assert!(
        crate::errors::Chain(&err)
            .to_string()
            .contains("error sending request"),
        "{err:?}"
    );
    assert_eq!(registry.stats().requests, 2);
}

#[tokio::test]
async fn a_host_the_url_parser_would_rewrite_is_not_contacted() {
    let server = Server::start(|_| Reply::status(404)).await;
    let port = server.host().rsplit_once(':').unwrap().1.to_owned();
    for host in [format!("0x7f.1:{port}"), format!("127.000.0.1:{port}")] {
        let mut settings = RegistrySettings::default();
        settings.hosts.insert(
            host.clone(),
            HostSettings {
                insecure: true,
                ..HostSettings::default()
            },
        );
        let registry = Registry::new(settings).unwrap();
        let img = ImageRef::parse(&format!("{host}/app:v1")).unwrap();
        let err = registry.resolve(&img).await.unwrap_err();
        assert_eq!(err.code(), "registry-not-allowed", "{host}: {err}");
        assert!(
            err.to_string()
                .contains(&format!("contacted as `127.0.0.1:{port}`")),
            "{err}"
        );
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn tls_to_a_plain_http_registry_is_not_allowed_at_once_with_a_hint() {
    let server = Server::start(|_| Reply::status(404)).await;
    let settings = RegistrySettings {
        retries: 3,
        ..RegistrySettings::default()
    };
    let registry = Registry::new(settings).unwrap();
    let err = registry
        .resolve(&image(&server, "app:v1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "registry-not-allowed");
    assert!(err.to_string().contains("set `insecure: true`"), "{err}");
    // No retries: a plain-HTTP server does not learn TLS.
    assert_eq!(registry.stats().requests, 1);
}

#[tokio::test]
async fn maps_404_and_401_without_credentials() {
    let server = Server::start(|r: &Request| {
        if r.path().contains("/private/") {
            Reply::status(401).header("WWW-Authenticate", r#"Basic realm="registry""#)
        } else {
            Reply::status(404)
        }
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let err = registry
        .resolve(&image(&server, "app:gone"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "image-not-found");
    let err = registry
        .resolve(&image(&server, "private/app:v1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Unauthorized { status: 401, .. }),
        "{err}"
    );
    // No credentials to offer: the 401 is final, not sent again.
    assert_eq!(server.requests().len(), 2);
}

fn demo_layouts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/layouts")
}

fn layout_settings(host: &str, layout: PathBuf) -> RegistrySettings {
    let mut settings = RegistrySettings {
        offline: true,
        ..RegistrySettings::default()
    };
    settings.hosts.insert(
        host.to_owned(),
        HostSettings {
            layout: Some(layout),
            ..HostSettings::default()
        },
    );
    settings
}

const MULTIARCH: &str = "sha256:7609b07e75220bf3b9b97aebadf80f96ff93e9bdef133afc6ebdf25c66d85c70";
const AMD64: &str = "sha256:6671f7d080fc2a6f25df4aa1c50c218ef079d2e7c5f95568427cbb083c8251b8";
const ARM64: &str = "sha256:4fda8d2584a49b7e717560ae8b7c4939e847c56516a00e718f5b7a602ebf3d3b";

mod auth;
mod referrers;
mod routing;
