#!/usr/bin/env bash
# The whole test suite: formatting, lints, docs, and every test, on a fresh
# machine or an old one. `.ci/run` calls exactly this.
#
#   ./tests/run.sh
#
# With CI=true nothing is skipped: a missing tool or server fails the run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

# A fresh checkout gains nothing from incremental compilation but its
# gigabytes of cache; a developer's repeated runs keep it.
if [[ "${CI:-}" == "true" ]]; then
    export CARGO_INCREMENTAL=0
fi
# what the build has to work with (a full build writes about 3 GB)
df -h "$root" | awk 'NR == 2 { print "disk: " $4 " free of " $2 " on " $6 }'

step "formatting"
cargo fmt --all -- --check

step "clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "each feature of session-runtime alone (no dead code or warning behind a feature set)"
features="$(sed -n '/^\[features\]/,/^\[/p' session-runtime/Cargo.toml | grep -oE '^[a-z-]+ =' | cut -d' ' -f1 | grep -vx default)"
for feature in "" $features; do
    echo "session-runtime --no-default-features ${feature:+--features $feature}"
    cargo clippy -p session-runtime --no-default-features ${feature:+--features "$feature"} --locked --quiet -- -D warnings
done

step "dependency pins (only the documented exact pins; an application can take the newest aes)"
# bincode and memcache are pinned on purpose (README, "Codecs" and "Stores"),
# session-derive is the derive of this very release
pins="$(grep -nE '"=[0-9]' Cargo.toml session-runtime/Cargo.toml session-derive/Cargo.toml | grep -vE '^Cargo.toml:[0-9]+:(bincode|memcache|session-derive) ' || true)"
if [ -n "$pins" ]; then
    echo "exact pins that would stop an application from building:"
    echo "$pins"
    exit 1
fi
app="$(mktemp -d)"
mkdir -p "$app/src"
echo 'fn main() {}' >"$app/src/main.rs"
cat >"$app/Cargo.toml" <<EOF
[package]
name = "pin-probe"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
session-runtime = { path = "$root/session-runtime", features = ["sqlite", "redis", "postgres", "mysql", "memcached"] }
aes = ">=0.9.4"

[workspace]
EOF
cargo generate-lockfile --quiet --manifest-path "$app/Cargo.toml"
echo "an application requiring the newest aes resolves to aes $(grep -A1 'name = "aes"' "$app/Cargo.lock" | grep -o '"0\.9\.[0-9]*"' | tr -d '"')"
rm -rf "$app"

step "docs (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --locked

step "test servers (redis, redis cluster, memcached, postgresql, mariadb on loopback)"
# an assignment keeps the script's exit status: with CI=true a server that
# cannot be installed or started fails the run here
servers_env="$(./tests/servers.sh)"
eval "$servers_env"

step "tests (unit, integration, UI, doc)"
# the concurrency, outage and deploy tests append one line per figure here
figures="target/sessionkit-figures.txt"
mkdir -p target
: >"$figures"
# the tests' `figure` writes here too when CARGO_TARGET_DIR is elsewhere
export SESSIONKIT_FIGURES="$root/$figures"
cargo test --workspace --all-features --locked

step "fuzz smoke (AFL++ on the stable toolchain, 10 s a target; the long run is fuzz/run.sh)"
./fuzz/run.sh 10

step "bench smoke (every configuration of benches/ answers and prints its table; the full run is benches/run.sh)"
./benches/run.sh --smoke >/dev/null

step "load smoke (each load_server configuration against its peer under wrk, 1 s; the full run is benches/load.sh)"
./benches/load.sh --smoke >/dev/null

step "figures (what ran, how many, the result)"
cat "$figures"
echo "browser walk screenshots: $(ls target/browser-walk/*.png 2>/dev/null | wc -l) in target/browser-walk/"

echo "build footprint: $(du -sh target | cut -f1) in target/"

step "done"
