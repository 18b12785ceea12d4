//! Stage (5) tooling: runs a policy library's own tests, like `opa test`.
//!
//! Every rule named `test_*` in any package (functions excluded) is a test. It passes when it
//! evaluates to `true`, fails when it is `false` or undefined, and errors when evaluation
//! fails (the error is shown). Each test is evaluated on its own, under
//! [`Limits::eval_timeout`](super::Limits::eval_timeout), with no input (tests set theirs
//! with `with input as ...`).

use std::fmt::Write as _;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use regorus::utils::limits::ExecutionTimerConfig;

use super::Engine;

/// What to run and gather.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// Gather line coverage of the modules under test (not of the `*_test.rego` modules).
    pub coverage: bool,
    /// Run only the tests whose full path (`data.pkg.test_name`) contains this.
    pub filter: Option<String>,
}

/// How one test ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", content = "error", rename_all = "lowercase")]
pub enum TestOutcome {
    /// Evaluated to `true`.
    Pass,
    /// Evaluated to something else, or was undefined.
    Fail,
    /// Could not be evaluated: regorus' message.
    Error(String),
}

/// One test's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestResult {
    /// Its package, e.g. `data.supplygate.images_test`.
    pub package: String,
    /// Its rule name, e.g. `test_denies_latest`.
    pub name: String,
    /// The module that defines it.
    pub file: String,
    /// The line where it is (first) defined.
    pub line: u32,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: TestOutcome,
    /// How long its evaluation took (in JSON: `duration_ms`, a float).
    #[serde(rename = "duration_ms", serialize_with = "milliseconds")]
    pub duration: Duration,
    /// What it printed with `print`.
    pub prints: Vec<String>,
}

fn milliseconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// Line coverage of one module.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileCoverage {
    /// The module's name.
    pub file: String,
    /// Lines evaluated at least once.
    pub covered: Vec<u32>,
    /// Lines with code never evaluated.
    pub not_covered: Vec<u32>,
}

impl FileCoverage {
    /// Covered lines over lines with code, as a percentage (100 when there are none).
    pub fn percent(&self) -> f64 {
        percent(self.covered.len(), self.not_covered.len())
    }
}

/// Line coverage of the modules under test.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CoverageSummary {
    /// Per module, in name order.
    pub files: Vec<FileCoverage>,
}

impl CoverageSummary {
    /// Covered lines over lines with code, all modules together.
    pub fn percent(&self) -> f64 {
        let covered = self.files.iter().map(|f| f.covered.len()).sum();
        let not_covered = self.files.iter().map(|f| f.not_covered.len()).sum();
        percent(covered, not_covered)
    }
}

#[allow(clippy::cast_precision_loss)] // line counts are far below 2^52
fn percent(covered: usize, not_covered: usize) -> f64 {
    let total = covered.saturating_add(not_covered);
    if total == 0 {
        100.0
    } else {
        covered as f64 * 100.0 / total as f64
    }
}

/// Whether [`TestReport::render`] shows how long each test took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durations {
    /// `PASS: data.x.test_y (0.1ms)`.
    Show,
    /// `PASS: data.x.test_y` (stable output, for snapshots).
    Hide,
}

/// The results of a test run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestReport {
    /// One per test, in package then name order.
    pub results: Vec<TestResult>,
    /// With [`TestOptions::coverage`].
    pub coverage: Option<CoverageSummary>,
}

impl TestReport {
    /// How many tests ended with `outcome`'s kind.
    fn count(&self, pick: fn(&TestOutcome) -> bool) -> usize {
        self.results.iter().filter(|r| pick(&r.outcome)).count()
    }

    /// Tests that passed.
    pub fn passed(&self) -> usize {
        self.count(|o| matches!(o, TestOutcome::Pass))
    }

    /// Tests that failed.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, TestOutcome::Fail))
    }

    /// Tests that could not be evaluated.
    pub fn errored(&self) -> usize {
        self.count(|o| matches!(o, TestOutcome::Error(_)))
    }

    /// True when every test passed (and there was at least one).
    pub fn is_success(&self) -> bool {
        !self.results.is_empty() && self.passed() == self.results.len()
    }

    /// A report for people, like `opa test -v`: one line per test, then the totals, then the
    /// coverage when gathered.
    ///
    /// ```text
    /// PASS: data.supplygate.images_test.test_allows_digest (0.2ms)
    /// FAIL: data.supplygate.images_test.test_denies_latest (0.1ms)
    /// ERROR: data.supplygate.images_test.test_bad_type (0.1ms)
    ///   policies/images.rego:7:3: ...
    /// --------------------------------------------------------------------------------
    /// PASS: 1/3
    /// FAIL: 1/3
    /// ERROR: 1/3
    /// ```
    pub fn render(&self, durations: Durations) -> String {
        let mut out = String::new();
        for r in &self.results {
            let label = match r.outcome {
                TestOutcome::Pass => "PASS",
                TestOutcome::Fail => "FAIL",
                TestOutcome::Error(_) => "ERROR",
            };
            let _ = write!(out, "{label}: {}.{}", r.package, r.name);
            if durations == Durations::Show {
                let _ = write!(out, " ({})", format_duration(r.duration));
            }
            out.push('\n');
            if let TestOutcome::Error(message) = &r.outcome {
                for line in message.lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
            if r.outcome != TestOutcome::Pass {
                for print in &r.prints {
                    let _ = writeln!(out, "  print: {print}");
                }
            }
        }
        out.push_str(&"-".repeat(80));
        out.push('\n');
        let total = self.results.len();
        if total == 0 {
            out.push_str("no tests found (hint: tests are rules named `test_*`)\n");
        }
        for (label, n) in [
            ("PASS", self.passed()),
            ("FAIL", self.failed()),
            ("ERROR", self.errored()),
        ] {
            if n > 0 {
                let _ = writeln!(out, "{label}: {n}/{total}");
            }
        }
        if let Some(coverage) = &self.coverage {
            let _ = writeln!(out, "COVERAGE: {:.1}%", coverage.percent());
            for file in &coverage.files {
                let _ = write!(out, "  {}: {:.1}%", file.file, file.percent());
                if !file.not_covered.is_empty() {
                    let _ = write!(out, " (not covered: {})", line_ranges(&file.not_covered));
                }
                out.push('\n');
            }
        }
        out
    }
}

fn format_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1000 {
        format!("{}µs", micros)
    } else {
        format!("{:.1}ms", d.as_secs_f64() * 1000.0)
    }
}

/// `[3, 4, 5, 9]` -> `3-5, 9`.
fn line_ranges(lines: &[u32]) -> String {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for &line in lines {
        match ranges.last_mut() {
            Some((_, end)) if end.saturating_add(1) == line => *end = line,
            _ => ranges.push((line, line)),
        }
    }
    ranges
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs every test of `engine` (load it with [`TestFiles::Include`](super::TestFiles)).
pub fn run_tests(engine: &Engine, options: &TestOptions) -> TestReport {
    let mut inner = engine.regorus().clone();
    if options.coverage {
        inner.set_enable_coverage(true);
    }
    let limit = engine.limits().eval_timeout;
    let mut results = Vec::new();
    for test in engine.tests() {
        if let Some(filter) = &options.filter {
            if !test.path.contains(filter.as_str()) {
                continue;
            }
        }
        inner.set_execution_timer_config(ExecutionTimerConfig {
            limit,
            check_interval: NonZeroU32::MIN.saturating_add(15),
        });
        let started = Instant::now();
        let value = inner.eval_rule(test.path.clone());
        let duration = started.elapsed();
        let outcome = match value {
            Ok(regorus::Value::Bool(true)) => TestOutcome::Pass,
            Ok(_) => TestOutcome::Fail,
            Err(e) => TestOutcome::Error(format!("{e:#}").trim().to_owned()),
        };
        results.push(TestResult {
            package: test.package.clone(),
            name: test.name.clone(),
            file: test.file.clone(),
            line: test.line,
            outcome,
            duration,
            prints: inner.take_prints().unwrap_or_default(),
        });
    }
    let coverage = options.coverage.then(|| coverage_summary(&inner));
    TestReport { results, coverage }
}

fn coverage_summary(inner: &regorus::Engine) -> CoverageSummary {
    let mut files: Vec<FileCoverage> = inner
        .get_coverage_report()
        .map(|report| report.files)
        .unwrap_or_default()
        .into_iter()
        .filter(|f| !f.path.ends_with("_test.rego"))
        .map(|f| FileCoverage {
            file: f.path,
            covered: f.covered.into_iter().collect(),
            not_covered: f.not_covered.into_iter().collect(),
        })
        .collect();
    files.sort_by(|a, b| a.file.cmp(&b.file));
    CoverageSummary { files }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_serialize_with_outcome_error_and_milliseconds() {
        let result = |outcome| TestResult {
            package: "data.p".to_owned(),
            name: "test_a".to_owned(),
            file: "p.rego".to_owned(),
            line: 3,
            outcome,
            duration: Duration::from_micros(1500),
            prints: vec![],
        };
        assert_eq!(
            serde_json::to_value(result(TestOutcome::Error("boom".to_owned()))).ok(),
            Some(serde_json::json!({
                "package": "data.p", "name": "test_a", "file": "p.rego", "line": 3,
                "outcome": "error", "error": "boom", "duration_ms": 1.5, "prints": []
            }))
        );
        assert_eq!(
            serde_json::to_value(result(TestOutcome::Pass))
                .ok()
                .and_then(|v| v.get("outcome").cloned()),
            Some(serde_json::json!("pass"))
        );
    }

    #[test]
    fn line_ranges_join_consecutive_lines() {
        assert_eq!(line_ranges(&[3, 4, 5, 9, 11, 12]), "3-5, 9, 11-12");
        assert_eq!(line_ranges(&[]), "");
    }

    #[test]
    fn percent_of_nothing_is_full_coverage() {
        assert!((percent(0, 0) - 100.0).abs() < f64::EPSILON);
        assert!((percent(1, 3) - 25.0).abs() < f64::EPSILON);
    }

    #[test]
    fn durations_under_a_millisecond_show_in_microseconds() {
        assert_eq!(format_duration(Duration::from_micros(250)), "250µs");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.5ms");
    }
}
