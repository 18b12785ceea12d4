//! The `Examples:` sections of `--help`, one per command (clap `after_help`).

pub(crate) const TOP: &str = "\
Examples:
  supplygate init --keyless-github acme/app     # a starting supplygate.yaml
  supplygate check deploy/                      # exit 0 allow, 1 deny, 2 could not decide
  supplygate explain ghcr.io/acme/app:v1        # why an image passes or not
  supplygate pin deploy/                        # tags -> tag@sha256:…
  supplygate help check                         # more on one command";

pub(crate) const CHECK: &str = "\
Examples:
  supplygate check deploy/
  supplygate check --format sarif --markdown-out \"$GITHUB_STEP_SUMMARY\" deploy/ > results.sarif
  supplygate check --changed-since origin/main deploy/
  helm template chart/ | supplygate check -
  supplygate check --write-lock supplygate.lock deploy/    # record the evidence (online)
  supplygate check --offline --locked supplygate.lock deploy/
  supplygate check --list deploy/                          # the image sites, resolving nothing";

pub(crate) const PIN: &str = "\
Examples:
  supplygate pin deploy/
  supplygate pin --dry-run deploy/             # a unified diff; nothing written
  supplygate pin --format json deploy/         # each rewrite: file, line, column, old, new
  supplygate pin --check deploy/               # exit 1 if an image has no digest
  kustomize build overlays/prod | supplygate pin -";

pub(crate) const EXPLAIN: &str = "\
Examples:
  supplygate explain ghcr.io/acme/app:v1
  supplygate explain --namespace payments ghcr.io/acme/app@sha256:…
  supplygate explain --format json nginx:1.27 | jq '.signatures'";

pub(crate) const IMAGES: &str = "\
Examples:
  supplygate images deploy/
  supplygate images --format json deploy/ | jq -r '.images[].image' | sort -u
  kustomize build overlays/prod | supplygate images -";

pub(crate) const SERVE: &str = "\
Examples:
  supplygate serve --tls-cert /tls/tls.crt --tls-key /tls/tls.key --namespace supplygate
  supplygate serve --tls-cert tls.crt --tls-key tls.key --lock supplygate.lock --offline
  supplygate serve --tls-cert tls.crt --tls-key tls.key --mutate --log-format json";

pub(crate) const POLICY: &str = "\
Examples:
  supplygate policy test policies/
  supplygate policy test --with-builtin --coverage my-policies/";

pub(crate) const POLICY_TEST: &str = "\
Examples:
  supplygate policy test                        # ./policies
  supplygate policy test --with-builtin my-policies/
  supplygate policy test --run deny_latest --format json policies/";

pub(crate) const CONFIG: &str = "\
Examples:
  supplygate config validate
  supplygate config validate --format json deploy/supplygate.yaml";

pub(crate) const CONFIG_VALIDATE: &str = "\
Examples:
  supplygate config validate                      # ./supplygate.yaml
  supplygate config validate deploy/supplygate.yaml
  supplygate config validate --format json ci.yaml | jq '.problems[]'";

pub(crate) const INIT: &str = "\
Examples:
  supplygate init --keyless-github acme/app                     # ghcr.io/acme/app, signed in CI
  supplygate init --keyless-github acme/app --registry registry.acme.dev
  supplygate init --key cosign.pub --registry ghcr.io -o deploy/supplygate.yaml
  supplygate init --key cosign.pub -o -                          # print, write nothing";

pub(crate) const SCHEMA: &str = "\
Examples:
  supplygate schema config > supplygate.schema.json
  supplygate schema input";

pub(crate) const COMPLETION: &str = "\
Examples:
  supplygate completion bash > ~/.local/share/bash-completion/completions/supplygate
  supplygate completion zsh > \"${fpath[1]}/_supplygate\"
  supplygate completion fish > ~/.config/fish/completions/supplygate.fish
  supplygate completion powershell >> $PROFILE";

pub(crate) const MAN: &str = "\
Examples:
  supplygate man | man -l -
  supplygate man check | man -l -
  supplygate man --dir /usr/local/share/man/man1";

pub(crate) const VERSION: &str = "\
Examples:
  supplygate version
  supplygate version --format json | jq -r .commit";
