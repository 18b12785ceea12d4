package supplygate.lib.util_test

import data.supplygate.lib.util

# The image-glob tests (`image_matches`, `normalize_glob`) moved to src/policy/facts.rs with
# the globs: the gate decides them and hands the policies `input.image.matched`.

# The ref, repository, builder and commit-claim tests moved to src/policy/facts.rs with
# those rules: the gate decides them and hands the policies `input.provenance_checks`.

test_describes_places_and_verdicts if {
	util.describe_signature({"location": {"via": "cosign-tag", "tag": "t.sig", "manifest": "m", "layer": 2}, "verified_by": ["a", "b"]}) == "t.sig layer 2: verified by `a`, `b`"
	util.describe_signature({"location": {"via": "referrers-tag", "tag": "sha256-x", "manifest": "m"}, "verified_by": [], "rejections": [{"signer": "*", "reason": "bad"}, {"signer": "ci", "reason": "other key"}]}) == "referrer m (tag sha256-x): bad, `ci`: other key"
	util.describe_attestation({"location": {"via": "referrers", "manifest": "m"}, "verified_by": [], "rejections": []}) == "referrer m (unknown predicate): "
}
