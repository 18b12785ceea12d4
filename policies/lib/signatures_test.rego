package supplygate.signatures_test

import data.supplygate.signatures
import data.supplygate.testdata_test as t

deny(inp) := x if {
	x := signatures.deny with input as inp with data.supplygate.config as t.config
}

with_sigs(facts) := object.union(t.app, {"signatures": {"facts": facts}})

test_allows_a_signature_by_a_required_signer if {
	count(deny(t.app)) == 0
}

test_denies_an_unsigned_image if {
	some x in deny(with_sigs([]))
	x.code == "unsigned-image"
	x.msg == sprintf("`ghcr.io/acme/app:v1.2.0` (%s) has no signature", [t.d])
	x.expected == "a signature by `ci` (config line 12)"
	x.found == "none"
}

test_denies_signatures_by_no_required_signer_and_says_why if {
	inp := with_sigs([t.sig([], [{"signer": "ci", "reason": "signed by another key"}]), t.sig(["other"], [])])
	some x in deny(inp)
	x.code == "signature-not-trusted"
	startswith(x.msg, "2 signatures on `ghcr.io/acme/app:v1.2.0`")
	x.found == "sha256-aaa.sig layer 0: `ci`: signed by another key; sha256-aaa.sig layer 0: verified by `other`"
}

test_one_signature_is_singular if {
	some x in deny(with_sigs([t.sig([], [{"signer": "*", "reason": "not a signature"}])]))
	startswith(x.msg, "1 signature on ")
	endswith(x.found, ": not a signature")
}

test_platform_signatures_do_not_count if {
	inp := object.union(with_sigs([]), {"signatures": {"platforms": [{"platform": "linux/amd64", "digest": t.d2, "facts": [t.sig(["ci"], [])]}]}})
	t.codes(deny(inp)) == {"unsigned-image"}
}

test_fails_closed_when_a_rule_applies_and_signatures_are_missing if {
	inp := object.union(t.app, {"signatures": null})
	t.codes(deny(inp)) == {"signature-check-failed"}
}

test_fails_closed_on_a_discovery_error if {
	inp := object.union(t.app, {"signatures": {"error": {"code": "registry-timeout", "message": "timed out"}}})
	some x in deny(inp)
	x.code == "signature-check-failed"
	x.found == "timed out"
}

test_skips_an_image_that_did_not_resolve if {
	inp := object.union(t.app, {"signatures": null, "image": {"resolved": false, "resolved_digest": null}})
	count(deny(inp)) == 0
}

test_any_signer_of_the_rule_satisfies_it if {
	inp := object.union(t.doc(t.image("127.0.0.1:5000/team/app:1", "127.0.0.1:5000/team/app", "1", null)), {"signatures": {"digest": t.d, "facts": [t.sig(["release"], [])], "platforms": []}})
	count(deny(inp)) == 0
}

test_every_matching_rule_must_be_satisfied if {
	cfg := object.union(t.config, {"require": [
		{"images": ["ghcr.io/acme/**"], "signers": ["ci"], "line": 12},
		{"images": ["ghcr.io/*/app"], "signers": ["release"], "line": 30},
	]})
	inp := t.with_matched(t.app, {"require": [0, 1], "provenance": [0], "allowed_registry": true})
	ds := signatures.deny with input as inp with data.supplygate.config as cfg
	{x.expected | some x in ds} == {"a signature by `release` (config line 30)"}
}

test_a_rule_whose_single_star_does_not_reach_the_image_does_not_apply if {
	# `127.0.0.1:*/team/*` does not match `127.0.0.1:5000/team/a/b`.
	inp := t.doc(t.image("127.0.0.1:5000/team/a/b:1", "127.0.0.1:5000/team/a/b", "1", null))
	count(deny(inp)) == 0
}

test_a_rule_without_a_line_still_denies if {
	cfg := object.union(t.config, {"require": [{"images": ["ghcr.io/acme/**"], "signers": ["ci"]}]})
	ds := signatures.deny with input as with_sigs([]) with data.supplygate.config as cfg
	{x.expected | some x in ds} == {"a signature by `ci` (config)"}
}

test_a_rule_index_the_config_does_not_have_is_not_decided if {
	cfg := object.union(t.config, {"require": []})
	ds := signatures.deny with input as t.app with data.supplygate.config as cfg
	t.codes(ds) == {"policy-error"}
}

# `deny` skips the package's denials only for `[]`: an image no `require` rule names.
test_an_image_no_require_rule_names_has_no_signature_denial if {
	matched := object.union(t.app.image.matched, {"require": []})
	inp := object.union(t.app, {
		"image": object.union(t.app.image, {"matched": matched}),
		"signatures": {"error": {"code": "x", "message": "registry down"}},
	})
	count(deny(inp)) == 0
	t.codes(deny(object.union(inp, {"image": t.app.image}))) == {"signature-check-failed"}
}
