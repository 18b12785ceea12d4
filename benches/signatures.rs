//! Benchmark (prints figures; fails only if verification did not happen): signature checking
//! for 500 signed images in a local `docker-registry`, cold and warm.
//!
//! Pushes 500 distinct images (25 repositories × 20 tags), signs each digest with one key
//! (cosign `.sig`, key-based, no transparency log) and pushes the signatures, writes 50
//! Deployments × 10 containers and a `supplygate.yaml` requiring signer `ci` for them. Then, RUNS
//! times (median reported):
//!
//! - cold CLI: the `supplygate check --format json` binary of this build as a fresh process,
//!   with the signature requirement, and again without it (resolution only), so the cost of
//!   signature checking shows as a difference;
//! - in process: one `Registry`, a first `gate::evaluate` (cold cache) and a second one over
//!   the same manifests (warm cache: no requests expected).
//!
//! Every run must allow all 500 images, each with a signature `verified_by: ["ci"]`; anything
//! else fails the benchmark.
//!
//! ```text
//! cargo bench --bench signatures          # RUNS=5
//! RUNS=3 cargo bench --bench signatures
//! ```
//!
//! `cargo test --all-targets` runs this target once without `--bench`; it then does nothing.

// The integration tests' helpers; the unit tests of `common::pki` are stripped here (no test
// harness), which leaves their imports unused.
#[allow(unused_imports)]
#[path = "../tests/it/common/mod.rs"]
mod common;
use common::pki;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use anyhow::{bail, ensure, Context as _};

use common::{docker_config_empty, TestRegistry};
use pki::{push_signatures, TestKey};
use supplygate::config::Config;
use supplygate::gate;
use supplygate::registry::Registry;
use supplygate::report::{Decision, Report};

const REPOS: usize = 25;
const TAGS_PER_REPO: usize = 20;
const IMAGES: usize = REPOS * TAGS_PER_REPO;
const PER_FILE: usize = 10;
/// Threads pushing images and signatures (the registry does the work; 2 cores here).
const PUSHERS: usize = 5;
const SIGNER: &str = "ci";

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench targets once
    // without it, and a five-minute benchmark has no place in the test suite.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "signatures benchmark: skipped (no `--bench`); run `cargo bench --bench signatures`"
        );
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signatures benchmark failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One scenario's figures in one run.
#[derive(Clone, Copy)]
struct Sample {
    ms: f64,
    /// `stats.requests` of the report.
    requests: u64,
    /// `/v2/` requests in the registry's access log.
    logged: usize,
}

fn run() -> anyhow::Result<()> {
    let runs: usize = match std::env::var("RUNS") {
        Ok(v) => v.parse().context("RUNS must be a positive number")?,
        Err(_) => 5,
    };
    ensure!(runs > 0, "RUNS must be at least 1");
    // Under `cargo bench` this is the binary of the same (release-based) build.
    let bin = std::env::var_os("SUPPLYGATE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_supplygate")));

    let registry = TestRegistry::start();
    let work = tempfile::Builder::new()
        .prefix("supplygate-bench-")
        .tempdir()
        .context("create a scratch directory")?;
    let dir = work.path();

    let started = Instant::now();
    let key = TestKey::generate();
    let refs = push_signed_images(&registry, &key)?;
    eprintln!(
        "pushed and signed {IMAGES} images on {} in {} ms",
        registry.host(),
        started.elapsed().as_millis()
    );

    let manifests = dir.join("manifests");
    write_manifests(&manifests, &refs)?;
    fs::write(dir.join("cosign.pub"), key.public_pem())?;
    let docker_config = docker_config_empty(&dir.join("docker"));
    let base = format!(
        "registries:\n  \"{host}\":\n    insecure: true\n\
         signers:\n  {SIGNER}:\n    key: cosign.pub\n    insecure_ignore_tlog: true\n",
        host = registry.host()
    );
    let with_require = dir.join("supplygate.yaml");
    fs::write(
        &with_require,
        format!("{base}require:\n  - images: [\"127.0.0.1:*/**\"]\n    signers: [{SIGNER}]\n"),
    )?;
    let resolve_only = dir.join("supplygate-resolve-only.yaml");
    fs::write(&resolve_only, &base)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;

    let mut cli_signed = Vec::new();
    let mut cli_resolve = Vec::new();
    let mut lib_cold = Vec::new();
    let mut lib_warm = Vec::new();
    for run in 1..=runs {
        let ctx = CliRun {
            bin: &bin,
            dir,
            docker_config: docker_config.parent().unwrap_or(dir),
            registry: &registry,
        };
        let signed = ctx.check(&with_require, Expect::Verified)?;
        let resolved = ctx.check(&resolve_only, Expect::ResolvedOnly)?;
        let (cold, warm) = in_process(
            &runtime,
            &registry,
            &with_require,
            &docker_config,
            &manifests,
        )?;
        eprintln!(
            "run {run}: check {:.0} ms / {} req; resolve only {:.0} ms / {} req; \
             in process cold {:.0} ms / {} req, warm {:.1} ms / {} req",
            signed.ms,
            signed.requests,
            resolved.ms,
            resolved.requests,
            cold.ms,
            cold.requests,
            warm.ms,
            warm.requests
        );
        cli_signed.push(signed);
        cli_resolve.push(resolved);
        lib_cold.push(cold);
        lib_warm.push(warm);
    }

    let rows = [
        ("check, signatures required (cold)", summarize(&cli_signed)),
        ("check, resolution only (cold)", summarize(&cli_resolve)),
        ("evaluate in process, cold cache", summarize(&lib_cold)),
        ("evaluate in process, warm cache", summarize(&lib_warm)),
    ];
    let mut out = format!(
        "{IMAGES} signed images ({REPOS} repositories × {TAGS_PER_REPO} tags) in {} Deployments, \
         key-based `.sig` signatures, median of {runs} runs\n",
        IMAGES / PER_FILE
    );
    let _ = writeln!(
        out,
        "{:<38}{:>12}{:>12}{:>12}{:>14}",
        "scenario", "wall ms", "requests", "logged", "requests/img"
    );
    for (name, s) in &rows {
        let _ = writeln!(
            out,
            "{:<38}{:>12.1}{:>12.0}{:>12.0}{:>14.2}",
            name,
            s.ms,
            s.requests,
            s.logged,
            s.requests / IMAGES as f64
        );
    }
    let (signed, resolved) = (summarize(&cli_signed), summarize(&cli_resolve));
    let _ = writeln!(
        out,
        "signature checking costs {:+.0} ms ({:.2}x the resolution-only run) and {:+.0} requests \
         ({:+.2} per image)",
        signed.ms - resolved.ms,
        signed.ms / resolved.ms.max(1.0),
        signed.requests - resolved.requests,
        (signed.requests - resolved.requests) / IMAGES as f64
    );
    print!("{out}");
    Ok(())
}

/// Pushes `IMAGES` distinct images, image `i` as `bench/app-<i % REPOS>:v<i>`, signs each
/// digest with `key` and pushes the signature. Returns the references in index order.
fn push_signed_images(registry: &TestRegistry, key: &TestKey) -> anyhow::Result<Vec<String>> {
    let mut refs = vec![String::new(); IMAGES];
    let pushed = thread::scope(|scope| {
        let handles: Vec<_> = (0..PUSHERS)
            .map(|worker| {
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for r in (worker..REPOS).step_by(PUSHERS) {
                        let repo = format!("bench/app-{r}");
                        let indices: Vec<usize> = (r..IMAGES).step_by(REPOS).collect();
                        let tags: Vec<String> = indices.iter().map(|i| format!("v{i}")).collect();
                        let digests = registry.push_generated_many(&repo, &tags);
                        let repository = registry.image(&repo);
                        for ((i, tag), digest) in indices.iter().zip(&tags).zip(&digests) {
                            let layer = key.sign(&repository, digest);
                            push_signatures(registry, &repo, digest, &[layer]);
                            out.push((*i, format!("{repository}:{tag}")));
                        }
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    });
    for result in pushed {
        // The harness panics on any unexpected registry answer; the message is already printed.
        let Ok(images) = result else {
            bail!("pushing images failed (see the panic above)");
        };
        for (i, reference) in images {
            if let Some(slot) = refs.get_mut(i) {
                *slot = reference;
            }
        }
    }
    ensure!(
        refs.iter().all(|r| !r.is_empty()),
        "not every image was pushed"
    );
    Ok(refs)
}

/// `deploy-NNN.yaml`, `PER_FILE` containers each; consecutive references are in different
/// repositories.
fn write_manifests(dir: &Path, refs: &[String]) -> anyhow::Result<()> {
    fs::create_dir_all(dir)?;
    for (n, chunk) in refs.chunks(PER_FILE).enumerate() {
        let mut containers = String::new();
        for (i, image) in chunk.iter().enumerate() {
            let _ = write!(
                containers,
                "        - name: c{i}\n          image: {image}\n"
            );
        }
        fs::write(
            dir.join(format!("deploy-{n:03}.yaml")),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{n}\nspec:\n  \
                 replicas: 1\n  selector:\n    matchLabels:\n      app: app-{n}\n  template:\n    \
                 metadata:\n      labels:\n        app: app-{n}\n    spec:\n      containers:\n\
                 {containers}"
            ),
        )?;
    }
    Ok(())
}

/// What a run must show.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Every image allowed, with a signature verified by `ci`.
    Verified,
    /// Every image resolved and allowed, no signatures looked at.
    ResolvedOnly,
}

/// Runs of the `supplygate` binary as a fresh process.
struct CliRun<'a> {
    bin: &'a Path,
    dir: &'a Path,
    docker_config: &'a Path,
    registry: &'a TestRegistry,
}

impl CliRun<'_> {
    fn check(&self, config: &Path, expect: Expect) -> anyhow::Result<Sample> {
        let before = self.registry.logged_requests();
        let started = Instant::now();
        let out = Command::new(self.bin)
            .arg("check")
            .arg("manifests")
            .arg("--config")
            .arg(config)
            .args(["--format", "json"])
            .current_dir(self.dir)
            .env_remove("SUPPLYGATE_CONFIG")
            .env_remove("SUPPLYGATE_FORMAT")
            .env("DOCKER_CONFIG", self.docker_config)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run `{}`", self.bin.display()))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let logged = self.registry.logged_requests().saturating_sub(before);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.code() != Some(0) {
            bail!(
                "`supplygate check` with {} exited with {} instead of allowing all images\n\
                 --- stderr\n{}\n--- stdout (start)\n{}",
                config.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr),
                stdout.chars().take(3000).collect::<String>()
            );
        }
        let report: serde_json::Value =
            serde_json::from_str(&stdout).context("`check --format json` printed no JSON")?;
        let images = report
            .get("images")
            .and_then(|i| i.as_array())
            .context("the report has no `images` array")?;
        ensure!(
            images.len() == IMAGES,
            "the report lists {} images, not {IMAGES}",
            images.len()
        );
        for image in images {
            ensure!(
                image
                    .get("digest")
                    .and_then(|d| d.as_str())
                    .is_some_and(|d| d.starts_with("sha256:")),
                "not resolved: {image}"
            );
            let verified_by = image.pointer("/signatures/facts/0/verified_by");
            match expect {
                Expect::Verified => ensure!(
                    verified_by == Some(&serde_json::json!([SIGNER])),
                    "no signature verified by `{SIGNER}`: {image}"
                ),
                Expect::ResolvedOnly => ensure!(
                    image.get("signatures").is_none_or(|s| s.is_null()),
                    "signatures were checked without a requirement: {image}"
                ),
            }
        }
        let requests = report
            .pointer("/stats/requests")
            .and_then(|r| r.as_u64())
            .context("the report has no `stats.requests`")?;
        Ok(Sample {
            ms,
            requests,
            logged,
        })
    }
}

/// One `Registry`, two evaluations of the same manifests: cold cache, then warm.
fn in_process(
    runtime: &tokio::runtime::Runtime,
    registry: &TestRegistry,
    config_path: &Path,
    docker_config: &Path,
    manifests: &Path,
) -> anyhow::Result<(Sample, Sample)> {
    let mut config = Config::load(Some(config_path)).context("load the benchmark config")?;
    config.registry.docker_config = Some(docker_config.to_owned());
    let client = Arc::new(Registry::new(config.registry.clone())?);
    let paths = [manifests.to_owned()];
    let no_progress = |_: usize, _: usize| {};
    let policy = gate::PolicyRun {
        engine: gate::load_policy(&config, &[]).map_err(|e| anyhow::anyhow!("{e}"))?,
        mode: supplygate::policy::input::Mode::Check,
        now: jiff::Timestamp::now(),
    };
    let mut samples = Vec::with_capacity(2);
    for _ in 0..2 {
        let before = registry.logged_requests();
        let started = Instant::now();
        let report = runtime.block_on(gate::evaluate(
            &paths,
            &config,
            &client,
            &policy,
            &no_progress,
        ))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let logged = registry.logged_requests().saturating_sub(before);
        all_verified(&report)?;
        samples.push(Sample {
            ms,
            requests: report.stats.requests,
            logged,
        });
    }
    match samples.as_slice() {
        [cold, warm] => Ok((*cold, *warm)),
        _ => bail!("expected two evaluations"),
    }
}

fn all_verified(report: &Report) -> anyhow::Result<()> {
    ensure!(
        report.decision() == Decision::Allow,
        "the evaluation did not allow every image"
    );
    ensure!(
        report.images.len() == IMAGES,
        "the report lists {} images, not {IMAGES}",
        report.images.len()
    );
    for image in &report.images {
        let verified = image
            .signatures
            .as_ref()
            .and_then(|s| s.facts.first())
            .is_some_and(|f| f.verified_by == [SIGNER]);
        ensure!(
            verified,
            "`{}`: no signature verified by `{SIGNER}`",
            image.site.image
        );
    }
    Ok(())
}

/// Medians of each figure.
struct Summary {
    ms: f64,
    requests: f64,
    logged: f64,
}

fn summarize(samples: &[Sample]) -> Summary {
    Summary {
        ms: median(samples.iter().map(|s| s.ms).collect()),
        requests: median(samples.iter().map(|s| s.requests as f64).collect()),
        logged: median(samples.iter().map(|s| s.logged as f64).collect()),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let middle = |i: usize| values.get(i).copied().unwrap_or(0.0);
    if n % 2 == 1 {
        middle(n / 2)
    } else {
        (middle((n / 2).saturating_sub(1)) + middle(n / 2)) / 2.0
    }
}
