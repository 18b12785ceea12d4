//! Log lines on stderr, as text or as one JSON object per line (`--log-format`).
//!
//! Two writers share the format: the webhook's event log ([`Log`]: one line per review,
//! reload, certificate swap…, whatever the verbosity) and [`JsonEvents`], the formatter of
//! every module's `tracing` output when `--log-format json` is given. Both write `ts`,
//! `level` and their fields; neither ever writes a request body, user information or a
//! credential (a field whose name says it holds one is written as `<redacted>`).

use std::io::Write as _;
use std::sync::{Mutex, OnceLock, PoisonError};

use serde_json::{json, Map, Value};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Plain lines, for people
    Text,
    /// One JSON object per line: `ts`, `level`, `event` (the webhook's) or `target` and
    /// `message`, then the event's fields
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

/// One JSON log line (no newline): `ts`, `level`, then `fields`.
fn json_line(level: &str, fields: Map<String, Value>) -> String {
    let mut m = Map::new();
    m.insert("ts".into(), json!(jiff::Timestamp::now().to_string()));
    m.insert("level".into(), json!(level));
    m.extend(fields);
    Value::Object(m).to_string()
}

/// Writes events in one format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Log {
    format: LogFormat,
    /// Lines go to the writer thread ([`Log::queued`]).
    queued: bool,
}

/// How often the writer thread writes the lines made since it last did.
const WRITE_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

/// Most bytes of lines waiting; a line that finds more waiting writes them (and itself) out
/// where it is made, so none is ever dropped.
const MAX_WAITING: usize = 1024 * 1024;

/// Lines made and not yet written, in order.
static WAITING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Held while lines are taken from [`WAITING`] and written, so that lines taken later are
/// never written first.
static WRITING: Mutex<()> = Mutex::new(());

/// The writer thread (started by the first queued line); `None` when it could not be.
static WRITER: OnceLock<Option<std::thread::Thread>> = OnceLock::new();

fn writer() -> Option<&'static std::thread::Thread> {
    WRITER
        .get_or_init(|| {
            std::thread::Builder::new()
                .name("supplygate-log".to_owned())
                .spawn(|| loop {
                    // Woken by the first line after a write (idle, it sleeps), it gives the
                    // lines of the next 10 ms time to join that one.
                    std::thread::park();
                    std::thread::sleep(WRITE_EVERY);
                    write_waiting();
                })
                .ok()
                .map(|handle| handle.thread().clone())
        })
        .as_ref()
}

/// Writes every line waiting, in one write.
fn write_waiting() {
    let _writing = WRITING.lock().unwrap_or_else(PoisonError::into_inner);
    let lines = std::mem::take(&mut *WAITING.lock().unwrap_or_else(PoisonError::into_inner));
    if !lines.is_empty() {
        // A log line that cannot be written (stderr closed) must not stop the server.
        let _ = std::io::stderr().lock().write_all(&lines);
    }
}

/// Writes every line queued so far ([`Log::queued`]).
pub(crate) fn flush() {
    write_waiting();
}

impl Log {
    /// Writes each line where it is made.
    pub(crate) fn new(format: LogFormat) -> Self {
        Self {
            format,
            queued: false,
        }
    }

    /// Leaves each line for a writer thread of its own, which writes the lines made meanwhile
    /// every 10 ms in one write (the server: a review neither waits for stderr — a full pipe
    /// to the container runtime, a file on a busy disk — nor wakes a thread per line); call
    /// [`flush`] before exiting.
    pub(crate) fn queued(self) -> Self {
        Self {
            queued: true,
            ..self
        }
    }

    /// Writes one event with `fields` (an object; anything else is ignored).
    pub(crate) fn event(&self, level: Level, event: &str, fields: Value) {
        let fields = match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let mut line = match self.format {
            LogFormat::Json => {
                let mut m = Map::new();
                m.insert("event".into(), json!(event));
                m.extend(fields);
                json_line(level.as_str(), m)
            }
            LogFormat::Text => text_line(level, event, &fields),
        };
        // One write per line (stderr is unbuffered: `writeln!` writes the line and its newline
        // separately). A log line that cannot be written (stderr closed) must not stop the
        // server.
        line.push('\n');
        if let Some(writer) = writer().filter(|_| self.queued) {
            let mut waiting = WAITING.lock().unwrap_or_else(PoisonError::into_inner);
            let first = waiting.is_empty();
            waiting.extend_from_slice(line.as_bytes());
            let full = waiting.len() > MAX_WAITING;
            drop(waiting);
            if full {
                write_waiting();
            } else if first {
                writer.unpark();
            }
            return;
        }
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
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

/// `level event k=v …`. A value is written bare only when it cannot be mistaken for more
/// fields or move the terminal: anything with a space, quote, `=`, backslash or control
/// character (tab, CR, ESC…), and anything not a string, is written as JSON (quoted, with
/// control characters escaped), so a review's uid or name cannot forge log fields or lines.
fn text_line(level: Level, event: &str, fields: &Map<String, Value>) -> String {
    let mut s = format!("{} {}", level.as_str(), text_value(event));
    for (k, v) in fields {
        match v {
            Value::String(v) => s.push_str(&format!(" {}={}", text_value(k), text_value(v))),
            other => s.push_str(&format!(" {}={other}", text_value(k))),
        }
    }
    s
}

fn text_value(v: &str) -> String {
    let bare = !v.is_empty()
        && !v
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '"' | '=' | '\\'));
    if bare {
        v.to_owned()
    } else {
        // serde_json escapes `"`, `\` and U+0000–U+001F; the other controls (DEL, C1) too.
        let quoted = Value::String(v.to_owned()).to_string();
        quoted
            .chars()
            .map(|c| {
                if c.is_control() {
                    format!("\\u{:04x}", u32::from(c))
                } else {
                    c.to_string()
                }
            })
            .collect()
    }
}

/// Whether `tracing` output is formatted by [`JsonEvents`] (`--log-format json`): for the
/// few lines commands write outside `tracing`, to keep every stderr line JSON.
pub(crate) fn json_logs() -> bool {
    tracing::dispatcher::get_default(|d| d.is::<JsonEvents>())
}

/// The `tracing` event formatter for `--log-format json`: one JSON object per event with
/// `ts`, `level` (lowercase), `target` (the module), `message` and the event's other fields.
/// Spans are not written (supplygate opens none).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonEvents;

impl<S, N> FormatEvent<S, N> for JsonEvents
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields(Map::new());
        fields.0.insert("target".into(), json!(meta.target()));
        event.record(&mut fields);
        let level = meta.level().as_str().to_ascii_lowercase();
        writeln!(writer, "{}", json_line(&level, fields.0))
    }
}

/// Collects an event's fields as JSON values.
struct Fields(Map<String, Value>);

impl Fields {
    fn insert(&mut self, field: &tracing::field::Field, value: Value) {
        let name = field.name();
        let value = if is_secret_name(name) {
            json!("<redacted>")
        } else {
            value
        };
        self.0.insert(name.to_owned(), value);
    }
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.insert(field, json!(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.insert(field, json!(value));
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.insert(field, json!(value));
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.insert(field, json!(value));
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.insert(field, json!(value));
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.insert(field, json!(value));
    }
}

/// A field named like a credential (`password`, `token`, `authorization`…): its value is
/// never written, whatever a caller passes.
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "authorization",
        "credential",
        "cookie",
    ]
    .iter()
    .any(|w| name.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values_with_control_characters_are_quoted_and_escaped() {
        let mut fields = Map::new();
        fields.insert("uid".into(), json!("abc\tlevel=error\x1b[2J\r\u{9b}\u{7f}"));
        fields.insert("object".into(), json!("Pod shop/web"));
        fields.insert("plain".into(), json!("ok-1"));
        fields.insert("forged".into(), json!("x\nerror review allowed=true"));
        fields.insert("n".into(), json!(3));
        let line = text_line(Level::Info, "review", &fields);
        assert!(
            !line.chars().any(|c| c.is_control()),
            "control characters reach the log: {line:?}"
        );
        assert!(
            line.contains(r#"uid="abc\tlevel=error\u001b[2J\r\u009b\u007f""#),
            "{line}"
        );
        assert!(line.contains(r#"object="Pod shop/web""#), "{line}");
        assert!(line.contains(" plain=ok-1"), "{line}");
        assert!(
            line.contains(r#"forged="x\nerror review allowed=true""#),
            "{line}"
        );
        assert!(line.contains(" n=3"), "{line}");
        assert!(line.starts_with("info review "), "{line}");
    }

    #[test]
    fn json_logs_are_recognised_from_the_installed_formatter() {
        let json = tracing_subscriber::fmt().event_format(JsonEvents).finish();
        assert!(tracing::subscriber::with_default(json, json_logs));
        let text = tracing_subscriber::fmt().finish();
        assert!(!tracing::subscriber::with_default(text, json_logs));
    }

    #[test]
    fn fields_named_like_credentials_are_redacted() {
        assert!(is_secret_name("password"));
        assert!(is_secret_name("registry_Token"));
        assert!(is_secret_name("Authorization"));
        assert!(!is_secret_name("message"));
        assert!(!is_secret_name("target"));
    }
}
