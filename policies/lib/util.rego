# Helpers shared by the shipped packages: config values and one-line descriptions of facts.
# No deny/warn here.
#
# No rule is matched here: image globs, builder ids, ref patterns, source repositories and
# commit claims are decided by the gate in Rust (src/policy/facts.rs), once per image, and
# handed over as facts (`input.image.matched`, `input.source_claim`,
# `input.provenance_checks`), so that each rule has one home and both engines read the same
# answers.
package supplygate.lib.util

# `trusted` as config writes it, for messages: `id` or `prefix*`.
builder_text(rule) := sprintf("`%s*`", [rule.id]) if rule.match == "prefix"

else := sprintf("`%s`", [rule.id])

# `a`, `b` -> "`a` or `b`".
or_list(names) := concat(" or ", [sprintf("`%s`", [n]) | some n in names])

# Where an attached artifact was found, in one phrase.
place(loc) := sprintf("%s layer %d", [loc.tag, loc.layer]) if loc.via == "cosign-tag"

else := sprintf("referrer %s (tag %s)", [loc.manifest, loc.tag]) if loc.via == "referrers-tag"

else := sprintf("referrer %s", [loc.manifest]) if loc.via == "referrers"

else := "an unknown place"

rejection_text(r) := r.reason if r.signer == "*"

else := sprintf("`%s`: %s", [r.signer, r.reason])

verdict(f) := sprintf("verified by `%s`", [concat("`, `", f.verified_by)]) if count(f.verified_by) > 0

else := concat(", ", [rejection_text(r) | some r in object.get(f, "rejections", [])])

# One signature in one line: where, and each signer's verdict.
describe_signature(f) := sprintf("%s: %s", [place(f.location), verdict(f)])

# One attestation in one line: where, what, and the verdict.
describe_attestation(f) := sprintf("%s (%s): %s", [place(f.location), predicate(f), verdict(f)])

predicate(f) := f.predicate_type if is_string(object.get(f, "predicate_type", null))

else := "unknown predicate"

# Whether a fact was verified by one of `signers`.
verified_by_one_of(f, signers) if {
	some s in f.verified_by
	s in signers
}

# A config value with a default (`data.supplygate.config` may leave keys out).
config_value(path, default_value) := object.get(config, path, default_value)

# `data.supplygate.config`, or an empty one. A rule, computed once per evaluation: the packages
# read their settings with `object.get(util.config, path, default)`, which costs less than a
# call of `config_value` in each.
config := c if {
	c := data.supplygate.config
	is_object(c)
} else := {}

# Where a config rule is, for `expected`: "config line 12" (never undefined, so that a rule
# without a line still denies).
config_line(rule) := sprintf("config line %d", [rule.line]) if is_number(rule.line)

else := "config"
