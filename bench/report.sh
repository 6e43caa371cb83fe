#!/bin/sh
# Benchmark of issue 12: `chipctl report` over a pool of 1,000 chips and 7
# days of history (trust-update every 15 min: 672,000 chip_trust_history
# rows; metrics-snapshot every 5 min: 2,016 snapshots; breaker transitions,
# alerts and status transitions; 200,000 queue rows). Prints the time to
# write the page (whole process, connecting included), its size, and, when
# chromium is installed, the time a headless browser takes to load it and
# build its DOM. No target: the page must stay light enough for a browser
# (20 small multiples, not 1,000).
set -eu
. "$(dirname "$0")/lib.sh"

echo "== report over 1,000 chips and 7 days"
echo "seeding (1,000 chips; 672,000 trust history rows; 2,016 snapshots of the"
echo "         queue and chip metrics; 2,000 breaker transitions; 500 alerts) ..."
t0=$(now_ns)
q "INSERT INTO chips (telefone, instance_name, provider, status, evolution_connected,
     trust_score, trust_level, cooldown_until, recovery_phase)
   SELECT '5511' || lpad(g::text, 9, '0'), 'chip-' || g,
     CASE WHEN g % 10 = 0 THEN 'zapi' ELSE 'evolution' END,
     (ARRAY['active','active','active','ready','warming','degraded','banned'])[1 + g % 7],
     g % 17 <> 0, 15 + g % 85,
     CASE WHEN 15 + g % 85 >= 80 THEN 'verde' WHEN 15 + g % 85 >= 60 THEN 'amarelo'
          WHEN 15 + g % 85 >= 40 THEN 'laranja' WHEN 15 + g % 85 >= 20 THEN 'vermelho'
          ELSE 'critico' END,
     CASE WHEN g % 23 = 0 THEN now() + interval '10 minutes' END,
     CASE WHEN g % 7 = 5 THEN 1 + g % 4 END
   FROM generate_series(1, 1000) g"
q "INSERT INTO chip_trust_history (chip_id, motivo, trust_score, trust_level, previous_level,
     points, created_at)
   SELECT c.id, 'trust-update', s.v,
     CASE WHEN s.v >= 80 THEN 'verde' WHEN s.v >= 60 THEN 'amarelo' WHEN s.v >= 40 THEN 'laranja'
          WHEN s.v >= 20 THEN 'vermelho' ELSE 'critico' END, NULL, '{}',
     now() - make_interval(mins => k * 15)
   FROM chips c, generate_series(0, 671) k,
   LATERAL (SELECT greatest(0, least(100, c.trust_score + 12 * sin(k / 40.0 + length(c.instance_name))))::numeric(5,2) AS v) s"
q "INSERT INTO metrics_snapshots (name, labels, value, created_at)
   SELECT n.name, n.labels::jsonb, (k * 7 + length(n.name)) % 120, now() - make_interval(mins => k * 5)
   FROM generate_series(0, 2015) k,
   (VALUES ('chipctl_queue_due_messages', '{}'), ('chipctl_queue_oldest_due_seconds', '{}'),
     ('chipctl_queue_messages', '{\"status\": \"processando\"}'),
     ('chipctl_queue_messages', '{\"status\": \"pendente\"}'),
     ('chipctl_queue_sent_last_hour', '{}'), ('chipctl_queue_errors_last_hour', '{}'),
     ('chipctl_chips', '{\"status\": \"active\"}'), ('chipctl_chips', '{\"status\": \"ready\"}'),
     ('chipctl_chip_trust_score_avg', '{}'), ('chipctl_workers_alive', '{}')) n(name, labels)"
q "INSERT INTO circuit_breakers (name, kind, chip_id, state)
   SELECT 'chip:' || id, 'chip', id,
     CASE WHEN row_number() OVER (ORDER BY id) % 20 = 0 THEN 'open' ELSE 'closed' END
   FROM chips"
q "INSERT INTO circuit_transitions (breaker, from_state, to_state, reason, actor, created_at)
   SELECT b.name, CASE WHEN g % 2 = 0 THEN 'closed' ELSE 'open' END,
     CASE WHEN g % 2 = 0 THEN 'open' ELSE 'closed' END, 'bench', 'bench',
     now() - make_interval(mins => g * 5)
   FROM generate_series(1, 2000) g
   JOIN (SELECT name, row_number() OVER (ORDER BY name) AS i FROM circuit_breakers) b
     ON b.i = 1 + g % 50"
q "INSERT INTO chip_status_transitions (chip_id, from_status, to_status, reason, actor, created_at)
   SELECT id, 'active', 'degraded', 'bench', 'pool-check', now() - interval '2 days'
   FROM chips WHERE status = 'degraded'"
q "INSERT INTO alert_outbox (alert_key, alert_type, subject, severity, text, resolved, created_at)
   SELECT 'chip_restricted:chip-' || g % 100, 'chip_restricted', 'chip-' || g % 100, 'warning',
     'chip restricted by WhatsApp', g % 2 = 1, now() - make_interval(mins => g * 20)
   FROM generate_series(1, 500) g"
seed_queue_mix 200000
q "VACUUM ANALYZE"
t1=$(now_ns)
echo "seeded in $(( (t1 - t0) / 1000000 )) ms: $(q "SELECT count(*) FROM chip_trust_history") trust history rows," \
	"$(q "SELECT count(DISTINCT created_at) FROM metrics_snapshots") snapshots"

page="$BENCH_WORK/report.html"
printf 'report --html (7 days, 1,000 chips):             '
time_runs 5 "" "$CHIPCTL" -q report --html "$page"
echo "page size: $(wc -c < "$page") bytes;" \
	"$(grep -o 'class="pt"' "$page" | wc -l) points, $(grep -o 'class="bar"' "$page" | wc -l) bars drawn"
if command -v chromium >/dev/null; then
	printf 'chromium headless, load and build the DOM:      '
	time_runs 3 "" sh -c 'd=$(mktemp -d) && timeout 120 chromium --headless --no-sandbox \
		--disable-gpu --disable-quic --no-first-run --disable-background-networking \
		--disable-component-update --disable-sync --user-data-dir="$d" --dump-dom \
		"file://$0" >/dev/null 2>&1; rc=$?; rm -rf "$d"; exit $rc' "$page"
fi
