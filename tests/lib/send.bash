# Helpers for the send-worker suites: a pool of chips on the fake providers
# and messages in the queue. Load after ../lib/common.

# send_setup: the fake Evolution (and Z-API) running, chipctl pointed at them.
send_setup() {
	fake_start evolution
	export EVOLUTION_API_URL=$FAKE_EVOLUTION_URL EVOLUTION_API_KEY=$FAKE_EVOLUTION_APIKEY
	add_secret "$FAKE_EVOLUTION_APIKEY"
	# fast tests: short timeouts, no jitter in the guardrail reschedule
	conf 'evolution: { timeout_ms = 2000; connect_timeout_ms = 1000; };'
}

zapi_setup() {
	fake_start zapi
	export ZAPI_API_URL=$FAKE_ZAPI_URL ZAPI_CLIENT_TOKEN=$FAKE_ZAPI_CLIENT_TOKEN
	add_secret "$FAKE_ZAPI_CLIENT_TOKEN"
}

# chip NAME TRUST [PROVIDER [ZAPI_ID ZAPI_TOKEN]]: an active, connected chip
# whose permissions follow its trust; its instance open on the fake. Prints the id.
chip() {
	local name=$1 trust=$2 provider=${3:-evolution} zid=${4:-} ztok=${5:-}
	psql_q "INSERT INTO chips (telefone, instance_name, provider, zapi_instance_id, zapi_token,
	          status, trust_score, pode_prospectar, pode_followup, pode_responder,
	          evolution_connected, limite_hora, limite_dia)
	        VALUES ('55119' || lpad((floor(random() * 1e8))::text, 8, '0'), '$name', '$provider',
	          nullif('$zid', ''), nullif('$ztok', ''), 'active', $trust, $trust >= 80,
	          $trust >= 60, $trust >= 40, true, 1000, 10000)
	        RETURNING id"
}

# open_instances NAME...: these instances exist and are open on the fake Evolution.
open_instances() {
	local json="[" n
	for n in "$@"; do json="$json{\"name\":\"$n\",\"connectionStatus\":\"open\"},"; done
	fake_ctl evolution /__control/instances "${json%,}]" >/dev/null
}

# msg [TIPO [CLIENTE [PHONE]]]: enqueue one due message, print its id.
msg() {
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo)
	        VALUES ('${2:-dr-$RANDOM$RANDOM}', '${3:-5511987650000}', 'Olá, plantão disponível', '${1:-followup}')
	        RETURNING id"
}

# enqueue N [TEXT [TIPO]]: N due messages (resposta by default), each to its
# own doctor and number ('dr' || g, '55119' || g), each text 'TEXT g'
# ('msg g' by default).
enqueue() {
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo)
	        SELECT 'dr' || g, '55119' || lpad(g::text, 8, '0'), '${2:-msg} ' || g, '${3:-resposta}'
	        FROM generate_series(1, $1) g"
}

# every_text_once N: the fake Evolution received N distinct texts, each
# exactly once.
every_text_once() {
	run python3 -c '
import collections, json, sys
texts = collections.Counter(r["json"]["text"] for r in json.load(sys.stdin) if r["path"].startswith("/message/sendText/"))
dups = {t: n for t, n in texts.items() if n != 1}
assert len(texts) == int(sys.argv[1]) and not dups, (len(texts), dups)
' "$1" < <(fake_requests evolution)
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
}

evo_mode() {	# evo_mode INSTANCE MODE [COUNT]
	local count=${3:+,\"count\":$3}
	fake_ctl evolution /__control/send "{\"instance\":\"$1\",\"mode\":\"$2\"$count}" >/dev/null
}

sends_to() { fake_count evolution POST "/message/sendText/$1"; }

msg_state() { psql_q "SELECT status, coalesce(outcome, '-') FROM fila_mensagens WHERE id = $1"; }
