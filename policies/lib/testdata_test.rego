# Inputs and config shared by the library's tests (no tests here).
package supplygate.testdata_test

d := concat("", ["sha256:", concat("", [c | some _ in numbers.range(1, 64); c := "a"])])

d2 := concat("", ["sha256:", concat("", [c | some _ in numbers.range(1, 64); c := "b"])])

commit := "0123456789abcdef0123456789abcdef01234567"

config := {
	"require": [
		{"images": ["ghcr.io/acme/**"], "signers": ["ci"], "line": 12},
		{"images": ["127.0.0.1:*/team/*"], "signers": ["ci", "release"], "line": 16},
	],
	"provenance": [{
		"images": ["ghcr.io/acme/app"],
		"signers": ["ci"],
		"builders": [
			{"match": "prefix", "id": "https://github.com/acme"},
			{"match": "exact", "id": "https://builder.example/v1"},
		],
		"source": "https://github.com/acme/app",
		"refs": ["refs/heads/main", "refs/tags/v*"],
		"line": 20,
	}],
	"source": {"commit_key": "supplygate.dev/source-commit"},
	"registries": {"allow": ["ghcr.io/acme/**", "docker.io/library/*", "127.0.0.1:*/team/**"]},
	"images": {"allow_latest": false, "unmatched": "allow"},
}

# An image that resolved; `patch` overrides fields of `input.image`.
image(written, name, tag, digest) := {
	"written": written,
	"valid": true,
	"invalid_reason": null,
	"normalized": written,
	"registry": split(name, "/")[0],
	"repository": substring(name, indexof(name, "/") + 1, -1),
	"name": name,
	"tag": tag,
	"digest": digest,
	"pinned": digest != null,
	"resolved": true,
	"resolved_digest": d,
	"media_type": "application/vnd.oci.image.manifest.v1+json",
	"platforms": [],
	"tag_digest": null,
	"error": null,
	"matched": object.get(matched, name, unnamed),
}

# `input.image.matched` under `config`, as the gate writes it (src/policy/facts.rs decides the
# globs; its tests assert these same answers for these names under this config).
matched := {
	"ghcr.io/acme/app": {"require": [0], "provenance": [0], "allowed_registry": true},
	"ghcr.io/acme/a/b/c": {"require": [0], "provenance": [], "allowed_registry": true},
	"ghcr.io/acme/x/y": {"require": [0], "provenance": [], "allowed_registry": true},
	"127.0.0.1:5000/team/app": {"require": [1], "provenance": [], "allowed_registry": true},
	"127.0.0.1:5000/team/a/b": {"require": [], "provenance": [], "allowed_registry": true},
	"127.0.0.1:5000/team/x/y": {"require": [], "provenance": [], "allowed_registry": true},
	"docker.io/library/nginx": {"require": [], "provenance": [], "allowed_registry": true},
	"docker.io/library/team/app": {"require": [], "provenance": [], "allowed_registry": false},
	"docker.io/acme/app": {"require": [], "provenance": [], "allowed_registry": false},
	"quay.io/evil/app": {"require": [], "provenance": [], "allowed_registry": false},
	"quay.io/x/y": {"require": [], "provenance": [], "allowed_registry": false},
	"ghcr.io/acme": {"require": [], "provenance": [], "allowed_registry": false},
	"ghcr.io/acme-evil/x": {"require": [], "provenance": [], "allowed_registry": false},
}

unnamed := {"require": [], "provenance": [], "allowed_registry": null}

# `inp` with `input.image.matched` replaced (a test with its own config gives its facts).
with_matched(inp, m) := object.union(inp, {"image": {"matched": m}})

doc(img) := {
	"mode": "check",
	"now": "2026-11-24T08:00:00Z",
	"resource": {
		"api_version": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web",
		"labels": {}, "annotations": {}, "file": "deploy/web.yaml", "line": 1,
	},
	"container": {"name": "web", "kind": "container", "path": "spec.containers[0]", "line": 18, "column": 16},
	"image": img,
	"signatures": null,
	"attestations": null,
	"reachability": [],
	"source_claim": null,
	"provenance_checks": [],
}

nginx(tag) := doc(image(concat(":", ["nginx", tag]), "docker.io/library/nginx", tag, null))

sig(verified_by, rejections) := {
	"location": {"via": "cosign-tag", "tag": "sha256-aaa.sig", "manifest": d2, "layer": 0},
	"attached_to": d,
	"kind": "cosign-key",
	"verified_by": verified_by,
	"rejections": rejections,
}

provenance := {
	"slsa_version": "v1",
	"builder_id": "https://github.com/acme/builder/.github/workflows/build.yml@refs/tags/v2",
	"build_type": "https://actions.github.io/buildtypes/workflow/v1",
	"source_uri": "git+https://github.com/acme/app@refs/heads/main",
	"source_repository": "https://github.com/acme/app",
	"source_ref": "refs/heads/main",
	"source_commit": commit,
	"entry_point": null,
	"build_started_on": null,
	"build_finished_on": null,
}

att(prov, verified_by) := {
	"location": {"via": "referrers", "manifest": d2, "artifact_type": "application/vnd.dev.sigstore.bundle.v0.3+json"},
	"attached_to": d,
	"predicate_type": "https://slsa.dev/provenance/v1",
	"kind": "slsa-provenance-v1",
	"verified_by": verified_by,
	"rejections": [],
	"subject_match": {"digest": d},
	"provenance": prov,
}

# The gate's checks of a provenance that passes every check of the provenance rule
# (`input.provenance_checks[rule][fact]`); `check(patch)` fails some. The gate decides them in
# Rust (src/policy/facts.rs, whose tests hold the cases that used to be here); these tests
# hold what the policy makes of them.
pass := {
	"verified": true,
	"passes": true,
	"builder_trusted": true,
	"source_repository_matches": true,
	"source_ref_allowed": true,
	"commit_claim_matches": null,
	"tag_commit_matches": null,
	"reachability": [],
	"no_commit": [],
}

# `passes` is every check at once (the gate computes it in Rust); a patch fails some check
# unless it says `"passes": true`.
check(patch) := object.union(object.union(pass, {"passes": false}), patch)

# `inp` with the checks of provenance rule 0 replaced, one per attestation.
with_checks(inp, checks) := object.union(inp, {"provenance_checks": [checks]})

# ghcr.io/acme/app:<tag>, signed by `ci`, with the given attestations, each passing the checks.
app_with(tag, atts) := object.union(doc(image(concat(":", ["ghcr.io/acme/app", tag]), "ghcr.io/acme/app", tag, null)), {
	"signatures": {"digest": d, "facts": [sig(["ci"], [])], "platforms": []},
	"attestations": {"digest": d, "facts": atts},
	"provenance_checks": [[object.union(pass, {"verified": "ci" in a.verified_by}) | some a in atts]],
})

app := app_with("v1.2.0", [att(provenance, ["ci"])])

# `app` whose one provenance has `patch` applied.
app_prov(patch) := app_with("v1.2.0", [att(object.union(provenance, patch), ["ci"])])

codes(set) := {x.code | some x in set}
