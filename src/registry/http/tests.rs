use std::time::UNIX_EPOCH;

use super::retry::*;
use super::*;

#[test]
fn parses_http_dates() {
    let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
    assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 784_111_777);
    let t = parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT").unwrap();
    assert_eq!(
        t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
        1_709_164_800
    );
    assert!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT").is_none());
    assert!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT").is_none());
}

#[test]
fn retry_after_is_seconds_or_date_and_capped() {
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
    assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
    headers.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
    assert_eq!(retry_after(&headers), Some(MAX_RETRY_WAIT));
    headers.insert(
        RETRY_AFTER,
        HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
    );
    assert_eq!(retry_after(&headers), Some(Duration::ZERO));
    headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
    assert_eq!(retry_after(&headers), None);
}

#[test]
fn backoff_grows_and_stays_capped() {
    for retried in 0..40 {
        let wait = backoff(retried);
        let full = BASE_BACKOFF
            .saturating_mul(1 << retried.min(16))
            .min(MAX_BACKOFF);
        assert!(wait >= full / 2 && wait <= full, "{retried}: {wait:?}");
    }
}

#[test]
fn finds_the_next_link_among_several() {
    let mut headers = HeaderMap::new();
    assert_eq!(next_link(&headers), None);
    headers.insert(
        reqwest::header::LINK,
        HeaderValue::from_static(
            r#"</v2/a/referrers/x?last=1>; rel="prev", </v2/a/referrers/x?n=2>; rel="next""#,
        ),
    );
    assert_eq!(next_link(&headers), Some("/v2/a/referrers/x?n=2"));
    headers.insert(
        reqwest::header::LINK,
        HeaderValue::from_static("</v2/a/referrers/x?n=3>; rel=prev"),
    );
    assert_eq!(next_link(&headers), None);
}

#[test]
fn retries_429_and_server_errors_only() {
    assert!(retryable(StatusCode::TOO_MANY_REQUESTS));
    assert!(retryable(StatusCode::SERVICE_UNAVAILABLE));
    assert!(retryable(StatusCode::BAD_GATEWAY));
    assert!(!retryable(StatusCode::NOT_IMPLEMENTED));
    assert!(!retryable(StatusCode::NOT_FOUND));
    assert!(!retryable(StatusCode::UNAUTHORIZED));
}

#[test]
fn host_bounds_also_apply_under_the_names_urls_give_their_hosts() {
    let bounded = |n| HostSettings {
        concurrency: Some(n),
        ..HostSettings::default()
    };
    let hosts = BTreeMap::from([
        ("docker.io".to_owned(), bounded(2)),
        ("ghcr.io:443".to_owned(), bounded(3)),
        ("quay.io".to_owned(), HostSettings::default()),
        ("r.example:80".to_owned(), bounded(4)),
        ("r.example".to_owned(), bounded(5)),
    ]);
    let semaphores = host_semaphores(&hosts);
    let permits = |host: &str| semaphores.get(host).map(|s| s.available_permits());
    assert_eq!(permits("docker.io"), Some(2));
    assert_eq!(permits(DOCKER_HUB_API), Some(2));
    assert!(Arc::ptr_eq(
        &semaphores["docker.io"],
        &semaphores[DOCKER_HUB_API]
    ));
    assert_eq!(permits("ghcr.io"), Some(3));
    assert_eq!(permits("quay.io"), None);
    // A host configured itself keeps its own bound.
    assert_eq!(permits("r.example"), Some(5));
    assert_eq!(permits("r.example:80"), Some(4));
}

#[test]
fn plain_http_mirror_needs_insecure_host() {
    let image = ImageRef::parse("docker.io/library/nginx:1").unwrap();
    let mut settings = RegistrySettings::default();
    settings.hosts.insert(
        "docker.io".into(),
        HostSettings {
            mirrors: vec!["http://mirror.local:5000".into()],
            ..HostSettings::default()
        },
    );
    let http = Http::new(&settings).unwrap();
    let err = http.endpoints(&image).unwrap_err();
    assert_eq!(err.code(), "registry-not-allowed");
    assert!(err.to_string().contains("insecure: true"));

    settings.hosts.insert(
        "mirror.local:5000".into(),
        HostSettings {
            insecure: true,
            ..HostSettings::default()
        },
    );
    let http = Http::new(&settings).unwrap();
    let endpoints = http.endpoints(&image).unwrap();
    let bases: Vec<String> = endpoints.iter().map(|e| e.base.to_string()).collect();
    assert_eq!(
        bases,
        ["http://mirror.local:5000/", "https://registry-1.docker.io/"]
    );
    assert_eq!(endpoints[1].credential_host, "docker.io");
}

#[test]
fn a_referrers_404_reaches_the_host_the_repository_or_the_digest_by_its_body() {
    let json = Some("application/json; charset=utf-8");
    for (content_type, body, scope) in [
        (
            Some("text/plain; charset=utf-8"),
            "404 page not found\n",
            NotFoundScope::Host,
        ),
        (None, "", NotFoundScope::Host),
        // An HTML page (a proxy's error page for one request) is about that digest only:
        // red-team, it must not hide the API-only referrers of the host's other digests.
        (
            Some("text/html"),
            r#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#,
            NotFoundScope::Digest,
        ),
        (
            Some("text/html; charset=utf-8"),
            "<html><body>404 Not Found</body></html>",
            NotFoundScope::Digest,
        ),
        (Some("text/html"), "", NotFoundScope::Host),
        (
            json,
            r#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#,
            NotFoundScope::Repository,
        ),
        (
            json,
            r#"{"errors":[{"code":"unsupported"}]}"#,
            NotFoundScope::Repository,
        ),
        (
            json,
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#,
            NotFoundScope::Digest,
        ),
        (
            json,
            r#"{"errors":[{"code":"NAME_UNKNOWN"},{"code":"MANIFEST_UNKNOWN"}]}"#,
            NotFoundScope::Digest,
        ),
        (
            json,
            r#"{"errors":[{"code":"NAME_UNKNOWN"},{"code":"UNSUPPORTED"}]}"#,
            NotFoundScope::Repository,
        ),
        // Harbor's proxy cache answers NOT_FOUND for a digest it has not pulled yet: about
        // that digest, never the repository (red-team: a repository-wide memory hid another
        // digest's referrers from a user policy).
        (
            json,
            r#"{"errors":[{"code":"NOT_FOUND"}]}"#,
            NotFoundScope::Digest,
        ),
        (
            json,
            r#"{"errors":[{"code":"DENIED"}]}"#,
            NotFoundScope::Digest,
        ),
        (
            json,
            r#"{"errors":[{"code":"SOMETHING_NEW"}]}"#,
            NotFoundScope::Digest,
        ),
        (
            json,
            r#"{"errors":[{"code":"NAME_UNKNOWN"},{"code":"NOT_FOUND"}]}"#,
            NotFoundScope::Digest,
        ),
        (json, r#"{"errors":[]}"#, NotFoundScope::Digest),
        (json, "{}", NotFoundScope::Digest),
        (json, "not json", NotFoundScope::Digest),
    ] {
        assert_eq!(
            NotFoundScope::of(content_type, body.as_bytes()),
            scope,
            "{content_type:?} {body}"
        );
    }
}
