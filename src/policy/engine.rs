//! Stage (5): loading a Rego library once ([`Loader`]) and evaluating it per input ([`Engine`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::Instant;

use regorus::utils::limits::ExecutionTimerConfig;

use super::{Decision, Limits, LoadErrors, PolicyError, TestFiles, Violation, PACKAGE_PREFIX};
use crate::manifest::{self, Origin};
use crate::reference::Digest;

/// How many interpreter steps regorus takes between two looks at the clock.
const TIMER_CHECK_INTERVAL: NonZeroU32 = NonZeroU32::MIN.saturating_add(15);

/// Names of data documents found when walking a directory, as `opa` does: `a/b/data.json`
/// is mounted at `data.a.b`.
const DATA_FILE_NAMES: [&str; 3] = ["data.json", "data.yaml", "data.yml"];

/// OPA builtin namespaces that our regorus build leaves out (see the module docs).
const UNSUPPORTED_OPA_BUILTINS: [&str; 11] = [
    "http.",
    "time.",
    "net.",
    "uuid.",
    "urlquery.",
    "yaml.",
    "json.patch",
    "json.match_schema",
    "json.verify_schema",
    "opa.runtime",
    "crypto.",
];

/// Decisions by the canonical JSON bytes of their input.
type Memo = HashMap<Vec<u8>, Decision>;

/// Most decisions remembered by input (then forgotten all at once): a few MiB at most.
const MEMO_ENTRIES: usize = 1024;

/// Most prepared engines kept for reuse, and most loaded anew (one per thread evaluating at
/// once is enough).
const IDLE_ENGINES: usize = 16;

/// The package of the one rule that evaluates every deciding rule set at once
/// ([`combined_decider`]); a library that declares it simply goes without.
const COMBINED_PACKAGE: &str = "supplygate_engine__decision";

/// Its rule, as regorus takes it.
const COMBINED_RULE: &str = "data.supplygate_engine__decision.all";

/// Collects policy modules and data documents; [`Loader::load`] checks and prepares them
/// into an [`Engine`], reporting every problem at once.
#[derive(Debug)]
pub struct Loader {
    limits: Limits,
    modules: Vec<(String, String)>,
    /// Names of the modules embedded in the binary (the shipped library): user modules may
    /// not define rules in their packages.
    embedded: BTreeSet<String>,
    data: Vec<(String, serde_json::Value)>,
    errors: Vec<PolicyError>,
}

/// The modules and data an [`Engine`] was loaded from (without errors), for
/// [`Engine::spare`]; its `Debug` names how many, not their text.
struct Sources(Loader);

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sources")
            .field("modules", &self.0.modules.len())
            .field("data", &self.0.data.len())
            .finish()
    }
}

/// A `deny` or `warn` rule of one deciding package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RuleSet {
    /// `data.supplygate.images`.
    package: String,
    /// `Deny` sorts before `Warn`.
    kind: Kind,
    /// `data.supplygate.images.deny`, as regorus takes it.
    path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Deny,
    Warn,
}

/// A `test_*` rule found in the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestRule {
    /// `data.supplygate.images_test`.
    pub package: String,
    /// `test_denies_latest`.
    pub name: String,
    /// The rule path, as regorus takes it.
    pub path: String,
    /// The module that defines it.
    pub file: String,
    /// The line of its (first) definition.
    pub line: u32,
}

/// A loaded, checked and prepared policy library.
///
/// Cloning is cheap (the parsed modules, the analysis and the data are shared), and an
/// `Engine` is `Send + Sync`: load once, then evaluate from as many threads as needed.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: regorus::Engine,
    /// Prepared engines ([`Engine::spare`]), reused across evaluations (a copy per evaluation
    /// costs more than the evaluation of a small input), each with the thread that used it
    /// last; shared by clones of the `Engine`.
    idle: Arc<Mutex<Vec<(ThreadId, regorus::Engine)>>>,
    /// `inner` plus one rule listing every deciding rule set, so that a decision is one
    /// evaluation (the rules all of them read are then evaluated once, not once per set);
    /// `None` when there are fewer than two sets or the rule could not be added. Evaluations
    /// start from it when there is one.
    decider: Option<regorus::Engine>,
    /// Decisions by input, keyed by the canonical JSON bytes (object keys sorted) of what
    /// regorus is handed (`input_keys`): sites whose images share every fact the modules can
    /// read share a decision. `None` when the library could decide
    /// differently on the same input (it calls `rand.intn`).
    memo: Option<Arc<Mutex<Memo>>>,
    limits: Limits,
    rule_sets: Arc<Vec<RuleSet>>,
    tests: Arc<Vec<TestRule>>,
    digest: Digest,
    /// The top-level keys of `input` the modules can read (`input.image…`), when every use of
    /// `input` names one: only those are handed to regorus (what a module cannot name, it
    /// cannot see, and converting it costs as much as evaluating a rule). `None`: all of it.
    input_keys: Option<Arc<BTreeSet<String>>>,
    /// The modules and data it was loaded from, to build engines that share nothing with
    /// `inner` ([`Engine::spare`]).
    sources: Arc<Sources>,
    /// How many engines [`Engine::spare`] has handed out; shared by clones.
    spares: Arc<AtomicUsize>,
}

impl Loader {
    /// An empty library under `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            modules: Vec::new(),
            embedded: BTreeSet::new(),
            data: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Adds one module; `name` is the file name shown in diagnostics.
    pub fn module(&mut self, name: impl Into<String>, source: impl Into<String>) -> &mut Self {
        self.modules.push((name.into(), source.into()));
        self
    }

    /// Adds modules embedded in the binary, as `(name, source)` pairs.
    pub fn embedded(&mut self, modules: &[(&str, &str)]) -> &mut Self {
        for (name, source) in modules {
            self.embedded.insert((*name).to_owned());
            self.module(*name, *source);
        }
        self
    }

    /// Adds a JSON data document, merged at the root of `data`.
    pub fn data_json(&mut self, name: impl Into<String>, text: &str) -> &mut Self {
        let name = name.into();
        if let Some(value) = self.parse_data(&name, text, DataFormat::Json) {
            self.data.push((name, value));
        }
        self
    }

    /// Adds a YAML data document (one YAML document), merged at the root of `data`.
    pub fn data_yaml(&mut self, name: impl Into<String>, text: &str) -> &mut Self {
        let name = name.into();
        if let Some(value) = self.parse_data(&name, text, DataFormat::Yaml) {
            self.data.push((name, value));
        }
        self
    }

    /// Adds a data document already parsed, merged at the root of `data`.
    pub fn data_value(&mut self, name: impl Into<String>, value: serde_json::Value) -> &mut Self {
        self.data.push((name.into(), value));
        self
    }

    /// Adds a file or, recursively and in name order, a directory.
    ///
    /// A file named explicitly is a module if it ends in `.rego`, otherwise a JSON (`.json`) or
    /// YAML data document merged at the root of `data`. In a directory: every `*.rego` (but
    /// `*_test.rego` only with [`TestFiles::Include`]), and every `data.json`, `data.yaml` or
    /// `data.yml`, mounted like `opa` does at the path of its directory relative to `path`
    /// (`lib/images/data.json` is `data.lib.images`). Other files and hidden entries are
    /// skipped.
    pub fn path(&mut self, path: &Path, test_files: TestFiles) -> &mut Self {
        match std::fs::metadata(path) {
            Err(source) => self.errors.push(PolicyError::Io {
                path: path.to_owned(),
                source,
            }),
            Ok(meta) if meta.is_dir() => self.walk(path, path, test_files),
            Ok(_) => {
                if path.extension().is_some_and(|e| e == "rego") {
                    self.rego_file(path);
                } else {
                    self.data_file(path, &[]);
                }
            }
        }
        self
    }

    fn walk(&mut self, root: &Path, dir: &Path, test_files: TestFiles) {
        let mut entries =
            match std::fs::read_dir(dir).and_then(|rd| rd.collect::<Result<Vec<_>, _>>()) {
                Ok(entries) => entries,
                Err(source) => {
                    self.errors.push(PolicyError::Io {
                        path: dir.to_owned(),
                        source,
                    });
                    return;
                }
            };
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            // Follows symbolic links to files, not to directories (no cycles) — and says so:
            // a linked directory of policies that silently never loads would fail open.
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let linked_dir = entry.file_type().is_ok_and(|t| t.is_symlink()) && path.is_dir();
            if linked_dir {
                self.errors.push(PolicyError::Io {
                    path: path.clone(),
                    source: std::io::Error::other(
                        "a link to a directory is not followed: pass its target with --policy",
                    ),
                });
            } else if is_dir {
                self.walk(root, &path, test_files);
            } else if name.ends_with(".rego") {
                if test_files == TestFiles::Include || !name.ends_with("_test.rego") {
                    self.rego_file(&path);
                }
            } else if DATA_FILE_NAMES.contains(&name.as_ref()) {
                let mount: Vec<String> = dir
                    .strip_prefix(root)
                    .map(|rel| {
                        rel.components()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                self.data_file(&path, &mount);
            }
        }
    }

    fn read(&mut self, path: &Path, kind: FileKind) -> Option<String> {
        let limit = match kind {
            FileKind::Module => self.limits.max_module_bytes,
            FileKind::Data => self.limits.max_data_bytes,
        };
        let read = crate::bounded::read_file(path, u64::try_from(limit).unwrap_or(u64::MAX));
        let bytes = match read {
            Ok(Some(bytes)) => bytes,
            Err(source) => {
                self.errors.push(PolicyError::Io {
                    path: path.to_owned(),
                    source,
                });
                return None;
            }
            Ok(None) => {
                let name = path.display().to_string();
                let bytes = std::fs::metadata(path)
                    .ok()
                    .and_then(|m| usize::try_from(m.len()).ok())
                    .unwrap_or(limit.saturating_add(1));
                self.errors.push(match kind {
                    FileKind::Module => PolicyError::ModuleTooLarge { name, bytes, limit },
                    FileKind::Data => PolicyError::DataTooLarge { name, bytes, limit },
                });
                return None;
            }
        };
        match String::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(e) => {
                self.errors.push(PolicyError::Io {
                    path: path.to_owned(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                });
                None
            }
        }
    }

    fn rego_file(&mut self, path: &Path) {
        if let Some(text) = self.read(path, FileKind::Module) {
            self.module(path.display().to_string(), text);
        }
    }

    fn data_file(&mut self, path: &Path, mount: &[String]) {
        let Some(text) = self.read(path, FileKind::Data) else {
            return;
        };
        let name = path.display().to_string();
        let format = if path.extension().is_some_and(|e| e == "json") {
            DataFormat::Json
        } else {
            DataFormat::Yaml
        };
        if let Some(mut value) = self.parse_data(&name, &text, format) {
            for key in mount.iter().rev() {
                let mut object = serde_json::Map::new();
                object.insert(key.clone(), value);
                value = serde_json::Value::Object(object);
            }
            self.data.push((name, value));
        }
    }

    fn parse_data(
        &mut self,
        name: &str,
        text: &str,
        format: DataFormat,
    ) -> Option<serde_json::Value> {
        if text.len() > self.limits.max_data_bytes {
            self.errors.push(PolicyError::DataTooLarge {
                name: name.to_owned(),
                bytes: text.len(),
                limit: self.limits.max_data_bytes,
            });
            return None;
        }
        let parsed = match format {
            DataFormat::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
            DataFormat::Yaml => yaml_document(name, text),
        };
        match parsed {
            Ok(value) => Some(value),
            Err(message) => {
                self.errors.push(PolicyError::Data {
                    name: name.to_owned(),
                    message,
                });
                None
            }
        }
    }

    /// Its modules and data, without the problems found so far: what [`Engine::spare`]
    /// loads again.
    fn sources(&self) -> Loader {
        Loader {
            limits: self.limits,
            modules: self.modules.clone(),
            embedded: self.embedded.clone(),
            data: self.data.clone(),
            errors: Vec::new(),
        }
    }

    /// Parses, checks and prepares the library.
    ///
    /// # Errors
    /// Every problem found: unreadable files, limits exceeded, syntax errors, unknown
    /// functions, wrong arities, analysis errors, data that does not parse or merge.
    pub fn load(self) -> Result<Engine, LoadErrors> {
        let sources = Arc::new(Sources(self.sources()));
        let Self {
            limits,
            modules,
            embedded,
            data,
            mut errors,
        } = self;
        let digest = library_digest(&modules, &data);
        let mut inner = regorus::Engine::new();
        inner.set_strict_builtin_errors(true);
        inner.set_gather_prints(true);
        let mut length = regorus::PolicyLengthConfig::default();
        if let Some(bytes) = std::num::NonZeroUsize::new(limits.max_module_bytes) {
            length.max_file_bytes = bytes;
        }
        inner.set_policy_length_config(length);

        if modules.len() > limits.max_modules {
            errors.push(PolicyError::TooManyModules {
                limit: limits.max_modules,
            });
        }
        // Shipped modules are known by name: a file of the same name must not pass for one.
        for name in &embedded {
            if modules.iter().filter(|(n, _)| n == name).count() > 1 {
                errors.push(PolicyError::Rego {
                    message: format!(
                        "{name}: a policy file has the name of a shipped module (hint: rename \
                         it, or pass `policy.builtin: false` to load a copy of the library)"
                    ),
                });
            }
        }
        // A library that draws random numbers may decide twice differently on one input.
        let deterministic_break = modules.iter().any(|(_, source)| source.contains("rand."));
        let mut parsed = true;
        for (name, source) in modules.into_iter().take(limits.max_modules) {
            if source.len() > limits.max_module_bytes {
                errors.push(PolicyError::ModuleTooLarge {
                    name,
                    bytes: source.len(),
                    limit: limits.max_module_bytes,
                });
                parsed = false;
                continue;
            }
            if let Err(e) = inner.add_policy(name, source) {
                errors.push(rego_error(&e));
                parsed = false;
            }
        }
        for (name, value) in data {
            if let Err(e) = inner.add_data(regorus::Value::from(value)) {
                errors.push(PolicyError::Data {
                    name,
                    message: format!("{e:#}"),
                });
            }
        }
        // Checks on the syntax trees would report follow-on noise after a module was refused
        // (calls to the functions it defines), so they wait for every module to parse.
        if !parsed {
            return Err(LoadErrors(errors));
        }
        let Survey {
            rule_sets,
            tests,
            problems,
        } = survey(inner.get_modules(), &embedded);
        errors.extend(problems);
        if !errors.is_empty() {
            return Err(LoadErrors(errors));
        }
        // Runs regorus' analysis (unsafe variables, recursion, conflicting imports) now, once,
        // rather than on the first input; clones of the engine keep the prepared state. It
        // stops at the first problem.
        if let Err(e) = inner.eval_query("true".to_owned(), false) {
            return Err(LoadErrors(vec![rego_error(&e)]));
        }
        let decider = combined_decider(&inner, &rule_sets);
        let input_keys = survey::input_keys(inner.get_modules()).map(Arc::new);
        Ok(Engine {
            inner,
            idle: Arc::default(),
            decider,
            memo: (!deterministic_break).then(Arc::default),
            limits,
            rule_sets: Arc::new(rule_sets),
            tests: Arc::new(tests),
            digest,
            input_keys,
            sources,
            spares: Arc::default(),
        })
    }
}

/// `inner` with a module whose one rule is the list of every rule set's value, in order
/// (`[data.supplygate.images.deny, ...]`), analysed now; `None` when it cannot be added (the
/// package is taken) or there is nothing to combine.
fn combined_decider(inner: &regorus::Engine, rule_sets: &[RuleSet]) -> Option<regorus::Engine> {
    if rule_sets.len() < 2 {
        return None;
    }
    let paths: Vec<&str> = rule_sets.iter().map(|r| r.path.as_str()).collect();
    let source = format!(
        "package {COMBINED_PACKAGE}\n\nall := [{}]\n",
        paths.join(", ")
    );
    let mut engine = inner.clone();
    engine
        .add_policy(format!("<{COMBINED_PACKAGE}>.rego"), source)
        .ok()?;
    engine.eval_query("true".to_owned(), false).ok()?;
    Some(engine)
}

/// `sha256` over what decides: every module's source and every data document, each hashed and
/// the list sorted, so that neither file names (which depend on where `check` runs) nor the
/// order of a directory walk change it.
fn library_digest(modules: &[(String, String)], data: &[(String, serde_json::Value)]) -> Digest {
    let mut parts: Vec<String> = modules
        .iter()
        .map(|(_, source)| format!("module {}", Digest::sha256_of(source.as_bytes())))
        .chain(data.iter().map(|(_, value)| {
            let mut value = value.clone();
            // `data.supplygate.config` carries config line numbers for messages: a config edit
            // that only moves lines decides nothing differently.
            if let Some(config) = value
                .get_mut(PACKAGE_PREFIX)
                .and_then(|v| v.get_mut("config"))
            {
                strip_lines(config);
            }
            let text = serde_json::to_string(&value).unwrap_or_default();
            format!("data {}", Digest::sha256_of(text.as_bytes()))
        }))
        .collect();
    parts.sort();
    Digest::sha256_of(parts.join("\n").as_bytes())
}

/// Removes every `line` key, at any depth.
fn strip_lines(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("line");
            map.values_mut().for_each(strip_lines);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_lines),
        _ => {}
    }
}

#[derive(Debug, Clone, Copy)]
enum FileKind {
    Module,
    Data,
}

#[derive(Debug, Clone, Copy)]
enum DataFormat {
    Json,
    Yaml,
}

fn yaml_document(name: &str, text: &str) -> Result<serde_json::Value, String> {
    let origin = Arc::new(Origin::File(PathBuf::from(name)));
    let limits = manifest::Limits {
        max_file_bytes: u64::try_from(text.len()).unwrap_or(u64::MAX),
        ..manifest::Limits::default()
    };
    let docs =
        manifest::yaml::parse_documents(text, &origin, &limits).map_err(|e| e.to_string())?;
    match docs.as_slice() {
        [] => Ok(serde_json::Value::Object(serde_json::Map::new())),
        [doc] => Ok(doc.root.to_json()),
        _ => Err(format!(
            "has {} YAML documents; a data document must be one",
            docs.len()
        )),
    }
}

fn rego_error(e: &anyhow::Error) -> PolicyError {
    PolicyError::Rego {
        message: format!("{e:#}").trim().to_owned(),
    }
}

impl Engine {
    /// Evaluates every deciding `deny` and `warn` rule against `input`.
    ///
    /// Never fails: whatever keeps a rule from being evaluated (an error, the time limit, a
    /// malformed entry) is recorded in [`Decision::errors`], which denies.
    pub fn evaluate(&self, input: &serde_json::Value) -> Decision {
        let Some(memo) = &self.memo else {
            return self.decide(input);
        };
        // serde_json's objects are sorted maps: equal inputs have equal bytes. The key is what
        // regorus is handed (the top-level keys the modules name, `input_keys`): a decision
        // depends on nothing else, so sites that differ only in what no module reads (the
        // shipped library reads neither `resource` nor `container`: the same image in several
        // workloads) share it.
        let key = match (self.input_keys.as_deref(), input) {
            (Some(keys), serde_json::Value::Object(members)) => {
                let named: BTreeMap<&str, &serde_json::Value> = members
                    .iter()
                    .filter(|(k, _)| keys.contains(k.as_str()))
                    .map(|(k, v)| (k.as_str(), v))
                    .collect();
                serde_json::to_vec(&named)
            }
            _ => serde_json::to_vec(input),
        };
        let Ok(key) = key else {
            return self.decide(input);
        };
        if let Some(known) = memo
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return known.clone();
        }
        let decision = self.decide(input);
        // An error may be the time limit on a busy machine: decide again next time.
        if decision.errors.is_empty() {
            let mut memo = memo.lock().unwrap_or_else(PoisonError::into_inner);
            if memo.len() >= MEMO_ENTRIES {
                memo.clear();
            }
            memo.insert(key, decision.clone());
        }
        decision
    }

    /// [`Engine::evaluate`] without the memo.
    pub fn decide(&self, input: &serde_json::Value) -> Decision {
        // The engine this thread used last, if idle: its trees are still in this core's cache
        // (an engine handed from thread to thread on every decision cost a fifth of the
        // second thread's gain). Taken before the clock starts: loading a spare is not
        // evaluating.
        let this = std::thread::current().id();
        let taken = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            let mine = idle.iter().rposition(|(t, _)| *t == this);
            match mine {
                Some(i) => Some(idle.swap_remove(i)),
                None => idle.pop(),
            }
        };
        let mut engine = taken.map_or_else(|| self.spare(), |(_, e)| e);
        let started = Instant::now();
        // Read straight from the borrowed document: no copy of the `serde_json` tree first.
        let input = match input_value(input, self.input_keys.as_deref()) {
            Ok(value) => value,
            Err(e) => {
                self.put_back(this, engine);
                return Decision {
                    errors: vec![format!("the input cannot be given to the policies: {e}")],
                    ..Decision::default()
                };
            }
        };
        engine.set_input(input);
        let mut decision = Decision::default();
        // Every rule set in one evaluation, when the library allows it and nothing goes wrong;
        // otherwise (an error, a set that is not defined, the time limit) each set on its own,
        // which attributes an error to its set and keeps one set's error from hiding the
        // others' findings. Both give the same entries: the rules are the same.
        let combined = self.decider.is_some() && {
            engine.set_execution_timer_config(ExecutionTimerConfig {
                limit: self.limits.eval_timeout,
                check_interval: TIMER_CHECK_INTERVAL,
            });
            match engine.eval_rule(COMBINED_RULE.to_owned()) {
                Ok(regorus::Value::Array(values))
                    if values.len() == self.rule_sets.len()
                        && started.elapsed() <= self.limits.eval_timeout =>
                {
                    for (value, rule_set) in values.iter().zip(self.rule_sets.iter()) {
                        collect(value, rule_set, &mut decision);
                    }
                    true
                }
                _ => false,
            }
        };
        for rule_set in self.rule_sets.iter().filter(|_| !combined) {
            let remaining = self.limits.eval_timeout.saturating_sub(started.elapsed());
            if remaining.is_zero() {
                decision.errors.push(format!(
                    "`{}` was not evaluated: the evaluation time limit of {:?} was reached",
                    rule_set.path, self.limits.eval_timeout
                ));
                continue;
            }
            engine.set_execution_timer_config(ExecutionTimerConfig {
                limit: remaining,
                check_interval: TIMER_CHECK_INTERVAL,
            });
            match engine.eval_rule(rule_set.path.clone()) {
                // regorus checks its timer between steps, so one long builtin call (a huge
                // `numbers.range`) can finish past the limit: that is over the limit too.
                Ok(_) if started.elapsed() > self.limits.eval_timeout => {
                    decision.errors.push(format!(
                        "evaluating `{}`: execution exceeded the time limit of {:?}",
                        rule_set.path, self.limits.eval_timeout
                    ));
                }
                Ok(value) => collect(&value, rule_set, &mut decision),
                Err(e) => decision.errors.push(format!(
                    "evaluating `{}`: {}",
                    rule_set.path,
                    format!("{e:#}").trim()
                )),
            }
        }
        // Discard what `print` gathered: the gate has nowhere to show it.
        let _ = engine.take_prints();
        // An engine whose evaluation failed is not reused: nothing of it may leak into the
        // next decision.
        if decision.errors.is_empty() {
            engine.set_input(regorus::Value::new_object());
            self.put_back(this, engine);
        }
        decision
    }

    /// Readies engines for `n` evaluations at once (at most [`IDLE_ENGINES`]) now, so that no
    /// decision waits for one to be loaded: `supplygate serve` does when it loads a library,
    /// off the request path.
    pub fn prepare(&self, n: usize) {
        let this = std::thread::current().id();
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        let wanted = n.min(IDLE_ENGINES).saturating_sub(idle);
        let engines: Vec<regorus::Engine> = (0..wanted).map(|_| self.spare()).collect();
        for engine in engines {
            self.put_back(this, engine);
        }
    }

    /// Returns an engine that evaluated nothing wrong to the idle ones, as `thread`'s.
    fn put_back(&self, thread: ThreadId, engine: regorus::Engine) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_ENGINES {
            idle.push((thread, engine));
        }
    }

    /// A prepared engine for one more evaluation at once, when none is idle. The first is a
    /// copy of the prepared engine; the next ones, up to [`IDLE_ENGINES`], are loaded again
    /// from the sources, so that they share nothing: copies share their syntax trees and data,
    /// whose reference counts every evaluation touches, and threads evaluating on copies at
    /// once contend for them (`benches/policy.sh`, 1,000 images: two threads ran at 1.28 times
    /// one thread's rate; on engines of their own, each thread back on its own, 1.64 to 1.8
    /// times). Past that (engines dropped after errors), copies again: an
    /// input that fails cannot make each evaluation load the library anew.
    fn spare(&self) -> regorus::Engine {
        let template = self.decider.as_ref().unwrap_or(&self.inner);
        let n = self.spares.fetch_add(1, Ordering::Relaxed);
        if n == 0 || n >= IDLE_ENGINES {
            return template.clone();
        }
        match self.sources.0.sources().load() {
            Ok(own) => own.decider.unwrap_or(own.inner),
            Err(_) => template.clone(),
        }
    }

    /// The packages whose `deny` or `warn` rules decide, e.g. `data.supplygate.images`.
    pub fn packages(&self) -> Vec<String> {
        let packages: BTreeSet<&str> = self.rule_sets.iter().map(|r| r.package.as_str()).collect();
        packages.into_iter().map(str::to_owned).collect()
    }

    /// `sha256` of the library: its modules' sources and its data documents (file names
    /// aside). The evidence lock records it to notice a policy change.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The limits it was loaded with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub(crate) fn tests(&self) -> &[TestRule] {
        &self.tests
    }

    pub(crate) fn regorus(&self) -> &regorus::Engine {
        &self.inner
    }
}

/// `input` as regorus takes it; of a top-level object, only the members named in `keys` (when
/// given). Built directly rather than through `serde` (a third faster); numbers still go through
/// regorus' own `serde` reading, so that each is read exactly as it would be otherwise.
fn input_value(
    input: &serde_json::Value,
    keys: Option<&BTreeSet<String>>,
) -> Result<regorus::Value, serde_json::Error> {
    match (input, keys) {
        (serde_json::Value::Object(members), Some(keys)) => {
            let mut object = BTreeMap::new();
            for (key, value) in members.iter().filter(|(k, _)| keys.contains(k.as_str())) {
                object.insert(regorus::Value::from(key.as_str()), to_regorus(value)?);
            }
            Ok(regorus::Value::from(object))
        }
        _ => to_regorus(input),
    }
}

fn to_regorus(value: &serde_json::Value) -> Result<regorus::Value, serde_json::Error> {
    Ok(match value {
        serde_json::Value::Null => regorus::Value::Null,
        serde_json::Value::Bool(b) => regorus::Value::Bool(*b),
        serde_json::Value::Number(_) => serde::Deserialize::deserialize(value)?,
        serde_json::Value::String(s) => regorus::Value::from(s.as_str()),
        serde_json::Value::Array(items) => regorus::Value::from(
            items
                .iter()
                .map(to_regorus)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        serde_json::Value::Object(members) => {
            let mut object = BTreeMap::new();
            for (key, value) in members {
                object.insert(regorus::Value::from(key.as_str()), to_regorus(value)?);
            }
            regorus::Value::from(object)
        }
    })
}

/// Turns the value of one `deny`/`warn` rule into violations (or errors).
fn collect(value: &regorus::Value, rule_set: &RuleSet, decision: &mut Decision) {
    let entries = match value {
        regorus::Value::Undefined => return,
        regorus::Value::Set(set) => set.iter().collect::<Vec<_>>(),
        other => {
            decision.errors.push(format!(
                "`{}` must be a set of messages, not {} (hint: write `{} contains msg if {{ ... }}`)",
                rule_set.path,
                type_name(other),
                match rule_set.kind {
                    Kind::Deny => "deny",
                    Kind::Warn => "warn",
                }
            ));
            return;
        }
    };
    for entry in entries {
        match violation(entry, &rule_set.package) {
            Ok(v) => match rule_set.kind {
                Kind::Deny => decision.denies.push(v),
                Kind::Warn => decision.warns.push(v),
            },
            Err(why) => decision.errors.push(format!(
                "`{}` has an entry that {why}: {}",
                rule_set.path,
                entry.to_json_str().unwrap_or_else(|_| "?".to_owned())
            )),
        }
    }
}

fn violation(entry: &regorus::Value, package: &str) -> Result<Violation, String> {
    let text = |v: &regorus::Value, key: &str| -> Result<String, String> {
        match v {
            regorus::Value::String(s) => Ok(s.to_string()),
            other => Err(format!(
                "has a `{key}` that is {}, not a string",
                type_name(other)
            )),
        }
    };
    match entry {
        regorus::Value::String(s) => Ok(Violation {
            code: None,
            msg: s.to_string(),
            hint: None,
            expected: None,
            found: None,
            package: package.to_owned(),
        }),
        regorus::Value::Object(object) => {
            let (mut code, mut msg, mut hint) = (None, None, None);
            let (mut expected, mut found) = (None, None);
            for (key, value) in object.iter() {
                match key {
                    regorus::Value::String(k) if k.as_ref() == "msg" => {
                        msg = Some(text(value, "msg")?)
                    }
                    regorus::Value::String(k) if k.as_ref() == "code" => {
                        code = Some(text(value, "code")?)
                    }
                    regorus::Value::String(k) if k.as_ref() == "hint" => {
                        hint = Some(text(value, "hint")?)
                    }
                    regorus::Value::String(k) if k.as_ref() == "expected" => {
                        expected = Some(text(value, "expected")?)
                    }
                    regorus::Value::String(k) if k.as_ref() == "found" => {
                        found = Some(text(value, "found")?)
                    }
                    other => {
                        return Err(format!(
                            "has the key {}, not one of `msg`, `code`, `hint`, `expected`, `found`",
                            other.to_json_str().unwrap_or_default()
                        ))
                    }
                }
            }
            Ok(Violation {
                code,
                msg: msg.ok_or("has no `msg`")?,
                hint,
                expected,
                found,
                package: package.to_owned(),
            })
        }
        other => Err(format!(
            "is {}, not a string or an object with `msg`",
            type_name(other)
        )),
    }
}

fn type_name(value: &regorus::Value) -> &'static str {
    match value {
        regorus::Value::Null => "null",
        regorus::Value::Bool(_) => "a boolean",
        regorus::Value::Number(_) => "a number",
        regorus::Value::String(_) => "a string",
        regorus::Value::Array(_) => "an array",
        regorus::Value::Set(_) => "a set",
        regorus::Value::Object(_) => "an object",
        regorus::Value::Undefined => "undefined",
    }
}

mod survey;
#[cfg(test)]
mod tests;

use survey::{survey, Survey};
