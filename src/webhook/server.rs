//! The server's shared state and the answer to one review: triage, the decision cache, the
//! deadline, the evidence lock.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use serde_json::json;

use super::generation::Generation;
use super::metrics::{Lookup, Metrics, Outcome};
use super::review::{self, AdmissionResponse, Endpoint};
use super::{answer, cache};
use super::{Log, Reloader, Settings};
use crate::gate::{self, Evidence, Manifests, PolicyRun};
use crate::manifest::ImageSite;
use crate::policy::input::Mode;
use crate::reference::ImageRef;
use crate::registry::{Registry, Stats};
use crate::report::{Code, Finding, ImageReport, Severity};

/// The server's shared state.
pub(super) struct Server {
    pub(super) settings: Settings,
    pub(super) generation: RwLock<Arc<Generation>>,
    pub(super) reloader: Reloader,
    pub(super) metrics: Arc<Metrics>,
    pub(super) permits: Arc<tokio::sync::Semaphore>,
    pub(super) log: Log,
    pub(super) ready: AtomicBool,
    /// Reviews being evaluated (tasks that hold a permit).
    pub(super) in_flight: AtomicU64,
    /// Registry counters of the generations replaced by reloads.
    pub(super) previous_registry_stats: Mutex<Stats>,
}

/// What makes an answer fit for the answer cache: the codes it counted, its image sites, and
/// until when every part of it is fresh.
pub(super) struct Keep {
    pub(super) codes: Vec<String>,
    pub(super) sites: usize,
    pub(super) expires: Instant,
}

impl Server {
    pub(super) fn generation(&self) -> Arc<Generation> {
        Arc::clone(
            &self
                .generation
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// SIGHUP: load everything again; on any problem keep serving the old generation.
    pub(super) fn reload(&self, trigger: &str) {
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

    /// The cached answer for a review whose envelope is `wire`, as JSON, with what the log
    /// says of it; `None` when there is none (or the review must not be answered from it).
    /// Counted as the review it answers was: a decision-cache hit per site, its codes.
    pub(super) fn answered(
        &self,
        generation: &Generation,
        key: &answer::Key,
        wire: &review::Wire<'_>,
    ) -> Option<(Vec<u8>, Arc<answer::Answer>)> {
        let namespace = wire.namespace.as_deref().unwrap_or_default();
        if self.settings.excluded_namespaces.contains(namespace) {
            return None;
        }
        let hit = generation.answers.get(key)?;
        // As for every answer made of cached decisions: none while overloaded (the review
        // goes the long way and is answered as overloaded).
        let _permit = self.permits.try_acquire().ok()?;
        for _ in 0..hit.sites {
            self.metrics.lookup(Lookup::Hit);
        }
        let outcome = if hit.allowed {
            Outcome::Allowed
        } else {
            Outcome::Denied
        };
        if hit.codes.is_empty() {
            self.metrics.decision(outcome, "none");
        }
        for code in &hit.codes {
            self.metrics.decision(outcome, code);
        }
        Some((hit.body(&wire.uid), hit))
    }

    /// Answers one review (already decoded), with what makes the answer fit for the answer
    /// cache when it is.
    pub(super) async fn admit(
        self: &Arc<Self>,
        request: review::Request,
        endpoint: Endpoint,
        deadline: Duration,
    ) -> (AdmissionResponse, Option<Keep>) {
        let namespace = request.namespace.clone().unwrap_or_default();
        let audit = self.settings.audit_namespaces.contains(&namespace);
        if self.settings.excluded_namespaces.contains(&namespace) {
            return (self.allowed(&request, "excluded-namespace"), None);
        }
        let generation = self.generation();
        // Taken before any tag is resolved: answers made now are not kept past the current
        // registry client's life, whichever client resolves them.
        let registry_until = generation.registries.fresh_until();
        let manifests = match review::triage(&request, &generation.config) {
            review::Triage::Allow(why) => return (self.allowed(&request, why), None),
            review::Triage::Deny(code, message) => {
                self.metrics.decision(Outcome::Denied, code);
                return (review::deny(&request, message), None);
            }
            review::Triage::Evaluate(m) => m,
        };
        let sites = manifests.sites.len();
        let permit = Arc::clone(&self.permits).try_acquire_owned();
        // Every site answered from the decision cache (under a digest the current registry
        // client resolved it to): no task, no waiting.
        let cached = permit
            .as_ref()
            .ok()
            .and_then(|_| self.cached(&generation, &manifests));
        let Ok(permit) = permit else {
            let response = self.unfinished(
                &request,
                "overloaded",
                "supplygate is overloaded: too many reviews in flight",
                audit,
            );
            return (response, None);
        };
        // The evaluation runs in its own task: past the deadline the review is answered, but
        // the verification finishes and fills the cache for the API server's retry. The task
        // holds the permit, so abandoned work still counts against the bound.
        let lock_in_use = generation.lock.is_some();
        let keep = |codes: Vec<String>, expires: Option<Instant>| {
            let expires = match (expires, registry_until) {
                (Some(e), Some(r)) => Some(e.min(r)),
                (e, None) => e,
                (None, Some(_)) => None,
            };
            expires.map(|expires| Keep {
                codes,
                sites,
                expires,
            })
        };
        if let Some((reports, expires)) = cached {
            drop(permit);
            let (response, codes) = self.answer(&request, endpoint, reports, lock_in_use, audit);
            return (response, keep(codes, Some(expires)));
        }
        let server = Arc::clone(self);
        let task = tokio::spawn(async move {
            server.in_flight.fetch_add(1, Ordering::Relaxed);
            let reports = server.evaluate(&generation, manifests).await;
            server.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            reports
        });
        let evaluated = match tokio::time::timeout(deadline, task).await {
            Ok(Ok(evaluated)) => evaluated,
            Ok(Err(_panicked)) => {
                let response =
                    self.unfinished(&request, "internal-error", "the evaluation failed", audit);
                return (response, None);
            }
            Err(_elapsed) => {
                let response = self.unfinished(
                    &request,
                    "deadline-exceeded",
                    &format!(
                        "verification did not finish within {}ms",
                        deadline.as_millis()
                    ),
                    audit,
                );
                return (response, None);
            }
        };
        // Kept only when every site's decision was cacheable: until the first expires.
        let expires = evaluated
            .iter()
            .map(|(_, e)| *e)
            .collect::<Option<Vec<Instant>>>()
            .and_then(|e| e.into_iter().min());
        let reports = evaluated.into_iter().map(|(r, _)| r).collect();
        let (response, codes) = self.answer(&request, endpoint, reports, lock_in_use, audit);
        (response, keep(codes, expires))
    }

    /// Each site's decision from the cache and when the first expires, or `None` when any is
    /// not there (fresh).
    fn cached(
        &self,
        generation: &Generation,
        manifests: &Manifests,
    ) -> Option<(Vec<Arc<ImageReport>>, Instant)> {
        // Until the first decision or resolution it is made of expires.
        let mut expires: Option<Instant> = None;
        let mut until = |e: Instant| expires = Some(expires.map_or(e, |x| x.min(e)));
        let decisions = manifests
            .sites
            .iter()
            .map(|site| {
                let (digest, resolved_until) = generation.registries.cached_digest(&site.image)?;
                let cached = generation.decisions.peek(&cache::Key::new(site, &digest))?;
                resolved_until.into_iter().for_each(&mut until);
                until(cached.expires);
                Some(cached)
            })
            .collect::<Option<Vec<_>>>()?;
        let expires = expires?;
        let reports = decisions
            .iter()
            .zip(&manifests.sites)
            .map(|(c, site)| {
                self.metrics.lookup(Lookup::Hit);
                Arc::new(c.decision.report(site.clone()))
            })
            .collect();
        Some((reports, expires))
    }

    /// The answer for the reports of every site (`/mutate`'s patch, pins under a lock), and
    /// the codes counted for it.
    fn answer(
        &self,
        request: &review::Request,
        endpoint: Endpoint,
        reports: Vec<Arc<ImageReport>>,
        lock_in_use: bool,
        audit: bool,
    ) -> (AdmissionResponse, Vec<String>) {
        let (patch, pinned) = match (endpoint, request.object.as_ref()) {
            (Endpoint::Mutate, Some(object)) => review::pin_patch(object, &reports),
            _ => (None, BTreeSet::new()),
        };
        let mut reports = reports;
        if lock_in_use && !self.settings.insecure_allow_unpinned_with_lock {
            require_pins(&mut reports, &pinned);
        }
        let (response, codes) = review::respond(request, &reports, audit, patch);
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
        (response, codes)
    }

    pub(super) fn allowed(
        &self,
        request: &review::Request,
        why: &'static str,
    ) -> AdmissionResponse {
        self.metrics.decision(Outcome::Allowed, why);
        AdmissionResponse::allow(request)
    }

    pub(super) fn unfinished(
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

    /// One report per image site, in site order, each from the cache or verified now, with
    /// until when its decision is cached (`None`: not cached).
    pub(super) async fn evaluate(
        self: &Arc<Self>,
        generation: &Arc<Generation>,
        manifests: Manifests,
    ) -> Vec<(Arc<ImageReport>, Option<Instant>)> {
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
        let mut reports: Vec<Option<(Arc<ImageReport>, Option<Instant>)>> = vec![None; sites.len()];
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
            .map(|(r, site)| r.unwrap_or_else(|| (Arc::new(failed_report(site)), None)))
            .collect()
    }

    /// Resolves the site's reference (from the current registry client, so a moved tag is
    /// seen within `tag_ttl`), then takes the decision for that digest from the cache or
    /// verifies it; with until when that decision is cached (`None`: not cached).
    pub(super) async fn evaluate_site(
        &self,
        generation: &Generation,
        registry: &Arc<Registry>,
        site: ImageSite,
    ) -> (Arc<ImageReport>, Option<Instant>) {
        let digest = match ImageRef::parse(&site.image) {
            Ok(reference) => match registry.resolve(&reference).await {
                Ok(resolved) => {
                    generation.registries.remember(
                        registry,
                        &site.image,
                        &resolved.digest,
                        self.settings.cache.max_entries,
                    );
                    Some(resolved.digest.to_string())
                }
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
                let key = cache::Key::new(&site, &digest);
                let (cached, lookup) = generation.decisions.get_or_evaluate(key, run).await;
                self.metrics.lookup(lookup);
                // The same report whether verified now or cached: made of the compact decision.
                let report = Arc::new(cached.decision.report(site));
                (report, Some(cached.expires))
            }
            // Nothing to key a decision on: evaluate (the registry client still caches the
            // lookup's failure for `tag_ttl`).
            None => {
                self.metrics.lookup(Lookup::Uncached);
                (Arc::new(run().await), None)
            }
        }
    }

    /// The one evaluation, as `check` runs it, for one site.
    pub(super) async fn verify(
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
        // Under an evidence lock, the generation's replay (whose client is `registry`):
        // reviewed against the lock as `check --locked` is, in admission mode.
        let live;
        let evidence = match &generation.lock {
            Some(replay) => replay,
            None => {
                live = Evidence::Live(Arc::clone(registry));
                &live
            }
        };
        let report =
            gate::evaluate_with(manifests, &generation.config, evidence, &policy, &|_, _| {}).await;
        report
            .images
            .into_iter()
            .next()
            .unwrap_or_else(|| failed_report(site))
    }
}

/// Under an evidence lock, what runs must be what the lock verified: a tag-only reference
/// (the kubelet pulls whatever the tag names when it starts the container) is denied, unless
/// `/mutate` pins it to the locked digest (`pinned`: indices of the reports the patch pins) or
/// an exemption or break-glass allowed it unverified anyway. The lock's "tag not checked"
/// warning gives way to the denial, or to the pin.
pub(super) fn require_pins(reports: &mut [Arc<ImageReport>], pinned: &BTreeSet<usize>) {
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
pub(super) fn failed_report(site: ImageSite) -> ImageReport {
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

pub(super) fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
