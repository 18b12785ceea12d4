#!/usr/bin/env bash
# Schema checks of deploy/ (tests/it/deploy.rs checks what the files promise; this checks that
# Kubernetes, GitHub and GitLab would accept them):
# - every Kubernetes object under deploy/ against the API schemas of Kubernetes $K8S_VERSION,
#   strictly (unknown fields are errors), with the PyPI package `kubernetes-validate`, which
#   ships the schemas. It has none for custom resources (cert-manager, Argo CD, Flux): those
#   pass unchecked here, and tests/it/deploy.rs reads the fields that matter;
# - the CI files against the GitHub Actions workflow and GitLab CI schemas that the PyPI
#   package `check-jsonschema` vendors (no download at run time).
# Closes with `N passed, M failed`; exits non-zero on any failure.
#
# Needs python3; installs both packages into target/deploy-venv on first use (PyPI must then
# be reachable).
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=${K8S_VERSION:-1.32.0}
packages=("kubernetes-validate==1.37.0" "check-jsonschema==0.39.0")
venv=target/deploy-venv
if ! [[ -x $venv/bin/kubernetes-validate && -x $venv/bin/check-jsonschema ]]; then
  echo "installing ${packages[*]} into $venv" >&2
  mkdir -p target
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --only-binary=:all: "${packages[@]}"
fi

passed=0
failed=0
record() { # record NAME COMMAND...: runs COMMAND, counts it, shows its output on failure
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    printf 'FAIL %s\n%s\n' "$name" "$out" >&2
  fi
}

# Kubernetes objects: the .yaml files with both apiVersion and kind at the top level, except
# kustomize's own kustomization.yaml.
while IFS= read -r file; do
  [[ $(basename "$file") == kustomization.yaml ]] && continue
  grep -q '^apiVersion:' "$file" && grep -q '^kind:' "$file" || continue
  # kubernetes-validate exits 0 on a resource without a schema (custom resources) and prints a
  # warning; any schema error or unknown field is a failure.
  record "$file" "$venv/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$file"
done < <(find deploy -name '*.yaml' | sort)

record deploy/ci/github-actions.yml \
  "$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows deploy/ci/github-actions.yml
record deploy/ci/gitlab-ci.yml \
  "$venv/bin/check-jsonschema" --builtin-schema vendor.gitlab-ci deploy/ci/gitlab-ci.yml

echo "deploy schemas: $passed passed, $failed failed"
((failed == 0))
