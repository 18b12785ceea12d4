//! `supplygate config validate [FILE]`: loads a config with the real loader and reports every
//! problem with `file:line:column`, or one line saying it is valid.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{write_stdout, Format};
use crate::config::{Config, ConfigError, DEFAULT_FILE};
use crate::manifest::ManifestError;

/// Subcommands of `config`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Check a config file: exit 0 and one line when valid, else 2 and every problem with
    /// file:line:column
    #[command(after_help = super::examples::CONFIG_VALIDATE)]
    Validate(ValidateArgs),
}

/// Arguments of `config validate`.
#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// The config file [default: --config, else ./supplygate.yaml]
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Output format
    #[arg(long, env = "SUPPLYGATE_FORMAT", value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// One problem, located when the loader knows where.
#[derive(Debug, serde::Serialize)]
struct Problem {
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

/// The JSON document of `config validate --format json`.
#[derive(Debug, serde::Serialize)]
struct Validation {
    file: String,
    valid: bool,
    problems: Vec<Problem>,
}

pub(crate) fn run(args: &ValidateArgs, global_config: Option<&Path>) -> anyhow::Result<u8> {
    let file = args
        .file
        .as_deref()
        .or(global_config)
        .unwrap_or(Path::new(DEFAULT_FILE))
        .to_path_buf();
    let (problems, summary) = match Config::load(Some(&file)) {
        Ok(config) => match crate::gate::load_policy(&config, &[]) {
            Ok(_) => (Vec::new(), summary(&config)),
            // The config names policies (`policy.paths`) that do not load: not usable either.
            Err(errors) => (
                errors
                    .0
                    .iter()
                    .map(|e| Problem {
                        line: None,
                        column: None,
                        message: format!("policy: {}", chain(e)),
                        hint: None,
                    })
                    .collect(),
                String::new(),
            ),
        },
        Err(e) => (problems(&e), String::new()),
    };
    let shown = file.display().to_string();
    let valid = problems.is_empty();
    let text = match args.format {
        Format::Json => {
            let validation = Validation {
                file: shown,
                valid,
                problems,
            };
            serde_json::to_string_pretty(&validation)? + "\n"
        }
        Format::Human if valid => format!("{shown}: OK ({summary})\n"),
        Format::Human => human(&shown, &problems),
    };
    write_stdout(&text)?;
    Ok(if valid { 0 } else { 2 })
}

fn human(file: &str, problems: &[Problem]) -> String {
    let n = problems.len();
    let mut out = format!(
        "{n} problem{} in config `{file}`\n",
        if n == 1 { "" } else { "s" }
    );
    for p in problems {
        let at = match (p.line, p.column) {
            (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
            _ => file.to_owned(),
        };
        out.push_str(&format!("{at}: {}", p.message));
        if let Some(hint) = &p.hint {
            out.push_str(&format!(" ({hint})"));
        }
        out.push('\n');
    }
    out
}

/// What a valid config holds, in a few words.
fn summary(config: &Config) -> String {
    let count =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    [
        count(config.signers.len(), "signer", "signers"),
        count(config.requirements.len(), "require rule", "require rules"),
        count(
            config.provenance.len(),
            "provenance rule",
            "provenance rules",
        ),
    ]
    .join(", ")
}

/// Every problem the loader collected, or the one reason it could not read the file.
fn problems(e: &ConfigError) -> Vec<Problem> {
    match e {
        ConfigError::Invalid { problems, .. } => problems
            .iter()
            .map(|p| Problem {
                line: Some(p.line),
                column: Some(p.column),
                message: p.message.clone(),
                hint: p.hint.clone(),
            })
            .collect(),
        ConfigError::Syntax(ManifestError::Syntax {
            line,
            column,
            message,
            ..
        }) => vec![Problem {
            line: Some(*line),
            column: Some(*column),
            message: message.clone(),
            hint: None,
        }],
        other => vec![Problem {
            line: None,
            column: None,
            message: chain(other),
            hint: None,
        }],
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !s.contains(&cause_text) {
            s.push_str(&format!(": {cause_text}"));
        }
        source = cause.source();
    }
    s
}
