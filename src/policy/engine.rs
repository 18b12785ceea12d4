//! Stage (5): loading a Rego library once ([`Loader`]) and evaluating it per input ([`Engine`]).

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use regorus::unstable::{Expr, Literal, Module, Query, Rule, RuleHead, BUILTINS};
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
const UNSUPPORTED_OPA_BUILTINS: [&str; 10] = [
    "http.",
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
    limits: Limits,
    rule_sets: Arc<Vec<RuleSet>>,
    tests: Arc<Vec<TestRule>>,
    digest: Digest,
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

    /// Parses, checks and prepares the library.
    ///
    /// # Errors
    /// Every problem found: unreadable files, limits exceeded, syntax errors, unknown
    /// functions, wrong arities, analysis errors, data that does not parse or merge.
    pub fn load(self) -> Result<Engine, LoadErrors> {
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
        Ok(Engine {
            inner,
            limits,
            rule_sets: Arc::new(rule_sets),
            tests: Arc::new(tests),
            digest,
        })
    }
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
        let mut engine = self.inner.clone();
        engine.set_input(regorus::Value::from(input.clone()));
        let started = Instant::now();
        let mut decision = Decision::default();
        for rule_set in self.rule_sets.iter() {
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
        decision
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

/// What one pass over the syntax trees finds.
struct Survey {
    rule_sets: Vec<RuleSet>,
    tests: Vec<TestRule>,
    problems: Vec<PolicyError>,
}

/// Finds the deciding rules and the tests, and checks every call: the function must exist
/// (a builtin, `print`, or a function defined in the library) and take that many arguments.
/// A user module's rule would reach into a shipped package (or a package the config data
/// lives in), where it could switch a guarantee off (`covered if { input.image.name }` in
/// `supplygate.images` turns `unmatched_images: deny` off; a `default` changes a default).
fn reaches_into_shipped(
    module: &Module,
    package: &[String],
    protected: &[Vec<String>],
    file: &str,
    problems: &mut Vec<PolicyError>,
) {
    for rule in &module.policy {
        let (refr, span) = match rule.as_ref() {
            Rule::Spec { head, span, .. } => match head {
                RuleHead::Compr { refr, .. }
                | RuleHead::Set { refr, .. }
                | RuleHead::Func { refr, .. } => (refr, span),
            },
            Rule::Default { refr, span, .. } => (refr, span),
        };
        let mut path = package.to_vec();
        path.extend(static_prefix(refr));
        // Inside a protected package, or an ancestor of one (`package supplygate` with a rule
        // `images.covered`, or one named `images`).
        let Some(hit) = protected
            .iter()
            .find(|p| path.starts_with(p) || p.starts_with(&path))
        else {
            continue;
        };
        problems.push(PolicyError::Rego {
            message: format!(
                "{file}:{}:{}: rule `{}` would change the shipped package `{}`: a policy may add \
                 denials and warnings in its own package, never change what the shipped \
                 library or the config decides (hint: `package {PACKAGE_PREFIX}.<yours>`)",
                span.line,
                span.col,
                path.join("."),
                hit.join(".")
            ),
        });
    }
}

fn survey(modules: &[regorus::unstable::Ref<Module>], embedded: &BTreeSet<String>) -> Survey {
    // The packages of the shipped modules, and the config data's: out of a user's reach.
    let is_shipped = |m: &Module| embedded.contains(m.package.span.source.get_path().as_str());
    let mut protected: Vec<Vec<String>> = modules
        .iter()
        .filter(|m| is_shipped(m))
        .filter_map(|m| static_path(&m.package.refr))
        .collect();
    if !protected.is_empty() {
        protected.push(vec![PACKAGE_PREFIX.to_owned(), "config".to_owned()]);
    }
    // Every function defined in the library: full path -> arity.
    let mut functions: BTreeMap<String, usize> = BTreeMap::new();
    for module in modules {
        let Some(package) = static_path(&module.package.refr) else {
            continue;
        };
        for rule in &module.policy {
            let (refr, args) = match rule.as_ref() {
                Rule::Spec {
                    head: RuleHead::Func { refr, args, .. },
                    ..
                } => (refr, args),
                Rule::Default { refr, args, .. } if !args.is_empty() => (refr, args),
                _ => continue,
            };
            if let Some(name) = static_path(refr) {
                functions.insert(render_path(&package, &name), args.len());
            }
        }
    }

    let mut rule_sets = BTreeSet::new();
    let mut tests: BTreeMap<String, TestRule> = BTreeMap::new();
    let mut problems = Vec::new();
    for module in modules {
        let Some(package) = static_path(&module.package.refr) else {
            continue;
        };
        let file = module.package.span.source.get_path().clone();
        if !is_shipped(module) {
            reaches_into_shipped(module, &package, &protected, &file, &mut problems);
        }
        let imports = imports(module);
        let mut calls = Vec::new();
        for rule in &module.policy {
            rule_heads(
                rule,
                &package,
                &file,
                &mut rule_sets,
                &mut tests,
                &mut problems,
            );
            calls_in_rule(rule, &mut calls);
        }
        // The walk visits calls in no useful order: report them as they appear in the file.
        calls.sort_by_key(|call| match call {
            Expr::Call { fcn, .. } => (fcn.span().line, fcn.span().col),
            _ => (0, 0),
        });
        for call in calls {
            if let Some(problem) = check_call(call, &package, &imports, &functions, &file) {
                problems.push(problem);
            }
        }
    }
    Survey {
        rule_sets: rule_sets.into_iter().collect(),
        tests: tests.into_values().collect(),
        problems,
    }
}

fn rule_heads(
    rule: &Rule,
    package: &[String],
    file: &str,
    rule_sets: &mut BTreeSet<RuleSet>,
    tests: &mut BTreeMap<String, TestRule>,
    problems: &mut Vec<PolicyError>,
) {
    let (refr, is_function, span) = match rule {
        Rule::Spec { head, span, .. } => match head {
            RuleHead::Compr { refr, .. } | RuleHead::Set { refr, .. } => (refr, false, span),
            RuleHead::Func { refr, .. } => (refr, true, span),
        },
        Rule::Default {
            refr, args, span, ..
        } => (refr, !args.is_empty(), span),
    };
    // A head such as `deny[msg]` has a static prefix `deny`: keep the static part.
    let head = static_prefix(refr);
    let Some((last, parents)) = head.split_last() else {
        return;
    };
    if is_function {
        return;
    }
    let mut owner = package.to_vec();
    owner.extend(parents.iter().cloned());
    if owner.first().map(String::as_str) == Some(PACKAGE_PREFIX) {
        let kind = match last.as_str() {
            "deny" => Some(Kind::Deny),
            "warn" => Some(Kind::Warn),
            _ => None,
        };
        if let Some(kind) = kind {
            rule_sets.insert(RuleSet {
                package: render_path(&owner, &[]),
                kind,
                path: render_path(&owner, std::slice::from_ref(last)),
            });
        }
    } else if matches!(last.as_str(), "deny" | "warn") {
        // A deny rule that never decides is worse than none: refuse it.
        let owner = owner.join(".");
        problems.push(PolicyError::Rego {
            message: format!(
                "{file}:{}:{}: `{last}` in package `{owner}` would never decide: only packages \
                 under `{PACKAGE_PREFIX}` do (hint: `package {PACKAGE_PREFIX}.{owner}`)",
                span.line, span.col
            ),
        });
    }
    if last.starts_with("test_") {
        let path = render_path(&owner, std::slice::from_ref(last));
        tests.entry(path.clone()).or_insert_with(|| TestRule {
            package: render_path(&owner, &[]),
            name: last.clone(),
            path,
            file: file.to_owned(),
            line: span.line,
        });
    }
}

/// `import data.lib.images` -> `images` => `data.lib.images`; `import data.x as y` -> `y`.
fn imports(module: &Module) -> BTreeMap<String, Vec<String>> {
    let mut map = BTreeMap::new();
    for import in &module.imports {
        let Some(target) = static_path(&import.refr) else {
            continue;
        };
        if target.first().map(String::as_str) != Some("data") {
            continue; // `rego.v1`, `future.keywords`, `input`
        }
        let alias = match &import.r#as {
            Some(span) => span.text().to_owned(),
            None => match target.last() {
                Some(last) => last.clone(),
                None => continue,
            },
        };
        map.insert(alias, target);
    }
    map
}

fn check_call(
    call: &Expr,
    package: &[String],
    imports: &BTreeMap<String, Vec<String>>,
    functions: &BTreeMap<String, usize>,
    file: &str,
) -> Option<PolicyError> {
    let Expr::Call { fcn, params, .. } = call else {
        return None;
    };
    // The call's own span starts at its `(`; point at the function's name.
    let span = fcn.span();
    // A dynamic function reference cannot be checked statically; regorus checks it when it
    // is reached.
    let name = static_path(fcn)?;
    let called = name.join(".");
    if called == "print" {
        return None;
    }
    let arity = match name.split_first() {
        Some((root, rest)) if imports.contains_key(root) => imports
            .get(root)
            .and_then(|target| functions.get(&render_path(target, rest)).copied()),
        Some((root, _)) if root == "data" => functions.get(&render_path(&[], &name)).copied(),
        _ => functions
            .get(&render_path(package, &name))
            .copied()
            .or_else(|| BUILTINS.get(called.as_str()).map(|(_, n)| usize::from(*n))),
    };
    let Some(expected) = arity else {
        let hint = if UNSUPPORTED_OPA_BUILTINS
            .iter()
            .any(|p| called.starts_with(p))
        {
            Some(format!(
                "`{called}` is an OPA builtin that supplygate's Rego engine does not provide"
            ))
        } else {
            closest(
                &called,
                functions
                    .keys()
                    .map(String::as_str)
                    .chain(BUILTINS.keys().copied()),
            )
            .map(|c| format!("did you mean `{c}`?"))
        };
        return Some(PolicyError::UnknownFunction {
            file: file.to_owned(),
            line: span.line,
            column: span.col,
            function: called,
            hint,
        });
    };
    // `f(x, out)` is the output-argument form of `out := f(x)`.
    if params.len() == expected || params.len() == expected.saturating_add(1) {
        return None;
    }
    Some(PolicyError::WrongArity {
        file: file.to_owned(),
        line: span.line,
        column: span.col,
        function: called,
        expected,
        actual: params.len(),
    })
}

/// The known name within edit distance 2 of `name`, if one is closest.
fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    let short = |k: &str| k.rsplit('.').next().map(str::to_owned).unwrap_or_default();
    known
        .filter_map(|k| {
            // User functions are keyed by full path; compare them by their last component
            // unless the call is qualified too.
            let candidate = if k.starts_with("data.") && !name.contains('.') {
                short(k)
            } else {
                k.to_owned()
            };
            let d = edit_distance(name, &candidate);
            (d <= 2).then_some((d, candidate))
        })
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = i;
        let mut next = vec![i.saturating_add(1)];
        for (j, cb) in b.iter().enumerate() {
            let above = row.get(j.saturating_add(1)).copied().unwrap_or(usize::MAX);
            let left = next.last().copied().unwrap_or(usize::MAX);
            let cost = usize::from(ca != *cb);
            next.push(
                diagonal
                    .saturating_add(cost)
                    .min(above.saturating_add(1))
                    .min(left.saturating_add(1)),
            );
            diagonal = above;
        }
        row = next;
    }
    row.last().copied().unwrap_or(0)
}

/// Every `Call` expression of a rule (iteratively: no recursion on policy-controlled depth).
fn calls_in_rule<'a>(rule: &'a Rule, calls: &mut Vec<&'a Expr>) {
    enum Node<'a> {
        Expr(&'a Expr),
        Query(&'a Query),
    }
    let mut stack: Vec<Node<'a>> = Vec::new();
    match rule {
        Rule::Spec { head, bodies, .. } => {
            match head {
                RuleHead::Compr { refr, assign, .. } => {
                    stack.push(Node::Expr(refr));
                    if let Some(a) = assign {
                        stack.push(Node::Expr(&a.value));
                    }
                }
                RuleHead::Set { refr, key, .. } => {
                    stack.push(Node::Expr(refr));
                    if let Some(k) = key {
                        stack.push(Node::Expr(k));
                    }
                }
                RuleHead::Func {
                    refr, args, assign, ..
                } => {
                    stack.push(Node::Expr(refr));
                    stack.extend(args.iter().map(|a| Node::Expr(a)));
                    if let Some(a) = assign {
                        stack.push(Node::Expr(&a.value));
                    }
                }
            }
            for body in bodies {
                if let Some(a) = &body.assign {
                    stack.push(Node::Expr(&a.value));
                }
                stack.push(Node::Query(&body.query));
            }
        }
        Rule::Default {
            refr, args, value, ..
        } => {
            stack.push(Node::Expr(refr));
            stack.extend(args.iter().map(|a| Node::Expr(a)));
            stack.push(Node::Expr(value));
        }
    }
    while let Some(node) = stack.pop() {
        match node {
            Node::Query(query) => {
                for stmt in &query.stmts {
                    for with in &stmt.with_mods {
                        stack.push(Node::Expr(&with.refr));
                        stack.push(Node::Expr(&with.r#as));
                    }
                    match &stmt.literal {
                        Literal::SomeVars { .. } => {}
                        Literal::SomeIn {
                            key,
                            value,
                            collection,
                            ..
                        } => {
                            stack.extend(key.iter().map(|k| Node::Expr(k)));
                            stack.push(Node::Expr(value));
                            stack.push(Node::Expr(collection));
                        }
                        Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => {
                            stack.push(Node::Expr(expr));
                        }
                        Literal::Every { domain, query, .. } => {
                            stack.push(Node::Expr(domain));
                            stack.push(Node::Query(query));
                        }
                    }
                }
            }
            Node::Expr(expr) => match expr {
                Expr::Call { fcn, params, .. } => {
                    calls.push(expr);
                    stack.push(Node::Expr(fcn));
                    stack.extend(params.iter().map(|p| Node::Expr(p)));
                }
                Expr::Array { items, .. } | Expr::Set { items, .. } => {
                    stack.extend(items.iter().map(|i| Node::Expr(i)));
                }
                Expr::Object { fields, .. } => {
                    for (_, k, v) in fields {
                        stack.push(Node::Expr(k));
                        stack.push(Node::Expr(v));
                    }
                }
                Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
                    stack.push(Node::Expr(term));
                    stack.push(Node::Query(query));
                }
                Expr::ObjectCompr {
                    key, value, query, ..
                } => {
                    stack.push(Node::Expr(key));
                    stack.push(Node::Expr(value));
                    stack.push(Node::Query(query));
                }
                Expr::UnaryExpr { expr, .. } => stack.push(Node::Expr(expr)),
                Expr::RefDot { refr, .. } => stack.push(Node::Expr(refr)),
                Expr::RefBrack { refr, index, .. } => {
                    stack.push(Node::Expr(refr));
                    stack.push(Node::Expr(index));
                }
                Expr::BinExpr { lhs, rhs, .. }
                | Expr::BoolExpr { lhs, rhs, .. }
                | Expr::ArithExpr { lhs, rhs, .. }
                | Expr::AssignExpr { lhs, rhs, .. } => {
                    stack.push(Node::Expr(lhs));
                    stack.push(Node::Expr(rhs));
                }
                Expr::Membership {
                    key,
                    value,
                    collection,
                    ..
                } => {
                    stack.extend(key.iter().map(|k| Node::Expr(k)));
                    stack.push(Node::Expr(value));
                    stack.push(Node::Expr(collection));
                }
                // Scalars and variables; and variants of regorus features we do not enable.
                #[allow(unreachable_patterns)]
                _ => {}
            },
        }
    }
}

/// The components of a reference made only of names and string keys (`a.b["c"]`), or `None`.
fn static_path(expr: &Expr) -> Option<Vec<String>> {
    let mut components = Vec::new();
    let complete = static_components(expr, &mut components);
    complete.then_some(components)
}

/// The longest static prefix of a reference (`deny[msg]` -> `deny`).
fn static_prefix(expr: &Expr) -> Vec<String> {
    let mut components = Vec::new();
    static_components(expr, &mut components);
    components
}

/// Pushes the static components of `expr` from its root; returns whether all were static.
fn static_components(mut expr: &Expr, out: &mut Vec<String>) -> bool {
    // Walk down to the root, then reverse (references nest to the left).
    let mut reversed = Vec::new();
    let mut complete = true;
    loop {
        match expr {
            Expr::Var { span, .. } => {
                reversed.push(span.text().to_owned());
                break;
            }
            Expr::RefDot { refr, field, .. } => {
                reversed.push(field.0.text().to_owned());
                expr = refr;
            }
            Expr::RefBrack { refr, index, .. } => {
                match index.as_ref() {
                    Expr::String { value, .. } | Expr::RawString { value, .. } => match value {
                        regorus::Value::String(s) => reversed.push(s.to_string()),
                        _ => {
                            complete = false;
                            reversed.clear();
                        }
                    },
                    _ => {
                        complete = false;
                        reversed.clear();
                    }
                }
                expr = refr;
            }
            _ => return false,
        }
    }
    reversed.reverse();
    out.extend(reversed);
    complete
}

/// `["data", "supplygate"]` + `["deny"]` -> `data.supplygate.deny`; components that are not
/// identifiers are written `["like-this"]`. A path not rooted at `data` gets it.
fn render_path(package: &[String], rest: &[String]) -> String {
    let mut out = String::new();
    let all = package.iter().chain(rest.iter());
    let mut first = true;
    for (i, c) in all.enumerate() {
        if i == 0 && c != "data" {
            out.push_str("data");
            first = false;
        }
        if first {
            out.push_str(c);
            first = false;
        } else if is_identifier(c) {
            out.push('.');
            out.push_str(c);
        } else {
            out.push('[');
            out.push_str(&serde_json::Value::String(c.clone()).to_string());
            out.push(']');
        }
    }
    out
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn strings(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn engine_is_send_and_sync() {
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<Engine>();
    }

    #[test]
    fn render_path_roots_at_data_and_quotes_non_identifiers() {
        assert_eq!(
            render_path(&strings(&["supplygate", "images"]), &strings(&["deny"])),
            "data.supplygate.images.deny"
        );
        assert_eq!(
            render_path(&strings(&["data", "lib"]), &strings(&["f"])),
            "data.lib.f"
        );
        assert_eq!(
            render_path(&strings(&["supplygate", "my-pkg"]), &strings(&["deny"])),
            "data.supplygate[\"my-pkg\"].deny"
        );
        assert_eq!(render_path(&[], &[]), "");
    }

    #[test]
    fn identifiers_are_ascii_names() {
        assert!(is_identifier("test_a1"));
        assert!(is_identifier("_x"));
        assert!(!is_identifier("1a"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(""));
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("sprintf", "sprintf"), 0);
        assert_eq!(edit_distance("sprintff", "sprintf"), 1);
        assert_eq!(edit_distance("contians", "contains"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn closest_suggests_only_near_names() {
        let known = ["startswith", "endswith", "data.lib.check_image"];
        assert_eq!(
            closest("startwith", known.into_iter()).as_deref(),
            Some("startswith")
        );
        assert_eq!(
            closest("check_imag", known.into_iter()).as_deref(),
            Some("check_image")
        );
        assert_eq!(closest("frobnicate", known.into_iter()), None);
    }

    /// Issue 15, hole 4: a user module cannot reach into a shipped package, in any spelling.
    #[test]
    fn user_rules_in_shipped_packages_are_refused_with_their_place() {
        let attempts = [
            (
                "package supplygate.images\n\ncovered if input.image.name\n",
                "supplygate.images.covered",
            ),
            (
                "package supplygate\n\nimages.covered if input.image.name\n",
                "supplygate.images.covered",
            ),
            (
                "package supplygate.images\n\ndefault allow_latest := true\n",
                "supplygate.images.allow_latest",
            ),
            (
                "package supplygate.lib.util\n\nimage_matches(p, n) if true\n",
                "supplygate.lib.util.image_matches",
            ),
            (
                "package supplygate.config.images\n\nunmatched := \"allow\"\n",
                "supplygate.config.images.unmatched",
            ),
            (
                "package supplygate.provenance\n\ndeny contains \"x\" if false\n",
                "supplygate.provenance.deny",
            ),
        ];
        for (source, rule) in attempts {
            let mut loader = Loader::new(Limits::default());
            loader
                .embedded(crate::policy::shipped::MODULES)
                .module("mine/evil.rego", source);
            let errors = loader.load().unwrap_err().to_string();
            assert!(
                errors.contains(&format!(
                    "mine/evil.rego:3:1: rule `{rule}` would change the shipped package"
                )),
                "{source}: {errors}"
            );
        }
        // Their own package is theirs; and without the shipped library, nothing is protected.
        let mut loader = Loader::new(Limits::default());
        loader.embedded(crate::policy::shipped::MODULES).module(
            "mine/ok.rego",
            "package supplygate.mine\n\ndeny contains \"x\" if false\n",
        );
        assert!(loader.load().is_ok());
    }

    #[test]
    fn a_file_named_like_a_shipped_module_is_refused() {
        let mut loader = Loader::new(Limits::default());
        loader.embedded(crate::policy::shipped::MODULES).module(
            "policies/lib/images.rego",
            "package supplygate.images\n\ncovered if true\n",
        );
        let errors = loader.load().unwrap_err().to_string();
        assert!(
            errors.contains("has the name of a shipped module"),
            "{errors}"
        );
    }

    #[test]
    fn deciding_packages_ignore_functions_and_other_prefixes() {
        let mut loader = Loader::new(Limits::default());
        loader
            .module(
                "a.rego",
                "package supplygate.a\n\ndeny(x) := x\nwarn contains \"w\" if true\n",
            )
            .module("b.rego", "package supplygatex\n\nhelper := true\n");
        let engine = loader.load().unwrap();
        assert_eq!(engine.packages(), ["data.supplygate.a"]);
        let kinds: Vec<Kind> = engine.rule_sets.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [Kind::Warn]);
    }

    #[test]
    fn quoted_package_components_are_evaluated_by_bracket_path() {
        let mut loader = Loader::new(Limits::default());
        loader.module(
            "q.rego",
            "package supplygate[\"my-images\"]\n\ndeny contains \"q\" if true\n",
        );
        let engine = loader.load().unwrap();
        assert_eq!(engine.packages(), ["data.supplygate[\"my-images\"]"]);
        let decision = engine.evaluate(&serde_json::json!({}));
        assert_eq!(decision.errors, Vec::<String>::new());
        assert_eq!(decision.denies[0].msg, "q");
    }

    #[test]
    fn test_rules_are_found_once_with_their_first_line() {
        let mut loader = Loader::new(Limits::default());
        loader.module(
            "t_test.rego",
            "package t\n\ntest_a if true\n\ntest_a if false\n\ntest_fn(x) := x\n",
        );
        let engine = loader.load().unwrap();
        let tests = engine.tests();
        assert_eq!(tests.len(), 1);
        assert_eq!(
            (tests[0].path.as_str(), tests[0].line),
            ("data.t.test_a", 3)
        );
    }

    #[test]
    fn a_file_over_the_limit_is_refused_with_its_real_size_before_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.rego");
        // Multi-byte characters straddle the read cap: still "too large", not "not UTF-8".
        std::fs::write(&path, "é".repeat(100)).unwrap();
        let mut loader = Loader::new(Limits {
            max_module_bytes: 51,
            ..Limits::default()
        });
        loader.path(&path, TestFiles::Exclude);
        let errors = loader.load().unwrap_err();
        assert!(
            matches!(
                &errors.0[..],
                [PolicyError::ModuleTooLarge {
                    bytes: 200,
                    limit: 51,
                    ..
                }]
            ),
            "{errors:?}"
        );
    }

    #[test]
    fn a_file_that_is_not_utf8_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.rego");
        std::fs::write(&path, [0x70, 0xff, 0xfe]).unwrap();
        let mut loader = Loader::new(Limits::default());
        loader.path(&path, TestFiles::Exclude);
        let errors = loader.load().unwrap_err();
        assert!(
            matches!(&errors.0[..], [PolicyError::Io { .. }]),
            "{errors:?}"
        );
    }

    #[test]
    fn empty_yaml_data_is_an_empty_object_and_two_documents_are_refused() {
        assert_eq!(yaml_document("e.yaml", "").unwrap(), serde_json::json!({}));
        let err = yaml_document("two.yaml", "a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err, "has 2 YAML documents; a data document must be one");
    }
}
