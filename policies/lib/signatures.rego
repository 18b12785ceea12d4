# Signature requirements (`require:` in supplygate.yaml): the resolved digest must carry a
# signature verified by one of each matching rule's signers. Platform signatures do not count.
package supplygate.signatures

import data.supplygate.lib.util

image := input.image

# The `require` rules whose globs match this image are `input.image.matched.require`, indexes
# into `data.supplygate.config.require` in config order (matched by the gate). Each rule below
# reads its config rule from data by index: a rule listing them first costs more than that.

# Every denial below needs a matching `require` rule (`some i in input.image.matched.require`):
# an image that no rule names, `[]`, skips them all at the cost of one comparison (a rule costs
# regorus about a microsecond even when its first literal fails). Without the list (undefined)
# none of them can fire either; any other value evaluates them. (`!=`, not `not … == []`: OPA
# takes `not` of a comparison with an undefined side for false, regorus for true.)
#
# The gate judges the same facts in Rust (`src/policy/facts.rs`): `matched.require_satisfied`
# is `true` only when the image resolved, its signatures were looked up and every matching rule
# has a signature on the resolved digest verified by one of its signers, i.e. when no denial
# below can fire. Then they are skipped (most images: a fifth of an allowed image's time). When
# it is `false` or missing (an input written by hand), they are evaluated. So every rule of
# `denials` must be one that a satisfied `require` rule rules out; a denial that does not
# depend on the signatures belongs in `deny` itself.
deny contains finding if {
	input.image.matched.require != []
	object.get(input.image.matched, "require_satisfied", false) != true
	some finding in denials
}

# The gate's rule indexes and the config data come from one config: an index without its rule
# is a bug, and a rule that cannot be read must not pass for one that is satisfied.
denials contains {
	"code": "policy-error",
	"msg": sprintf("the input for `%s` names `require` rules the config data does not have", [input.image.written]),
	"expected": "`image.matched.require` indexes into `data.supplygate.config.require`",
	"found": sprintf("%v", [input.image.matched.require]),
	"hint": "policies are evaluated on inputs the gate writes, with its config; see policies/input.schema.json",
} if {
	some i in input.image.matched.require
	not required(i)
}

# The config's `require` rule at index `i`, a number (OPA's data store would also read `"0"`
# as index 0, regorus would not: an index that is not a number is the same error in both).
required(i) if {
	is_number(i)
	data.supplygate.config.require[i]
}

digest := input.image.resolved_digest

checked := input.signatures if {
	is_object(input.signatures)
	object.get(input.signatures, "error", null) == null
}

facts := object.get(checked, "facts", [])

# `util.verified_by_one_of`, written out: a call into another package costs more here than
# the check itself. `fs`: the facts (a rule's value costs more than an argument's).
satisfied(rule, fs) if {
	some f in fs
	some s in f.verified_by
	s in rule.signers
}

expected(rule) := sprintf("a signature by %s (%s)", [util.or_list(rule.signers), util.config_line(rule)])

denials contains {
	"code": "unsigned-image",
	"msg": sprintf("`%s` (%s) has no signature", [input.image.written, digest]),
	"expected": expected(rule),
	"found": "none",
	"hint": sprintf("sign the digest in CI: `cosign sign --key … %s@%s`", [input.image.name, digest]),
} if {
	# Cheapest first (implied by the rest): there is no first fact.
	not input.signatures.facts[0]
	input.image.resolved == true
	some i in input.image.matched.require
	rule := data.supplygate.config.require[i]
	checked
	count(object.get(checked, "facts", [])) == 0
}

denials contains {
	"code": "signature-not-trusted",
	"msg": sprintf("%d signature%s on `%s` (%s), none by %s", [n, plural(n), input.image.written, digest, util.or_list(rule.signers)]),
	"expected": expected(rule),
	"found": concat("; ", [util.describe_signature(f) | some f in facts]),
	"hint": sprintf("`supplygate explain %s@%s` lists every signature and why it did not count", [input.image.name, digest]),
} if {
	input.image.resolved == true
	some i in input.image.matched.require
	rule := data.supplygate.config.require[i]
	checked
	fs := object.get(checked, "facts", [])
	n := count(fs)
	n > 0
	not satisfied(rule, fs)
}

# Fail closed: a rule applies, the image resolved, and there are no signature facts.
denials contains {
	"code": "signature-check-failed",
	"msg": sprintf("signatures of `%s` (%s) could not be checked: %s", [input.image.written, digest, why]),
	"expected": sprintf("the signatures of the digest, looked up (%s)", [util.config_line(rule)]),
	"found": why,
	"hint": "the gate fails closed; retry when the registry answers",
} if {
	not checked
	input.image.resolved == true
	some i in input.image.matched.require
	rule := data.supplygate.config.require[i]
	why := failure
}

failure := input.signatures.error.message if {
	is_string(input.signatures.error.message)
} else := "they were not looked up"

plural(1) := ""

plural(n) := "s" if n != 1
