#!/bin/sh
# Benchmark of issue 2: reset-stuck-queue and --expire over 1,000,000 queue
# rows, and a whole job process (start to exit, connecting included) on an
# idle database. Targets: each under 100 ms; the process under 20 ms.
set -eu
. "$(dirname "$0")/lib.sh"

echo "== queue jobs over 1,000,000 fila_mensagens rows"
echo "seeding (70% enviada, 12% pendente of which 1 in 12 older than 24 h, 8% cancelada,"
echo "         6% erro, 4% processando of which a quarter stuck > 60 min) ..."
q "ANALYZE" >/dev/null
t0=$(now_ns)
seed_queue_mix 1000000
# pendente rows are mostly young; make 2% of all pendente rows older than 24 h
q "UPDATE fila_mensagens SET created_at = now() - CASE WHEN id % 100 = 71
   THEN interval '2 days' ELSE interval '1 hour' END WHERE status = 'pendente'" >/dev/null
q "VACUUM ANALYZE fila_mensagens"
t1=$(now_ns)
echo "seeded in $(( (t1 - t0) / 1000000 )) ms: $(q "SELECT count(*) FROM fila_mensagens") rows," \
	"$(q "SELECT count(*) FROM fila_mensagens WHERE status='processando' AND processando_desde < now() - interval '60 minutes'") stuck," \
	"$(q "SELECT count(*) FROM fila_mensagens WHERE status='pendente' AND created_at < now() - interval '24 hours'") expired"

# Each timed run finds the same work: 2,000 stuck rows (re-stuck untimed).
restuck="UPDATE fila_mensagens SET status = 'processando', tentativas = 0,
  processando_desde = now() - interval '2 hours' WHERE id BETWEEN 500001 AND 502000"
printf 'reset-stuck-queue, 2,000 stuck rows each run:     '
time_runs 10 "$restuck" "$CHIPCTL" -q reset-stuck-queue
# Updated rows leave dead entries in the partial indexes until (auto)vacuum
# removes them; production runs autovacuum, so the steady state is measured
# after one.
q "VACUUM fila_mensagens"
printf 'reset-stuck-queue, nothing stuck, after vacuum:   '
time_runs 10 "" "$CHIPCTL" -q reset-stuck-queue
reexpire="UPDATE fila_mensagens SET status = 'pendente', outcome = NULL,
  created_at = now() - interval '2 days' WHERE id BETWEEN 600001 AND 602000"
printf 'reset-stuck-queue --expire, 2,000 expired rows:   '
time_runs 10 "$reexpire" "$CHIPCTL" -q reset-stuck-queue --expire
q "VACUUM fila_mensagens"
printf 'reset-stuck-queue --expire, nothing expired:      '
time_runs 10 "" "$CHIPCTL" -q reset-stuck-queue --expire

echo "== a whole job process on an idle database (start to exit, connecting included)"
psql -XAtq "$ADMIN_URL" -c "CREATE DATABASE idle" >/dev/null
DATABASE_URL=$(socket_url idle) "$CHIPCTL" -q migrate
printf 'reset-stuck-queue, Unix socket:                   '
DATABASE_URL=$(socket_url idle) time_runs 30 "" "$CHIPCTL" -q reset-stuck-queue
printf 'reset-stuck-queue, TCP + SCRAM password:          '
DATABASE_URL=$("$REPO/scripts/pg-tmp.sh" url "$BENCH_WORK/pg" idle) time_runs 30 "" "$CHIPCTL" -q reset-stuck-queue
printf 'chipctl --version (process start, no database):   '
time_runs 30 "" "$CHIPCTL" --version
