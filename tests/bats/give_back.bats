#!/usr/bin/env bats
# Issue 23: what a dead worker held is given back. A reservation belongs to
# the message that took it (reserva_dia/reserva_peso for the doctor's
# quota, reserva_chip_id/reserva_hora for the chip's room); whoever takes
# the message back unsent gives it back once (chipctl_give_back), a
# message sent keeps it. The workers here are stopped after their guard
# reserved and before any send (tests/lib/rescue.bash), SIGKILLed there
# and rescued by heartbeat (watchdog.heartbeat_s 2 s), or stopped there by
# a signal (the batch gives back itself).
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

@test "a worker SIGKILLed after the guard reserved: the rescue gives back, the counters equal what was sent, the messages go out today" {
	a1=$(msg followup dr-a)
	a2=$(msg followup dr-a)
	b=$(msg campanha dr-b)
	hold_chip_room
	start_worker w-dead
	await_guarded 3
	kill_worker
	release_chip_room
	# what the dead batch held: counted, and recorded on its messages
	[ "$(quota dr-a)" -eq 2 ]
	[ "$(quota dr-b)" -eq 2 ]
	[ "$(psql_q "SELECT string_agg(reserva_peso::text, ',' ORDER BY id) FROM fila_mensagens
	              WHERE reserva_dia = $TODAY_SQL")" = "1,1,2" ]
	[ "$(sends_to c1)" -eq 0 ]
	await_dead w-dead
	run_chipctl 0 reset-stuck-queue --json
	[ "$output" = '{"dry_run":false,"requeued":0,"failed_max_attempts":0,"recorded_sent":0,"requeued_dead_worker":3,"uncertain":0,"given_back":3,"chips_released":0,"chip_room_given_back":0}' ]
	# nothing was sent: nothing is counted, nothing is held
	[ "$(quota dr-a)" -eq 0 ]
	[ "$(quota dr-b)" -eq 0 ]
	[ "$(room "$C1")" = "0|0" ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente' AND tentativas = 0
	              AND reserva_dia IS NULL AND worker_id IS NULL")" -eq 3 ]
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'
	              AND (enviada_em AT TIME ZONE 'America/Sao_Paulo')::date = $TODAY_SQL")" -eq 3 ]
	[ "$(sends_to c1)" -eq 3 ]
	# the counters equal what was sent: 2 followups, a campaign counting 2
	[ "$(quota dr-a)" -eq 2 ]
	[ "$(quota dr-b)" -eq 2 ]
	[ "$(room "$C1")" = "3|3" ]
	# each message sent once
	[ "$(psql_q "SELECT count(*), count(DISTINCT message_id) FROM send_attempts WHERE result = 'ok'")" = "3|3" ]
}

@test "a PostgreSQL restart in the middle of a batch: after the rescue the counters equal what was sent" {
	skip_under_pgbouncer "the restart cuts the pooler's server connections at its own pace"
	a1=$(msg followup dr-r)
	a2=$(msg campanha dr-r)
	b=$(msg followup dr-s)
	hold_chip_room
	start_worker w-pg
	await_guarded 3
	[ "$(quota dr-r)" -eq 3 ]
	# the restart cuts every session: the lock's and the worker's
	"$REPO/scripts/pg-tmp.sh" restart "$CHIPCTL_TEST_PGDIR" 3>&-
	wait "$HOLD_PID" 2>/dev/null || true
	# the worker either gives up (--once: 75) or carries on with a new
	# connection; either way it ends, and what it did not send is held
	wait "$WORKER_PID" || [ $? -eq 75 ] || { cat "$BATS_TEST_TMPDIR/w-pg.err"; false; }
	[ "$(sends_to c1)" -eq 0 ]
	await_dead w-pg
	# what the cut batch left claimed comes back, and gives back what it
	# held, once (a second rescue finds nothing)
	run_chipctl 0 reset-stuck-queue --json
	[[ "$output" == *'"requeued_dead_worker":3,"uncertain":0,"given_back":3,'* ]]
	[ "$(quota dr-r)|$(quota dr-s)|$(room "$C1")" = "0|0|0|0" ]
	run_chipctl 0 reset-stuck-queue --json
	[[ "$output" == *'"requeued_dead_worker":0,"uncertain":0,"given_back":0,'* ]]
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 3 ]
	[ "$(sends_to c1)" -eq 3 ]
	[ "$(quota dr-r)" -eq 3 ]
	[ "$(quota dr-s)" -eq 1 ]
	[ "$(room "$C1")" = "3|3" ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada' AND reserva_dia = $TODAY_SQL")" -eq 3 ]
}

@test "two rescues in a row: nothing is given back twice, the counters never go below what was sent" {
	sent=$(msg followup dr-t)
	run_chipctl 0 send-worker --once
	[ "$(msg_state $sent)" = "enviada|SENT" ]
	[ "$(quota dr-t)" -eq 1 ]
	m=$(msg campanha dr-t)
	hold_chip_room
	start_worker w-twice
	await_guarded 1
	kill_worker
	release_chip_room
	[ "$(quota dr-t)" -eq 3 ]
	await_dead w-twice
	run_chipctl 0 reset-stuck-queue --json
	[[ "$output" == *'"requeued_dead_worker":1,"uncertain":0,"given_back":1,'* ]]
	[ "$(quota dr-t)" -eq 1 ]
	run_chipctl 0 reset-stuck-queue --json
	[[ "$output" == *'"requeued_dead_worker":0,"uncertain":0,"given_back":0,'* ]]
	[ "$(quota dr-t)" -eq 1 ]
	# the message sent kept what it used; giving it back by hand gives
	# nothing twice either
	[ "$(psql_q "SELECT reserva_dia = $TODAY_SQL, reserva_peso FROM fila_mensagens WHERE id = $sent")" = "t|1" ]
	[ "$(psql_q "SELECT chipctl_give_back(p_msgs => ARRAY[$m]::bigint[])")" -eq 0 ]
	[ "$(quota dr-t)" -eq 1 ]
	run_chipctl 0 send-worker --once
	[ "$(msg_state $m)" = "enviada|SENT" ]
	[ "$(quota dr-t)" -eq 3 ]
}

@test "a doctor at 2 of 3 with a campaign in the dead worker's batch: sent today after the rescue" {
	m=$(msg campanha dr-c)
	hold_chip_room
	start_worker w-camp
	await_guarded 1
	kill_worker
	release_chip_room
	[ "$(quota dr-c)" -eq 2 ]
	await_dead w-camp
	run_chipctl 0 reset-stuck-queue
	# given back: the doctor is at 0 of 3 again, so the campaign fits today
	[ "$(quota dr-c)" -eq 0 ]
	run_chipctl 0 send-worker --once
	[ "$(msg_state $m)" = "enviada|SENT" ]
	[ "$(psql_q "SELECT (enviada_em AT TIME ZONE 'America/Sao_Paulo')::date = $TODAY_SQL,
	              outcome_reason_code IS NULL FROM fila_mensagens WHERE id = $m")" = "t|t" ]
	[ "$(quota dr-c)" -eq 2 ]
}

@test "a message that already holds today's share is not counted again" {
	# as an uncertain send kept by the rescue leaves it: counted, held
	m=$(msg campanha dr-h)
	psql_q "INSERT INTO guardrail_counters (cliente_id, dia, used) VALUES ('dr-h', $TODAY_SQL, 2);
	        UPDATE fila_mensagens SET reserva_dia = $TODAY_SQL, reserva_peso = 2 WHERE id = $m"
	run_chipctl 0 send-worker --once
	[ "$(msg_state $m)" = "enviada|SENT" ]
	[ "$(quota dr-h)" -eq 2 ]
	# another day's share, never used, moves to today: counted once
	n=$(msg followup dr-y)
	psql_q "INSERT INTO guardrail_counters (cliente_id, dia, used) VALUES ('dr-y', $TODAY_SQL - 1, 1);
	        UPDATE fila_mensagens SET reserva_dia = $TODAY_SQL - 1, reserva_peso = 1 WHERE id = $n"
	run_chipctl 0 send-worker --once
	[ "$(msg_state $n)" = "enviada|SENT" ]
	[ "$(psql_q "SELECT string_agg(dia - $TODAY_SQL || ':' || used, ',' ORDER BY dia)
	              FROM guardrail_counters WHERE cliente_id = 'dr-y'")" = "-1:0,0:1" ]
}

@test "a message leaving its batch unsent gives back what it held, once" {
	evo_mode c1 baileys_error
	m=$(msg followup dr-q)
	psql_q "UPDATE fila_mensagens SET tentativas = 2, max_tentativas = 3"
	run_chipctl 0 send-worker --once
	[ "$(msg_state $m)" = "erro|FAILED_ALL_CHIPS" ]
	[ "$(quota dr-q)" -eq 0 ]
	[ "$(psql_q "SELECT reserva_dia IS NULL AND reserva_peso IS NULL FROM fila_mensagens WHERE id = $m")" = t ]
}

@test "a worker stopped by a signal mid-batch gives back what its batch held" {
	a=$(msg followup dr-sig)
	b=$(msg campanha dr-sig)
	hold_chip_room
	start_worker w-sig
	await_guarded 2
	[ "$(quota dr-sig)" -eq 3 ]
	kill -TERM "$WORKER_PID"
	release_chip_room
	wait "$WORKER_PID" || { cat "$BATS_TEST_TMPDIR/w-sig.err"; false; }
	[ "$(sends_to c1)" -eq 0 ]
	[ "$(quota dr-sig)" -eq 0 ]
	[ "$(room "$C1")" = "0|0" ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente' AND tentativas = 0
	              AND reserva_dia IS NULL AND reserva_chip_id IS NULL")" -eq 2 ]
	[ "$(psql_q "SELECT count(*) FROM chip_send_counters WHERE held_by IS NOT NULL")" -eq 0 ]
	# nothing left for a rescue to give back
	run_chipctl 0 reset-stuck-queue --json
	[[ "$output" == *'"requeued_dead_worker":0,"uncertain":0,"given_back":0,"chips_released":0,'* ]]
}

@test "chipctl_give_back: the doctor's share and the chip's room of its windows, once, never below zero" {
	m1=$(msg campanha dr-g)
	m2=$(msg followup dr-g)
	m3=$(msg followup dr-g)
	# m1 and m2 hold this hour's room of c1, m3 last hour's; the counter
	# has 5 this hour (3 used by others)
	psql_q "INSERT INTO guardrail_counters (cliente_id, dia, used) VALUES ('dr-g', $TODAY_SQL, 3);
	        INSERT INTO chip_send_counters (chip_id, hour_start, hour_count, day_start, day_count)
	        VALUES ('$C1', date_trunc('hour', now()), 5, date_trunc('day', now()), 9);
	        UPDATE fila_mensagens SET reserva_dia = $TODAY_SQL, reserva_peso = CASE tipo WHEN 'campanha' THEN 2 ELSE 1 END,
	          reserva_chip_id = '$C1', reserva_hora = date_trunc('hour', now())
	        WHERE id IN ($m1, $m2);
	        UPDATE fila_mensagens SET reserva_chip_id = '$C1', reserva_hora = date_trunc('hour', now()) - interval '1 hour'
	        WHERE id = $m3"
	[ "$(psql_q "SELECT chipctl_give_back(p_msgs => ARRAY[$m1, $m2, $m3]::bigint[])")" -eq 3 ]
	[ "$(quota dr-g)" -eq 0 ]
	# this hour: 2 given back; the day: 2, and m3's too when its hour was
	# today (not in the first hour of the day)
	[ "$(psql_q "SELECT hour_count, day_count = 9 - 2 - (date_trunc('day', now() - interval '1 hour') = date_trunc('day', now()))::int
	              FROM chip_send_counters WHERE chip_id = '$C1'")" = "3|t" ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE reserva_dia IS NULL AND reserva_peso IS NULL
	              AND reserva_chip_id IS NULL AND reserva_hora IS NULL")" -eq 3 ]
	[ "$(psql_q "SELECT chipctl_give_back(p_msgs => ARRAY[$m1, $m2, $m3]::bigint[])")" -eq 0 ]
	[ "$(room "$C1" | cut -d'|' -f1)" -eq 3 ]
	# never below zero
	psql_q "UPDATE chip_send_counters SET hour_count = 0, day_count = 0;
	        UPDATE guardrail_counters SET used = 0;
	        UPDATE fila_mensagens SET reserva_dia = $TODAY_SQL, reserva_peso = 2,
	          reserva_chip_id = '$C1', reserva_hora = date_trunc('hour', now()) WHERE id = $m1"
	[ "$(psql_q "SELECT chipctl_give_back(p_msgs => ARRAY[$m1]::bigint[])")" -eq 1 ]
	[ "$(quota dr-g)" -eq 0 ]
	[ "$(room "$C1")" = "0|0" ]
}

@test "queue show tells what a message holds: nothing, today's share and a chip's hour, used once sent" {
	m=$(msg campanha dr-show)
	run_chipctl 0 queue show "$m"
	[[ "$output" == *"  holds nothing"* ]]
	psql_q "UPDATE fila_mensagens SET reserva_dia = '2026-01-23', reserva_peso = 2,
	          reserva_chip_id = '$C1', reserva_hora = '2026-01-23 14:00:00+00',
	          envio_chip_id = '$C1', envio_iniciado_em = '2026-01-23 14:05:00+00' WHERE id = $m"
	run_chipctl 0 queue show "$m"
	[[ "$output" == *"  holds a share of 2 of the doctor's quota of 2026-01-23"$'\n'* ]]
	[[ "$output" == *"  holds one send of chip c1's room in the hour of 2026-01-23T14:00:00+00:00"$'\n'* ]]
	[[ "$output" == *"  send started 2026-01-23T14:05:00+00:00 on c1, not answered: the provider is asked before it is sent again"* ]]
	psql_q "UPDATE fila_mensagens SET status = 'enviada', enviada_em = now(), outcome = 'SENT' WHERE id = $m"
	run_chipctl 0 queue show "$m"
	[[ "$output" == *"  holds a share of 2 of the doctor's quota of 2026-01-23 (used)"* ]]
	[[ "$output" == *"room in the hour of 2026-01-23T14:00:00+00:00 (used)"* ]]
	[[ "$output" != *"not answered"* ]]
	run_chipctl 0 queue show "$m" --json
	[ "$(echo "$output" | python3 -c 'import json,sys; m=json.load(sys.stdin)["message"]; print(m["reserva_dia"], m["reserva_peso"], m["reserva_chip"])')" = "2026-01-23 2 c1" ]
}
