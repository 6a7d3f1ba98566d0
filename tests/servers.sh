#!/usr/bin/env bash
# Installs (from Debian packages) and starts the servers the store tests run
# against, each on loopback with its own port and data directory, then
# prints `export` lines for their addresses; it also installs headless
# Chromium and chromedriver for the browser walk, and wrk for the load run
# (benches/load.sh). Sourced by tests/run.sh:
#
#   eval "$(./tests/servers.sh)"
#
# Servers already running from an earlier call are reused. With CI=true a
# server that cannot be installed or started fails the script; otherwise it
# is left out and the tests that need it say so and skip.
set -euo pipefail

dir="${SESSIONKIT_SERVERS_DIR:-${TMPDIR:-/tmp}/sessionkit-servers}"
mkdir -p "$dir"
chmod 755 "$dir"
ci="${CI:-false}"

say() { printf '[servers] %s\n' "$*" >&2; }
fail() {
    say "$*"
    if [ "$ci" = true ]; then exit 1; fi
}

# run a command as an unprivileged user when we are root (postgres refuses root)
as_user() {
    local user="$1"
    shift
    if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

wait_for() {
    local what="$1"
    shift
    for _ in $(seq 1 100); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    fail "$what did not come up"
    return 1
}

install_missing() {
    local packages=()
    command -v redis-server >/dev/null || packages+=(redis-server redis-tools)
    command -v memcached >/dev/null || packages+=(memcached)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || packages+=(postgresql)
    command -v mariadbd >/dev/null || packages+=(mariadb-server)
    # the browser walk (tests/tests/browser.rs): headless Chromium + WebDriver
    command -v chromium >/dev/null || packages+=(chromium)
    command -v chromedriver >/dev/null || packages+=(chromium-driver)
    # the load run from outside (benches/load.sh)
    command -v wrk >/dev/null || packages+=(wrk)
    # load.sh logs its sessions in with curl and reads row sizes with psql
    command -v curl >/dev/null || packages+=(curl)
    [ ${#packages[@]} -eq 0 ] && return 0
    say "installing ${packages[*]}"
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo -n)
    # the packages' own services stay stopped: we start our own instances
    if ! { "${sudo[@]}" apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"; } >&2; then
        fail "could not install ${packages[*]}"
    fi
}

redis_ping() { redis-cli -p "$1" ping | grep -q PONG; }

start_redis() {
    command -v redis-server >/dev/null || { fail "redis-server is not installed"; return; }
    local port=16379
    if ! redis_ping $port 2>/dev/null; then
        mkdir -p "$dir/redis"
        redis-server --port $port --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$dir/redis" --daemonize yes --logfile "$dir/redis/log" >&2
        wait_for "redis on $port" redis_ping $port || return
    fi
    echo "export SESSIONKIT_REDIS_URL=redis://127.0.0.1:$port/"
    # the fault tests start (and kill) instances of their own
    echo "export SESSIONKIT_REDIS_BIN=$(command -v redis-server)"
}

cluster_ok() { redis-cli -p 17001 cluster info | grep -q 'cluster_state:ok'; }

start_redis_cluster() {
    command -v redis-server >/dev/null || { fail "redis-server is not installed"; return; }
    if ! cluster_ok 2>/dev/null; then
        for port in 17001 17002 17003; do
            mkdir -p "$dir/cluster/$port"
            if ! redis_ping $port 2>/dev/null; then
                rm -f "$dir/cluster/$port/nodes.conf"
                redis-server --port $port --bind 127.0.0.1 --save '' --appendonly no \
                    --cluster-enabled yes --cluster-config-file nodes.conf \
                    --dir "$dir/cluster/$port" --daemonize yes --logfile "$dir/cluster/$port/log" >&2
                wait_for "redis cluster node $port" redis_ping $port || return
            fi
        done
        redis-cli --cluster create 127.0.0.1:17001 127.0.0.1:17002 127.0.0.1:17003 \
            --cluster-replicas 0 --cluster-yes >&2 || { fail "redis cluster create failed"; return; }
        wait_for "redis cluster" cluster_ok || return
    fi
    echo "export SESSIONKIT_REDIS_CLUSTER=redis://127.0.0.1:17001/,redis://127.0.0.1:17002/,redis://127.0.0.1:17003/"
}

memcached_up() { printf 'version\r\n' | timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; cat >&3; head -c 7 <&3" | grep -q VERSION; }

start_memcached() {
    command -v memcached >/dev/null || { fail "memcached is not installed"; return; }
    local servers=()
    for port in 11311 11312; do
        if ! memcached_up $port 2>/dev/null; then
            memcached -d -l 127.0.0.1 -p $port -U 0 -m 64 -I 2m -u "$(id -un)" -P "$dir/memcached-$port.pid" >&2
            wait_for "memcached on $port" memcached_up $port || return
        fi
        servers+=("127.0.0.1:$port")
    done
    local IFS=,
    echo "export SESSIONKIT_MEMCACHED=${servers[*]}"
    echo "export SESSIONKIT_MEMCACHED_BIN=$(command -v memcached)"
}

start_postgres() {
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    [ -n "$bin" ] || { fail "postgresql is not installed"; return; }
    local port=15432 data="$dir/postgres" user=postgres
    [ "$(id -u)" = 0 ] || user="$(id -un)"
    if ! "$bin/pg_isready" -q -h 127.0.0.1 -p $port; then
        if [ ! -f "$data/PG_VERSION" ]; then
            mkdir -p "$data"
            [ "$(id -u)" = 0 ] && chown postgres "$data"
            as_user postgres "$bin/initdb" -D "$data" -U "$user" --auth=trust -E UTF8 >&2
        fi
        as_user postgres "$bin/pg_ctl" -D "$data" -l "$data/log" -w start \
            -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off" >&2 ||
            { fail "postgres did not start"; return; }
    fi
    psql -h 127.0.0.1 -p $port -U "$user" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'sessionkit'" | grep -q 1 ||
        psql -h 127.0.0.1 -p $port -U "$user" -d postgres -qc "CREATE DATABASE sessionkit" >&2
    echo "export SESSIONKIT_POSTGRES_URL=postgres://$user@127.0.0.1:$port/sessionkit"
    echo "export SESSIONKIT_POSTGRES_BIN=$bin"
}

start_mariadb() {
    command -v mariadbd >/dev/null || { fail "mariadb-server is not installed"; return; }
    local port=13306 data="$dir/mariadb"
    local sock="$data/mariadb.sock"
    if ! mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1; then
        if [ ! -d "$data/mysql" ]; then
            mkdir -p "$data"
            [ "$(id -u)" = 0 ] && chown mysql "$data"
            mariadb-install-db --no-defaults --datadir="$data" --user="$( [ "$(id -u)" = 0 ] && echo mysql || id -un)" \
                --auth-root-authentication-method=normal >"$dir/mariadb-install.log" 2>&1 ||
                { fail "mariadb-install-db failed (see $dir/mariadb-install.log)"; return; }
        fi
        local user_opt=()
        [ "$(id -u)" = 0 ] && user_opt=(--user=mysql)
        nohup mariadbd --no-defaults --datadir="$data" --port=$port --bind-address=127.0.0.1 \
            --socket="$sock" --pid-file="$data/mariadb.pid" --log-error="$data/error.log" \
            --innodb-flush-log-at-trx-commit=0 "${user_opt[@]}" >/dev/null 2>&1 &
        wait_for "mariadb on $port" mariadb-admin --socket="$sock" -uroot ping || return
    fi
    mariadb --socket="$sock" -uroot -e "CREATE DATABASE IF NOT EXISTS sessionkit" >&2
    echo "export SESSIONKIT_MYSQL_URL=mysql://root@127.0.0.1:$port/sessionkit"
}

check_browser() {
    command -v chromium >/dev/null || { fail "chromium is not installed"; return; }
    command -v chromedriver >/dev/null || { fail "chromedriver (chromium-driver) is not installed"; return; }
    echo "export SESSIONKIT_CHROMEDRIVER=$(command -v chromedriver)"
}

install_missing
check_browser
start_redis
start_redis_cluster
start_memcached
start_postgres
start_mariadb
say "servers ready under $dir"
