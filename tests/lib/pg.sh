#!/bin/bash
# pg.sh — a throw-away PostgreSQL cluster for the tests.
#
#   tests/lib/pg.sh start DIR   initdb in DIR, start on a free port, print the URL
#   tests/lib/pg.sh stop DIR    stop it (DIR is then removed by the caller)
#
# Installs PostgreSQL from Debian when it is missing.  Runs as an
# unprivileged user because CI runs as root and postgres refuses root.
set -eu
cmd=$1 dir=$2
PGUSER_OS=mercato-pg

pgbin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$d" ] && echo "$d"
}

as_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$PGUSER_OS" -- "$@"
    else
        "$@"
    fi
}

case "$cmd" in
start)
    if [ -z "$(pgbin)" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    BIN=$(pgbin)
    if [ "$(id -u)" -eq 0 ] && ! id "$PGUSER_OS" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$PGUSER_OS"
    fi
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        chown "$PGUSER_OS" "$dir"
        chmod o+x "$(dirname "$dir")"
    fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    as_user "$BIN/initdb" -D "$dir/data" -U mercato --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    # tests trade durability for speed; PG_DURABLE=1 (benchmarks) keeps fsync
    # on and only makes commits asynchronous, like SQLite's synchronous=NORMAL
    if [ "${PG_DURABLE:-0}" = 1 ]; then durability="fsync = on"; else durability="fsync = off
full_page_writes = off"; fi
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
$durability
synchronous_commit = off
max_connections = 300
shared_buffers = 128MB
CONF
    as_user "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
        { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://mercato@127.0.0.1:$port"
    ;;
stop)
    BIN=$(pgbin)
    [ -d "$dir/data" ] && as_user "$BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
*)
    echo "usage: pg.sh start|stop DIR" >&2
    exit 2
    ;;
esac
