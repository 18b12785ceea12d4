//! Counters of the webhook, rendered by hand in the Prometheus text format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::registry::Stats;

/// Upper bounds of the latency histogram, in seconds: from 100 µs (an answer from the
/// cache takes tens of microseconds) to 5 s.
const BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How one review ended, for `supplygate_admission_decisions_total{result=…}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Outcome {
    /// Allowed.
    Allowed,
    /// Denied.
    Denied,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
        }
    }
}

/// How a per-image decision was found, for the cache counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// A fresh cached decision.
    Hit,
    /// Another review was verifying the same image; this one waited for its answer.
    Coalesced,
    /// Verified for this review.
    Miss,
    /// Not cacheable (the reference did not resolve): evaluated for this review.
    Uncached,
}

/// How much the decision and answer caches hold, for the gauges.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CacheSizes {
    /// Per-image decisions.
    pub(crate) decisions: usize,
    /// Their bytes, roughly (keys, entries, decisions).
    pub(crate) decision_bytes: usize,
    /// Whole answers.
    pub(crate) answers: usize,
    /// Their bytes, roughly.
    pub(crate) answer_bytes: usize,
}

/// Every counter the webhook exposes.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    decisions: Mutex<BTreeMap<(Outcome, String), u64>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    cache_hits: AtomicU64,
    cache_coalesced: AtomicU64,
    cache_misses: AtomicU64,
    uncached: AtomicU64,
    verifications: AtomicU64,
    registry_errors: Mutex<BTreeMap<String, u64>>,
    bad_requests: AtomicU64,
    reloads: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A counter map is valid after any panic elsewhere: keep counting.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    /// Counts one answered review under `code` (the failing finding's code, or why it was
    /// allowed without evaluation).
    pub(crate) fn decision(&self, outcome: Outcome, code: &str) {
        *lock(&self.decisions)
            .entry((outcome, code.to_owned()))
            .or_default() += 1;
    }

    /// Records how long one review took.
    pub(crate) fn latency(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.latency_buckets) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts a per-image lookup.
    pub(crate) fn lookup(&self, lookup: Lookup) {
        let counter = match lookup {
            Lookup::Hit => &self.cache_hits,
            Lookup::Coalesced => &self.cache_coalesced,
            Lookup::Miss => &self.cache_misses,
            Lookup::Uncached => &self.uncached,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one run of the verification pipeline (resolution, signatures, policy).
    pub(crate) fn verification(&self) {
        self.verifications.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a registry error by its code.
    pub(crate) fn registry_error(&self, code: &str) {
        *lock(&self.registry_errors)
            .entry(code.to_owned())
            .or_default() += 1;
    }

    /// Counts a request answered with HTTP 4xx.
    pub(crate) fn bad_request(&self) {
        self.bad_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a reload of `what` (`config`, `certificate`) that ended in `result`.
    pub(crate) fn reload(&self, what: &'static str, result: &'static str) {
        *lock(&self.reloads).entry((what, result)).or_default() += 1;
    }

    /// The text exposition; `registry` are the registry client's counters so far,
    /// `caches` what the caches hold now, `in_flight` the reviews being worked on.
    pub(crate) fn render(&self, registry: Stats, caches: CacheSizes, in_flight: usize) -> String {
        let CacheSizes {
            decisions: cached,
            decision_bytes,
            answers,
            answer_bytes,
        } = caches;
        let mut out = String::with_capacity(4096);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP supplygate_admission_decisions_total Admission reviews answered, by result and code.\n\
             # TYPE supplygate_admission_decisions_total counter"
        );
        for ((outcome, code), n) in lock(&self.decisions).iter() {
            let _ = writeln!(
                out,
                "supplygate_admission_decisions_total{{result=\"{}\",code=\"{}\"}} {n}",
                outcome.as_str(),
                escape(code)
            );
        }
        let _ = writeln!(
            out,
            "# HELP supplygate_admission_duration_seconds Time to answer an admission review.\n\
             # TYPE supplygate_admission_duration_seconds histogram"
        );
        for (bound, count) in BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "supplygate_admission_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                load(count)
            );
        }
        let count = load(&self.latency_count);
        let sum = Duration::from_micros(load(&self.latency_sum_micros)).as_secs_f64();
        let _ = writeln!(
            out,
            "supplygate_admission_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             supplygate_admission_duration_seconds_sum {sum}\n\
             supplygate_admission_duration_seconds_count {count}"
        );
        let _ = writeln!(
            out,
            "# HELP supplygate_decision_cache_requests_total Per-image decision lookups, by result.\n\
             # TYPE supplygate_decision_cache_requests_total counter\n\
             supplygate_decision_cache_requests_total{{result=\"hit\"}} {}\n\
             supplygate_decision_cache_requests_total{{result=\"coalesced\"}} {}\n\
             supplygate_decision_cache_requests_total{{result=\"miss\"}} {}\n\
             supplygate_decision_cache_requests_total{{result=\"uncacheable\"}} {}\n\
             # HELP supplygate_decision_cache_entries Per-image decisions currently cached.\n\
             # TYPE supplygate_decision_cache_entries gauge\n\
             supplygate_decision_cache_entries {cached}\n\
             # HELP supplygate_decision_cache_bytes Bytes the cached per-image decisions hold, roughly.\n\
             # TYPE supplygate_decision_cache_bytes gauge\n\
             supplygate_decision_cache_bytes {decision_bytes}\n\
             # HELP supplygate_answer_cache_entries Whole answers to reviews currently cached.\n\
             # TYPE supplygate_answer_cache_entries gauge\n\
             supplygate_answer_cache_entries {answers}\n\
             # HELP supplygate_answer_cache_bytes Bytes the cached answers hold, roughly.\n\
             # TYPE supplygate_answer_cache_bytes gauge\n\
             supplygate_answer_cache_bytes {answer_bytes}\n\
             # HELP supplygate_verifications_total Runs of the verification pipeline for one image.\n\
             # TYPE supplygate_verifications_total counter\n\
             supplygate_verifications_total {}\n\
             # HELP supplygate_registry_requests_total HTTP requests sent to registries.\n\
             # TYPE supplygate_registry_requests_total counter\n\
             supplygate_registry_requests_total {}\n\
             # HELP supplygate_registry_cache_hits_total Registry answers served from the in-process cache.\n\
             # TYPE supplygate_registry_cache_hits_total counter\n\
             supplygate_registry_cache_hits_total {}\n\
             # HELP supplygate_registry_errors_total Registry lookups that failed, by code.\n\
             # TYPE supplygate_registry_errors_total counter",
            load(&self.cache_hits),
            load(&self.cache_coalesced),
            load(&self.cache_misses),
            load(&self.uncached),
            load(&self.verifications),
            registry.requests,
            registry.cache_hits,
        );
        for (code, n) in lock(&self.registry_errors).iter() {
            let _ = writeln!(
                out,
                "supplygate_registry_errors_total{{code=\"{}\"}} {n}",
                escape(code)
            );
        }
        let _ = writeln!(
            out,
            "# HELP supplygate_http_bad_requests_total Requests refused with HTTP 4xx (malformed, too large).\n\
             # TYPE supplygate_http_bad_requests_total counter\n\
             supplygate_http_bad_requests_total {}\n\
             # HELP supplygate_reviews_in_flight Reviews being evaluated now.\n\
             # TYPE supplygate_reviews_in_flight gauge\n\
             supplygate_reviews_in_flight {in_flight}\n\
             # HELP supplygate_reloads_total Reloads of the config and policies or of the certificate.\n\
             # TYPE supplygate_reloads_total counter",
            load(&self.bad_requests)
        );
        for ((what, result), n) in lock(&self.reloads).iter() {
            let _ = writeln!(
                out,
                "supplygate_reloads_total{{what=\"{what}\",result=\"{result}\"}} {n}"
            );
        }
        out
    }
}

/// Escapes a label value (backslash, quote, newline).
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.decision(Outcome::Denied, "unsigned-image");
        m.decision(Outcome::Denied, "unsigned-image");
        m.decision(Outcome::Allowed, "none");
        m.latency(Duration::from_millis(3));
        m.latency(Duration::from_millis(700));
        m.lookup(Lookup::Hit);
        m.registry_error("registry-timeout");
        let text = m.render(
            Stats {
                requests: 7,
                cache_hits: 2,
            },
            CacheSizes {
                decisions: 1,
                decision_bytes: 300,
                answers: 2,
                answer_bytes: 900,
            },
            0,
        );
        assert!(text.contains(
            "supplygate_admission_decisions_total{result=\"denied\",code=\"unsigned-image\"} 2"
        ));
        assert!(text.contains("supplygate_admission_duration_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("supplygate_admission_duration_seconds_bucket{le=\"1\"} 2"));
        assert!(text.contains("supplygate_admission_duration_seconds_count 2"));
        assert!(text.contains("supplygate_decision_cache_requests_total{result=\"hit\"} 1"));
        assert!(text.contains("supplygate_registry_requests_total 7"));
        assert!(text.contains("supplygate_decision_cache_entries 1\n"));
        assert!(text.contains("supplygate_decision_cache_bytes 300\n"));
        assert!(text.contains("supplygate_answer_cache_entries 2\n"));
        assert!(text.contains("supplygate_answer_cache_bytes 900\n"));
        assert!(text.contains("supplygate_registry_errors_total{code=\"registry-timeout\"} 1"));
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
