# Provenance rules (`provenance:` in supplygate.yaml): the image needs one SLSA provenance,
# verified by one of the rule's signers, that passes every check of the rule (builder, source
# repository, refs, claimed commit, commit-SHA tag, certificate agreement, reachability).
# When none passes, the failures of the first verified one are reported.
package supplygate.provenance

import data.supplygate.lib.util

image := input.image

digest := input.image.resolved_digest

# The `provenance` rules whose globs match this image, in config order (matched by the gate),
# each with its index. (Read from data by index: a rule holding the config's list costs more.)
# An index that is not a number is left out (OPA's data store would read `"0"` as index 0,
# regorus would not), so that it is the `policy-error` below in both.
rules := [object.union(data.supplygate.config.provenance[i], {"index": i}) |
	some i in input.image.matched.provenance
	is_number(i)
]

# Every denial below needs a matching `provenance` rule (`some i in input.image.matched.provenance`, or
# a count of them that the config does not have): an image that no rule names, `[]`, skips them
# all at the cost of one comparison (a rule costs regorus about a microsecond even when its
# first literal fails). Without the list (undefined) none of them can fire either; any other
# value evaluates them. (`!=`, not `not … == []`: OPA takes `not` of a comparison with an
# undefined side for false, regorus for true.)
#
# The gate judges the same checks in Rust (`src/policy/facts.rs`):
# `matched.provenance_satisfied` is `true` only when the image resolved, its attestations were
# looked up and every matching rule has a verified provenance that `passes` about the resolved
# digest, or one about each platform of the index (`satisfied` below), i.e. when no denial
# below can fire. Then they are skipped (most images: half of an allowed image's time). When it
# is `false` or missing (an input written by hand), they are evaluated. So every rule of
# `denials` must be one that a satisfied `provenance` rule rules out; a denial that does not
# depend on the provenance belongs in `deny` itself.
deny contains finding if {
	input.image.matched.provenance != []
	object.get(input.image.matched, "provenance_satisfied", false) != true
	some finding in denials
}

# The gate's rule indexes and the config data come from one config: an index without its rule
# is a bug, and a rule that cannot be read must not pass for one that is satisfied.
denials contains {
	"code": "policy-error",
	"msg": sprintf("the input for `%s` names `provenance` rules the config data does not have", [input.image.written]),
	"expected": "`image.matched.provenance` indexes into `data.supplygate.config.provenance`",
	"found": sprintf("%v", [input.image.matched.provenance]),
	"hint": "policies are evaluated on inputs the gate writes, with its config; see policies/input.schema.json",
} if {
	count(rules) != count(input.image.matched.provenance)
}

checked := input.attestations if {
	is_object(input.attestations)
	object.get(input.attestations, "error", null) == null
}

facts := object.get(checked, "facts", [])

# Per matching rule (by its config index), judged once per evaluation (a rule without
# arguments is computed once; a function would be called again by every rule that asks): the
# verified SLSA provenance facts (their indexes, in the order found), those that pass every
# check of the rule and those that fail some. Whether a provenance was verified by one of the
# rule's signers and whether it passes are the gate's answers (`verified`, and `passes`: every
# check of `input.provenance_checks` at once, decided in Rust from the verified evidence); one
# without `passes: true` fails, and the failures of the first failing one are explained below
# from the same checks. A rule without one check per attestation is not judged (see `unjudged`).
judged := {rule.index: v |
	some rule in rules
	checks := checks_of(rule.index)
	count(checks) == count(facts)
	ver := [j | some j, c in checks; c.verified == true]
	v := {
		"verified": ver,
		"passing": [j | some j in ver; checks[j].passes == true],
		"failing": [j | some j in ver; not checks[j].passes == true],
	}
}

checks_of(i) := c if {
	c := input.provenance_checks[i]
	is_array(c)
} else := []

verified(rule) := judged[rule.index].verified

passing(rule) := judged[rule.index].passing

failing(rule) := judged[rule.index].failing

# The gate's checks of fact `j` under `rule` (`input.provenance_checks`): builder, source
# repository and ref, claimed commit, commit-SHA tag and the reachability answers that concern
# it, decided in Rust where those rules have their one home.
check(rule, j) := c if {
	c := input.provenance_checks[rule.index][j]
	is_object(c)
} else := null

# A passing provenance about the resolved digest satisfies the rule. Provenance about the
# platforms of an index satisfies it only when every platform has its own passing provenance:
# one good platform must not carry a sibling built elsewhere, or not attested at all.
satisfied(rule) if {
	some j in judged[rule.index].passing
	subject_platform(facts[j]) == null
} else := true if {
	platforms := object.get(input.image, "platforms", [])
	count(platforms) > 0
	ok := judged[rule.index].passing
	every p in platforms {
		some j in ok
		subject_digest(facts[j]) == p.digest
	}
}

# Platforms of the index without a passing provenance, for messages.
uncovered(rule) := [platform_label(p) |
	some p in object.get(image, "platforms", [])
	not platform_passes(rule, p.digest)
]

# An index entry without a platform counts (a runtime may select it): the registry stage
# gives it an empty os and architecture.
platform_label(p) := "(no platform)" if {
	object.get(p, "os", "") == ""
	object.get(p, "architecture", "") == ""
} else := sprintf("%s/%s", [p.os, p.architecture])

platform_passes(rule, digest) if {
	some j in passing(rule)
	subject_digest(facts[j]) == digest
}

# The subject a fact matched: the resolved digest, or one platform of the index.
subject_platform(f) := p if {
	sm := object.get(f, "subject_match", null)
	is_object(sm)
	p := object.get(sm, "platform", null)
} else := null

subject_digest(f) := d if {
	sm := object.get(f, "subject_match", null)
	is_object(sm)
	d := object.get(sm, "digest", null)
} else := null

at(rule) := util.config_line(rule)

# Without the gate's checks of every attestation the provenance cannot be judged, and an
# unjudged one must not pass.
denials contains {
	"code": "policy-error",
	"msg": sprintf("the input for `%s` (%s) lacks the gate's checks of its attestations (`provenance_checks`)", [input.image.written, digest]),
	"expected": "`input.provenance_checks`, written by the gate: one entry per attestation",
	"found": sprintf("%d for %d attestations", [count(checks_of(rule.index)), count(facts)]),
	"hint": "policies are evaluated on inputs the gate writes; see policies/input.schema.json",
} if {
	input.image.resolved == true
	some rule in rules
	checked
	not judged[rule.index]
}

denials contains {
	"code": "provenance-missing",
	"msg": sprintf("`%s` (%s) has no SLSA provenance signed by %s", [input.image.written, digest, util.or_list(rule.signers)]),
	"expected": sprintf("SLSA provenance signed by %s (%s)", [util.or_list(rule.signers), at(rule)]),
	"found": found,
	"hint": sprintf("attach it in CI (`cosign attest --type slsaprovenance1 …`, or slsa-github-generator); `supplygate explain %s@%s` shows what is there", [input.image.name, digest]),
} if {
	input.image.resolved == true
	some rule in rules
	checked
	count(judged[rule.index].verified) == 0
	found := described_attestations
}

described_attestations := "no attestation" if count(facts) == 0

else := concat("; ", [util.describe_attestation(f) | some f in facts])

# The matching rules with verified provenance that none satisfies, judged once per evaluation
# (`satisfied` is a function, computed again wherever it is called).
unsatisfied := [rule |
	some rule in rules
	checked
	count(judged[rule.index].verified) > 0
	not satisfied(rule)
]

# Per unsatisfied rule with a failing provenance: the failures of the first one, once.
first_failures := {rule.index: failures(rule, bad[0]) |
	some rule in unsatisfied
	bad := judged[rule.index].failing
	count(bad) > 0
}

# Not satisfied: the failures of the first verified provenance that fails the rule.
denials contains finding if {
	# (Implied by the rest: `first_failures` has an entry per unsatisfied rule at most.)
	unsatisfied[0]
	input.image.resolved == true
	some found in first_failures
	some finding in found
}

# The gate says a provenance fails the rule, and none of its checks says why: the input and
# the checks disagree, and what cannot be explained must not pass.
denials contains {
	"code": "policy-error",
	"msg": sprintf("the gate's checks of attestation %d of `%s` (%s) fail the rule without a failing check", [bad[0], input.image.written, digest]),
	"expected": sprintf("`input.provenance_checks` that say which check fails (%s)", [at(rule)]),
	"found": sprintf("%v", [check(rule, bad[0])]),
	"hint": "policies are evaluated on inputs the gate writes; see policies/input.schema.json",
} if {
	input.image.resolved == true
	some rule in unsatisfied
	count(first_failures[rule.index]) == 0
	bad := judged[rule.index].failing
}

# Not satisfied, and nothing fails: only some platforms of the index have provenance.
denials contains {
	"code": "provenance-missing",
	"msg": sprintf("`%s` (%s) has SLSA provenance for some platforms only: none passes the rule for %s", [input.image.written, digest, concat(", ", uncovered(rule))]),
	"expected": sprintf("passing SLSA provenance signed by %s for the index or for every platform (%s)", [util.or_list(rule.signers), at(rule)]),
	"found": sprintf("none for %s", [concat(", ", uncovered(rule))]),
	"hint": "attest the index digest, or every platform digest, in CI",
} if {
	input.image.resolved == true
	some rule in unsatisfied
	count(judged[rule.index].failing) == 0
}

denials contains {
	"code": "provenance-check-failed",
	"msg": sprintf("attestations of `%s` (%s) could not be checked: %s", [input.image.written, digest, failure]),
	"expected": sprintf("the attestations of the digest, looked up (%s)", [at(rule)]),
	"found": failure,
	"hint": "the gate fails closed; retry when the registry answers",
} if {
	not checked
	input.image.resolved == true
	some rule in rules
}

failure := input.attestations.error.message if {
	is_string(input.attestations.error.message)
} else := "they were not looked up"

# Everything one verified provenance (fact `j`) fails of a rule (empty: it satisfies the rule).
# `c`: the gate's checks of it, looked up once and handed to each part (a lookup per part cost
# regorus a seventh of a denied image's time).
failures(rule, j) := fs if {
	c := check(rule, j)
	fs := ((((missing_check(rule, j, c) | builder_failures(rule, j, c)) | repository_failures(rule, j, c)) | ref_failures(rule, j, c)) | claim_failures(rule, j, c)) | (((tag_failures(rule, j, c) | certificate_failures(rule, j)) | reachability_failures(rule, j, c)))
}

# Without the gate's checks the provenance cannot be judged, and an unjudged one must not pass.
missing_check(rule, j, c) := {x |
	c == null
	x := {
		"code": "policy-error",
		"msg": sprintf("the input for `%s` (%s) lacks the gate's checks of attestation %d (`provenance_checks`)", [input.image.written, digest, j]),
		"expected": "`input.provenance_checks`, written by the gate",
		"found": "none",
		"hint": "policies are evaluated on inputs the gate writes; see policies/input.schema.json",
	}
}

or_none(v) := v if is_string(v)

else := "none"

commit_text(p) := p.source_commit if is_string(p.source_commit)

else := "no commit in the provenance"

builder_failures(rule, j, c) := {x |
	c.builder_trusted == false
	id := facts[j].provenance.builder_id
	x := {
		"code": "untrusted-builder",
		"msg": sprintf("`%s` (%s) was built by an untrusted builder", [input.image.written, digest]),
		"expected": sprintf("%s (%s)", [concat(" or ", [util.builder_text(b) | some b in rule.builders]), at(rule)]),
		"found": or_none(id),
		"hint": "build with a trusted builder, or add this one to `builders` if you trust it",
	}
}

repository_failures(rule, j, c) := {x |
	c.source_repository_matches == false
	actual := facts[j].provenance.source_repository
	x := {
		"code": "source-repository-mismatch",
		"msg": sprintf("`%s` (%s) was built from another source repository", [input.image.written, digest]),
		"expected": sprintf("`%s` (%s)", [rule.source, at(rule)]),
		"found": or_none(actual),
		"hint": "a build from a fork or another repository: check which pipeline pushed this digest",
	}
}

ref_failures(rule, j, c) := {x |
	c.source_ref_allowed == false
	actual := facts[j].provenance.source_ref
	x := {
		"code": "source-ref-not-allowed",
		"msg": sprintf("`%s` (%s) was built from a ref that is not allowed", [input.image.written, digest]),
		"expected": sprintf("%s (%s)", [util.or_list(rule.refs), at(rule)]),
		"found": or_none(actual),
		"hint": "release from an allowed branch or tag",
	}
}

# The commit the workload claims (its `source.commit_key` annotation, else that label) is
# found by the gate: `input.source_claim`.
claim_failures(rule, j, c) := {x |
	c.commit_claim_matches == false
	claim := input.source_claim
	x := {
		"code": "source-commit-mismatch",
		"msg": sprintf("`%s` (%s) was not built from the commit the manifest claims (%s `%s`)", [input.image.written, digest, claim.from, claim.key]),
		"expected": sprintf("`%s`", [claim.value]),
		"found": commit_text(facts[j].provenance),
		"hint": "the manifest names one commit and the image was built from another: update the image or the claim",
	}
}

# A tag of 7 to 40 hex digits is taken for a commit SHA (by the gate).
tag_failures(rule, j, c) := {x |
	c.tag_commit_matches == false
	tag := input.image.tag
	x := {
		"code": "source-commit-mismatch",
		"msg": sprintf("tag `%s` of `%s` (%s) looks like a commit SHA but the image was built from another commit", [tag, input.image.written, digest]),
		"expected": sprintf("a commit starting with `%s`", [tag]),
		"found": commit_text(facts[j].provenance),
		"hint": "the tag = commit SHA convention is broken: was the tag moved, or pushed by another build?",
	}
}

certificate_failures(_, j) := {x |
	agreement := object.get(facts[j], "certificate_agreement", null)
	is_object(agreement)
	disagreements := [d |
		some what in ["repository", "commit"]
		a := agreement[what]
		a.result == "disagrees"
		d := sprintf("the certificate names %s `%s`, the provenance `%s`", [what, a.certificate, a.provenance])
	]
	count(disagreements) > 0
	x := {
		"code": "certificate-provenance-mismatch",
		"msg": sprintf("the certificate that signed the provenance of `%s` (%s) names another repository or commit than the provenance", [input.image.written, digest]),
		"expected": "certificate and provenance agree",
		"found": concat("; ", disagreements),
		"hint": "the attestation was signed by a workflow of another repository or commit: do not trust it",
	}
}

# The answers of `input.reachability` that concern fact `j` under `rule` are picked by the
# gate: the same repository (normalised), the same commit, the rule's refs (or any branch or
# tag when it names none).
reachability_failures(rule, j, c) := {x |
	# A clone is configured for the repository but the provenance names no commit: the
	# commit cannot be checked, and an unchecked commit is not an allowed one.
	some k in c.no_commit
	r := input.reachability[k]
	x := {
		"code": "commit-not-reachable",
		"msg": sprintf("the provenance of `%s` (%s) names no commit, so it cannot be checked in the clone of its repository", [input.image.written, digest]),
		"expected": sprintf("a commit reachable from %s in `%s`", [util.or_list(r.refs), r.clone]),
		"found": "no commit in the provenance",
		"hint": "build with a builder that records the source commit (resolvedDependencies / configSource digest)",
	}
} | {x |
	some k in c.reachability
	r := input.reachability[k]
	r.result == "not-reachable"
	x := {
		"code": "commit-not-reachable",
		"msg": sprintf("commit `%s` of `%s` (%s) is not on an allowed branch or tag", [r.commit, input.image.written, digest]),
		"expected": sprintf("reachable from %s in `%s`", [util.or_list(r.refs), r.clone]),
		"found": sprintf("%s (a side branch?)", [object.get(r, "message", "on none of the matching refs")]),
		"hint": "merge the change to an allowed branch and build from there; `git fetch` if the clone is old",
	}
} | {x |
	some k in c.reachability
	r := input.reachability[k]
	r.result == "not-in-clone"
	x := {
		"code": "commit-not-reachable",
		"msg": sprintf("commit `%s` of `%s` (%s) is not in the clone of its source repository", [r.commit, input.image.written, digest]),
		"expected": sprintf("a commit of `%s`", [r.clone]),
		"found": "unknown commit (a fork, or the clone is out of date)",
		"hint": "`git fetch` the clone; a commit from a fork must not be deployed",
	}
} | {x |
	some k in c.reachability
	r := input.reachability[k]
	not r.result in {"reachable", "not-reachable", "not-in-clone"}
	x := {
		"code": "provenance-check-failed",
		"msg": sprintf("cannot check commit `%s` of `%s` (%s) in `%s`: %s", [r.commit, input.image.written, digest, r.clone, object.get(r, "message", "unknown error")]),
		"expected": sprintf("an answer from the clone `%s`", [r.clone]),
		"found": object.get(r, "message", "unknown error"),
		"hint": "check the clone path in `source.clones` or `--source-repo`",
	}
}
