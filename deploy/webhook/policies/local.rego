# Your own Rego rules, loaded next to the shipped library (README, "Policies"). This file is an
# example; replace or extend it. Every package under `supplygate` with `deny` or `warn` decides.
package supplygate.local

import rego.v1

# In the cluster, an image that git did not pin by digest is allowed (when signed) but warned
# about: the pull-request check and `supplygate pin` should have pinned it.
warn contains {
	"code": "unpinned-image",
	"msg": sprintf("`%s` is not pinned by digest", [input.image.written]),
	"hint": "pin it in git: `supplygate pin <manifests>`",
} if {
	input.mode == "admission"
	input.image.pinned == false
}
