# Image references: validity, resolution, the `latest` tag, allowed registries, images no rule
# covers, moved tags.
package supplygate.images

import data.supplygate.lib.util

image := input.image

digest_text := image.resolved_digest if is_string(image.resolved_digest)

else := image.digest if is_string(image.digest)

else := "no digest"

deny contains {
	"code": "invalid-reference",
	"msg": sprintf("`%s` is not a valid image reference: %s", [image.written, reason]),
	"expected": "`[registry/]repository[:tag][@sha256:<64 hex digits>]`",
	"found": sprintf("`%s`", [image.written]),
	"hint": "write `registry/repository:tag` or `…@sha256:<64 hex digits>`",
} if {
	image.valid == false
	reason := object.get(image, "invalid_reason", null)
	is_string(reason)
}

deny contains {
	"code": "invalid-reference",
	"msg": sprintf("`%s` is not a valid image reference", [image.written]),
	"expected": "`[registry/]repository[:tag][@sha256:<64 hex digits>]`",
	"found": sprintf("`%s`", [image.written]),
	"hint": "write `registry/repository:tag` or `…@sha256:<64 hex digits>`",
} if {
	image.valid == false
	not is_string(object.get(image, "invalid_reason", null))
}

deny contains {
	"code": "image-not-found",
	"msg": sprintf("`%s` does not resolve to a digest: %s", [image.written, image.error.message]),
	"expected": "the registry has the image (the digest must resolve)",
	"found": "not found",
	"hint": sprintf("check the tag and that CI pushed it: `skopeo inspect docker://%s` shows what the registry has", [image.normalized]),
} if {
	image.error.code == "image-not-found"
}

allow_latest := object.get(util.config, ["images", "allow_latest"], false)

deny contains {
	"code": "latest-tag",
	"msg": sprintf("`%s` uses the `latest` tag", [image.written]),
	"expected": "a version tag (`policy.allow_latest` is off)",
	"found": "`latest`",
	"hint": latest_hint,
} if {
	allow_latest != true
	image.valid == true
	image.tag == "latest"
}

deny contains {
	"code": "latest-tag",
	"msg": sprintf("`%s` has neither a tag nor a digest, so it means `latest`", [image.written]),
	"expected": "a version tag or a digest (`policy.allow_latest` is off)",
	"found": "no tag, no digest (implicit `latest`)",
	"hint": latest_hint,
} if {
	allow_latest != true
	image.valid == true
	image.tag == null
	image.digest == null
}

latest_hint := "name a version tag instead of `latest`; the digest already pins what runs" if {
	is_string(image.digest)
} else := "name a version tag, then `supplygate pin` adds its digest (or set `policy.allow_latest: true`)"

allowed_registries := object.get(util.config, ["registries", "allow"], [])

# The rules' globs are decided by the gate (`input.image.matched`); an input that names an
# image without those facts cannot be decided, and an undecided image must not pass.
deny contains {
	"code": "policy-error",
	"msg": sprintf("the input for `%s` lacks `image.matched` (which rules name the image)", [image.written]),
	"expected": "`input.image.matched`, written by the gate",
	"found": "none",
	"hint": "policies are evaluated on inputs the gate writes; see policies/input.schema.json",
} if {
	is_string(image.name)
	not is_object(object.get(image, "matched", null))
}

deny contains {
	"code": "registry-not-allowed-by-policy",
	"msg": sprintf("`%s` (%s) is not from an allowed registry", [image.written, digest_text]),
	"expected": sprintf("an image matching %s (`policy.allowed_registries`)", [util.or_list(allowed_registries)]),
	"found": sprintf("`%s`", [image.name]),
	"hint": "mirror the image to an allowed registry, or add a pattern to `policy.allowed_registries`",
} if {
	is_string(image.name)
	image.matched.allowed_registry == false
}

# `policy.unmatched_images`: what happens to an image no `require:` or `provenance:` rule
# names (a registry alias or a spelling the globs did not foresee is then not a way around them).
unmatched := object.get(util.config, ["images", "unmatched"], "allow")

covered if count(image.matched.require) > 0

covered if count(image.matched.provenance) > 0

not_covered := {
	"code": "image-not-covered",
	"msg": sprintf("`%s` is named by no `require:` or `provenance:` rule", [image.written]),
	"expected": sprintf("an image some rule names (`policy.unmatched_images: %s`)", [unmatched]),
	"found": sprintf("`%s`", [image.name]),
	"hint": "add a rule whose `images:` glob matches it, or write the image as the rules do",
}

deny contains not_covered if {
	unmatched == "deny"
	is_string(image.name)
	not covered
}

warn contains not_covered if {
	unmatched == "warn"
	is_string(image.name)
	not covered
}

warn contains {
	"code": "tag-moved",
	"msg": sprintf("tag `%s` of `%s` now points to another digest than the one pinned", [image.tag, image.written]),
	"expected": image.digest,
	"found": image.tag_digest,
	"hint": "the pinned digest is what runs; re-pin with `supplygate pin` if the tag was moved on purpose",
} if {
	is_string(image.tag)
	is_string(image.digest)
	is_string(image.tag_digest)
	image.tag_digest != image.digest
}
