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

# seed_queue_mix N: N fila_mensagens rows in a realistic mix: 70 % enviada,
# 12 % pendente, 8 % cancelada, 6 % erro, 4 % processando (a quarter of those
# stuck over 60 min), ages spread over a week, 20,000 doctors.
seed_queue_mix() {
	q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo, status, tentativas,
	     created_at, agendar_para, processando_desde, enviada_em, outcome, updated_at)
	   SELECT 'dr' || (g % 20000), '55119' || lpad((g % 100000000)::text, 8, '0'),
	     'mensagem de teste ' || g,
	     (ARRAY['prospeccao','followup','resposta','campanha'])[1 + g % 4],
	     s.status, CASE WHEN s.status = 'erro' THEN 3 ELSE g % 2 END,
	     now() - make_interval(secs => (g % 604800)),
	     now() - make_interval(secs => (g % 86400)),
	     CASE WHEN s.status = 'processando' THEN now() - make_interval(mins => (g % 240)) END,
	     CASE WHEN s.status = 'enviada' THEN now() - make_interval(secs => (g % 604800)) END,
	     CASE s.status WHEN 'enviada' THEN 'SENT' WHEN 'erro' THEN 'FAILED_ALL_CHIPS'
	                   WHEN 'cancelada' THEN 'FAILED_GUARDRAIL' END,
	     now() - make_interval(secs => (g % 604800))
	   FROM generate_series(1, $1) g,
	   LATERAL (SELECT CASE WHEN g % 100 < 70 THEN 'enviada'
	                        WHEN g % 100 < 82 THEN 'pendente'
	                        WHEN g % 100 < 90 THEN 'cancelada'
	                        WHEN g % 100 < 96 THEN 'erro'
	                        ELSE 'processando' END AS status) s"
}
