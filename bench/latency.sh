#!/bin/sh
# Benchmark of issue 19, item 5: sending against a provider with a real round
# trip (SPEC section 9: ONE send-worker at >= 90 % of 200 chips / 0.3 s =
# 667 msg/s, never two sends in flight on one chip).
#
# The fake Evolution API (tests/fakes/fake_evolution.py) answers every
# sendText after L ms (BENCH_LATENCY_MS, 300) plus the delay the request asks
# for, and records each send's start and end. 200 Evolution chips with room
# to send, N due replies ('resposta', N doctors; BENCH_LATENCY_MESSAGES,
# 3,000). Pacing and typing are turned off when the settings exist
# (send.chip_gap_s, send.chip_gap_jitter_s, send.typing_ms_per_char, as
# `chipctl --list-settings` lists them). Each run has its own database and is
# stopped (SIGTERM: the worker finishes what it holds) after
# BENCH_LATENCY_MAX_S (60) seconds; its rate counts what was recorded sent.
#   1. one `send-worker --once`;
#   2. four concurrent `send-worker --once`;
#   3. graphile-worker (bench/graphile, 2 processes x 64) on the same fake,
#      unless BENCH_LATENCY_GRAPHILE=0 or it cannot be installed.
# Per run: msg/s, share of the physical limit (chips / L), mean sends in
# flight and overlapping sends on one chip (from the fake's records), and
# database ms per message (pg_stat_statements' total_exec_time in that
# database over the messages, as bench/compare.sh).
set -eu
N=${BENCH_LATENCY_MESSAGES:-3000}
L=${BENCH_LATENCY_MS:-300}
MAX_S=${BENCH_LATENCY_MAX_S:-60}
CHIPS=${BENCH_LATENCY_CHIPS:-200}
GW_PROCS=${BENCH_LATENCY_GW_PROCS:-2}
GW_CONCURRENCY=${BENCH_LATENCY_GW_CONCURRENCY:-64}
GW_VERSION=0.17.3

PG_TMP_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top -c pg_stat_statements.max=10000"
export PG_TMP_OPTS
. "$(dirname "$0")/lib.sh"
unset PG_TMP_OPTS


ADMIN_URL=$("$REPO/scripts/pg-tmp.sh" url "$BENCH_WORK/pg")
aq() { psql -XAtq -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "$1"; }
aq "CREATE EXTENSION pg_stat_statements" >/dev/null

# --- the slow fake
start_fake_evolution "$L" "$CHIPS" latency

# --- settings: pacing and typing off where they exist
: > "$BENCH_WORK/chipctl.conf"
chmod 600 "$BENCH_WORK/chipctl.conf"
settings=$("$CHIPCTL" --list-settings | awk '{ print $1 }')
off=""
for s in chip_gap_s chip_gap_jitter_s typing_ms_per_char; do
	if printf '%s\n' "$settings" | grep -qx "send.$s"; then off="$off $s = 0;"; fi
done
[ -z "$off" ] || printf 'send: {%s };\n' "$off" > "$BENCH_WORK/chipctl.conf"
export CHIPCTL_CONFIG="$BENCH_WORK/chipctl.conf"
pacing=${off:+"pacing and typing off:$off"}
pacing=${pacing:-"no pacing or typing settings in this build"}

# fresh_db NAME: a migrated database with the chips and the due messages
fresh_db() {
	aq "CREATE DATABASE $1" >/dev/null
	DATABASE_URL=$("$REPO/scripts/pg-tmp.sh" url "$BENCH_WORK/pg" "$1")
	export DATABASE_URL
	"$CHIPCTL" -q migrate
	q "INSERT INTO chips (telefone, instance_name, status, trust_score, pode_prospectar,
	     pode_followup, pode_responder, evolution_connected, limite_hora, limite_dia)
	   SELECT '5511900000' || lpad(g::text, 3, '0'), 'bench' || g, 'active', 90, true, true,
	     true, true, 1000000, 1000000 FROM generate_series(1, $CHIPS) g"
	q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo)
	   SELECT 'dr' || g, '55119' || lpad(g::text, 8, '0'), 'Olá, plantão ' || g, 'resposta'
	   FROM generate_series(1, $N) g"
	q "VACUUM ANALYZE fila_mensagens"
	q "VACUUM ANALYZE chips"
}
db_ms() {
	aq "SELECT round(coalesce(sum(total_exec_time), 0)::numeric, 1) FROM pg_stat_statements
	    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$1')"
}
now_s() { date +%s.%N; }
# stats: "count first_start mean_in_flight overlapping max_in_flight" from the fake
stats() {
	fake GET /__sends/stats | python3 -c 'import json,sys; s=json.load(sys.stdin)
print(s["count"], s["first_start"] or 0, s["mean_in_flight"], s["overlapping_on_one_instance"], s["max_in_flight"])'
}
# report NAME SENT T_END DB_MS: one line of figures
report() {
	# shellcheck disable=SC2046  # five numbers, split on purpose
	set -- "$1" "$2" "$3" "$4" $(stats)
	awk -v name="$1" -v sent="$2" -v tend="$3" -v dbms="$4" -v reqs="$5" -v first="$6" \
	    -v mif="$7" -v ovl="$8" -v peak="$9" -v chips="$CHIPS" -v l="$L" 'BEGIN {
		span = (first > 0 && tend > first) ? tend - first : 0
		rate = span > 0 ? sent / span : 0
		limit = chips * 1000 / l
		printf "%s: %d sent (%d requests) in %.1f s from the first send: %.1f msg/s, %.1f %% of the limit (%d chips / %d ms = %.0f msg/s)\n",
		       name, sent, reqs, span, rate, 100 * rate / limit, chips, l, limit
		printf "%s: mean sends in flight %.1f (peak %d), overlapping sends on one chip %d (must be 0), database %.3f ms per message\n",
		       name, mif, peak, ovl, (sent > 0 ? dbms / sent : 0)
	}'
}

# run_workers NAME COUNT: COUNT send-worker --once on a fresh database, capped
run_workers() {
	fresh_db "$1"
	aq "SELECT pg_stat_statements_reset()" >/dev/null
	fake POST /__control/sends/reset '{}' >/dev/null
	wpids=""
	w=1
	while [ "$w" -le "$2" ]; do
		timeout -k 30 -s TERM "$MAX_S" "$CHIPCTL" ${BENCH_LATENCY_LOG:--q} send-worker --once --worker-id "lat-$w" \
			2>"$BENCH_WORK/err.$1.$w" &
		wpids="$wpids $!"
		w=$((w + 1))
	done
	pids="$pids $wpids"
	rc=0
	for p in $wpids; do wait "$p" || rc=$?; done
	t_end=$(now_s)
	sent=$(q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")
	capped=""
	[ "$rc" -eq 124 ] && capped=" (stopped after ${MAX_S} s)"
	[ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || { echo "latency: $1 exited $rc"; cat "$BENCH_WORK"/err."$1".*; }
	echo "-- $1: $2 x send-worker --once$capped"
	# BENCH_LATENCY_DUMP=DIR keeps the fake's send timings of each run
	[ -z "${BENCH_LATENCY_DUMP:-}" ] || { fake GET /__sends >"$BENCH_LATENCY_DUMP/sends.$1.json"; cat "$BENCH_WORK"/err."$1".* >"$BENCH_LATENCY_DUMP/log.$1"; }
	report "$1" "$sent" "$t_end" "$(db_ms "$1")"
}

echo "== latency (issue 19): $N due replies, $CHIPS Evolution chips, the fake answers after $L ms; $pacing"
run_workers one 1
run_workers four 4

# --- graphile-worker on the same fake
if [ "${BENCH_LATENCY_GRAPHILE:-1}" = 0 ]; then
	echo "graphile-worker: skipped (BENCH_LATENCY_GRAPHILE=0)"
	exit 0
fi
gw_install "$GW_VERSION"
if [ -n "$gw_reason" ]; then
	echo "graphile-worker unavailable: $gw_reason"
	exit 0
fi
aq "CREATE DATABASE graphile" >/dev/null
GW_URL=$("$REPO/scripts/pg-tmp.sh" url "$BENCH_WORK/pg" graphile)
GW_MODULES="$GW_PREFIX/node_modules"
export GW_MODULES GW_CONCURRENCY GW_LOCAL_QUEUE=1000 GW_BATCH_DELAY=0 NO_LOG_SUCCESS=1
DATABASE_URL=$GW_URL node "$REPO/bench/graphile/runner.js" migrate
psql -XAtq -v ON_ERROR_STOP=1 "$GW_URL" -c "SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(
      SELECT ROW('send', json_build_object('instance', 'bench' || (1 + g % $CHIPS),
               'number', '55119' || lpad(g::text, 8, '0'), 'text', 'Olá, plantão ' || g),
             NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec
      FROM generate_series(1, $N) g))" >/dev/null
aq "SELECT pg_stat_statements_reset()" >/dev/null
fake POST /__control/sends/reset '{}' >/dev/null
gpids=""
i=1
while [ "$i" -le "$GW_PROCS" ]; do
	DATABASE_URL=$GW_URL timeout -k 30 -s TERM "$MAX_S" node "$REPO/bench/graphile/runner.js" run \
		>"$BENCH_WORK/gw.out.$i" 2>"$BENCH_WORK/gw.err.$i" &
	gpids="$gpids $!"
	i=$((i + 1))
done
pids="$pids $gpids"
grc=0
for p in $gpids; do wait "$p" || grc=$?; done
t_end=$(now_s)
g_done=$(cat "$BENCH_WORK"/gw.out.* | awk '{ n += $2 } END { print n + 0 }')
[ "$grc" -eq 0 ] || { g_done=$(fake GET /__sends/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'); \
	echo "graphile-worker exited $grc; counting the fake's answered sends"; }
echo "-- graphile: graphile-worker $GW_VERSION, $GW_PROCS processes x concurrency $GW_CONCURRENCY (no rule of one send per chip)"
report graphile "$g_done" "$t_end" "$(db_ms graphile)"
