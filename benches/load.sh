#!/usr/bin/env bash
# The load run from outside: each sessionkit configuration of
# benches/examples/load_server.rs against its tower-sessions counterpart,
# on the same Redis and PostgreSQL, driven by wrk (benches/load.lua):
# 64 keep-alive connections, 4 reads : 1 write of the 131-byte
# server-side cart, the two servers measured in turn (A, B, A, B, ...)
# over several rounds. Prints Markdown tables: requests/s (median of the
# rounds), p50 / p99 / p99.9 (medians of the rounds), errors (non-2xx and
# socket errors), and CPU µs per request of the server process,
# redis-server and postgres; the ratios against tower-sessions with the
# issue's targets; memory per session in Redis and PostgreSQL.
#
#   ./benches/load.sh            # prints the tables
#   ./benches/load.sh --write    # ... and replaces BENCHMARKS.md's load section
#   ./benches/load.sh --smoke    # 1 s, 8 connections, one round, debug build; writes nothing
#
# Knobs (environment): LOAD_ROUNDS (3), LOAD_SECONDS (8), LOAD_WARMUP (2 s
# per server), LOAD_CONNECTIONS (64), LOAD_THREADS (wrk threads, 2),
# LOAD_SESSIONS (64), LOAD_CONFIGS (the sessionkit configurations to run,
# default all that name a peer in `load_server --list`), LOAD_PORT (first
# port, 18100), LOAD_BASELINE_BIN (another build of load_server, e.g. from
# before a change: each sessionkit configuration then also runs from it,
# on tables of its own, labelled with LOAD_BASELINE_LABEL; LOAD_BASELINE_CONFIGS
# limits that to some of them).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mode=print
case "${1:-}" in
--write) mode=write ;;
--smoke) mode=smoke ;;
"") ;;
*)
    echo "usage: $0 [--write | --smoke]" >&2
    exit 2
    ;;
esac

say() { printf '[load] %s\n' "$*" >&2; }

command -v wrk >/dev/null || {
    echo "wrk is not installed (Debian package wrk; tests/servers.sh installs it)" >&2
    exit 1
}
servers_env="$(./tests/servers.sh)"
eval "$servers_env"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/benches}"
if [[ $mode == smoke ]]; then
    rounds=1 seconds=1 warmup=0 connections=8 threads=1
    logouts=20
    cargo build --manifest-path benches/Cargo.toml --locked --example load_server --example near_logouts >&2
    server="$CARGO_TARGET_DIR/debug/examples/load_server"
    near_logouts="$CARGO_TARGET_DIR/debug/examples/near_logouts"
else
    logouts="${LOAD_LOGOUTS:-1000}"
    rounds="${LOAD_ROUNDS:-3}" seconds="${LOAD_SECONDS:-8}" warmup="${LOAD_WARMUP:-2}"
    connections="${LOAD_CONNECTIONS:-64}" threads="${LOAD_THREADS:-2}"
    cargo build --manifest-path benches/Cargo.toml --locked --release --example load_server --example near_logouts >&2
    server="$CARGO_TARGET_DIR/release/examples/load_server"
    near_logouts="$CARGO_TARGET_DIR/release/examples/near_logouts"
fi
sessions="${LOAD_SESSIONS:-64}"
port="${LOAD_PORT:-18100}"
baseline="${LOAD_BASELINE_BIN:-}"
baseline_label="${LOAD_BASELINE_LABEL:-baseline}"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# name <TAB> peer <TAB> target <TAB> label
"$server" --list >"$work/list"
field() { awk -F'\t' -v n="$1" -v f="$2" '$1 == n { print $f }' "$work/list"; }
configs="${LOAD_CONFIGS:-$(awk -F'\t' '$2 != "-" { print $1 }' "$work/list" | tr '\n' ' ')}"

clk="$(getconf CLK_TCK)"
redis_port="$(sed -E 's#.*:([0-9]+)/?$#\1#' <<<"$SESSIONKIT_REDIS_URL")"
pg_port="$(sed -E 's#.*:([0-9]+)/.*#\1#' <<<"$SESSIONKIT_POSTGRES_URL")"
redis_pid="$(redis-cli -p "$redis_port" info server | tr -d '\r' | awk -F: '$1 == "process_id" { print $2 }')"

ticks() { # utime + stime of a process, in clock ticks
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || { echo 0; return; }
    # the fields after the command name: utime and stime are the 12th and 13th
    awk '{ print $12 + $13 }' <<<"${stat##*) }"
}

# PostgreSQL's processes that count for a server: its auxiliary processes
# (checkpointer, WAL writer, autovacuum, ...) and the backends of the
# server's own connections, not other clients of the same PostgreSQL
pg_pids() {
    local server_pid="$1" ports proc
    ports="$(ss -tnpH state established "( dport = :$pg_port )" 2>/dev/null |
        awk -v pid="pid=$server_pid," 'index($0, pid) { n = split($3, a, ":"); print a[n] }' | sort -u | tr '\n' ' ')"
    for proc in /proc/[0-9]*; do
        [[ "$(cat "$proc/comm" 2>/dev/null)" == postgres ]] || continue
        local args
        args="$(tr '\0' ' ' <"$proc/cmdline" 2>/dev/null)" || continue
        if [[ $args == *"127.0.0.1("* ]]; then
            local p="${args#*127.0.0.1(}"
            p="${p%%)*}"
            [[ " $ports " == *" $p "* ]] || continue
        elif [[ $args != "postgres: "* ]]; then
            continue # the postmaster itself
        fi
        echo "${proc#/proc/}"
    done
}

# "pid ticks" of the server, redis-server and the server's postgres processes
cpu_snapshot() {
    echo "server $1 $(ticks "$1")"
    [[ -n $redis_pid ]] && echo "redis $redis_pid $(ticks "$redis_pid")"
    local p
    for p in $(pg_pids "$1"); do echo "postgres $p $(ticks "$p")"; done
}

# seconds of CPU per category between two snapshots (a process that
# appeared in between counts from zero)
cpu_delta() {
    awk -v clk="$clk" 'NR == FNR { before[$2] = $3; next }
        { used[$1] += $3 - ($2 in before ? before[$2] : 0) }
        END { printf "%.4f %.4f %.4f\n", used["server"] / clk, used["redis"] / clk, used["postgres"] / clk }' "$1" "$2"
}

start_server() { # name port [binary tag]
    local name="$1" p="$2" bin="${3:-$server}" tag="${4:-}"
    "$bin" "$name" "$p" $tag >"$work/$name$tag.log" 2>&1 &
    pids+=($!)
    echo $! >"$work/server-$name$tag.pid"
    for _ in $(seq 1 150); do
        curl -s -o /dev/null "http://127.0.0.1:$p/" && return 0
        kill -0 $! 2>/dev/null || break
        sleep 0.2
    done
    say "$name did not start:"
    cat "$work/$name$tag.log" >&2
    exit 1
}

login() { # port cookies-file
    : >"$2"
    for _ in $(seq 1 "$sessions"); do
        curl -s -D - -o /dev/null -X POST "http://127.0.0.1:$1/login" |
            awk 'tolower($1) == "set-cookie:" { sub(/\r$/, ""); split($2, a, ";"); print a[1] }' >>"$2"
    done
    local got
    got="$(wc -l <"$2")"
    [[ $got -eq $sessions ]] || {
        say "port $1: $got of $sessions logins answered a cookie"
        exit 1
    }
}

run_wrk() { # port cookies-file seconds -> RESULT line
    LOAD_COOKIES="$2" wrk -t"$threads" -c"$connections" -d"${3}s" --latency \
        -s benches/load.lua "http://127.0.0.1:$1" | grep '^RESULT' || {
        say "wrk printed no result on port $1"
        exit 1
    }
}

# one result line per (member, round) in $work/results:
# member requests seconds p50 p99 p999 errors server_s redis_s postgres_s
: >"$work/results"
: >"$work/members"
for config in $configs; do
    peer="$(field "$config" 2)"
    [[ -n $peer && $peer != - ]] || {
        say "$config names no peer (load_server --list)"
        exit 1
    }
    # members: key | config | binary | tag | label
    members=("$config|$config|$server||$(field "$config" 4)")
    if [[ -n $baseline && " ${LOAD_BASELINE_CONFIGS:-$configs} " == *" $config "* ]]; then
        members+=("$config@base|$config|$baseline|base|$(field "$config" 4) ($baseline_label)")
    fi
    members+=("$peer@$config|$peer|$server||$(field "$peer" 4)")
    printf '%s\n' "${members[@]}" >>"$work/members"
    i=0
    for member in "${members[@]}"; do
        IFS='|' read -r key name bin tag _ <<<"$member"
        p=$((port + i))
        start_server "$name" "$p" "$bin" "$tag"
        login "$p" "$work/$key.cookies"
        echo "$p" >"$work/$key.port"
        cat "$work/server-$name$tag.pid" >"$work/$key.pid"
        [[ $warmup -gt 0 ]] && run_wrk "$p" "$work/$key.cookies" "$warmup" >/dev/null
        i=$((i + 1))
    done
    for round in $(seq 1 "$rounds"); do
        for member in "${members[@]}"; do
            IFS='|' read -r key _ <<<"$member"
            p="$(cat "$work/$key.port")"
            pid="$(cat "$work/$key.pid")"
            cpu_snapshot "$pid" >"$work/before"
            line="$(run_wrk "$p" "$work/$key.cookies" "$seconds")"
            cpu_snapshot "$pid" >"$work/after"
            read -r server_s redis_s pg_s <<<"$(cpu_delta "$work/before" "$work/after")"
            # RESULT requests=N duration_us=N p50= p99= p999= non2xx= socket=
            read -r requests duration p50 p99 p999 non2xx socket <<<"$(sed 's/[a-z0-9_]*=//g; s/^RESULT //' <<<"$line")"
            echo "$key $requests $(awk -v d="$duration" 'BEGIN { print d / 1e6 }') $p50 $p99 $p999 $((non2xx + socket)) $server_s $redis_s $pg_s" >>"$work/results"
            say "round $round, $key: $line cpu_s=$server_s/$redis_s/$pg_s"
        done
    done
    # memory per session, from the sessions of this pair's first servers
    case "$config" in
    kit-redis)
        kit_key=
        # a session (a string beginning with `r`), not a user's set or the
        # near cache's marker
        for k in $(redis-cli -p "$redis_port" --scan --pattern 'load:kit_redis:*'); do
            [[ "$(redis-cli -p "$redis_port" type "$k")" == string ]] || continue
            [[ "$(redis-cli -p "$redis_port" getrange "$k" 0 0)" == r ]] && { kit_key="$k"; break; }
        done
        ts_key="$(head -1 "$work/$peer@$config.cookies" | cut -d= -f2-)"
        echo "redis $(redis-cli -p "$redis_port" memory usage "$kit_key" samples 0) $(redis-cli -p "$redis_port" memory usage "$ts_key" samples 0) $(redis-cli -p "$redis_port" strlen "$kit_key") $(redis-cli -p "$redis_port" strlen "$ts_key")" >>"$work/memory"
        ;;
    kit-postgres)
        q() { psql "$SESSIONKIT_POSTGRES_URL" -tAc "$1"; }
        echo "postgres $(q 'SELECT round(avg(pg_column_size(t.*))) FROM load_kit_postgres t') $(q 'SELECT round(avg(pg_column_size(t.*))) FROM tower_sessions.load_ts_postgres t') $(q 'SELECT round(avg(length(data))) FROM load_kit_postgres') $(q 'SELECT round(avg(length(data))) FROM tower_sessions.load_ts_postgres')" >>"$work/memory"
        ;;
    esac
    for member in "${members[@]}"; do
        IFS='|' read -r key _ <<<"$member"
        kill "$(cat "$work/$key.pid")" 2>/dev/null || true
    done
done

# every server answered, without errors
awk '$2 == 0 || $7 > 0 { bad = 1; print "[load] " $1 ": " $2 " requests, " $7 " errors" > "/dev/stderr" }
    END { exit bad }' "$work/results" || { say "a configuration failed"; exit 1; }

# the tables: per member, medians over its rounds
summary="$(awk '
    function median(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { k = $1; rate[k] = rate[k] " " $2 / $3; p50[k] = p50[k] " " $4; p99[k] = p99[k] " " $5; p999[k] = p999[k] " " $6
      req[k] += $2; err[k] += $7; s[k] += $8; r[k] += $9; pg[k] += $10; if (!(k in seen)) { seen[k] = 1; keys[++n] = k } }
    END { for (i = 1; i <= n; i++) { k = keys[i]
        printf "%s %.0f %.0f %.0f %.0f %d %d %.1f %.1f %.1f\n", k, median(rate[k]), median(p50[k]), median(p99[k]), median(p999[k]),
            err[k], req[k], s[k] * 1e6 / req[k], r[k] * 1e6 / req[k], pg[k] * 1e6 / req[k] } }' "$work/results")"

stat() { awk -v k="$1" -v f="$2" '$1 == k { print $f }' <<<"$summary"; }

tables() {
    echo "### Load from outside: wrk, $connections keep-alive connections, 4 reads : 1 write of the 131-byte cart, $rounds interleaved rounds of $seconds s"
    echo
    echo "Each sessionkit configuration and its tower-sessions counterpart (\`benches/load.sh\`: servers from \`benches/examples/load_server.rs\`, one process each, driven by wrk with \`benches/load.lua\`), measured in turn on the same Redis and PostgreSQL."
    echo
    echo "| configuration | requests/s | p50 µs | p99 µs | p99.9 µs | errors | CPU µs per request: server / redis-server / postgres |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    while IFS='|' read -r key _ _ _ lab; do
        read -r _ rate p50 p99 p999 errors requests cs cr cp <<<"$(awk -v k="$key" '$1 == k' <<<"$summary")"
        echo "| $lab | $rate | $p50 | $p99 | $p999 | $errors of $requests | $cs / $cr / $cp |"
    done <"$work/members"
    echo
    echo "| configuration against tower-sessions (same run) | requests/s | p99 | target (issue #20) | met |"
    echo "| --- | --- | --- | --- | --- |"
    for config in $configs; do
        peer="$(field "$config" 2)"
        target="$(field "$config" 3)"
        rk="$(stat "$config" 2)" rt="$(stat "$peer@$config" 2)"
        pk="$(stat "$config" 4)" pt="$(stat "$peer@$config" 4)"
        ratio="$(awk -v a="$rk" -v b="$rt" 'BEGIN { printf "%.2f", a / b }')"
        p99="$pk / $pt µs"
        if [[ $target == - ]]; then
            goal="— (the issue's target is for the near cache)" met="—"
        elif [[ $config == kit-tiered-near ]]; then
            goal="≥ ${target}× requests/s, p99 ≤ tower-sessions'"
            met="$(awk -v r="$ratio" -v t="$target" -v a="$pk" -v b="$pt" 'BEGIN { print (r >= t && a <= b ? "yes" : "**no**") }')"
        else
            goal="≥ ${target}× requests/s"
            met="$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r >= t ? "yes" : "**no**") }')"
        fi
        if [[ -n $(stat "$config@base" 2) ]]; then
            rb="$(stat "$config@base" 2)"
            p99="$p99 ($baseline_label: $(stat "$config@base" 4) µs)"
            ratio="$ratio× ($baseline_label: $(awk -v a="$rb" -v b="$rt" 'BEGIN { printf "%.2f", a / b }')×)"
        else
            ratio="$ratio×"
        fi
        echo "| $(field "$config" 4) / $(field "$peer" 4) | $ratio | $p99 | $goal | $met |"
    done
    if [[ -s $work/memory ]]; then
        echo
        echo "### Memory per session, 131-byte cart (same run)"
        echo
        echo "| where | sessionkit | tower-sessions | measured by |"
        echo "| --- | --- | --- | --- |"
        while read -r where kit ts kit_n ts_n; do
            case "$where" in
            redis) echo "| Redis | $kit B (a string of $kit_n B) | $ts B (a string of $ts_n B) | \`MEMORY USAGE key SAMPLES 0\` |" ;;
            postgres) echo "| PostgreSQL row | $kit B (\`data\` $kit_n B) | $ts B (\`data\` $ts_n B) | \`avg(pg_column_size(t.*))\` |" ;;
            esac
        done <"$work/memory"
    fi
    if [[ -s $work/logouts ]]; then
        echo
        echo "### A logout on one process, refused by another: two server processes of one configuration, each with its near caches (\`benches/examples/near_logouts.rs\`; same run)"
        echo
        echo "| configuration | logouts | p50 ms | p99 ms | worst ms | p99 ≤ 10 ms |"
        echo "| --- | --- | --- | --- | --- | --- |"
        cat "$work/logouts"
    fi
}

# two processes of each near-cache configuration: a logout on one, how
# soon the other refuses the session
for config in $configs; do
    [[ $config == *-near ]] || continue
    say "logouts across two processes: $config"
    "$near_logouts" "$server" "$config" "$((port + 50))" "$logouts" 2>"$work/logouts.err" >>"$work/logouts" ||
        { cat "$work/logouts.err" >&2; exit 1; }
done

out="$(tables)"
echo "$out"
if [[ $mode == write ]]; then
    # the load section runs from its first "### Load" heading to the next
    # "## " section or a "### " table of another kind (its own tables are
    # Load, Memory and A logout); the rest is kept
    echo "$out" >"$work/tables"
    awk -v tables="$work/tables" '
        /^### Load/ && !done { skipping = 1; while ((getline line < tables) > 0) print line; print ""; done = 1; next }
        skipping && /^## / { skipping = 0 }
        skipping && /^### / && !/^### (Load|Memory|A logout)/ { skipping = 0 }
        !skipping { print }' BENCHMARKS.md >BENCHMARKS.md.new
    grep -q '^### Load' BENCHMARKS.md.new || { echo "BENCHMARKS.md has no '### Load' section" >&2; rm -f BENCHMARKS.md.new; exit 1; }
    mv BENCHMARKS.md.new BENCHMARKS.md
    say "BENCHMARKS.md: load section written"
fi
