#!/usr/bin/env bats
# Issue 19, item 4: rescue by heartbeat. A worker whose heartbeat is older
# than watchdog.heartbeat_s (2 s here) is dead (chipctl_worker_dead):
# reset-stuck-queue, every minute, takes back its claims at once and frees
# the chips it held, giving back what they reserved; the 60-minute rule
# still holds for messages whose worker is unknown.
load ../lib/common
load ../lib/send
load ../lib/rescue

setup() {
	common_setup
	send_setup
	C1=$(chip c1 90)
	open_instances c1
	conf 'watchdog: { heartbeat_s = 2; };'
}

teardown() {
	release_chip_room
	common_teardown
}

# claimed ID WORKER MINUTES_AGO: a message claimed by WORKER that long ago
claimed() {
	psql_q "UPDATE fila_mensagens SET status = 'processando', worker_id = nullif('$2', ''),
	          processando_desde = now() - interval '$3 minutes' WHERE id = $1"
}

# beat WORKER AGE_S [STARTED_AGE_S]: WORKER's heartbeat, AGE_S old
beat() {
	psql_q "INSERT INTO worker_heartbeats (worker_id, host, pid, last_beat_at, started_at)
	        VALUES ('$1', 'h', 1, now() - interval '$2 seconds', now() - interval '${3:-86400} seconds')
	        ON CONFLICT (worker_id) DO UPDATE SET last_beat_at = EXCLUDED.last_beat_at,
	          started_at = EXCLUDED.started_at"
}

@test "a killed worker's messages are back to pendente as soon as its heartbeat is older than watchdog.heartbeat_s" {
	for i in 1 2 3 4; do msg followup "dr-k$i" >/dev/null; done
	hold_chip_room
	start_worker w-hb
	await_guarded 4
	kill_worker
	release_chip_room
	# its heartbeat still fresh: a live worker's claims are left alone
	psql_q "UPDATE worker_heartbeats SET last_beat_at = now() WHERE worker_id = 'w-hb'"
	run_chipctl 0 reset-stuck-queue --json
	[[ "$output" == *'"requeued":0,'*'"requeued_dead_worker":0,'* ]]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'processando' AND worker_id = 'w-hb'")" -eq 4 ]
	# no more beats: dead after 2 s, not after queue.stuck_minutes
	await_dead w-hb
	run_chipctl 0 reset-stuck-queue --json
	[ "$output" = '{"dry_run":false,"requeued":0,"failed_max_attempts":0,"recorded_sent":0,"requeued_dead_worker":4,"uncertain":0,"given_back":4,"chips_released":0,"chip_room_given_back":0}' ]
	[[ "$stderr" == *'msg="took back dead workers'"'"' claims" workers=w-hb messages=4 heartbeat_s=2'* ]]
	# back at once, no attempt spent, nothing held
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente' AND tentativas = 0
	              AND worker_id IS NULL AND processando_desde IS NULL AND reserva_dia IS NULL
	              AND agendar_para <= now() AND ultimo_erro LIKE 'worker w-hb stopped beating%'")" -eq 4 ]
	[ "$(psql_q "SELECT counts->>'requeued_dead_worker' FROM job_executions WHERE job_name = 'reset-stuck-queue' ORDER BY id DESC LIMIT 1")" = 4 ]
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 4 ]
	[ "$(sends_to c1)" -eq 4 ]
}

@test "the 60-minute rule still holds for messages whose worker is unknown" {
	a=$(msg followup); claimed $a ghost 61	# no heartbeat row
	b=$(msg followup); claimed $b '' 61	# no worker at all
	c=$(msg followup); claimed $c ghost 59
	d=$(msg followup); claimed $d '' 30
	run_chipctl 0 reset-stuck-queue --json
	[ "$output" = '{"dry_run":false,"requeued":2,"failed_max_attempts":0,"recorded_sent":0,"requeued_dead_worker":0,"uncertain":0,"given_back":0,"chips_released":0,"chip_room_given_back":0}' ]
	[ "$(psql_q "SELECT id, status, tentativas FROM fila_mensagens ORDER BY id")" = "$a|pendente|1
$b|pendente|1
$c|processando|0
$d|processando|0" ]
}

@test "a live worker's claims are left alone; a dead one's, or one claimed before its worker restarted, are taken back" {
	live=$(msg followup); claimed $live w-live 5
	dead=$(msg followup); claimed $dead w-dead 1
	old=$(msg followup); claimed $old w-again 3	# claimed by the run before
	now=$(msg followup); claimed $now w-again 0
	beat w-live 1
	beat w-dead 5
	beat w-again 0 60	# a new run of the same worker id began a minute ago
	run_chipctl 0 reset-stuck-queue --json
	[[ "$output" == *'"requeued":0,'*'"requeued_dead_worker":2,'* ]]
	[ "$(psql_q "SELECT id, status, tentativas, coalesce(worker_id, '-') FROM fila_mensagens ORDER BY id")" = "$live|processando|0|w-live
$dead|pendente|0|-
$old|pendente|0|-
$now|processando|0|w-again" ]
	# the live worker past 60 minutes: the last resort still applies
	claimed $live w-live 61
	run_chipctl 0 reset-stuck-queue --json
	[[ "$output" == *'"requeued":1,'*'"requeued_dead_worker":0,'* ]]
}

@test "a dead worker's proven send is recorded sent and keeps what it used; an uncertain one waits for the lookup, keeping its reservations" {
	sent=$(msg followup dr-p)
	unsure=$(msg campanha dr-u)
	plain=$(msg followup dr-n)
	for m in $sent $unsure $plain; do claimed $m w-gone 1; done
	beat w-gone 10
	psql_q "INSERT INTO guardrail_counters (cliente_id, dia, used) VALUES
	          ('dr-p', $TODAY_SQL, 1), ('dr-u', $TODAY_SQL, 2), ('dr-n', $TODAY_SQL, 1);
	        INSERT INTO chip_send_counters (chip_id, hour_start, hour_count, day_start, day_count)
	        VALUES ('$C1', date_trunc('hour', now()), 3, date_trunc('day', now()), 3);
	        UPDATE fila_mensagens SET reserva_dia = $TODAY_SQL,
	          reserva_peso = CASE tipo WHEN 'campanha' THEN 2 ELSE 1 END,
	          reserva_chip_id = '$C1', reserva_hora = date_trunc('hour', now()),
	          envio_chip_id = '$C1', envio_iniciado_em = now() - interval '50 seconds';
	        UPDATE fila_mensagens SET envio_chip_id = NULL, envio_iniciado_em = NULL WHERE id = $plain;
	        INSERT INTO send_attempts (message_id, chip_id, provider, attempt, result, provider_message_id, worker_id)
	        VALUES ($sent, '$C1', 'evolution', 1, 'ok', 'WAID-P', 'w-gone')"
	run_chipctl 0 reset-stuck-queue --dry-run --json
	[ "$output" = '{"dry_run":true,"requeued":0,"failed_max_attempts":0,"recorded_sent":1,"requeued_dead_worker":1,"uncertain":1,"given_back":1,"chips_released":0,"chip_room_given_back":0}' ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'processando' AND reserva_dia IS NOT NULL")" -eq 3 ]
	run_chipctl 0 reset-stuck-queue --json
	[ "$output" = '{"dry_run":false,"requeued":0,"failed_max_attempts":0,"recorded_sent":1,"requeued_dead_worker":1,"uncertain":1,"given_back":1,"chips_released":0,"chip_room_given_back":0}' ]
	[ "$(psql_q "SELECT status, provider_message_id, reserva_peso FROM fila_mensagens WHERE id = $sent")" = "enviada|WAID-P|1" ]
	[ "$(psql_q "SELECT status, tentativas, envio_chip_id = '$C1', envio_iniciado_em IS NOT NULL, reserva_peso, reserva_chip_id = '$C1'
	              FROM fila_mensagens WHERE id = $unsure")" = "pendente|0|t|t|2|t" ]
	[ "$(psql_q "SELECT status, tentativas, reserva_dia IS NULL, reserva_chip_id IS NULL FROM fila_mensagens WHERE id = $plain")" = "pendente|0|t|t" ]
	# only the plain one gave back: the doctor's share and one send of room
	[ "$(quota dr-p)|$(quota dr-u)|$(quota dr-n)" = "1|2|0" ]
	[ "$(room "$C1")" = "2|2" ]
}

@test "a dead worker's chip holds give back their room and are freed, once; a live hold stays" {
	C2=$(chip c2 90)
	C3=$(chip c3 90)
	beat w-dead 10
	beat w-live 0
	psql_q "INSERT INTO chip_send_counters (chip_id, hour_start, hour_count, day_start, day_count,
	          held_by, held_until, held_room) VALUES
	          ('$C1', date_trunc('hour', now()), 5, date_trunc('day', now()), 7, 'w-dead', now() + interval '5 minutes', 3),
	          ('$C2', date_trunc('hour', now()), 4, date_trunc('day', now()), 4, 'w-live', now() + interval '5 minutes', 2),
	          ('$C3', date_trunc('hour', now()), 1, date_trunc('day', now()), 1, 'w-live', now() - interval '1 second', 1)"
	run_chipctl 0 reset-stuck-queue --json
	[[ "$output" == *'"chips_released":2,"chip_room_given_back":4}' ]]
	[ "$(psql_q "SELECT chip_id = '$C1', hour_count, day_count, coalesce(held_by, '-'), held_until IS NULL, held_room
	              FROM chip_send_counters ORDER BY hour_count DESC")" = "f|4|4|w-live|f|2
t|2|4|-|t|0
f|0|0|-|t|0" ]
	run_chipctl 0 reset-stuck-queue --json
	[[ "$output" == *'"chips_released":0,"chip_room_given_back":0}' ]]
	[ "$(psql_q "SELECT sum(hour_count) FROM chip_send_counters")" -eq 6 ]
}

@test "every minute: the job table, crontab and Railway agree; watchdog and health read the same rule" {
	run_chipctl 0 --list-jobs
	[[ "$output" == *$'reset-stuck-queue\t* * * * *\treset-stuck-queue\tjobs.reset_stuck_queue_interval_s\t60\t'* ]]
	grep -q '^\*      \*  \*   \*   \*   chipctl  @BINDIR@/chipctl reset-stuck-queue >>' "$REPO/crontab/chipctl"
	python3 -c '
import json, sys
s = {x["name"]: x for x in json.load(open(sys.argv[1]))["services"]}
assert s["chipctl-reset-stuck-queue"]["cronSchedule"] == "* * * * *", s' "$REPO/crontab/railway.json"
	msg followup >/dev/null
	beat w1 3
	run_chipctl 0 health worker --json
	[[ "$output" == *'"workers_alive":0'* ]]
	run_chipctl 0 watchdog
	[ "$(psql_q "SELECT alert_type FROM alert_outbox")" = worker_down ]
	beat w1 1
	run_chipctl 0 health worker --json
	[[ "$output" == *'"workers_alive":1'* ]]
}

@test "a worker paused past its heartbeat, then resumed, sends nothing from the claim it lost" {
	for i in 1 2 3; do msg followup "dr-z$i" >/dev/null; done
	hold_chip_room
	# one claim only: what it sends after it resumes is from the lost claim
	WORKER_ARGS="--max-messages 3" start_worker w-paused
	await_guarded 3
	kill -STOP "$WORKER_PID"
	# its session takes the chips' room and holds them once the lock goes
	release_chip_room
	wait_for "SELECT count(*) = 1 FROM chip_send_counters WHERE held_by = 'w-paused'"
	await_dead w-paused
	run_chipctl 0 reset-stuck-queue --json
	[[ "$output" == *'"requeued_dead_worker":3,"uncertain":0,"given_back":3,"chips_released":1,"chip_room_given_back":3}' ]]
	[ "$(room "$C1")" = "0|0" ]
	[ "$(quota dr-z1)$(quota dr-z2)$(quota dr-z3)" = "000" ]
	kill -CONT "$WORKER_PID"
	wait "$WORKER_PID"
	[ "$(sends_to c1)" -eq 0 ] || { cat "$BATS_TEST_TMPDIR/w-paused.err"; false; }
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente' AND envio_iniciado_em IS NULL
	              AND reserva_dia IS NULL AND reserva_chip_id IS NULL")" -eq 3 ]
	[ "$(room "$C1")" = "0|0" ]
	# the next worker sends each once, and the counters are what it sent
	run_chipctl 0 send-worker --once
	[ "$(sends_to c1)" -eq 3 ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 3 ]
	[ "$(room "$C1")" = "3|3" ]
	[ "$(quota dr-z1)$(quota dr-z2)$(quota dr-z3)" = "111" ]
}
