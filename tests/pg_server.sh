#!/bin/sh
#  pg_server.sh: a throwaway PostgreSQL server for tests.
#
#    pg_server.sh start DIR PORT [PID]
#                                  initdb DIR/data (first time only: DIR must
#                                  be a fresh empty directory) and start
#                                  the server on 127.0.0.1:PORT, its unix
#                                  socket in DIR; prints the superuser URL
#                                  postgres://sluice@127.0.0.1:PORT/postgres.
#                                  With PID (the test's own), a watchdog stops
#                                  the server and removes DIR once PID is
#                                  gone, so a test that crashes or is killed
#                                  leaves no server behind.
#    pg_server.sh stop DIR         stop it (fast shutdown); DIR stays, the
#                                  caller removes it
#
#  Uses Debian's packages (/usr/lib/postgresql/<version>/bin, newest first)
#  or $SLUICE_PG_BIN. Exits 77 (the usual "skipped" code) if PostgreSQL is
#  not installed, 1 on any other failure with the server log on stderr.
#
#  The server is for tests only: trust authentication on loopback, fsync and
#  synchronous commit off (a crash loses the data, which is thrown away
#  anyway). PostgreSQL refuses to run as root, so under root the server
#  runs as $SLUICE_PG_USER, else the "postgres" account the Debian package
#  creates, else "nobody": no extra account is created, DIR is chowned.
set -eu

die () { echo "pg_server.sh: $*" >&2; exit 1; }

bindir=${SLUICE_PG_BIN:-}
if [ -z "$bindir" ]; then
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -rn); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bindir=$d; break; fi
    done
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/pg_ctl" ]; then
    echo "pg_server.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
    exit 77
fi

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: pg_server.sh start DIR PORT | stop DIR"
[ -d "$dir" ] || die "$dir is not a directory"
dir=$(cd "$dir" && pwd)

#  as_user CMD...: run CMD as the server's account
if [ "$(id -u)" = 0 ]; then
    user=${SLUICE_PG_USER:-}
    if [ -z "$user" ]; then
        if id postgres >/dev/null 2>&1; then user=postgres; else user=nobody; fi
    fi
    id "$user" >/dev/null 2>&1 || die "no account '$user' to run PostgreSQL as"
    as_user () { runuser -u "$user" -- "$@"; }
else
    user=$(id -un)
    as_user () { "$@"; }
fi

case "$cmd" in
start)
    port=${3:-}
    case "$port" in
        ''|*[!0-9]*) die "start needs a numeric PORT" ;;
    esac
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        #  DIR is handed to the server's account: only a fresh, empty one
        [ -z "$(ls -A "$dir")" ] \
            || die "$dir is not empty: give start a fresh directory (mktemp -d)"
        [ "$(id -u)" = 0 ] && chown "$user" "$dir"
        chmod 700 "$dir"
        as_user test -w "$dir" \
            || die "$dir is not reachable by '$user' (every parent directory must be searchable)"
        as_user "$bindir/initdb" -D "$dir/data" -U sluice -A trust -E UTF8 \
            --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
        cat >>"$dir/data/postgresql.conf" <<EOF
# pg_server.sh: test server
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 32MB
max_connections = 100
log_min_messages = warning
EOF
    fi
    #  the port can change between restarts: pass it on the command line
    if ! as_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $port" start >/dev/null 2>&1; then
        tail -n 20 "$dir/server.log" >&2 2>/dev/null || true
        die "server did not start on port $port"
    fi
    watch=${4:-}
    case "$watch" in
        '') ;;
        *[!0-9]*) die "PID must be numeric" ;;
        *)  #  detached, and off the caller's stdout so its reader sees EOF
            ( while kill -0 "$watch" 2>/dev/null && [ -f "$dir/data/PG_VERSION" ]; do
                  sleep 1
              done
              if [ -f "$dir/data/PG_VERSION" ]; then     #  the caller died
                  [ -f "$dir/data/postmaster.pid" ] \
                      && as_user "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop
                  rm -rf "$dir"
              fi ) </dev/null >/dev/null 2>&1 &
            ;;
    esac
    echo "postgres://sluice@127.0.0.1:$port/postgres"
    ;;
stop)
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    as_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 \
        || die "server in $dir did not stop"
    ;;
*)
    die "unknown command '$cmd': use start or stop"
    ;;
esac
