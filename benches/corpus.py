#!/usr/bin/env python3
"""Compares supplygate's image sites over a directory of manifests with an independent
extractor written over PyYAML's parse (see benches/corpus.sh).

The independent extractor knows nothing of supplygate's tables: in every document it reports
every scalar under a key named `image`, and the `reference` of every image volume
(`volumes[].image.reference`), with the path and the line and column PyYAML gives. That is a
superset of where Kubernetes and the common operators read images; the sites supplygate
leaves out on purpose are counted apart, by reason (docs/manifests.md, "What is not read").

Usage: corpus.py DIR SUPPLYGATE_JSON
"""

import json
import os
import re
import sys

import yaml

# Kubernetes' own API groups: the API server prunes unknown fields, so only the workload
# kinds' pod templates hold images (src/manifest/mod.rs, `kubernetes_group`).
K8S_GROUPS = {"", "apps", "batch", "extensions", "autoscaling", "policy"}
K8S_IO = {
    "admissionregistration", "apiextensions", "apiregistration", "authentication",
    "authorization", "certificates", "coordination", "discovery", "events",
    "flowcontrol.apiserver", "internal.apiserver", "networking", "node", "rbac.authorization",
    "resource", "scheduling", "storage", "storagemigration",
}


def kubernetes_group(api_version):
    if not isinstance(api_version, str):
        return False
    if "/" not in api_version:
        return api_version == "v1"
    group = api_version.split("/", 1)[0]
    return group in K8S_GROUPS or (group.endswith(".k8s.io") and group[: -len(".k8s.io")] in K8S_IO)


def path_key(key):
    if key and not re.search(r"[.\[\]\"']", key):
        return key
    return '["' + key.replace("\\", "\\\\").replace('"', '\\"') + '"]'


def join(path, key):
    if not path:
        return key
    return path + key if key.startswith("[") else path + "." + key


def scalar(node):
    return isinstance(node, yaml.ScalarNode) and not (
        node.tag == "tag:yaml.org,2002:null"
    )


def sites_of(root):
    """(path, line, column, value, why-left-out-or-None) for every image-like site."""
    out = []
    api_version = kind = None
    if isinstance(root, yaml.MappingNode):
        for k, v in root.value:
            if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode):
                if k.value == "apiVersion":
                    api_version = v.value
                elif k.value == "kind":
                    kind = v.value
    is_object = bool(api_version) and bool(kind)
    own = kubernetes_group(api_version)

    def walk(node, path, in_metadata):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if not isinstance(k, yaml.ScalarNode):
                    continue
                key = k.value
                child = join(path, path_key(key))
                meta = in_metadata or (path == "" and key == "metadata")
                if key == "image" and scalar(v):
                    out.append((child, v.start_mark.line + 1, v.start_mark.column + 1, v.value,
                                reason(child, meta)))
                elif key == "image" and isinstance(v, yaml.MappingNode):
                    for rk, rv in v.value:
                        if isinstance(rk, yaml.ScalarNode) and rk.value == "reference" and scalar(rv):
                            p = join(child, "reference")
                            out.append((p, rv.start_mark.line + 1, rv.start_mark.column + 1,
                                        rv.value, reason(p, meta)))
                    walk(v, child, meta)
                else:
                    walk(v, child, meta)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, f"{path}[{i}]", in_metadata)

    def reason(path, in_metadata):
        container = re.search(r"(^|\.)(containers|initContainers|ephemeralContainers)\[\d+\]\.image$", path)
        volume = re.search(r"(^|\.)volumes\[\d+\]\.image(\.reference)?$", path)
        if not is_object:
            return None if (container or volume) else "not a Kubernetes object (no apiVersion/kind)"
        if in_metadata:
            return "under metadata"
        if own and not (container or volume):
            return "a field of a Kubernetes kind that is not a container"
        return None

    walk(root, "", False)
    return out


def main():
    root, report_path = sys.argv[1], sys.argv[2]
    with open(report_path) as f:
        report = json.load(f)
    refused = {}
    for e in report["errors"]:
        refused[os.path.normpath(e["file"])] = e
    # (file, path) -> locations: a path repeats in the documents of one file.
    reported = {}
    for i in report["images"]:
        key = (os.path.normpath(i["file"]), i["path"])
        reported.setdefault(key, []).append((i["line"], i["column"]))
    matched = set()

    files = documents = 0
    pyyaml_accepts_refused = 0
    refused_codes = {}
    found = found_checked = in_refused = missed = mislocated = 0
    left_out = {}
    missed_examples = []
    mislocated_examples = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not name.lower().endswith((".yaml", ".yml", ".json")):
                continue
            path = os.path.normpath(os.path.join(dirpath, name))
            files += 1
            if not os.path.isfile(path):
                # A dangling link, a FIFO: supplygate reports it, there is nothing to parse.
                if path in refused:
                    code = refused[path]["code"] + " (not a regular file)"
                    refused_codes[code] = refused_codes.get(code, 0) + 1
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
                parsed = True
            except Exception:
                nodes = []
                parsed = False
            documents += sum(1 for n in nodes if n is not None and n.tag != "tag:yaml.org,2002:null")
            if path in refused:
                code = refused[path]["code"]
                refused_codes[code] = refused_codes.get(code, 0) + 1
                if parsed:
                    pyyaml_accepts_refused += 1
            for node in nodes:
                if node is None:
                    continue
                # Items of a List are objects of their own.
                items = [(node, "")]
                if isinstance(node, yaml.MappingNode):
                    kinds = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
                    kind_node = kinds.get("kind")
                    if isinstance(kind_node, yaml.ScalarNode) and kind_node.value.endswith("List") \
                            and isinstance(kinds.get("items"), yaml.SequenceNode):
                        items = [(it, f"items[{i}].") for i, it in enumerate(kinds["items"].value)]
                for obj, prefix in items:
                    for p, line, col, value, why in sites_of(obj):
                        p = prefix + p if prefix else p
                        found += 1
                        if path in refused:
                            in_refused += 1
                            continue
                        if why is not None:
                            left_out[why] = left_out.get(why, 0) + 1
                            continue
                        found_checked += 1
                        at = reported.get((path, p), [])
                        if (line, col) in at:
                            matched.add((path, p, line, col))
                        elif not at:
                            missed += 1
                            if len(missed_examples) < 15:
                                missed_examples.append(f"{path}:{line}:{col} {p} = {value!r}")
                        else:
                            mislocated += 1
                            if len(mislocated_examples) < 15:
                                mislocated_examples.append(f"{path} {p}: PyYAML {line}:{col}, supplygate {at}")
    sg_sites = len(report["images"])
    extra = [
        f"{os.path.normpath(i['file'])}:{i['line']}:{i['column']} {i['path']} ({i.get('extractor', '?')})"
        for i in report["images"]
        if (os.path.normpath(i["file"]), i["path"], i["line"], i["column"]) not in matched
    ]
    print(f"files                          {files}")
    print(f"documents (PyYAML)             {documents}")
    print(f"documents (supplygate)         {report['summary'].get('documents', '?')}")
    print(f"files refused by supplygate    {len(refused)}  {refused_codes}")
    print(f"  of which PyYAML accepts      {pyyaml_accepts_refused}")
    print(f"image sites (independent)      {found}")
    print(f"  in refused files             {in_refused}")
    for why, n in sorted(left_out.items()):
        print(f"  left out on purpose          {n}  ({why})")
    print(f"  to be reported               {found_checked}")
    print(f"image sites (supplygate)       {sg_sites}")
    print(f"  not found independently      {len(extra)}")
    print(f"missed                         {missed}")
    print(f"mislocated                     {mislocated}")
    for m in missed_examples:
        print(f"  missed: {m}")
    for m in mislocated_examples:
        print(f"  mislocated: {m}")
    for m in extra[:10]:
        print(f"  supplygate only: {m}")


if __name__ == "__main__":
    main()
