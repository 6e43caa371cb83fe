#!/bin/sh
# Benchmark of issue 6: watchdog and health deep (whole processes, connecting
# included) at 1,000 chips and 1,000,000 queue rows. Target: each under
# 100 ms. metrics and metrics-snapshot are timed too, for information.
set -eu
. "$(dirname "$0")/lib.sh"

echo "== observability over 1,000 chips and 1,000,000 fila_mensagens rows"
echo "seeding (queue as in queue.sh; 1,000 chips with breakers, 5% open; 200,000"
echo "         send attempts over 7 days; 7 jobs x 5,000 runs; 4 workers) ..."
t0=$(now_ns)
q "INSERT INTO chips (telefone, instance_name, provider, status, evolution_connected,
     trust_score, cooldown_until)
   SELECT '5511' || lpad(g::text, 9, '0'), 'chip-' || g,
     CASE WHEN g % 10 = 0 THEN 'zapi' ELSE 'evolution' END,
     (ARRAY['active','active','active','ready','warming','degraded','banned'])[1 + g % 7],
     g % 17 <> 0, 40 + g % 60,
     CASE WHEN g % 23 = 0 THEN now() + interval '10 minutes' END
   FROM generate_series(1, 1000) g"
q "INSERT INTO circuit_breakers (name, kind, chip_id, state)
   SELECT 'chip:' || id, 'chip', id,
     CASE WHEN row_number() OVER (ORDER BY id) % 20 = 0 THEN 'open' ELSE 'closed' END
   FROM chips"
q "INSERT INTO circuit_breakers (name, kind, state) VALUES
   ('provider:evolution', 'provider', 'closed'), ('provider:zapi', 'provider', 'closed')"
q "INSERT INTO circuit_transitions (breaker, from_state, to_state, reason, actor, created_at)
   SELECT 'chip:' || g, 'closed', 'open', 'bench', 'bench', now() - make_interval(mins => g)
   FROM generate_series(1, 5000) g"
seed_queue_mix 1000000
q "INSERT INTO send_attempts (message_id, chip_id, provider, attempt, http_status,
     latency_ms, result, created_at)
   SELECT g, NULL, 'evolution', 1,
     CASE WHEN g % 50 = 0 THEN 500 ELSE 200 END, 100 + g % 400,
     CASE WHEN g % 50 = 0 THEN '5xx' WHEN g % 97 = 0 THEN 'timeout' ELSE 'ok' END,
     now() - make_interval(secs => (g * 3) % 604800)
   FROM generate_series(1, 200000) g"
q "INSERT INTO job_executions (job_name, run_id, host, pid, status, started_at,
     finished_at, exit_code)
   SELECT j, gen_random_uuid(), 'bench', 1,
     CASE WHEN g % 40 = 0 THEN 'failed' ELSE 'success' END,
     now() - make_interval(secs => g * 60), now() - make_interval(secs => g * 60 - 1),
     CASE WHEN g % 40 = 0 THEN 75 ELSE 0 END
   FROM unnest(ARRAY['sync-evolution','trust-update','reset-stuck-queue',
     'reset-stuck-queue-expire','pool-check','watchdog','metrics-snapshot']) j,
     generate_series(1, 5000) g"
q "INSERT INTO worker_heartbeats (worker_id, host, pid, last_beat_at)
   SELECT 'w' || g, 'bench', g, now() - make_interval(secs => g) FROM generate_series(1, 4) g"
q "VACUUM ANALYZE"
# A second pass sets the visibility map of the freshly loaded pages, so the
# counts run as index-only scans: the steady state autovacuum keeps.
q "VACUUM fila_mensagens"
t1=$(now_ns)
echo "seeded in $(( (t1 - t0) / 1000000 )) ms: $(q "SELECT count(*) FROM fila_mensagens") queue rows," \
	"$(q "SELECT count(*) FROM chips") chips," \
	"$(q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente' AND agendar_para <= now()") due"

# Each watchdog run finds the same state: the alerts of the previous run
# are cleared (untimed), so every run raises and resolves the same way.
reset_alerts="TRUNCATE alert_outbox, alert_state"
printf 'watchdog (1 alert raised, logged: no webhook):    '
time_runs 20 "$reset_alerts" "$CHIPCTL" -q watchdog
printf 'watchdog, steady state (cooling down):           '
time_runs 20 "" "$CHIPCTL" -q watchdog
printf 'health deep:                                     '
time_runs 20 "" sh -c '"$0" -q health deep >/dev/null; [ $? -le 2 ]' "$CHIPCTL"
printf 'health deep, Unix socket:                        '
DATABASE_URL=$(socket_url bench) time_runs 20 "" sh -c '"$0" -q health deep >/dev/null; [ $? -le 2 ]' "$CHIPCTL"
printf 'health queue:                                    '
time_runs 20 "" sh -c '"$0" -q health queue >/dev/null; [ $? -le 2 ]' "$CHIPCTL"
printf 'metrics (Prometheus text):                       '
time_runs 10 "" "$CHIPCTL" -q metrics
printf 'metrics-snapshot:                                '
time_runs 10 "" "$CHIPCTL" -q metrics-snapshot
echo "health deep says: $("$CHIPCTL" -q health deep | cut -c1-160)..."
