# Helpers shared by the shipped packages: ref patterns, source repositories, builder and
# commit rules, and one-line descriptions of facts. No deny/warn here.
#
# Image globs are not matched here: the gate decides them in Rust (src/policy/facts.rs) and
# hands the result over as `input.image.matched` (which `require:` and `provenance:` rules name
# the image, whether its registry is allowed), so that the config's globs have one home.
package supplygate.lib.util

# Regular-expression metacharacters (RE2 and Rust regex) that a glob character must escape.
meta := {".", "+", "(", ")", "|", "[", "]", "{", "}", "^", "$", "\\"}

literal(c) := concat("", ["\\", c]) if meta[c]

else := c

chars(s) := [substring(s, i, 1) | some i in numbers.range(0, count(s) - 1)] if count(s) > 0

else := []

# Ref patterns (`refs/tags/v*`): `*` any run of characters, `/` included; `?` one character.
ref_piece(c) := ".*" if c == "*"

else := "." if c == "?"

else := literal(c)

ref_matches(pattern, ref) if {
	is_string(pattern)
	is_string(ref)
	git_ref(ref)
	re := concat("", ["^", concat("", [ref_piece(c) | some c in chars(pattern)]), "$"])
	regex.match(re, ref)
}

# Whether a ref found in provenance is a ref git could have (`git check-ref-format`): under
# `refs/`, without `..`, `//`, `@{`, a component starting with `.` or ending with `.lock`,
# control characters, spaces or `~^:?*[\`, and not ending with `/` or `.`. Anything else
# matches no pattern, so `refs/tags/v*` never accepts `refs/tags/v1/../../heads/dev`.
git_ref(ref) if {
	startswith(ref, "refs/")
	not regex.match(`\.\.|//|@\{|/\.|\.lock(/|$)|[/.]$|[\x00-\x20\x7f~^:?*\[\\]`, ref)
}

# A source URI's repository, normalised: scheme and host lowercased (`https` when there is no
# scheme), `git+`, user info, `@ref`, query, fragment, trailing `/` and `.git` removed.
# Undefined when it is not a repository URI.
normalize_repository(uri) := repo if {
	is_string(uri)
	u := trim_space(uri)
	u != ""
	count(u) <= 2048
	not regex.match(`[ \t\n\r\f\v]`, u)
	v := trim_prefix(u, "git+")
	[scheme, rest0] := split_scheme(v)
	regex.match(`^[a-z0-9+]+$`, scheme)
	rest := split(split(rest0, "?")[0], "#")[0]
	j := indexof(rest, "/")
	j >= 0
	authority := substring(rest, 0, j)
	at := split(authority, "@")
	host := lower(at[count(at) - 1])
	regex.match(`^[a-z0-9\[][a-z0-9._:\[\]-]*$`, host)
	path0 := split(substring(rest, j + 1, -1), "@")[0]
	path := trim_right(trim_suffix(trim_right(path0, "/"), ".git"), "/")
	path != ""
	repo := concat("", [scheme, "://", host, "/", path])
}

split_scheme(v) := [lower(substring(v, 0, i)), substring(v, i + 3, -1)] if {
	i := indexof(v, "://")
	i >= 0
} else := ["https", v]

# Whether two repository URIs name the same repository; a non-URI matches nothing.
repository_matches(expected, actual) if normalize_repository(expected) == normalize_repository(actual)

# Whether a trusted-builder rule (`{"match": "exact"|"prefix", "id"}`) accepts the builder id.
# A prefix matches only at a boundary: it ends with `/`, `@` or `:`, or the id continues with
# `/` or `@` right after it.
builder_accepts(rule, id) if {
	rule.match == "exact"
	is_string(id)
	id == rule.id
}

builder_accepts(rule, id) if {
	rule.match == "prefix"
	is_string(id)
	is_string(rule.id)
	rule.id != ""
	startswith(id, rule.id)
	prefix_boundary(rule.id, substring(id, count(rule.id), -1))
}

prefix_boundary(prefix, _) if endswith(prefix, "/")

prefix_boundary(prefix, _) if endswith(prefix, "@")

prefix_boundary(prefix, _) if endswith(prefix, ":")

prefix_boundary(_, rest) if rest == ""

prefix_boundary(_, rest) if startswith(rest, "/")

prefix_boundary(_, rest) if startswith(rest, "@")

# `trusted` as config writes it, for messages: `id` or `prefix*`.
builder_text(rule) := sprintf("`%s*`", [rule.id]) if rule.match == "prefix"

else := sprintf("`%s`", [rule.id])

# A full git commit: 40 or 64 lowercase hex digits.
full_commit(c) if {
	is_string(c)
	regex.match(`^([0-9a-f]{40}|[0-9a-f]{64})$`, c)
}

# Whether the provenance commit matches a claimed commit: the claim (7 hex digits or more,
# any case, surrounding space ignored) is a prefix of the full commit.
commit_matches_claim(commit, claimed) if {
	is_string(commit)
	is_string(claimed)
	c := lower(commit)
	full_commit(c)
	claim := lower(trim_space(claimed))
	count(claim) >= 7
	count(claim) <= count(c)
	regex.match(`^[0-9a-f]+$`, claim)
	startswith(c, claim)
}

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
config_value(path, default_value) := object.get(cfg, path, default_value) if {
	cfg := data.supplygate.config
} else := default_value

# Where a config rule is, for `expected`: "config line 12" (never undefined, so that a rule
# without a line still denies).
config_line(rule) := sprintf("config line %d", [rule.line]) if is_number(rule.line)

else := "config"
