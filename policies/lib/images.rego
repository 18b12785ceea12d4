# Image references: validity, resolution, the `latest` tag, allowed registries, images no rule
# covers, moved tags.
package supplygate.images

import data.supplygate.lib.util

digest_text := input.image.resolved_digest if is_string(input.image.resolved_digest)

else := input.image.digest if is_string(input.image.digest)

else := "no digest"

deny contains {
	"code": "invalid-reference",
	"msg": sprintf("`%s` is not a valid image reference: %s", [input.image.written, reason]),
	"expected": "`[registry/]repository[:tag][@sha256:<64 hex digits>]`",
	"found": sprintf("`%s`", [input.image.written]),
	"hint": "write `registry/repository:tag` or `…@sha256:<64 hex digits>`",
} if {
	input.image.valid == false
	reason := object.get(input.image, "invalid_reason", null)
	is_string(reason)
}

deny contains {
	"code": "invalid-reference",
	"msg": sprintf("`%s` is not a valid image reference", [input.image.written]),
	"expected": "`[registry/]repository[:tag][@sha256:<64 hex digits>]`",
	"found": sprintf("`%s`", [input.image.written]),
	"hint": "write `registry/repository:tag` or `…@sha256:<64 hex digits>`",
} if {
	input.image.valid == false
	not is_string(object.get(input.image, "invalid_reason", null))
}

deny contains {
	"code": "image-not-found",
	"msg": sprintf("`%s` does not resolve to a digest: %s", [input.image.written, input.image.error.message]),
	"expected": "the registry has the image (the digest must resolve)",
	"found": "not found",
	"hint": sprintf("check the tag and that CI pushed it: `skopeo inspect docker://%s` shows what the registry has", [input.image.normalized]),
} if {
	input.image.error.code == "image-not-found"
}

# Settings read straight from `data.supplygate.config` where a rule needs them: a rule of
# another package (`util.config_value`) costs regorus more than the rest of an allowed image's
# evaluation, and a rule of this one (a default) about as much as two deny rules. Each deny
# rule starts with the literal that fails for most images, so that an allowed image stops
# every rule at its first literal.
latest_allowed if data.supplygate.config.images.allow_latest == true

deny contains {
	"code": "latest-tag",
	"msg": sprintf("`%s` uses the `latest` tag", [input.image.written]),
	"expected": "a version tag (`policy.allow_latest` is off)",
	"found": "`latest`",
	"hint": latest_hint,
} if {
	input.image.tag == "latest"
	input.image.valid == true
	not latest_allowed
}

deny contains {
	"code": "latest-tag",
	"msg": sprintf("`%s` has neither a tag nor a digest, so it means `latest`", [input.image.written]),
	"expected": "a version tag or a digest (`policy.allow_latest` is off)",
	"found": "no tag, no digest (implicit `latest`)",
	"hint": latest_hint,
} if {
	input.image.tag == null
	input.image.digest == null
	input.image.valid == true
	not latest_allowed
}

latest_hint := "name a version tag instead of `latest`; the digest already pins what runs" if {
	is_string(input.image.digest)
} else := "name a version tag, then `supplygate pin` adds its digest (or set `policy.allow_latest: true`)"

allowed_registries := v if {
	v := data.supplygate.config.registries.allow
} else := []

# The rules' globs are decided by the gate (`input.image.matched`); an input that names an
# image without those facts cannot be decided, and an undecided image must not pass.
deny contains {
	"code": "policy-error",
	"msg": sprintf("the input for `%s` lacks `image.matched` (which rules name the image)", [input.image.written]),
	"expected": "`input.image.matched`, written by the gate",
	"found": "none",
	"hint": "policies are evaluated on inputs the gate writes; see policies/input.schema.json",
} if {
	is_string(input.image.name)
	# (Through object.get: OPA takes `not is_object(<undefined>)` for false, regorus for true.)
	not is_object(object.get(input.image, "matched", null))
}

deny contains {
	"code": "registry-not-allowed-by-policy",
	"msg": sprintf("`%s` (%s) is not from an allowed registry", [input.image.written, digest_text]),
	"expected": sprintf("an image matching %s (`policy.allowed_registries`)", [util.or_list(allowed_registries)]),
	"found": sprintf("`%s`", [input.image.name]),
	"hint": "mirror the image to an allowed registry, or add a pattern to `policy.allowed_registries`",
} if {
	input.image.matched.allowed_registry == false
	is_string(input.image.name)
}

# `policy.unmatched_images`: what happens to an image no `require:` or `provenance:` rule
# names (a registry alias or a spelling the globs did not foresee is then not a way around them).
unmatched := v if {
	v := data.supplygate.config.images.unmatched
} else := "allow"

covered if count(input.image.matched.require) > 0

covered if count(input.image.matched.provenance) > 0

not_covered := {
	"code": "image-not-covered",
	"msg": sprintf("`%s` is named by no `require:` or `provenance:` rule", [input.image.written]),
	"expected": sprintf("an image some rule names (`policy.unmatched_images: %s`)", [unmatched]),
	"found": sprintf("`%s`", [input.image.name]),
	"hint": "add a rule whose `images:` glob matches it, or write the image as the rules do",
}

deny contains not_covered if {
	data.supplygate.config.images.unmatched == "deny"
	is_string(input.image.name)
	not covered
}

warn contains not_covered if {
	data.supplygate.config.images.unmatched == "warn"
	is_string(input.image.name)
	not covered
}

warn contains {
	"code": "tag-moved",
	"msg": sprintf("tag `%s` of `%s` now points to another digest than the one pinned", [input.image.tag, input.image.written]),
	"expected": input.image.digest,
	"found": input.image.tag_digest,
	"hint": "the pinned digest is what runs; re-pin with `supplygate pin` if the tag was moved on purpose",
} if {
	is_string(input.image.tag_digest)
	is_string(input.image.tag)
	is_string(input.image.digest)
	input.image.tag_digest != input.image.digest
}
