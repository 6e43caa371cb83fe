# Shared by the benchmarks: a throwaway cluster, a migrated database, timing.
# Source it from a bench script; it sets BENCH_WORK, DATABASE_URL, CHIPCTL.
REPO=$(cd "$(dirname "$0")/.." && pwd)
CHIPCTL="$REPO/chipctl"
BENCH_WORK=$(mktemp -d /tmp/chipctl-bench.XXXXXX)
chmod 755 "$BENCH_WORK"
trap '"$REPO/scripts/pg-tmp.sh" stop "$BENCH_WORK/pg" 2>/dev/null; rm -rf "$BENCH_WORK"' EXIT
"$REPO/scripts/pg-tmp.sh" start "$BENCH_WORK/pg" >/dev/null 3>&-
ADMIN_URL=$("$REPO/scripts/pg-tmp.sh" url "$BENCH_WORK/pg")
psql -XAtq "$ADMIN_URL" -c "CREATE DATABASE bench" >/dev/null
DATABASE_URL=$("$REPO/scripts/pg-tmp.sh" url "$BENCH_WORK/pg" bench)
export DATABASE_URL
"$CHIPCTL" -q migrate

q() { psql -XAtq -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"; }

now_ns() { date +%s%N; }

# time_runs N PREPARE_SQL CMD...: see bench/timeit.py
time_runs() { python3 "$REPO/bench/timeit.py" "$@"; }

# The URL of database DB over the cluster's Unix socket (no TCP, no SCRAM
# handshake): what a job on the database host pays to connect.
socket_url() {
	echo "postgresql:///$1?host=$BENCH_WORK/pg&port=$(cat "$BENCH_WORK/pg/port")&user=chipctl"
}
