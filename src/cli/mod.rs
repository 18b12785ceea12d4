//! The command line: clap arguments (raw) -> validated settings -> one of the subcommands.
//!
//! Exit codes: 0 allow, 1 deny, 2 could not decide or usage error.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand, ValueEnum};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::Config;
use crate::registry::Registry;
use crate::report::{self, human, Report};
use crate::webhook::LogFormat;

mod check;
mod completion;
mod config_cmd;
mod diff;
mod examples;
mod explain;
mod images;
mod init;
mod output;
mod pin;
mod policy_test;
mod select;
mod serve;
mod version;

/// Guards GitOps deployments: resolves every container image in your manifests to a digest and
/// blocks what fails, with file:line and the fix.
#[derive(Debug, Parser)]
#[command(name = "supplygate", version, about, long_about = None,
          after_help = examples::TOP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(Debug, Clone, Args)]
struct GlobalArgs {
    /// Config file [default: ./supplygate.yaml when present]
    #[arg(long, global = true, env = "SUPPLYGATE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// When to colour the output
    #[arg(long, global = true, env = "SUPPLYGATE_COLOR", value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Use only OCI layouts from the config; never touch the network
    #[arg(long, global = true, env = "SUPPLYGATE_OFFLINE")]
    offline: bool,
    /// Fetch Sigstore's trusted root through TUF for keyless signers (see `tuf:` in config)
    ///
    /// Only when a keyless signer has no `trusted_root` of its own: key-only configs make no
    /// request. With --offline, re-verifies the cache of an earlier refresh (`tuf.cache_dir`).
    /// Any TUF failure is an error (exit 2).
    #[arg(long, global = true, env = "SUPPLYGATE_TUF_REFRESH",
          value_parser = clap::builder::BoolishValueParser::new())]
    tuf_refresh: bool,
    /// Most registry requests in flight at once [default: from config, else 16]
    #[arg(long, global = true, env = "SUPPLYGATE_CONCURRENCY", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    concurrency: Option<u16>,
    /// Extra Rego policies and data: a file or directory (repeatable)
    #[arg(
        long = "policy",
        global = true,
        env = "SUPPLYGATE_POLICY",
        value_name = "PATH"
    )]
    policies: Vec<PathBuf>,
    /// The evaluation clock, RFC 3339 (tests and reproducible runs) [default: now]
    #[arg(
        long,
        global = true,
        env = "SUPPLYGATE_NOW",
        value_name = "TIME",
        hide = true
    )]
    now: Option<String>,
    /// A local clone of a source repository, for commit reachability: `URL=PATH` (repeatable)
    ///
    /// SUPPLYGATE_SOURCE_REPO holds one `URL=PATH` (a path may contain any character).
    #[arg(
        long = "source-repo",
        global = true,
        env = "SUPPLYGATE_SOURCE_REPO",
        value_name = "URL=PATH"
    )]
    source_repos: Vec<String>,
    /// More logging on stderr (-v info, -vv debug, -vvv trace)
    ///
    /// SUPPLYGATE_VERBOSE is the level as a number (0 to 3).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log line format on stderr: text, or one JSON object per line (every module's logs,
    /// the webhook's events and a final error)
    #[arg(long, global = true, env = "SUPPLYGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Resolve and check every image in the manifests; exit 0 allow, 1 deny, 2 could not decide
    #[command(after_help = examples::CHECK)]
    Check(check::CheckArgs),
    /// Rewrite image tags to `repo:tag@sha256:…` in place, keeping everything else byte for byte
    #[command(after_help = examples::PIN)]
    Pin(pin::PinArgs),
    /// Show everything known about one image: digest, platforms, every signature and its verdict
    #[command(after_help = examples::EXPLAIN)]
    Explain(explain::ExplainArgs),
    /// List the image sites in manifests (file:line:column, workload, field, extractor) without
    /// resolving anything
    #[command(after_help = examples::IMAGES)]
    Images(images::ImagesArgs),
    /// Run the admission webhook (AdmissionReview v1 over TLS)
    #[command(after_help = examples::SERVE)]
    Serve(serve::ServeArgs),
    /// Work with Rego policies
    #[command(subcommand, after_help = examples::POLICY)]
    Policy(PolicyCommand),
    /// Work with the config file
    #[command(subcommand, after_help = examples::CONFIG)]
    Config(config_cmd::ConfigCommand),
    /// Write a commented supplygate.yaml for a setup (keyless GitHub Actions, a key pair)
    #[command(after_help = examples::INIT)]
    Init(init::InitArgs),
    /// Print a JSON Schema
    #[command(after_help = examples::SCHEMA)]
    Schema {
        /// Which schema
        #[arg(value_enum)]
        which: SchemaKind,
    },
    /// Print a shell completion script
    #[command(after_help = examples::COMPLETION)]
    Completion(completion::CompletionArgs),
    /// Print or write man pages
    #[command(after_help = examples::MAN)]
    Man(completion::ManArgs),
    /// Print the version, git commit, build date, target, features and the embedded Sigstore
    /// trusted root
    #[command(after_help = examples::VERSION)]
    Version(version::VersionArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SchemaKind {
    /// supplygate.yaml
    Config,
    /// The policy input document (one per image)
    Input,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Run every `test_*` rule, like `opa test`; exit 1 when one fails
    #[command(after_help = examples::POLICY_TEST)]
    Test(policy_test::PolicyTestArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Output formats of reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Grouped by file, for people
    Human,
    /// The documented JSON report
    Json,
}

/// The clap command with the build's version texts (`-V` one line, `--version` everything
/// `supplygate version` says).
pub fn command() -> clap::Command {
    // Built once per process, and clap keeps `&'static str`s: leaking them is the intent.
    let short: &'static str = Box::leak(version::short_version().into_boxed_str());
    let long: &'static str = Box::leak(version::long_version().into_boxed_str());
    Cli::command().version(short).long_version(long)
}

/// Parses the arguments and runs; the binary's whole `main`.
pub fn main() -> ExitCode {
    let cli = match verbose_from_env().and_then(|()| {
        Cli::from_arg_matches(&empty_init_vars_unset(command()).get_matches()).map_err(Into::into)
    }) {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let log_format = cli.global.log_format;
    init_logging(verbosity(cli.global.verbose), log_format);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Quietly, but never 0: a decision that could not be written is not an allow.
            if !is_broken_pipe(&e) {
                match log_format {
                    LogFormat::Text => eprintln!("error: {e:#}"),
                    LogFormat::Json => tracing::error!("{e:#}"),
                }
            }
            ExitCode::from(2)
        }
    }
}

/// `init`'s options with an empty `SUPPLYGATE_INIT_*` variable read as unset: `SUPPLYGATE_INIT_KEY=`
/// in a shell means "no key", not clap's "a value is required for '--key'" (or an empty host).
fn empty_init_vars_unset(command: clap::Command) -> clap::Command {
    command.mut_subcommand("init", |mut init| {
        let empty: Vec<clap::Id> = init
            .get_arguments()
            .filter(|a| {
                a.get_env().is_some_and(|name| {
                    name.to_string_lossy().starts_with("SUPPLYGATE_INIT_")
                        && std::env::var_os(name).is_some_and(|v| v.is_empty())
                })
            })
            .map(|a| a.get_id().clone())
            .collect();
        for id in empty {
            init = init.mut_arg(id, |a| a.env(None));
        }
        init
    })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Every module's `tracing` output on stderr, at the level `-v` asks for, as text or as one
/// JSON object per line ([`crate::webhook::JsonEvents`], the webhook's own line format).
fn init_logging(verbose: u8, format: LogFormat) {
    let level = match verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        2 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    // supplygate's own events at the level asked; other crates' at `info` at most until
    // `-vvv`: at `-vv` hyper alone would log a line per request (10,000 images, 30,000 lines
    // saying "pooling idle connection").
    let ours = LevelFilter::from_level(level);
    let others = if verbose >= 3 {
        LevelFilter::TRACE
    } else {
        ours.min(LevelFilter::INFO)
    };
    let filter = Targets::new()
        .with_target(env!("CARGO_CRATE_NAME"), ours)
        .with_default(others);
    let logs = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs
            .with_ansi(std::io::stderr().is_terminal())
            .without_time()
            .finish()
            .with(filter)
            .init(),
        LogFormat::Json => logs
            .with_ansi(false)
            .event_format(crate::webhook::JsonEvents)
            .finish()
            .with(filter)
            .init(),
    }
}

/// `SUPPLYGATE_VERBOSE=N` applies as N `-v` flags when no `-v` is given: clap's `env` does
/// not count. Checked before parsing, so a bad value is a usage error (exit 2).
fn verbose_from_env() -> anyhow::Result<()> {
    match std::env::var("SUPPLYGATE_VERBOSE") {
        Ok(v) if v.is_empty() => Ok(()),
        Ok(v) => match v.parse::<u8>() {
            Ok(n) if n <= 3 => Ok(()),
            _ => anyhow::bail!("SUPPLYGATE_VERBOSE `{v}`: expected a number from 0 to 3"),
        },
        Err(std::env::VarError::NotPresent) => Ok(()),
        Err(std::env::VarError::NotUnicode(_)) => {
            anyhow::bail!("SUPPLYGATE_VERBOSE is not UTF-8")
        }
    }
}

/// The log level: `-v` flags, else `SUPPLYGATE_VERBOSE` (validated by [`verbose_from_env`]).
fn verbosity(flags: u8) -> u8 {
    if flags > 0 {
        return flags;
    }
    std::env::var("SUPPLYGATE_VERBOSE")
        .ok()
        .and_then(|v| v.parse::<u8>().ok())
        .unwrap_or(0)
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let Cli { command, global } = cli;
    match command {
        Command::Version(args) => version::run(&args),
        Command::Completion(args) => completion::completion(&args),
        Command::Man(args) => completion::man(&args),
        Command::Init(args) => init::run(&args),
        Command::Config(config_cmd::ConfigCommand::Validate(args)) => {
            config_cmd::run(&args, global.config.as_deref(), &global.policies)
        }
        Command::Images(args) => {
            let config = load_config_offline(&global)?;
            images::run(&config, &args.paths, &[], args.format)
        }
        Command::Check(args) if args.list => {
            let config = load_config_offline(&global)?;
            let format = match args.output.format() {
                output::OutputFormat::Human => Format::Human,
                output::OutputFormat::Json => Format::Json,
                other => anyhow::bail!(
                    "--list prints human or json, not {}",
                    other
                        .to_possible_value()
                        .map_or("this format".into(), |v| v.get_name().to_owned())
                ),
            };
            let exclude = args.select.exclude()?;
            images::run(&config, &args.paths, &exclude, format)
        }
        Command::Schema { which } => {
            write_stdout(match which {
                SchemaKind::Config => include_str!("../supplygate.schema.json"),
                SchemaKind::Input => include_str!("../../policies/input.schema.json"),
            })?;
            Ok(0)
        }
        Command::Policy(PolicyCommand::Test(args)) => policy_test::run(args),
        Command::Check(args) => match Context::new(&global) {
            Ok(ctx) => check::run(&ctx, args),
            // The config, a flag or the registry client: the reports still say so.
            Err(e) => check::failed(&args, e),
        },
        Command::Pin(args) => {
            let ctx = Context::new(&global)?;
            pin::run(&ctx, args)
        }
        Command::Explain(args) => {
            let ctx = Context::new(&global)?;
            explain::run(&ctx, args)
        }
        Command::Serve(args) => {
            let ctx = Context::new(&global)?;
            serve::run(&ctx, global, args)
        }
    }
}

/// What every subcommand needs: the validated config, the registry client, the runtime.
pub(crate) struct Context {
    config: Config,
    policies: Vec<PathBuf>,
    now: jiff::Timestamp,
    registry: Arc<Registry>,
    runtime: tokio::runtime::Runtime,
    color: human::Color,
}

impl Context {
    fn new(global: &GlobalArgs) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let config = load_config(global, &runtime, Loading::Start)?;
        let registry = Arc::new(
            Registry::new(config.registry.clone()).context("cannot set up the registry client")?,
        );
        let now = match &global.now {
            Some(t) => {
                let now = t
                    .parse::<jiff::Timestamp>()
                    .with_context(|| format!("--now `{t}` is not an RFC 3339 time"))?;
                // Never silent: a clock moved back (a variable left in a pipeline's
                // environment) accepts expired certificates and exemptions.
                tracing::warn!(
                    "--now (SUPPLYGATE_NOW): evaluating at {now}, not the real time; expiry of \
                     certificates, exemptions and timestamps is judged at that time"
                );
                now
            }
            None => jiff::Timestamp::now(),
        };
        let color = match global.color {
            ColorChoice::Always => human::Color::Always,
            ColorChoice::Never => human::Color::Never,
            ColorChoice::Auto => output::auto_color(
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
                std::env::var_os("TERM").as_deref(),
            ),
        };
        Ok(Self {
            config,
            policies: global.policies.clone(),
            now,
            registry,
            runtime,
            color,
        })
    }

    /// Loads the policy library for a run in `mode`; load problems are a usage error (exit 2).
    fn policy(&self, mode: crate::policy::input::Mode) -> anyhow::Result<crate::gate::PolicyRun> {
        let engine = crate::gate::load_policy(&self.config, &self.policies)
            .map_err(|e| anyhow::anyhow!("cannot load the policies:\n{e}"))?;
        Ok(crate::gate::PolicyRun {
            engine,
            mode,
            now: self.now,
        })
    }

    fn render(&self, report: &Report, format: Format, verbosity: human::Verbosity) -> String {
        match format {
            Format::Human => human::render(report, self.color, verbosity),
            Format::Json => report::json::render(report) + "\n",
        }
    }
}

/// The config file with the global flags applied (`--offline`, `--concurrency`,
/// `--source-repo`, `--tuf-refresh`, which runs on `runtime`): what every command starts
/// from, and what `serve` loads again on SIGHUP.
fn load_config(
    global: &GlobalArgs,
    runtime: &tokio::runtime::Runtime,
    when: Loading,
) -> anyhow::Result<Config> {
    let mut config = Config::load(global.config.as_deref())?;
    if global.offline {
        config.registry.offline = true;
    }
    if let Some(n) = global.concurrency {
        config.registry.concurrency = usize::from(n);
    }
    for spec in &global.source_repos {
        config
            .add_clone(spec)
            .map_err(|e| anyhow::anyhow!("--source-repo {e}"))?;
    }
    if global.tuf_refresh {
        refresh_trusted_root(&mut config, runtime, when)?;
    }
    Ok(config)
}

/// The config for commands that read manifests without resolving (`images`, `check --list`):
/// the file alone, never `--tuf-refresh`, and offline (nothing here may touch the network).
fn load_config_offline(global: &GlobalArgs) -> anyhow::Result<Config> {
    let mut config = Config::load(global.config.as_deref())?;
    config.registry.offline = true;
    Ok(config)
}

/// Whether a config is loaded for a command's start or for `serve`'s reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loading {
    Start,
    /// A reload. Unless the serving generation is on the embedded root already (its start
    /// fell back), a failed refresh fails the reload rather than fall back: the root fetched
    /// before keeps serving instead of an older one.
    Reload {
        embedded_in_use: bool,
    },
}

impl Loading {
    /// Whether `tuf.insecure_fallback_to_embedded` may apply.
    fn may_fall_back(self) -> bool {
        match self {
            Self::Start => true,
            Self::Reload { embedded_in_use } => embedded_in_use,
        }
    }
}

/// `--tuf-refresh`: fetches the trusted root through TUF and gives it to every signer on the
/// embedded root, when a keyless signer needs it; a key-only config makes no request. A
/// failure is an error (exit 2) unless `tuf.insecure_fallback_to_embedded` says otherwise.
fn refresh_trusted_root(
    config: &mut Config,
    runtime: &tokio::runtime::Runtime,
    when: Loading,
) -> anyhow::Result<()> {
    use crate::verify::{signers::SharedRoot, tuf};
    if !config.needs_tuf_refresh() {
        tracing::info!("--tuf-refresh: no keyless signer uses the embedded root; nothing fetched");
        return Ok(());
    }
    let network = if config.registry.offline {
        tuf::Network::Offline
    } else {
        tuf::Network::Online
    };
    let fetched = runtime
        .block_on(tuf::refresh(
            &config.tuf,
            network,
            config.registry.connect_timeout,
        ))
        .map_err(anyhow::Error::from)
        .and_then(|root| {
            SharedRoot::new(root).with_context(|| {
                format!("the trusted root from TUF `{}` is unusable", config.tuf.url)
            })
        });
    match fetched {
        Ok(root) => {
            tracing::info!(url = %config.tuf.url, "using the trusted root fetched through TUF");
            config.use_tuf_root(&root);
            Ok(())
        }
        Err(e) if config.tuf.insecure_fallback_to_embedded && when.may_fall_back() => {
            tracing::warn!(
                "{e:#}; using the embedded trusted root (`tuf.insecure_fallback_to_embedded`)"
            );
            Ok(())
        }
        Err(e) => Err(e.context("cannot refresh the Sigstore trusted root (`--tuf-refresh`)")),
    }
}

/// Writes to stdout. A reader that went away (`check … | head`) is not an error: the run
/// still exits with its decision, so a pipeline never turns a deny into a success.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    write_stdout_with(|out| out.write_all(text.as_bytes()))
}

/// Like [`write_stdout`], for a text `write` produces as it goes (a report too large to hold
/// twice).
fn write_stdout_with(
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Progress on stderr, only on a terminal and only when the work is long: `what` (a verb),
/// a bar, the count, and once it can be estimated the rate and the time left. Redrawn at most
/// ten times a second, so a run of 10,000 images writes what a person can read.
fn progress_printer(what: &'static str) -> impl Fn(usize, usize) + Send + Sync {
    let on_terminal = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    // Milliseconds since `started` of the last redraw (`u64::MAX`: none yet).
    let drawn = std::sync::atomic::AtomicU64::new(u64::MAX);
    move |done, total| {
        if !on_terminal || total < 20 {
            return;
        }
        if done >= total {
            eprint!("\r\x1b[K");
            return;
        }
        let elapsed = started.elapsed();
        let now = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX - 1);
        let last = drawn.load(std::sync::atomic::Ordering::Relaxed);
        if last != u64::MAX && now < last.saturating_add(100) {
            return;
        }
        drawn.store(now, std::sync::atomic::Ordering::Relaxed);
        eprint!("\r\x1b[K{}", progress_line(what, done, total, elapsed));
    }
}

/// One progress line: `checking [#####     ] 1700/10000, 850/s, 10s left`. The rate and
/// the time left appear after half a second (before that they would be noise).
fn progress_line(what: &str, done: usize, total: usize, elapsed: std::time::Duration) -> String {
    let width = 30;
    let done = done.min(total);
    let filled = done * width / total.max(1);
    let mut line = format!(
        "{what} [{}{}] {done}/{total}",
        "#".repeat(filled),
        " ".repeat(width - filled)
    );
    let seconds = elapsed.as_secs_f64();
    if done > 0 && seconds >= 0.5 {
        let rate = done as f64 / seconds;
        let left = (total - done) as f64 / rate;
        let left = if left < 60.0 {
            format!("{left:.0}s")
        } else {
            format!("{}m{:02}s", (left / 60.0) as u64, (left % 60.0) as u64)
        };
        line.push_str(&format!(", {rate:.0}/s, {left} left"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flags that have no `SUPPLYGATE_*` variable on purpose, as `command path --flag`, each
    /// with the reason.
    const NO_ENV_ON_PURPOSE: &[(&str, &str)] = &[(
        "supplygate check --list",
        "a variable left in a pipeline's environment would turn `check` into a listing that \
         exits 0, which the pipeline reads as allow",
    )];

    /// Every option of every command, as `command path --flag`, without a `SUPPLYGATE_*`
    /// variable.
    fn without_env(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            // Positionals are not flags; help and version only print. `-v` counts and reads
            // SUPPLYGATE_VERBOSE itself (clap's `env` cannot count).
            if arg.is_positional() || matches!(id, "help" | "version" | "verbose") {
                continue;
            }
            let flag = format!("{path} --{}", arg.get_long().unwrap_or(id));
            if NO_ENV_ON_PURPOSE.iter().any(|(f, _)| *f == flag) {
                assert!(
                    arg.get_env().is_none(),
                    "{flag} must have no variable: {}",
                    NO_ENV_ON_PURPOSE
                        .iter()
                        .find(|(f, _)| *f == flag)
                        .map_or("", |(_, why)| why)
                );
                continue;
            }
            match arg.get_env().and_then(|e| e.to_str()) {
                Some(env) if env.starts_with("SUPPLYGATE_") => {}
                _ => out.push(flag),
            }
        }
        for sub in cmd.get_subcommands() {
            without_env(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_has_a_supplygate_env_var() {
        let mut cmd = command();
        cmd.build();
        let mut missing = Vec::new();
        without_env(&cmd, "supplygate", &mut missing);
        assert!(
            missing.is_empty(),
            "flags without SUPPLYGATE_*: {missing:?}"
        );
        // The test sees the flags it must: the one issue 11 named among them.
        let check = cmd.find_subcommand("check").unwrap();
        let source_repo = check
            .get_arguments()
            .find(|a| a.get_long() == Some("source-repo"))
            .unwrap();
        assert_eq!(source_repo.get_env().unwrap(), "SUPPLYGATE_SOURCE_REPO");
        // The exceptions name flags that exist: a renamed flag does not leave a stale entry.
        let list = check
            .get_arguments()
            .find(|a| a.get_long() == Some("list"))
            .unwrap();
        assert!(list.get_env().is_none(), "`check --list` has no variable");
        assert_eq!(NO_ENV_ON_PURPOSE.len(), 1);
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn progress_line_shows_the_count_then_the_rate_and_the_time_left() {
        use std::time::Duration;
        assert_eq!(
            progress_line("checking", 0, 10_000, Duration::ZERO),
            format!("checking [{}] 0/10000", " ".repeat(30))
        );
        // Too early for a rate: the count only.
        assert_eq!(
            progress_line("checking", 10, 10_000, Duration::from_millis(100)),
            format!("checking [{}] 10/10000", " ".repeat(30))
        );
        assert_eq!(
            progress_line("checking", 2_500, 10_000, Duration::from_secs(5)),
            format!(
                "checking [{}{}] 2500/10000, 500/s, 15s left",
                "#".repeat(7),
                " ".repeat(23)
            )
        );
        assert_eq!(
            progress_line("resolving", 100, 10_000, Duration::from_secs(10)),
            format!(
                "resolving [{}] 100/10000, 10/s, 16m30s left",
                " ".repeat(30)
            )
        );
    }
}
