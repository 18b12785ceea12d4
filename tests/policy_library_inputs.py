#!/usr/bin/env python3
"""Writes fixtures/policy/library-inputs/: one policy input per case of the shipped library
(`policies/`), named after what it shows, and `data/supplygate.json` (the config as
`data.supplygate.config`). tests/it/policy_library.rs asserts each case's codes; tests/opa_parity.sh
evaluates them all with OPA and regorus. Rerun after changing a case, then add the facts the
gate decides in Rust (`image.matched` with its verdicts, `source_claim`, `provenance_checks`):

    python3 tests/policy_library_inputs.py
    UPDATE_FIXTURES=1 cargo test --test it policy_library::each_fixture_carries
"""

import copy
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "policy", "library-inputs")

D = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"

CONFIG = {
    "supplygate": {
        "config": {
            "require": [
                {"images": ["ghcr.io/acme/**"], "signers": ["ci"], "line": 12},
                {"images": ["127.0.0.1:*/team/*"], "signers": ["ci", "release"], "line": 16},
            ],
            "provenance": [
                {
                    "images": ["ghcr.io/acme/app"],
                    "signers": ["ci"],
                    "builders": [
                        {"match": "prefix", "id": "https://github.com/acme"},
                        {"match": "exact", "id": "https://builder.example/v1"},
                    ],
                    "source": "https://github.com/acme/app",
                    "refs": ["refs/heads/main", "refs/tags/v*"],
                    "line": 20,
                }
            ],
            "source": {"commit_key": "supplygate.dev/source-commit"},
            "registries": {"allow": ["ghcr.io/acme/**", "docker.io/library/*", "127.0.0.1:*/team/**"]},
            "images": {"allow_latest": False},
        }
    }
}


def image(written, name, tag, digest=None, resolved=True):
    registry, _, repository = name.partition("/")
    normalized = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    return {
        "written": written,
        "valid": True,
        "invalid_reason": None,
        "normalized": normalized,
        "registry": registry,
        "repository": repository,
        "name": name,
        "tag": tag,
        "digest": digest,
        "pinned": digest is not None,
        "resolved": resolved,
        "resolved_digest": D if resolved else None,
        "media_type": "application/vnd.oci.image.index.v1+json" if resolved else None,
        "platforms": [{"os": "linux", "architecture": "amd64", "digest": D2}] if resolved else [],
        "tag_digest": None,
        "error": None,
    }


def base(img):
    return {
        "mode": "check",
        "now": "2026-11-24T08:00:00Z",
        "resource": {
            "api_version": "apps/v1",
            "kind": "Deployment",
            "namespace": "shop",
            "name": "web",
            "labels": {},
            "annotations": {},
            "file": "deploy/web.yaml",
            "line": 1,
        },
        "container": {"name": "web", "kind": "container", "path": "spec.template.spec.containers[0]", "line": 18, "column": 16},
        "image": img,
        "signatures": None,
        "attestations": None,
        "reachability": [],
    }


def sig_fact(verified_by=(), rejections=(), via="cosign-tag"):
    loc = {"via": "cosign-tag", "tag": "sha256-" + "a" * 64 + ".sig", "manifest": D2, "layer": 0}
    if via == "referrers":
        loc = {"via": "referrers", "manifest": D2, "artifact_type": "application/vnd.dev.sigstore.bundle.v0.3+json"}
    return {
        "location": loc,
        "attached_to": D,
        "kind": "cosign-key",
        "verified_by": list(verified_by),
        "rejections": [{"signer": s, "reason": r} for s, r in rejections],
    }


def signatures(facts, platform_facts=()):
    return {
        "digest": D,
        "facts": facts,
        "platforms": [{"platform": "linux/amd64", "digest": D2, "facts": list(platform_facts)}],
    }


def provenance(**over):
    p = {
        "slsa_version": "v1",
        "builder_id": "https://github.com/acme/builder/.github/workflows/build.yml@refs/tags/v2",
        "build_type": "https://actions.github.io/buildtypes/workflow/v1",
        "source_uri": "git+https://github.com/acme/app@refs/heads/main",
        "source_repository": "https://github.com/acme/app",
        "source_ref": "refs/heads/main",
        "source_commit": COMMIT,
        "entry_point": ".github/workflows/release.yml",
        "build_started_on": None,
        "build_finished_on": None,
    }
    p.update(over)
    return p


def att_fact(prov, verified_by=("ci",), rejections=(), agreement=None):
    f = {
        "location": {"via": "cosign-tag", "tag": "sha256-" + "a" * 64 + ".att", "manifest": D2, "layer": 0},
        "attached_to": D,
        "signature_kind": "cosign-key",
        "statement_type": "https://in-toto.io/Statement/v1",
        "predicate_type": "https://slsa.dev/provenance/v1",
        "kind": "slsa-provenance-v1",
        "verified_by": list(verified_by),
        "rejections": [{"signer": s, "reason": r} for s, r in rejections],
        "subject_match": {"digest": D},
        "subject_names": ["ghcr.io/acme/app"],
        "subject_name_matches_repository": True,
        "provenance": prov,
    }
    if agreement is not None:
        f["certificate_agreement"] = agreement
    return f


def app(tag="v1.2.0", facts=None, att=None, **kw):
    """ghcr.io/acme/app: one signature rule and one provenance rule apply."""
    doc = base(image(f"ghcr.io/acme/app:{tag}", "ghcr.io/acme/app", tag, **kw))
    doc["signatures"] = signatures([sig_fact(["ci"])] if facts is None else facts)
    doc["attestations"] = {"digest": D, "facts": [att_fact(provenance())] if att is None else att}
    return doc


def reach(result, **extra):
    r = {
        "repository": "https://github.com/acme/app",
        "commit": COMMIT,
        "refs": ["refs/heads/main", "refs/tags/v*"],
        "clone": "/src/app",
        "result": result,
    }
    r.update(extra)
    return r


CASES = {}


def case(name, doc, codes, warns=()):
    CASES[name] = (doc, sorted(codes), sorted(warns))


# --- supplygate.images
case("allowed-versioned-image", base(image("nginx:1.25", "docker.io/library/nginx", "1.25")), [])
case("allowed-digest-only", base(image("nginx@" + D, "docker.io/library/nginx", None, D)), [])
bad = base(image("Nginx:1.25", "x", None, resolved=False))
bad["image"].update({"valid": False, "invalid_reason": "repository names must be lowercase", "normalized": None,
                     "registry": None, "repository": None, "name": None, "tag": None})
case("invalid-reference", bad, ["invalid-reference"])
missing = base(image("nginx:9.9", "docker.io/library/nginx", "9.9", resolved=False))
missing["image"]["error"] = {"code": "image-not-found", "message": "`docker.io/library/nginx:9.9` does not exist"}
case("image-not-found", missing, ["image-not-found"])
timeout = base(image("nginx:9.9", "docker.io/library/nginx", "9.9", resolved=False))
timeout["image"]["error"] = {"code": "registry-timeout", "message": "timed out"}
case("registry-timeout-is-not-a-policy-denial", timeout, [])
case("latest-tag", base(image("nginx:latest", "docker.io/library/nginx", "latest")), ["latest-tag"])
case("implicit-latest", base(image("nginx", "docker.io/library/nginx", None)), ["latest-tag"])
case("latest-tag-pinned", base(image("nginx:latest@" + D, "docker.io/library/nginx", "latest", D)), ["latest-tag"])
case("registry-not-allowed", base(image("quay.io/evil/app:1", "quay.io/evil/app", "1")), ["registry-not-allowed-by-policy"])
case("registry-single-star-stays-in-segment",
     base(image("docker.io/library/team/app:1", "docker.io/library/team/app", "1")), ["registry-not-allowed-by-policy"])
case("registry-port-glob", base(image("127.0.0.1:5000/team/x/y:1", "127.0.0.1:5000/team/x/y", "1")), [])
moved = base(image("nginx:1.25@" + D, "docker.io/library/nginx", "1.25", D))
moved["image"]["tag_digest"] = D2
case("tag-moved", moved, [], ["tag-moved"])

# --- supplygate.signatures
case("signed-and-provenance-ok", app(), [])
case("unsigned-image", app(facts=[]), ["unsigned-image"])
case("signature-not-trusted", app(facts=[
    sig_fact([], [("ci", "signed by another key"), ("*", "no transparency log proof")]),
    sig_fact(["other"], via="referrers"),
]), ["signature-not-trusted"])
platform_only = app(facts=[])
platform_only["signatures"]["platforms"][0]["facts"] = [sig_fact(["ci"])]
case("platform-signature-does-not-count", platform_only, ["unsigned-image"])
nosig = app()
nosig["signatures"] = None
case("signature-check-failed", nosig, ["signature-check-failed"])
team = base(image("127.0.0.1:5000/team/app:1", "127.0.0.1:5000/team/app", "1"))
team["signatures"] = signatures([sig_fact(["release"])])
case("second-signer-of-a-rule-satisfies", team, [])
deep = base(image("127.0.0.1:5000/team/a/b:1", "127.0.0.1:5000/team/a/b", "1"))
case("single-star-rule-does-not-apply-deeper", deep, [])

# --- supplygate.provenance
case("provenance-missing", app(att=[att_fact(provenance(), verified_by=[], rejections=[("ci", "no valid signature")])]),
     ["provenance-missing"])
case("provenance-missing-no-attestation", app(att=[]), ["provenance-missing"])
case("untrusted-builder-prefix-boundary",
     app(att=[att_fact(provenance(builder_id="https://github.com/acme-evil/builder@v1"))]), ["untrusted-builder"])
case("trusted-exact-builder", app(att=[att_fact(provenance(builder_id="https://builder.example/v1"))]), [])
case("source-repository-mismatch",
     app(att=[att_fact(provenance(source_repository="https://github.com/evil/app"))]), ["source-repository-mismatch"])
case("source-repository-normalised",
     app(att=[att_fact(provenance(source_repository="git+https://GitHub.com/acme/app.git/"))]), [])
case("source-ref-not-allowed", app(att=[att_fact(provenance(source_ref="refs/heads/feature"))]), ["source-ref-not-allowed"])
case("source-ref-tag-glob", app(att=[att_fact(provenance(source_ref="refs/tags/v1.2.0"))]), [])
claimed = app()
claimed["resource"]["annotations"]["supplygate.dev/source-commit"] = OTHER[:12]
case("source-commit-mismatch-annotation", claimed, ["source-commit-mismatch"])
claimed_ok = app()
claimed_ok["resource"]["labels"]["supplygate.dev/source-commit"] = COMMIT[:7].upper()
case("source-commit-claim-label-prefix", claimed_ok, [])
case("commit-sha-tag-mismatch", app(tag=OTHER[:10]), ["source-commit-mismatch"])
case("commit-sha-tag-matches", app(tag=COMMIT[:8]), [])
case("certificate-provenance-mismatch", app(att=[att_fact(provenance(), agreement={
    "repository": {"result": "disagrees", "certificate": "https://github.com/evil/app", "provenance": "https://github.com/acme/app"},
    "commit": {"result": "agrees"},
})]), ["certificate-provenance-mismatch"])
unreached = app()
unreached["reachability"] = [reach("not-reachable", message="on none of the 3 matching refs")]
case("commit-not-reachable", unreached, ["commit-not-reachable"])
notclone = app()
notclone["reachability"] = [reach("not-in-clone")]
case("commit-not-in-clone", notclone, ["commit-not-reachable"])
giterr = app()
giterr["reachability"] = [reach("error", message="`/src/app` is a shallow clone")]
case("reachability-error", giterr, ["provenance-check-failed"])
reached = app()
reached["reachability"] = [reach("reachable", via="refs/heads/main")]
case("commit-reachable", reached, [])
noatt = app()
noatt["attestations"] = None
case("provenance-check-failed", noatt, ["provenance-check-failed"])
case("second-provenance-passes", app(att=[
    att_fact(provenance(builder_id="https://evil.example/b")),
    att_fact(provenance()),
]), [])
case("first-verified-provenance-reported", app(att=[
    att_fact(provenance(), verified_by=[], rejections=[("*", "not about this image")]),
    att_fact(provenance(source_ref="refs/heads/dev", builder_id=None)),
    att_fact(provenance(source_repository="https://github.com/evil/app")),
]), ["source-ref-not-allowed", "untrusted-builder"])


def main():
    os.makedirs(os.path.join(ROOT, "data"), exist_ok=True)
    for name in os.listdir(ROOT):
        if name.endswith(".json"):
            os.remove(os.path.join(ROOT, name))
    expected = {}
    for name, (doc, codes, warns) in CASES.items():
        with open(os.path.join(ROOT, f"{name}.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, sort_keys=True)
            f.write("\n")
        expected[f"{name}.json"] = {"deny": codes, "warn": warns}
    with open(os.path.join(ROOT, "data", "supplygate.json"), "w", encoding="utf-8") as f:
        json.dump(CONFIG, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(ROOT, "data", "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
