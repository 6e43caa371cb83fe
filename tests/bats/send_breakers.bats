#!/usr/bin/env bats
# Circuit breakers held in PostgreSQL (T01.3, T02.1-T02.5, T09.1) and `chipctl circuits`.
load ../lib/common
load ../lib/send

setup() {
	common_setup
	send_setup
	# chip faults would otherwise cool the chip off before its breaker counts
	conf 'cooldown: { bad_request_s = 0; forbidden_s = 0; rate_limit_s = 0; other_s = 0; };'
}

breaker() { psql_q "SELECT state, consecutive_failures FROM circuit_breakers WHERE name = '$1'"; }

@test "a chip's breaker opens after 3 failures in a row; no request while open" {
	a=$(chip c1 90)
	open_instances c1
	evo_mode c1 baileys_error
	for i in 1 2 3 4; do msg followup >/dev/null; done
	run_chipctl 0 send-worker --once
	# three messages each tried c1 once; the fourth found the breaker open
	[ "$(sends_to c1)" -eq 3 ]
	[ "$(breaker "chip:$a")" = "open|3" ]
	[ "$(psql_q "SELECT from_state || '>' || to_state FROM circuit_transitions WHERE breaker = 'chip:$a'")" = "closed>open" ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE alert_type = 'chip_circuit_open' AND subject = 'c1'")" -eq 1 ]
	psql_q "UPDATE fila_mensagens SET agendar_para = now()"
	run_chipctl 0 send-worker --once
	[ "$(sends_to c1)" -eq 3 ]
	# nothing failed for it: all four wait, none spent an attempt on the open breaker
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente' AND outcome_reason_code LIKE 'WAIT_%'")" -eq 4 ]
	[ "$(psql_q "SELECT sum(tentativas) FROM fila_mensagens")" -eq 3 ]
}

@test "after the backoff one probe is sent; its success closes and resets the breaker" {
	a=$(chip c1 90)
	open_instances c1
	evo_mode c1 baileys_error 3
	for i in 1 2 3; do msg followup >/dev/null; done
	run_chipctl 0 send-worker --once
	[ "$(breaker "chip:$a")" = "open|3" ]
	[ "$(psql_q "SELECT retry_at BETWEEN now() + interval '50 seconds' AND now() + interval '61 seconds' FROM circuit_breakers WHERE name = 'chip:$a'")" = t ]
	psql_q "UPDATE circuit_breakers SET retry_at = now() - interval '1 second'; UPDATE fila_mensagens SET agendar_para = now()"
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 3 ]
	[ "$(breaker "chip:$a")" = "closed|0" ]
	run psql_q "SELECT from_state || '>' || to_state FROM circuit_transitions WHERE breaker = 'chip:$a' ORDER BY id"
	[ "$output" = $'closed>open\nopen>half_open\nhalf_open>closed' ]
	[ "$(psql_q "SELECT backoff_s FROM circuit_breakers WHERE name = 'chip:$a'")" -eq 60 ]
}

@test "a failed probe reopens with the backoff doubled, up to 600 s" {
	a=$(chip c1 90)
	open_instances c1
	evo_mode c1 baileys_error
	psql_q "INSERT INTO circuit_breakers (name, kind, chip_id, state, backoff_s, retry_at, consecutive_failures)
	        VALUES ('chip:$a', 'chip', '$a', 'open', 400, now() - interval '1 second', 3)"
	msg followup >/dev/null
	run_chipctl 0 send-worker --once
	[ "$(sends_to c1)" -eq 1 ]
	[ "$(psql_q "SELECT state, backoff_s, retry_at > now() + interval '590 seconds' FROM circuit_breakers WHERE name = 'chip:$a'")" = "open|600|t" ]
	[ "$(psql_q "SELECT reason LIKE 'probe failed%' FROM circuit_transitions WHERE to_state = 'open'")" = t ]
}

@test "one probe at a time across workers; a dead prober's lease expires" {
	psql_q "INSERT INTO circuit_breakers (name, kind, state, retry_at) VALUES ('provider:evolution', 'provider', 'open', now() - interval '1 second')"
	[ "$(psql_q "SELECT chipctl_breaker_probe('provider:evolution', 'w1', 60, NULL)")" = t ]
	[ "$(psql_q "SELECT chipctl_breaker_probe('provider:evolution', 'w2', 60, NULL)")" = f ]
	psql_q "UPDATE circuit_breakers SET probe_until = now() - interval '1 second'"
	[ "$(psql_q "SELECT chipctl_breaker_probe('provider:evolution', 'w2', 60, NULL)")" = t ]
	[ "$(psql_q "SELECT probe_holder FROM circuit_breakers")" = w2 ]
}

@test "the provider's breaker opens after 5 failures; Z-API chips still send" {
	zapi_setup
	fake_ctl zapi /__control/instances '[{"id":"ZI1","token":"ZT-1-abcdef","connected":true}]' >/dev/null
	add_secret ZT-1-abcdef
	for n in e1 e2 e3 e4 e5 e6; do chip $n 95 >/dev/null; done
	z=$(chip z1 80 zapi ZI1 ZT-1-abcdef)
	open_instances e1 e2 e3 e4 e5 e6
	evo_mode '*' server_error
	conf 'send: { max_chips_per_message = 6; };'
	m=$(msg followup)
	run_chipctl 0 send-worker --once
	[ "$(fake_count evolution POST /message/sendText/)" -eq 5 ]
	[ "$(psql_q "SELECT state FROM circuit_breakers WHERE name = 'provider:evolution'")" = open ]
	[ "$(psql_q "SELECT status, chip_id = '$z' FROM fila_mensagens WHERE id = $m")" = "enviada|t" ]
	[ "$(psql_q "SELECT alert_type, subject, severity FROM alert_outbox WHERE alert_type = 'provider_outage'")" = "provider_outage|evolution|critical" ]
	# chips' own breakers did not count a provider outage
	[ "$(psql_q "SELECT count(*) FROM circuit_breakers WHERE kind = 'chip' AND consecutive_failures > 0")" -eq 0 ]
}

@test "single timeouts do not count, but 5 in a row open the breaker" {
	a=$(chip c1 90)
	open_instances c1
	sed -i '/timeout_ms = 2000/d' "$CONF"
	conf 'evolution: { timeout_ms = 200; };'
	evo_mode c1 hang
	for i in 1 2 3 4 5 6; do msg followup >/dev/null; done
	run_chipctl 0 send-worker --once
	[ "$(sends_to c1)" -eq 5 ]
	[ "$(psql_q "SELECT state, consecutive_failures, consecutive_timeouts FROM circuit_breakers WHERE name = 'chip:$a'")" = "open|0|5" ]
	[ "$(psql_q "SELECT reason LIKE '5 timeouts in a row%' FROM circuit_transitions WHERE breaker = 'chip:$a'")" = t ]
}

@test "a new process never resets a breaker: the state lives in PostgreSQL" {
	a=$(chip c1 90)
	open_instances c1
	psql_q "INSERT INTO circuit_breakers (name, kind, chip_id, state, retry_at, consecutive_failures)
	        VALUES ('chip:$a', 'chip', '$a', 'open', now() + interval '1 minute', 3)"
	msg followup >/dev/null
	run_chipctl 0 send-worker --once
	run_chipctl 0 send-worker --once
	[ "$(sends_to c1)" -eq 0 ]
	[ "$(breaker "chip:$a")" = "open|3" ]
}

@test "circuits: open, close and reset by hand, audited; unknown names exit 65" {
	a=$(chip c1 90)
	open_instances c1
	run_chipctl 0 circuits open c1 --reason "maintenance" --by alice
	[ "$(psql_q "SELECT state, override FROM circuit_breakers WHERE name = 'chip:$a'")" = "open|forced_open" ]
	[ "$(psql_q "SELECT to_state, reason, actor FROM circuit_transitions")" = "open|operator open: maintenance|alice" ]
	msg followup >/dev/null
	run_chipctl 0 send-worker --once
	[ "$(sends_to c1)" -eq 0 ]
	# forced open is not probed even when its wait is over
	psql_q "UPDATE circuit_breakers SET retry_at = now() - interval '1 hour'; UPDATE fila_mensagens SET agendar_para = now()"
	run_chipctl 0 send-worker --once
	[ "$(sends_to c1)" -eq 0 ]
	run_chipctl 0 circuits close evolution --reason "flapping" --by bob
	[ "$(psql_q "SELECT override FROM circuit_breakers WHERE name = 'provider:evolution'")" = disabled ]
	run_chipctl 0 circuits reset "chip:$a" --reason "fixed" --by alice
	[ "$(psql_q "SELECT state, override IS NULL FROM circuit_breakers WHERE name = 'chip:$a'")" = "closed|t" ]
	psql_q "UPDATE fila_mensagens SET agendar_para = now()"
	run_chipctl 0 send-worker --once
	[ "$(sends_to c1)" -eq 1 ]
	run_chipctl 65 circuits reset nonesuch --reason x
	run_chipctl 64 circuits reset c1
	run_chipctl 0 circuits --json
	echo "$output" | python3 -c 'import json,sys; o=json.load(sys.stdin); assert len(o["transitions"]) == 3 and {b["name"] for b in o["breakers"]} >= {"provider:evolution"}, o'
	run_chipctl 0 circuits
	[[ "$output" == *"chip:$a"*"c1"*"closed"* ]]
}

@test "a disabled breaker never opens" {
	a=$(chip c1 90)
	open_instances c1
	run_chipctl 0 circuits close c1 --reason "known flaky" --by ops
	evo_mode c1 baileys_error
	for i in 1 2 3 4; do msg followup >/dev/null; done
	run_chipctl 0 send-worker --once
	[ "$(sends_to c1)" -eq 4 ]
	[ "$(psql_q "SELECT state FROM circuit_breakers WHERE name = 'chip:$a'")" = closed ]
}
