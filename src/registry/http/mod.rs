//! Stage (3): the OCI distribution API over HTTP: manifest GET/HEAD, blob GET (following
//! storage redirects), with authentication, retries, timeouts, size limits and the
//! concurrency limits (global and per host).
//!
//! One logical request goes: (authenticate up front when the host's challenge is known) ->
//! attempt, retried with backoff on 429/5xx/connection errors/timeouts -> on a 401 with a
//! challenge, authenticate and send once more. Every HTTP request, token requests and retries
//! included, is counted.
//!
//! Each HTTP request holds, while it is in flight (headers and body), a permit of the host it
//! is sent to, when that host has a `concurrency` of its own, and a permit of the global
//! `network.concurrency`: the host's first, so that a request queued behind a busy host holds
//! no global permit that requests to other hosts could use (and, always in this order, no two
//! requests can wait for each other's permits). Backoff and `Retry-After` waits hold neither.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode, Url};
use tokio::sync::Semaphore;

use super::auth::{parse_challenge, AuthState, Challenge, TokenAnswer};
use super::credentials::{Credential, CredentialStore, Secret};
use super::media::{bare_content_type, manifest_accept, OCI_IMAGE_INDEX_MEDIA_TYPE};
use super::{HostSettings, RegistryError, RegistrySettings};
use crate::reference::{Digest, ImageRef, DOCKER_HUB, DOCKER_HUB_API};

mod retry;

/// Blob redirects followed at most (registries redirect blobs to their storage).
const MAX_REDIRECTS: usize = 5;
/// Largest token server answer read.
const MAX_TOKEN_BYTES: usize = 1024 * 1024;
/// Docker's header with the manifest digest.
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";
/// Pages of one referrers answer followed at most (`Link: <…>; rel="next"`).
const MAX_REFERRERS_PAGES: usize = 8;

/// One place requests for an image go: a mirror or the registry itself.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `https://ghcr.io/`, `http://127.0.0.1:5000/`.
    base: Url,
    /// `host[:port]`: the key of challenges and tokens.
    host: String,
    /// The name credentials are stored under (`docker.io` for Docker Hub's API host).
    credential_host: String,
}

impl Endpoint {
    /// `host[:port]` of this endpoint.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }
}

/// A response, its body read (within the limit) when it is a success.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Fetched {
    /// A header as text, if present and visible ASCII.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The announced `Docker-Content-Digest`; `Err` when present but not a digest.
    pub(crate) fn announced_digest(&self) -> Result<Option<Digest>, String> {
        match self.headers.get(DOCKER_CONTENT_DIGEST) {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .ok()
                .and_then(|v| Digest::parse(v.trim()).ok())
                .map(Some)
                .ok_or_else(|| "`Docker-Content-Digest` header is not a valid digest".to_owned()),
        }
    }
}

/// What a referrers API request found.
#[derive(Debug)]
pub(crate) enum ReferrersAnswer {
    /// The API answered: each page's body and `Content-Type`, in order.
    Pages(Vec<(Vec<u8>, Option<String>)>),
    /// A 404: no referrers API at this endpoint (OCI distribution 1.1 says so), for as far
    /// as `scope` says.
    Unsupported {
        /// How far the answer reaches, from its body.
        scope: NotFoundScope,
    },
}

/// How far a 404 from the referrers API reaches. OCI distribution 1.1: a registry with the
/// API answers 200 (an empty list when nothing refers to the digest) for a repository it
/// knows, so a 404 says the API is missing, but a registry's own error may be about less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotFoundScope {
    /// A router's plain-text "404 page not found" (or an empty 404: no distribution error
    /// body), which is what a registry without the API sends: the whole host has no API.
    Host,
    /// A distribution error body whose codes are all `NAME_UNKNOWN` or `UNSUPPORTED`: no API
    /// for this repository.
    Repository,
    /// Anything else: an error about the digest (`MANIFEST_UNKNOWN`), another or unknown code
    /// (Harbor's `NOT_FOUND`, `DENIED`), a JSON body that names no code, or an HTML or other
    /// page (a proxy's error page for one request): about this digest only.
    Digest,
}

impl NotFoundScope {
    /// The scope of a 404 with `content_type` and `body`.
    pub(crate) fn of(content_type: Option<&str>, body: &[u8]) -> Self {
        match content_type.map(bare_content_type).as_deref() {
            Some("application/json") => {}
            // The router's own 404: plain text or nothing at all.
            None | Some("text/plain") => return Self::Host,
            // An HTML or other error page says nothing about the registry's API: a proxy or
            // CDN page for this one request must not hide the referrers of other digests.
            Some(_) if body.is_empty() => return Self::Host,
            Some(_) => return Self::Digest,
        }
        let codes: Vec<String> = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                v.get("errors")?.as_array().map(|errors| {
                    errors
                        .iter()
                        .filter_map(|e| e.get("code")?.as_str().map(str::to_ascii_uppercase))
                        .collect()
                })
            })
            .unwrap_or_default();
        // Only the codes that say the repository has no such API reach beyond this digest:
        // any other code (Harbor's `NOT_FOUND` for a proxy-cache digest not pulled yet,
        // `DENIED`, a code we do not know) is about this digest, so that one odd answer never
        // hides the referrers of the repository's other digests for the rest of the run.
        let about_repository =
            |code: &String| matches!(code.as_str(), "NAME_UNKNOWN" | "UNSUPPORTED");
        if !codes.is_empty() && codes.iter().all(about_repository) {
            Self::Repository
        } else {
            Self::Digest
        }
    }
}

/// One logical request.
struct Call<'a> {
    image: &'a str,
    method: Method,
    url: Url,
    accept: Option<&'a str>,
    /// Authenticate as `endpoint` for `scope`; `None` sends no credentials (another origin).
    auth: Option<(&'a Endpoint, &'a str)>,
    /// An `application/x-www-form-urlencoded` body (holds a refresh token: secret).
    form: Option<&'a Secret>,
    body_limit: usize,
}

/// Why one attempt failed.
enum Failure {
    Timeout,
    Transport {
        /// The transport error, kept whole for the message's chain.
        error: reqwest::Error,
        /// A TLS client met a plain-HTTP answer (from the error's kind).
        plain_http: bool,
    },
    Fatal(RegistryError),
}

/// Held while one token for a host and scope is fetched.
type TokenLock = Arc<tokio::sync::Mutex<()>>;

/// Held by the first request to a host; `true` once it has been answered.
type FirstContact = Arc<tokio::sync::Mutex<bool>>;

/// The HTTP side of the registry: one `reqwest::Client`, the semaphores, auth state, counters.
pub(crate) struct Http {
    client: reqwest::Client,
    /// `network.concurrency`: requests in flight over all hosts.
    semaphore: Semaphore,
    /// `registries.<host>.concurrency`, by `host[:port]` as [`url_host`] writes it (aliases
    /// share one semaphore).
    host_semaphores: HashMap<String, Arc<Semaphore>>,
    requests: AtomicU64,
    auth: AuthState,
    /// One lock per host and scope, so that concurrent requests fetch one token.
    token_locks: Mutex<HashMap<(String, String), TokenLock>>,
    /// Per host: whether a first request has been answered. Until then, concurrent requests
    /// wait for that one, so that only it meets the host's 401 and the rest authenticate up
    /// front with the challenge it learnt.
    first_contact: Mutex<HashMap<String, FirstContact>>,
    credentials: CredentialStore,
    retries: u32,
    request_timeout: Duration,
    hosts: BTreeMap<String, HostSettings>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("requests", &self.requests.load(Ordering::Relaxed))
            .field("auth", &self.auth)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// Builds the one client of the process.
    pub(crate) fn new(settings: &RegistrySettings) -> Result<Self, RegistryError> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            // Redirects are followed by hand, for blobs only, without leaking credentials.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("supplygate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                RegistryError::unavailable("registry client", "cannot build the HTTP client")
                    .because(e)
            })?;
        Ok(Self {
            client,
            semaphore: Semaphore::new(settings.concurrency.clamp(1, Semaphore::MAX_PERMITS)),
            host_semaphores: host_semaphores(&settings.hosts),
            requests: AtomicU64::new(0),
            auth: AuthState::default(),
            token_locks: Mutex::new(HashMap::new()),
            first_contact: Mutex::new(HashMap::new()),
            credentials: CredentialStore::new(
                settings.docker_config.clone(),
                settings.credential_helper_dir.clone(),
                settings.request_timeout,
            ),
            retries: settings.retries,
            request_timeout: settings.request_timeout,
            hosts: settings.hosts.clone(),
        })
    }

    /// HTTP requests sent so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn host_insecure(&self, host: &str) -> bool {
        self.hosts.get(host).is_some_and(|h| h.insecure)
    }

    /// The mirrors of `image`'s registry, then the registry itself.
    pub(crate) fn endpoints(&self, image: &ImageRef) -> Result<Vec<Endpoint>, RegistryError> {
        let settings = self
            .hosts
            .get(image.registry())
            .or_else(|| self.hosts.get(image.api_host()));
        let mut endpoints = Vec::new();
        for mirror in settings.map(|s| s.mirrors.as_slice()).unwrap_or_default() {
            endpoints.push(self.mirror_endpoint(image, mirror)?);
        }
        let insecure = settings.is_some_and(|s| s.insecure);
        let scheme = if insecure { "http" } else { "https" };
        endpoints.push(Endpoint {
            base: base_url(image, scheme, image.api_host())?,
            host: image.api_host().to_owned(),
            credential_host: image.registry().to_owned(),
        });
        Ok(endpoints)
    }

    fn mirror_endpoint(&self, image: &ImageRef, mirror: &str) -> Result<Endpoint, RegistryError> {
        let (scheme, host) = if let Some(host) = mirror.strip_prefix("http://") {
            (Some("http"), host)
        } else if let Some(host) = mirror.strip_prefix("https://") {
            (Some("https"), host)
        } else {
            (None, mirror)
        };
        let host = host.trim_end_matches('/');
        let insecure = self.host_insecure(host);
        let scheme = match scheme {
            Some("http") if !insecure => {
                return Err(RegistryError::not_allowed(
                    image.to_string(),
                    format!(
                        "mirror `{mirror}` uses plain HTTP; set `insecure: true` for host \
                         `{host}` in supplygate.yaml to allow it"
                    ),
                ))
            }
            Some(scheme) => scheme,
            None if insecure => "http",
            None => "https",
        };
        Ok(Endpoint {
            base: base_url(image, scheme, host)?,
            host: host.to_owned(),
            credential_host: host.to_owned(),
        })
    }

    /// GET a manifest by tag or digest. `Ok` only for a 2xx answer, body within `limit`.
    pub(crate) async fn get_manifest(
        &self,
        image: &str,
        endpoint: &Endpoint,
        repository: &str,
        reference: &str,
        limit: usize,
    ) -> Result<Fetched, RegistryError> {
        self.manifest_request(Method::GET, image, endpoint, repository, reference, limit)
            .await
    }

    /// HEAD a manifest: headers only.
    pub(crate) async fn head_manifest(
        &self,
        image: &str,
        endpoint: &Endpoint,
        repository: &str,
        reference: &str,
    ) -> Result<Fetched, RegistryError> {
        self.manifest_request(Method::HEAD, image, endpoint, repository, reference, 0)
            .await
    }

    async fn manifest_request(
        &self,
        method: Method,
        image: &str,
        endpoint: &Endpoint,
        repository: &str,
        reference: &str,
        limit: usize,
    ) -> Result<Fetched, RegistryError> {
        let url = join(
            image,
            &endpoint.base,
            &format!("v2/{repository}/manifests/{reference}"),
        )?;
        let accept = manifest_accept();
        let scope = pull_scope(repository);
        let fetched = self
            .send(&Call {
                image,
                method,
                url,
                accept: Some(&accept),
                auth: Some((endpoint, &scope)),
                form: None,
                body_limit: limit,
            })
            .await?;
        if fetched.status.is_success() {
            Ok(fetched)
        } else {
            Err(status_error(image, fetched.status, "manifest"))
        }
    }

    /// GET the referrers of `digest` (OCI distribution 1.1), following `Link: rel="next"`
    /// pages on the same origin, each page within `limit`. No `artifactType` filter is sent:
    /// several media types name Sigstore bundles, so the caller filters.
    pub(crate) async fn get_referrers(
        &self,
        image: &str,
        endpoint: &Endpoint,
        repository: &str,
        digest: &Digest,
        limit: usize,
    ) -> Result<ReferrersAnswer, RegistryError> {
        let scope = pull_scope(repository);
        let mut url = join(
            image,
            &endpoint.base,
            &format!("v2/{repository}/referrers/{digest}"),
        )?;
        let mut pages = Vec::new();
        for page in 0..MAX_REFERRERS_PAGES {
            let fetched = self
                .send(&Call {
                    image,
                    method: Method::GET,
                    url: url.clone(),
                    accept: Some(OCI_IMAGE_INDEX_MEDIA_TYPE),
                    auth: Some((endpoint, &scope)),
                    form: None,
                    body_limit: limit,
                })
                .await?;
            if fetched.status == StatusCode::NOT_FOUND && page == 0 {
                let scope = NotFoundScope::of(fetched.header(CONTENT_TYPE.as_str()), &fetched.body);
                return Ok(ReferrersAnswer::Unsupported { scope });
            }
            if !fetched.status.is_success() {
                return Err(status_error(image, fetched.status, "referrers"));
            }
            if let Some(filters) = fetched.header("oci-filters-applied") {
                // We send no filter; a registry that filters anyway still lists a subset,
                // which the caller filters again.
                tracing::debug!("{image}: referrers answer with `OCI-Filters-Applied: {filters}`");
            }
            let next = next_link(&fetched.headers).map(str::to_owned);
            let content_type = fetched.header(CONTENT_TYPE.as_str()).map(str::to_owned);
            pages.push((fetched.body, content_type));
            let Some(next) = next else {
                return Ok(ReferrersAnswer::Pages(pages));
            };
            let next = url.join(&next).map_err(|_| {
                RegistryError::invalid_response(
                    image.to_owned(),
                    "referrers `Link` header with an invalid URL".to_owned(),
                )
            })?;
            if next.origin() != endpoint.base.origin() {
                return Err(RegistryError::invalid_response(
                    image.to_owned(),
                    format!(
                        "referrers `Link` header points to another origin (`{}`)",
                        url_host(&next)
                    ),
                ));
            }
            url = next;
        }
        Err(RegistryError::invalid_response(
            image.to_owned(),
            format!("referrers answer has more than {MAX_REFERRERS_PAGES} pages"),
        ))
    }

    /// GET a blob, following up to 5 redirects; credentials go to the registry's origin only.
    pub(crate) async fn get_blob(
        &self,
        image: &str,
        endpoint: &Endpoint,
        repository: &str,
        digest: &Digest,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let scope = pull_scope(repository);
        let mut url = join(
            image,
            &endpoint.base,
            &format!("v2/{repository}/blobs/{digest}"),
        )?;
        for _ in 0..=MAX_REDIRECTS {
            let same_origin = url.origin() == endpoint.base.origin();
            let fetched = self
                .send(&Call {
                    image,
                    method: Method::GET,
                    url: url.clone(),
                    accept: None,
                    auth: same_origin.then_some((endpoint, scope.as_str())),
                    form: None,
                    body_limit: limit,
                })
                .await?;
            if fetched.status.is_success() {
                return Ok(fetched.body);
            }
            if !fetched.status.is_redirection() {
                return Err(status_error(image, fetched.status, "blob"));
            }
            let location = fetched.header(LOCATION.as_str()).ok_or_else(|| {
                RegistryError::invalid_response(
                    image.to_owned(),
                    format!("blob redirect (HTTP {}) without `Location`", fetched.status),
                )
            })?;
            let next = url.join(location).map_err(|_| {
                RegistryError::invalid_response(
                    image.to_owned(),
                    "blob redirect to an invalid `Location`".to_owned(),
                )
            })?;
            self.check_scheme(image, &next, endpoint, "blob redirect")?;
            url = next;
        }
        Err(RegistryError::unavailable(
            image.to_owned(),
            format!("blob request redirected more than {MAX_REDIRECTS} times"),
        ))
    }

    /// Plain HTTP only to hosts marked insecure (or the plain-HTTP registry's own origin).
    fn check_scheme(
        &self,
        image: &str,
        url: &Url,
        endpoint: &Endpoint,
        what: &str,
    ) -> Result<(), RegistryError> {
        match url.scheme() {
            "https" => Ok(()),
            "http" => {
                let host = url_host(url);
                if self.host_insecure(&host) || url.origin() == endpoint.base.origin() {
                    Ok(())
                } else {
                    Err(RegistryError::not_allowed(
                        image.to_owned(),
                        format!(
                            "{what} to plain HTTP host `{host}`; set `insecure: true` for \
                             that host in supplygate.yaml to allow it"
                        ),
                    ))
                }
            }
            other => Err(RegistryError::invalid_response(
                image.to_owned(),
                format!("{what} to unsupported scheme `{other}`"),
            )),
        }
    }

    /// Sends with authentication: up front when the host's challenge is known, else after
    /// its 401. The answer may be any status; the caller maps it.
    async fn send(&self, call: &Call<'_>) -> Result<Fetched, RegistryError> {
        let Some((endpoint, scope)) = call.auth else {
            return self.with_retries(call, None).await;
        };
        let mut known = self.auth.challenge(&endpoint.host);
        if known.is_none() {
            let contact = {
                let mut contacts = self
                    .first_contact
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                Arc::clone(contacts.entry(endpoint.host.clone()).or_default())
            };
            let mut answered = contact.lock().await;
            if !*answered {
                // The host's first request: the others wait for its answer (and challenge).
                let outcome = self.authenticated(call, endpoint, scope, None).await;
                *answered = true;
                return outcome;
            }
            drop(answered);
            known = self.auth.challenge(&endpoint.host);
        }
        self.authenticated(call, endpoint, scope, known).await
    }

    /// Sends with the `Authorization` answering `known`, if any; on a 401 with a challenge,
    /// authenticates and sends once more.
    async fn authenticated(
        &self,
        call: &Call<'_>,
        endpoint: &Endpoint,
        scope: &str,
        known: Option<Challenge>,
    ) -> Result<Fetched, RegistryError> {
        let header = match &known {
            Some(challenge) => {
                self.auth_header(call.image, endpoint, scope, challenge, false)
                    .await?
            }
            None => None,
        };
        let first = self.with_retries(call, header.as_ref()).await?;
        if first.status != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        let Some(challenge) = first
            .header(WWW_AUTHENTICATE.as_str())
            .and_then(parse_challenge)
        else {
            return Ok(first);
        };
        self.auth
            .remember_challenge(&endpoint.host, challenge.clone());
        // A token the registry refused is no use to anyone.
        self.auth.forget_token(&endpoint.host, scope);
        match self
            .auth_header(call.image, endpoint, scope, &challenge, true)
            .await?
        {
            Some(fresh) if Some(&fresh) != header.as_ref() => {
                self.with_retries(call, Some(&fresh)).await
            }
            _ => Ok(first),
        }
    }

    /// The `Authorization` value answering `challenge`; `None` when we have nothing to send.
    async fn auth_header(
        &self,
        image: &str,
        endpoint: &Endpoint,
        scope: &str,
        challenge: &Challenge,
        fresh: bool,
    ) -> Result<Option<Secret>, RegistryError> {
        let (realm, service, wanted) = match challenge {
            Challenge::Basic => {
                let credential = self.credentials.lookup(&endpoint.credential_host).await;
                return Ok(credential.and_then(|c| c.basic_header()));
            }
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => (realm, service, scope),
        };
        if let Some(token) = self.auth.token(&endpoint.host, scope) {
            return Ok(Some(bearer(&token)));
        }
        let lock = {
            let mut locks = self
                .token_locks
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            Arc::clone(
                locks
                    .entry((endpoint.host.clone(), scope.to_owned()))
                    .or_default(),
            )
        };
        let _guard = lock.lock().await;
        if let Some(token) = self.auth.token(&endpoint.host, scope) {
            return Ok(Some(bearer(&token)));
        }
        // A fresh challenge names the scope of the refused request (this one); a remembered
        // one names another repository's, so ask for ours then.
        let ask = match wanted {
            Some(wanted) if fresh => wanted.as_str(),
            _ => scope,
        };
        let (token, keep) = self
            .fetch_token(image, endpoint, realm, service.as_deref(), ask)
            .await?;
        self.auth
            .store_token(&endpoint.host, scope, token.clone(), keep);
        Ok(Some(bearer(&token)))
    }

    async fn fetch_token(
        &self,
        image: &str,
        endpoint: &Endpoint,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<(Secret, Duration), RegistryError> {
        let mut url = Url::parse(realm).map_err(|_| {
            RegistryError::invalid_response(
                image.to_owned(),
                format!("token realm `{realm}` is not a URL"),
            )
        })?;
        self.check_scheme(image, &url, endpoint, "token request")?;
        let credential = self.credentials.lookup(&endpoint.credential_host).await;
        let mut basic = None;
        let mut form = None;
        match &credential {
            Some(Credential::IdentityToken(refresh)) => {
                // OAuth2 refresh-token grant, as docker does for an `identitytoken`.
                let mut encoder = Url::parse("http://form.invalid/").map_err(|_| {
                    RegistryError::invalid_response(
                        image.to_owned(),
                        "cannot encode the token request".to_owned(),
                    )
                })?;
                {
                    let mut pairs = encoder.query_pairs_mut();
                    pairs.append_pair("grant_type", "refresh_token");
                    if let Some(service) = service {
                        pairs.append_pair("service", service);
                    }
                    pairs.append_pair("scope", scope);
                    pairs.append_pair("client_id", "supplygate");
                    pairs.append_pair("refresh_token", refresh.expose());
                }
                form = Some(Secret::new(encoder.query().unwrap_or_default().to_owned()));
            }
            Some(basic_credential) => basic = basic_credential.basic_header(),
            None => {}
        }
        if form.is_none() {
            let mut pairs = url.query_pairs_mut();
            if let Some(service) = service {
                pairs.append_pair("service", service);
            }
            pairs.append_pair("scope", scope);
        }
        let call = Call {
            image,
            method: if form.is_some() {
                Method::POST
            } else {
                Method::GET
            },
            url,
            accept: Some("application/json"),
            auth: None,
            form: form.as_ref(),
            body_limit: MAX_TOKEN_BYTES,
        };
        let fetched = self.with_retries(&call, basic.as_ref()).await?;
        if !fetched.status.is_success() {
            return Err(status_error(image, fetched.status, "token"));
        }
        serde_json::from_slice::<TokenAnswer>(&fetched.body)
            .ok()
            .and_then(TokenAnswer::into_token)
            .ok_or_else(|| {
                RegistryError::invalid_response(
                    image.to_owned(),
                    "the token server answered without a token".to_owned(),
                )
            })
    }
}

/// One semaphore per host with a `concurrency`, under every name a request URL may give that
/// host: `docker.io` is also `registry-1.docker.io` (its API host), and `host:443`/`host:80`
/// is also `host` (a URL leaves a scheme's default port out). A name configured itself keeps
/// its own entry; between two aliases, the first host in sorted order wins.
fn host_semaphores(hosts: &BTreeMap<String, HostSettings>) -> HashMap<String, Arc<Semaphore>> {
    let mut bounded = Vec::new();
    for (host, settings) in hosts {
        if let Some(limit) = settings.concurrency {
            let semaphore = Arc::new(Semaphore::new(limit.clamp(1, Semaphore::MAX_PERMITS)));
            bounded.push((host.as_str(), semaphore));
        }
    }
    let mut semaphores: HashMap<String, Arc<Semaphore>> = bounded
        .iter()
        .map(|(host, semaphore)| ((*host).to_owned(), Arc::clone(semaphore)))
        .collect();
    let mut aliases = Vec::new();
    for (host, semaphore) in &bounded {
        let bare = host
            .strip_suffix(":443")
            .or_else(|| host.strip_suffix(":80"));
        let api = (*host == DOCKER_HUB).then_some(DOCKER_HUB_API);
        for alias in [bare, api].into_iter().flatten() {
            aliases.push((alias.to_owned(), Arc::clone(semaphore)));
        }
    }
    for (alias, semaphore) in aliases {
        semaphores.entry(alias).or_insert(semaphore);
    }
    semaphores
}

fn base_url(image: &ImageRef, scheme: &str, host: &str) -> Result<Url, RegistryError> {
    let url = Url::parse(&format!("{scheme}://{host}/")).map_err(|_| {
        RegistryError::not_allowed(
            image.to_string(),
            format!("`{host}` is not a valid registry host"),
        )
    })?;
    // The URL parser rewrites some spellings into another host (`0x7f.1` and `127.000.0.1`
    // become `127.0.0.1`) that globs and `registries:` settings never saw, and that the
    // kubelet's resolver would not contact: only a host that stays as written is used.
    let contacted = url_host(&url);
    let default_port = url
        .port_or_known_default()
        .map(|p| format!("{contacted}:{p}"));
    if !(contacted.eq_ignore_ascii_case(host)
        || default_port.is_some_and(|d| d.eq_ignore_ascii_case(host)))
    {
        return Err(RegistryError::not_allowed(
            image.to_string(),
            format!(
                "`{host}` would be contacted as `{contacted}`: write the registry host as that"
            ),
        ));
    }
    Ok(url)
}

fn join(image: &str, base: &Url, path: &str) -> Result<Url, RegistryError> {
    base.join(path).map_err(|_| {
        RegistryError::invalid_response(
            image.to_owned(),
            format!("cannot build a URL for `{path}`"),
        )
    })
}

fn url_host(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

fn bearer(token: &Secret) -> Secret {
    Secret::new(format!("Bearer {}", token.expose()))
}

fn status_error(image: &str, status: StatusCode, what: &str) -> RegistryError {
    match status.as_u16() {
        401 | 403 => RegistryError::Unauthorized {
            image: image.to_owned(),
            status: status.as_u16(),
        },
        404 if what != "token" => RegistryError::NotFound {
            image: image.to_owned(),
        },
        300..=399 => RegistryError::invalid_response(
            image.to_owned(),
            format!("unexpected redirect (HTTP {status}) for a {what} request"),
        ),
        _ => RegistryError::unavailable(
            image.to_owned(),
            format!("unexpected HTTP {status} for a {what} request"),
        ),
    }
}

/// The target of `Link: <target>; rel="next"`, if any.
fn next_link(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|link| {
            let (target, params) = link.trim().strip_prefix('<')?.split_once('>')?;
            params
                .split(';')
                .any(|p| {
                    let p = p.trim();
                    p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
                })
                .then_some(target)
        })
}

#[cfg(test)]
mod tests;
