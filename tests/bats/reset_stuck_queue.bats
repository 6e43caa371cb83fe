#!/usr/bin/env bats
# reset-stuck-queue (T01.1, T01.2).
load ../lib/common

msg() {	# msg STATUS TENTATIVAS MAX AGE_MIN [CREATED_AGE_H [DUE_AGE_H]]: insert one, print its id
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, status, tentativas,
	          max_tentativas, processando_desde, created_at, agendar_para, worker_id)
	        VALUES ('dr1', '5511999990001', 'oi', '$1', $2, $3,
	          CASE WHEN '$1' = 'processando' THEN now() - interval '$4 minutes' END,
	          now() - interval '${5:-0} hours', now() - interval '${6:-${5:-0}} hours',
	          CASE WHEN '$1' = 'processando' THEN 'w1' END) RETURNING id"
}

@test "processando for more than 60 min goes back to pendente with tentativas + 1" {
	a=$(msg processando 0 3 61)
	b=$(msg processando 1 3 59)
	run_chipctl 0 reset-stuck-queue
	[ "$(psql_q "SELECT status, tentativas, processando_desde IS NULL, worker_id IS NULL FROM fila_mensagens WHERE id = $a")" = "pendente|1|t|t" ]
	[ "$(psql_q "SELECT status, tentativas FROM fila_mensagens WHERE id = $b")" = "processando|1" ]
	[[ "$stderr" == *"requeued=1"* ]]
}

@test "a rescue that uses up the attempts: erro, FAILED_MAX_ATTEMPTS, and an alert" {
	a=$(msg processando 2 3 120)
	b=$(msg processando 5 3 120)
	c=$(msg processando 1 3 120)
	run_chipctl 0 reset-stuck-queue --json
	[ "$(psql_q "SELECT status, outcome, tentativas FROM fila_mensagens WHERE id = $a")" = "erro|FAILED_MAX_ATTEMPTS|3" ]
	[ "$(psql_q "SELECT status, outcome FROM fila_mensagens WHERE id = $b")" = "erro|FAILED_MAX_ATTEMPTS" ]
	[ "$(psql_q "SELECT status FROM fila_mensagens WHERE id = $c")" = "pendente" ]
	[ "$output" = '{"dry_run":false,"requeued":1,"failed_max_attempts":2,"recorded_sent":0,"requeued_dead_worker":0,"uncertain":0,"given_back":0,"chips_released":0,"chip_room_given_back":0}' ]
	run psql_q "SELECT alert_type, severity, text FROM alert_outbox"
	[[ "$output" == "queue_max_attempts|critical|2 message(s)"*"ids $a, $b)" ]]
	[ "$(psql_q "SELECT counts->>'failed_max_attempts' FROM job_executions")" = 2 ]
}

@test "only processando rows are touched" {
	for s in pendente enviada erro cancelada; do msg $s 0 3 500 >/dev/null; done
	before=$(psql_q "SELECT md5(string_agg(f::text, ',' ORDER BY id)) FROM fila_mensagens f")
	run_chipctl 0 reset-stuck-queue
	[ "$(psql_q "SELECT md5(string_agg(f::text, ',' ORDER BY id)) FROM fila_mensagens f")" = "$before" ]
}

@test "queue.stuck_minutes changes the threshold" {
	conf 'queue: { stuck_minutes = 10; };'
	a=$(msg processando 0 3 11)
	run_chipctl 0 reset-stuck-queue
	[ "$(psql_q "SELECT status FROM fila_mensagens WHERE id = $a")" = pendente ]
}

@test "--dry-run counts and changes nothing, no alert" {
	msg processando 0 3 61 >/dev/null
	msg processando 2 3 61 >/dev/null
	run_chipctl 0 reset-stuck-queue --dry-run --json
	[ "$output" = '{"dry_run":true,"requeued":1,"failed_max_attempts":1,"recorded_sent":0,"requeued_dead_worker":0,"uncertain":0,"given_back":0,"chips_released":0,"chip_room_given_back":0}' ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'processando'")" -eq 2 ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox")" -eq 0 ]
}

@test "--expire: pendente older than 24 h is cancelled FAILED_EXPIRED" {
	old=$(msg pendente 0 3 0 25)
	young=$(msg pendente 0 3 0 23)
	stuck=$(msg processando 0 3 0 48)
	run_chipctl 0 reset-stuck-queue --expire --json
	[ "$output" = '{"dry_run":false,"expired":1}' ]
	[ "$(psql_q "SELECT status, outcome FROM fila_mensagens WHERE id = $old")" = "cancelada|FAILED_EXPIRED" ]
	[ "$(psql_q "SELECT status FROM fila_mensagens WHERE id = $young")" = pendente ]
	[ "$(psql_q "SELECT status FROM fila_mensagens WHERE id = $stuck")" = processando ]
	[ "$(psql_q "SELECT alert_type FROM alert_outbox")" = queue_expired ]
}

@test "--expire leaves a message rescheduled to later alone" {
	later=$(msg pendente 2 5 0 30 -2)
	recent=$(msg pendente 2 5 0 30 1)
	run_chipctl 0 reset-stuck-queue --expire
	[ "$(psql_q "SELECT status FROM fila_mensagens WHERE id IN ($later, $recent)")" = $'pendente\npendente' ]
}

@test "--expire honours queue.expire_hours" {
	conf 'queue: { expire_hours = 2; };'
	a=$(msg pendente 0 3 0 3)
	run_chipctl 0 reset-stuck-queue --expire
	[ "$(psql_q "SELECT status FROM fila_mensagens WHERE id = $a")" = cancelada ]
}

@test "a second alert within the cooldown is held back" {
	msg processando 2 3 120 >/dev/null
	run_chipctl 0 reset-stuck-queue
	msg processando 2 3 120 >/dev/null
	run_chipctl 0 reset-stuck-queue
	[[ "$stderr" == *"held back by its cooldown"* ]]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox")" -eq 1 ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE outcome = 'FAILED_MAX_ATTEMPTS'")" -eq 2 ]
}

@test "unexpected arguments are a usage error" {
	run_chipctl 64 reset-stuck-queue now
}

@test "a stuck message its worker proved sent is recorded enviada, not sent again" {
	chip=$(psql_q "INSERT INTO chips (telefone, instance_name, status) VALUES ('5511900000001', 'c1', 'active') RETURNING id")
	a=$(msg processando 0 3 61)	# proven: an ok attempt since its claim
	b=$(msg processando 0 3 61)	# an ok attempt from before its claim only
	c=$(msg processando 0 3 61)	# a failed attempt since its claim
	psql_q "INSERT INTO send_attempts (message_id, chip_id, provider, attempt, result,
	          provider_message_id, created_at, worker_id)
	        VALUES ($a, '$chip', 'evolution', 1, 'ok', 'WAID-A', now() - interval '50 minutes', 'w1'),
	               ($b, '$chip', 'evolution', 1, 'ok', 'WAID-B', now() - interval '70 minutes', 'w0'),
	               ($c, '$chip', 'evolution', 1, '5xx', NULL, now() - interval '50 minutes', 'w1')"
	run_chipctl 0 reset-stuck-queue --dry-run --json
	[ "$output" = '{"dry_run":true,"requeued":2,"failed_max_attempts":0,"recorded_sent":1,"requeued_dead_worker":0,"uncertain":0,"given_back":0,"chips_released":0,"chip_room_given_back":0}' ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'processando'")" -eq 3 ]
	run_chipctl 0 reset-stuck-queue --json
	[ "$output" = '{"dry_run":false,"requeued":2,"failed_max_attempts":0,"recorded_sent":1,"requeued_dead_worker":0,"uncertain":0,"given_back":0,"chips_released":0,"chip_room_given_back":0}' ]
	[ "$(psql_q "SELECT status, outcome, chip_id, provider_message_id, tentativas,
	              enviada_em < now() - interval '49 minutes' FROM fila_mensagens WHERE id = $a")" = "enviada|SENT|$chip|WAID-A|0|t" ]
	[ "$(psql_q "SELECT status, tentativas FROM fila_mensagens WHERE id IN ($b, $c) ORDER BY id")" = "pendente|1
pendente|1" ]
	# what a send adds up to, as the worker's own batch writes it
	[ "$(psql_q "SELECT count(*) FROM chip_interactions WHERE message_id = $a AND direction = 'out'
	              AND provider_message_id = 'WAID-A'")" -eq 1 ]
	[ "$(psql_q "SELECT msgs_enviadas_total FROM chips WHERE id = '$chip'")" -eq 1 ]
	[ "$(psql_q "SELECT msgs_enviadas FROM medico_chip_affinity WHERE chip_id = '$chip'")" -eq 1 ]
}
