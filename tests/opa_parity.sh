#!/usr/bin/env bash
# OPA parity of the shipped policy library: evaluates `policies/` (without its tests) on every
# input in fixtures/policy/library-inputs/ (and a copy of each without the gate's verdicts) with
# the config data, once with OPA 1.20 (in-process, pip package `opa-golib-python-bindings`) and
# once with supplygate's engine (regorus, through `cargo run --example policy_eval`), diffs the
# deny/warn entries, and runs the library's Rego tests with OPA too. Closes with
# `N passed, M failed`; exits non-zero on any difference.
#
# Needs python3 and cargo. Installs the OPA bindings into target/opa-venv when python3 cannot
# import them (PyPI must then be reachable).
set -euo pipefail
cd "$(dirname "$0")/.."

policies=policies
inputs=fixtures/policy/library-inputs
data=$inputs/data/supplygate.json
opa_package="opa-golib-python-bindings==0.4.4"

python=python3
if ! "$python" -c 'import opa_bindings' 2>/dev/null; then
  venv=target/opa-venv
  if [[ -d $venv/site ]]; then
    export PYTHONPATH="$PWD/$venv/site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  if ! "$venv/bin/python" -c 'import opa_bindings' 2>/dev/null; then
    echo "installing $opa_package into $venv" >&2
    mkdir -p target
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      # Debian without python3-venv: a venv without pip, then pip from the user site.
      rm -rf "$venv"
      python3 -m venv --without-pip "$venv"
    fi
    if [[ -x $venv/bin/pip ]]; then
      "$venv/bin/pip" install -q --disable-pip-version-check --ignore-requires-python "$opa_package"
    else
      python3 -m pip install -q --disable-pip-version-check --ignore-requires-python \
        --target "$venv/site" "$opa_package"
      export PYTHONPATH="$PWD/$venv/site${PYTHONPATH:+:$PYTHONPATH}"
    fi
  fi
  python=$venv/bin/python
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Every fixture twice: as written, and as `judged-<name>` without the gate's verdicts
# (`image.matched.require_satisfied`/`provenance_satisfied`), which the signature and
# provenance packages then judge from the facts themselves: both paths of each are compared.
mkdir "$work/inputs"
cp "$inputs"/*.json "$work/inputs/"
"$python" - "$inputs" "$work/inputs" <<'PY'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(src)):
    if not name.endswith(".json"):
        continue
    with open(os.path.join(src, name)) as f:
        doc = json.load(f)
    matched = doc.get("image", {}).get("matched")
    if isinstance(matched, dict):
        matched.pop("require_satisfied", None)
        matched.pop("provenance_satisfied", None)
    with open(os.path.join(dst, "judged-" + name), "w") as f:
        json.dump(doc, f)
PY

cargo build -q --example policy_eval
cargo run -q --example policy_eval -- "$policies" "$work/inputs" --data "$data" \
  >"$work/regorus.json"
"$python" tests/opa_compare.py "$policies" "$work/inputs" --data "$data" >"$work/opa.json"
"$python" tests/opa_compare.py --diff "$work/opa.json" "$work/regorus.json" --opa-tests "$policies"
