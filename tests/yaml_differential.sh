#!/bin/sh
# Re-runs the YAML differential corpus against kubectl: for every
# fixtures/yaml-differential/<case>.yaml, what Kubernetes' YAML reader makes of it
# (`kubectl label --local ... -o json`, no cluster needed) is compared with the committed
# <case>.kubectl.json, or <case>.kubectl-error when kubectl refuses the file. tests/it/yaml.rs
# compares supplygate's reader with those committed files, so CI needs no kubectl.
#
#   tests/yaml_differential.sh           compare; exit 1 on any difference
#   tests/yaml_differential.sh --update  rewrite the committed kubectl outputs
set -eu
dir="$(cd "$(dirname "$0")/../fixtures/yaml-differential" && pwd)"
command -v kubectl >/dev/null || { echo "kubectl not installed: nothing to compare" >&2; exit 2; }
update=${1:-}
status=0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for yaml in "$dir"/*.yaml; do
    case=$(basename "$yaml" .yaml)
    # The label is only there to make kubectl print the object; it is removed again.
    if KUBECONFIG=/dev/null kubectl label --local -f "$yaml" supplygate-differential=x -o json \
        >"$tmp/out" 2>"$tmp/err"; then
        python3 - "$tmp/out" >"$tmp/actual" <<'PY'
import json, sys
# One object per document kubectl read, concatenated: the last is compared (as tests/it/yaml.rs
# compares supplygate's last document).
text, decoder, docs, at = open(sys.argv[1]).read(), json.JSONDecoder(), [], 0
while text[at:].strip():
    at += len(text[at:]) - len(text[at:].lstrip())
    doc, at = decoder.raw_decode(text, at)
    docs.append(doc)
doc = docs[-1]
labels = doc.get("metadata", {}).get("labels", {})
labels.pop("supplygate-differential", None)
if not labels:
    doc.get("metadata", {}).pop("labels", None)
print(json.dumps(doc, indent=2, sort_keys=True))
PY
        expected="$dir/$case.kubectl.json"
        stale="$dir/$case.kubectl-error"
    else
        # The message without the file name (it differs between checkouts).
        sed -e "s|$yaml|<case>|g" "$tmp/err" | grep -v '^$' | tail -n 1 >"$tmp/actual"
        expected="$dir/$case.kubectl-error"
        stale="$dir/$case.kubectl.json"
    fi
    if [ "$update" = "--update" ]; then
        cp "$tmp/actual" "$expected"
        rm -f "$stale"
    elif [ -e "$stale" ] || ! diff -u "$expected" "$tmp/actual"; then
        echo "differs: $case" >&2
        status=1
    fi
done
exit $status
