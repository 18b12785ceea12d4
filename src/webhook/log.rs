//! The webhook's event log on stderr: one line per event, as text or as a JSON object.
//!
//! Events carry what an operator needs (request uid, object, decision, codes, time) and
//! never a request body, user information or credential.

use std::io::Write as _;

use serde_json::{json, Map, Value};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `level event key=value …`
    Text,
    /// One JSON object per line (`ts`, `level`, `event`, fields).
    Json,
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// Writes events in one format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Log {
    format: LogFormat,
}

impl Log {
    pub(crate) fn new(format: LogFormat) -> Self {
        Self { format }
    }

    /// Writes one event with `fields` (an object; anything else is ignored).
    pub(crate) fn event(&self, level: Level, event: &str, fields: Value) {
        let fields = match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let line = match self.format {
            LogFormat::Json => {
                let mut m = Map::new();
                m.insert("ts".into(), json!(jiff::Timestamp::now().to_string()));
                m.insert("level".into(), json!(level.as_str()));
                m.insert("event".into(), json!(event));
                m.extend(fields);
                Value::Object(m).to_string()
            }
            LogFormat::Text => {
                let mut s = format!("{} {event}", level.as_str());
                for (k, v) in fields {
                    match v {
                        Value::String(v) if !v.contains([' ', '"', '\n']) && !v.is_empty() => {
                            s.push_str(&format!(" {k}={v}"))
                        }
                        other => s.push_str(&format!(" {k}={other}")),
                    }
                }
                s
            }
        };
        // A log line that cannot be written (stderr closed) must not stop the server.
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }

    pub(crate) fn info(&self, event: &str, fields: Value) {
        self.event(Level::Info, event, fields);
    }

    pub(crate) fn warn(&self, event: &str, fields: Value) {
        self.event(Level::Warn, event, fields);
    }

    pub(crate) fn error(&self, event: &str, fields: Value) {
        self.event(Level::Error, event, fields);
    }
}
