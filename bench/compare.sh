#!/bin/sh
# Benchmark of issue 13, point 3: chipctl against graphile-worker 0.17.3 on
# the identical workload, side by side in one run, against one throwaway
# PostgreSQL 15 (TCP on 127.0.0.1, pg_stat_statements loaded; each tool its
# own fresh database) and one nginx answering every POST
# /message/sendText/* with 201 and Evolution v2's success body.
#
# Workload: N due replies (tipo 'resposta', N different doctors; 20,000 by
# default), 20 chips with limits out of the way.
#   chipctl: 4 `chipctl send-worker --once`, default settings (an empty
#     config file), DATABASE_URL over TCP.
#   graphile-worker: N jobs whose task does the same POST with a keep-alive
#     agent and reads the body (bench/graphile/); its best configuration per
#     the issue: 2 processes x concurrency 64, local queue of 1,000, batched
#     job completion and failure (completeJobBatchDelay/failJobBatchDelay 0),
#     prepared statements.
# Each rate runs from the first send (nginx's log) to the exit of the last
# process (every result recorded). Database time per message is the sum of
# pg_stat_statements' total_exec_time in the tool's database (reset before
# each run) over the messages; chipctl's rows written per message, by table,
# come from pg_stat_user_tables.
#
# graphile-worker is installed from the npm registry into a temporary
# directory; without it (offline) chipctl's figures are still printed, then
# "graphile-worker unavailable: <reason>", and the script exits 0.
# Knobs: BENCH_COMPARE_MESSAGES, BENCH_COMPARE_GW_PROCS (2),
# BENCH_COMPARE_GW_CONCURRENCY (64), BENCH_COMPARE_GW_LOCAL_QUEUE (1000),
# BENCH_COMPARE_GW_BATCH_DELAY (0; -1 unbatched), BENCH_COMPARE_PERF=1: each
# tool's run under `perf record -a` (needs perf and root or
# perf_event_paranoid <= 0), then its CPU by process and chipctl's top
# functions in postgres and in chipctl. BENCH_COMPARE_TRACK=all: statements
# inside functions counted too, BENCH_COMPARE_TOP (5) of them shown;
# BENCH_COMPARE_LOG=-v (with CHIPCTL_LOG_LEVEL=debug: every batch) and
# BENCH_COMPARE_DUMP=DIR keep the workers' logs in DIR/log.chipctl;
# BENCH_COMPARE_WORKERS (4): how many chipctl workers.
set -eu
N=${BENCH_COMPARE_MESSAGES:-20000}
GW_PROCS=${BENCH_COMPARE_GW_PROCS:-2}
GW_CONCURRENCY=${BENCH_COMPARE_GW_CONCURRENCY:-64}
GW_LOCAL_QUEUE=${BENCH_COMPARE_GW_LOCAL_QUEUE:-1000}
GW_BATCH_DELAY=${BENCH_COMPARE_GW_BATCH_DELAY:-0}
GW_VERSION=0.17.3

PG_TMP_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=${BENCH_COMPARE_TRACK:-top} -c pg_stat_statements.max=10000"
export PG_TMP_OPTS
. "$(dirname "$0")/lib.sh"
unset PG_TMP_OPTS


ADMIN_URL=$("$REPO/scripts/pg-tmp.sh" url "$BENCH_WORK/pg")
CHIPCTL_URL=$DATABASE_URL
GW_URL=$("$REPO/scripts/pg-tmp.sh" url "$BENCH_WORK/pg" graphile)
aq() { psql -XAtq -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "$1"; }
aq "CREATE EXTENSION pg_stat_statements" >/dev/null
aq "CREATE DATABASE graphile" >/dev/null

# --- graphile-worker from npm, into a temporary directory (first, so the
# download does not run during either measurement)
gw_install "$GW_VERSION"

# --- nginx as Evolution: 201 and the v2 body; logs each request's time (ms)
start_nginx_evolution "$BENCH_WORK/nginx/logs/access.log"
ACCESS_LOG=$BENCH_WORK/nginx/logs/access.log

# sends_since T0_MS T1_MS: "count first_ms" of the 201s nginx logged in [T0, T1]
sends_since() {
	awk -v a="$1" -v b="$2" '$2 == 201 { t = $1 * 1000; if (t >= a && t <= b) { n++; if (!f || t < f) f = t } }
		END { printf "%d %.0f\n", n, f }' "$ACCESS_LOG"
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# db_stats DB: "total_ms statements" over the database since the last reset
db_stats() {
	aq "SELECT round(coalesce(sum(total_exec_time), 0)::numeric, 1), coalesce(sum(calls), 0)
	    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$1')" | tr '|' ' '
}
top5() {
	aq "SELECT lpad(round(total_exec_time::numeric, 1)::text, 9) || ' ms ' || lpad(calls::text, 7) || ' calls  '
	           || left(regexp_replace(query, '\s+', ' ', 'g'), 110)
	    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$1')
	    ORDER BY total_exec_time DESC LIMIT ${BENCH_COMPARE_TOP:-5}" | sed 's/^/  /'
}
# fmt N: 12345 -> 12,345
fmt() { printf '%s\n' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
# perf_start NAME / perf_stop NAME: a system-wide profile of one tool's run
perf_pid=""
perf_start() {
	[ -n "${BENCH_COMPARE_PERF:-}" ] || return 0
	perf record -a -F 2000 ${BENCH_COMPARE_PERF_CG:--g} -o "$BENCH_WORK/perf.$1" >/dev/null 2>"$BENCH_WORK/perf.$1.err" &
	perf_pid=$!
	pids="$pids $perf_pid"
	sleep 0.3	# perf attaches to every CPU before the run starts
}
perf_stop() {
	[ -n "$perf_pid" ] || return 0
	kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; perf_pid=""
	echo "$1: CPU samples by process (perf):"
	perf report -i "$BENCH_WORK/perf.$1" -g none --no-children --sort comm --stdio 2>/dev/null |
		grep -E '^ +[0-9]' | head -n 6 | sed 's/^/  /'
	for c in postgres chipctl; do
		[ "$1" = chipctl ] || [ "$c" = postgres ] || continue
		echo "$1: top functions in $c:"
		perf report -i "$BENCH_WORK/perf.$1" -g none --no-children --comms "$c" --sort dso,sym --stdio 2>/dev/null |
			grep -E '^ +[0-9]' | head -n 12 | sed 's/^/  /'
	done
	[ -z "${BENCH_COMPARE_PERF_KEEP:-}" ] || cp "$BENCH_WORK/perf.$1" "$BENCH_COMPARE_PERF_KEEP.$1"
}

# --- chipctl
DATABASE_URL=$CHIPCTL_URL
export DATABASE_URL
: > "$BENCH_WORK/chipctl.conf"
chmod 600 "$BENCH_WORK/chipctl.conf"
export CHIPCTL_CONFIG="$BENCH_WORK/chipctl.conf"
# an instant provider: pacing and typing off (SPEC section 9)
export CHIPCTL_CHIP_GAP_S=0 CHIPCTL_CHIP_GAP_JITTER_S=0 CHIPCTL_TYPING_MS_PER_CHAR=0
q "INSERT INTO chips (telefone, instance_name, status, trust_score, pode_prospectar,
     pode_followup, pode_responder, evolution_connected, limite_hora, limite_dia)
   SELECT '55119000000' || lpad(g::text, 2, '0'), 'bench' || g, 'active', 90, true, true,
     true, true, 1000000, 1000000 FROM generate_series(1, 20) g"
q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo)
   SELECT 'dr' || g, '55119' || lpad(g::text, 8, '0'), 'Olá, plantão ' || g, 'resposta'
   FROM generate_series(1, $N) g"
q "VACUUM ANALYZE fila_mensagens"
q "VACUUM ANALYZE chips"
q "SELECT pg_stat_reset()" >/dev/null	# rows written per message count from here

echo "== compare (issue 13): $N due replies, 20 chips, PostgreSQL 15 over TCP, nginx as Evolution"
echo "-- chipctl: ${BENCH_COMPARE_WORKERS:-4} send-worker --once, default settings"
aq "SELECT pg_stat_statements_reset()" >/dev/null
perf_start chipctl
# BENCH_COMPARE_WAITS=1: what chipctl's backends wait on, sampled every 5 ms
if [ -n "${BENCH_COMPARE_WAITS:-}" ]; then
	python3 - "$ADMIN_URL" > "$BENCH_WORK/waits" <<'PY' &
import signal, subprocess, sys, time, collections
c = collections.Counter()
def done(*_):
    for k, v in c.most_common(15):
        print("%6d  %s" % (v, k))
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
p = subprocess.Popen(["psql", "-XAtq", sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
q = ("SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') || ' ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 60) "
     "FROM pg_stat_activity WHERE datname = 'bench' AND state = 'active' AND pid <> pg_backend_pid();\n"
     "SELECT 'END';\n")
while True:
    p.stdin.write(q); p.stdin.flush()
    for line in iter(p.stdout.readline, "END\n"):
        c[line.strip()] += 1
    time.sleep(0.005)
PY
	waits_pid=$!
	pids="$pids $waits_pid"
fi
t0=$(now_ms)
cpids=""
for w in $(seq 1 ${BENCH_COMPARE_WORKERS:-4}); do
	"$CHIPCTL" ${BENCH_COMPARE_LOG:--q} send-worker --once --worker-id "cmp-$w" 2>"$BENCH_WORK/err.$w" &
	cpids="$cpids $!"
done
pids="$pids $cpids"
crc=0
for p in $cpids; do wait "$p" || crc=$?; done
pids=""
t1=$(now_ms)
perf_stop chipctl
# BENCH_COMPARE_DUMP=DIR keeps the workers' logs (BENCH_COMPARE_LOG=-v: every batch)
[ -z "${BENCH_COMPARE_DUMP:-}" ] || cat "$BENCH_WORK"/err.* >"$BENCH_COMPARE_DUMP/log.chipctl"
if [ -n "${waits_pid:-}" ]; then
	kill "$waits_pid"; wait "$waits_pid" 2>/dev/null || true
	echo "chipctl: what its backends were doing (samples every 5 ms):"
	sed 's/^/  /' "$BENCH_WORK/waits"
fi
set -- $(db_stats bench); c_dbms=$1 c_calls=$2
c_top=$(top5 bench)
set -- $(sends_since "$t0" "$t1"); c_sends=$1 c_first=$2
c_sent=$(q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")
if [ "$crc" -ne 0 ] || [ "$c_sent" -ne "$N" ]; then
	echo "compare: chipctl sent $c_sent of $N (exit status $crc)"; cat "$BENCH_WORK"/err.*; exit 1
fi
c_ms=$(( t1 - c_first )); [ "$c_ms" -gt 0 ] || c_ms=1
c_rate=$(( c_sent * 1000 / c_ms ))
echo "chipctl: sent $c_sent of $N ($c_sends requests) in $c_ms ms from the first send: $(fmt $c_rate) msg/s" \
	"($(( t1 - t0 )) ms from launch)"
echo "chipctl: $c_calls statements, $c_dbms ms of statement time; top 5 by total time:"
printf '%s\n' "$c_top"
c_per=$(awk -v t="$c_dbms" -v n="$c_sent" 'BEGIN { printf "%.3f", t / n }')
# what one message wrote: rows inserted, updated and deleted per table over
# the messages (the statistics the workers flushed as they exited)
# (a backend flushes its table counters as it exits: wait until the queue
# rows' two updates per message are counted, 5 s at most)
i=0
while [ "$i" -lt 50 ] && [ "$(q "SELECT n_tup_upd < 2 * $c_sent FROM pg_stat_user_tables
                                WHERE relname = 'fila_mensagens'")" = t ]; do
	sleep 0.1; i=$((i + 1))
done
echo "chipctl: rows written per message (inserted+updated+deleted):"
q "SELECT string_agg(relname || ' ' || to_char((n_tup_ins + n_tup_upd + n_tup_del)::numeric / $c_sent, 'FM0.00'), ', '
          ORDER BY n_tup_ins + n_tup_upd + n_tup_del DESC)
   FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0
     AND relname NOT IN ('schema_migrations')" | sed 's/^/  /'


if [ -n "$gw_reason" ]; then
	echo "db ms per message: chipctl $c_per"
	echo "graphile-worker unavailable: $gw_reason"
	exit 0
fi

# --- graphile-worker
GW_MODULES="$GW_PREFIX/node_modules"
export GW_MODULES GW_CONCURRENCY GW_LOCAL_QUEUE GW_BATCH_DELAY NO_LOG_SUCCESS=1
DATABASE_URL=$GW_URL node "$REPO/bench/graphile/runner.js" migrate
gq() { psql -XAtq -v ON_ERROR_STOP=1 "$GW_URL" -c "$1"; }
# one add_jobs call (N add_job calls in one statement take minutes: a NOTIFY each)
gq "SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(
      SELECT ROW('send', json_build_object('instance', 'bench' || (1 + g % 20),
               'number', '55119' || lpad(g::text, 8, '0'), 'text', 'Olá, plantão ' || g),
             NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec
      FROM generate_series(1, $N) g))" >/dev/null
gq "VACUUM ANALYZE graphile_worker._private_jobs"
gw_opts="preparedStatements: true"
[ "$GW_LOCAL_QUEUE" -gt 1 ] && gw_opts="$gw_opts, localQueue: { size: $GW_LOCAL_QUEUE }"
gw_opts="$gw_opts, completeJobBatchDelay: $GW_BATCH_DELAY, failJobBatchDelay: $GW_BATCH_DELAY"
echo "-- graphile-worker $GW_VERSION: $GW_PROCS processes x concurrency $GW_CONCURRENCY ($gw_opts)"
aq "SELECT pg_stat_statements_reset()" >/dev/null
perf_start graphile
t0=$(now_ms)
gpids=""
i=1
while [ "$i" -le "$GW_PROCS" ]; do
	DATABASE_URL=$GW_URL ${BENCH_COMPARE_DEBUG:+/usr/bin/time -f "node: %U s user %S s sys %M KiB"} \
		node "$REPO/bench/graphile/runner.js" run \
		>"$BENCH_WORK/gw.out.$i" 2>"$BENCH_WORK/gw.err.$i" &
	gpids="$gpids $!"
	i=$((i + 1))
done
pids="$pids $gpids"
grc=0
for p in $gpids; do wait "$p" || grc=$?; done
pids=""
t1=$(now_ms)
perf_stop graphile
set -- $(db_stats graphile); g_dbms=$1 g_calls=$2
set -- $(sends_since "$t0" "$t1"); g_sends=$1 g_first=$2
g_left=$(gq "SELECT count(*) FROM graphile_worker._private_jobs")
g_done=$(cat "$BENCH_WORK"/gw.out.* | awk '{ n += $2 } END { print n + 0 }')
if [ "$grc" -ne 0 ] || [ "$g_left" -ne 0 ] || [ "$g_done" -ne "$N" ]; then
	echo "compare: graphile-worker completed $g_done of $N, $g_left jobs left (exit status $grc)"
	cat "$BENCH_WORK"/gw.err.*; exit 1
fi
g_ms=$(( t1 - g_first )); [ "$g_ms" -gt 0 ] || g_ms=1
g_rate=$(( g_done * 1000 / g_ms ))
echo "graphile-worker: completed $g_done of $N ($g_sends requests) in $g_ms ms from the first send: $(fmt $g_rate) jobs/s" \
	"($(( t1 - t0 )) ms from launch)"
[ -n "${BENCH_COMPARE_DEBUG:-}" ] && cat "$BENCH_WORK"/gw.out.* "$BENCH_WORK"/gw.err.*
echo "graphile-worker: $g_calls statements, $g_dbms ms of statement time"
g_per=$(awk -v t="$g_dbms" -v n="$g_done" 'BEGIN { printf "%.3f", t / n }')

ratio=$(awk -v c="$c_rate" -v g="$g_rate" 'BEGIN { printf "%.2f", (g > 0 ? c / g : 0) }')
echo "ratio: ${ratio}x (chipctl $(fmt $c_rate) msg/s, graphile-worker $(fmt $g_rate) jobs/s)"
echo "db ms per message: chipctl $c_per, graphile-worker $g_per"
