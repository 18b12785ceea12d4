//! The admission webhook (`supplygate serve`): AdmissionReview v1 over TLS in, the same
//! evaluation as `check` (mode `admission`) per image, the answer out.
//!
//! A thin front end around [`crate::gate::evaluate_with`]: [`review`] translates reviews in and
//! out; this module adds what a server needs around it:
//!
//! - **Caches.** Registry answers (tag -> digest included) come from a [`crate::registry::Registry`] that is
//!   replaced every `tag_ttl`, so tags can move; per-image decisions are cached by resolved
//!   digest and site ([`cache`]) for `ttl` (allow) or `negative_ttl` (deny), and concurrent
//!   reviews of one image share one verification.
//! - **A deadline** below the API server's timeout: a review that is not decided by then is
//!   denied ("verification did not finish"), or allowed with a warning in an audit namespace.
//!   The verification keeps running and fills the cache for the API server's retry.
//! - **Bounds.** Request body size; reviews in flight (beyond it: an immediate deny); the
//!   number of cached decisions.
//! - **Reloads.** SIGHUP reloads the config, policies and evidence lock into a new
//!   [`generation::Generation`] (swapped atomically; reviews in flight finish on the old one); the
//!   certificate is reloaded when its files change ([`tls`]). SIGTERM stops accepting,
//!   finishes what is in flight, exits.
//! - **An evidence lock** (`serve --lock`): each generation builds one
//!   [`crate::gate::Evidence::Replaying`] in [`crate::gate::TagCheck::Admission`] mode, whose
//!   client answers from the lock only (no registry requests); the one evaluation compares
//!   every review with the lock ([`Lock::review`]) as it does for `check --locked`. The webhook
//!   keeps no lock workflow of its own, only its admission rule: a tag-only reference is
//!   denied unless `/mutate` pins it to the locked digest.
//!
//! Fail closed everywhere: a review that cannot be evaluated is denied, never allowed.

mod answer;
mod cache;
mod generation;
mod http;
mod log;
mod metrics;
pub mod review;
mod server;
mod tls;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use cache::CacheSettings;
pub use http::serve;
pub(crate) use log::{json_logs, Log};
pub use log::{JsonEvents, LogFormat};
pub use tls::{CertFiles, TlsError};

use crate::config::Config;
use crate::lock::{Lock, LockError};
use crate::policy;
use crate::registry::RegistryError;

/// How the server runs; fixed for its life (a SIGHUP reloads the [`generation::Generation`], not these).
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
