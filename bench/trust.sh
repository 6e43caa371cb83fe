#!/bin/sh
# Benchmark of issue 5: trust-update over 10,000 chips with a month of
# interactions (target under 1 s), and ingest throughput in events/s.
set -eu
. "$(dirname "$0")/lib.sh"

CHIPS=${BENCH_TRUST_CHIPS:-10000}
PER_DAY=${BENCH_TRUST_PER_DAY:-3}
echo "== trust-update over $CHIPS chips, a month of interactions ($PER_DAY sends/chip/day)"
t0=$(now_ns)
q "INSERT INTO chips (telefone, instance_name, status, created_at)
   SELECT '5511' || lpad(g::text, 9, '0'), 'bench' || g,
          (ARRAY['warming','ready','active','active','active','degraded','active','ready','active','banned'])[1 + g % 10],
          now() - make_interval(days => g % 120)
   FROM generate_series(1, $CHIPS) g"
# Sends: one interaction, one attempt, one receipt each; 3 % failed
# attempts, 4 % never delivered, 15 % answered, a 403 now and then.
q "INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction, provider_message_id,
     obteve_resposta, tipo, created_at)
   SELECT c.id, 'dr' || (n % 50000), '55119' || lpad((n % 50000)::text, 8, '0'), 'out',
          'B' || n, n % 7 = 0, 'followup',
          now() - make_interval(secs => (n % 1000) * (86400 / $PER_DAY) + c.k % 3600)
   FROM (SELECT id, row_number() OVER () AS k FROM chips) c,
        LATERAL generate_series(c.k * 1000, c.k * 1000 + 30 * $PER_DAY - 1) n"
q "INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction, media_type, created_at)
   SELECT chip_id, cliente_id, telefone, 'in',
          (ARRAY['text','text','image','audio'])[1 + id % 4], created_at + interval '10 minutes'
   FROM chip_interactions WHERE obteve_resposta"
q "INSERT INTO send_attempts (message_id, chip_id, provider, attempt, http_status, result, created_at)
   SELECT id, chip_id, 'evolution', 1,
          CASE WHEN id % 997 = 0 THEN 403 WHEN id % 33 = 0 THEN 500 ELSE 200 END,
          CASE WHEN id % 997 = 0 THEN '4xx' WHEN id % 33 = 0 THEN '5xx' ELSE 'ok' END, created_at
   FROM chip_interactions WHERE direction = 'out'"
q "INSERT INTO message_receipts (provider_message_id, chip_id, last_status, server_ack_at,
     delivered_at, updated_at)
   SELECT provider_message_id, chip_id, CASE WHEN id % 25 = 0 THEN 'SERVER_ACK' ELSE 'DELIVERY_ACK' END,
          created_at, CASE WHEN id % 25 <> 0 THEN created_at + interval '5 seconds' END, created_at
   FROM chip_interactions WHERE direction = 'out'"
q "INSERT INTO chip_conversas_bidirecionais (chip_id, telefone)
   SELECT DISTINCT chip_id, telefone FROM chip_interactions WHERE direction = 'in'"
q "VACUUM ANALYZE"
t1=$(now_ns)
echo "seeded in $(( (t1 - t0) / 1000000 )) ms: $(q "SELECT count(*) FROM chip_interactions") interactions," \
	"$(q "SELECT count(*) FROM send_attempts") attempts, $(q "SELECT count(*) FROM message_receipts") receipts"
printf 'trust-update, %s chips (%s recomputed):   ' "$CHIPS" \
	"$(q "SELECT count(*) FROM chips WHERE status IN ('warming','ready','active','degraded')")"
time_runs 5 "" "$CHIPCTL" -q trust-update
echo "levels: $(q "SELECT string_agg(trust_level || '=' || n, ' ' ORDER BY trust_level)
                   FROM (SELECT trust_level, count(*) n FROM chips GROUP BY 1) x")"

echo "== ingest throughput"
EV="$BENCH_WORK/events.jsonl"
N=${BENCH_INGEST_EVENTS:-20000}
python3 - "$N" "$CHIPS" > "$EV" <<'PY'
import json, sys, time
n, chips = int(sys.argv[1]), int(sys.argv[2])
now = int(time.time())  # events date what they record: today's traffic, as before
for i in range(n):
    inst = "bench%d" % (1 + i % chips)
    k = i % 10
    if k < 4:
        ev = {"event": "messages.upsert", "instance": inst, "data": {"key": {
              "remoteJid": "55119%08d@s.whatsapp.net" % (i % 50000), "fromMe": False,
              "id": "IN%d" % i}, "messageType": "conversation", "messageTimestamp": now}}
    elif k < 9:
        ev = {"event": "messages.update", "instance": inst, "data": {"keyId": "B%d" % (1000 + i),
              "fromMe": True, "status": "READ"}}
    else:
        ev = {"event": "connection.update", "instance": inst,
              "data": {"state": "open" if i % 20 else "close", "statusReason": 200 if i % 20 else 428},
              "date_time": "2026-01-23T10:%02d:%02d.000Z" % (i // 60 % 60, i % 60)}
    print(json.dumps(ev, separators=(",", ":")))
PY
rate() {	# rate LABEL: time one ingest of $EV, print events/s
	t0=$(now_ns)
	"$CHIPCTL" -q ingest "$EV"
	t1=$(now_ns)
	ms=$(( (t1 - t0) / 1000000 ))
	echo "$1: $N events in $ms ms, $(( N * 1000 / (ms > 0 ? ms : 1) )) events/s"
}
rate "ingest, new events (40 % messages, 50 % receipts, 10 % connection)"
rate "ingest, the same events again (all duplicates)  "
