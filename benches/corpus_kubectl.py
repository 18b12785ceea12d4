#!/usr/bin/env python3
"""Whole-corpus YAML differential against kubectl (prints figures, asserts nothing).

For every .yaml/.yml file under DIR, what supplygate's reader makes of it (the `yaml_json`
example) is compared with what Kubernetes' reader makes of it
(`KUBECONFIG=/dev/null kubectl label --local -f FILE ... -o json`, no cluster needed).

    cargo build --example yaml_json
    python3 benches/corpus_kubectl.py /work/corpus [target/debug/examples/yaml_json]

Outcomes per file: read alike; read differently (a meaning difference: a bug); refused by
both; refused by supplygate only (must be a documented rule, docs/yaml.md); refused by kubectl
only (kubectl also refuses YAML that is no Kubernetes object, such as Helm values).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

LABEL = "supplygate-differential"


def objects(text):
    """kubectl prints one JSON object per document, back to back."""
    decoder, pos, out = json.JSONDecoder(), 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        obj, pos = decoder.raw_decode(text, pos)
        out.append(obj)


def flat(docs):
    out = []
    for d in docs:
        if isinstance(d, dict) and str(d.get("kind", "")).endswith("List") \
                and isinstance(d.get("items"), list):
            out += flat(d["items"])
        elif isinstance(d, dict) and d:
            out.append(d)
    return out


def norm(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, list):
        return [norm(x) for x in v]
    return {k: norm(x) for k, x in v.items()}


def key(d):
    return json.dumps(norm(d), sort_keys=True)


def main():
    root = Path(sys.argv[1])
    reader = sys.argv[2] if len(sys.argv) > 2 else "target/debug/examples/yaml_json"
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml"))
    counts = dict(files=len(files), alike=0, differ=0, refused_by_both=0,
                  refused_by_supplygate_only=0, refused_by_kubectl_only=0)
    notes = []
    env = dict(os.environ, KUBECONFIG="/dev/null")
    for f in files:
        ours = json.loads(subprocess.run([reader, str(f)], capture_output=True, text=True).stdout)
        k = subprocess.run(["kubectl", "label", "--local", "-f", str(f), f"{LABEL}=x", "-o", "json"],
                           capture_output=True, text=True, env=env)
        if k.returncode != 0:
            if "refused" in ours:
                counts["refused_by_both"] += 1
            else:
                counts["refused_by_kubectl_only"] += 1
                notes.append(("refused by kubectl only", f, k.stderr.strip()[:160]))
            continue
        if "refused" in ours:
            counts["refused_by_supplygate_only"] += 1
            notes.append(("refused by supplygate only", f, ours.get("message", "")[:200]))
            continue
        theirs = flat(objects(k.stdout))
        for obj in theirs:
            meta = obj.get("metadata", {})
            meta.get("labels", {}).pop(LABEL, None)
            if not meta.get("labels", True):
                meta.pop("labels")
            if not meta:
                obj.pop("metadata", None)
        if sorted(map(key, flat(ours["documents"]))) == sorted(map(key, theirs)):
            counts["alike"] += 1
        else:
            counts["differ"] += 1
            notes.append(("read differently", f, ""))
    for name, value in counts.items():
        print(f"{name:30} {value}")
    for what, f, why in notes:
        print(f"{what}: {f} {why}")


if __name__ == "__main__":
    main()
