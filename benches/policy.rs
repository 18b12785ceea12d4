//! Benchmark (prints figures; fails only if the engines disagree): the shipped policy library
//! (`policy::shipped::MODULES`) under supplygate's engine (regorus) and under OPA 1.20.2 (the
//! PyPI package `opa-golib-python-bindings==0.4.4`, through `benches/policy_opa.py`) in the
//! same run, on the same data (`fixtures/policy/library-inputs/data/supplygate.json`) and the
//! same inputs. Medians throughout:
//!
//! - load: the modules and the data into a ready engine (median of LOADS); and load plus the
//!   first decision, which is where OPA compiles;
//! - per image: each fixture of `fixtures/policy/library-inputs/` decided ITERATIONS times,
//!   each decision timed on its own (after one warm-up); the median per fixture, then the
//!   median of those;
//! - 1,000 images: the fixtures cycled to 1,000 inputs, each with its own workload name, file
//!   and digests (every `sha256:`/`sha256-` digest replaced consistently within the input, so
//!   what was equal stays equal); all decided after one warm-up pass, RUNS times; on one
//!   thread, and on THREADS threads sharing one engine (regorus) or one engine per thread
//!   (OPA; the bindings serialise evaluations per engine).
//! - 1,000 workload sites: the same fixtures cycled to 1,000 inputs with their own workload
//!   names but the fixtures' images and facts (a repository whose workloads share images),
//!   decided through the memo (`Engine::evaluate`, keyed by what the modules can read) from a
//!   fresh engine, RUNS times; regorus only (OPA decides each afresh, as in the row above).
//!
//! Both sides evaluate the same rules: every `deny`/`warn` of the deciding packages
//! (`data.supplygate.images.deny`, ...). regorus sets the input once and evaluates each rule
//! (`Engine::evaluate`); OPA runs one query per input binding all of them. OPA's figures
//! include the bindings' JSON encoding and the cgo call (the price of using OPA from outside
//! Go); regorus' include converting the `serde_json` input. The warm-up pass's decisions must
//! give the same deny/warn codes in both engines, and the codes `data/expected.json` lists
//! for the fixture each input came from; anything else fails the benchmark.
//!
//! ```text
//! benches/policy.sh                        # installs the OPA bindings if needed, then:
//! cargo bench --bench policy               # RUNS=5 LOADS=10 ITERATIONS=100 THREADS=2
//! VERBOSE=1 cargo bench --bench policy     # and a line per fixture
//! OPA_PYTHON=/path/to/python cargo bench --bench policy
//! ```
//!
//! The OPA side runs with `OPA_PYTHON`, else `target/opa-venv/bin/python` (where
//! `tests/opa_parity.sh` and `benches/policy.sh` install the bindings), else `python3`.
//! `RUST_LIB_BACKTRACE` is set to `0` unless given: regorus builds `anyhow` errors on ordinary
//! paths, and with `RUST_BACKTRACE=1` each would capture a backtrace (a quarter of its time).
//! `cargo test --all-targets` runs this target once without `--bench`; it then does nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context as _};
use regex::{Captures, Regex};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use supplygate::policy::{shipped, Decision, Engine, Limits, Loader};

const IMAGES: usize = 1000;
const INPUTS: &str = "fixtures/policy/library-inputs";
const DATA: &str = "fixtures/policy/library-inputs/data/supplygate.json";
const EXPECTED: &str = "fixtures/policy/library-inputs/data/expected.json";
const OPA_SCRIPT: &str = "benches/policy_opa.py";
const VENV: &str = "target/opa-venv";

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench targets once
    // without it, and a benchmark has no place in the test suite.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("policy benchmark: skipped (no `--bench`); run `cargo bench --bench policy`");
        return ExitCode::SUCCESS;
    }
    // regorus builds `anyhow` errors on ordinary evaluation paths; with `RUST_BACKTRACE=1` in
    // the environment each would capture a backtrace, which costs regorus a quarter of its
    // time. Measure what a deployment without it gets, unless told otherwise. (Still one
    // thread here, so changing the environment is sound.)
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("policy benchmark failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Repetition counts, from the environment.
struct Settings {
    runs: usize,
    loads: usize,
    iterations: usize,
    threads: usize,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            runs: count("RUNS", 5)?,
            loads: count("LOADS", 10)?,
            iterations: count("ITERATIONS", 100)?,
            threads: count("THREADS", 2)?,
        })
    }
}

fn count(name: &str, default: usize) -> anyhow::Result<usize> {
    let n = match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("`{name}` must be a positive number, not `{v}`"))?,
        Err(_) => default,
    };
    ensure!(n > 0, "`{name}` must be at least 1");
    Ok(n)
}

/// One fixture: its file name, its input and the codes `expected.json` lists for it.
struct Fixture {
    name: String,
    input: Value,
    expected: Codes,
}

/// The deny and warn codes of one decision, sorted; `<none>` for an entry without a code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Codes {
    deny: Vec<String>,
    warn: Vec<String>,
    #[serde(default)]
    errors: Vec<String>,
}

impl Codes {
    fn of(decision: &Decision) -> Self {
        let codes = |vs: &[supplygate::policy::Violation]| {
            let mut codes: Vec<String> = vs
                .iter()
                .map(|v| v.code.clone().unwrap_or_else(|| "<none>".to_owned()))
                .collect();
            codes.sort();
            codes
        };
        Self {
            deny: codes(&decision.denies),
            warn: codes(&decision.warns),
            errors: decision.errors.clone(),
        }
    }

    fn same_codes(&self, other: &Self) -> bool {
        self.deny == other.deny && self.warn == other.warn
    }
}

/// What `benches/policy_opa.py` prints.
#[derive(Deserialize)]
struct OpaReport {
    process_init_ms: f64,
    load_ms: f64,
    load_first_decision_ms: f64,
    per_image_us: BTreeMap<String, f64>,
    per_image_document_us: BTreeMap<String, f64>,
    per_image_floor_us: BTreeMap<String, f64>,
    batch_ms: f64,
    batch_threads_ms: Option<f64>,
    decisions: Vec<Codes>,
}

/// regorus' figures.
struct RegorusReport {
    load_ms: f64,
    load_first_decision_ms: f64,
    per_image_us: BTreeMap<String, f64>,
    memo_us: BTreeMap<String, f64>,
    batch_ms: f64,
    batch_threads_ms: f64,
    /// 1,000 sites naming the fixtures' images (repeating), through the memo.
    sites_ms: f64,
    decisions: Vec<Codes>,
}

fn run() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = fs::read_to_string(root.join(DATA)).with_context(|| format!("read `{DATA}`"))?;
    let fixtures = read_fixtures(root)?;
    ensure!(!fixtures.is_empty(), "no inputs in `{INPUTS}`");
    let batch = batch_inputs(&fixtures, true)?;
    let sites = batch_inputs(&fixtures, false)?;
    let rules = deciding_rules()?;

    let engine = load(&data)?;
    let packages: BTreeSet<String> = rules
        .iter()
        .filter_map(|r| r.rsplit_once('.').map(|(p, _)| p.to_owned()))
        .collect();
    ensure!(
        packages == engine.packages().into_iter().collect(),
        "the deciding rules found in the modules ({rules:?}) are not those of the engine's \
         packages ({:?})",
        engine.packages()
    );

    eprintln!(
        "policy benchmark: {} modules, rules {}, {} fixtures, {IMAGES} images, RUNS={} \
         LOADS={} ITERATIONS={} THREADS={}",
        shipped::MODULES.len(),
        rules.join(", "),
        fixtures.len(),
        settings.runs,
        settings.loads,
        settings.iterations,
        settings.threads
    );

    let load_before = load_average();
    let started = Instant::now();
    let regorus = bench_regorus(&settings, &data, &fixtures, &batch, &sites)?;
    eprintln!(
        "regorus side done in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let opa = bench_opa(root, &settings, &rules, &fixtures, &batch)?;
    eprintln!("OPA side done in {:.1} s", started.elapsed().as_secs_f64());

    check_decisions(&fixtures, &regorus.decisions, &opa.decisions)?;
    print!("{}", table(&settings, &fixtures, &regorus, &opa));
    // Other work on the machine moves these figures; say how busy it was.
    println!(
        "(load average {load_before} before, {} after; {} cores)",
        load_average(),
        thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(())
}

fn load(data: &str) -> anyhow::Result<Engine> {
    let mut loader = Loader::new(Limits::default());
    loader.embedded(shipped::MODULES);
    loader.data_json(DATA, data);
    loader
        .load()
        .map_err(|e| anyhow!("the shipped library does not load: {e}"))
}

fn read_fixtures(root: &Path) -> anyhow::Result<Vec<Fixture>> {
    let expected: BTreeMap<String, Codes> = serde_json::from_str(
        &fs::read_to_string(root.join(EXPECTED)).with_context(|| format!("read `{EXPECTED}`"))?,
    )
    .with_context(|| format!("`{EXPECTED}` is not a map of codes"))?;
    let mut paths: Vec<PathBuf> = fs::read_dir(root.join(INPUTS))
        .with_context(|| format!("read `{INPUTS}`"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text =
                fs::read_to_string(&path).with_context(|| format!("read `{}`", path.display()))?;
            let input = serde_json::from_str(&text)
                .with_context(|| format!("`{}` is not JSON", path.display()))?;
            let mut expected = expected
                .get(&name)
                .cloned()
                .with_context(|| format!("`{EXPECTED}` has no entry for `{name}`"))?;
            expected.deny.sort();
            expected.warn.sort();
            Ok(Fixture {
                name,
                input,
                expected,
            })
        })
        .collect()
}

/// The fixtures cycled to [`IMAGES`] inputs, each with its own workload names and, with
/// `distinct_images`, its own digests (else the images and their facts repeat, as in a
/// repository whose workloads share images).
fn batch_inputs(fixtures: &[Fixture], distinct_images: bool) -> anyhow::Result<Vec<Value>> {
    let digest = Regex::new("sha256([:-])([0-9a-f]{64})")?;
    Ok(fixtures
        .iter()
        .cycle()
        .take(IMAGES)
        .enumerate()
        .map(|(i, fixture)| {
            let mut input = fixture.input.clone();
            if distinct_images {
                rewrite_digests(&mut input, &digest, i);
            }
            let name = format!("bench-{i:04}");
            if let Some(resource) = input.get_mut("resource").and_then(Value::as_object_mut) {
                resource.insert("name".to_owned(), json!(name));
                resource.insert("file".to_owned(), json!(format!("deploy/{name}.yaml")));
                resource.insert("line".to_owned(), json!(1 + i % 40));
            }
            if let Some(container) = input.get_mut("container").and_then(Value::as_object_mut) {
                container.insert("name".to_owned(), json!(format!("c{i}")));
            }
            input
        })
        .collect())
}

/// Replaces every digest hex in every string by a hash of it and `salt`: distinct per input,
/// equal where it was equal.
fn rewrite_digests(value: &mut Value, digest: &Regex, salt: usize) {
    match value {
        Value::String(s) if digest.is_match(s) => {
            *s = digest
                .replace_all(s, |c: &Captures<'_>| {
                    let hex = Sha256::digest(format!("{salt}:{}", &c[2]));
                    let hex: String = hex.iter().map(|b| format!("{b:02x}")).collect();
                    format!("sha256{}{hex}", &c[1])
                })
                .into_owned();
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| rewrite_digests(v, digest, salt)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| rewrite_digests(v, digest, salt)),
        _ => {}
    }
}

/// `data.<package>.deny`/`.warn` for every package of the shipped modules with such rules,
/// sorted as the engine evaluates them (package, then deny before warn).
fn deciding_rules() -> anyhow::Result<Vec<String>> {
    let mut rules = BTreeSet::new();
    for (name, source) in shipped::MODULES {
        let package = source
            .lines()
            .find_map(|l| l.strip_prefix("package "))
            .map(str::trim)
            .with_context(|| format!("`{name}` has no package line"))?;
        for line in source.lines() {
            for (rank, kind) in [(0, "deny"), (1, "warn")] {
                if line
                    .strip_prefix(kind)
                    .is_some_and(|rest| rest.starts_with([' ', '\t', '[', ':']))
                {
                    rules.insert((package.to_owned(), rank, kind));
                }
            }
        }
    }
    Ok(rules
        .into_iter()
        .map(|(package, _, kind)| format!("data.{package}.{kind}"))
        .collect())
}

fn bench_regorus(
    settings: &Settings,
    data: &str,
    fixtures: &[Fixture],
    batch: &[Value],
    sites: &[Value],
) -> anyhow::Result<RegorusReport> {
    let first = fixtures
        .first()
        .map(|f| &f.input)
        .context("no fixture to decide")?;
    let mut load_ms = Vec::new();
    let mut load_first_ms = Vec::new();
    for _ in 0..settings.loads {
        let t = Instant::now();
        let engine = load(data)?;
        let loaded = t.elapsed();
        std::hint::black_box(engine.evaluate(first));
        load_ms.push(ms(loaded));
        load_first_ms.push(ms(t.elapsed()));
    }

    let engine = load(data)?;
    // Each decision evaluated afresh (`Engine::decide`: no memo), and through the memo of
    // identical inputs (`Engine::evaluate`, as the gate calls it: every repetition after the
    // warm-up is a hit).
    let mut per_image_us = BTreeMap::new();
    let mut memo_us = BTreeMap::new();
    for fixture in fixtures {
        for (out, memo) in [(&mut per_image_us, false), (&mut memo_us, true)] {
            let decide = |input: &Value| {
                if memo {
                    engine.evaluate(input)
                } else {
                    engine.decide(input)
                }
            };
            std::hint::black_box(decide(&fixture.input));
            let mut samples = Vec::with_capacity(settings.iterations);
            for _ in 0..settings.iterations {
                let t = Instant::now();
                std::hint::black_box(decide(&fixture.input));
                samples.push(t.elapsed().as_secs_f64() * 1e6);
            }
            out.insert(fixture.name.clone(), median(&mut samples));
        }
    }

    // Warm-up pass (untimed); its decisions are the ones checked against OPA.
    let decisions: Vec<Codes> = batch
        .iter()
        .map(|i| Codes::of(&engine.evaluate(i)))
        .collect();
    let mut batch_ms: Vec<f64> = (0..settings.runs)
        .map(|_| ms(decide_all(&engine, batch, 1)))
        .collect();
    decide_all(&engine, batch, settings.threads);
    let mut threads_ms: Vec<f64> = (0..settings.runs)
        .map(|_| ms(decide_all(&engine, batch, settings.threads)))
        .collect();

    // The same fixtures as 1,000 workload sites sharing their images: through the memo
    // (`Engine::evaluate`, as the gate calls it), from a fresh engine each run.
    let mut sites_ms = Vec::new();
    for _ in 0..settings.runs {
        let engine = load(data)?;
        let t = Instant::now();
        for input in sites {
            std::hint::black_box(engine.evaluate(input));
        }
        sites_ms.push(ms(t.elapsed()));
    }

    Ok(RegorusReport {
        load_ms: median(&mut load_ms),
        sites_ms: median(&mut sites_ms),
        load_first_decision_ms: median(&mut load_first_ms),
        per_image_us,
        memo_us,
        batch_ms: median(&mut batch_ms),
        batch_threads_ms: median(&mut threads_ms),
        decisions,
    })
}

/// Decides every input on `threads` threads sharing `engine`, in contiguous chunks; the wall
/// time.
fn decide_all(engine: &Engine, inputs: &[Value], threads: usize) -> Duration {
    let t = Instant::now();
    // Distinct inputs, decided afresh: the memo would answer the runs after the first.
    if threads == 1 {
        for input in inputs {
            std::hint::black_box(engine.decide(input));
        }
    } else {
        let chunk = inputs.len().div_ceil(threads).max(1);
        thread::scope(|s| {
            for part in inputs.chunks(chunk) {
                s.spawn(move || {
                    for input in part {
                        std::hint::black_box(engine.decide(input));
                    }
                });
            }
        });
    }
    t.elapsed()
}

fn bench_opa(
    root: &Path,
    settings: &Settings,
    rules: &[String],
    fixtures: &[Fixture],
    batch: &[Value],
) -> anyhow::Result<OpaReport> {
    let work = tempfile::Builder::new()
        .prefix("supplygate-policy-bench-")
        .tempdir()
        .context("create a scratch directory")?;
    let batch_path = work.path().join("batch.json");
    fs::write(&batch_path, serde_json::to_vec(batch)?).context("write the batch inputs")?;
    let job = json!({
        "root": root,
        "modules": shipped::MODULES.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        "data": DATA,
        "rules": rules,
        "fixtures": fixtures
            .iter()
            .map(|f| json!({"name": f.name, "input": f.input}))
            .collect::<Vec<_>>(),
        "batch": batch_path,
        "loads": settings.loads,
        "iterations": settings.iterations,
        "runs": settings.runs,
        "threads": settings.threads,
    });
    let job_path = work.path().join("job.json");
    fs::write(&job_path, serde_json::to_vec(&job)?).context("write the OPA job")?;

    let venv = root.join(VENV);
    let python = std::env::var_os("OPA_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(venv.join("bin/python")).filter(|p| p.exists()))
        .unwrap_or_else(|| PathBuf::from("python3"));
    let mut command = Command::new(&python);
    command
        .arg(root.join(OPA_SCRIPT))
        .arg(&job_path)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    // tests/opa_parity.sh's fallback without python3-venv: the package in `site/`.
    let site = venv.join("site");
    if site.is_dir() {
        let mut path = site.into_os_string();
        if let Some(old) = std::env::var_os("PYTHONPATH") {
            path.push(":");
            path.push(old);
        }
        command.env("PYTHONPATH", path);
    }
    let output = command
        .output()
        .with_context(|| format!("run `{}`", python.display()))?;
    if !output.status.success() {
        bail!(
            "`{} {OPA_SCRIPT}` failed ({}); hint: `benches/policy.sh` installs \
             opa-golib-python-bindings==0.4.4 into `{VENV}`, or set `OPA_PYTHON`",
            python.display(),
            output.status
        );
    }
    serde_json::from_slice(&output.stdout).context("read the OPA side's report")
}

/// Fails unless both engines give every input the codes its fixture expects, without errors.
fn check_decisions(fixtures: &[Fixture], regorus: &[Codes], opa: &[Codes]) -> anyhow::Result<()> {
    ensure!(
        regorus.len() == IMAGES && opa.len() == IMAGES,
        "decisions for {} (regorus) and {} (OPA) inputs, not {IMAGES}",
        regorus.len(),
        opa.len()
    );
    let mut problems = Vec::new();
    for (i, ((fixture, r), o)) in fixtures.iter().cycle().zip(regorus).zip(opa).enumerate() {
        if !r.errors.is_empty() || !o.errors.is_empty() {
            problems.push(format!(
                "input {i} ({}): errors: regorus {:?}, OPA {:?}",
                fixture.name, r.errors, o.errors
            ));
        } else if !r.same_codes(o) {
            problems.push(format!(
                "input {i} ({}): engines differ: regorus deny {:?} warn {:?}, OPA deny {:?} \
                 warn {:?}",
                fixture.name, r.deny, r.warn, o.deny, o.warn
            ));
        } else if !r.same_codes(&fixture.expected) {
            problems.push(format!(
                "input {i} ({}): both engines decided deny {:?} warn {:?}, the fixture expects \
                 deny {:?} warn {:?}",
                fixture.name, r.deny, r.warn, fixture.expected.deny, fixture.expected.warn
            ));
        }
    }
    if let Some(first) = problems.first() {
        bail!(
            "{} of {IMAGES} decisions do not match; the first: {first}",
            problems.len()
        );
    }
    let denied = regorus.iter().filter(|c| !c.deny.is_empty()).count();
    eprintln!(
        "correctness: all {IMAGES} inputs get the same deny/warn codes from both engines, \
         the codes their fixtures expect ({denied} denied)"
    );
    Ok(())
}

fn table(
    settings: &Settings,
    fixtures: &[Fixture],
    regorus: &RegorusReport,
    opa: &OpaReport,
) -> String {
    let range = |m: &BTreeMap<String, f64>| {
        let mut v: Vec<f64> = m.values().copied().collect();
        let med = median(&mut v);
        let min = v.first().copied().unwrap_or(f64::NAN);
        let max = v.last().copied().unwrap_or(f64::NAN);
        (med, min, max)
    };
    let (r_img, r_min, r_max) = range(&regorus.per_image_us);
    let (o_img, o_min, o_max) = range(&opa.per_image_us);
    let (d_img, _, _) = range(&opa.per_image_document_us);
    let (f_img, _, _) = range(&opa.per_image_floor_us);
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    let mut row = |scenario: String, r: Option<(f64, &str)>, o: Option<(f64, &str)>| {
        let show = |x: Option<(f64, &str)>| {
            x.map(|(v, unit)| format!("{v:.3} {unit}"))
                .unwrap_or_else(|| "-".to_owned())
        };
        let ratio = match (r, o) {
            (Some((r, _)), Some((o, _))) if r > 0.0 => format!("{:.2}x", o / r),
            _ => "-".to_owned(),
        };
        rows.push((scenario, show(r), show(o), ratio));
    };
    row(
        "load: modules + data".into(),
        Some((regorus.load_ms, "ms")),
        Some((opa.load_ms, "ms")),
    );
    row(
        "load + first decision (OPA compiles here)".into(),
        Some((regorus.load_first_decision_ms, "ms")),
        Some((opa.load_first_decision_ms, "ms")),
    );
    row(
        format!("per image: median of {} fixture medians", fixtures.len()),
        Some((r_img, "µs")),
        Some((o_img, "µs")),
    );
    // The same median over the fixtures their expected codes allow, and over those they deny
    // (the verdicts the gate decides in Rust spare an allowed image most of the evaluation).
    for (label, denied) in [("allowed", false), ("denied", true)] {
        let names: Vec<&str> = fixtures
            .iter()
            .filter(|f| f.expected.deny.is_empty() != denied)
            .map(|f| f.name.as_str())
            .collect();
        let pick = |m: &BTreeMap<String, f64>| -> BTreeMap<String, f64> {
            names
                .iter()
                .filter_map(|n| m.get(*n).map(|v| ((*n).to_owned(), *v)))
                .collect()
        };
        row(
            format!("  median of the {} {label} fixtures", names.len()),
            Some((range(&pick(&regorus.per_image_us)).0, "µs")),
            Some((range(&pick(&opa.per_image_us)).0, "µs")),
        );
    }
    let (m_img, _, _) = range(&regorus.memo_us);
    row(
        "per image, the same input again (memo hit)".into(),
        Some((m_img, "µs")),
        None,
    );
    row(
        "  fastest fixture".into(),
        Some((r_min, "µs")),
        Some((o_min, "µs")),
    );
    row(
        "  slowest fixture".into(),
        Some((r_max, "µs")),
        Some((o_max, "µs")),
    );
    row(
        format!("{IMAGES} images, 1 thread"),
        Some((regorus.batch_ms, "ms")),
        Some((opa.batch_ms, "ms")),
    );
    row(
        format!("{IMAGES} images, {} threads", settings.threads),
        Some((regorus.batch_threads_ms, "ms")),
        opa.batch_threads_ms.map(|v| (v, "ms")),
    );
    row(
        format!(
            "{IMAGES} workload sites naming the {} fixture images (memo)",
            fixtures.len()
        ),
        Some((regorus.sites_ms, "ms")),
        None,
    );
    row(
        "per image, OPA `eval_document(\"supplygate\")`".into(),
        None,
        Some((d_img, "µs")),
    );
    row(
        "per image, OPA `x := 1` with the input (binding floor)".into(),
        None,
        Some((f_img, "µs")),
    );

    let width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\npolicy decisions, shipped library: regorus (supplygate) vs OPA 1.20.2 \
         (opa-golib-python-bindings 0.4.4), medians"
    );
    let _ = writeln!(
        out,
        "{:<width$}  {:>12}  {:>12}  {:>11}",
        "scenario", "regorus", "OPA", "OPA/regorus"
    );
    for (scenario, r, o, ratio) in &rows {
        let _ = writeln!(out, "{scenario:<width$}  {r:>12}  {o:>12}  {ratio:>11}");
    }
    if std::env::var_os("VERBOSE").is_some() {
        let _ = writeln!(out, "\nper fixture (median µs)");
        for (name, r) in &regorus.per_image_us {
            let o = opa.per_image_us.get(name).copied().unwrap_or(f64::NAN);
            let _ = writeln!(out, "{name:<50}  {r:>10.1}  {o:>10.1}  {:>6.2}x", o / r);
        }
    }
    let _ = writeln!(
        out,
        "(OPA: one `eval_query` binding all deciding rules per input, bindings' JSON + cgo \
         included; its process start, {:.0} ms, is not in any row. RUST_LIB_BACKTRACE={})",
        opa.process_init_ms,
        std::env::var("RUST_LIB_BACKTRACE").unwrap_or_default()
    );
    out
}

/// The 1-minute load average, where `/proc/loadavg` says it.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The median; sorts `samples`. NaN when empty.
fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    match (samples.get(n / 2), n.checked_sub(1).map(|m| m / 2)) {
        (Some(hi), Some(lo)) if n % 2 == 0 => (samples.get(lo).copied().unwrap_or(*hi) + hi) / 2.0,
        (Some(mid), _) => *mid,
        _ => f64::NAN,
    }
}
