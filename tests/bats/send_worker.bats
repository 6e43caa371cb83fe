#!/usr/bin/env bats
# send-worker: claim, guardrails, chip selection, send, fail over, record (SPEC 8).
load ../lib/common
load ../lib/send

setup() {
	common_setup
	send_setup
}

@test "due messages are sent through Evolution and everything is recorded" {
	a=$(chip chip01 90)
	open_instances chip01
	m=$(msg followup dr-ana 5511987651111)
	run_chipctl 0 send-worker --once --json
	[[ "$output" == *'"sent":1'* ]]
	[ "$(msg_state $m)" = "enviada|SENT" ]
	[ "$(psql_q "SELECT chip_id = '$a', provider_message_id IS NOT NULL, tentativas, enviada_em IS NOT NULL FROM fila_mensagens WHERE id = $m")" = "t|t|0|t" ]
	[ "$(psql_q "SELECT result, http_status, chip_id = '$a', provider FROM send_attempts WHERE message_id = $m")" = "ok|201|t|evolution" ]
	[ "$(psql_q "SELECT msgs_enviadas_total, ultimo_envio_em IS NOT NULL FROM chips WHERE id = '$a'")" = "1|t" ]
	[ "$(psql_q "SELECT direction, telefone, provider_message_id IS NOT NULL FROM chip_interactions")" = "out|5511987651111|t" ]
	[ "$(psql_q "SELECT msgs_enviadas FROM medico_chip_affinity WHERE cliente_id = 'dr-ana' AND chip_id = '$a'")" = 1 ]
	[ "$(psql_q "SELECT mode, candidates, reason FROM chip_selection_log")" = "normal|1|sent" ]
	[ "$(psql_q "SELECT count(*) FROM worker_heartbeats WHERE last_beat_at > now() - interval '1 minute'")" = 1 ]
	# what the provider received: the v2 body, the key in the header
	run python3 -c '
import json, sys
r = json.load(sys.stdin)[-1]
assert r["path"] == "/message/sendText/chip01", r["path"]
assert r["json"] == {"number": "5511987651111", "text": "Olá, plantão disponível"}, r["json"]
assert r["headers"]["apikey"] == sys.argv[1]
' "$FAKE_EVOLUTION_APIKEY" < <(fake_requests evolution)
	[ "$status" -eq 0 ]
}

@test "messages not yet due, and messages in other states, are left alone" {
	chip chip01 90 >/dev/null
	open_instances chip01
	later=$(psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, agendar_para) VALUES ('d', '5511987650000', 'x', now() + interval '1 hour') RETURNING id")
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, status) VALUES ('d', '5511987650000', 'x', 'erro'), ('d', '5511987650000', 'x', 'cancelada')"
	run_chipctl 0 send-worker --once
	[ "$(msg_state $later)" = "pendente|-" ]
	[ "$(sends_to chip01)" -eq 0 ]
}

@test "the incident: the one trusted chip is restricted; everything goes out on the others" {
	top=$(chip chip-top 90)
	for n in chip-b chip-c chip-d; do chip $n 70 >/dev/null; done
	psql_q "UPDATE chips SET trust_score = 75 WHERE instance_name = 'chip-b'"
	open_instances chip-top chip-b chip-c chip-d
	evo_mode chip-top restricted
	for i in $(seq 1 9); do msg followup "dr$i" >/dev/null; done
	run_chipctl 0 send-worker --once --json
	[[ "$output" == *'"sent":9'* ]]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 9 ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE chip_id = '$top'")" -eq 0 ]
	# tried once, then cooled off for an hour (403), and an alert says so
	[ "$(sends_to chip-top)" -eq 1 ]
	[ "$(psql_q "SELECT cooldown_until BETWEEN now() + interval '59 minutes' AND now() + interval '61 minutes', erros_ultimas_24h FROM chips WHERE id = '$top'")" = "t|1" ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE alert_type = 'chip_restricted' AND subject = 'chip-top'")" -eq 1 ]
	[ "$(psql_q "SELECT count(DISTINCT chip_id) FROM fila_mensagens")" -eq 3 ]
	# the 403 is a critical event: the chip's trust is recomputed at once
	[ "$(psql_q "SELECT count(*) FROM chip_trust_history WHERE chip_id = '$top' AND motivo = 'send: 403'")" -eq 1 ]
}

@test "prospecting with no chip at 80: the fallback threshold 60 is used, logged and counted" {
	chip chip70 70 >/dev/null
	open_instances chip70
	m=$(msg prospeccao)
	run_chipctl 0 send-worker --once --json
	[[ "$output" == *'"fallback":1'* ]]
	[ "$(msg_state $m)" = "enviada|SENT" ]
	[ "$(psql_q "SELECT mode, threshold FROM chip_selection_log")" = "fallback|60" ]
}

@test "no chip passes even the fallback: the message waits with backoff, unburnt, logged" {
	chip chip50 50 >/dev/null
	open_instances chip50
	m=$(msg prospeccao)
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT status, tentativas, esperas, outcome_reason_code, agendar_para > now() + interval '20 seconds' FROM fila_mensagens WHERE id = $m")" = "pendente|0|1|WAIT_NO_PERMISSION|t" ]
	[ "$(psql_q "SELECT mode, chip_id IS NULL FROM chip_selection_log")" = "none|t" ]
	[ "$(sends_to chip50)" -eq 0 ]
}

@test "fail over: up to 3 chips per message, each refusal spends an attempt, then backoff" {
	for n in c1 c2 c3 c4; do chip $n 90 >/dev/null; done
	open_instances c1 c2 c3 c4
	evo_mode '*' baileys_error
	m=$(msg followup)
	psql_q "UPDATE fila_mensagens SET max_tentativas = 5 WHERE id = $m"
	run_chipctl 0 send-worker --once
	[ "$(fake_count evolution POST /message/sendText/)" -eq 3 ]
	[ "$(psql_q "SELECT count(*) FROM send_attempts WHERE message_id = $m AND result = '4xx' AND fault = 'chip'")" -eq 3 ]
	[ "$(psql_q "SELECT status, tentativas, outcome_reason_code, agendar_para > now() + interval '40 seconds' FROM fila_mensagens WHERE id = $m")" = "pendente|3|ALL_CHIPS_FAILED|t" ]
	# the next pass tries the chip that has not refused it first; a chip
	# refusing it again spends nothing: attempts count distinct chips
	psql_q "UPDATE fila_mensagens SET agendar_para = now() WHERE id = $m; UPDATE chips SET cooldown_until = NULL"
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT count(DISTINCT chip_id) FROM send_attempts WHERE message_id = $m")" -eq 4 ]
	[ "$(psql_q "SELECT chip_id FROM send_attempts WHERE message_id = $m ORDER BY id OFFSET 3 LIMIT 1")" = "$(psql_q "SELECT id FROM chips WHERE id NOT IN (SELECT chip_id FROM send_attempts WHERE message_id = $m ORDER BY id LIMIT 3)")" ]
	[ "$(psql_q "SELECT status, tentativas FROM fila_mensagens WHERE id = $m")" = "pendente|4" ]
}

@test "all chips failed on the last attempt: erro FAILED_ALL_CHIPS and an alert" {
	chip c1 90 >/dev/null
	open_instances c1
	evo_mode c1 baileys_error
	m=$(msg followup)
	psql_q "UPDATE fila_mensagens SET tentativas = 2, max_tentativas = 3 WHERE id = $m"
	run_chipctl 0 send-worker --once
	[ "$(msg_state $m)" = "erro|FAILED_ALL_CHIPS" ]
	[ "$(psql_q "SELECT alert_type, severity FROM alert_outbox WHERE alert_type = 'message_failed'")" = "message_failed|critical" ]
}

@test "a provider's 5xx spends no attempt and harms no chip: the message waits" {
	a=$(chip c1 90)
	open_instances c1
	evo_mode c1 server_error
	m=$(msg followup)
	psql_q "UPDATE fila_mensagens SET tentativas = 2, max_tentativas = 3 WHERE id = $m"
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT status, tentativas, outcome_reason_code, esperas FROM fila_mensagens WHERE id = $m")" = "pendente|2|WAIT_PROVIDER_DOWN|1" ]
	[ "$(psql_q "SELECT fault FROM send_attempts WHERE message_id = $m")" = provider ]
	[ "$(psql_q "SELECT cooldown_until IS NULL, erros_ultimas_24h FROM chips WHERE id = '$a'")" = "t|0" ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE alert_type = 'message_failed'")" -eq 0 ]
}

@test "recipient not on WhatsApp: FAILED_INVALID_NUMBER, the chip is not punished" {
	a=$(chip c1 90)
	chip c2 90 >/dev/null
	open_instances c1 c2
	fake_ctl evolution /__control/not_on_whatsapp '{"numbers":["5511900001234"]}' >/dev/null
	m=$(msg followup dr-x 5511900001234)
	run_chipctl 0 send-worker --once
	[ "$(msg_state $m)" = "erro|FAILED_INVALID_NUMBER" ]
	[ "$(fake_count evolution POST /message/sendText/)" -eq 1 ]
	[ "$(psql_q "SELECT cooldown_until IS NULL, erros_ultimas_24h FROM chips WHERE id = '$a'")" = "t|0" ]
	[ "$(psql_q "SELECT count(*) FROM circuit_breakers WHERE consecutive_failures > 0")" -eq 0 ]
}

@test "rate-overlimit inside a 400 or a 500 counts as a 429: 5 min cooldown" {
	a=$(chip c1 90)
	b=$(chip c2 90)
	chip c3 80 >/dev/null
	open_instances c1 c2 c3
	evo_mode c1 rate_overlimit_400
	evo_mode c2 rate_overlimit_500
	psql_q "UPDATE chips SET trust_score = 95 WHERE id IN ('$a', '$b')"
	m=$(msg followup)
	run_chipctl 0 send-worker --once
	[ "$(msg_state $m)" = "enviada|SENT" ]
	[ "$(psql_q "SELECT bool_and(cooldown_until BETWEEN now() + interval '4 minutes' AND now() + interval '6 minutes') FROM chips WHERE id IN ('$a', '$b')")" = t ]
}

@test "a 400 cools the chip 30 min; other chip faults 15 min; a client never started marks it disconnected instead" {
	a=$(chip c1 95)
	b=$(chip c2 94)
	c=$(chip c3 93)
	chip c4 80 >/dev/null
	open_instances c1 c2 c3 c4
	evo_mode c1 baileys_error
	evo_mode c2 client_not_started
	fake_ctl evolution /__control/script '{"responses":[{"instance":"c3","status":409,
	  "body":{"status":409,"error":"Conflict","response":{"message":["Error: conflict"]}}}]}' >/dev/null
	conf 'send: { max_chips_per_message = 4; };'
	msg followup >/dev/null
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT cooldown_until BETWEEN now() + interval '29 minutes' AND now() + interval '31 minutes' FROM chips WHERE id = '$a'")" = t ]
	[ "$(psql_q "SELECT cooldown_until BETWEEN now() + interval '14 minutes' AND now() + interval '16 minutes' FROM chips WHERE id = '$c'")" = t ]
	# its connection state, which sync and demotion read (issue 22), not a cooldown
	[ "$(psql_q "SELECT cooldown_until IS NULL, evolution_connected, desconectado_desde IS NOT NULL FROM chips WHERE id = '$b'")" = "t|f|t" ]
}

@test "500 Connection Closed marks that chip disconnected, not the provider down" {
	a=$(chip c1 95)
	chip c2 90 >/dev/null
	open_instances c1 c2
	evo_mode c1 connection_closed_array
	m=$(msg followup)
	run_chipctl 0 send-worker --once
	[ "$(msg_state $m)" = "enviada|SENT" ]
	[ "$(psql_q "SELECT evolution_connected, desconectado_desde IS NOT NULL FROM chips WHERE id = '$a'")" = "f|t" ]
	[ "$(psql_q "SELECT count(*) FROM circuit_breakers WHERE name = 'provider:evolution' AND consecutive_failures > 0")" -eq 0 ]
}

@test "a 401 is configuration: one request, an alert, the message waits unburnt" {
	for n in c1 c2 c3; do chip $n 90 >/dev/null; done
	open_instances c1 c2 c3
	export EVOLUTION_API_KEY=wrong-key-55555
	add_secret wrong-key-55555
	m=$(msg followup)
	run_chipctl 0 send-worker --once
	[ "$(fake_count evolution POST /message/sendText/)" -eq 1 ]
	[ "$(psql_q "SELECT status, tentativas FROM fila_mensagens WHERE id = $m")" = "pendente|0" ]
	[ "$(psql_q "SELECT alert_type, subject, severity FROM alert_outbox")" = "provider_auth|evolution|critical" ]
	[ "$(psql_q "SELECT count(*) FROM chips WHERE cooldown_until IS NOT NULL OR erros_ultimas_24h > 0")" -eq 0 ]
}

@test "the auth guard's 403 (Missing global api key) is configuration, not a restricted chip" {
	top=$(chip chip-top 90)
	chip chip-b 85 >/dev/null
	open_instances chip-top chip-b
	evo_mode '*' forbidden
	m=$(msg followup)
	run_chipctl 0 send-worker --once
	# one request: the provider is skipped for the rest of the run
	[ "$(fake_count evolution POST /message/sendText/)" -eq 1 ]
	[ "$(psql_q "SELECT status, tentativas FROM fila_mensagens WHERE id = $m")" = "pendente|0" ]
	[ "$(psql_q "SELECT alert_type, subject, severity FROM alert_outbox")" = "provider_auth|evolution|critical" ]
	[[ "$(psql_q "SELECT text FROM alert_outbox")" == *"HTTP 403: Missing global api key"* ]]
	# no chip punished: no cooldown, no error, no breaker, no urgent trust
	[ "$(psql_q "SELECT count(*) FROM chips WHERE cooldown_until IS NOT NULL OR erros_ultimas_24h > 0")" -eq 0 ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE alert_type = 'chip_restricted'")" -eq 0 ]
	[ "$(psql_q "SELECT count(*) FROM circuit_breakers WHERE consecutive_failures > 0")" -eq 0 ]
	[ "$(psql_q "SELECT count(*) FROM chip_trust_history WHERE chip_id = '$top'")" -eq 0 ]
}

@test "a timeout is uncertain: not sent on another chip; its next claim asks Evolution before sending again" {
	a=$(chip c1 95)
	chip c2 90 >/dev/null
	open_instances c1 c2
	conf 'evolution: { timeout_ms = 300; };'
	sed -i '/timeout_ms = 2000/d' "$CONF"
	evo_mode c1 hang 1
	m=$(msg followup)
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT status, outcome_reason_code, envio_chip_id = '$a', tentativas FROM fila_mensagens WHERE id = $m")" = "pendente|UNCERTAIN_TIMEOUT|t|0" ]
	[ "$(sends_to c2)" -eq 0 ]
	[ "$(psql_q "SELECT result, uncertain FROM send_attempts")" = "timeout|t" ]
	# later: c1's server is asked first (the hung send was never kept:
	# not found), then it is sent again, no attempt spent
	psql_q "UPDATE fila_mensagens SET agendar_para = now() WHERE id = $m"
	run_chipctl 0 send-worker --once
	[ "$(fake_count evolution POST /chat/findMessages/c1)" -ge 1 ]
	[ "$(psql_q "SELECT status, tentativas, envio_chip_id IS NULL FROM fila_mensagens WHERE id = $m")" = "enviada|0|t" ]
	[[ "$stderr" == *"uncertain send not found: sent again"* ]]
}

@test "a huge error body is capped and fails over unburnt; a 201 with a huge, cut or garbage body is sent" {
	a=$(chip c1 95)
	b=$(chip c2 90)
	open_instances c1 c2
	fake_ctl evolution /__control/script '{"responses":[{"path":"/message/sendText","status":500,"huge_mb":8}]}' >/dev/null
	m1=$(msg followup)
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT status, chip_id = '$b', tentativas FROM fila_mensagens WHERE id = $m1")" = "enviada|t|0" ]
	[ "$(psql_q "SELECT result, fault, error LIKE 'response body larger than%' FROM send_attempts WHERE message_id = $m1 AND chip_id = '$a'")" = "network|provider|t" ]
	# c2 is now the more used: the next messages go to c1, whose 201s are
	# unreadable: the provider accepted them, so they count as sent, once
	for mode in huge close_mid_body garbage; do
		fake_ctl evolution /__control/send "{\"instance\":\"c1\",\"mode\":\"$mode\",\"huge_mb\":8,\"count\":1}" >/dev/null
		m=$(msg followup)
		psql_q "INSERT INTO chip_send_counters VALUES ('$b', date_trunc('hour', now()), 0,
		          date_trunc('day', now()), 100) ON CONFLICT (chip_id) DO UPDATE SET day_count = 100"
		run_chipctl 0 send-worker --once
		[ "$(psql_q "SELECT status, chip_id = '$a', provider_message_id IS NULL FROM fila_mensagens WHERE id = $m")" = "enviada|t|t" ] ||
			{ echo "mode $mode"; psql_q "SELECT * FROM send_attempts WHERE message_id = $m"; return 1; }
		[[ "$stderr" == *"unreadable answer"* ]]
	done
	[ "$(fake_count evolution POST /message/sendText/)" -eq 5 ]
}

@test "Z-API chips send with the Client-Token header and the instance token in the path" {
	zapi_setup
	fake_ctl zapi /__control/instances '[{"id":"ZI1","token":"ZTOKEN-secret-1","connected":true}]' >/dev/null
	add_secret ZTOKEN-secret-1
	z=$(chip zchip 90 zapi ZI1 ZTOKEN-secret-1)
	m=$(msg followup dr-z 5511987652222)
	run_chipctl 0 send-worker --once -v
	[ "$(psql_q "SELECT status, chip_id = '$z', provider_message_id IS NOT NULL FROM fila_mensagens WHERE id = $m")" = "enviada|t|t" ]
	run python3 -c '
import json, sys
r = json.load(sys.stdin)[-1]
assert r["path"] == "/instances/ZI1/token/ZTOKEN-secret-1/send-text", r["path"]
assert r["json"] == {"phone": "5511987652222", "message": "Olá, plantão disponível"}, r["json"]
assert r["headers"]["client-token"] == sys.argv[1]
' "$FAKE_ZAPI_CLIENT_TOKEN" < <(fake_requests zapi)
	[ "$status" -eq 0 ]
}

@test "multi-chip off: only the default chip, no failover" {
	chip c1 90 >/dev/null
	chip c2 95 >/dev/null
	open_instances c1 c2
	conf 'send: { multi_chip = 0; default_chip = "c1"; };'
	evo_mode c1 server_error
	m=$(msg followup)
	run_chipctl 0 send-worker --once
	[ "$(sends_to c1)" -eq 1 ]
	[ "$(sends_to c2)" -eq 0 ]
	[ "$(msg_state $m)" = "pendente|-" ]
	evo_mode c1 ok
	psql_q "UPDATE fila_mensagens SET agendar_para = now()"
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT mode FROM chip_selection_log WHERE reason = 'sent'")" = single ]
}

@test "the doctor's affinity chip is preferred; else the least used" {
	a=$(chip c1 90)
	b=$(chip c2 90)
	open_instances c1 c2
	psql_q "INSERT INTO medico_chip_affinity (cliente_id, chip_id, msgs_enviadas, respostas) VALUES ('dr-aff', '$b', 1, 2), ('dr-aff', '$a', 5, 0)"
	m=$(msg followup dr-aff)
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT chip_id = '$b' FROM fila_mensagens WHERE id = $m")" = t ]
	# without affinity, messages spread over the least used chips
	for i in 1 2 3 4; do msg followup >/dev/null; done
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT string_agg(day_count::text, ',' ORDER BY day_count) FROM chip_send_counters")" = "2,3" ]
}

@test "hourly limits, scaled by the recovery ramp, move traffic to other chips" {
	a=$(chip c1 95)
	b=$(chip c2 80)
	open_instances c1 c2
	psql_q "UPDATE chips SET limite_hora = 20, recovery_phase = 1 WHERE id = '$a'"	# 10 % = 2 an hour
	for i in 1 2 3 4; do msg followup >/dev/null; done
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE chip_id = '$a'")" -eq 2 ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE chip_id = '$b'")" -eq 2 ]
}

@test "chips that are not active, disconnected or cooling off are never chosen" {
	chip c1 90 >/dev/null
	for n in c-ready c-disc c-cool c-conn; do chip $n 99 >/dev/null; done
	open_instances c1 c-ready c-disc c-cool c-conn
	psql_q "UPDATE chips SET status = 'ready' WHERE instance_name = 'c-ready';
	        UPDATE chips SET evolution_connected = false WHERE instance_name = 'c-disc';
	        UPDATE chips SET cooldown_until = now() + interval '1 minute' WHERE instance_name = 'c-cool';
	        UPDATE chips SET connection_cooldown_until = now() + interval '1 minute' WHERE instance_name = 'c-conn'"
	for i in 1 2 3; do msg followup >/dev/null; done
	run_chipctl 0 send-worker --once
	[ "$(sends_to c1)" -eq 3 ]
	[ "$(fake_count evolution POST /message/sendText/)" -eq 3 ]
}
