# Shared by the benchmarks: a throwaway cluster, a migrated database, timing.
# Source it from a bench script; it sets BENCH_WORK, DATABASE_URL, CHIPCTL.
REPO=$(cd "$(dirname "$0")/.." && pwd)
CHIPCTL="${BENCH_CHIPCTL:-$REPO/chipctl}"
BENCH_WORK=$(mktemp -d /tmp/chipctl-bench.XXXXXX)
chmod 755 "$BENCH_WORK"
# On exit: what the script started (its pids, and nginx when it ran one)
# stopped, the cluster stopped, the work directory removed; a script may
# define bench_on_exit to do more first.
pids=""
bench_cleanup() {
	command -v bench_on_exit >/dev/null 2>&1 && bench_on_exit
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	[ -f "$BENCH_WORK/nginx/nginx.pid" ] && kill "$(cat "$BENCH_WORK/nginx/nginx.pid")" 2>/dev/null
	"$REPO/scripts/pg-tmp.sh" stop "$BENCH_WORK/pg" 2>/dev/null
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$BENCH_WORK"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM HUP
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

# start_nginx_evolution [ACCESS_LOG]: nginx as Evolution, answering every
# POST /message/sendText/* with 201 and the v2 success body at once (so the
# provider is never the bottleneck); with ACCESS_LOG, each request's time
# ($msec) and status are logged there. Sets EVOLUTION_API_URL and
# EVOLUTION_API_KEY; its pid file is $BENCH_WORK/nginx/nginx.pid.
start_nginx_evolution() {
	_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	_log="access_log off;"
	[ -n "${1:-}" ] && _log="log_format t '\$msec \$status'; access_log $1 t;"
	mkdir -p "$BENCH_WORK/nginx/logs"
	cat > "$BENCH_WORK/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $BENCH_WORK/nginx/nginx.pid;
error_log $BENCH_WORK/nginx/logs/error.log;
events { worker_connections 1024; }
http {
    $_log
    keepalive_requests 1000000;
    client_body_temp_path $BENCH_WORK/nginx/body;
    server {
        listen 127.0.0.1:$_port;
        location /message/sendText/ {
            default_type application/json;
            return 201 '{"key":{"remoteJid":"5511999999999@s.whatsapp.net","fromMe":true,"id":"3EB0C767D26A1D3A5E1F"},"pushName":"Voce","status":"PENDING","message":{"conversation":"x"},"contextInfo":null,"messageType":"conversation","messageTimestamp":1717689097,"instanceId":"bench","source":"unknown"}';
        }
    }
}
NGINX
	nginx -c "$BENCH_WORK/nginx/nginx.conf" -p "$BENCH_WORK/nginx" 3>&-
	export EVOLUTION_API_URL="http://127.0.0.1:$_port" EVOLUTION_API_KEY=bench-key
}

# gw_install VERSION: graphile-worker@VERSION and pg from the npm registry
# into GW_PREFIX (BENCH_GW_PREFIX, else a temporary directory; kept when it
# already has them). Sets GW_PREFIX, and gw_reason to why it could not
# ("" when installed); npm's log in $BENCH_WORK/npm.log.
gw_install() {
	GW_PREFIX=${BENCH_GW_PREFIX:-$BENCH_WORK/npm}
	gw_reason=""
	[ -d "$GW_PREFIX/node_modules/graphile-worker" ] && return 0
	mkdir -p "$GW_PREFIX"
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		gw_reason="node or npm is not installed"
	elif ! timeout 300 npm install --prefix "$GW_PREFIX" --cache "$GW_PREFIX/.cache" \
			--no-audit --no-fund --loglevel=error --fetch-retries=1 \
			"graphile-worker@$1" pg >"$BENCH_WORK/npm.log" 2>&1; then
		gw_reason="npm install graphile-worker@$1 failed: $(grep -v '^\s*$' "$BENCH_WORK/npm.log" | grep -i 'err' | head -n 2 | tr '\n' ' ' | cut -c1-200 | sed 's/ *$//')"
		[ -n "${gw_reason##*failed: }" ] || gw_reason="${gw_reason}see npm's log (exit status)"
	fi
}

# start_fake_evolution LATENCY_MS CHIPS NAME: the fake Evolution API
# (tests/fakes/fake_evolution.py) answering every sendText after LATENCY_MS
# plus the delay asked, with instances bench1..benchCHIPS open; NAME says
# whose it is in an error. Sets EVOLUTION_API_URL, EVOLUTION_API_KEY and
# FAKE_PID; fake METHOD PATH [JSON] calls its control API.
start_fake_evolution() {
	EVOLUTION_API_KEY=bench-key
	PYTHONDONTWRITEBYTECODE=1 python3 "$REPO/tests/fakes/fake_evolution.py" \
		--apikey "$EVOLUTION_API_KEY" --port 0 --portfile "$BENCH_WORK/fake.port" \
		--latency-ms "$1" </dev/null >"$BENCH_WORK/fake.out" 2>&1 3>&- &
	FAKE_PID=$!
	pids="$pids $FAKE_PID"
	_i=0
	while [ ! -s "$BENCH_WORK/fake.port" ] && [ "$_i" -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
	[ -s "$BENCH_WORK/fake.port" ] || { echo "$3: the fake did not start"; cat "$BENCH_WORK/fake.out"; exit 1; }
	EVOLUTION_API_URL="http://127.0.0.1:$(cat "$BENCH_WORK/fake.port")"
	export EVOLUTION_API_URL EVOLUTION_API_KEY
	fake POST /__control/instances/generate "{\"count\":$2,\"prefix\":\"bench\",\"width\":1}" >/dev/null
}
fake() { curl -sf -X "$1" "$EVOLUTION_API_URL$2" ${3:+-d "$3"}; }

# keep_binary: measure a copy of the binary (a rebuild meanwhile changes
# nothing here); BINARY says which one it is.
keep_binary() {
	cp -p "$CHIPCTL" "$BENCH_WORK/chipctl"
	CHIPCTL="$BENCH_WORK/chipctl"
	BINARY="$("$CHIPCTL" --version | head -n 1), sha256 $(sha256sum "$CHIPCTL" | cut -c1-12), built $(date -u -r "$CHIPCTL" '+%F %T') UTC"
}
