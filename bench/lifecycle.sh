#!/bin/sh
# Benchmark of issue 4: sync-evolution over 1,000 instances from the fake
# Evolution API (target < 2 s), and pool-check over 1,000 chips and
# 1,000,000 queue rows (target < 100 ms). Each figure is a whole process,
# start to exit, connecting and the job run's bookkeeping included.
set -eu
. "$(dirname "$0")/lib.sh"

FAKE_KEY=bench-evo-key-123
python3 "$REPO/tests/fakes/fake_evolution.py" --port 0 --portfile "$BENCH_WORK/evo.port" \
	--log /dev/null --apikey "$FAKE_KEY" </dev/null >"$BENCH_WORK/evo.out" 2>&1 &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null; "$REPO/scripts/pg-tmp.sh" stop "$BENCH_WORK/pg" 2>/dev/null; rm -rf "$BENCH_WORK"' EXIT
i=0
while [ ! -s "$BENCH_WORK/evo.port" ]; do
	i=$((i + 1)); [ $i -lt 200 ] || { echo "fake Evolution did not start" >&2; exit 1; }
	sleep 0.05
done
EVOLUTION_API_URL="http://127.0.0.1:$(cat "$BENCH_WORK/evo.port")"
EVOLUTION_API_KEY=$FAKE_KEY
export EVOLUTION_API_URL EVOLUTION_API_KEY
CONF="$BENCH_WORK/chipctl.conf"
echo 'pool: { min_active = 600; min_ready = 100; min_warming = 100; };' > "$CONF"
CHIPCTL_CONFIG=$CONF
export CHIPCTL_CONFIG

echo "== sync-evolution over 1,000 instances (10 % closed) from the fake Evolution API"
curl -sS -X POST -H 'Content-Type: application/json' -d '{"count":1000,"open_ratio":0.9}' \
	"$EVOLUTION_API_URL/__control/instances/generate" >/dev/null
# 1,000 chips: 600 active, 150 ready, 150 warming, 50 degraded, 50 pending
q "INSERT INTO chips (telefone, instance_name, status, trust_score, pode_prospectar,
     evolution_connected, warming_started_at, demovido_em, erros_ultimas_24h)
   SELECT '55119' || lpad(g::text, 8, '0'), 'chip' || lpad(g::text, 4, '0'),
     CASE WHEN g <= 600 THEN 'active' WHEN g <= 750 THEN 'ready' WHEN g <= 900 THEN 'warming'
          WHEN g <= 950 THEN 'degraded' ELSE 'pending' END,
     50 + g % 50, g % 3 = 0, false, now() - (g % 30) * interval '1 day',
     CASE WHEN g BETWEEN 901 AND 950 THEN now() - interval '5 minutes' END, g % 5
   FROM generate_series(1, 1000) g"
# The first run writes every chip; later runs find most of them unchanged.
reset="UPDATE chips SET evolution_connected = false, desconectado_desde = NULL,
  owner_jid = NULL, profile_name = NULL, status = CASE WHEN instance_name > 'chip0950'
  THEN 'pending' ELSE status END"
printf 'sync-evolution, every chip changed:               '
time_runs 5 "$reset" "$CHIPCTL" -q sync-evolution
printf 'sync-evolution, steady state (nothing changed):   '
time_runs 10 "" "$CHIPCTL" -q sync-evolution
echo 'sync: { method = "connection_state"; parallel = 16; };' >> "$CONF"
printf 'sync-evolution, 1,000 connectionState calls x16:  '
time_runs 3 "" "$CHIPCTL" -q sync-evolution
echo 'pool: { min_active = 600; min_ready = 100; min_warming = 100; };' > "$CONF"

echo "== pool-check over 1,000 chips and 1,000,000 fila_mensagens rows"
q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo, status, chip_id,
     created_at, agendar_para, enviada_em, outcome)
   SELECT 'dr' || (g % 20000), '55119' || lpad((g % 100000000)::text, 8, '0'), 'm' || g,
     'followup', CASE WHEN g % 10 < 8 THEN 'enviada' ELSE 'pendente' END,
     (SELECT id FROM chips WHERE instance_name = 'chip' || lpad((1 + g % 600)::text, 4, '0')),
     now() - make_interval(secs => g % 604800), now() - make_interval(secs => g % 86400),
     CASE WHEN g % 10 < 8 THEN now() - make_interval(secs => g % 604800) END,
     CASE WHEN g % 10 < 8 THEN 'SENT' END
   FROM generate_series(1, 1000000) g"
q "INSERT INTO conversations (cliente_id, telefone, chip_id, ultima_interacao_em)
   SELECT 'dr' || g, '5511' || lpad(g::text, 9, '0'), c.id, now() - (g % 96) * interval '1 hour'
   FROM generate_series(1, 20000) g
   JOIN chips c ON c.instance_name = 'chip' || lpad((1 + g % 600)::text, 4, '0')"
q "UPDATE chips SET evolution_connected = true, desconectado_desde = NULL"
q "VACUUM ANALYZE"
echo "seeded: $(q "SELECT count(*) FROM fila_mensagens") queue rows, $(q "SELECT count(*) FROM chips") chips, $(q "SELECT count(*) FROM conversations") conversations"
"$CHIPCTL" -q pool-check	# settle: the first run does the pending work
printf 'pool-check, steady state (nothing to do):         '
time_runs 20 "" "$CHIPCTL" -q pool-check
# Each timed run demotes 5 active chips, migrates their ~165 conversations
# (with continuity messages) and promotes 5 ready chips in their place.
bad="UPDATE chips SET trust_score = 10 WHERE id IN (SELECT id FROM chips
  WHERE status = 'active' ORDER BY random() LIMIT 5)"
printf 'pool-check, 5 demoted, migrated and replaced:     '
time_runs 10 "$bad" "$CHIPCTL" -q pool-check
q "VACUUM ANALYZE"
printf 'pool-check, steady state after vacuum:            '
time_runs 20 "" "$CHIPCTL" -q pool-check
