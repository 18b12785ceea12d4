//! Load-time checks over the modules' syntax trees: which packages decide, which rules are
//! tests, calls to unknown functions or with the wrong arity, and user rules that reach into a
//! shipped package.

use std::collections::{BTreeMap, BTreeSet};

use regorus::unstable::{Expr, Literal, Module, Query, Rule, RuleHead, BUILTINS};

use super::{Kind, RuleSet, TestRule, UNSUPPORTED_OPA_BUILTINS};
use crate::policy::{PolicyError, PACKAGE_PREFIX};

/// What one pass over the syntax trees finds.
pub(super) struct Survey {
    pub(super) rule_sets: Vec<RuleSet>,
    pub(super) tests: Vec<TestRule>,
    pub(super) problems: Vec<PolicyError>,
}

/// Finds the deciding rules and the tests, and checks every call: the function must exist
/// (a builtin, `print`, or a function defined in the library) and take that many arguments.
/// A user module's rule would reach into a shipped package (or a package the config data
/// lives in), where it could switch a guarantee off (`covered if { input.image.name }` in
/// `supplygate.images` turns `unmatched_images: deny` off; a `default` changes a default).
pub(super) fn reaches_into_shipped(
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

pub(super) fn survey(
    modules: &[regorus::unstable::Ref<Module>],
    embedded: &BTreeSet<String>,
) -> Survey {
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

pub(super) fn rule_heads(
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
pub(super) fn imports(module: &Module) -> BTreeMap<String, Vec<String>> {
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

pub(super) fn check_call(
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
pub(super) fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
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

/// Levenshtein distance over chars (clap's `strsim`, already in the tree).
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

/// Every `Call` expression of a rule (iteratively: no recursion on policy-controlled depth).
pub(super) fn calls_in_rule<'a>(rule: &'a Rule, calls: &mut Vec<&'a Expr>) {
    walk_rule(rule, &mut |expr| {
        if matches!(expr, Expr::Call { .. }) {
            calls.push(expr);
        }
    });
}

/// Calls `visit` on every expression of `rule` (head, bodies, `with` modifiers), in no
/// particular order.
pub(super) fn walk_rule<'a>(rule: &'a Rule, visit: &mut dyn FnMut(&'a Expr)) {
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
            Node::Expr(expr) => {
                visit(expr);
                match expr {
                    Expr::Call { fcn, params, .. } => {
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
                }
            }
        }
    }
}

/// The components of a reference made only of names and string keys (`a.b["c"]`), or `None`.
pub(super) fn static_path(expr: &Expr) -> Option<Vec<String>> {
    let mut components = Vec::new();
    let complete = static_components(expr, &mut components);
    complete.then_some(components)
}

/// The longest static prefix of a reference (`deny[msg]` -> `deny`).
pub(super) fn static_prefix(expr: &Expr) -> Vec<String> {
    let mut components = Vec::new();
    static_components(expr, &mut components);
    components
}

/// Pushes the static components of `expr` from its root; returns whether all were static.
pub(super) fn static_components(mut expr: &Expr, out: &mut Vec<String>) -> bool {
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
pub(super) fn render_path(package: &[String], rest: &[String]) -> String {
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

pub(super) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The top-level keys of `input` that `modules` can read: every use of `input` is
/// `input.key…` or `input["key"]…` (or `import input.key`). `None` when some use is not (a
/// bare `input`, `input[x]`, `import input`): then the whole document may be read.
pub(super) fn input_keys(modules: &[regorus::unstable::Ref<Module>]) -> Option<BTreeSet<String>> {
    let is_input = |e: &Expr| matches!(e, Expr::Var { span, .. } if span.text() == "input");
    let mut keys = BTreeSet::new();
    // Uses of `input` in all, and those under a static first key.
    let (mut uses, mut keyed) = (0_usize, 0_usize);
    for module in modules {
        for import in &module.imports {
            match static_path(&import.refr) {
                Some(path) if path.first().map(String::as_str) == Some("input") => {
                    keys.insert(path.get(1)?.clone());
                }
                Some(_) => {}
                // Not a static path: it may well be rooted at `input`.
                None => return None,
            }
        }
        for rule in &module.policy {
            walk_rule(rule, &mut |expr| match expr {
                e if is_input(e) => uses += 1,
                Expr::RefDot { refr, field, .. } if is_input(refr) => {
                    keyed += 1;
                    keys.insert(field.0.text().to_owned());
                }
                Expr::RefBrack { refr, index, .. } if is_input(refr) => {
                    if let Expr::String {
                        value: regorus::Value::String(s),
                        ..
                    }
                    | Expr::RawString {
                        value: regorus::Value::String(s),
                        ..
                    } = index.as_ref()
                    {
                        keyed += 1;
                        keys.insert(s.to_string());
                    }
                }
                _ => {}
            });
        }
    }
    (uses == keyed).then_some(keys)
}
