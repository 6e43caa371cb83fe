#!/usr/bin/env bats
# Guardrails and rate limits per doctor (E04, E06) and `chipctl guardrail`.
load ../lib/common
load ../lib/send

setup() {
	common_setup
	send_setup
	chip c1 90 >/dev/null
	open_instances c1
}

@test "at most 3 messages per doctor per day; the 4th is rescheduled to tomorrow, not dropped" {
	for i in 1 2 3 4; do msg followup dr-limit >/dev/null; done
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 3 ]
	run psql_q "SELECT status, outcome_reason_code, tentativas,
	  agendar_para >= (((now() AT TIME ZONE 'America/Sao_Paulo')::date + 1)::timestamp AT TIME ZONE 'America/Sao_Paulo'),
	  agendar_para <= (((now() AT TIME ZONE 'America/Sao_Paulo')::date + 1)::timestamp AT TIME ZONE 'America/Sao_Paulo') + interval '1800 seconds'
	  FROM fila_mensagens WHERE status <> 'enviada'"
	[ "$output" = "pendente|RATE_LIMIT_DOCTOR|0|t|t" ]
	[ "$(sends_to c1)" -eq 3 ]
}

@test "a campaign counts 2; replies are never held back" {
	msg campanha dr-c >/dev/null
	msg campanha dr-c >/dev/null
	msg resposta dr-c >/dev/null
	msg resposta dr-c >/dev/null
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT tipo, count(*) FROM fila_mensagens WHERE status = 'enviada' GROUP BY tipo ORDER BY tipo")" = $'campanha|1\nresposta|2' ]
	[ "$(psql_q "SELECT used FROM guardrail_counters WHERE cliente_id = 'dr-c'")" -eq 2 ]
}

@test "the 7-day contact cap is configurable" {
	conf 'guardrail: { contact_cap_7d = 4; };'
	psql_q "INSERT INTO guardrail_counters (cliente_id, dia, used) VALUES ('dr-w', (now() AT TIME ZONE 'America/Sao_Paulo')::date - 3, 3)"
	msg followup dr-w >/dev/null
	msg followup dr-w >/dev/null
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 1 ]
}

@test "a send that fails for good gives the doctor's quota back" {
	evo_mode c1 baileys_error
	m=$(msg followup dr-q)
	psql_q "UPDATE fila_mensagens SET tentativas = 2, max_tentativas = 3"
	run_chipctl 0 send-worker --once
	[ "$(msg_state $m)" = "erro|FAILED_ALL_CHIPS" ]
	[ "$(psql_q "SELECT used FROM guardrail_counters WHERE cliente_id = 'dr-q'")" -eq 0 ]
}

@test "concurrent workers never take a doctor past the daily limit" {
	for i in $(seq 1 12); do msg followup dr-race >/dev/null; done
	conf 'send: { batch_size = 1; };'
	pids=""
	for w in 1 2 3 4; do "$CHIPCTL_BIN" -q send-worker --once 3>&- & pids="$pids $!"; done
	for p in $pids; do wait "$p"; done
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 3 ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente'")" -eq 9 ]
}

@test "a blocked doctor's message is cancelled FAILED_GUARDRAIL; unblock is audited" {
	run_chipctl 0 guardrail block dr-b --reason "asked to stop" --by carla
	m=$(msg followup dr-b)
	run_chipctl 0 send-worker --once
	[ "$(msg_state $m)" = "cancelada|FAILED_GUARDRAIL" ]
	[ "$(sends_to c1)" -eq 0 ]
	run_chipctl 0 guardrail unblock dr-b --reason "consented again" --by carla
	[ "$(psql_q "SELECT kind, reason, actor FROM guardrail_bypasses ORDER BY id")" = $'block|asked to stop|carla\nunblock|consented again|carla' ]
	m2=$(msg followup dr-b)
	run_chipctl 0 send-worker --once
	[ "$(msg_state $m2)" = "enviada|SENT" ]
}

@test "guardrail: unknown doctor 65, missing reason 64, dry run changes nothing, SQL text is data" {
	run_chipctl 65 guardrail unblock nobody --reason x
	run_chipctl 64 guardrail unblock dr-x
	run_chipctl 64 guardrail frob dr-x --reason x
	run_chipctl 0 guardrail block "dr'; DROP TABLE chips; --" --reason "it's \"quoted\"" -n
	[ "$(psql_q "SELECT count(*) FROM guardrail_blocks")" -eq 0 ]
	run_chipctl 0 guardrail block "dr'; DROP TABLE chips; --" --reason "it's \"quoted\""
	[ "$(psql_q "SELECT cliente_id, reason FROM guardrail_blocks")" = "dr'; DROP TABLE chips; --|it's \"quoted\"" ]
	run_chipctl 65 guardrail block "dr'; DROP TABLE chips; --" --reason again
	run_chipctl 0 guardrail list --json
	[[ "$output" == *'DROP TABLE chips'* ]]
}
