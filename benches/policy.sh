#!/usr/bin/env bash
# Benchmark (prints figures; fails only if the engines disagree): decision and load times of the
# shipped policy library under supplygate's engine (regorus) and under OPA 1.20.2, in one run.
# Installs the OPA bindings (PyPI `opa-golib-python-bindings==0.4.4`) into target/opa-venv
# when no python can import them, as tests/opa_parity.sh does, then runs
# `cargo bench --bench policy` (see benches/policy.rs for what is measured).
#
#   benches/policy.sh                          # RUNS=5 LOADS=10 ITERATIONS=100 THREADS=2
#   RUNS=3 ITERATIONS=50 benches/policy.sh
set -euo pipefail
cd "$(dirname "$0")/.."

opa_package="opa-golib-python-bindings==0.4.4"
venv=target/opa-venv

if [[ -z ${OPA_PYTHON:-} ]]; then
  if python3 -c 'import opa_bindings' 2>/dev/null; then
    OPA_PYTHON=$(command -v python3)
  else
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
      fi
    fi
    OPA_PYTHON=$PWD/$venv/bin/python
  fi
fi
export OPA_PYTHON

cargo bench --bench policy
