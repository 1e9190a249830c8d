#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: `start` prints `export NIGHTSHIFT_TEST_PG=URL`
# (eval it), `stop DIR` stops the cluster and deletes it. The cluster lives in a temp dir, runs
# as a non-root user (initdb refuses root; the Debian package's `postgres` user is used), listens
# on 127.0.0.1 only, on a free port, with a random password, and without fsync (test data only).
#
#   eval "$(./scripts/test-postgres.sh start)"   # sets NIGHTSHIFT_TEST_PG and NIGHTSHIFT_TEST_PG_DIR
#   ./scripts/test-postgres.sh stop "$NIGHTSHIFT_TEST_PG_DIR"
set -euo pipefail

pg_bin() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    if [ -z "$d" ]; then
        echo "error: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
        exit 1
    fi
    echo "$d"
}

# Run a command as the cluster's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

case "${1:-}" in
start)
    bin="$(pg_bin)"
    dir="$(mktemp -d /tmp/nightshift-pg.XXXXXX)"
    chmod 755 "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    password="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    as_owner bash -c "echo '$password' > '$dir/pw'"
    as_owner "$bin/initdb" -D "$dir/data" -U nightshift --pwfile="$dir/pw" \
        --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    port="$(free_port)"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "export NIGHTSHIFT_TEST_PG='postgres://nightshift:$password@127.0.0.1:$port/postgres'"
    echo "export NIGHTSHIFT_TEST_PG_DIR='$dir'"
    ;;
stop)
    dir="${2:?usage: test-postgres.sh stop DIR}"
    case "$dir" in /tmp/nightshift-pg.*) ;; *) echo "error: $dir: not a test cluster" >&2; exit 1 ;; esac
    as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start | stop DIR" >&2
    exit 2
    ;;
esac
