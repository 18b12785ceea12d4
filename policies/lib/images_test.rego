package supplygate.images_test

import data.supplygate.images
import data.supplygate.testdata_test as t

deny(inp) := x if {
	x := images.deny with input as inp with data.supplygate.config as t.config
}

warn(inp) := x if {
	x := images.warn with input as inp with data.supplygate.config as t.config
}

test_allows_a_versioned_image_from_an_allowed_registry if {
	count(deny(t.nginx("1.25"))) == 0
	count(warn(t.nginx("1.25"))) == 0
}

test_denies_an_invalid_reference_with_its_reason if {
	inp := object.union(t.nginx("1.25"), {"image": {"written": "Nginx", "valid": false, "name": null, "invalid_reason": "repository names must be lowercase"}})
	some x in deny(inp)
	x.code == "invalid-reference"
	x.msg == "`Nginx` is not a valid image reference: repository names must be lowercase"
	t.codes(deny(inp)) == {"invalid-reference"}
}

test_denies_an_invalid_reference_without_a_reason if {
	inp := object.union(t.nginx("1.25"), {"image": {"valid": false, "name": null, "invalid_reason": null}})
	t.codes(deny(inp)) == {"invalid-reference"}
}

test_denies_an_image_that_is_not_found if {
	inp := object.union(t.nginx("9.9"), {"image": {"resolved": false, "error": {"code": "image-not-found", "message": "no such tag"}}})
	some x in deny(inp)
	x.code == "image-not-found"
	contains(x.hint, "skopeo inspect docker://nginx:9.9")
}

test_other_registry_errors_are_not_policy_denials if {
	inp := object.union(t.nginx("9.9"), {"image": {"resolved": false, "error": {"code": "registry-timeout", "message": "timed out"}}})
	count(deny(inp)) == 0
}

test_denies_the_latest_tag if {
	t.codes(deny(t.nginx("latest"))) == {"latest-tag"}
}

test_denies_no_tag_and_no_digest_as_implicit_latest if {
	inp := object.union(t.nginx("x"), {"image": {"written": "nginx", "tag": null}})
	some x in deny(inp)
	x.code == "latest-tag"
	x.found == "no tag, no digest (implicit `latest`)"
}

test_allows_a_digest_only_reference if {
	inp := object.union(t.nginx("x"), {"image": {"tag": null, "digest": t.d}})
	count(deny(inp)) == 0
}

test_allows_latest_when_configured if {
	cfg := object.union(t.config, {"images": {"allow_latest": true}})
	count(images.deny) == 0 with input as t.nginx("latest") with data.supplygate.config as cfg
}

test_denies_a_registry_no_glob_matches if {
	inp := t.doc(t.image("quay.io/evil/app:1", "quay.io/evil/app", "1", null))
	some x in deny(inp)
	x.code == "registry-not-allowed-by-policy"
	x.found == "`quay.io/evil/app`"
	x.expected == "an image matching `ghcr.io/acme/**` or `docker.io/library/*` or `127.0.0.1:*/team/**` (`policy.allowed_registries`)"
}

test_single_star_does_not_cross_a_segment if {
	inp := t.doc(t.image("library/team/app:1", "docker.io/library/team/app", "1", null))
	t.codes(deny(inp)) == {"registry-not-allowed-by-policy"}
}

test_double_star_crosses_segments_and_port_globs_match if {
	count(deny(t.doc(t.image("ghcr.io/acme/a/b/c:1", "ghcr.io/acme/a/b/c", "1", null)))) == 0
	count(deny(t.doc(t.image("127.0.0.1:5000/team/x/y:1", "127.0.0.1:5000/team/x/y", "1", null)))) == 0
}

test_double_star_needs_the_separator_before_it if {
	# `ghcr.io/acme/**` does not match `ghcr.io/acme` itself nor `ghcr.io/acme-evil/x`.
	t.codes(deny(t.doc(t.image("ghcr.io/acme:1", "ghcr.io/acme", "1", null)))) == {"registry-not-allowed-by-policy"}
	t.codes(deny(t.doc(t.image("ghcr.io/acme-evil/x:1", "ghcr.io/acme-evil/x", "1", null)))) == {"registry-not-allowed-by-policy"}
}

test_an_empty_allow_list_allows_any_registry if {
	cfg := object.union(t.config, {"registries": {"allow": []}})
	inp := t.with_matched(t.doc(t.image("quay.io/x/y:1", "quay.io/x/y", "1", null)), {"require": [], "provenance": [], "allowed_registry": null})
	count(images.deny) == 0 with input as inp with data.supplygate.config as cfg
}

test_short_globs_are_normalised_like_image_names if {
	cfg := object.union(t.config, {"registries": {"allow": ["nginx", "acme/*"]}})
	allowed := {"require": [], "provenance": [], "allowed_registry": true}
	count(images.deny) == 0 with input as t.with_matched(t.nginx("1.25"), allowed) with data.supplygate.config as cfg
	acme := t.with_matched(t.doc(t.image("acme/app:1", "docker.io/acme/app", "1", null)), allowed)
	count(images.deny) == 0 with input as acme with data.supplygate.config as cfg
}

test_warns_when_the_pinned_tag_moved if {
	inp := object.union(t.nginx("1.25"), {"image": {"digest": t.d, "tag_digest": t.d2}})
	some x in warn(inp)
	x.code == "tag-moved"
	x.expected == t.d
	x.found == t.d2
	count(deny(inp)) == 0
}

test_does_not_warn_when_the_tag_still_points_to_the_pin if {
	inp := object.union(t.nginx("1.25"), {"image": {"digest": t.d, "tag_digest": t.d}})
	count(warn(inp)) == 0
}

test_unmatched_images_are_allowed_by_default if {
	# docker.io/library/nginx is named by no rule in t.config.
	t.codes(deny(t.nginx("1.25"))) == set()
	t.codes(warn(t.nginx("1.25"))) == set()
}

test_unmatched_images_are_denied_or_warned_when_configured if {
	deny_cfg := object.union(t.config, {"images": {"unmatched": "deny"}})
	denied := images.deny with input as t.nginx("1.25") with data.supplygate.config as deny_cfg
	some x in denied
	x.code == "image-not-covered"
	x.found == "`docker.io/library/nginx`"
	x.expected == "an image some rule names (`policy.unmatched_images: deny`)"
	warn_cfg := object.union(t.config, {"images": {"unmatched": "warn"}})
	not_denied := images.deny with input as t.nginx("1.25") with data.supplygate.config as warn_cfg
	warned := images.warn with input as t.nginx("1.25") with data.supplygate.config as warn_cfg
	t.codes(not_denied) == set()
	t.codes(warned) == {"image-not-covered"}
}

test_an_image_a_require_or_provenance_rule_names_is_covered if {
	cfg := object.union(t.config, {"images": {"unmatched": "deny"}})
	required := t.doc(t.image("ghcr.io/acme/x/y:1", "ghcr.io/acme/x/y", "1", null))
	by_require := images.deny with input as required with data.supplygate.config as cfg
	count(by_require) == 0

	# Named by the provenance rule only.
	only_provenance := object.union(cfg, {"require": []})
	app := t.with_matched(t.doc(t.image("ghcr.io/acme/app:1", "ghcr.io/acme/app", "1", null)), {"require": [], "provenance": [0], "allowed_registry": true})
	by_provenance := images.deny with input as app with data.supplygate.config as only_provenance
	t.codes(by_provenance) == set()

	# `ghcr.io/acme-evil/x` is not under `ghcr.io/acme/**` (nor allowed by the registry list).
	evil := t.doc(t.image("ghcr.io/acme-evil/x:1", "ghcr.io/acme-evil/x", "1", null))
	uncovered := images.deny with input as evil with data.supplygate.config as cfg
	"image-not-covered" in t.codes(uncovered)
}

test_an_input_without_the_matched_facts_is_not_decided if {
	inp := t.nginx("1.25")
	bare := object.union(object.remove(inp, ["image"]), {"image": object.remove(inp.image, ["matched"])})
	t.codes(deny(bare)) == {"policy-error"}
}
