#!/usr/bin/env python3
"""OPA side of `cargo bench --bench policy`: times the shipped policy library under OPA 1.20.2
(in-process, PyPI package `opa-golib-python-bindings==0.4.4`) on the inputs the Rust bench
wrote, and prints the figures and every decision as JSON on stdout.

    python3 benches/policy_opa.py JOB_JSON > opa.json

The job (written by benches/policy.rs) names the repository root, the modules (the files of
`policy::shipped::MODULES`), the data document, the rules to evaluate
(`data.supplygate.images.deny`, ...: the deciding rules supplygate's engine evaluates), the
per-image fixtures, the 1,000-image batch and the repetition counts.

Queries: one `eval_query` per input that binds every deciding rule
(`r0 := data.supplygate.images.deny; r1 := ...`), so the input crosses the binding once, as
supplygate's engine sets it once and then evaluates each rule. The parity script's way
(`eval_document("supplygate", input)`, the whole document) is timed per image too, for
reference, and so is a query that reads nothing (`x := 1`) with the same input: the floor
the bindings put under every decision. Every time includes the bindings' cost: JSON encoding of the input in Python, the
cgo call, JSON decoding of the result.

Load: a new `OpaEngine`, `add_policy` for each module, `json.loads` + `add_data` of the data
document; OPA compiles lazily, so "load + first decision" adds the first evaluation (which
compiles and prepares the query). Loading the shared library and starting the Go runtime
happens once per process, before any timing, and is reported apart (`process_init_ms`).
"""

import json
import os
import statistics
import sys
import threading
import time

_started = time.perf_counter_ns()
from opa_bindings import OpaEngine, OpaError  # noqa: E402  (timed import)

# One engine created and closed here so the Go runtime start is out of the load figures.
OpaEngine().close()
PROCESS_INIT_MS = (time.perf_counter_ns() - _started) / 1e6


def load(job):
    """A ready engine: the modules and the data added, nothing evaluated yet."""
    root = job["root"]
    engine = OpaEngine()
    for name in job["modules"]:
        with open(os.path.join(root, name), encoding="utf-8") as f:
            engine.add_policy(name, f.read())
    with open(os.path.join(root, job["data"]), encoding="utf-8") as f:
        engine.add_data(json.loads(f.read()))
    return engine


def rules_query(rules):
    return "; ".join(f"r{i} := {rule}" for i, rule in enumerate(rules))


def decide(engine, query, rules, document):
    """Codes of the deciding rules for one input: {"deny": [...], "warn": [...], "errors": [...]}."""
    out = {"deny": [], "warn": [], "errors": []}
    try:
        bindings = engine.eval_query(query, document)
    except OpaError as e:
        out["errors"].append(str(e))
        return out
    if len(bindings) != 1:
        out["errors"].append(f"the query had {len(bindings)} results, not 1")
        return out
    (binding,) = bindings
    for i, rule in enumerate(rules):
        kind = rule.rsplit(".", 1)[-1]
        value = binding.get(f"r{i}")
        if not isinstance(value, list):
            out["errors"].append(f"`{rule}` is not a set")
            continue
        for entry in value:
            code = entry.get("code") if isinstance(entry, dict) else None
            out[kind].append(code if isinstance(code, str) else "<none>")
    out["deny"].sort()
    out["warn"].sort()
    return out


def median_ms(samples_ns):
    return statistics.median(samples_ns) / 1e6


def per_image(engine, fixtures, iterations, evaluate):
    """Median, per fixture, of `iterations` individually timed decisions (after one warm-up),
    in microseconds."""
    medians = {}
    for fixture in fixtures:
        document = fixture["input"]
        evaluate(engine, document)
        samples = []
        for _ in range(iterations):
            t = time.perf_counter_ns()
            evaluate(engine, document)
            samples.append(time.perf_counter_ns() - t)
        medians[fixture["name"]] = statistics.median(samples) / 1e3
    return medians


def batch_run(engines, inputs, query, rules):
    """Decides every input, split into contiguous chunks over one thread per engine; returns
    (wall time in ns, decisions in input order)."""
    results = [None] * len(inputs)
    chunk = -(-len(inputs) // len(engines))

    def work(engine, start):
        for i in range(start, min(start + chunk, len(inputs))):
            results[i] = decide(engine, query, rules, inputs[i])

    t = time.perf_counter_ns()
    if len(engines) == 1:
        work(engines[0], 0)
    else:
        threads = [
            threading.Thread(target=work, args=(engine, n * chunk))
            for n, engine in enumerate(engines)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return time.perf_counter_ns() - t, results


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        job = json.load(f)
    rules = job["rules"]
    query = rules_query(rules)
    with open(job["batch"], encoding="utf-8") as f:
        inputs = json.load(f)
    fixtures = job["fixtures"]
    first = fixtures[0]["input"]

    load_ns, load_first_ns = [], []
    for _ in range(job["loads"]):
        t = time.perf_counter_ns()
        engine = load(job)
        loaded = time.perf_counter_ns()
        decide(engine, query, rules, first)
        done = time.perf_counter_ns()
        load_ns.append(loaded - t)
        load_first_ns.append(done - t)
        engine.close()

    engine = load(job)
    per_rules = per_image(
        engine,
        fixtures,
        job["iterations"],
        lambda e, d: decide(e, query, rules, d),
    )
    per_document = per_image(
        engine,
        fixtures,
        job["iterations"],
        lambda e, d: e.eval_document("supplygate", d),
    )

    # The bindings' floor: a query that reads nothing, with the same input.
    per_floor = per_image(
        engine,
        fixtures,
        job["iterations"],
        lambda e, d: e.eval_query("x := 1", d),
    )

    # Warm-up pass (untimed); its decisions are the ones checked against regorus.
    _, decisions = batch_run([engine], inputs, query, rules)
    batch_ns = [batch_run([engine], inputs, query, rules)[0] for _ in range(job["runs"])]

    batch2_ns = []
    if job["threads"] > 1:
        engines = [engine] + [load(job) for _ in range(job["threads"] - 1)]
        batch_run(engines, inputs, query, rules)
        batch2_ns = [batch_run(engines, inputs, query, rules)[0] for _ in range(job["runs"])]
        for extra in engines[1:]:
            extra.close()
    engine.close()

    print(
        json.dumps(
            {
                "process_init_ms": PROCESS_INIT_MS,
                "load_ms": median_ms(load_ns),
                "load_first_decision_ms": median_ms(load_first_ns),
                "per_image_us": per_rules,
                "per_image_document_us": per_document,
                "per_image_floor_us": per_floor,
                "batch_ms": median_ms(batch_ns),
                "batch_ms_runs": [n / 1e6 for n in batch_ns],
                "batch_threads_ms": median_ms(batch2_ns) if batch2_ns else None,
                "decisions": decisions,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
