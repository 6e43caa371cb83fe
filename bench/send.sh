#!/bin/sh
# Benchmark of issue 3: the send path (claim, guardrails, select, send, record)
# with 4 workers and 20 chips against nginx answering Evolution's 201 at once
# (so the fake is not the bottleneck). Prints messages per second, each
# worker's peak RSS, and a long single-worker run's RSS over time.
# Target: >= 3,000 messages/s on 2 cores; RSS flat.
set -eu
. "$(dirname "$0")/lib.sh"

N=${BENCH_SEND_MESSAGES:-20000}
LONG=${BENCH_SEND_LONG:-40000}

start_nginx_evolution
trap 'kill $(cat "$BENCH_WORK/nginx/nginx.pid") 2>/dev/null; "$REPO/scripts/pg-tmp.sh" stop "$BENCH_WORK/pg" 2>/dev/null; rm -rf "$BENCH_WORK"' EXIT
# BENCH_SEND_BATCH=N caps the batches (send.batch_size); default settings otherwise
BATCH=${BENCH_SEND_BATCH:-}
if [ -n "$BATCH" ]; then
	printf 'send: { batch_size = %d; };\n' "$BATCH" > "$BENCH_WORK/chipctl.conf"
	batches="batches paced, at most $BATCH"
else
	: > "$BENCH_WORK/chipctl.conf"
	batches="default settings (batches paced to send.batch_seconds)"
fi
chmod 600 "$BENCH_WORK/chipctl.conf"
export CHIPCTL_CONFIG="$BENCH_WORK/chipctl.conf"
# an instant provider: pacing and typing off (SPEC section 9)
export CHIPCTL_CHIP_GAP_S=0 CHIPCTL_CHIP_GAP_JITTER_S=0 CHIPCTL_TYPING_MS_PER_CHAR=0
DATABASE_URL=$(socket_url bench)
export DATABASE_URL

q "INSERT INTO chips (telefone, instance_name, status, trust_score, pode_prospectar,
     pode_followup, pode_responder, evolution_connected, limite_hora, limite_dia)
   SELECT '55119000000' || lpad(g::text, 2, '0'), 'bench' || g, 'active', 90, true, true,
     true, true, 1000000, 1000000 FROM generate_series(1, 20) g"

seed() {	# seed N: N due followup messages to N different doctors
	q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo)
	   SELECT 'dr' || g || '-$2', '55119' || lpad(g::text, 8, '0'), 'Olá, plantão ' || g, 'followup'
	   FROM generate_series(1, $1) g"
	q "ANALYZE fila_mensagens"
}

echo "== send path: $N messages, 4 workers, 20 chips, $batches, nginx as Evolution (Unix-socket database)"
seed "$N" a
t0=$(now_ns)
for w in 1 2 3 4; do
	/usr/bin/time -f "%M %U %S" -o "$BENCH_WORK/rss.$w" "$CHIPCTL" -q send-worker --once \
		--worker-id "bench-$w" 2>"$BENCH_WORK/err.$w" &
done
wait
t1=$(now_ns)
sent=$(q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")
ms=$(( (t1 - t0) / 1000000 ))
echo "sent $sent of $N in $ms ms: $(( sent * 1000 / (ms > 0 ? ms : 1) )) messages/s"
echo "per worker: peak RSS KiB, user s, system s: $(cat "$BENCH_WORK"/rss.* | tr '\n' ';')"
[ "$sent" -eq "$N" ] || { echo "bench: not every message was sent"; cat "$BENCH_WORK"/err.*; exit 1; }

echo "== one worker in loop mode over $LONG messages: RSS (KiB) every second"
seed "$LONG" b
"$CHIPCTL" -q send-worker --max-messages "$LONG" --worker-id bench-long 2>"$BENCH_WORK/err.long" &
pid=$!
samples=""
while kill -0 $pid 2>/dev/null; do
	r=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$pid/status 2>/dev/null || true)
	[ -n "$r" ] && samples="$samples $r"
	sleep 1
done
wait $pid
echo "RSS samples:$samples"
echo "$samples" | awk '{ if (NF) printf "first %d KiB, last %d KiB, max %d KiB over %d s\n", $1, $NF, (m = $1 > $NF ? $1 : $NF), NF }' | \
	awk -v s="$samples" 'BEGIN { n = split(s, a, " "); mx = 0; for (i = 1; i <= n; i++) if (a[i] + 0 > mx) mx = a[i] + 0 }
	     { sub(/max [0-9]+/, "max " mx); print }'
