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

test_denies_an_untrusted_builder_at_the_prefix_boundary if {
	t.codes(deny(t.app_prov({"builder_id": "https://github.com/acme-evil/builder@v1"}))) == {"untrusted-builder"}
	count(deny(t.app_prov({"builder_id": "https://github.com/acme@v1"}))) == 0
	count(deny(t.app_prov({"builder_id": "https://github.com/acme"}))) == 0
}

test_exact_builders_match_exactly if {
	count(deny(t.app_prov({"builder_id": "https://builder.example/v1"}))) == 0
	t.codes(deny(t.app_prov({"builder_id": "https://builder.example/v1/x"}))) == {"untrusted-builder"}
}

test_a_missing_builder_is_untrusted if {
	some x in deny(t.app_prov({"builder_id": null}))
	x.code == "untrusted-builder"
	x.found == "none"
	x.expected == "`https://github.com/acme*` or `https://builder.example/v1` (config line 20)"
}

test_a_prefix_ending_in_a_separator_accepts_any_continuation if {
	cfg := object.union(t.config, {"provenance": [object.union(t.config.provenance[0], {"builders": [{"match": "prefix", "id": "https://github.com/acme/"}]})]})
	count(provenance.deny) == 0 with input as t.app_prov({"builder_id": "https://github.com/acme/anything"}) with data.supplygate.config as cfg
}

test_denies_another_source_repository if {
	some x in deny(t.app_prov({"source_repository": "https://github.com/evil/app"}))
	x.code == "source-repository-mismatch"
	x.found == "https://github.com/evil/app"
}

test_source_repositories_are_compared_normalised if {
	count(deny(t.app_prov({"source_repository": "git+https://GitHub.com/acme/app.git/"}))) == 0
	count(deny(t.app_prov({"source_repository": "github.com/acme/app"}))) == 0
	t.codes(deny(t.app_prov({"source_repository": "https://github.com/ACME/app"}))) == {"source-repository-mismatch"}
	t.codes(deny(t.app_prov({"source_repository": null}))) == {"source-repository-mismatch"}
}

test_denies_a_ref_that_is_not_allowed if {
	t.codes(deny(t.app_prov({"source_ref": "refs/heads/feature"}))) == {"source-ref-not-allowed"}
	t.codes(deny(t.app_prov({"source_ref": null}))) == {"source-ref-not-allowed"}
}

test_ref_patterns_glob if {
	count(deny(t.app_prov({"source_ref": "refs/tags/v1.2.0"}))) == 0
	t.codes(deny(t.app_prov({"source_ref": "refs/tags/1.2.0"}))) == {"source-ref-not-allowed"}
	t.codes(deny(t.app_prov({"source_ref": "refs/heads/main2"}))) == {"source-ref-not-allowed"}
}

test_denies_a_commit_other_than_the_annotation_claims if {
	inp := object.union(t.app, {"resource": {"annotations": {"supplygate.dev/source-commit": "fedcba98765"}}})
	some x in deny(inp)
	x.code == "source-commit-mismatch"
	contains(x.msg, "(annotation `supplygate.dev/source-commit`)")
	x.expected == "`fedcba98765`"
	x.found == t.commit
}

test_a_label_claim_counts_and_matches_by_prefix_in_any_case if {
	inp := object.union(t.app, {"resource": {"labels": {"supplygate.dev/source-commit": "0123456789ABC"}}})
	count(deny(inp)) == 0
	bad := object.union(t.app, {"resource": {"labels": {"supplygate.dev/source-commit": "012345"}}})
	t.codes(deny(bad)) == {"source-commit-mismatch"}
}

test_the_annotation_claim_wins_over_the_label if {
	inp := object.union(t.app, {"resource": {
		"annotations": {"supplygate.dev/source-commit": "fedcba98765"},
		"labels": {"supplygate.dev/source-commit": "0123456"},
	}})
	t.codes(deny(inp)) == {"source-commit-mismatch"}
}

test_a_commit_sha_tag_must_prefix_the_commit if {
	t.codes(deny(t.app_with("fedcba9876", [t.att(t.provenance, ["ci"])]))) == {"source-commit-mismatch"}
	count(deny(t.app_with("0123456789AB", [t.att(t.provenance, ["ci"])]))) == 0
	# Not 7 to 40 hex digits: not taken for a commit.
	count(deny(t.app_with("abcdef", [t.att(t.provenance, ["ci"])]))) == 0
	count(deny(t.app_with("v1.2.3", [t.att(t.provenance, ["ci"])]))) == 0
}

test_denies_a_certificate_that_disagrees_with_the_provenance if {
	a := object.union(t.att(t.provenance, ["ci"]), {"certificate_agreement": {
		"repository": {"result": "agrees"},
		"commit": {"result": "disagrees", "certificate": "fedcba", "provenance": t.commit},
	}})
	some x in deny(t.app_with("v1", [a]))
	x.code == "certificate-provenance-mismatch"
	x.found == sprintf("the certificate names commit `fedcba`, the provenance `%s`", [t.commit])
}

test_unknown_certificate_agreement_is_fine if {
	a := object.union(t.att(t.provenance, ["ci"]), {"certificate_agreement": {"repository": {"result": "unknown"}, "commit": {"result": "agrees"}}})
	count(deny(t.app_with("v1", [a]))) == 0
}

test_denies_a_commit_not_reachable_from_allowed_refs if {
	inp := object.union(t.app, {"reachability": [reach("not-reachable", {"message": "on none of the 3 matching refs"})]})
	some x in deny(inp)
	x.code == "commit-not-reachable"
	x.found == "on none of the 3 matching refs (a side branch?)"
	x.expected == "reachable from `refs/heads/main` or `refs/tags/v*` in `/src/app`"
}

test_denies_a_commit_missing_from_the_clone if {
	inp := object.union(t.app, {"reachability": [reach("not-in-clone", {})]})
	t.codes(deny(inp)) == {"commit-not-reachable"}
}

test_a_git_error_fails_closed if {
	inp := object.union(t.app, {"reachability": [reach("error", {"message": "shallow clone"})]})
	some x in deny(inp)
	x.code == "provenance-check-failed"
	endswith(x.msg, ": shallow clone")
}

test_reachable_commits_and_answers_for_other_commits_pass if {
	count(deny(object.union(t.app, {"reachability": [reach("reachable", {"via": "refs/heads/main"})]}))) == 0
	count(deny(object.union(t.app, {"reachability": [reach("not-reachable", {"commit": "fedcba9876543210fedcba9876543210fedcba98"})]}))) == 0
	count(deny(object.union(t.app, {"reachability": [reach("not-reachable", {"refs": ["refs/heads/*"]})]}))) == 0
}

test_rules_without_refs_use_the_answer_for_any_branch_or_tag if {
	cfg := object.union(t.config, {"provenance": [object.union(t.config.provenance[0], {"refs": []})]})
	inp := object.union(t.app, {"reachability": [reach("not-reachable", {"refs": ["refs/heads/*", "refs/tags/*"]})]})
	t.codes(provenance.deny) == {"commit-not-reachable"} with input as inp with data.supplygate.config as cfg
}

test_fails_closed_when_attestations_are_missing if {
	t.codes(deny(object.union(t.app, {"attestations": null}))) == {"provenance-check-failed"}
	some x in deny(object.union(t.app, {"attestations": {"error": {"code": "registry-timeout", "message": "timed out"}}}))
	x.found == "timed out"
}

test_one_passing_provenance_satisfies_the_rule if {
	bad := t.att(object.union(t.provenance, {"builder_id": "https://evil.example/b"}), ["ci"])
	count(deny(t.app_with("v1", [bad, t.att(t.provenance, ["ci"])]))) == 0
	count(deny(t.app_with("v1", [t.att(t.provenance, ["ci"]), bad]))) == 0
}

test_reports_every_failure_of_the_first_verified_provenance_only if {
	unverified := t.att(t.provenance, [])
	first := t.att(object.union(t.provenance, {"source_ref": "refs/heads/dev", "builder_id": null}), ["ci"])
	second := t.att(object.union(t.provenance, {"source_repository": "https://github.com/evil/app"}), ["ci"])
	t.codes(deny(t.app_with("v1", [unverified, first, second]))) == {"source-ref-not-allowed", "untrusted-builder"}
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
	t.codes(deny(inp)) == {"commit-not-reachable"}
}

test_one_good_platform_does_not_carry_a_badly_built_sibling if {
	evil := object.union(t.provenance, {"builder_id": "https://ci.example.evil/build"})
	bad := object.union(t.att(evil, ["ci"]), {"subject_match": {"digest": arm64, "platform": "linux/arm64"}})
	t.codes(deny(index_with([on_platform(amd64, "linux/amd64"), bad]))) == {"untrusted-builder"}
}

test_a_claim_against_provenance_without_a_commit_is_a_mismatch_not_an_error if {
	prov := object.union(t.provenance, {"source_commit": null})
	inp := object.union(t.app_with("v1", [t.att(prov, ["ci"])]), {"resource": object.union(t.app.resource, {"annotations": {"supplygate.dev/source-commit": t.commit}})})
	t.codes(deny(inp)) == {"source-commit-mismatch"}
}
