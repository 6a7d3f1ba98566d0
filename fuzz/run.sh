#!/usr/bin/env bash
# Runs every fuzz target under AFL++ (afl.rs, stable toolchain) for a fixed
# time each, with a memory limit, and prints executions, crashes, hangs and
# out-of-memory for each. Exits non-zero if any target found a crash, a hang
# or an out-of-memory.
#
#   fuzz/run.sh            # the long run: 10 minutes a target
#   fuzz/run.sh 15         # 15 seconds a target (the suite's smoke run)
#
# Installs cargo-afl and builds the AFL++ runtime when they are missing.
set -euo pipefail

seconds="${1:-600}"
memory_mb=256
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if ! cargo afl --version >/dev/null 2>&1; then
    cargo install cargo-afl --locked --version 0.18.2 >&2
fi
# builds the AFL++ runtime for this rustc, once (a no-op when present)
cargo afl config --build >/dev/null 2>&1 || true

cargo afl build --release --locked --bins >&2
work="$(mktemp -d "${TMPDIR:-/tmp}/sessionkit-fuzz.XXXXXX")"
target/release/seeds "$work/seeds"
mkdir -p "$work/out"

# no UI, no CPU governor checks, no core-dump pattern checks: a sandbox
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
    AFL_NO_AFFINITY=1 AFL_QUIET=1 AFL_SKIP_CRASHES=1

status=0
printf '%-16s %12s %8s %6s %5s\n' target executions crashes hangs oom
for target in cookie_header open_cookie signed_id server_record memcached_item set_cookie; do
    out="$work/out/$target"
    # -V: stop after this many seconds; -m: memory limit (an out-of-memory
    # is reported as a crash by AFL++, and counted here apart from it)
    cargo afl fuzz -i "$work/seeds/$target" -o "$out" -V "$seconds" -m "$memory_mb" \
        -t 1000 -- "target/release/$target" >"$work/$target.log" 2>&1 || true
    stats="$out/default/fuzzer_stats"
    if [ ! -f "$stats" ]; then
        echo "$target: AFL++ did not run (see $work/$target.log)" >&2
        tail -20 "$work/$target.log" >&2 || true
        status=1
        continue
    fi
    value() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
    execs="$(value execs_done)"
    crashes="$(value saved_crashes)"
    hangs="$(value saved_hangs)"
    # AFL++ records an input that hit the memory limit as a crash: replay
    # each under the same limit and count the allocation failures apart
    oom=0
    if [ "${crashes:-0}" -gt 0 ]; then
        for input in "$out"/default/crashes/id:*; do
            if (ulimit -v $((memory_mb * 1024)); timeout 5 "target/release/$target" <"$input") 2>&1 >/dev/null |
                grep -q "memory allocation of"; then
                oom=$((oom + 1))
            fi
        done
        crashes=$((crashes - oom))
    fi
    printf '%-16s %12s %8s %6s %5s\n' "$target" "$execs" "$crashes" "$hangs" "$oom"
    if [ "${crashes:-0}" -gt 0 ] || [ "${hangs:-0}" -gt 0 ]; then
        echo "  findings kept in $out/default" >&2
        status=1
    fi
    if [ -n "${SESSIONKIT_FIGURES:-}" ]; then
        echo "fuzz $target (AFL++, ${seconds} s, ${memory_mb} MB): $execs executions, $crashes crashes, $hangs hangs, $oom out-of-memory" >>"$SESSIONKIT_FIGURES"
    fi
done
exit "$status"
