#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite.
#
#   scripts/postgres.sh start   # (re)create the cluster, print its SQLAlchemy URL
#   scripts/postgres.sh url     # print the URL of the running cluster
#   scripts/postgres.sh stop    # stop it and delete its data
#
# The cluster listens on 127.0.0.1 only, on a free port, with trust authentication, and holds one
# database, cxloop_test. It is tuned for speed, not durability (fsync off; CXLOOP_PG_DURABLE=1 keeps
# PostgreSQL's durable defaults): never keep data in it.
# Its state (port, URL, where the data lives) is kept in var/pg/ under the repository root; the
# data directory itself lives in /tmp, because when we run as root the server must run as the
# `postgres` user, who may not be able to reach a checkout under /root, and because the Unix
# socket path must stay short.
#
# If no server binaries are found under /usr/lib/postgresql/*/bin (or in $PG_BINDIR) and we are
# root on Debian, `start` installs them with apt-get.
#
# Only `start` and `url` print to stdout (the URL); everything else goes to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${CXLOOP_PG_STATE:-$ROOT/var/pg}"  # a benchmark keeps its own cluster beside the tests'
DB_NAME="cxloop_test"
DB_USER="postgres"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

find_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        [[ -x "$PG_BINDIR/initdb" ]] || die "PG_BINDIR=$PG_BINDIR has no initdb"
        echo "$PG_BINDIR"
        return 0
    fi
    local dir best=""
    # Highest major version wins (sort -V orders 9.6 < 15 < 16).
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
        [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]] && best="$dir"
    done
    [[ -n "$best" ]] || return 1
    echo "$best"
}

install_postgres() {
    [[ "$(id -u)" == 0 ]] || die "PostgreSQL server not found and not root: install it (apt-get install postgresql) or set PG_BINDIR"
    command -v apt-get >/dev/null || die "PostgreSQL server not found and no apt-get: install it or set PG_BINDIR"
    log "PostgreSQL server not found; installing it from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    local aptlog
    aptlog="$(mktemp)"
    # The package's own "main" cluster is not used; we only need the binaries and the postgres user.
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql; } >"$aptlog" 2>&1; then
        tail -n 40 "$aptlog" >&2
        rm -f "$aptlog"
        die "apt-get install postgresql failed"
    fi
    rm -f "$aptlog"
    log "installed $(dpkg-query -W -f '${Package} ${Version}' postgresql 2>/dev/null || echo postgresql)"
}

# Run a command as the user who owns the cluster: `postgres` when we are root (initdb and the
# server refuse to run as root), ourselves otherwise. cd to / first: the server must not inherit
# a working directory that its user cannot read.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        if command -v runuser >/dev/null; then
            (cd / && runuser -u postgres -- "$@")
        else
            local q
            q="$(printf '%q ' "$@")"
            (cd / && su postgres -s /bin/sh -c "$q")
        fi
    else
        "$@"
    fi
}

free_port() {
    # Ask the kernel for a free port on the loopback interface.
    python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

stop_cluster() {
    local datadir bindir
    [[ -f "$STATE/datadir" ]] || { rm -rf "$STATE"; return 0; }
    datadir="$(cat "$STATE/datadir")"
    bindir="$(cat "$STATE/bindir" 2>/dev/null || true)"
    if [[ -n "$datadir" && -f "$datadir/data/postmaster.pid" && -x "$bindir/pg_ctl" ]]; then
        # The data is throwaway, so "immediate" (no checkpoint) is the quickest correct stop.
        as_owner "$bindir/pg_ctl" -D "$datadir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    if [[ -n "$datadir" && -f "$datadir/data/postmaster.pid" ]]; then
        # pg_ctl could not stop it (binaries gone?): end that one server by its pid, nothing else.
        local pid
        pid="$(head -n1 "$datadir/data/postmaster.pid" 2>/dev/null || true)"
        if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
            kill -QUIT "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    fi
    # Only ever delete a directory this script made.
    case "$datadir" in
        /tmp/cxloop-pg.*) rm -rf "$datadir" ;;
        *) [[ -z "$datadir" ]] || log "not deleting unexpected data directory $datadir" ;;
    esac
    rm -rf "$STATE"
}

start_cluster() {
    local bindir datadir port url attempt opts
    stop_cluster   # a leftover cluster from an earlier run is stopped and deleted
    bindir="$(find_bindir)" || { install_postgres; bindir="$(find_bindir)" || die "no initdb after installing postgresql"; }

    if [[ "$(id -u)" == 0 ]] && ! id postgres >/dev/null 2>&1; then
        die "running as root but there is no 'postgres' user to own the cluster"
    fi

    mkdir -p "$STATE"
    datadir="$(mktemp -d /tmp/cxloop-pg.XXXXXX)"
    echo "$datadir" >"$STATE/datadir"
    echo "$bindir" >"$STATE/bindir"
    if [[ "$(id -u)" == 0 ]]; then chown postgres: "$datadir"; fi
    chmod 700 "$datadir"

    as_owner "$bindir/initdb" -D "$datadir/data" -U "$DB_USER" -A trust -E UTF8 --no-locale \
        --no-sync >"$STATE/initdb.log" 2>&1 \
        || { cat "$STATE/initdb.log" >&2; die "initdb failed"; }

    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        # fsync and friends off: a test cluster trades durability for speed. CXLOOP_PG_DURABLE=1
        # keeps PostgreSQL's defaults (a benchmark that measures what a commit costs).
        # (pg_ctl hands -o to a shell: keep it on one line.)
        opts="-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$datadir"
        if [[ "${CXLOOP_PG_DURABLE:-0}" != 1 ]]; then
            opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        fi
        opts+=" -c max_connections=200 -c shared_buffers=128MB"
        if as_owner "$bindir/pg_ctl" -D "$datadir/data" -l "$datadir/server.log" -w -t 60 \
            -o "$opts" start >/dev/null 2>&1; then
            break
        fi
        log "server did not start on port $port (attempt $attempt):"
        tail -n 20 "$datadir/server.log" >&2 2>/dev/null || true
        port=""
    done
    [[ -n "$port" ]] || { stop_cluster; die "could not start PostgreSQL"; }
    echo "$port" >"$STATE/port"

    "$bindir/createdb" -h 127.0.0.1 -p "$port" -U "$DB_USER" "$DB_NAME" \
        || { stop_cluster; die "createdb $DB_NAME failed"; }

    url="postgresql+psycopg://$DB_USER@127.0.0.1:$port/$DB_NAME"
    echo "$url" >"$STATE/url"
    log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') ready on 127.0.0.1:$port (data in $datadir)"
    echo "$url"
}

print_url() {
    [[ -f "$STATE/url" && -f "$STATE/datadir" ]] || die "no test cluster is running (run: scripts/postgres.sh start)"
    local datadir bindir port
    datadir="$(cat "$STATE/datadir")"
    bindir="$(cat "$STATE/bindir")"
    port="$(cat "$STATE/port")"
    "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" \
        || die "the test cluster in $datadir is not answering (run: scripts/postgres.sh start)"
    cat "$STATE/url"
}

case "${1:-}" in
    start) start_cluster ;;
    stop) stop_cluster ;;
    url) print_url ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
