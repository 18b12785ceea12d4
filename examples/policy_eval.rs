//! Evaluates a policy library's `data.supplygate` deny/warn sets on a folder of input
//! documents with supplygate's engine (regorus) and prints the results as JSON, in the shape
//! `tests/opa_compare.py` prints for OPA, so that CI can diff the two engines.
//!
//! ```text
//! cargo run --example policy_eval -- POLICY_DIR INPUT_DIR [--data DATA_JSON]
//! ```
//!
//! Output: `{"engine": "regorus", "results": {"<input file>": {"deny": [...], "warn": [...],
//! "errors": [...]}}}`, every entry `{"package", "code", "msg", "hint", "expected", "found"}`, entries sorted.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use supplygate::policy::{Limits, Loader, TestFiles, Violation};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut positional = Vec::new();
    let mut data = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--data" {
            data = Some(PathBuf::from(args.next().context("`--data` needs a file")?));
        } else {
            positional.push(PathBuf::from(arg));
        }
    }
    let [policy_dir, input_dir] = positional.as_slice() else {
        bail!("usage: policy_eval POLICY_DIR INPUT_DIR [--data DATA_JSON]");
    };

    let mut loader = Loader::new(Limits::default());
    loader.path(policy_dir, TestFiles::Exclude);
    if let Some(data) = &data {
        let text = std::fs::read_to_string(data)
            .with_context(|| format!("could not read `{}`", data.display()))?;
        loader.data_json(data.display().to_string(), &text);
    }
    let engine = loader.load()?;

    let mut inputs: Vec<PathBuf> = std::fs::read_dir(input_dir)
        .with_context(|| format!("could not read `{}`", input_dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    inputs.sort();

    let mut results = serde_json::Map::new();
    for path in inputs {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read `{}`", path.display()))?;
        let input: Value = serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not JSON", path.display()))?;
        let decision = engine.evaluate(&input);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        results.insert(
            name,
            json!({
                "deny": entries(&decision.denies),
                "warn": entries(&decision.warns),
                "errors": decision.errors,
            }),
        );
    }
    let out = json!({"engine": "regorus", "results": results});
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn entries(violations: &[Violation]) -> Vec<Value> {
    let mut sorted: Vec<&Violation> = violations.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.package, &a.msg, &a.code, &a.hint, &a.expected, &a.found).cmp(&(
            &b.package,
            &b.msg,
            &b.code,
            &b.hint,
            &b.expected,
            &b.found,
        ))
    });
    sorted
        .into_iter()
        .map(|v| {
            json!({
                "package": v.package, "code": v.code, "msg": v.msg, "hint": v.hint,
                "expected": v.expected, "found": v.found,
            })
        })
        .collect()
}
