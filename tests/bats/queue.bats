#!/usr/bin/env bats
# chipctl queue: enqueue validates and stores verbatim; stats; requeue.
load ../lib/common

@test "enqueue stores quotes, backslashes, SQL and non-ASCII text verbatim" {
	text=$'Olá, Dr. O\'Brien — "plantão" \\ 100% ; DROP TABLE chips; --\n2ª linha'
	run_chipctl 0 queue enqueue --cliente "o'brien\"; DELETE FROM chips;--" \
		--telefone '+55 (11) 98765-4321' --text "$text" --tipo prospeccao
	id=$output
	[ "$(psql_q "SELECT conteudo FROM fila_mensagens WHERE id = $id")" = "$text" ]
	[ "$(psql_q "SELECT cliente_id FROM fila_mensagens WHERE id = $id")" = "o'brien\"; DELETE FROM chips;--" ]
	[ "$(psql_q "SELECT telefone, tipo, status, tentativas FROM fila_mensagens WHERE id = $id")" = "5511987654321|prospeccao|pendente|0" ]
	[ "$(psql_q "SELECT to_regclass('chips') IS NOT NULL")" = t ]
}

@test "enqueue --text - reads stdin; --json prints id and correlation id" {
	run --separate-stderr bash -c "printf 'linha 1\nlinha 2\n' | timeout 10 '$CHIPCTL_BIN' queue enqueue --cliente d1 --telefone 5511999990000 --text - --json"
	[ "$status" -eq 0 ]
	id=$(echo "$output" | python3 -c 'import json,sys; o=json.load(sys.stdin); assert len(o["correlation_id"])==36; print(o["id"])')
	[ "$(psql_q "SELECT conteudo FROM fila_mensagens WHERE id = $id")" = $'linha 1\nlinha 2' ]
}

@test "enqueue --at schedules; --max-tentativas and --prioridade are stored" {
	run_chipctl 0 queue enqueue --cliente d1 --telefone 5511999990000 --text x \
		--at '2030-01-02 03:04:05+00' --max-tentativas 5 --prioridade 1 --conversa c-9
	[ "$(psql_q "SELECT agendar_para AT TIME ZONE 'UTC', max_tentativas, prioridade, conversa_id FROM fila_mensagens")" = "2030-01-02 03:04:05|5|1|c-9" ]
}

@test "enqueue rejects bad values with exit 65 and stores nothing" {
	run_chipctl 65 queue enqueue --cliente d1 --telefone 123 --text x
	[[ "$stderr" == *"--telefone"* ]]
	run_chipctl 65 queue enqueue --cliente d1 --telefone '5511abc99999' --text x
	run_chipctl 65 queue enqueue --cliente d1 --telefone 5511999990000 --text ''
	run_chipctl 65 queue enqueue --cliente d1 --telefone 5511999990000 --text x --tipo spam
	run_chipctl 65 queue enqueue --cliente d1 --telefone 5511999990000 --text x --at 'not a time'
	[[ "$stderr" == *"--at"* ]]
	run_chipctl 65 queue enqueue --cliente d1 --telefone 5511999990000 --text x --max-tentativas 0
	run_chipctl 65 queue enqueue --cliente d1 --telefone 5511999990000 --text "$(printf 'bad \xff utf8')"
	run_chipctl 65 queue enqueue --cliente d1 --telefone 5511999990000 --text "$(head -c 10001 /dev/zero | tr '\0' a)"
	run_chipctl 65 queue enqueue --cliente '' --telefone 5511999990000 --text x
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens")" -eq 0 ]
}

@test "enqueue without its required options is a usage error, exit 64" {
	run_chipctl 64 queue enqueue --cliente d1 --text x
	[[ "$stderr" == *"needs --cliente, --telefone and --text"* ]]
	run_chipctl 64 queue enqueue --cliente
	run_chipctl 64 queue frob
	run_chipctl 64 queue
}

@test "enqueue --dry-run stores nothing" {
	run_chipctl 0 queue enqueue --cliente d1 --telefone 5511999990000 --text x -n
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens")" -eq 0 ]
}

@test "stats counts by status, due and oldest due age" {
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, status, agendar_para)
	        VALUES ('a','5511999990000','x','pendente', now() - interval '10 minutes'),
	               ('a','5511999990000','x','pendente', now() + interval '1 hour'),
	               ('a','5511999990000','x','processando', now()),
	               ('a','5511999990000','x','erro', now())"
	run_chipctl 0 queue stats --json
	echo "$output" | python3 -c '
import json, sys
o = json.load(sys.stdin)
assert (o["pendente"], o["due"], o["processando"], o["erro"], o["errors_last_hour"]) == (2, 1, 1, 1, 1), o
assert 595 <= o["oldest_due_age_s"] <= 700, o'
}

@test "requeue puts erro and cancelada back; unknown ids exit 65" {
	a=$(psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, status, tentativas, outcome)
	            VALUES ('a','5511999990000','x','erro', 3, 'FAILED_ALL_CHIPS') RETURNING id")
	b=$(psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, status)
	            VALUES ('a','5511999990000','x','enviada') RETURNING id")
	run_chipctl 65 queue requeue "$a" "$b" 999999
	[[ "$stderr" == *"unknown message id"*"999999"* ]]
	[ "$(psql_q "SELECT status, tentativas, outcome IS NULL FROM fila_mensagens WHERE id = $a")" = "pendente|0|t" ]
	[ "$(psql_q "SELECT status FROM fila_mensagens WHERE id = $b")" = enviada ]
	run_chipctl 0 queue requeue "$a" --json
	[ "$output" = "[{\"id\":$a,\"status\":\"pendente\",\"requeued\":false}]" ]
	run_chipctl 65 queue requeue "1; DROP TABLE chips"
	run_chipctl 64 queue requeue
}

@test "enqueue checks values before connecting: bad input is 65 with the database down" {
	DATABASE_URL="postgresql://chipctl@127.0.0.1:1/x" run_chipctl 65 queue enqueue --cliente d --telefone 12 --text x
	run_chipctl 65 queue enqueue --cliente d1 --telefone 5511999990000 --text x --at never -n
}

@test "show tells one message's story: selections, attempts with their fault, receipt, outcome" {
	a=$(psql_q "INSERT INTO chips (telefone, instance_name, status) VALUES ('5511900000001', 'chip-a', 'active') RETURNING id")
	b=$(psql_q "INSERT INTO chips (telefone, instance_name, status, provider) VALUES ('5511900000002', 'chip-b', 'active', 'zapi') RETURNING id")
	id=$(psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo, status, tentativas, enviada_em, chip_id, outcome, provider_message_id)
	             VALUES ('dr1', '5511988887777', 'oi', 'followup', 'enviada', 1, now(), '$b', 'SENT', 'ZMSG1') RETURNING id")
	# each choice is written on the attempt it led to (chip_selection_log is a view)
	psql_q "INSERT INTO send_attempts (message_id, chip_id, provider, attempt, http_status, latency_ms, result, error, fault, mode, candidates, threshold, created_at) VALUES
	        ($id, '$a', 'evolution', 1, 403, 40, '4xx', 'HTTP 403 Forbidden', 'chip', 'normal', 2, 60, now() - interval '1 second'),
	        ($id, '$b', 'zapi', 2, 200, 55, 'ok', NULL, NULL, 'fallback', 1, 40, now())"
	psql_q "INSERT INTO message_receipts (provider_message_id, chip_id, last_status, delivered_at) VALUES ('ZMSG1', '$b', 'DELIVERY_ACK', now())"
	run_chipctl 0 queue show "$id"
	[[ "${lines[0]}" == "message $id: followup to 5511988887777 (cliente dr1), priority 5" ]]
	[[ "${lines[1]}" == "  status enviada, outcome SENT" ]]
	[[ "$output" == *"chip selection:"*"normal     chip-a                 candidates 2, threshold 60: failed (chip): HTTP 403 Forbidden"*"fallback   chip-b                 candidates 1, threshold 40: sent"* ]]
	[[ "$output" == *"attempts:"*"#1 "*"chip-a (evolution)  HTTP 403 4xx, fault chip  40 ms: HTTP 403 Forbidden"*"#2 "*"chip-b (zapi)  HTTP 200 ok  55 ms"* ]]
	[[ "$output" == *"receipt: DELIVERY_ACK"* ]]
	run_chipctl 0 queue show "$id" --json
	run python3 -c '
import json, sys
o = json.loads(sys.argv[1])
print(o["message"]["outcome"], [a["fault"] for a in o["attempts"]], [s["chip"] for s in o["selections"]], o["receipt"]["last_status"])' "$output"
	[ "$output" = "SENT ['chip', None] ['chip-a', 'chip-b'] DELIVERY_ACK" ]
}

@test "show: a message never tried says so; unknown and bad ids" {
	id=$(psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo) VALUES ('dr2', '5511988887778', 'x') RETURNING id")
	run_chipctl 0 queue show "$id"
	[[ "$output" == *"status pendente, outcome -"*"chip selection: none recorded"*"attempts: none"*"receipt: none"* ]]
	run_chipctl 65 queue show 999999
	[[ "$stderr" == *"unknown message id"* ]]
	run_chipctl 65 queue show abc
	run_chipctl 64 queue show
	run_chipctl 64 queue show 1 2
}
