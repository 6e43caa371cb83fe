#!/bin/sh
# The quick start: everything on this machine, nothing left behind.
# A throwaway PostgreSQL 15, fake Evolution, Z-API and Slack servers, a
# seeded demo pool and queue, one cycle of the jobs, and the result shown.
# Run by `make quickstart` (which installs the packages and builds first).
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
C="$REPO/chipctl"
WORK=$(mktemp -d /tmp/chipctl-quickstart.XXXXXX)
chmod 755 "$WORK"
# The report outlives the run (everything else is removed): one file.
REPORT=${CHIPCTL_QUICKSTART_REPORT:-/tmp/chipctl-quickstart-report.html}
export FAKE_DIR="$WORK/fakes"
mkdir -p "$FAKE_DIR"
. "$REPO/scripts/fakes.sh"

cleanup() {
	stop_fakes
	scripts/pg-tmp.sh stop "$WORK/pg" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
q() { psql -XAtq -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"; }

ctl() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" "$1" >/dev/null; }

step "a throwaway PostgreSQL 15 in $WORK/pg"
scripts/pg-tmp.sh start "$WORK/pg" >/dev/null 3>&-
psql -XAtq "$(scripts/pg-tmp.sh url "$WORK/pg")" -c "CREATE DATABASE chipctl"
DATABASE_URL="postgresql:///chipctl?host=$WORK/pg&port=$(cat "$WORK/pg/port")&user=chipctl"
export DATABASE_URL
"$C" migrate --status | sed 's/^/  /'
"$C" -q migrate

step "fake Evolution, Z-API and Slack servers"
EVO=$(start_fake evolution --apikey demo-evolution-key)
ZAPI=$(start_fake zapi --client-token demo-zapi-token)
SLACK=$(start_fake slack)
export EVOLUTION_API_URL=$EVO EVOLUTION_API_KEY=demo-evolution-key
export ZAPI_API_URL=$ZAPI ZAPI_CLIENT_TOKEN=demo-zapi-token
export SLACK_WEBHOOK_URL="$SLACK/services/TDEMO/BDEMO/demo-webhook-secret"
printf 'slack: { min_interval_ms = 0; };\n' > "$WORK/chipctl.conf"
export CHIPCTL_CONFIG="$WORK/chipctl.conf"
# One cycle in seconds: pacing and typing off (with the defaults a chip
# starts one send every 20 to 40 s, each after a second or more of "typing").
export CHIPCTL_CHIP_GAP_S=0 CHIPCTL_CHIP_GAP_JITTER_S=0 CHIPCTL_TYPING_MS_PER_CHAR=0
echo "  Evolution $EVO, Z-API $ZAPI, Slack $SLACK"
ctl "$EVO/__control/instances" '[
  {"name":"chip-top","connectionStatus":"open","ownerJid":"5511990000001@s.whatsapp.net","profileName":"Escala Top"},
  {"name":"chip-b","connectionStatus":"open","ownerJid":"5511990000002@s.whatsapp.net","profileName":"Escala B"},
  {"name":"chip-c","connectionStatus":"open","ownerJid":"5511990000003@s.whatsapp.net","profileName":"Escala C"},
  {"name":"chip-d","connectionStatus":"open","ownerJid":"5511990000004@s.whatsapp.net","profileName":"Escala D"},
  {"name":"chip-ready","connectionStatus":"open"},
  {"name":"chip-warm","connectionStatus":"close"}]'
ctl "$ZAPI/__control/instances" '[{"id":"ZDEMO1","token":"ZTOKENDEMO1","connected":true}]'
# The incident of 2026-01-23: WhatsApp restricts the one chip with trust >= 80.
ctl "$EVO/__control/send" '{"instance":"chip-top","mode":"restricted"}'
echo "  chip-top answers 403 (restricted by WhatsApp), as in the incident"

step "a demo pool and queue"
q "INSERT INTO chips (telefone, instance_name, provider, zapi_instance_id, zapi_token, status,
     trust_score, trust_level, pode_prospectar, pode_followup, pode_responder,
     evolution_connected, warming_started_at, limite_hora, limite_dia)
   VALUES ('5511990000001', 'chip-top', 'evolution', NULL, NULL, 'active', 90, 'verde', true, true, true, true, now() - interval '90 days', 50, 300),
          ('5511990000002', 'chip-b', 'evolution', NULL, NULL, 'active', 75, 'amarelo', false, true, true, true, now() - interval '60 days', 50, 300),
          ('5511990000003', 'chip-c', 'evolution', NULL, NULL, 'active', 70, 'amarelo', false, true, true, true, now() - interval '60 days', 50, 300),
          ('5511990000004', 'chip-d', 'evolution', NULL, NULL, 'active', 70, 'amarelo', false, true, true, true, now() - interval '45 days', 50, 300),
          ('5511990000005', 'chip-ready', 'evolution', NULL, NULL, 'ready', 82, 'verde', true, true, true, true, now() - interval '30 days', 50, 300),
          ('5511990000006', 'chip-warm', 'evolution', NULL, NULL, 'warming', 60, 'amarelo', false, true, true, false, now() - interval '5 days', 20, 100),
          ('5511990000007', 'chip-zapi', 'zapi', 'ZDEMO1', 'ZTOKENDEMO1', 'active', 72, 'amarelo', false, true, true, true, now() - interval '40 days', 50, 300)"
q "UPDATE chips SET created_at = warming_started_at"	# their age counts in the trust score
i=1
for tipo in prospeccao followup followup resposta campanha followup prospeccao resposta followup followup; do
	"$C" -q queue enqueue --cliente "dr-$i" --telefone "55119876500$(printf %02d $i)" \
		--tipo "$tipo" --text "Olá, Dr(a). $i: há um plantão disponível nesta semana." >/dev/null
	i=$((i + 1))
done
"$C" -q queue enqueue --cliente dr-ghost --telefone 5511900000000 --text "número sem WhatsApp" >/dev/null
ctl "$EVO/__control/not_on_whatsapp" '{"numbers":["5511900000000"]}'
"$C" queue stats | sed 's/^/  /'

run() {	# run CMD...: one job of the cycle, its exit code shown
	printf '\n$ chipctl %s\n' "$*"
	set +e
	"$C" -q "$@"
	rc=$?
	set -e
	[ $rc -eq 0 ] || echo "  (exit $rc)"
}

step "one cycle of the jobs"
run sync-evolution
run trust-update
run pool-check
run send-worker --once --json
run reset-stuck-queue

step "webhook events from Evolution: a doctor answers, receipts arrive"
pmid=$(q "SELECT provider_message_id FROM fila_mensagens WHERE cliente_id = 'dr-2'")
phone=$(q "SELECT telefone FROM fila_mensagens WHERE cliente_id = 'dr-2'")
chip=$(q "SELECT c.instance_name FROM fila_mensagens f JOIN chips c ON c.id = f.chip_id WHERE f.cliente_id = 'dr-2'")
cat > "$WORK/events.jsonl" <<EVENTS
{"event":"messages.update","instance":"$chip","data":{"keyId":"$pmid","remoteJid":"$phone@s.whatsapp.net","fromMe":true,"status":"DELIVERY_ACK"}}
{"event":"messages.update","instance":"$chip","data":{"keyId":"$pmid","remoteJid":"$phone@s.whatsapp.net","fromMe":true,"status":"READ"}}
{"event":"messages.upsert","instance":"$chip","data":{"key":{"remoteJid":"$phone@s.whatsapp.net","fromMe":false,"id":"REPLY1"},"pushName":"Dra. 2","message":{"conversation":"Tenho interesse no plantão"},"messageType":"conversation","messageTimestamp":$(date +%s)}}
{"event":"connection.update","instance":"chip-warm","data":{"instance":"chip-warm","state":"open","statusReason":200}}
EVENTS
sed 's/^/  /' "$WORK/events.jsonl" | cut -c1-150
run ingest "$WORK/events.jsonl" --json
run trust-update --json
printf '\n$ chipctl chip explain %s\n' "$chip"
"$C" chip explain "$chip"
run metrics-snapshot
run watchdog

step "the pool"
"$C" chips
step "the queue"
"$C" queue stats
q "SELECT id, tipo, status, coalesce(outcome, '-'), coalesce((SELECT instance_name FROM chips c WHERE c.id = f.chip_id), '-')
   FROM fila_mensagens f ORDER BY id" | awk -F'|' '{ printf "  #%-3s %-10s %-9s %-22s %s\n", $1, $2, $3, $4, $5 }'
step "circuit breakers and the last transitions"
"$C" circuits
step "alerts (delivered to the fake Slack)"
"$C" alerts list --all
step "health"
set +e
"$C" health deep
echo "  (exit $? — 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)"
set -e
step "the report"
"$C" -q report --html "$REPORT"
echo "  the pool's week on one page (open it in a browser): $REPORT"
printf '\nDone: everything above ran against a throwaway database and fake providers, now removed\n'
printf '(the report stays: %s).\n' "$REPORT"
