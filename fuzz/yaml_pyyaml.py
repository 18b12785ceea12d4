#!/usr/bin/env python3
"""Out-of-CI differential fuzzer: supplygate's YAML reader against an independent YAML 1.1
reading of the same bytes.

The independent reading is PyYAML (libyaml's grammar, YAML 1.1) with go-yaml v2's implicit
types (y/n/on/off booleans, Go `ParseInt` base-0 integers with `_`, no sexagesimal, timestamps
as text) and sigs.k8s.io/yaml's key conversion, so that it reads what kubectl reads. Inputs are
the differential corpus and the manifest fuzz seeds, mutated with YAML's sharp edges (tags,
anchors, merge keys, Unicode line breaks, YAML 1.1 scalars, flow brackets, indentation).

For each input:
- supplygate refuses it: fine (counted);
- both read it and agree: fine;
- supplygate reads it and the reference refuses it, or both read it and disagree: a finding,
  written to OUT_DIR. With kubectl installed, findings are re-checked against kubectl: those
  where supplygate agrees with kubectl count as reference deviations (PyYAML refuses tabs
  go-yaml takes), those kubectl refuses as `read_but_kubectl_refuses` (kept in OUT_DIR; no
  cluster can apply them, so no false allow, but not kubectl's outcome either).

    cargo build --example yaml_json
    fuzz/yaml_pyyaml.py [--iterations N] [--seed S] [--out OUT_DIR]
"""
import argparse
import glob
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READER = os.path.join(ROOT, "target", "debug", "examples", "yaml_json")


class GoYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with go-yaml v2's implicit scalar types."""


GoYamlLoader.yaml_implicit_resolvers = {}
GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE"
               r"|on|On|ON|off|Off|OFF)$"),
    list("yYnNtTfFoO"))
GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+."))
GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+0-9.][-+0-9a-zA-Z_.]*$"), list("-+0123456789."))
GoYamlLoader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])

YAML_STYLE_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")


def go_number(text):
    """go-yaml's `resolve` for text starting with a digit, a sign or a dot: int, float or str."""
    if text.startswith("."):
        plain = text
    else:
        plain = text.replace("_", "")
        if GO_INT.match(plain):
            sign = -1 if plain.startswith("-") else 1
            body = plain.lstrip("+-")
            if body[:2] in ("0x", "0X"):
                n = int(body[2:], 16)
            elif body[:2] in ("0o", "0O"):
                n = int(body[2:], 8)
            elif body[:2] in ("0b", "0B"):
                n = int(body[2:], 2)
            elif len(body) > 1 and body.startswith("0"):
                n = int(body[1:], 8)
            else:
                n = int(body)
            n *= sign
            fits = -(2**63) <= n < 2**63 or (n < 2**64 and n >= 0 and not plain.startswith("+"))
            if fits:
                return n
    if YAML_STYLE_FLOAT.match(plain):
        f = float(plain)
        if math.isfinite(f):
            return f
    return text


def construct_int(loader, node):
    return go_number(loader.construct_scalar(node))


def construct_float(loader, node):
    value = loader.construct_scalar(node)
    if value.lower().lstrip("+-") in (".inf", ".nan"):
        raise ValueError("infinite or NaN float: kubectl cannot read it")
    return go_number(value)


def construct_bool(loader, node):
    return loader.construct_scalar(node).lower() in ("y", "yes", "true", "on")


GoYamlLoader.add_constructor("tag:yaml.org,2002:bool", construct_bool)
GoYamlLoader.add_constructor("tag:yaml.org,2002:int", construct_int)
GoYamlLoader.add_constructor("tag:yaml.org,2002:float", construct_float)


def to_json(value):
    """sigs.k8s.io/yaml's conversion: keys to strings; refuse what it refuses."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, bool):
                key = "true" if k else "false"
            elif isinstance(k, int):
                key = str(k)
            elif isinstance(k, str):
                key = k
            else:
                raise ValueError(f"key {k!r}")
            out[key] = to_json(v)
        return out
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        raise ValueError("binary")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def reference(text):
    """The documents as JSON, or None when the reference refuses the text."""
    try:
        return [to_json(d) for d in yaml.load_all(text, Loader=GoYamlLoader)]
    except Exception:  # noqa: BLE001 - any refusal is a refusal
        return None


def normalise(value):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return {k: normalise(v) for k, v in value.items()}


EDGES = [
    "yes", "no", "y", "n", "on", "off", "Yes", "OFF", "0755", "0o17", "0x1F", "1_000", "1:30",
    "2001-12-14", "~", "null", "", ".inf", ".5", "1e3", "+12", "09", "0b101",
    "!!str ", "!!int ", "!!binary ", "!foo ", "! ", "!!merge ", "!!map ", "!!seq ",
    "&a ", "*a", "<<: *a", "<<: [*a]", "\"<<\": ", "? ", "- ", "[", "]", "{", "}", ", ",
    "'", "\"", "\\/", "\\N", "\\L", "# c", " #\u2028", "\u2028", "\u2029", "\u0085", "\t",
    "\n", "\n  ", "\n    ", "\n]", "---\n", "...\n", ": ", "image: x", "image",
]


def mutate(text, rng):
    for _ in range(rng.randint(1, 4)):
        i = rng.randint(0, len(text))
        edge = rng.choice(EDGES)
        if rng.random() < 0.3:
            # Replace a token instead of inserting.
            j = min(len(text), i + rng.randint(1, 8))
            text = text[:i] + edge + text[j:]
        else:
            text = text[:i] + edge + text[i:]
    return text


def kubectl(path):
    out = subprocess.run(
        ["kubectl", "label", "--local", "-f", path, "supplygate-fuzz=x", "-o", "json"],
        env={**os.environ, "KUBECONFIG": "/dev/null"}, capture_output=True, text=True)
    if out.returncode != 0:
        return None
    decoder, text, items = json.JSONDecoder(), out.stdout.strip(), []
    while text:
        doc, end = decoder.raw_decode(text)
        text = text[end:].strip()
        items += doc["items"] if doc.get("kind") == "List" and "items" in doc else [doc]
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("metadata", {}), dict):
            continue
        labels = item.get("metadata", {}).get("labels", {})
        labels.pop("supplygate-fuzz", None)
        if not labels:
            item.get("metadata", {}).pop("labels", None)
        if item.get("metadata") == {}:
            item.pop("metadata")
    return items


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "yaml-fuzz-findings"))
    args = parser.parse_args()
    if not os.path.exists(READER):
        sys.exit("build the reader first: cargo build --example yaml_json")
    seeds = sorted(glob.glob(os.path.join(ROOT, "fixtures/yaml-differential/*.yaml")))
    seeds += sorted(glob.glob(os.path.join(ROOT, "fuzz/seeds/manifest/*")))
    texts = [open(p, encoding="utf-8", errors="replace").read() for p in seeds]
    rng = random.Random(args.seed)
    has_kubectl = shutil.which("kubectl") is not None
    os.makedirs(args.out, exist_ok=True)
    counts = {"inputs": 0, "refused_by_us": 0, "agree": 0, "findings": 0,
              "reference_deviations": 0, "read_but_kubectl_refuses": 0}
    with tempfile.TemporaryDirectory() as work:
        batch = []
        for n in range(args.iterations):
            path = os.path.join(work, f"{n}.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(mutate(rng.choice(texts), rng))
            batch.append(path)
        ours = {}
        for start in range(0, len(batch), 500):
            out = subprocess.run([READER, *batch[start:start + 500]], capture_output=True,
                                 text=True, check=True)
            for line in filter(None, out.stdout.split("\n")):
                entry = json.loads(line)
                ours[entry["file"]] = entry
        for path in batch:
            counts["inputs"] += 1
            entry = ours[path]
            if "refused" in entry:
                counts["refused_by_us"] += 1
                continue
            text = open(path, encoding="utf-8").read()
            theirs = reference(text)
            mine = [d for d in entry["documents"] if d is not None]
            if theirs is not None:
                theirs = [d for d in theirs if d is not None]
                if normalise(theirs) == normalise(mine):
                    counts["agree"] += 1
                    continue
            if has_kubectl:
                k8s = kubectl(path)
                k8s_docs = []
                for d in mine:
                    if isinstance(d, dict) and d.get("kind") == "List":
                        k8s_docs += d.get("items") or []
                    elif isinstance(d, dict) and "kind" in d:
                        k8s_docs.append(d)
                if k8s is not None and normalise(k8s) == normalise(k8s_docs):
                    counts["reference_deviations"] += 1
                    continue
                if k8s is None:
                    # Not a false allow (kubectl cannot apply it), but not kubectl's outcome.
                    counts["read_but_kubectl_refuses"] += 1
                    name = f"kubectl-refuses-{counts['read_but_kubectl_refuses']}.yaml"
                    shutil.copy(path, os.path.join(args.out, name))
                    continue
            counts["findings"] += 1
            name = os.path.join(args.out, f"finding-{counts['findings']}.yaml")
            shutil.copy(path, name)
            with open(name + ".txt", "w", encoding="utf-8") as f:
                json.dump({"supplygate": mine, "reference": theirs}, f, indent=1)
    print(json.dumps(counts))
    return 1 if counts["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
