#!/usr/bin/env python3
"""Evaluates a policy library's `data.supplygate` deny/warn sets on a folder of input documents
with OPA (1.20.2, in-process through the `opa-golib-python-bindings` package) and prints JSON in
the shape `cargo run --example policy_eval` prints for supplygate's engine (regorus), so that a
CI script can diff the two engines:

    pip install --ignore-requires-python opa-golib-python-bindings==0.4.4
    python3 tests/opa_compare.py POLICY_DIR INPUT_DIR [--data DATA_JSON] > opa.json
    cargo run -q --example policy_eval -- POLICY_DIR INPUT_DIR [--data DATA_JSON] > regorus.json
    python3 tests/opa_compare.py --diff opa.json regorus.json [--opa-tests POLICY_DIR]

`--opa-tests POLICY_DIR` also runs the library's own Rego tests (`test_*` rules of `*_test.rego`
modules) with OPA, like `opa test`, and counts each as one more check in the closing
`N passed, M failed` line.

The library is loaded as supplygate loads it for the gate: every `*.rego` but `*_test.rego`,
and every `data.json`/`data.yaml`/`data.yml` mounted at its directory (`a/b/data.json` is
`data.a.b`), hidden entries skipped. `--data` is merged at the root.

How deny/warn are collected differs in one way: OPA evaluates the whole `data.supplygate`
document and walks it for `deny`/`warn` sets, so an error anywhere fails the whole input, while
supplygate evaluates each package on its own. `--diff` therefore compares deny/warn only where
neither engine reported an error, and otherwise only that both did.
"""

import json
import os
import sys


def load_library(engine, policy_dir, data_path):
    for root, dirs, files in os.walk(policy_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = os.path.relpath(root, policy_dir)
        mount = [] if rel == "." else rel.split(os.sep)
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            if name.endswith(".rego") and not name.endswith("_test.rego"):
                with open(path, encoding="utf-8") as f:
                    engine.add_policy(path, f.read())
            elif name in ("data.json", "data.yaml", "data.yml"):
                with open(path, encoding="utf-8") as f:
                    if name.endswith(".json"):
                        value = json.load(f)
                    else:
                        import yaml  # only needed for YAML data documents

                        value = yaml.safe_load(f)
                engine.add_data(value if value is not None else {}, ".".join(mount))
    if data_path:
        with open(data_path, encoding="utf-8") as f:
            engine.add_data(json.load(f))


def entry(value, package):
    """One deny/warn entry, normalised as supplygate's `Violation`; None if malformed."""
    if isinstance(value, str):
        return {
            "package": package,
            "code": None,
            "msg": value,
            "hint": None,
            "expected": None,
            "found": None,
        }
    if isinstance(value, dict) and set(value) <= {"msg", "code", "hint", "expected", "found"}:
        if all(isinstance(v, str) for v in value.values()) and "msg" in value:
            return {
                "package": package,
                "code": value.get("code"),
                "msg": value["msg"],
                "hint": value.get("hint"),
                "expected": value.get("expected"),
                "found": value.get("found"),
            }
    return None


def walk(document, package, out):
    """Collects the deny/warn sets of every package in an evaluated `data.supplygate`."""
    if not isinstance(document, dict):
        return
    for key, value in sorted(document.items()):
        if key in ("deny", "warn"):
            if not isinstance(value, list):
                out["errors"].append(f"`{package}.{key}` must be a set of messages")
                continue
            for item in value:
                normalised = entry(item, package)
                if normalised is None:
                    out["errors"].append(f"`{package}.{key}` has a malformed entry: {json.dumps(item)}")
                else:
                    out[key].append(normalised)
        elif isinstance(value, dict):
            walk(value, f"{package}.{key}", out)


def sort_key(e):
    return (
        e["package"],
        e["msg"],
        e["code"] or "",
        e["hint"] or "",
        e["expected"] or "",
        e["found"] or "",
    )


def evaluate(policy_dir, input_dir, data_path):
    from opa_bindings import OpaEngine, OpaError, OpaUndefinedError

    engine = OpaEngine()
    load_library(engine, policy_dir, data_path)
    results = {}
    for name in sorted(os.listdir(input_dir)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(input_dir, name), encoding="utf-8") as f:
            document = json.load(f)
        out = {"deny": [], "warn": [], "errors": []}
        try:
            walk(engine.eval_document("supplygate", document), "data.supplygate", out)
        except OpaUndefinedError:
            pass
        except OpaError as e:
            out["errors"].append(str(e))
        out["deny"].sort(key=sort_key)
        out["warn"].sort(key=sort_key)
        results[name] = out
    engine.close()
    return {"engine": "opa", "results": results}


def run_opa_tests(policy_dir):
    """Evaluates every `test_*` rule of the library (test modules included) with OPA;
    returns (test name, problem or None) pairs."""
    import re

    from opa_bindings import OpaEngine, OpaError, OpaUndefinedError

    engine = OpaEngine()
    tests = []
    for root, dirs, files in os.walk(policy_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.endswith(".rego") or name.startswith("."):
                continue
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as f:
                source = f.read()
            engine.add_policy(path, source)
            if name.endswith("_test.rego"):
                package = re.search(r"^package\s+([\w.]+)", source, re.M).group(1)
                for rule in sorted(set(re.findall(r"^(test_\w+)\s+if\b", source, re.M))):
                    tests.append(f"{package}.{rule}")
    results = []
    for test in tests:
        try:
            value = engine.eval_document(test)
            results.append((test, None if value is True else f"evaluated to {json.dumps(value)}"))
        except OpaUndefinedError:
            results.append((test, "undefined"))
        except OpaError as e:
            results.append((test, str(e)))
    engine.close()
    return results


def diff(left_path, right_path, tests_dir=None):
    with open(left_path, encoding="utf-8") as f:
        left = json.load(f)
    with open(right_path, encoding="utf-8") as f:
        right = json.load(f)
    problems = []
    names = sorted(set(left["results"]) | set(right["results"]))
    for name in names:
        a, b = left["results"].get(name), right["results"].get(name)
        if a is None or b is None:
            problems.append(f"{name}: evaluated by one engine only")
            continue
        if bool(a["errors"]) != bool(b["errors"]):
            problems.append(
                f"{name}: errors differ: {left['engine']}={a['errors']} {right['engine']}={b['errors']}"
            )
            continue
        if a["errors"]:
            continue
        for kind in ("deny", "warn"):
            if a[kind] != b[kind]:
                problems.append(
                    f"{name}: {kind} differs:\n  {left['engine']}: {json.dumps(a[kind])}\n"
                    f"  {right['engine']}: {json.dumps(b[kind])}"
                )
    total = len(names)
    if tests_dir:
        for test, problem in run_opa_tests(tests_dir):
            total += 1
            if problem is not None:
                problems.append(f"opa test data.{test}: {problem}")
    for p in problems:
        print(p)
    print(f"{total - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


def main(argv):
    if len(argv) == 3 and argv[0] == "--diff":
        return diff(argv[1], argv[2])
    if len(argv) == 5 and argv[0] == "--diff" and argv[3] == "--opa-tests":
        return diff(argv[1], argv[2], argv[4])
    data = None
    if "--data" in argv:
        i = argv.index("--data")
        data = argv[i + 1]
        argv = argv[:i] + argv[i + 2 :]
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(evaluate(argv[0], argv[1], data), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
