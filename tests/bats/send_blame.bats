#!/usr/bin/env bats
# Whose fault (SPEC section 8, step 3; issue 22): a fault is the chip's only
# if another chip would not get the same answer. Credentials, URLs, bad
# messages and one hanging chip never bench the pool.
load ../lib/common
load ../lib/send

setup() {
	common_setup
	send_setup
}

# no_chip_harmed: no chip cooled off, counted, scored or tripped.
no_chip_harmed() {
	[ "$(psql_q "SELECT count(*) FROM chips WHERE cooldown_until IS NOT NULL OR erros_ultimas_24h > 0
	               OR desconectado_desde IS NOT NULL")" -eq 0 ]
	[ "$(psql_q "SELECT count(*) FROM chip_trust_events")" -eq 0 ]
	[ "$(psql_q "SELECT count(*) FROM circuit_breakers WHERE consecutive_failures > 0 OR state <> 'closed'")" -eq 0 ]
}

trust() { psql_q "SELECT string_agg(trust_score::text, ',' ORDER BY instance_name) FROM chips"; }

@test "a wrong Z-API Client-Token: no chip blamed, messages wait, one provider_auth alert; fixed, all sent" {
	zapi_setup
	fake_ctl zapi /__control/instances '[{"id":"ZI1","token":"ZT-1-abcdef","connected":true},
	  {"id":"ZI2","token":"ZT-2-abcdef","connected":true},{"id":"ZI3","token":"ZT-3-abcdef","connected":true}]' >/dev/null
	for k in 1 2 3; do
		add_secret "ZT-$k-abcdef"
		chip "z$k" 80 zapi "ZI$k" "ZT-$k-abcdef" >/dev/null
	done
	# the fake echoes a wrong token back: {"error":"<token> not allowed"}
	export ZAPI_CLIENT_TOKEN=wrong-client-token-0042
	add_secret wrong-client-token-0042
	for i in 1 2 3; do msg followup >/dev/null; done
	before=$(trust)
	run_chipctl 0 send-worker --once
	no_chip_harmed
	[ "$(trust)" = "$before" ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente' AND tentativas = 0
	               AND outcome_reason_code = 'WAIT_PROVIDER_AUTH'")" -eq 3 ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE alert_type = 'provider_auth' AND subject = 'zapi'")" -eq 1 ]
	# one request told it all: the account's token fails for every chip
	[ "$(fake_count zapi POST /instances/)" -eq 1 ]
	[ "$(psql_q "SELECT fault, blame LIKE '%Client-Token%' FROM send_attempts")" = "configuration|t" ]
	# the echoed token is scrubbed from what is stored and alerted
	[ "$(psql_q "SELECT error FROM send_attempts")" = "HTTP 400: [REDACTED] not allowed" ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE text LIKE '%wrong-client-token%'")" -eq 0 ]
	[ "$(psql_q "SELECT text LIKE '%[REDACTED] not allowed%' FROM alert_outbox WHERE alert_type = 'provider_auth'")" = t ]
	# queue show (of the message tried) and chips say whose fault, and why
	m=$(psql_q "SELECT message_id FROM send_attempts")
	run_chipctl 0 queue show "$m"
	[[ "$output" == *"fault configuration (Z-API refused the account's Client-Token (zapi.client_token))"* ]]
	run_chipctl 0 chips
	[[ "$output" == *"configuration: Z-API refused the account's Client-Token"* ]]
	# fixed: everything goes out, still no chip harmed
	export ZAPI_CLIENT_TOKEN=$FAKE_ZAPI_CLIENT_TOKEN
	psql_q "UPDATE fila_mensagens SET agendar_para = now()"
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 3 ]
	no_chip_harmed
}

@test "a wrong evolution.url path: no chip blamed, messages wait, one provider_auth alert; fixed, all sent" {
	for n in c1 c2 c3; do chip $n 90 >/dev/null; done
	open_instances c1 c2 c3
	export EVOLUTION_API_URL=$FAKE_EVOLUTION_URL/api
	for i in 1 2 3; do msg followup >/dev/null; done
	before=$(trust)
	run_chipctl 0 send-worker --once
	no_chip_harmed
	[ "$(trust)" = "$before" ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente' AND tentativas = 0
	               AND outcome_reason_code = 'WAIT_PROVIDER_AUTH'")" -eq 3 ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE alert_type = 'provider_auth' AND subject = 'evolution'")" -eq 1 ]
	[ "$(psql_q "SELECT text LIKE '%wrong evolution.url%Cannot POST /api/message/sendText/%' FROM alert_outbox WHERE alert_type = 'provider_auth'")" = t ]
	[ "$(psql_q "SELECT count(*) FROM send_attempts")" -eq 1 ]
	[ "$(psql_q "SELECT fault FROM send_attempts")" = configuration ]
	m=$(psql_q "SELECT message_id FROM send_attempts")
	run_chipctl 0 queue show "$m"
	[[ "$output" == *"fault configuration (no such route on the server: a wrong evolution.url or zapi.url)"* ]]
	export EVOLUTION_API_URL=$FAKE_EVOLUTION_URL
	psql_q "UPDATE fila_mensagens SET agendar_para = now()"
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 3 ]
	no_chip_harmed
}

@test "a blank text queued directly fails FAILED_INVALID_MESSAGE before any request; enqueue refuses it" {
	for n in c1 c2 c3; do chip $n 90 >/dev/null; done
	open_instances c1 c2 c3
	m=$(psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo)
	            VALUES ('dr-blank', '5511987650000', E'  \t\n ', 'followup') RETURNING id")
	ok=$(msg followup)
	run_chipctl 0 send-worker --once
	[ "$(msg_state "$m")" = "erro|FAILED_INVALID_MESSAGE" ]
	[ "$(psql_q "SELECT outcome_reason_code, tentativas FROM fila_mensagens WHERE id = $m")" = "INVALID_MESSAGE|0" ]
	[ "$(psql_q "SELECT ultimo_erro FROM fila_mensagens WHERE id = $m")" = "text refused before sending (blank: nothing but white space): no provider would take it" ]
	[ "$(psql_q "SELECT count(*) FROM send_attempts WHERE message_id = $m")" -eq 0 ]
	[ "$(msg_state "$ok")" = "enviada|SENT" ]
	[ "$(fake_count evolution POST /message/sendText/)" -eq 1 ]
	no_chip_harmed
	run_chipctl 65 queue enqueue --cliente dr-x --telefone 5511987650000 --text '   '
	[[ "$stderr" == *"blank: nothing but white space"* ]]
	run_chipctl 65 queue enqueue --cliente dr-x --telefone 5511987650000 --text "$(printf 'a%.0s' $(seq 10001))"
	[[ "$stderr" == *"longer than 10000 bytes"* ]]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens")" -eq 2 ]
}

@test "content the server refuses for any chip (Text is required): one request, FAILED_INVALID_MESSAGE, no chip pays" {
	for n in c1 c2 c3; do chip $n 90 >/dev/null; done
	open_instances c1 c2 c3
	fake_ctl evolution /__control/script '{"responses":[{"path":"/message/sendText","status":400,"body":{"status":400,
	  "error":"Bad Request","response":{"message":["Text is required"]}}}]}' >/dev/null
	m=$(msg followup)
	run_chipctl 0 send-worker --once
	[ "$(msg_state "$m")" = "erro|FAILED_INVALID_MESSAGE" ]
	[ "$(fake_count evolution POST /message/sendText/)" -eq 1 ]
	[ "$(psql_q "SELECT fault FROM send_attempts")" = message ]
	no_chip_harmed
}

@test "one chip hanging among four: its breaker opens, the provider's stays closed, the others carry the queue" {
	sed -i '/timeout_ms = 2000/d' "$CONF"
	conf 'evolution: { timeout_ms = 300; connect_timeout_ms = 1000; };'
	conf 'breaker: { timeouts = 2; };'
	for n in c1 c2 c3; do chip $n 90 >/dev/null; done
	h=$(chip c4 90)
	open_instances c1 c2 c3 c4
	evo_mode c4 hang
	enqueue 12
	run_chipctl 0 send-worker --once
	[ "$(sends_to c4)" -eq 2 ]
	[ "$(psql_q "SELECT state, consecutive_timeouts FROM circuit_breakers WHERE name = 'chip:$h'")" = "open|2" ]
	[ "$(psql_q "SELECT count(*) FROM circuit_transitions WHERE breaker = 'provider:evolution'")" -eq 0 ]
	[ "$(psql_q "SELECT coalesce(max(state), 'closed') FROM circuit_breakers WHERE name = 'provider:evolution'")" = closed ]
	# the two sent into the void wait for c4 (uncertain); the other ten went out
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 10 ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente' AND tentativas = 0")" -eq 2 ]
	[ "$(psql_q "SELECT count(*) FROM circuit_breakers WHERE kind = 'chip' AND state = 'open'")" -eq 1 ]
	# a timeout is never the chip's error count or trust
	[ "$(psql_q "SELECT erros_ultimas_24h FROM chips WHERE id = '$h'")" -eq 0 ]
}

@test "timeouts spanning 3 distinct chips open the provider's breaker" {
	sed -i '/timeout_ms = 2000/d' "$CONF"
	conf 'evolution: { timeout_ms = 300; connect_timeout_ms = 1000; };'
	for n in c1 c2 c3; do chip $n 90 >/dev/null; done
	open_instances c1 c2 c3
	evo_mode '*' hang
	enqueue 6
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT state FROM circuit_breakers WHERE name = 'provider:evolution'")" = open ]
	[ "$(psql_q "SELECT count(*) FROM breaker_timeout_chips WHERE breaker = 'provider:evolution'")" -eq 3 ]
	[ "$(psql_q "SELECT reason LIKE '% timeouts in a row on 3 chips: timed out after 300 ms' FROM circuit_transitions WHERE breaker = 'provider:evolution'")" = t ]
	# it opened on the third distinct chip: every request was one of its run, none went after
	[ "$(fake_count evolution POST /message/sendText/)" -eq "$(psql_q "SELECT consecutive_timeouts FROM circuit_breakers WHERE name = 'provider:evolution'")" ]
	# no chip's own breaker opened: none had breaker.timeouts (5) in a row
	[ "$(psql_q "SELECT count(*) FROM circuit_breakers WHERE kind = 'chip' AND state <> 'closed'")" -eq 0 ]
}

@test "a provider's run of timeouts counts distinct chips; an answer ends the run" {
	a=$(chip c1 90)
	b=$(chip c2 90)
	c=$(chip c3 90)
	fail() {	# fail CHIP: one timeout through the provider on CHIP
		psql_q "SELECT to_state FROM chipctl_breaker_failure(p_name => 'provider:evolution',
		        p_kind => 'provider', p_chip_id => NULL, p_counted => 0, p_timeout => 1,
		        p_why => 'timed out', p_worker => 'w', p_fail_threshold => 5,
		        p_timeout_threshold => 2, p_base_backoff => 60, p_max_backoff => 600,
		        p_retry_after => 0, p_run_id => NULL, p_timeout_chip => '$1', p_timeout_chips => 3)"
	}
	for i in 1 2 3 4 5 6; do [ "$(fail "$a")" = closed ]; done
	[ "$(fail "$b")" = closed ]
	psql_q "SELECT chipctl_breaker_success(p_names => ARRAY['provider:evolution'], p_base_backoff => 60,
	        p_worker => 'w', p_run_id => NULL)" >/dev/null
	[ "$(psql_q "SELECT consecutive_timeouts FROM circuit_breakers")" -eq 0 ]
	[ "$(psql_q "SELECT count(*) FROM breaker_timeout_chips")" -eq 0 ]
	[ "$(fail "$a")" = closed ]
	[ "$(fail "$b")" = closed ]
	[ "$(fail "$c")" = open ]
}

@test "a provider error echoing the configured key: stored error, cooldown reason and alert show [REDACTED]" {
	a=$(chip c1 90)
	open_instances c1
	fake_ctl evolution /__control/send "{\"instance\":\"c1\",\"mode\":\"baileys_error\",\"count\":1,
	  \"error\":\"Error: rate-overlimit (apikey $FAKE_EVOLUTION_APIKEY)\"}" >/dev/null
	m=$(msg followup)
	run_chipctl 0 send-worker --once
	want="HTTP 400: Error: rate-overlimit (apikey [REDACTED])"
	[ "$(psql_q "SELECT error FROM send_attempts WHERE message_id = $m")" = "$want" ]
	[ "$(psql_q "SELECT cooldown_reason FROM chips WHERE id = '$a'")" = "$want" ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE alert_type = 'chip_restricted' AND text LIKE '%[REDACTED]%'")" -eq 1 ]
	for t in alert_outbox; do
		[ "$(psql_q "SELECT count(*) FROM $t WHERE text LIKE '%$FAKE_EVOLUTION_APIKEY%'")" -eq 0 ]
	done
	[ "$(psql_q "SELECT count(*) FROM chip_trust_events WHERE detail LIKE '%$FAKE_EVOLUTION_APIKEY%'")" -eq 0 ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE ultimo_erro LIKE '%$FAKE_EVOLUTION_APIKEY%'")" -eq 0 ]
	# the chip's own fault: it pays
	[ "$(psql_q "SELECT fault, erros_ultimas_24h FROM send_attempts, chips WHERE chips.id = '$a'")" = "chip|1" ]
}

@test "the chip's instance gone (404 does not exist): the chip's, recorded as its connection state" {
	a=$(chip c1 90)
	open_instances other
	m=$(msg followup)
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT fault, blame FROM send_attempts WHERE message_id = $m")" = "chip|this chip's instance does not exist on the server" ]
	[ "$(psql_q "SELECT evolution_connected, desconectado_desde IS NOT NULL, cooldown_until IS NULL, erros_ultimas_24h
	             FROM chips WHERE id = '$a'")" = "f|t|t|1" ]
	run_chipctl 0 chips --json
	[ "$(jq -r '.[0] | [.connected, .last_fault, .last_fault_why] | join("|")' <<<"$output")" = "false|chip|this chip's instance does not exist on the server" ]
}

@test "a v1 server given the v2 body (schema) is configuration: the message waits, no chip blamed" {
	for n in c1 c2; do chip $n 90 >/dev/null; done
	open_instances c1 c2
	fake_ctl evolution /__control/script '{"responses":[{"path":"/message/sendText","status":400,"body":{"status":400,
	  "error":"Bad Request","response":{"message":["instance requires property \"textMessage\""]}}}]}' >/dev/null
	m=$(msg followup)
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT status, tentativas, outcome_reason_code FROM fila_mensagens WHERE id = $m")" = "pendente|0|WAIT_PROVIDER_AUTH" ]
	[ "$(psql_q "SELECT fault, blame LIKE '%API version mismatch%' FROM send_attempts")" = "configuration|t" ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE alert_type = 'provider_auth' AND subject = 'evolution'")" -eq 1 ]
	no_chip_harmed
}

@test "a Z-API chip whose instance is not found: the chip's, recorded as its connection state" {
	zapi_setup
	fake_ctl zapi /__control/instances '[{"id":"ZI1","token":"ZT-1-abcdef","connected":true}]' >/dev/null
	add_secret ZT-1-abcdef
	z=$(chip z1 80 zapi ZI1 ZT-1-abcdef)
	fake_ctl zapi /__control/send '{"instance":"ZI1","mode":"instance_not_found"}' >/dev/null
	m=$(msg followup)
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT fault FROM send_attempts WHERE message_id = $m")" = chip ]
	[ "$(psql_q "SELECT zapi_connected, desconectado_desde IS NOT NULL, cooldown_until IS NULL FROM chips WHERE id = '$z'")" = "f|t|t" ]
}
