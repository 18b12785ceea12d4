package supplygate.provenance_test

import data.supplygate.provenance
import data.supplygate.testdata_test as t

deny(inp) := x if {
	x := provenance.deny with input as inp with data.supplygate.config as t.config
}

reach(result, extra) := object.union({
	"repository": "https://github.com/acme/app",
	"commit": t.commit,
	"refs": ["refs/heads/main", "refs/tags/v*"],
	"clone": "/src/app",
	"result": result,
}, extra)

test_allows_a_verified_provenance_that_passes_every_check if {
	count(deny(t.app)) == 0
}

test_denies_when_there_is_no_attestation if {
	some x in deny(t.app_with("v1", []))
	x.code == "provenance-missing"
	x.found == "no attestation"
	x.expected == "SLSA provenance signed by `ci` (config line 20)"
}

test_unverified_provenance_is_missing_provenance if {
	a := object.union(t.att(t.provenance, []), {"rejections": [{"signer": "ci", "reason": "no valid signature"}]})
	some x in deny(t.app_with("v1", [a]))
	x.code == "provenance-missing"
	x.found == concat("", ["referrer ", t.d2, " (https://slsa.dev/provenance/v1): `ci`: no valid signature"])
}

test_provenance_verified_by_another_signer_is_missing if {
	t.codes(deny(t.app_with("v1", [t.att(t.provenance, ["other"])]))) == {"provenance-missing"}
}

# Which builder ids a rule trusts (prefix boundaries, exact ids, a prefix ending in a
# separator) is decided by the gate: src/policy/facts.rs tests those cases.
test_denies_a_builder_the_gate_does_not_trust if {
	inp := t.with_checks(t.app_prov({"builder_id": "https://github.com/acme-evil/builder@v1"}), [t.check({"builder_trusted": false})])
	t.codes(deny(inp)) == {"untrusted-builder"}
	count(deny(t.app_prov({"builder_id": "https://github.com/acme@v1"}))) == 0
}

test_a_missing_builder_is_untrusted if {
	some x in deny(t.with_checks(t.app_prov({"builder_id": null}), [t.check({"builder_trusted": false})]))
	x.code == "untrusted-builder"
	x.found == "none"
	x.expected == "`https://github.com/acme*` or `https://builder.example/v1` (config line 20)"
}

test_denies_another_source_repository if {
	some x in deny(t.with_checks(t.app_prov({"source_repository": "https://github.com/evil/app"}), [t.check({"source_repository_matches": false})]))
	x.code == "source-repository-mismatch"
	x.found == "https://github.com/evil/app"
}

test_a_missing_source_repository_is_a_mismatch if {
	some x in deny(t.with_checks(t.app_prov({"source_repository": null}), [t.check({"source_repository_matches": false})]))
	x.code == "source-repository-mismatch"
	x.found == "none"
}

test_denies_a_ref_that_is_not_allowed if {
	not_allowed := [t.check({"source_ref_allowed": false})]
	t.codes(deny(t.with_checks(t.app_prov({"source_ref": "refs/heads/feature"}), not_allowed))) == {"source-ref-not-allowed"}
	some x in deny(t.with_checks(t.app_prov({"source_ref": null}), not_allowed))
	x.code == "source-ref-not-allowed"
	x.found == "none"
	x.expected == "`refs/heads/main` or `refs/tags/v*` (config line 20)"
}

# Which claim counts (the annotation, else the label) and whether it prefixes the commit is
# decided by the gate (`input.source_claim`, `commit_claim_matches`): src/policy/facts.rs.
test_denies_a_commit_other_than_the_annotation_claims if {
	claim := {"key": "supplygate.dev/source-commit", "value": "fedcba98765", "from": "annotation"}
	inp := object.union(t.with_checks(t.app, [t.check({"commit_claim_matches": false})]), {"source_claim": claim})
	some x in deny(inp)
	x.code == "source-commit-mismatch"
	contains(x.msg, "(annotation `supplygate.dev/source-commit`)")
	x.expected == "`fedcba98765`"
	x.found == t.commit
}

test_a_label_claim_is_named_as_a_label if {
	claim := {"key": "supplygate.dev/source-commit", "value": "012345", "from": "label"}
	inp := object.union(t.with_checks(t.app, [t.check({"commit_claim_matches": false})]), {"source_claim": claim})
	some x in deny(inp)
	x.code == "source-commit-mismatch"
	contains(x.msg, "(label `supplygate.dev/source-commit`)")
	count(deny(object.union(t.app, {"source_claim": claim}))) == 0
}

test_a_commit_sha_tag_must_prefix_the_commit if {
	inp := t.with_checks(t.app_with("fedcba9876", [t.att(t.provenance, ["ci"])]), [t.check({"tag_commit_matches": false})])
	some x in deny(inp)
	x.code == "source-commit-mismatch"
	x.expected == "a commit starting with `fedcba9876`"
	x.found == t.commit
	ok := t.with_checks(t.app_with("0123456789AB", [t.att(t.provenance, ["ci"])]), [t.check({"tag_commit_matches": true, "passes": true})])
	count(deny(ok)) == 0
}

test_denies_a_certificate_that_disagrees_with_the_provenance if {
	a := object.union(t.att(t.provenance, ["ci"]), {"certificate_agreement": {
		"repository": {"result": "agrees"},
		"commit": {"result": "disagrees", "certificate": "fedcba", "provenance": t.commit},
	}})
	some x in deny(t.with_checks(t.app_with("v1", [a]), [t.check({})]))
	x.code == "certificate-provenance-mismatch"
	x.found == sprintf("the certificate names commit `fedcba`, the provenance `%s`", [t.commit])
}

test_unknown_certificate_agreement_is_fine if {
	a := object.union(t.att(t.provenance, ["ci"]), {"certificate_agreement": {"repository": {"result": "unknown"}, "commit": {"result": "agrees"}}})
	count(deny(t.app_with("v1", [a]))) == 0
}

# Which answers of `input.reachability` concern a provenance under a rule (its repository,
# commit and the rule's refs) is decided by the gate: src/policy/facts.rs.
concerns_first := [t.check({"reachability": [0]})]

test_denies_a_commit_not_reachable_from_allowed_refs if {
	inp := t.with_checks(object.union(t.app, {"reachability": [reach("not-reachable", {"message": "on none of the 3 matching refs"})]}), concerns_first)
	some x in deny(inp)
	x.code == "commit-not-reachable"
	x.found == "on none of the 3 matching refs (a side branch?)"
	x.expected == "reachable from `refs/heads/main` or `refs/tags/v*` in `/src/app`"
}

test_denies_a_commit_missing_from_the_clone if {
	inp := t.with_checks(object.union(t.app, {"reachability": [reach("not-in-clone", {})]}), concerns_first)
	t.codes(deny(inp)) == {"commit-not-reachable"}
}

test_a_git_error_fails_closed if {
	inp := t.with_checks(object.union(t.app, {"reachability": [reach("error", {"message": "shallow clone"})]}), concerns_first)
	some x in deny(inp)
	x.code == "provenance-check-failed"
	endswith(x.msg, ": shallow clone")
}

test_reachable_commits_and_answers_that_concern_nothing_pass if {
	reachable := [t.check({"reachability": [0], "passes": true})]
	count(deny(t.with_checks(object.union(t.app, {"reachability": [reach("reachable", {"via": "refs/heads/main"})]}), reachable))) == 0
	count(deny(object.union(t.app, {"reachability": [reach("not-reachable", {"commit": "fedcba9876543210fedcba9876543210fedcba98"})]}))) == 0
}

test_rules_without_refs_report_the_refs_of_the_answer if {
	cfg := object.union(t.config, {"provenance": [object.union(t.config.provenance[0], {"refs": []})]})
	inp := t.with_checks(object.union(t.app, {"reachability": [reach("not-reachable", {"refs": ["refs/heads/*", "refs/tags/*"]})]}), concerns_first)
	some x in provenance.deny with input as inp with data.supplygate.config as cfg
	x.code == "commit-not-reachable"
	x.expected == "reachable from `refs/heads/*` or `refs/tags/*` in `/src/app`"
}

test_fails_closed_when_attestations_are_missing if {
	t.codes(deny(object.union(t.app, {"attestations": null}))) == {"provenance-check-failed"}
	some x in deny(object.union(t.app, {"attestations": {"error": {"code": "registry-timeout", "message": "timed out"}}}))
	x.found == "timed out"
}

test_one_passing_provenance_satisfies_the_rule if {
	bad := t.att(object.union(t.provenance, {"builder_id": "https://evil.example/b"}), ["ci"])
	untrusted := t.check({"builder_trusted": false})
	count(deny(t.with_checks(t.app_with("v1", [bad, t.att(t.provenance, ["ci"])]), [untrusted, t.pass]))) == 0
	count(deny(t.with_checks(t.app_with("v1", [t.att(t.provenance, ["ci"]), bad]), [t.pass, untrusted]))) == 0
}

test_reports_every_failure_of_the_first_verified_provenance_only if {
	unverified := t.att(t.provenance, [])
	first := t.att(object.union(t.provenance, {"source_ref": "refs/heads/dev", "builder_id": null}), ["ci"])
	second := t.att(object.union(t.provenance, {"source_repository": "https://github.com/evil/app"}), ["ci"])
	checks := [object.union(t.pass, {"verified": false}), t.check({"source_ref_allowed": false, "builder_trusted": false}), t.check({"source_repository_matches": false})]
	t.codes(deny(t.with_checks(t.app_with("v1", [unverified, first, second]), checks))) == {"source-ref-not-allowed", "untrusted-builder"}
}

test_skips_images_no_rule_applies_to_and_unresolved_images if {
	count(deny(t.nginx("1.25"))) == 0
	count(deny(object.union(t.app, {"attestations": null, "image": {"resolved": false}}))) == 0
}

# An index whose amd64 manifest has provenance and whose arm64 manifest has none: provenance
# about one platform must not speak for the whole index.
amd64 := concat("", ["sha256:", concat("", [c | some _ in numbers.range(1, 64); c := "a"])])

arm64 := concat("", ["sha256:", concat("", [c | some _ in numbers.range(1, 64); c := "e"])])

on_platform(digest, platform) := object.union(t.att(t.provenance, ["ci"]), {"subject_match": {"digest": digest, "platform": platform}})

index_with(atts) := object.union(t.app_with("v1", atts), {"image": object.union(t.app.image, {"platforms": [
	{"os": "linux", "architecture": "amd64", "digest": amd64},
	{"os": "linux", "architecture": "arm64", "digest": arm64},
]})})

test_provenance_of_one_platform_does_not_cover_an_index if {
	t.codes(deny(index_with([on_platform(amd64, "linux/amd64")]))) == {"provenance-missing"}
}

test_provenance_of_every_platform_covers_an_index if {
	count(deny(index_with([on_platform(amd64, "linux/amd64"), on_platform(arm64, "linux/arm64")]))) == 0
}

# Issue 15, hole 1: an index entry without a platform is one a runtime may select.
test_an_entry_without_a_platform_needs_provenance_too if {
	inp := object.union(t.app_with("v1", [on_platform(amd64, "linux/amd64")]), {"image": object.union(t.app.image, {"platforms": [
		{"os": "linux", "architecture": "amd64", "digest": amd64},
		{"os": "", "architecture": "", "digest": arm64},
	]})})
	some d in deny(inp)
	d.code == "provenance-missing"
	contains(d.found, "(no platform)")
}

test_clone_configured_but_no_commit_in_provenance_is_not_reachable if {
	prov := object.union(t.provenance, {"source_commit": null})
	inp := object.union(t.app_with("v1", [t.att(prov, ["ci"])]), {"reachability": [object.union(reach("no-commit", {}), {"commit": ""})]})
	t.codes(deny(t.with_checks(inp, [t.check({"no_commit": [0]})]))) == {"commit-not-reachable"}
}

test_one_good_platform_does_not_carry_a_badly_built_sibling if {
	evil := object.union(t.provenance, {"builder_id": "https://ci.example.evil/build"})
	bad := object.union(t.att(evil, ["ci"]), {"subject_match": {"digest": arm64, "platform": "linux/arm64"}})
	checks := [t.pass, t.check({"builder_trusted": false})]
	t.codes(deny(t.with_checks(index_with([on_platform(amd64, "linux/amd64"), bad]), checks))) == {"untrusted-builder"}
}

test_a_claim_against_provenance_without_a_commit_is_a_mismatch_not_an_error if {
	prov := object.union(t.provenance, {"source_commit": null})
	claim := {"key": "supplygate.dev/source-commit", "value": t.commit, "from": "annotation"}
	inp := object.union(t.app_with("v1", [t.att(prov, ["ci"])]), {"source_claim": claim})
	t.codes(deny(t.with_checks(inp, [t.check({"commit_claim_matches": false})]))) == {"source-commit-mismatch"}
}

test_a_provenance_without_the_gate_checks_is_not_judged if {
	inp := object.union(t.app, {"provenance_checks": []})
	t.codes(deny(inp)) == {"policy-error"}
}

test_a_failing_provenance_whose_checks_say_no_failure_is_not_decided if {
	t.codes(deny(t.with_checks(t.app, [object.union(t.pass, {"passes": false})]))) == {"policy-error"}
	t.codes(deny(t.with_checks(t.app, [object.union(t.pass, {"passes": null})]))) == {"policy-error"}
}

test_a_rule_index_the_config_does_not_have_is_not_decided if {
	cfg := object.union(t.config, {"provenance": []})
	ds := provenance.deny with input as t.app with data.supplygate.config as cfg
	t.codes(ds) == {"policy-error"}
}

# `deny` skips the package's denials only for `[]`: any other list of matching rules, a
# malformed one included, is evaluated (and here not decided).
test_a_matched_list_that_is_not_a_list_is_not_decided if {
	matched := object.union(t.app.image.matched, {"provenance": {"first": 5}})
	inp := object.union(t.app, {"image": object.union(t.app.image, {"matched": matched})})
	t.codes(deny(inp)) == {"policy-error"}
}

test_an_image_no_provenance_rule_names_has_no_provenance_denial if {
	matched := object.union(t.app.image.matched, {"provenance": []})
	inp := object.union(t.app, {
		"image": object.union(t.app.image, {"matched": matched}),
		"attestations": {"error": {"code": "x", "message": "registry down"}},
	})
	count(deny(inp)) == 0
	t.codes(deny(object.union(inp, {"image": t.app.image}))) == {"provenance-check-failed"}
}
