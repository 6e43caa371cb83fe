#!/bin/sh
# make test-valgrind: every command once under valgrind memcheck, against a
# throwaway PostgreSQL and the fake providers, with a small pool and queue.
# A command passes when valgrind finds no error and no definite or indirect
# leak (its exit code is then the command's own, which must be expected).
# Ends with "N passed, N failed".
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
C="$REPO/chipctl"
WORK=$(mktemp -d /tmp/chipctl-valgrind.XXXXXX)
chmod 755 "$WORK"
export FAKE_DIR="$WORK/fakes"
mkdir -p "$FAKE_DIR"
. "$REPO/scripts/fakes.sh"
cleanup() {
	stop_fakes
	scripts/pg-tmp.sh stop "$WORK/pg" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

q() { psql -XAtq -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"; }

scripts/pg-tmp.sh start "$WORK/pg" >/dev/null 3>&- || { echo "0 passed, 1 failed"; exit 1; }
psql -XAtq "$(scripts/pg-tmp.sh url "$WORK/pg")" -c "CREATE DATABASE chipctl"
DATABASE_URL="postgresql:///chipctl?host=$WORK/pg&port=$(cat "$WORK/pg/port")&user=chipctl"
export DATABASE_URL
EVO=$(start_fake evolution --apikey vg-evolution-key)
SLACK=$(start_fake slack)
export EVOLUTION_API_URL=$EVO EVOLUTION_API_KEY=vg-evolution-key
export SLACK_WEBHOOK_URL="$SLACK/services/T/B/valgrind-secret"
printf 'slack: { min_interval_ms = 0; };\n' > "$WORK/chipctl.conf"
export CHIPCTL_CONFIG="$WORK/chipctl.conf"
curl -fsS -X POST -d '[{"name":"c1","connectionStatus":"open"},{"name":"c2","connectionStatus":"open"},{"name":"c3","connectionStatus":"close"}]' \
	"$EVO/__control/instances" >/dev/null
curl -fsS -X POST -d '{"instance":"c2","mode":"restricted"}' "$EVO/__control/send" >/dev/null

passed=0
failed=0
vg() {	# vg EXPECTED_RC[|RC...] ARGS...
	want=$1; shift
	valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--error-exitcode=99 -q --log-file="$WORK/vg.log" "$C" -q "$@" \
		>"$WORK/out" 2>"$WORK/err" </dev/null
	rc=$?
	case "|$want|" in *"|$rc|"*) ok=1 ;; *) ok=0 ;; esac
	if [ $ok -eq 1 ] && [ ! -s "$WORK/vg.log" ]; then
		passed=$((passed + 1))
		echo "ok $((passed + failed)) - valgrind: chipctl $*"
	else
		failed=$((failed + 1))
		echo "not ok $((passed + failed)) - valgrind: chipctl $* (exit $rc, expected $want)"
		sed 's/^/#   /' "$WORK/vg.log" "$WORK/err" | head -40
	fi
}

vg 0 migrate
vg 0 migrate --status --json
q "INSERT INTO chips (telefone, instance_name, status, trust_score, pode_prospectar, pode_followup,
     pode_responder, evolution_connected, warming_started_at)
   VALUES ('5511990000001', 'c1', 'active', 90, true, true, true, true, now() - interval '40 days'),
          ('5511990000002', 'c2', 'active', 95, true, true, true, true, now() - interval '40 days'),
          ('5511990000003', 'c3', 'ready', 85, true, true, true, false, now() - interval '30 days')"
vg 0 queue enqueue --cliente dr1 --telefone 5511987650001 --text "Olá, plantão"
vg 65 queue enqueue --cliente dr1 --telefone 12 --text x
q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo)
   SELECT 'dr' || g, '55119876500' || lpad(g::text, 2, '0'), 'msg ' || g, 'followup' FROM generate_series(2, 20) g"
q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, status, processando_desde)
   VALUES ('dr-stuck', '5511987659999', 'x', 'processando', now() - interval '2 hours')"
vg 0 queue stats --json
vg 0 doctor
vg 0 sync-evolution --json
vg 0 trust-update --json
vg 0 pool-check --json
vg 0 send-worker --once --json
vg 0 reset-stuck-queue --json
vg 0 reset-stuck-queue --expire
pmid=$(q "SELECT provider_message_id FROM fila_mensagens WHERE status = 'enviada' LIMIT 1")
printf '%s\n' \
	"{\"event\":\"messages.update\",\"instance\":\"c1\",\"data\":{\"keyId\":\"$pmid\",\"fromMe\":true,\"status\":\"READ\"}}" \
	'{"event":"messages.upsert","instance":"c1","data":{"key":{"remoteJid":"5511987650002@s.whatsapp.net","fromMe":false,"id":"R1"},"message":{"conversation":"sim"}}}' \
	'not json at all' > "$WORK/events"
vg 65 ingest "$WORK/events" --json
vg 0 pull-messages --json
vg 0 watchdog --json
vg 0 metrics-snapshot
vg 0 metrics
vg 0 metrics --json
vg '0|1|2' health deep --json	# its exit is the health state
vg 0 chips --json
vg 0 chip show c1
vg 0 chip explain c1 --json
vg 65 chip show no-such-chip
vg 0 circuits --json
vg 0 circuits open c2 --reason valgrind --by ci
vg 0 guardrail block dr5 --reason valgrind --by ci
vg 0 guardrail list --json
vg 0 alerts list --all --json
vg 0 alerts raise --type valgrind --text "a test alert"
vg 0 report --html "$WORK/report.html"
vg 64 report --days 99
vg 78 -c /nonexistent.conf queue stats
vg 64 frobnicate
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
