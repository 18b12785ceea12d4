package supplygate.lib.util_test

import data.supplygate.lib.util

# The image-glob tests (`image_matches`, `normalize_glob`) moved to src/policy/facts.rs with
# the globs: the gate decides them and hands the policies `input.image.matched`.

test_ref_stars_cross_slashes if {
	util.ref_matches("refs/tags/v*", "refs/tags/v1.2.0")
	util.ref_matches("refs/tags/v*", "refs/tags/v1/rc")
	util.ref_matches("refs/heads/release-?", "refs/heads/release-1")
	not util.ref_matches("refs/heads/main", "refs/heads/main2")
	not util.ref_matches("refs/heads/m.in", "refs/heads/main")
}

test_refs_git_could_not_have_match_nothing if {
	util.ref_matches("refs/tags/v*", "refs/tags/v1.2.0-rc.1")
	util.ref_matches("refs/heads/*", "refs/heads/feature/x")
	every ref in [
		"refs/tags/v1/../../heads/dev",
		"refs/tags/v1//x",
		"refs/tags/v1/.hidden",
		"refs/tags/v1.lock",
		"refs/tags/v1/",
		"refs/tags/v1.",
		"refs/tags/v1@{0}",
		"refs/tags/v1 x",
		"refs/tags/v1\tx",
		"refs/tags/v1~1",
		"refs/tags/v1^",
		"refs/tags/v1:x",
		"refs/tags/v1\\x",
		"refs/tags/v[1]",
	] {
		not util.ref_matches("refs/tags/v*", ref)
	}
	not util.ref_matches("*", "main")
}

test_repositories_are_normalised if {
	util.normalize_repository("git+https://GitHub.COM/acme/app.git@refs/heads/main") == "https://github.com/acme/app"
	util.normalize_repository("github.com/acme/app/") == "https://github.com/acme/app"
	util.normalize_repository("ssh://git@github.com/acme/app.git") == "ssh://github.com/acme/app"
	util.normalize_repository("https://github.com/acme/app?x=1#y") == "https://github.com/acme/app"
	not util.normalize_repository("https://github.com")
	not util.normalize_repository("not a url")
	not util.normalize_repository(null)
	not util.repository_matches("https://github.com/acme/app", "https://github.com/acme/App")
}

test_builder_prefixes_match_at_a_boundary if {
	rule := {"match": "prefix", "id": "https://github.com/acme"}
	util.builder_accepts(rule, "https://github.com/acme/builder@v1")
	util.builder_accepts(rule, "https://github.com/acme@v1")
	util.builder_accepts(rule, "https://github.com/acme")
	not util.builder_accepts(rule, "https://github.com/acme-evil/b")
	not util.builder_accepts(rule, "https://github.com/acmeevil")
	util.builder_accepts({"match": "prefix", "id": "https://x.example:"}, "https://x.example:8443")
	not util.builder_accepts({"match": "prefix", "id": ""}, "anything")
	not util.builder_accepts(rule, null)
}

test_commit_claims_are_prefixes_of_full_commits if {
	c := "0123456789abcdef0123456789abcdef01234567"
	util.commit_matches_claim(c, "0123456")
	util.commit_matches_claim(c, " 0123456789ABCDEF ")
	util.commit_matches_claim(c, c)
	not util.commit_matches_claim(c, "012345")
	not util.commit_matches_claim(c, "0123456x")
	not util.commit_matches_claim("0123456", "0123456")
	not util.commit_matches_claim(c, concat("", [c, "0"]))
}

test_describes_places_and_verdicts if {
	util.describe_signature({"location": {"via": "cosign-tag", "tag": "t.sig", "manifest": "m", "layer": 2}, "verified_by": ["a", "b"]}) == "t.sig layer 2: verified by `a`, `b`"
	util.describe_signature({"location": {"via": "referrers-tag", "tag": "sha256-x", "manifest": "m"}, "verified_by": [], "rejections": [{"signer": "*", "reason": "bad"}, {"signer": "ci", "reason": "other key"}]}) == "referrer m (tag sha256-x): bad, `ci`: other key"
	util.describe_attestation({"location": {"via": "referrers", "manifest": "m"}, "verified_by": [], "rejections": []}) == "referrer m (unknown predicate): "
}
