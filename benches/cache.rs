//! Benchmark (prints figures; fails only if verification did not happen): requests and time
//! per key-signed image, cold and with the verification cache, beside its peers in one run.
//!
//! Pushes `IMAGES` distinct images (default 500; 25 repositories), signs each digest with one
//! key (cosign `.sig`, no transparency log), attaches to each a SLSA v1 provenance signed with
//! the same key (cosign's `.att`, a DSSE envelope; `ATTEST=0` leaves them out), and writes
//! Deployments naming them pinned by digest (`repo@sha256:…`) and by tag. Then, RUNS times
//! (medians reported):
//!
//! - `check` pinned, no cache (cold): every image resolved and its `.sig` verified;
//! - `check` pinned, `--cache-dir` fresh (cold, writing the cache), then again (warm);
//! - `check` by tag, with the warm cache (one request per tag expected);
//! - the floor: the cold run's own request list (from the registry's access log) replayed by
//!   one `curl` process on keep-alive connections, 2 in parallel;
//! - skopeo: `skopeo inspect --raw` of each image manifest and each `.sig` manifest, 2
//!   processes in parallel (less work than a check: no payload blob, no verification);
//! - with attestations: `check` pinned with a `provenance:` rule as well (signature and SLSA
//!   attestation verified per image), cold and with a warm cache, and its curl floor.
//!
//! cosign, the peer the issue names, cannot be installed here; the output says so. After the
//! runs, one cold `check -v` and one `check -vv` show how many log lines a run of this size
//! writes and how often the most repeated line (digits and hex masked) occurs.
//!
//! Peak RSS of each `check` comes from `/usr/bin/time -v` when it is installed. `IMAGES=10000
//! RUNS=1 SKIP_SKOPEO=1` is the scale run: time and requests should grow linearly.
//!
//! ```text
//! cargo bench --bench cache                  # IMAGES=500 RUNS=3
//! IMAGES=10000 RUNS=1 SKIP_SKOPEO=1 cargo bench --bench cache
//! ```
//!
//! `HOLD=1` stops after the setup (images pushed, manifests and configs written), prints the
//! scratch directory and the command of a cold check, and waits until `DIR/hold` is removed:
//! to profile one check by hand (`heaptrack`, `valgrind --tool=massif`) on the same images.
//!
//! `cargo test --all-targets` runs this target once without `--bench`; it then does nothing.

// Test code may unwrap (clippy.toml allows it in tests; this is not a test target).
#[allow(
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#[path = "../tests/it/common/mod.rs"]
mod common;
use common::{att, pki};

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::Instant;

use anyhow::{bail, ensure, Context as _};

use att::{push_attestations, Att, AttLayer, BUILDER, SOURCE};
use common::{docker_config_empty, TestRegistry};
use pki::{push_signatures, TestKey};

const REPOS: usize = 25;
const PER_FILE: usize = 10;
const PUSHERS: usize = 5;
const SIGNER: &str = "ci";
/// The config asking for a signature by [`SIGNER`] on every image.
const SIGNATURES: &str = "supplygate.yaml";
/// The config asking for a signature and a SLSA provenance by [`SIGNER`] on every image.
const ATTESTATIONS: &str = "supplygate-att.yaml";

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("cache benchmark: skipped (no `--bench`); run `cargo bench --bench cache`");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cache benchmark failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn env_number(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name} must be a number")),
        Err(_) => Ok(default),
    }
}

#[derive(Clone, Copy, Default)]
struct Sample {
    ms: f64,
    requests: f64,
    rss_kib: f64,
}

fn run() -> anyhow::Result<()> {
    let images = env_number("IMAGES", 500)?;
    let runs = env_number("RUNS", 3)?;
    let attest = env_number("ATTEST", 1)? != 0;
    ensure!(
        images >= REPOS && runs > 0,
        "IMAGES >= {REPOS} and RUNS >= 1"
    );
    // Absolute: the checks run in the scratch directory.
    let bin = std::env::var_os("SUPPLYGATE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_supplygate")));
    let bin = fs::canonicalize(&bin).with_context(|| format!("{}", bin.display()))?;
    let registry = TestRegistry::start();
    let work = tempfile::Builder::new()
        .prefix("supplygate-bench-")
        .tempdir()?;
    let dir = work.path();
    let started = Instant::now();
    let key = TestKey::generate();
    let pushed = push_signed_images(&registry, &key, images, attest)?;
    eprintln!(
        "pushed and signed {images} images{} on {} in {} ms",
        if attest { " with attestations" } else { "" },
        registry.host(),
        started.elapsed().as_millis()
    );
    let tagged: Vec<String> = pushed.iter().map(|(t, _)| t.clone()).collect();
    let pinned: Vec<String> = pushed
        .iter()
        .map(|(t, d)| format!("{}@{d}", t.rsplit_once(':').map_or(t.as_str(), |(r, _)| r)))
        .collect();
    write_manifests(&dir.join("tags"), &tagged)?;
    write_manifests(&dir.join("pinned"), &pinned)?;
    fs::write(dir.join("cosign.pub"), key.public_pem())?;
    let docker_config = docker_config_empty(&dir.join("docker"));
    fs::write(
        dir.join("supplygate.yaml"),
        format!(
            "registries:\n  \"{host}\":\n    insecure: true\n\
             signers:\n  {SIGNER}:\n    key: cosign.pub\n    insecure_ignore_tlog: true\n\
             require:\n  - images: [\"127.0.0.1:*/**\"]\n    signers: [{SIGNER}]\n",
            host = registry.host()
        ),
    )?;
    fs::write(
        dir.join("supplygate-att.yaml"),
        format!(
            "registries:\n  \"{host}\":\n    insecure: true\n\
             signers:\n  {SIGNER}:\n    key: cosign.pub\n    insecure_ignore_tlog: true\n\
             require:\n  - images: [\"127.0.0.1:*/**\"]\n    signers: [{SIGNER}]\n\
             provenance:\n  - images: [\"127.0.0.1:*/**\"]\n    signers: [{SIGNER}]\n    \
             builders: [\"{BUILDER}\"]\n    source: {SOURCE}\n    refs: [\"refs/heads/main\"]\n",
            host = registry.host()
        ),
    )?;
    if std::env::var_os("HOLD").is_some() {
        hold(dir, docker_config.parent().unwrap_or(dir), &bin)?;
    }
    let timer = Path::new("/usr/bin/time").is_file();
    let ctx = Cli {
        bin: &bin,
        dir,
        docker_config: docker_config.parent().unwrap_or(dir),
        images,
        timer,
    };
    let log = registry.scratch_dir().join("../access.log");
    let mut rows: Vec<(&str, Vec<Sample>)> = [
        "check pinned, no cache (cold)",
        "check pinned, cache cold (writing)",
        "check pinned, cache warm",
        "check by tag, cache warm",
        "curl replay of the cold run's requests (floor)",
        "skopeo inspect --raw image + .sig, 2 parallel",
        "check pinned, .sig + SLSA .att, no cache (cold)",
        "check pinned, .sig + SLSA .att, cache warm",
        "curl replay of the .sig + .att run (floor)",
    ]
    .into_iter()
    .take(if attest { 9 } else { 6 })
    .map(|n| (n, Vec::new()))
    .collect();
    for run in 1..=runs {
        let cache = dir.join(format!("cache-{run}"));
        let lines_before = v2_lines(&log).len();
        let cold = ctx.check(SIGNATURES, "pinned", None)?;
        let requests = v2_lines(&log)
            .into_iter()
            .skip(lines_before)
            .filter_map(|l| request_path(&l))
            .collect::<Vec<_>>();
        let cache_cold = ctx.check(SIGNATURES, "pinned", Some(&cache))?;
        let cache_warm = ctx.check(SIGNATURES, "pinned", Some(&cache))?;
        let tags_warm = ctx.check(SIGNATURES, "tags", Some(&cache))?;
        let floor = curl_replay(&registry.host(), &requests, dir)?;
        // `SKIP_SKOPEO=1` for scale runs: a process per inspection is minutes at 10,000.
        let skopeo = if std::env::var_os("SKIP_SKOPEO").is_some() {
            Sample::default()
        } else {
            skopeo(&pushed, &pinned)?
        };
        eprintln!(
            "run {run}: cold {:.0} ms/{} req; cache cold {:.0} ms, warm {:.0} ms/{} req; tags \
             warm {:.0} ms/{} req; curl floor {:.0} ms/{} req; skopeo {:.0} ms",
            cold.ms,
            cold.requests,
            cache_cold.ms,
            cache_warm.ms,
            cache_warm.requests,
            tags_warm.ms,
            tags_warm.requests,
            floor.ms,
            floor.requests,
            skopeo.ms
        );
        let mut samples = vec![cold, cache_cold, cache_warm, tags_warm, floor, skopeo];
        if attest {
            let lines_before = v2_lines(&log).len();
            let att_cold = ctx.check(ATTESTATIONS, "pinned", None)?;
            let requests = v2_lines(&log)
                .into_iter()
                .skip(lines_before)
                .filter_map(|l| request_path(&l))
                .collect::<Vec<_>>();
            let att_cache = dir.join(format!("cache-att-{run}"));
            ctx.check(ATTESTATIONS, "pinned", Some(&att_cache))?;
            let att_warm = ctx.check(ATTESTATIONS, "pinned", Some(&att_cache))?;
            let att_floor = curl_replay(&registry.host(), &requests, dir)?;
            eprintln!(
                "run {run}: .sig + .att cold {:.0} ms/{} req; warm {:.0} ms/{} req; curl floor \
                 {:.0} ms/{} req",
                att_cold.ms,
                att_cold.requests,
                att_warm.ms,
                att_warm.requests,
                att_floor.ms,
                att_floor.requests
            );
            samples.extend([att_cold, att_warm, att_floor]);
        }
        for (row, sample) in rows.iter_mut().zip(samples) {
            row.1.push(sample);
        }
    }
    let logged = if attest { ATTESTATIONS } else { SIGNATURES };
    let logs = [ctx.log_lines(logged, 1)?, ctx.log_lines(logged, 2)?];
    let n = images as f64;
    let mut out = format!(
        "{images} key-signed images ({REPOS} repositories), `.sig` signatures{}, median of \
         {runs} runs{}\n",
        if attest {
            " and SLSA v1 `.att` attestations"
        } else {
            ""
        },
        if timer {
            ""
        } else {
            " (no /usr/bin/time: no RSS)"
        }
    );
    let _ = writeln!(
        out,
        "{:<50}{:>10}{:>10}{:>10}{:>14}",
        "scenario", "wall ms", "ms/img", "req/img", "peak RSS MiB"
    );
    let medians: Vec<Sample> = rows.iter().map(|(_, s)| summarize(s)).collect();
    for ((name, _), m) in rows.iter().zip(&medians) {
        let _ = writeln!(
            out,
            "{name:<50}{:>10.0}{:>10.3}{:>10.2}{:>14}",
            m.ms,
            m.ms / n,
            m.requests / n,
            if m.rss_kib > 0.0 {
                format!("{:.1}", m.rss_kib / 1024.0)
            } else {
                "-".to_owned()
            }
        );
    }
    if let [cold, _, warm, tags, floor, skopeo, ..] = medians.as_slice() {
        let _ = writeln!(
            out,
            "cold check / curl floor: {:.2}x; warm cache: {:.1}x faster than cold, {:.1}x \
             faster than skopeo; by tag with warm cache: {:.1}x faster than cold",
            cold.ms / floor.ms.max(0.001),
            cold.ms / warm.ms.max(0.001),
            skopeo.ms / warm.ms.max(0.001),
            cold.ms / tags.ms.max(0.001),
        );
    }
    if let [.., att_cold, att_warm, att_floor] = medians.get(6..).unwrap_or_default() {
        let _ = writeln!(
            out,
            ".sig + .att: {:.2} requests/image cold (target <= 5), cold check / curl floor: \
             {:.2}x; warm cache {:.1}x faster than cold",
            att_cold.requests / n,
            att_cold.ms / att_floor.ms.max(0.001),
            att_cold.ms / att_warm.ms.max(0.001),
        );
    }
    for (level, (lines, repeated, line)) in [1, 2].iter().zip(&logs) {
        let _ = writeln!(
            out,
            "check -{}: {lines} stderr lines for {images} images; most repeated ({repeated}x): \
             {line}",
            "v".repeat(*level),
        );
    }
    let _ = writeln!(
        out,
        "cosign: not installable here (no binary, no Go modules); the peers in this run are the \
         curl replay (floor) and skopeo"
    );
    print!("{out}");
    Ok(())
}

/// `HOLD=1`: prints how to run a check on the setup in `dir`, then waits until `dir/hold` is
/// removed.
fn hold(dir: &Path, docker_config: &Path, bin: &Path) -> anyhow::Result<()> {
    let flag = dir.join("hold");
    fs::write(&flag, "remove this file to let the benchmark go on\n")?;
    eprintln!(
        "HOLD: setup in {dir}; a cold check:\n  cd {dir} && DOCKER_CONFIG={docker} {bin} check \
         pinned --config {SIGNATURES} --format json   (or --config {ATTESTATIONS})\n\
         remove {flag} to go on",
        dir = dir.display(),
        docker = docker_config.display(),
        bin = bin.display(),
        flag = flag.display(),
    );
    while flag.exists() {
        thread::sleep(std::time::Duration::from_millis(500));
    }
    Ok(())
}

/// Pushes `n` images, image `i` as `bench/app-<i % REPOS>:v<i>`, each signed with `key` and,
/// with `attest`, given a SLSA v1 provenance signed with `key` (cosign's `.att`).
/// Returns `(tag reference, digest)` in index order.
fn push_signed_images(
    registry: &TestRegistry,
    key: &TestKey,
    n: usize,
    attest: bool,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut refs = vec![(String::new(), String::new()); n];
    let pushed = thread::scope(|scope| {
        let handles: Vec<_> = (0..PUSHERS)
            .map(|worker| {
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for r in (worker..REPOS).step_by(PUSHERS) {
                        let repo = format!("bench/app-{r}");
                        let indices: Vec<usize> = (r..n).step_by(REPOS).collect();
                        let tags: Vec<String> = indices.iter().map(|i| format!("v{i}")).collect();
                        let digests = registry.push_generated_many(&repo, &tags);
                        let repository = registry.image(&repo);
                        for ((i, tag), digest) in indices.iter().zip(&tags).zip(&digests) {
                            let layer = key.sign(&repository, digest);
                            push_signatures(registry, &repo, digest, &[layer]);
                            if attest {
                                let provenance =
                                    AttLayer::signed(&Att::about(&repository, digest), key);
                                push_attestations(registry, &repo, digest, &[provenance]);
                            }
                            out.push((*i, format!("{repository}:{tag}"), digest.clone()));
                        }
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    });
    for result in pushed {
        let Ok(images) = result else {
            bail!("pushing images failed (see the panic above)");
        };
        for (i, reference, digest) in images {
            if let Some(slot) = refs.get_mut(i) {
                *slot = (reference, digest);
            }
        }
    }
    ensure!(
        refs.iter().all(|r| !r.0.is_empty()),
        "not every image was pushed"
    );
    Ok(refs)
}

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
            dir.join(format!("deploy-{n:04}.yaml")),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{n}\nspec:\n  \
                 template:\n    spec:\n      containers:\n{containers}"
            ),
        )?;
    }
    Ok(())
}

struct Cli<'a> {
    bin: &'a Path,
    dir: &'a Path,
    docker_config: &'a Path,
    images: usize,
    timer: bool,
}

impl Cli<'_> {
    /// `supplygate check <manifests> --config <config> --format json [--cache-dir cache]`:
    /// every image must be allowed with a signature verified by `ci` (and, with
    /// [`ATTESTATIONS`], an attestation verified by `ci`).
    fn check(&self, config: &str, manifests: &str, cache: Option<&Path>) -> anyhow::Result<Sample> {
        let mut command = if self.timer {
            let mut c = Command::new("/usr/bin/time");
            c.arg("-v").arg(self.bin);
            c
        } else {
            Command::new(self.bin)
        };
        command
            .args(["check", manifests, "--config", config, "--format", "json"])
            .current_dir(self.dir)
            .env_remove("SUPPLYGATE_CONFIG")
            .env_remove("SUPPLYGATE_FORMAT")
            .env_remove("SUPPLYGATE_CACHE_DIR")
            .env("DOCKER_CONFIG", self.docker_config)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        if let Some(cache) = cache {
            command.arg("--cache-dir").arg(cache);
        }
        let started = Instant::now();
        let out = command.output().context("run supplygate")?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.code() == Some(0),
            "`check {manifests}` exited with {}\n{}",
            out.status,
            stderr
                .chars()
                .rev()
                .take(3000)
                .collect::<String>()
                .chars()
                .rev()
                .collect::<String>()
        );
        let report: serde_json::Value = serde_json::from_str(&stdout)?;
        let listed = report
            .get("images")
            .and_then(|i| i.as_array())
            .context("no images")?;
        ensure!(
            listed.len() == self.images,
            "{} images listed",
            listed.len()
        );
        for image in listed {
            ensure!(
                image.pointer("/signatures/facts/0/verified_by")
                    == Some(&serde_json::json!([SIGNER])),
                "no signature verified by `{SIGNER}`: {image}"
            );
            ensure!(
                config != ATTESTATIONS
                    || image.pointer("/attestations/facts/0/verified_by")
                        == Some(&serde_json::json!([SIGNER])),
                "no attestation verified by `{SIGNER}`: {image}"
            );
        }
        let rss_kib = stderr
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Maximum resident set size (kbytes): ")
            })
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        Ok(Sample {
            ms,
            requests: report
                .pointer("/stats/requests")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(f64::NAN),
            rss_kib,
        })
    }
}

impl Cli<'_> {
    /// A cold `check` of the pinned images with `-v` repeated `level` times: how many lines it
    /// writes on stderr, and the most repeated line with digits and hex masked (how often, and
    /// the line) — a run of thousands of images must not log a line per image at `-v`.
    fn log_lines(&self, config: &str, level: usize) -> anyhow::Result<(usize, usize, String)> {
        let out = Command::new(self.bin)
            .args(["check", "pinned", "--config", config, "--format", "json"])
            .arg(format!("-{}", "v".repeat(level)))
            .current_dir(self.dir)
            .env_remove("SUPPLYGATE_CONFIG")
            .env_remove("SUPPLYGATE_FORMAT")
            .env_remove("SUPPLYGATE_CACHE_DIR")
            .env_remove("SUPPLYGATE_VERBOSE")
            .env("DOCKER_CONFIG", self.docker_config)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .context("run supplygate -v")?;
        ensure!(
            out.status.code() == Some(0),
            "`check -{}` exited with {}",
            "v".repeat(level),
            out.status
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut counts: HashMap<String, usize> = HashMap::new();
        for line in stderr.lines() {
            *counts.entry(mask_numbers(line)).or_default() += 1;
        }
        let (line, repeated) = counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .unwrap_or_default();
        let shown: String = line.chars().take(110).collect();
        Ok((stderr.lines().count(), repeated, shown))
    }
}

/// `line` with every run of hex digits (and digits) as `#`: lines that differ only in a
/// digest, a count or a time read as one.
fn mask_numbers(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() && word.bytes().any(|b| b.is_ascii_digit()) {
            out.push('#');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in line.chars() {
        if c.is_ascii_hexdigit() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The `/v2/` lines of the access log, markers left out.
fn v2_lines(log: &Path) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" /v2/") && !l.contains("supplygate-test-marker"))
        .map(str::to_owned)
        .collect()
}

/// `GET /v2/…` of an access log line (`"GET /v2/… HTTP/1.1"`).
fn request_path(line: &str) -> Option<String> {
    let start = line.find("\"GET ")? + 5;
    let rest = line.get(start..)?;
    let end = rest.find(" HTTP/")?;
    Some(rest.get(..end)?.to_owned())
}

/// Replays `paths` with one `curl` process, keep-alive, 2 transfers in parallel.
fn curl_replay(host: &str, paths: &[String], dir: &Path) -> anyhow::Result<Sample> {
    let mut config = String::new();
    for p in paths {
        let _ = writeln!(config, "url = \"http://{host}{p}\"\noutput = \"/dev/null\"");
    }
    let file = dir.join("curl-replay.txt");
    fs::write(&file, config)?;
    let started = Instant::now();
    let status = Command::new("curl")
        .args([
            "-s",
            "--no-progress-meter",
            "--parallel",
            "--parallel-max",
            "2",
            "-H",
        ])
        .arg(
            "Accept: application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json, \
             application/vnd.oci.image.index.v1+json",
        )
        .arg("-K")
        .arg(&file)
        .status()
        .context("run curl")?;
    ensure!(status.success(), "curl failed: {status}");
    Ok(Sample {
        ms: started.elapsed().as_secs_f64() * 1000.0,
        requests: paths.len() as f64,
        rss_kib: 0.0,
    })
}

/// `skopeo inspect --raw` of each pinned image and of its `.sig` tag, 2 processes at a time.
fn skopeo(pushed: &[(String, String)], pinned: &[String]) -> anyhow::Result<Sample> {
    let mut jobs: Vec<String> = Vec::new();
    for ((tagged, digest), pin) in pushed.iter().zip(pinned) {
        let repo = tagged.rsplit_once(':').map_or(tagged.as_str(), |(r, _)| r);
        jobs.push(pin.clone());
        jobs.push(format!("{repo}:{}.sig", digest.replacen(':', "-", 1)));
    }
    let started = Instant::now();
    let halves: Vec<&[String]> = jobs.chunks(jobs.len().div_ceil(2).max(1)).collect();
    let failed = thread::scope(|scope| {
        let handles: Vec<_> = halves
            .iter()
            .map(|half| {
                scope.spawn(move || {
                    half.iter()
                        .filter(|r| {
                            !Command::new("skopeo")
                                .args(["inspect", "--raw", "--tls-verify=false"])
                                .arg(format!("docker://{r}"))
                                .stdout(Stdio::null())
                                .stderr(Stdio::null())
                                .status()
                                .is_ok_and(|s| s.success())
                        })
                        .count()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(usize::MAX))
            .sum::<usize>()
    });
    ensure!(failed == 0, "{failed} skopeo inspections failed");
    Ok(Sample {
        ms: started.elapsed().as_secs_f64() * 1000.0,
        requests: jobs.len() as f64,
        rss_kib: 0.0,
    })
}

fn summarize(samples: &[Sample]) -> Sample {
    let median = |f: fn(&Sample) -> f64| {
        let mut v: Vec<f64> = samples.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    Sample {
        ms: median(|s| s.ms),
        requests: median(|s| s.requests),
        rss_kib: median(|s| s.rss_kib),
    }
}
