#!/usr/bin/env bash
# Corpus check (prints figures, asserts nothing): reads a directory of third-party manifests
# with `supplygate check` (offline, so no registry is asked: every site is listed whatever
# its resolution) and with an independent extractor over PyYAML (benches/corpus.py), and
# prints files, documents, files refused (and how many of those PyYAML accepts), image sites
# each found, and the sites supplygate missed or placed elsewhere.
#
#   benches/corpus.sh /work/corpus
#   SUPPLYGATE_BIN=target/release/supplygate SKIP_BUILD=1 benches/corpus.sh DIR
#
# PyYAML is taken from the system when present, else installed in a venv under target/.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:?usage: benches/corpus.sh DIR}
BIN=${SUPPLYGATE_BIN:-target/debug/supplygate}
if [[ -z ${SKIP_BUILD:-} ]]; then
  nice cargo build --quiet --bin supplygate
fi

python=python3
if ! python3 -c 'import yaml' 2>/dev/null; then
  venv=target/corpus-venv
  if [[ ! -x $venv/bin/python ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet pyyaml
  fi
  python=$venv/bin/python
fi

work=$(mktemp -d -t supplygate-corpus-XXXXXX)
trap 'rm -rf "$work"' EXIT
printf 'network:\n  offline: true\n' > "$work/supplygate.yaml"
# Exit 2 is expected (nothing resolves offline); the JSON report lists every site.
"$BIN" check --config "$work/supplygate.yaml" --format json "$dir" > "$work/report.json" \
  2> "$work/stderr" || true
if ! "$python" -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/report.json" 2>/dev/null; then
  echo "supplygate printed no JSON report:" >&2
  cat "$work/stderr" >&2
  exit 2
fi
"$python" benches/corpus.py "$dir" "$work/report.json"
