#!/bin/sh
# A throwaway pgbouncer in transaction pooling mode in front of a cluster
# started by pg-tmp.sh, for `make test-pgbouncer`.
#
#   pgbouncer-tmp.sh start DIR PGDIR   start it; prints its port
#   pgbouncer-tmp.sh stop DIR          stop it and remove DIR
#
# Any database name is passed through to the cluster ("*"), over the
# cluster's Unix socket. pgbouncer refuses to run as root: as root it runs
# as the "postgres" user. Callers inside bats must close fd 3.
set -eu
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: pgbouncer-tmp.sh start DIR PGDIR | stop DIR" >&2; exit 64; }

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
	pgdir=$(cd "${3:?PGDIR}" && pwd)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	chmod 755 "$dir"
	[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	as_owner sh -c "cat > '$dir/pgbouncer.ini'" <<INI
[databases]
* = host=$pgdir port=$(cat "$pgdir/port") user=chipctl

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
max_db_connections = 40
server_reset_query =
server_login_retry = 1
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
admin_users = chipctl
INI
	as_owner sh -c "printf '\"chipctl\" \"\"\n' > '$dir/userlist.txt'"
	as_owner pgbouncer -d -q "$dir/pgbouncer.ini" 3>&- || { cat "$dir/pgbouncer.log" >&2; exit 1; }
	i=0
	until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 100 ] || { cat "$dir/pgbouncer.log" >&2; exit 1; }
		sleep 0.05
	done
	echo "$port" > "$dir/port"
	echo "$port"
	;;
stop)
	[ -f "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
	rm -rf "$dir"
	;;
*)
	echo "pgbouncer-tmp.sh: unknown command '$cmd'" >&2
	exit 64
	;;
esac
