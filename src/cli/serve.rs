//! `supplygate serve`: the admission webhook. Flags -> [`webhook::Settings`]; the server
//! itself is [`crate::webhook`].

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser as _};

use super::{Cli, Context, GlobalArgs};
use crate::config::Config;
use crate::gate;
use crate::policy::input::Mode;
use crate::webhook::{self, CacheSettings, CertFiles, LogFormat, Settings};

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
    /// Log line format on stderr
    #[arg(long, env = "SUPPLYGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

fn duration(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
        .ok_or_else(|| format!("`{s}` is not a duration (hint: `500ms`, `8s`, `5m`, `1h`)"))
}

pub(crate) fn run(ctx: &Context, args: ServeArgs) -> anyhow::Result<u8> {
    // The global flags again, for SIGHUP reloads (the same arguments parse the same way).
    let global = Cli::try_parse_from(std::env::args_os())
        .context("cannot read the arguments again")?
        .global;
    let engine = ctx.policy(Mode::Admission)?.engine;
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
        log_format: args.log_format,
        now: global.now.as_ref().map(|_| ctx.now),
    };
    let loaded = webhook::Loaded {
        config: ctx.config.clone(),
        engine,
    };
    let global = std::sync::Arc::new(global);
    let reloader: webhook::Reloader = Box::new(move || {
        // On a thread of its own: `--tuf-refresh` runs a small runtime of its own, which
        // cannot be started from a thread of the server's runtime.
        let global = std::sync::Arc::clone(&global);
        std::thread::spawn(move || reload(&global))
            .join()
            .unwrap_or_else(|_| Err("the reload failed unexpectedly".to_owned()))
    });
    ctx.runtime
        .block_on(webhook::serve(settings, loaded, reloader))
        .map_err(anyhow::Error::new)?;
    Ok(0)
}

/// Reads the config and policies as at start (the same global flags apply, as in
/// `Context::new`).
fn reload(global: &GlobalArgs) -> Result<webhook::Loaded, String> {
    let render = |e: anyhow::Error| format!("{e:#}");
    let mut config =
        Config::load(global.config.as_deref()).map_err(|e| render(anyhow::Error::new(e)))?;
    if global.offline {
        config.registry.offline = true;
    }
    if let Some(n) = global.concurrency {
        config.registry.concurrency = usize::from(n);
    }
    for spec in &global.source_repos {
        config
            .add_clone(spec)
            .map_err(|e| format!("--source-repo {e}"))?;
    }
    if global.tuf_refresh {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime for `--tuf-refresh`: {e}"))?;
        super::refresh_trusted_root(&mut config, &runtime).map_err(render)?;
    }
    let engine = gate::load_policy(&config, &global.policies)
        .map_err(|e| format!("cannot load the policies:\n{e}"))?;
    Ok(webhook::Loaded { config, engine })
}
