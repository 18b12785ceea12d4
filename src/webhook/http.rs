//! Serving: the TLS listener, signals (reload, graceful shutdown), the routes and the review
//! handler.

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
use serde_json::json;

use super::answer::{self, Answer};
use super::generation::Generation;
use super::metrics::{CacheSizes, Metrics};
use super::review::Endpoint;
use super::server::Server;
use super::{review, tls, Loaded, Log, LogFormat, Reloader, ServeError, Settings};
use crate::registry::Stats;

/// Runs the server until SIGTERM or SIGINT. Prints `listening on https://ADDR` on stderr once
/// the socket is bound (port 0 picks a free port).
pub async fn serve(
    settings: Settings,
    loaded: Loaded,
    reloader: Reloader,
) -> Result<(), ServeError> {
    let log = Log::new(settings.log_format).queued();
    let served = serve_with(settings, loaded, reloader, log).await;
    super::log::flush();
    served
}

async fn serve_with(
    settings: Settings,
    loaded: Loaded,
    reloader: Reloader,
    log: Log,
) -> Result<(), ServeError> {
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
        // After the lines queued before it (a stale lock's warning).
        super::log::flush();
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
    let caches = CacheSizes {
        decisions: generation.decisions.len(),
        decision_bytes: generation.decisions.bytes(),
        answers: generation.answers.len(),
        answer_bytes: generation.answers.bytes(),
    };
    let text = server.metrics.render(
        registry,
        caches,
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
    let bad_request = |e: review::ReviewError| {
        server.metrics.bad_request();
        server
            .log
            .warn("bad-request", json!({"error": e.to_string()}));
        plain(StatusCode::BAD_REQUEST, &e.to_string())
    };
    let wire = match review::read(&bytes) {
        Ok(w) => w,
        Err(e) => return bad_request(e),
    };
    // Keyed before any expensive work: a review seen before is answered from its bytes.
    let key = answer::Key::new(&wire, endpoint);
    let generation = server.generation();
    if let Some((body, hit)) = server.answered(&generation, &key, &wire) {
        drop(generation);
        let elapsed = started.elapsed();
        server.metrics.latency(elapsed);
        log_review(
            &server,
            &wire.uid,
            &hit.object,
            wire.operation.as_str(),
            endpoint,
            hit.allowed,
            hit.warnings,
            elapsed,
        );
        return json_response(body);
    }
    let request = match wire.into_request() {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    let deadline = effective_deadline(server.settings.deadline, query.as_deref());
    let uid = request.uid.clone();
    let object = review::object_name(&request);
    let operation = review::operation_name(&request);
    let (response, keep) = server.admit(request, endpoint, deadline).await;
    let elapsed = started.elapsed();
    server.metrics.latency(elapsed);
    let warnings = response.warnings.as_ref().map_or(0, Vec::len);
    log_review(
        &server,
        &uid,
        &object,
        &operation,
        endpoint,
        response.allowed,
        warnings,
        elapsed,
    );
    // Kept in the generation the review was keyed in: a reload meanwhile made it a cache
    // nobody reads.
    if let Some(keep) = keep {
        if let Some(answer) = Answer::new(&response, &keep.codes, keep.sites, &object, keep.expires)
        {
            generation.answers.insert(key, answer);
        }
    }
    match response.to_json() {
        Ok(body) => json_response(body),
        // No answer is a failed call, which the API server's failurePolicy decides.
        Err(_) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the answer",
        ),
    }
}

fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The `review` log line.
#[allow(clippy::too_many_arguments)]
fn log_review(
    server: &Server,
    uid: &str,
    object: &str,
    operation: &str,
    endpoint: Endpoint,
    allowed: bool,
    warnings: usize,
    elapsed: Duration,
) {
    server.log.info(
        "review",
        json!({
            "uid": uid,
            "object": object,
            "operation": operation,
            "endpoint": if endpoint == Endpoint::Mutate { "mutate" } else { "validate" },
            "allowed": allowed,
            "warnings": warnings,
            "elapsed_ms": u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        }),
    );
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
