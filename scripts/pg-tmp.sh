#!/bin/sh
# A throwaway PostgreSQL 15 cluster for tests, benchmarks and the quick start.
#
#   pg-tmp.sh start DIR   initdb + start in DIR (created), on a free port on
#                         127.0.0.1 and a socket in DIR; prints the admin URL
#                         (database "postgres", user "chipctl", with password)
#   pg-tmp.sh stop DIR    stop it (immediate) and remove DIR
#   pg-tmp.sh url DIR [DB]  print the URL of database DB (default postgres)
#   pg-tmp.sh restart DIR   a clean restart; crash DIR: an immediate one
#
# PG_TMP_OPTS (start): extra server options, e.g. "-c
# shared_preload_libraries=pg_stat_statements"; none by default.
#
# initdb and postgres refuse to run as root: as root the server runs as the
# "postgres" system user (created by Debian's postgresql package). Callers
# inside bats must close fd 3 (3>&-) or bats waits for the server to exit.
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: pg-tmp.sh start|stop|url DIR" >&2; exit 64; }

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

url() {
	port=$(cat "$dir/port")
	pw=$(cat "$dir/password")
	echo "postgresql://chipctl:$pw@127.0.0.1:$port/${1:-postgres}"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

case "$cmd" in
start)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	chmod 755 "$dir"
	# Every directory above must be traversable by the server's user.
	p=$dir
	while [ "$p" != / ]; do p=$(dirname "$p"); chmod o+x "$p" 2>/dev/null || true; done
	[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
	pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$pw" > "$dir/password"
	as_owner sh -c "printf '%s\n' '$pw' > '$dir/pwfile'"
	as_owner "$PGBIN/initdb" -D "$dir/data" -U chipctl --pwfile="$dir/pwfile" \
		--auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C \
		--nosync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
	port=$(free_port)
	echo "$port" > "$dir/port"
	# PG_TMP_DURABLE=1 keeps fsync on: a crash (immediate stop) then loses
	# nothing committed, as on a real server (the fault-injection suite).
	durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	[ -n "${PG_TMP_DURABLE:-}" ] && durability=""
	as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-c port=$port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir $durability -c max_connections=300 -c shared_buffers=256MB ${PG_TMP_OPTS:-}" \
		start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
	url postgres
	;;
stop)
	if [ -d "$dir/data" ]; then
		as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	;;
url)
	url "${3:-postgres}"
	;;
restart)
	# fast, not immediate: with fsync=off an immediate stop may lose recent commits
	as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w restart >/dev/null
	;;
crash)
	# an immediate stop (a crash: no checkpoint, connections cut) and a
	# start with crash recovery; use only with PG_TMP_DURABLE=1
	as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w restart >/dev/null
	;;
*)
	echo "pg-tmp.sh: unknown command '$cmd'" >&2
	exit 64
	;;
esac
