#!/usr/bin/env bats
# ingest (T08.2, T07.3, T08.5, T07.4): Evolution webhook events.
load ../lib/common

setup() {
	common_setup
	CHIP=$(psql_q "INSERT INTO chips (telefone, instance_name, status, created_at, evolution_connected)
	               VALUES ('5511900000001', 'chip01', 'active', now() - interval '40 days', true)
	               RETURNING id")
	EV="$BATS_TEST_TMPDIR/events.jsonl"
	: > "$EV"
	# events carry their own time, and date what they record by it: the
	# fixtures' times are the test's now, so the trust windows see them
	NOW=$(date +%s)
}

# up PHONE ID [TYPE] [INSTANCE] [TIME]: an inbound messages.upsert (TIME: now)
up() {
	printf '{"event":"messages.upsert","instance":"%s","data":{"key":{"remoteJid":"%s@s.whatsapp.net","fromMe":false,"id":"%s"},"pushName":"Dr","status":"DELIVERY_ACK","message":{"conversation":"Oi"},"messageType":"%s","messageTimestamp":%s},"date_time":"2026-01-23T10:00:00.000Z","sender":"5511900000001@s.whatsapp.net","server_url":"https://evo.example.com","apikey":null}\n' \
		"${4:-chip01}" "$1" "$2" "${3:-conversation}" "${5:-$NOW}" >> "$EV"
}
# rcpt KEYID STATUS: a receipt of a message the chip sent
rcpt() {
	printf '{"event":"messages.update","instance":"chip01","data":{"keyId":"%s","remoteJid":"5511988800001@s.whatsapp.net","fromMe":true,"participant":null,"status":"%s","instanceId":"cm1x","messageId":"cm9m"}}\n' "$1" "$2" >> "$EV"
}
# conn STATE REASON [DATE]
conn() {
	printf '{"event":"connection.update","instance":"chip01","data":{"instance":"chip01","state":"%s","statusReason":%s},"date_time":"%s"}\n' \
		"$1" "$2" "${3:-2026-01-23T10:00:00.000Z}" >> "$EV"
}
# sent PHONE CLIENTE PROVIDER_ID [AGE]: the send-worker's record of a send
sent() {
	psql_q "INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction, provider_message_id, created_at)
	        VALUES ('$CHIP', '$2', '$1', 'out', '$3', now() - interval '${4:-1 hour}')"
}

@test "an inbound message registers a response: answered, affinity, bidirectional conversation" {
	sent 5511988800001 dr1 OUT1
	up 5511988800001 IN1
	run_chipctl 0 ingest --json "$EV"
	[ "$output" = '{"dry_run":false,"lines":1,"applied":1,"duplicates":0,"ignored":0,"unknown_instance":0,"malformed":0,"failed":0,"urgent_recomputations":0,"alerts":0,"own_sends":0}' ]
	[ "$(psql_q "SELECT msgs_recebidas_total, conversas_bidirecionais FROM chips")" = "1|1" ]
	[ "$(psql_q "SELECT obteve_resposta FROM chip_interactions WHERE provider_message_id = 'OUT1'")" = t ]
	[ "$(psql_q "SELECT cliente_id, telefone, provider_message_id, media_type FROM chip_interactions WHERE direction = 'in'")" = "dr1|5511988800001|IN1|text" ]
	[ "$(psql_q "SELECT cliente_id, respostas FROM medico_chip_affinity")" = "dr1|1" ]
}

@test "LID addressing: the sender's phone comes from remoteJidAlt" {
	sent 5511988800002 dr2 OUT2
	echo '{"event":"messages.upsert","instance":"chip01","data":{"key":{"remoteJid":"13718@lid","remoteJidAlt":"5511988800002@s.whatsapp.net","addressingMode":"lid","fromMe":false,"id":"L1"},"messageType":"imageMessage","messageTimestamp":'"$NOW"'}}' >> "$EV"
	echo '{"event":"messages.upsert","instance":"chip01","data":{"key":{"remoteJid":"99999@lid","addressingMode":"lid","fromMe":false,"id":"L2"},"messageType":"conversation"}}' >> "$EV"
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"applied":1,"duplicates":0,"ignored":1,'* ]]
	[ "$(psql_q "SELECT telefone, media_type FROM chip_interactions WHERE direction = 'in'")" = "5511988800002|image" ]
	[ "$(psql_q "SELECT respostas FROM medico_chip_affinity WHERE cliente_id = 'dr2'")" = 1 ]
}

@test "group messages, status broadcasts and other events are skipped" {
	echo '{"event":"messages.upsert","instance":"chip01","data":{"key":{"remoteJid":"120363@g.us","fromMe":true,"id":"G0"},"messageType":"conversation"}}' >> "$EV"
	echo '{"event":"messages.upsert","instance":"chip01","data":{"key":{"remoteJid":"120363@g.us","fromMe":false,"id":"G1","participant":"5511988800001@s.whatsapp.net"},"messageType":"conversation"}}' >> "$EV"
	echo '{"event":"qrcode.updated","instance":"chip01","data":{"qrcode":{}}}' >> "$EV"
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"applied":0,"duplicates":0,"ignored":3,'* ]]
	[ "$(psql_q "SELECT count(*) FROM chip_interactions")" = 0 ]
}

# out PHONE ID [TYPE] [EVENT] [TIME]: a message the chip sent (fromMe), from the
# phone (messages.upsert) or through the API (send.message)
out() {
	printf '{"event":"%s","instance":"chip01","data":{"key":{"remoteJid":"%s@s.whatsapp.net","fromMe":true,"id":"%s"},"pushName":"Voce","status":"SERVER_ACK","message":{"conversation":"Bom dia"},"messageType":"%s","messageTimestamp":%s},"sender":"5511900000001@s.whatsapp.net"}\n' \
		"${4:-messages.upsert}" "$1" "$2" "${3:-conversation}" "${5:-$NOW}" >> "$EV"
}

@test "a message the chip sent outside chipctl is an outbound interaction; a reply to it counts" {
	out 5511988800007 OUTX1 imageMessage
	out 5511988800008 OUTX2 conversation send.message
	up 5511988800007 INX1
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"applied":3,"duplicates":0,'* ]]
	[ "$(psql_q "SELECT telefone, media_type, obteve_resposta, message_id IS NULL FROM chip_interactions WHERE direction = 'out' ORDER BY provider_message_id")" = "5511988800007|image|t|t
5511988800008|text|f|t" ]
	[ "$(psql_q "SELECT msgs_enviadas_total, msgs_recebidas_total, conversas_bidirecionais FROM chips")" = "2|1|1" ]
}

@test "chipctl's own sends and the second event of one message are not counted twice" {
	sent 5511988800001 dr1 OWN1
	out 5511988800001 OWN1 conversation send.message	# our own send, echoed
	out 5511988800002 EXT1 conversation send.message
	out 5511988800002 EXT1				# the same message as messages.upsert
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"applied":1,"duplicates":1,'*'"own_sends":1}' ]]
	[ "$(psql_q "SELECT count(*) FROM chip_interactions WHERE direction = 'out'")" = 2 ]
	[ "$(psql_q "SELECT msgs_enviadas_total FROM chips")" = 1 ]
}

@test "the echo of a send chipctl is making right now (still processando) is its own" {
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, status, processando_desde, worker_id, chip_id)
	        VALUES ('dr1', '5511988800003', 'x', 'processando', now(), 'w1', '$CHIP')"
	out 5511988800003 RACE1 conversation send.message
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"applied":0,'*'"own_sends":1}' ]]
	[ "$(psql_q "SELECT count(*) FROM chip_interactions")" = 0 ]
}

@test "a send the application reported with the chip alone gets its recipient from the webhook" {
	psql_q "SELECT chip_registrar_envio_sucesso(p_chip_id => '$CHIP')" >/dev/null
	[ "$(psql_q "SELECT count(*), count(telefone) FROM chip_interactions WHERE direction = 'out'")" = "1|0" ]
	# reported a minute ago: the webhook's send and the reply come after it
	psql_q "UPDATE chip_interactions SET created_at = now() - interval '1 minute'"
	out 5511988800009 APP1 conversation send.message
	up 5511988800009 INAPP1
	run_chipctl 0 ingest "$EV"
	[ "$(psql_q "SELECT telefone, provider_message_id, obteve_resposta FROM chip_interactions WHERE direction = 'out'")" = "5511988800009|APP1|t" ]
	[ "$(psql_q "SELECT msgs_enviadas_total FROM chips")" = 1 ]
}

@test "receipts feed the delivery rate; the furthest status is kept" {
	for i in $(seq 1 10); do sent "55119888000$i" "dr$i" "P$i" '3 hours'; done
	for i in $(seq 1 8); do rcpt "P$i" SERVER_ACK; rcpt "P$i" DELIVERY_ACK; done
	rcpt P1 READ
	rcpt P2 SERVER_ACK
	rcpt P9 ERROR
	rcpt P10 ERROR
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"applied":19,"duplicates":1,'* ]]
	[ "$(psql_q "SELECT last_status, delivered_at IS NOT NULL, read_at IS NOT NULL FROM message_receipts WHERE provider_message_id = 'P1'")" = "READ|t|t" ]
	[ "$(psql_q "SELECT last_status FROM message_receipts WHERE provider_message_id = 'P2'")" = DELIVERY_ACK ]
	run_chipctl 0 trust-update
	[ "$(psql_q "SELECT taxa_delivery FROM chips")" = 0.8000 ]
}

@test "records are dated by the event's own time: 3 days ago is 3 days ago; none, or later than now, is now" {
	DAYS3=$((NOW - 3 * 86400))
	sent 5511988800001 dr1 OUT1 '4 days'
	up 5511988800001 OLD1 conversation chip01 "$DAYS3"
	out 5511988800002 OLD2 conversation send.message "$((DAYS3 - 60))"
	echo '{"event":"messages.update","instance":"chip01","data":{"keyId":"OLD2","fromMe":true,"status":"DELIVERY_ACK","messageTimestamp":'"$((DAYS3 - 30))"'}}' >> "$EV"
	echo '{"event":"messages.upsert","instance":"chip01","data":{"key":{"remoteJid":"5511988800003@s.whatsapp.net","fromMe":false,"id":"NOW1"}}}' >> "$EV"
	up 5511988800004 FUT1 conversation chip01 "$((NOW + 3600))"	# a phone's clock ahead
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"lines":5,"applied":5,'* ]]
	[ "$(psql_q "SELECT provider_message_id, direction, created_at = to_timestamp($DAYS3 - 60 * (direction = 'out')::int)
	             FROM chip_interactions WHERE provider_message_id IN ('OLD1', 'OLD2') ORDER BY 1")" = "OLD1|in|t
OLD2|out|t" ]
	[ "$(psql_q "SELECT delivered_at = to_timestamp($DAYS3 - 30), updated_at = to_timestamp($DAYS3 - 30)
	             FROM message_receipts WHERE provider_message_id = 'OLD2'")" = "t|t" ]
	# the reply of 3 days ago answers the message of 4 days ago, and is the
	# doctor's last interaction then, not now
	[ "$(psql_q "SELECT obteve_resposta FROM chip_interactions WHERE provider_message_id = 'OUT1'")" = t ]
	[ "$(psql_q "SELECT ultima_interacao_em = to_timestamp($DAYS3) FROM medico_chip_affinity WHERE cliente_id = 'dr1'")" = t ]
	# no time, or a time ahead of ours: now (the test's run, give or take)
	[ "$(psql_q "SELECT provider_message_id, created_at BETWEEN to_timestamp($NOW) - interval '1 minute' AND now()
	             FROM chip_interactions WHERE provider_message_id IN ('NOW1', 'FUT1') ORDER BY 1")" = "FUT1|t
NOW1|t" ]
}

@test "a receipt of a message the chip received is skipped" {
	echo '{"event":"messages.update","instance":"chip01","data":{"keyId":"X1","fromMe":false,"status":"READ"}}' >> "$EV"
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"applied":0,"duplicates":0,"ignored":1,'* ]]
}

@test "connection.update: close disconnects (first miss kept), open reconnects" {
	conn close 428 2026-01-23T10:00:00Z
	run_chipctl 0 ingest "$EV"
	[ "$(psql_q "SELECT evolution_connected, desconectado_desde IS NOT NULL FROM chips")" = "f|t" ]
	psql_q "UPDATE chips SET desconectado_desde = '2026-01-01 00:00Z'"
	: > "$EV"; conn close 500 2026-01-23T10:05:00Z
	run_chipctl 0 ingest "$EV"
	[ "$(psql_q "SELECT desconectado_desde = '2026-01-01 00:00Z' FROM chips")" = t ]
	: > "$EV"; conn connecting 200; conn open 200 2026-01-23T10:06:00Z
	run_chipctl 0 ingest "$EV"
	[ "$(psql_q "SELECT evolution_connected, desconectado_desde IS NULL FROM chips")" = "t|t" ]
	[ "$(psql_q "SELECT count(*) FROM chip_trust_events")" = 0 ]
}

@test "a block recomputes the chip's trust at once and alerts when it falls to vermelho" {
	conf 'trust: { base = 30; };'
	psql_q "UPDATE chips SET trust_score = 85, trust_level = 'verde'"
	conn close 403
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"urgent_recomputations":1,"alerts":1,"own_sends":0}' ]]
	[ "$(psql_q "SELECT kind, http_status FROM chip_trust_events")" = "block|403" ]
	[ "$(psql_q "SELECT trust_level, evolution_connected FROM chips")" = "vermelho|f" ]
	[[ "$(psql_q "SELECT motivo FROM chip_trust_history")" == "ingest: connection.update close 403 (block)" ]]
	[ "$(psql_q "SELECT alert_type, subject, severity FROM alert_outbox")" = "trust_low|chip01|critical" ]
	[[ "$stderr" == *'msg="critical event, recomputing trust" line=1 instance=chip01 kind=block'* ]]
}

@test "a ban signal (close 401) is critical; a chip that stays above vermelho raises no alert" {
	conn close 401
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"urgent_recomputations":1,"alerts":0,"own_sends":0}' ]]
	[ "$(psql_q "SELECT kind FROM chip_trust_events")" = ban ]
	[ "$(psql_q "SELECT count(*) FROM chip_trust_history")" = 1 ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox")" = 0 ]
}

@test "the same events twice count once" {
	sent 5511988800001 dr1 OUT1
	up 5511988800001 IN1
	up 5511988800001 IN1
	rcpt OUT1 DELIVERY_ACK
	conn close 403
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"applied":3,"duplicates":1,'* ]]
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"applied":0,"duplicates":4,'* ]]
	[ "$(psql_q "SELECT msgs_recebidas_total, conversas_bidirecionais FROM chips")" = "1|1" ]
	[ "$(psql_q "SELECT respostas FROM medico_chip_affinity")" = 1 ]
	[ "$(psql_q "SELECT count(*) FROM chip_trust_events")" = 1 ]
}

@test "malformed lines are reported with their number and skipped; the rest applies; exit 65" {
	up 5511988800001 A1
	echo '{"event":"messages.upsert","instance":' >> "$EV"
	echo '[1,2,3]' >> "$EV"
	echo '{"event":"messages.update","instance":"chip01","data":{"fromMe":true}}' >> "$EV"
	echo '' >> "$EV"
	echo '{"event":"messages.upsert","instance":"chip01","data":{}} trailing' >> "$EV"
	up 5511988800002 A2
	run_chipctl 65 ingest --json "$EV"
	# the blank line is in no count (issue 21); line numbers stay the file's
	[[ "$output" == *'"lines":6,"applied":2,'*'"malformed":4,'* ]]
	[[ "$stderr" == *'msg="malformed event skipped" file='*' line=2 error="invalid JSON'* ]]
	[[ "$stderr" == *'line=3 error="not a JSON object"'* ]]
	[[ "$stderr" == *'line=4 error="messages.update without data.keyId and data.status"'* ]]
	[[ "$stderr" == *'line=6 error="trailing data at offset'* ]]
	[ "$(psql_q "SELECT msgs_recebidas_total FROM chips")" = 2 ]
}

@test "an event for an unknown instance is skipped with a warning" {
	up 5511988800001 U1 conversation nosuchchip
	up 5511988800001 K1
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"applied":1,"duplicates":0,"ignored":0,"unknown_instance":1,'* ]]
	[[ "$stderr" == *'level=warn'*'msg="event for an unknown instance skipped" line=1 event=messages.upsert instance=nosuchchip'* ]]
}

@test "events on stdin, quotes and SQL in fields are data" {
	up "5511988800001" "x'); DROP TABLE chips; --"
	printf '{"event":"messages.upsert","instance":"chip01'"'"'; --","data":{"key":{"remoteJid":"5511988800009@s.whatsapp.net","id":"q"}}}\n' >> "$EV"
	run_chipctl 0 ingest --json < "$EV"
	[[ "$output" == *'"applied":1,"duplicates":0,"ignored":0,"unknown_instance":1,'* ]]
	[ "$(psql_q "SELECT provider_message_id FROM chip_interactions")" = "x'); DROP TABLE chips; --" ]
}

@test "--dry-run applies nothing" {
	up 5511988800001 D1
	conn close 403
	run_chipctl 0 ingest --dry-run --json "$EV"
	[[ "$output" == '{"dry_run":true,"lines":2,"applied":2,'* ]]
	[ "$(psql_q "SELECT (SELECT count(*) FROM chip_interactions) + (SELECT count(*) FROM webhook_events)
	             + (SELECT count(*) FROM chip_trust_events) + (SELECT count(*) FROM chip_trust_history)")" = 0 ]
	[ "$(psql_q "SELECT evolution_connected FROM chips")" = t ]
}

@test "a missing file is exit 66; two files are a usage error" {
	run_chipctl 66 ingest "$BATS_TEST_TMPDIR/none.jsonl"
	[[ "$stderr" == *'cannot open events file'* ]]
	run_chipctl 64 ingest a b
}

@test "a warming chip seen only through webhooks earns its score and graduates (issue 11)" {
	conf 'pool: { min_active = 0; min_ready = 0; min_warming = 0; };'
	W=$(psql_q "INSERT INTO chips (telefone, instance_name, status, created_at, warming_started_at,
	              evolution_connected)
	            VALUES ('5511900000022', 'warm22', 'warming', now() - interval '22 days',
	                    now() - interval '22 days', true) RETURNING id")
	for i in $(seq 10 49); do
		printf '{"event":"messages.upsert","instance":"warm22","data":{"key":{"remoteJid":"55119777000%s@s.whatsapp.net","fromMe":true,"id":"W%s"},"messageType":"conversation","messageTimestamp":%s}}\n' "$i" "$i" "$((NOW - 60))"
		printf '{"event":"messages.update","instance":"warm22","data":{"keyId":"W%s","remoteJid":"55119777000%s@s.whatsapp.net","fromMe":true,"status":"DELIVERY_ACK"}}\n' "$i" "$i"
	done >> "$EV"
	for i in $(seq 10 29); do
		printf '{"event":"messages.upsert","instance":"warm22","data":{"key":{"remoteJid":"55119777000%s@s.whatsapp.net","fromMe":false,"id":"R%s"},"messageType":"conversation","messageTimestamp":%s}}\n' "$i" "$i" "$NOW"
	done >> "$EV"
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"lines":100,"applied":100,'* ]]
	run_chipctl 0 trust-update
	run psql_q "SELECT trust_score >= 85, taxa_resposta, conversas_bidirecionais FROM chips WHERE id = '$W'"
	[ "$output" = "t|0.5000|20" ] || { psql_q "SELECT trust_score, trust_factors FROM chips WHERE id = '$W'"; false; }
	run_chipctl 0 pool-check
	[ "$(psql_q "SELECT status FROM chips WHERE id = '$W'")" = ready ]
	[[ "$(psql_q "SELECT reason FROM chip_status_transitions WHERE chip_id = '$W'")" == graduated:22d_trust_* ]]
}

# zapi EVENT_JSON: one Z-API callback line
zapi() { printf '%s\n' "$1" >> "$EV"; }

@test "Z-API callbacks: received, sent from the phone, status receipts, disconnected" {
	Z=$(psql_q "INSERT INTO chips (telefone, instance_name, provider, status, zapi_instance_id, zapi_token)
	            VALUES ('5511900000050', 'zchip', 'zapi', 'active', 'ZINST1', 'ztok') RETURNING id")
	zapi '{"type":"ReceivedCallback","instanceId":"ZINST1","messageId":"ZOUT1","phone":"5511988800050","fromMe":true,"momment":'"$((NOW * 1000 - 3000))"',"status":"SENT","isGroup":false,"text":{"message":"Oi"}}'
	zapi '{"type":"MessageStatusCallback","instanceId":"ZINST1","status":"RECEIVED","ids":["ZOUT1"],"phone":"5511988800050","momment":'"$((NOW * 1000 - 2000))"'}'
	zapi '{"type":"ReceivedCallback","instanceId":"ZINST1","messageId":"ZIN1","phone":"5511988800050","fromMe":false,"momment":'"$((NOW * 1000 - 1000))"',"status":"RECEIVED","senderName":"Dr","isGroup":false,"text":{"message":"Ola"}}'
	zapi '{"type":"ReceivedCallback","instanceId":"NOPE","messageId":"ZIN2","phone":"5511988800050","fromMe":false}'
	zapi '{"momment":'"$NOW"',"error":"Device has been disconnected","disconnected":true,"type":"DisconnectedCallback","instanceId":"ZINST1"}'
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"lines":5,"applied":4,"duplicates":0,"ignored":0,"unknown_instance":1,'* ]]
	[ "$(psql_q "SELECT direction, telefone, obteve_resposta FROM chip_interactions WHERE chip_id = '$Z' ORDER BY id")" = "out|5511988800050|t
in|5511988800050|f" ]
	[ "$(psql_q "SELECT last_status, chip_id = '$Z' FROM message_receipts")" = "DELIVERY_ACK|t" ]
	[ "$(psql_q "SELECT zapi_connected, evolution_connected, desconectado_desde IS NOT NULL, conversas_bidirecionais FROM chips WHERE id = '$Z'")" = "f|f|t|1" ]
	# the Evolution chip of the suite is untouched
	[ "$(psql_q "SELECT evolution_connected, zapi_connected FROM chips WHERE instance_name = 'chip01'")" = "t|t" ]
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"applied":0,"duplicates":4,'* ]]
}
