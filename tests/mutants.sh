#!/usr/bin/env bash
# Mutation testing of the security-critical code (issue #18): cargo-mutants
# over seal/, id.rs, core/ and the stores' version and tombstone code, each
# mutant tested against session-runtime's own unit tests (the only tests
# rebuilt per mutant: about 4 seconds each on 2 cores, so the four modules
# take about an hour; the tests crate would rebuild every test binary per
# mutant). Not part of tests/run.sh: too slow for the suite.
#
#   ./tests/mutants.sh               # every module
#   ./tests/mutants.sh seal id       # some of: seal id core store near
#
# MUTANTS_JOBS (default 1) builds that many mutants at once; MUTANTS_OUT
# (default target/mutants) keeps each module's mutants.out. Equivalent
# mutants are excluded by .cargo/mutants.toml and listed, each with why, in
# tests/mutants-equivalent.md. A module's score is caught (timeouts
# included: the tests did not pass) over caught, timeouts and missed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! cargo mutants --version >/dev/null 2>&1; then
    cargo install cargo-mutants --locked
fi

jobs="${MUTANTS_JOBS:-1}"
out="${MUTANTS_OUT:-$root/target/mutants}"
mkdir -p "$out"
# no debug info: links take a fraction of the time, and nothing is debugged
export CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0

# module -> the files it mutates (and the features they need)
files() {
    case "$1" in
        seal) echo "-f session-runtime/src/seal/*.rs" ;;
        id) echo "-f session-runtime/src/id.rs" ;;
        core) echo "-f session-runtime/src/core/*.rs" ;;
        store)
            echo "-f session-runtime/src/store/memory.rs -f session-runtime/src/store/tiered.rs" \
                "-f session-runtime/src/store/guard.rs -f session-runtime/src/store/sql.rs" \
                "--features sqlite"
            ;;
        near) echo "-f session-runtime/src/store/near/cache.rs --features redis,postgres" ;;
        *)
            echo "unknown module $1 (seal, id, core, store, near)" >&2
            exit 2
            ;;
    esac
}

# lines in a result file (grep -c prints 0, and fails, for none)
count() {
    if [[ -f "$1" ]]; then
        grep -c . "$1" || true
    else
        echo 0
    fi
}

modules=("$@")
if [[ ${#modules[@]} -eq 0 ]]; then
    modules=(seal id core store near)
fi
summary=()
rows=()
for module in "${modules[@]}"; do
    # shellcheck disable=SC2046 # the globs are cargo-mutants', not the shell's
    set -f
    args=($(files "$module"))
    set +f
    printf '\n==> %s\n' "$module"
    # equivalent mutants excluded by the config: the listing without it, less the listing with it
    all="$(cargo mutants -p session-runtime --no-config --list "${args[@]}" | grep -c .)"
    viable_list="$(cargo mutants -p session-runtime --list "${args[@]}" | grep -c .)"
    rc=0
    # the scratch copy starts from this tree's build, not from nothing
    cargo mutants -p session-runtime --test-package session-runtime -j "$jobs" --copy-target true \
        --timeout 20 --build-timeout 300 -o "$out/$module" "${args[@]}" -- --lib || rc=$?
    # 0: all caught; 2: some missed; 3: some timed out; anything else is a failure to run
    if [[ $rc -ne 0 && $rc -ne 2 && $rc -ne 3 ]]; then
        echo "cargo mutants failed on $module (exit $rc)" >&2
        exit "$rc"
    fi
    dir="$out/$module/mutants.out"
    caught="$(count "$dir/caught.txt")"
    missed="$(count "$dir/missed.txt")"
    unviable="$(count "$dir/unviable.txt")"
    timeouts="$(count "$dir/timeout.txt")"
    equivalent=$((all - viable_list))
    tested=$((caught + missed + timeouts))
    score="$(awk -v c=$((caught + timeouts)) -v t="$tested" 'BEGIN { printf "%.1f", t ? 100 * c / t : 100 }')"
    summary+=("$(printf '%-6s mutants %4d  caught %4d  missed %3d  unviable %3d  timeouts %2d  equivalent excluded %2d  score %5s %%' \
        "$module" "$all" "$caught" "$missed" "$unviable" "$timeouts" "$equivalent" "$score")")
    rows+=("$(printf '| %s | %d | %d | %d | %d | %d | %d | %s %% | %s | `./tests/mutants.sh %s` |' \
        "$module" "$all" "$caught" "$missed" "$unviable" "$timeouts" "$equivalent" "$score" "$(date -u +%Y-%m-%d)" "$module")")
    if [[ $missed -gt 0 ]]; then
        echo "missed in $module:"
        sed 's/^/  /' "$dir/missed.txt"
    fi
done
printf '\n==> mutation scores (missed: %s/<module>/mutants.out/missed.txt)\n' "$out"
printf '%s\n' "${summary[@]}"
printf '\n==> as RELIABILITY.md rows\n'
echo "| module | mutants | caught | missed | unviable | timeouts | equivalent excluded | score | date | command |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
