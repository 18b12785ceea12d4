//! `supplygate serve`: the admission webhook. Flags -> [`webhook::Settings`]; the server
//! itself is [`crate::webhook`].

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use super::{Context, GlobalArgs};
use crate::config::Config;
use crate::gate;
use crate::lock::Lock;
use crate::webhook::{self, CacheSettings, CertFiles, Settings};

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0: any free port; the bound address is printed on stderr)
    #[arg(
        long,
        env = "SUPPLYGATE_LISTEN",
        value_name = "ADDR",
        default_value = "0.0.0.0:8443"
    )]
    listen: SocketAddr,
    /// Serving certificate chain, PEM (reloaded when the file changes)
    #[arg(long, env = "SUPPLYGATE_TLS_CERT", value_name = "FILE")]
    tls_cert: PathBuf,
    /// Serving private key, PEM (reloaded when the file changes)
    #[arg(long, env = "SUPPLYGATE_TLS_KEY", value_name = "FILE")]
    tls_key: PathBuf,
    /// How often the certificate files are checked for changes
    #[arg(long, env = "SUPPLYGATE_TLS_RELOAD_INTERVAL", value_name = "DURATION",
          default_value = "10s", value_parser = duration)]
    tls_reload_interval: Duration,
    /// Longest time spent on one review; past it the review is denied (allowed with a warning
    /// in audit namespaces). Keep it below the webhook's `timeoutSeconds`
    #[arg(long, env = "SUPPLYGATE_DEADLINE", value_name = "DURATION", default_value = "8s",
          value_parser = duration)]
    deadline: Duration,
    /// Serve `/mutate`: pin tags to their verified digests with a JSONPatch (causes GitOps
    /// drift; prefer `supplygate pin` in git)
    #[arg(long, env = "SUPPLYGATE_MUTATE")]
    mutate: bool,
    /// The webhook's own namespace, never checked (so it can always restart)
    #[arg(long, env = "SUPPLYGATE_NAMESPACE", value_name = "NS")]
    namespace: Option<String>,
    /// Namespaces never checked (comma-separated or repeated)
    #[arg(
        long = "exclude-namespace",
        env = "SUPPLYGATE_EXCLUDE_NAMESPACES",
        value_name = "NS",
        value_delimiter = ',',
        default_value = "kube-system"
    )]
    exclude_namespaces: Vec<String>,
    /// Namespaces in audit mode: denials and unfinished verifications are allowed with a
    /// warning (comma-separated or repeated)
    #[arg(
        long = "audit-namespace",
        env = "SUPPLYGATE_AUDIT_NAMESPACES",
        value_name = "NS",
        value_delimiter = ','
    )]
    audit_namespaces: Vec<String>,
    /// How long an allow decision per image digest is reused
    #[arg(long, env = "SUPPLYGATE_DECISION_TTL", value_name = "DURATION", default_value = "5m",
          value_parser = duration)]
    decision_ttl: Duration,
    /// How long a deny decision is reused (could-not-decide answers are never reused)
    #[arg(long, env = "SUPPLYGATE_NEGATIVE_TTL", value_name = "DURATION", default_value = "30s",
          value_parser = duration)]
    negative_ttl: Duration,
    /// How long a tag's digest (and every other registry answer) is reused
    #[arg(long, env = "SUPPLYGATE_TAG_TTL", value_name = "DURATION", default_value = "1m",
          value_parser = duration)]
    tag_ttl: Duration,
    /// Most per-image decisions cached
    #[arg(long, env = "SUPPLYGATE_MAX_CACHED_DECISIONS", value_name = "N", default_value_t = 100_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_cached_decisions: u32,
    /// Most reviews evaluated at once; beyond it reviews are denied at once (overloaded)
    #[arg(long, env = "SUPPLYGATE_MAX_IN_FLIGHT", value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_in_flight: u32,
    /// Largest request body accepted, in bytes
    #[arg(long, env = "SUPPLYGATE_MAX_BODY_BYTES", value_name = "BYTES", default_value_t = 4 * 1024 * 1024,
          value_parser = clap::value_parser!(u32).range(1024..))]
    max_body_bytes: u32,
    /// On SIGTERM, longest wait for reviews in flight
    #[arg(long, env = "SUPPLYGATE_SHUTDOWN_GRACE", value_name = "DURATION", default_value = "20s",
          value_parser = duration)]
    shutdown_grace: Duration,
    /// Also reload every DURATION, as on SIGHUP: config, policies, lock, and with
    /// `--tuf-refresh` the Sigstore trusted root (a failed reload keeps the last good state).
    /// Off by default
    #[arg(long, env = "SUPPLYGATE_RELOAD_INTERVAL", value_name = "DURATION",
          value_parser = reload_interval)]
    reload_interval: Option<Duration>,
    /// Decide from this evidence lock (`check --write-lock`), without registry requests:
    /// images not in it, or decided otherwise than it records, are denied. Reloaded on SIGHUP
    #[arg(long, env = "SUPPLYGATE_LOCK", value_name = "FILE")]
    lock: Option<PathBuf>,
    /// With `--lock`, allow tag-only references with a warning instead of denying them (the
    /// kubelet then pulls whatever the tag names, which the lock never verified)
    #[arg(long, env = "SUPPLYGATE_INSECURE_ALLOW_UNPINNED_WITH_LOCK")]
    insecure_allow_unpinned_with_lock: bool,
}

fn duration(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
        .ok_or_else(|| format!("`{s}` is not a duration (hint: `500ms`, `8s`, `5m`, `1h`)"))
}

fn reload_interval(s: &str) -> Result<Duration, String> {
    let interval = duration(s)?;
    if interval < Duration::from_secs(1) {
        return Err(format!(
            "`{s}` is too short: every reload clears the decision cache (hint: `6h`)"
        ));
    }
    if interval > Duration::from_secs(366 * 24 * 3600) {
        return Err(format!(
            "`{s}` is longer than a year (hint: leave the flag out to reload on SIGHUP only)"
        ));
    }
    Ok(interval)
}

pub(crate) fn run(ctx: &Context, global: GlobalArgs, args: ServeArgs) -> anyhow::Result<u8> {
    let loaded = load(ctx.config.clone(), &global.policies, args.lock.as_deref())?;
    let mut excluded: BTreeSet<String> = args.exclude_namespaces.into_iter().collect();
    excluded.extend(args.namespace);
    excluded.retain(|ns| !ns.is_empty());
    let settings = Settings {
        listen: args.listen,
        cert: CertFiles {
            cert: args.tls_cert,
            key: args.tls_key,
        },
        cert_poll: args.tls_reload_interval.max(Duration::from_millis(100)),
        deadline: args.deadline,
        mutate: args.mutate,
        insecure_allow_unpinned_with_lock: args.insecure_allow_unpinned_with_lock,
        excluded_namespaces: excluded,
        audit_namespaces: args.audit_namespaces.into_iter().collect(),
        cache: CacheSettings {
            ttl: args.decision_ttl,
            negative_ttl: args.negative_ttl.min(args.decision_ttl),
            max_entries: usize::try_from(args.max_cached_decisions).unwrap_or(usize::MAX),
        },
        tag_ttl: args.tag_ttl,
        max_in_flight: usize::try_from(args.max_in_flight).unwrap_or(usize::MAX),
        max_body_bytes: usize::try_from(args.max_body_bytes).unwrap_or(usize::MAX),
        shutdown_grace: args.shutdown_grace,
        reload_interval: args.reload_interval,
        log_format: global.log_format,
        now: global.now.as_ref().map(|_| ctx.now),
    };
    let global = Arc::new(global);
    let lock_path = Arc::new(args.lock);
    let reloader: webhook::Reloader = Box::new(move |serving: &Config| {
        // A serving config whose signers still want a TUF root is on the embedded root (the
        // start fell back to it): only then may a failed refresh fall back again.
        let when = super::Loading::Reload {
            embedded_in_use: global.tuf_refresh && serving.needs_tuf_refresh(),
        };
        // On a thread of its own: `--tuf-refresh` runs a small runtime of its own, which
        // cannot be started from a thread of the server's runtime.
        let global = Arc::clone(&global);
        let lock_path = Arc::clone(&lock_path);
        std::thread::spawn(move || reload(&global, lock_path.as_deref(), when))
            .join()
            .unwrap_or_else(|_| Err("the reload failed unexpectedly".to_owned()))
    });
    ctx.runtime
        .block_on(webhook::serve(settings, loaded, reloader))
        .map_err(anyhow::Error::new)?;
    Ok(0)
}

/// Reads the config, policies and lock as at start (the same global flags apply).
fn reload(
    global: &GlobalArgs,
    lock: Option<&Path>,
    when: super::Loading,
) -> Result<webhook::Loaded, String> {
    let loaded = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a runtime for the reload")
        .and_then(|runtime| super::load_config(global, &runtime, when))
        .and_then(|config| load(config, &global.policies, lock));
    loaded.map_err(|e| format!("{e:#}"))
}

/// The policy library of `config` (and `policies`), and the evidence lock at `lock`.
fn load(
    config: Config,
    policies: &[PathBuf],
    lock: Option<&Path>,
) -> anyhow::Result<webhook::Loaded> {
    let engine = gate::load_policy(&config, policies)
        .map_err(|e| anyhow::anyhow!("cannot load the policies:\n{e}"))?;
    // An engine per core, loaded now rather than by the first reviews that run at once.
    engine.prepare(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get));
    let lock = lock
        .map(|path| Lock::read(path).map(Arc::new))
        .transpose()
        .context("cannot read the evidence lock (`--lock`)")?;
    Ok(webhook::Loaded {
        config,
        engine,
        lock,
    })
}
