#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::*;

/// A registry that wants `Bearer tok-<repository>` tokens from its own `/token` realm,
/// which wants `Basic` credentials `alice:s3cret`.
async fn bearer_registry() -> Server {
    let expected_basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
    );
    Server::start(move |r: &Request| {
        let host = r.header("host").unwrap_or_default().to_owned();
        if r.path() == "/token" {
            if r.header("authorization") != Some(expected_basic.as_str()) {
                return Reply::status(401);
            }
            let scope = r
                .target
                .split("scope=")
                .nth(1)
                .unwrap_or_default()
                .replace("%3A", ":")
                .replace("%2F", "/");
            let repo = scope
                .trim_start_matches("repository:")
                .trim_end_matches(":pull")
                .to_owned();
            return Reply::body(200, format!(r#"{{"token":"tok-{repo}","expires_in":300}}"#));
        }
        let repo = r
            .path()
            .trim_start_matches("/v2/")
            .split("/manifests/")
            .next()
            .unwrap_or_default()
            .to_owned();
        if r.header("authorization") == Some(format!("Bearer tok-{repo}").as_str()) {
            return honest(&manifest_body(&repo), OCI_MANIFEST);
        }
        Reply::status(401).header(
            "WWW-Authenticate",
            &format!(
                r#"Bearer realm="http://{host}/token",service="test-registry",scope="repository:{repo}:pull""#
            ),
        )
    })
    .await
}

#[tokio::test]
async fn bearer_flow_caches_token_per_scope_and_sends_basic_only_to_token_server() {
    let server = bearer_registry().await;
    let config_dir = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    std::fs::write(
        config_dir.path().join("config.json"),
        format!(
            r#"{{"auths":{{"http://{}":{{"auth":"{auth}"}}}}}}"#,
            server.host()
        ),
    )
    .unwrap();
    let settings = RegistrySettings {
        docker_config: Some(config_dir.path().join("config.json")),
        ..settings_for(&[&server])
    };
    let registry = Registry::new(settings).unwrap();

    registry
        .resolve(&image(&server, "team/a:v1"))
        .await
        .unwrap();
    assert_eq!(
        methods_and_paths(&server),
        [
            "GET /v2/team/a/manifests/v1",
            "GET /token",
            "GET /v2/team/a/manifests/v1"
        ]
    );
    let token_request = &server.requests()[1];
    assert!(token_request.target.contains("service=test-registry"));
    assert!(token_request
        .target
        .contains("scope=repository%3Ateam%2Fa%3Apull"));

    // Same scope: the cached token, one request.
    registry
        .resolve(&image(&server, "team/a:v2"))
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 4);

    // Another repository: a new token, fetched up front since the challenge is known.
    registry
        .resolve(&image(&server, "team/b:v1"))
        .await
        .unwrap();
    let all = methods_and_paths(&server);
    assert_eq!(all[4..], ["GET /token", "GET /v2/team/b/manifests/v1"]);
    assert!(server.requests()[4].target.contains("team%2Fb"));
    assert_eq!(registry.stats().requests, 6);

    // The password went to the token server only; tokens never show in Debug.
    for request in server.requests() {
        let authorization = request.header("authorization").unwrap_or_default();
        if request.path() != "/token" {
            assert!(!authorization.starts_with("Basic"), "{request:?}");
        }
    }
    let shown = format!("{registry:?}");
    assert!(
        !shown.contains("tok-team") && !shown.contains("s3cret"),
        "{shown}"
    );
}

#[tokio::test]
async fn bearer_flow_without_credentials_is_unauthorized() {
    let server = bearer_registry().await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let err = registry
        .resolve(&image(&server, "team/a:v1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Unauthorized { status: 401, .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("s3cret"));
}

#[cfg(unix)]
#[tokio::test]
async fn basic_challenge_uses_credentials_from_a_credential_helper() {
    use std::os::unix::fs::PermissionsExt as _;

    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("helper-user:helper-pw")
    );
    let server = Server::start(move |r: &Request| {
        if r.header("authorization") == Some(expected.as_str()) {
            honest(&manifest_body("basic"), OCI_MANIFEST)
        } else {
            Reply::status(401).header("WWW-Authenticate", r#"Basic realm="Registry Realm""#)
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"test"}}}}"#, server.host()),
    )
    .unwrap();
    let helper = dir.path().join("docker-credential-test");
    std::fs::write(
        &helper,
        "#!/bin/sh\nread -r host || true\n\
         echo \"{\\\"ServerURL\\\":\\\"$host\\\",\\\"Username\\\":\\\"helper-user\\\",\\\"Secret\\\":\\\"helper-pw\\\"}\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let settings = RegistrySettings {
        docker_config: Some(dir.path().join("config.json")),
        credential_helper_dir: Some(dir.path().to_path_buf()),
        ..settings_for(&[&server])
    };
    let registry = Registry::new(settings).unwrap();
    registry.resolve(&image(&server, "app:v1")).await.unwrap();
    // Later requests to the host send the credentials up front.
    registry.resolve(&image(&server, "other:v1")).await.unwrap();
    assert_eq!(registry.stats().requests, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_to_a_host_meet_its_challenge_once() {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("u:p")
    );
    let server = Server::start(move |r: &Request| {
        if r.header("authorization") == Some(expected.as_str()) {
            honest(&manifest_body(r.path()), OCI_MANIFEST)
        } else {
            Reply::status(401).header("WWW-Authenticate", r#"Basic realm="r""#)
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("u:p");
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, server.host()),
    )
    .unwrap();
    let settings = RegistrySettings {
        docker_config: Some(dir.path().join("config.json")),
        concurrency: 4,
        ..settings_for(&[&server])
    };
    let registry = Arc::new(Registry::new(settings).unwrap());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let registry = Arc::clone(&registry);
        let img = image(&server, &format!("app:v{i}"));
        tasks.spawn(async move { registry.resolve(&img).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    let refused = server
        .requests()
        .iter()
        .filter(|r| r.header("authorization").is_none())
        .count();
    assert_eq!(refused, 1);
    assert_eq!(registry.stats().requests, 13);
}

#[tokio::test]
async fn identity_token_is_exchanged_with_an_oauth2_refresh_grant() {
    let server = Server::start(|r: &Request| {
        let host = r.header("host").unwrap_or_default().to_owned();
        if r.path() == "/oauth" {
            let form = String::from_utf8_lossy(&r.body).into_owned();
            let ok = r.method == "POST"
                && form.contains("grant_type=refresh_token")
                && form.contains("refresh_token=refresh-123")
                && form.contains("scope=repository%3Aapp%3Apull")
                && r.header("authorization").is_none();
            return if ok {
                Reply::body(200, r#"{"access_token":"oauth-tok","expires_in":300}"#)
            } else {
                Reply::status(401)
            };
        }
        if r.header("authorization") == Some("Bearer oauth-tok") {
            return honest(&manifest_body("oauth"), OCI_MANIFEST);
        }
        Reply::status(401).header(
            "WWW-Authenticate",
            &format!(r#"Bearer realm="http://{host}/oauth",service="svc""#),
        )
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"refresh-123"}}}}}}"#,
            server.host()
        ),
    )
    .unwrap();
    let settings = RegistrySettings {
        docker_config: Some(dir.path().join("config.json")),
        ..settings_for(&[&server])
    };
    let registry = Registry::new(settings).unwrap();
    registry.resolve(&image(&server, "app:v1")).await.unwrap();
    assert_eq!(
        methods_and_paths(&server),
        [
            "GET /v2/app/manifests/v1",
            "POST /oauth",
            "GET /v2/app/manifests/v1"
        ]
    );
    assert!(!format!("{registry:?}").contains("refresh-123"));
}

#[tokio::test]
async fn pinned_tag_is_fetched_by_digest_and_its_tag_looked_up_with_head() {
    let pinned_body = manifest_body("old");
    let current_body = manifest_body("new");
    let server = Server::start({
        let pinned_body = pinned_body.clone();
        let current_body = current_body.clone();
        move |r: &Request| {
            if r.path().ends_with("/manifests/v1") {
                honest(&current_body, OCI_MANIFEST)
            } else if r.path().ends_with("/manifests/v2") {
                // No digest header on HEAD: the client must GET and hash.
                Reply::body(200, current_body.clone())
            } else {
                honest(&pinned_body, OCI_MANIFEST)
            }
        }
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let old = Digest::sha256_of(pinned_body.as_bytes());
    let new = Digest::sha256_of(current_body.as_bytes());
    let resolved = registry
        .resolve(&image(&server, &format!("app:v1@{old}")))
        .await
        .unwrap();
    assert_eq!(resolved.digest, old);
    assert_eq!(resolved.tag_digest, Some(new.clone()));
    let mut seen = methods_and_paths(&server);
    seen.sort();
    assert_eq!(
        seen,
        [
            format!("GET /v2/app/manifests/{old}"),
            "HEAD /v2/app/manifests/v1".to_owned()
        ]
    );

    let resolved = registry
        .resolve(&image(&server, &format!("app:v2@{old}")))
        .await
        .unwrap();
    assert_eq!(resolved.tag_digest, Some(new));
    let seen = methods_and_paths(&server);
    assert_eq!(
        seen[2..],
        ["HEAD /v2/app/manifests/v2", "GET /v2/app/manifests/v2"]
    );
}

#[tokio::test]
async fn deleted_tag_of_pinned_reference_leaves_tag_digest_empty() {
    let body = manifest_body("pinned");
    let digest = Digest::sha256_of(body.as_bytes());
    let server = Server::start(move |r: &Request| {
        if r.path().ends_with("/manifests/gone") {
            Reply::status(404)
        } else {
            honest(&body, OCI_MANIFEST)
        }
    })
    .await;
    let registry = Registry::new(settings_for(&[&server])).unwrap();
    let resolved = registry
        .resolve(&image(&server, &format!("app:gone@{digest}")))
        .await
        .unwrap();
    assert_eq!(resolved.digest, digest);
    assert_eq!(resolved.tag_digest, None);
}
