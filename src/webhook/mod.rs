//! The admission webhook (`supplygate serve`): AdmissionReview v1 over TLS in, the same
//! evaluation as `check` (mode `admission`) per image, the answer out.
//!
//! A thin front end around [`gate::evaluate_manifests`]: [`review`] translates reviews in and
//! out; this module adds what a server needs around it:
//!
//! - **Caches.** Registry answers (tag -> digest included) come from a [`Registry`] that is
//!   replaced every `tag_ttl`, so tags can move; per-image decisions are cached by resolved
//!   digest and site ([`cache`]) for `ttl` (allow) or `negative_ttl` (deny), and concurrent
//!   reviews of one image share one verification.
//! - **A deadline** below the API server's timeout: a review that is not decided by then is
//!   denied ("verification did not finish"), or allowed with a warning in an audit namespace.
//!   The verification keeps running and fills the cache for the API server's retry.
//! - **Bounds.** Request body size; reviews in flight (beyond it: an immediate deny); the
//!   number of cached decisions.
//! - **Reloads.** SIGHUP reloads the config, policies and evidence lock into a new
//!   [`Generation`] (swapped atomically; reviews in flight finish on the old one); the
//!   certificate is reloaded when its files change ([`tls`]). SIGTERM stops accepting,
//!   finishes what is in flight, exits.
//! - **An evidence lock** (`serve --lock`): the registry client answers from the lock only
//!   (no registry requests), and every review is compared with it ([`Lock::review`]), as
//!   `check --locked` does.
//!
//! Fail closed everywhere: a review that cannot be evaluated is denied, never allowed.

mod cache;
mod log;
mod metrics;
pub mod review;
mod tls;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use kube_core::admission::AdmissionResponse;
use serde_json::json;

pub use cache::CacheSettings;
pub(crate) use log::{json_logs, Log};
pub use log::{JsonEvents, LogFormat};
pub use tls::{CertFiles, TlsError};

use self::cache::DecisionCache;
use self::metrics::{Lookup, Metrics, Outcome};
use crate::config::Config;
use crate::gate::{self, Manifests, PolicyRun};
use crate::lock::{self, Fingerprint, Lock, LockError};
use crate::manifest::ImageSite;
use crate::policy::{self, input::Mode};
use crate::reference::ImageRef;
use crate::registry::{Registry, RegistryError, RegistrySettings, Stats};
use crate::report::{Code, Finding, ImageReport, Severity};

/// How the server runs; fixed for its life (a SIGHUP reloads the [`Generation`], not these).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The serving certificate.
    pub cert: CertFiles,
    /// How often the certificate files are checked for changes.
    pub cert_poll: Duration,
    /// Longest time spent on one review; the webhook's `timeoutSeconds` should be larger.
    pub deadline: Duration,
    /// Serve `/mutate` (pins tags to verified digests).
    pub mutate: bool,
    /// Under an evidence lock, allow tag-only references (with a warning) instead of denying
    /// them: the kubelet pulls whatever the tag names, which the lock never verified.
    pub insecure_allow_unpinned_with_lock: bool,
    /// Namespaces never checked (allowed without evaluation).
    pub excluded_namespaces: BTreeSet<String>,
    /// Namespaces where denials and unfinished verifications become warnings.
    pub audit_namespaces: BTreeSet<String>,
    /// Decision cache.
    pub cache: CacheSettings,
    /// How long a tag's digest (and every other registry answer) is reused.
    pub tag_ttl: Duration,
    /// Most reviews evaluated at once; more are denied at once.
    pub max_in_flight: usize,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Longest wait for reviews in flight on shutdown.
    pub shutdown_grace: Duration,
    /// Reload (as on SIGHUP) this often; `None`: only on SIGHUP.
    pub reload_interval: Option<Duration>,
    /// Log line format.
    pub log_format: LogFormat,
    /// A fixed evaluation clock (tests); `None`: the wall clock per review.
    pub now: Option<jiff::Timestamp>,
}

/// What a reload produces: the config, the policy library loaded from it, and the evidence
/// lock when reviews are decided from one.
pub struct Loaded {
    /// The validated config.
    pub config: Config,
    /// The policy library.
    pub engine: policy::Engine,
    /// The evidence lock (`serve --lock`): registry answers come from it only, and each
    /// review is compared with it.
    pub lock: Option<Arc<Lock>>,
}

/// Reads the config, policies and lock again (on SIGHUP); the error is shown as is.
/// Loads the config, policies and lock again; given the config serving now.
pub type Reloader = Box<dyn Fn(&Config) -> Result<Loaded, String> + Send + Sync>;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The certificate could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The listening socket could not be set up.
    #[error(
        "cannot listen on `{addr}` (hint: is the port in use, or below 1024 without privileges?)"
    )]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The registry client could not be built.
    #[error("cannot set up the registry client")]
    Registry(#[source] RegistryError),
    /// The evidence lock cannot be compared with (the signers could not be fingerprinted).
    #[error("cannot use the evidence lock")]
    Lock(#[source] LockError),
    /// The server stopped with an I/O error.
    #[error("the server stopped")]
    Server(#[source] std::io::Error),
}

/// One loaded config, policy library and lock with their caches; replaced as a whole on
/// reload.
struct Generation {
    config: Config,
    engine: policy::Engine,
    decisions: DecisionCache<cache::Key>,
    registries: Registries,
    /// The evidence lock and the fingerprint of this config and policy library, which
    /// [`Lock::review`] compares with the lock's.
    lock: Option<(Arc<Lock>, Fingerprint)>,
}

impl Generation {
    fn new(loaded: Loaded, settings: &Settings, log: &Log) -> Result<Self, ServeError> {
        let lock = match loaded.lock {
            Some(lock) => {
                let fingerprint =
                    Fingerprint::new(&loaded.config, &loaded.engine).map_err(ServeError::Lock)?;
                if fingerprint != lock.fingerprint {
                    log.warn(
                        "lock-stale",
                        json!({"note": "the signers, trusted roots or policies differ from the evidence lock's: every review is denied (`lock-stale`)",
                               "hint": "write the lock again with `supplygate check --write-lock` under this config and these policies"}),
                    );
                }
                Some((lock, fingerprint))
            }
            None => None,
        };
        Ok(Self {
            registries: Registries::new(
                loaded.config.registry.clone(),
                settings.tag_ttl,
                lock.as_ref().map(|(l, _)| Arc::clone(l)),
            )
            .map_err(ServeError::Registry)?,
            decisions: DecisionCache::new(settings.cache),
            config: loaded.config,
            engine: loaded.engine,
            lock,
        })
    }
}

/// The registry client in use, replaced every `tag_ttl` so that cached tags expire. The
/// one place where a [`Registry`] is made. With an evidence lock, the client answers from
/// the lock only and is never replaced (the lock does not change; a reload brings a new one).
struct Registries {
    settings: RegistrySettings,
    /// `None`: never replaced (an evidence lock).
    ttl: Option<Duration>,
    current: Mutex<(Arc<Registry>, Instant)>,
    /// Counters of clients no longer current: settled totals, and clients still in use.
    retired: Mutex<(Stats, Vec<Arc<Registry>>)>,
}

impl Registries {
    fn new(
        settings: RegistrySettings,
        ttl: Duration,
        lock: Option<Arc<Lock>>,
    ) -> Result<Self, RegistryError> {
        let (first, ttl) = match lock {
            Some(lock) => (
                Registry::replaying(settings.clone(), lock.evidence())?,
                None,
            ),
            None => (Registry::new(settings.clone())?, Some(ttl)),
        };
        Ok(Self {
            settings,
            ttl,
            current: Mutex::new((Arc::new(first), Instant::now())),
            retired: Mutex::new((Stats::default(), Vec::new())),
        })
    }

    /// The client for a review starting now.
    fn current(&self, log: &Log) -> Arc<Registry> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if self.ttl.is_some_and(|ttl| current.1.elapsed() >= ttl) {
            match Registry::new(self.settings.clone()) {
                Ok(fresh) => {
                    let old = std::mem::replace(&mut current.0, Arc::new(fresh));
                    current.1 = Instant::now();
                    self.retired
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .1
                        .push(old);
                }
                // Keep answering from the old client (its answers are still true, only
                // older); try again on the next review.
                Err(e) => log.error(
                    "registry-client-failed",
                    json!({"error": format!("{:#}", anyhow::Error::new(e))}),
                ),
            }
        }
        Arc::clone(&current.0)
    }

    /// Requests and cache hits of every client so far.
    fn stats(&self) -> Stats {
        // Locks in the order `current` takes them (current, then retired): the other order
        // could deadlock with a review replacing the client.
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        let (settled, live) = &mut *retired;
        // A retired client nobody holds any more has counted its last request.
        live.retain(|r| {
            if Arc::strong_count(r) == 1 {
                let s = r.stats();
                settled.requests += s.requests;
                settled.cache_hits += s.cache_hits;
                false
            } else {
                true
            }
        });
        let mut total = *settled;
        for r in live.iter().chain(std::iter::once(&current.0)) {
            let s = r.stats();
            total.requests += s.requests;
            total.cache_hits += s.cache_hits;
        }
        total
    }
}

/// The server's shared state.
struct Server {
    settings: Settings,
    generation: RwLock<Arc<Generation>>,
    reloader: Reloader,
    metrics: Arc<Metrics>,
    permits: Arc<tokio::sync::Semaphore>,
    log: Log,
    ready: AtomicBool,
    /// Reviews being evaluated (tasks that hold a permit).
    in_flight: AtomicU64,
    /// Registry counters of the generations replaced by reloads.
    previous_registry_stats: Mutex<Stats>,
}

/// Which endpoint a review came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Validate,
    Mutate,
}

impl Server {
    fn generation(&self) -> Arc<Generation> {
        Arc::clone(
            &self
                .generation
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// SIGHUP: load everything again; on any problem keep serving the old generation.
    fn reload(&self, trigger: &str) {
        let started = Instant::now();
        let serving = self.generation();
        let result = (self.reloader)(&serving.config).and_then(|loaded| {
            Generation::new(loaded, &self.settings, &self.log)
                .map_err(|e| format!("{:#}", anyhow::Error::new(e)))
        });
        match result {
            Ok(generation) => {
                let old = std::mem::replace(
                    &mut *self
                        .generation
                        .write()
                        .unwrap_or_else(PoisonError::into_inner),
                    Arc::new(generation),
                );
                // Counters stay monotonic across generations (requests the old client sends
                // for reviews still in flight after this point are not counted).
                let counted = old.registries.stats();
                let mut previous = self
                    .previous_registry_stats
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                previous.requests += counted.requests;
                previous.cache_hits += counted.cache_hits;
                self.metrics.reload("config", "ok");
                self.log.info(
                    "reloaded",
                    json!({"trigger": trigger, "elapsed_ms": elapsed_ms(started), "note": "config, policies and lock reloaded; decision cache cleared"}),
                );
            }
            Err(e) => {
                self.metrics.reload("config", "failed");
                self.log.error(
                    "reload-failed",
                    json!({"trigger": trigger, "error": e, "hint": "still serving the previous config, policies and lock"}),
                );
            }
        }
    }

    /// Answers one review (already decoded).
    async fn admit(
        self: &Arc<Self>,
        request: review::Request,
        endpoint: Endpoint,
        deadline: Duration,
    ) -> AdmissionResponse {
        let namespace = request.namespace.clone().unwrap_or_default();
        let audit = self.settings.audit_namespaces.contains(&namespace);
        if self.settings.excluded_namespaces.contains(&namespace) {
            return self.allowed(&request, "excluded-namespace");
        }
        let generation = self.generation();
        let manifests = match review::triage(&request, &generation.config) {
            review::Triage::Allow(why) => return self.allowed(&request, why),
            review::Triage::Deny(code, message) => {
                self.metrics.decision(Outcome::Denied, code);
                return review::deny(&request, message);
            }
            review::Triage::Evaluate(m) => m,
        };
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            return self.unfinished(
                &request,
                "overloaded",
                "supplygate is overloaded: too many reviews in flight",
                audit,
            );
        };
        // The evaluation runs in its own task: past the deadline the review is answered, but
        // the verification finishes and fills the cache for the API server's retry. The task
        // holds the permit, so abandoned work still counts against the bound.
        let lock_in_use = generation.lock.is_some();
        let server = Arc::clone(self);
        let task = tokio::spawn(async move {
            server.in_flight.fetch_add(1, Ordering::Relaxed);
            let reports = server.evaluate(&generation, manifests).await;
            server.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            reports
        });
        let reports = match tokio::time::timeout(deadline, task).await {
            Ok(Ok(reports)) => reports,
            Ok(Err(_panicked)) => {
                return self.unfinished(&request, "internal-error", "the evaluation failed", audit)
            }
            Err(_elapsed) => {
                return self.unfinished(
                    &request,
                    "deadline-exceeded",
                    &format!(
                        "verification did not finish within {}ms",
                        deadline.as_millis()
                    ),
                    audit,
                )
            }
        };
        let (patch, pinned) = match (endpoint, request.object.as_ref()) {
            (Endpoint::Mutate, Some(object)) => review::pin_patch(object, &reports),
            _ => (None, BTreeSet::new()),
        };
        let mut reports = reports;
        if lock_in_use && !self.settings.insecure_allow_unpinned_with_lock {
            require_pins(&mut reports, &pinned);
        }
        let (response, codes) = review::respond(&request, &reports, audit, patch);
        let outcome = if response.allowed {
            Outcome::Allowed
        } else {
            Outcome::Denied
        };
        if codes.is_empty() {
            self.metrics.decision(outcome, "none");
        }
        for code in &codes {
            self.metrics.decision(outcome, code);
        }
        response
    }

    fn allowed(&self, request: &review::Request, why: &'static str) -> AdmissionResponse {
        self.metrics.decision(Outcome::Allowed, why);
        AdmissionResponse::from(request)
    }

    fn unfinished(
        &self,
        request: &review::Request,
        code: &'static str,
        why: &str,
        audit: bool,
    ) -> AdmissionResponse {
        let response = review::unfinished(request, why, audit);
        let outcome = if response.allowed {
            Outcome::Allowed
        } else {
            Outcome::Denied
        };
        self.metrics.decision(outcome, code);
        self.log.warn(
            "review-unfinished",
            json!({"uid": request.uid, "object": review::object_name(request), "reason": why, "audit": audit}),
        );
        response
    }

    /// One report per image site, in site order, each from the cache or verified now.
    async fn evaluate(
        self: &Arc<Self>,
        generation: &Arc<Generation>,
        manifests: Manifests,
    ) -> Vec<Arc<ImageReport>> {
        let registry = generation.registries.current(&self.log);
        let mut tasks = tokio::task::JoinSet::new();
        let sites = manifests.sites;
        for (i, site) in sites.iter().cloned().enumerate() {
            let server = Arc::clone(self);
            let generation = Arc::clone(generation);
            let registry = Arc::clone(&registry);
            tasks.spawn(async move {
                let report = server.evaluate_site(&generation, &registry, site).await;
                (i, report)
            });
        }
        let mut reports: Vec<Option<Arc<ImageReport>>> = vec![None; sites.len()];
        while let Some(joined) = tasks.join_next().await {
            if let Ok((i, report)) = joined {
                if let Some(slot) = reports.get_mut(i) {
                    *slot = Some(report);
                }
            }
        }
        // A site whose task panicked has no report: fail closed with a report of its own.
        reports
            .into_iter()
            .zip(sites)
            .map(|(r, site)| r.unwrap_or_else(|| Arc::new(failed_report(site))))
            .collect()
    }

    /// Resolves the site's reference (from the current registry client, so a moved tag is
    /// seen within `tag_ttl`), then takes the decision for that digest from the cache or
    /// verifies it.
    async fn evaluate_site(
        &self,
        generation: &Generation,
        registry: &Arc<Registry>,
        site: ImageSite,
    ) -> Arc<ImageReport> {
        let digest = match ImageRef::parse(&site.image) {
            Ok(reference) => match registry.resolve(&reference).await {
                Ok(resolved) => Some(resolved.digest.to_string()),
                Err(e) => {
                    self.metrics.registry_error(e.code());
                    None
                }
            },
            Err(_) => None,
        };
        let run = || async {
            self.metrics.verification();
            let report = self.verify(generation, registry, site.clone()).await;
            for f in &report.findings {
                if matches!(
                    f.code,
                    Code::SignatureCheckFailed | Code::ProvenanceCheckFailed
                ) {
                    self.metrics.registry_error(f.code.as_str());
                }
            }
            report
        };
        match digest {
            Some(digest) => {
                let key = cache::Key::new(&site, digest);
                let (report, lookup) = generation.decisions.get_or_evaluate(key, run).await;
                self.metrics.lookup(lookup);
                report
            }
            // Nothing to key a decision on: evaluate (the registry client still caches the
            // lookup's failure for `tag_ttl`).
            None => {
                self.metrics.lookup(Lookup::Uncached);
                Arc::new(run().await)
            }
        }
    }

    /// The one evaluation, as `check` runs it, for one site.
    async fn verify(
        &self,
        generation: &Generation,
        registry: &Arc<Registry>,
        site: ImageSite,
    ) -> ImageReport {
        let policy = PolicyRun {
            engine: generation.engine.clone(),
            mode: Mode::Admission,
            now: self.settings.now.unwrap_or_else(jiff::Timestamp::now),
        };
        let manifests = Manifests {
            sites: vec![site.clone()],
            ..Manifests::default()
        };
        let mut report =
            gate::evaluate_manifests(manifests, &generation.config, registry, &policy, &|_, _| {})
                .await;
        if let Some((lock, fingerprint)) = &generation.lock {
            // What `/mutate` makes of a locked tag (`repo:tag@digest`, with the digest the
            // lock records for the tag) is compared as that tag: the Pods of a pinned
            // Deployment, and the validating review after the mutation, are what was locked.
            let written = report.images.first().and_then(|i| i.reference.clone());
            let as_tag = written.as_ref().and_then(|r| locked_tag_of_pin(lock, r));
            if let (Some(image), Some(tag)) = (report.images.first_mut(), as_tag) {
                image.reference = Some(tag);
            }
            // As `check --locked`: not in the lock, a stale lock, another digest or decision
            // than recorded all deny.
            lock.review(&mut report, fingerprint);
            if let Some(image) = report.images.first_mut() {
                image.reference = written;
            }
            // The tag's digest came from the lock, unchecked: say so, as a warning (the
            // report's notices are not part of an image's answer).
            let before = report.notices.len();
            lock::tags_not_checked(lock, &mut report);
            let unchecked = report.notices.split_off(before);
            if let Some(image) = report.images.first_mut() {
                image.findings.extend(unchecked);
            }
        }
        report
            .images
            .into_iter()
            .next()
            .unwrap_or_else(|| failed_report(site))
    }
}

/// `repo:tag` when `reference` is `repo:tag@digest`, the lock does not record it as written,
/// and the lock records `digest` for that tag.
fn locked_tag_of_pin(lock: &Lock, reference: &ImageRef) -> Option<ImageRef> {
    let (tag, digest) = (reference.tag()?, reference.digest()?);
    if lock.images.contains_key(&reference.to_string()) || lock.tag(reference, tag) != Some(digest)
    {
        return None;
    }
    Some(reference.without_digest())
}

/// Under an evidence lock, what runs must be what the lock verified: a tag-only reference
/// (the kubelet pulls whatever the tag names when it starts the container) is denied, unless
/// `/mutate` pins it to the locked digest (`pinned`: indices of the reports the patch pins) or
/// an exemption or break-glass allowed it unverified anyway. The lock's "tag not checked"
/// warning gives way to the denial, or to the pin.
fn require_pins(reports: &mut [Arc<ImageReport>], pinned: &BTreeSet<usize>) {
    for (i, report) in reports.iter_mut().enumerate() {
        let unpinned = report
            .reference
            .as_ref()
            .is_some_and(|r| r.digest().is_none());
        if !unpinned || review::allowed_by_exception(report) {
            continue;
        }
        let report = Arc::make_mut(report);
        report
            .findings
            .retain(|f| f.code != Code::TagMovedSinceLock);
        if pinned.contains(&i) {
            continue;
        }
        report.findings.push(
            Finding::new(
                Code::UnpinnedImage,
                Severity::Deny,
                format!(
                    "`{}` names no digest: under the evidence lock only digests are admitted, \
                     since the kubelet pulls whatever the tag names when it starts the container",
                    report.site.image
                ),
            )
            .hint(
                "pin it in git with `supplygate pin` (`repo:tag@sha256:…`), or send the object \
                 through `/mutate` (`serve --mutate`), which pins it to the locked digest",
            ),
        );
    }
}

/// A report that denies because the evaluation produced none.
fn failed_report(site: ImageSite) -> ImageReport {
    ImageReport {
        site,
        reference: None,
        resolved: None,
        findings: vec![Finding::new(
            Code::PolicyError,
            Severity::Error,
            "the evaluation of this image failed; failing closed",
        )],
        signatures: None,
        attestations: None,
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Runs the server until SIGTERM or SIGINT. Prints `listening on https://ADDR` on stderr once
/// the socket is bound (port 0 picks a free port).
pub async fn serve(
    settings: Settings,
    loaded: Loaded,
    reloader: Reloader,
) -> Result<(), ServeError> {
    let log = Log::new(settings.log_format);
    // Stamped before the first load: files rotated from here on are seen by the watcher.
    let cert_stamp = settings.cert.stamp();
    let tls_config =
        axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(settings.cert.load()?));
    let listener = std::net::TcpListener::bind(settings.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|source| ServeError::Listen {
            addr: settings.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: settings.listen,
        source,
    })?;
    let metrics = Arc::new(Metrics::default());
    let state = Server {
        permits: Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight.max(1))),
        generation: RwLock::new(Arc::new(Generation::new(loaded, &settings, &log)?)),
        settings,
        reloader,
        metrics: Arc::clone(&metrics),
        log,
        ready: AtomicBool::new(false),
        in_flight: AtomicU64::new(0),
        previous_registry_stats: Mutex::new(Stats::default()),
    };
    let server = Arc::new(state);
    let app = router(Arc::clone(&server));
    let handle = axum_server::Handle::<SocketAddr>::new();
    tokio::spawn(tls::watch(
        server.settings.cert.clone(),
        cert_stamp,
        tls_config.clone(),
        server.settings.cert_poll,
        log,
        metrics,
    ));
    tokio::spawn(signals(Arc::clone(&server), handle.clone()));
    let serving = axum_server::tls_rustls::from_tcp_rustls(listener, tls_config)
        .map_err(|source| ServeError::Listen {
            addr: server.settings.listen,
            source,
        })?
        .handle(handle)
        .serve(app.into_make_service());
    server.ready.store(true, Ordering::SeqCst);
    // Scripts read `listening on https://ADDR`: in text a line of its own, in JSON the
    // `listening` event's `message` (and `url`).
    let listening = format!("listening on https://{local}");
    if server.settings.log_format == LogFormat::Text {
        eprintln!("{listening}");
    }
    log.info(
        "listening",
        json!({"message": listening, "address": local.to_string(), "url": format!("https://{local}"),
               "mutate": server.settings.mutate, "deadline_ms": server.settings.deadline.as_millis(),
               "lock": server.generation().lock.is_some()}),
    );
    if server.settings.insecure_allow_unpinned_with_lock && server.generation().lock.is_some() {
        log.warn(
            "insecure-allow-unpinned-with-lock",
            json!({"note": "under `--lock`, tag-only references are allowed with a warning: the kubelet pulls whatever the tag names, which the lock never verified",
                   "hint": "pin the manifests with `supplygate pin`, or use `/mutate`, and drop the flag"}),
        );
    }
    serving.await.map_err(ServeError::Server)?;
    log.info("stopped", json!({}));
    Ok(())
}

/// SIGHUP reloads; SIGTERM and SIGINT stop accepting, let reviews in flight finish (up to
/// the grace period), then stop.
async fn signals(server: Arc<Server>, handle: axum_server::Handle<SocketAddr>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        server.log.error(
            "signals-unavailable",
            json!({"hint": "SIGHUP reload and graceful shutdown are off"}),
        );
        return;
    };
    let mut every = server.settings.reload_interval.map(|period| {
        let start = tokio::time::Instant::now()
            .checked_add(period)
            .unwrap_or_else(tokio::time::Instant::now);
        let mut ticks = tokio::time::interval_at(start, period);
        // A reload that took long is not made up for with reloads back to back.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks
    });
    loop {
        let tick = async {
            match every.as_mut() {
                Some(ticks) => ticks.tick().await,
                None => std::future::pending().await,
            }
        };
        let trigger = tokio::select! {
            _ = hup.recv() => "sighup",
            _ = tick => "interval",
            _ = term.recv() => break,
            _ = int.recv() => break,
        };
        let s = Arc::clone(&server);
        // Loading policies (and refreshing TUF) is blocking work: off the async workers. A
        // shutdown signal does not wait for it (a TUF refresh can take `tuf.timeout`).
        let reload = tokio::task::spawn_blocking(move || s.reload(trigger));
        tokio::select! {
            _ = reload => {}
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    server.ready.store(false, Ordering::SeqCst);
    server.log.info(
        "shutting-down",
        json!({"grace_ms": server.settings.shutdown_grace.as_millis()}),
    );
    handle.graceful_shutdown(Some(server.settings.shutdown_grace));
}

fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route(
            "/validate",
            post(|s, q, b| review_handler(s, q, b, Endpoint::Validate)),
        )
        .route(
            "/mutate",
            post(|s, q, b| review_handler(s, q, b, Endpoint::Mutate)),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .with_state(server)
}

async fn readyz(State(server): State<Arc<Server>>) -> Response {
    if server.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics_handler(State(server): State<Arc<Server>>) -> Response {
    let generation = server.generation();
    let mut registry = generation.registries.stats();
    let previous = *server
        .previous_registry_stats
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    registry.requests += previous.requests;
    registry.cache_hits += previous.cache_hits;
    let text = server.metrics.render(
        registry,
        generation.decisions.len(),
        usize::try_from(server.in_flight.load(Ordering::Relaxed)).unwrap_or(usize::MAX),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn review_handler(
    State(server): State<Arc<Server>>,
    RawQuery(query): RawQuery,
    body: Body,
    endpoint: Endpoint,
) -> Response {
    let started = Instant::now();
    if endpoint == Endpoint::Mutate && !server.settings.mutate {
        server.metrics.bad_request();
        return plain(
            StatusCode::NOT_FOUND,
            "`/mutate` is off (hint: start `supplygate serve --mutate`)",
        );
    }
    let bytes: Bytes = match axum::body::to_bytes(body, server.settings.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            server.metrics.bad_request();
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "the request body is larger than {} bytes or could not be read",
                    server.settings.max_body_bytes
                ),
            );
        }
    };
    let request = match review::decode(&bytes) {
        Ok(r) => r,
        Err(e) => {
            server.metrics.bad_request();
            server
                .log
                .warn("bad-request", json!({"error": e.to_string()}));
            return plain(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    let deadline = effective_deadline(server.settings.deadline, query.as_deref());
    let uid = request.uid.clone();
    let object = review::object_name(&request);
    let operation = review::operation_name(&request);
    let response = server.admit(request, endpoint, deadline).await;
    let elapsed = started.elapsed();
    server.metrics.latency(elapsed);
    server.log.info(
        "review",
        json!({
            "uid": uid,
            "object": object,
            "operation": operation,
            "endpoint": if endpoint == Endpoint::Mutate { "mutate" } else { "validate" },
            "allowed": response.allowed,
            "warnings": response.warnings.as_ref().map_or(0, Vec::len),
            "elapsed_ms": u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        }),
    );
    match encode(response) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        // No answer is a failed call, which the API server's failurePolicy decides.
        Err(_) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the answer",
        ),
    }
}

/// The answer as JSON, with `patch` base64-encoded as the API server's `[]byte` field
/// expects (kube-core writes the bytes as a JSON array of numbers).
fn encode(response: AdmissionResponse) -> Result<Vec<u8>, serde_json::Error> {
    use base64::Engine as _;
    let patch = response.patch.clone();
    let mut review = serde_json::to_value(response.into_review())?;
    if let (Some(patch), Some(slot)) = (patch, review.pointer_mut("/response/patch")) {
        *slot = json!(base64::engine::general_purpose::STANDARD.encode(patch));
    }
    serde_json::to_vec(&review)
}

fn plain(status: StatusCode, message: &str) -> Response {
    (status, format!("{message}\n")).into_response()
}

/// The configured deadline, shortened to leave a second of the API server's own `?timeout=`
/// (it appends the webhook's `timeoutSeconds`, e.g. `timeout=10s`).
fn effective_deadline(configured: Duration, query: Option<&str>) -> Duration {
    let from_server = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("timeout="))
        .and_then(crate::config::parse_duration)
        .map(|t| t.saturating_sub(Duration::from_secs(1)));
    match from_server {
        Some(t) if !t.is_zero() => configured.min(t),
        _ => configured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_servers_timeout_shortens_the_deadline() {
        let eight = Duration::from_secs(8);
        assert_eq!(effective_deadline(eight, None), eight);
        assert_eq!(
            effective_deadline(eight, Some("timeout=5s")),
            Duration::from_secs(4)
        );
        assert_eq!(effective_deadline(eight, Some("a=b&timeout=30s")), eight);
        assert_eq!(effective_deadline(eight, Some("timeout=1s")), eight);
        assert_eq!(effective_deadline(eight, Some("timeout=junk")), eight);
    }
}
