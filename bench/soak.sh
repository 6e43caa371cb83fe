#!/bin/sh
# Benchmark of issue 19's goal "RSS flat over a long loop" (SPEC section 9:
# the worker's memory flat over an hour): one `send-worker` in loop mode,
# kept busy for S seconds, its resident memory sampled as it goes.
#
# The fake Evolution API (tests/fakes/fake_evolution.py) answers every
# sendText after L ms (20); 20 Evolution chips with limits that never bind;
# pacing and typing off (CHIPCTL_CHIP_GAP_S=0 CHIPCTL_CHIP_GAP_JITTER_S=0
# CHIPCTL_TYPING_MS_PER_CHAR=0; the config file is an empty one). A feeder
# enqueues F due replies (one doctor each) every second while fewer than
# 5 x F are pending, so the worker never runs dry. Every 5 s the worker's
# VmRSS (/proc/PID/status) and the messages enviada are sampled and printed.
#
# Prints the samples, the messages sent, the RSS after the first W s
# (20) and at the end, and the growth in kB per 10,000 messages sent (from
# the two ends, and the least-squares slope over the samples) from W s and
# in steady state: from the later of W s and half the run. The worker's
# batches grow to send.batch_size over its first claims, and glibc's
# mmap threshold moves with them, so its RSS climbs and jumps for the first
# ~45 s at ~800 msg/s: the verdict reads the steady state. "soak: RSS flat"
# when the RSS grew by less than T kB (256) from there to the end, else
# "soak: RSS grows"; it exits 0 either way (a measurement). The fake keeps
# every send and request in memory: its RSS grows, and is printed apart;
# it is not the worker's.
#
# Knobs: BENCH_SOAK_S (120), BENCH_SOAK_WARMUP_S (20), BENCH_SOAK_CHIPS (20),
# BENCH_SOAK_LATENCY_MS (20), BENCH_SOAK_FEED (messages a second, 1000),
# BENCH_SOAK_FLAT_KB (256), BENCH_SOAK_EVERY_S (5); BENCH_SOAK_DUMP=DIR keeps
# the worker's log and the samples; BENCH_SOAK_LOG=-v logs more.
set -eu
S=${BENCH_SOAK_S:-120}
WARM=${BENCH_SOAK_WARMUP_S:-20}
CHIPS=${BENCH_SOAK_CHIPS:-20}
L=${BENCH_SOAK_LATENCY_MS:-20}
FEED=${BENCH_SOAK_FEED:-1000}
FLAT_KB=${BENCH_SOAK_FLAT_KB:-256}
EVERY=${BENCH_SOAK_EVERY_S:-5}

. "$(dirname "$0")/lib.sh"
keep_binary

bench_on_exit() { : > "$BENCH_WORK/feed.stop" 2>/dev/null || true; }

: > "$BENCH_WORK/chipctl.conf"
export CHIPCTL_CONFIG="$BENCH_WORK/chipctl.conf"
export CHIPCTL_CHIP_GAP_S=0 CHIPCTL_CHIP_GAP_JITTER_S=0 CHIPCTL_TYPING_MS_PER_CHAR=0
unset CHIPCTL_MULTI_CHIP

# --- the fake
start_fake_evolution "$L" "$CHIPS" soak
fake_pid=$FAKE_PID

# --- chips with room, a first load of due replies
q "INSERT INTO chips (telefone, instance_name, status, trust_score, pode_prospectar,
     pode_followup, pode_responder, evolution_connected, limite_hora, limite_dia)
   SELECT '5511900000' || lpad(g::text, 3, '0'), 'bench' || g, 'active', 90, true, true,
     true, true, 100000000, 100000000 FROM generate_series(1, $CHIPS) g"
q "CREATE SEQUENCE bench_feed"
feed_sql="INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo)
   SELECT 'dr' || n, '55' || (11900000000 + n), 'Olá, plantão ' || n, 'resposta'
   FROM (SELECT nextval('bench_feed') AS n FROM generate_series(1, $FEED)) s
   WHERE (SELECT count(*) FROM fila_mensagens WHERE status = 'pendente') < 5 * $FEED"
q "$feed_sql"
q "VACUUM ANALYZE fila_mensagens"
q "VACUUM ANALYZE chips"

rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
sent_now() { q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'"; }

echo "== soak (issue 19): one send-worker loop for $S s, $CHIPS Evolution chips with room, the fake answers after $L ms, pacing and typing off; a feeder adds $FEED due replies a second while fewer than $((5 * FEED)) are pending; VmRSS every $EVERY s, warm-up $WARM s"
echo "binary: $BINARY"

# --- the worker, the feeder
# shellcheck disable=SC2086  # BENCH_SOAK_LOG: options, split on purpose
"$CHIPCTL" ${BENCH_SOAK_LOG:-} send-worker --worker-id soak 2>"$BENCH_WORK/err" &
wpid=$!
pids="$pids $wpid"
[ "$(cat "/proc/$wpid/comm" 2>/dev/null)" = chipctl ] || { sleep 0.2; [ "$(cat "/proc/$wpid/comm" 2>/dev/null)" = chipctl ]; } ||
	{ echo "soak: pid $wpid is not the worker"; exit 1; }
(
	while [ ! -e "$BENCH_WORK/feed.stop" ]; do
		q "$feed_sql" || true
		sleep 1
	done
) </dev/null >/dev/null 2>"$BENCH_WORK/feed.err" &
feeder=$!
pids="$pids $feeder"
fake_rss0=$(rss "$fake_pid")

# --- samples: elapsed s, worker VmRSS kB, messages enviada
start=$(date +%s)
: > "$BENCH_WORK/samples"
next=0
while :; do
	now=$(date +%s)
	el=$((now - start))
	if [ "$el" -ge "$next" ]; then
		kill -0 "$wpid" 2>/dev/null || { echo "soak: the worker exited early"; tail -n 20 "$BENCH_WORK/err"; exit 1; }
		printf '%d %s %s\n' "$el" "$(rss "$wpid")" "$(sent_now)" >> "$BENCH_WORK/samples"
		next=$((next + EVERY))
	fi
	[ "$el" -lt "$S" ] || break
	sleep 0.2
done
fake_rss1=$(rss "$fake_pid")

: > "$BENCH_WORK/feed.stop"
kill -TERM "$wpid"
rc=0
wait "$wpid" || rc=$?
wait "$feeder" 2>/dev/null || true
[ "$rc" -eq 0 ] || { echo "soak: the worker exited $rc"; tail -n 20 "$BENCH_WORK/err"; }
sent=$(sent_now)
statuses=$(q "SELECT string_agg(status || ' ' || n, ', ' ORDER BY status) FROM (SELECT status, count(*) n FROM fila_mensagens GROUP BY 1) s")
[ -z "${BENCH_SOAK_DUMP:-}" ] || { cp "$BENCH_WORK/err" "$BENCH_SOAK_DUMP/worker.log"; cp "$BENCH_WORK/samples" "$BENCH_SOAK_DUMP/samples"; }
summary=$(grep 'msg="send-worker summary"' "$BENCH_WORK/err" | sed 's/.*msg="send-worker summary" //' | tail -n 1)
errors=$(grep -c 'level=error' "$BENCH_WORK/err" || true)
warns=$(grep -c 'level=warn' "$BENCH_WORK/err" || true)

python3 - "$BENCH_WORK/samples" "$WARM" "$FLAT_KB" "$sent" "$fake_rss0" "$fake_rss1" \
	"worker: exit $rc; database at the end: $statuses; log lines at level=error $errors, level=warn $warns" \
	"worker summary: $summary" <<'PY'
import sys
path, warm, flat_kb, sent, f0, f1, wline, sline = sys.argv[1:]
warm, flat_kb = int(warm), int(flat_kb)
rows = [tuple(int(x) for x in l.split()) for l in open(path) if l.strip()]
print("  t(s)  VmRSS(kB)      sent  msg/s")
prev = None
for t, r, s in rows:
    rate = (s - prev[2]) / (t - prev[0]) if prev and t > prev[0] else 0
    print("%6d %10d %9d %6.0f" % (t, r, s, rate))
    prev = (t, r, s)

def growth(a):
    """(kB grown, messages, kB per 10,000 from the ends, fitted kB per 10,000) over samples a"""
    w, e = a[0], a[-1]
    n = e[2] - w[2]
    mx = sum(x[2] for x in a) / len(a)
    my = sum(x[1] for x in a) / len(a)
    sxx = sum((x[2] - mx) ** 2 for x in a)
    fit = sum((x[2] - mx) * (x[1] - my) for x in a) / sxx * 10000 if sxx else float("nan")
    return e[1] - w[1], n, ((e[1] - w[1]) * 10000.0 / n if n else float("nan")), fit

end = rows[-1]
after = [x for x in rows if x[0] >= warm]
steady_from = max(warm, end[0] // 2)
steady = [x for x in rows if x[0] >= steady_from]
print("sent: %d messages in %d s (%.0f msg/s), %s once stopped" % (
    end[2], end[0], end[2] / end[0] if end[0] else 0, sent))
if len(after) < 2 or len(steady) < 2:
    print(wline)
    print(sline)
    print("soak: too short to measure after a %d s warm-up" % warm)
    sys.exit(0)
peak = max(after, key=lambda x: x[1])
print("RSS: %d kB at start, %d kB after the first %d s, %d kB at the end (%d s); peak after %d s: %d kB at %d s" % (
    rows[0][1], after[0][1], after[0][0], end[1], end[0], warm, peak[1], peak[0]))
g, n, per, fit = growth(after)
print("growth from %d s: %+d kB over %d messages = %+.1f kB per 10,000 messages (fitted %+.1f)" % (
    after[0][0], g, n, per, fit))
g, n, per, fit = growth(steady)
print("growth in steady state (from %d s): %+d kB over %d messages = %+.1f kB per 10,000 messages (fitted %+.1f)" % (
    steady[0][0], g, n, per, fit))
print("(the fake's RSS went %s -> %s kB: it keeps every send and request; not the worker's)" % (f0, f1))
print(wline)
print(sline)
if g < flat_kb:
    print("soak: RSS flat (%+d kB from %d s to the end, under %d kB)" % (g, steady[0][0], flat_kb))
else:
    print("soak: RSS grows (%+d kB from %d s to the end, %d kB allowed; %+.1f kB per 10,000 messages)" % (
        g, steady[0][0], flat_kb, per))
PY
