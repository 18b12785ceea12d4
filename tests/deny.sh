#!/usr/bin/env bash
# `cargo deny check` of our own Cargo.lock (deny.toml): advisories, licences, bans, sources.
# Offline: cargo-deny is built from crates.io into target/tools on first use (pinned version),
# and the advisory database is the RustSec snapshot vendored in
# fixtures/external/rustsec/advisory-db, laid out as the git checkout cargo-deny expects.
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.20.2
deny=target/tools/bin/cargo-deny
if ! [[ -x $deny ]] || [[ $("$deny" --version) != "cargo-deny $version" ]]; then
  echo "deny: installing cargo-deny $version into target/tools (first run only)" >&2
  cargo install --quiet --locked --root target/tools --version "$version" cargo-deny
fi

snapshot=fixtures/external/rustsec/advisory-db
# The directory name cargo-deny 0.20 derives from db-urls in deny.toml
# ("advisory-db-" + xxh64 of the URL); a pinned-version change that moves it fails below with
# the path it looked for.
db=target/advisory-db/advisory-db-3157b0e258782691
commit=$(sed -n 's/^commit: //p' "$snapshot/README.md")
date=$(sed -n 's/^date: //p' "$snapshot/README.md")
if [[ $(cat "$db/.snapshot" 2>/dev/null) != "$commit" ]]; then
  rm -rf "$db"
  mkdir -p "$db"
  cp -R "$snapshot/crates" "$db/"
  git -C "$db" init --quiet
  git -C "$db" add --all
  GIT_AUTHOR_DATE=$date GIT_COMMITTER_DATE=$date git -C "$db" \
    -c user.name=supplygate -c user.email=supplygate@localhost -c commit.gpgsign=false \
    commit --quiet -m "RustSec advisory-db $commit"
  echo "$commit" >"$db/.snapshot"
fi
echo "deny: RustSec advisories of $date (advisory-db $commit)" >&2
"$deny" --offline --locked check --show-stats
