#!/usr/bin/env bash
# The test command: README and CI run exactly this.
# Installs the real registry and skopeo the integration tests need, then runs fmt, clippy and
# every test.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
# groff parses the generated man pages; patch applies `pin --dry-run` diffs.
for tool in docker-registry skopeo htpasswd groff patch; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
# SARIF reports are validated against the OASIS schema with Debian's python3-jsonschema.
/usr/bin/python3 -c "import jsonschema" 2>/dev/null || missing+=(python3-jsonschema)
if ((${#missing[@]})); then
  echo "installing docker-registry, skopeo, apache2-utils, python3-jsonschema, groff-base, patch (missing: ${missing[*]})" >&2
  sudo=()
  if [[ $(id -u) != 0 ]] && command -v sudo >/dev/null; then
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends docker-registry skopeo apache2-utils \
    python3-jsonschema groff-base patch
fi

locked=()
if [[ -f Cargo.lock ]]; then
  locked=(--locked)
fi

cargo fmt --all -- --check
cargo clippy --all-targets "${locked[@]}" -- -D warnings
# Our own supply chain: advisories (vendored RustSec snapshot, offline), licences, duplicate
# crates, sources (deny.toml; installs cargo-deny into target/tools on first use).
bash tests/deny.sh
# No import cycle among the modules of src/ (the graph follows the pipeline; docs/development.md),
# nor among their children and grandchildren (e.g. verify::discover, verify::notation).
for depth in 1 2 3; do python3 scripts/module_cycles.py --quiet --depth "$depth"; done
# No error says its cause twice (in its message and as its #[source]; docs/development.md).
python3 scripts/error_causes.py
cargo test --all-targets --no-fail-fast "${locked[@]}"

# The shipped policy library decides the same under OPA 1.20 as under regorus (installs the
# OPA bindings from PyPI into target/opa-venv on first use).
bash tests/opa_parity.sh
