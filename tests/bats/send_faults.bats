#!/usr/bin/env bats
# send-worker under concurrency and faults: no double send, nothing lost.
load ../lib/common
load ../lib/send

setup() {
	common_setup
	send_setup
}

# A background worker is stopped even when its test fails half-way.
teardown() {
	[ -n "${pid:-}" ] && kill -KILL "$pid" 2>/dev/null
	common_teardown
}

@test "several workers at once never send a message twice" {
	for n in c1 c2 c3 c4 c5; do chip $n 90 >/dev/null; done
	open_instances c1 c2 c3 c4 c5
	enqueue 300
	# small batches: a worker holds the chips of its batch (one send in
	# flight per chip, fleet-wide), so the others find chips of their own
	conf 'send: { batch_size = 2; };'
	pids=""
	for w in 1 2 3 4; do "$CHIPCTL_BIN" -q send-worker --once --worker-id "w$w" 3>&- & pids="$pids $!"; done
	for p in $pids; do wait "$p"; done
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 300 ]
	[ "$(psql_q "SELECT count(DISTINCT worker_id) FROM send_attempts")" -ge 2 ]
	# every text reached the provider exactly once
	every_text_once 300
	[ "$(psql_q "SELECT count(*) FROM send_attempts")" -eq 300 ]
}

@test "SIGTERM: the message in hand is finished, the rest of the batch goes back at once" {
	chip c1 90 >/dev/null
	open_instances c1
	fake_ctl evolution /__control/send '{"instance":"c1","mode":"ok","delay_ms":1500}' >/dev/null
	for i in 1 2 3 4 5; do msg resposta >/dev/null; done
	"$CHIPCTL_BIN" send-worker 3>&- 2>"$BATS_TEST_TMPDIR/w.err" &
	pid=$!
	fake_wait_count evolution /message/sendText 1 10
	kill -TERM $pid
	wait $pid
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 1 ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente' AND worker_id IS NULL")" -eq 4 ]
	grep -q "stopping on signal" "$BATS_TEST_TMPDIR/w.err"
}

@test "a worker killed with SIGKILL loses nothing: the rescue brings its messages back" {
	chip c1 90 >/dev/null
	open_instances c1
	evo_mode c1 hang
	for i in 1 2 3; do msg resposta >/dev/null; done
	"$CHIPCTL_BIN" send-worker 3>&- 2>/dev/null &
	pid=$!
	fake_wait_count evolution /message/sendText 1 10
	kill -KILL $pid
	wait $pid || true
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'processando'")" -eq 3 ]
	# an hour later the stuck-queue rescue takes them back ...
	psql_q "UPDATE fila_mensagens SET processando_desde = now() - interval '61 minutes'"
	run_chipctl 0 reset-stuck-queue
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente'")" -eq 3 ]
	# ... and the next worker sends them
	evo_mode c1 ok
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 3 ]
}

@test "a result is written only while the message is still claimed; the next claim asks Evolution instead of sending again" {
	chip c1 90 >/dev/null
	open_instances c1
	fake_ctl evolution /__control/send '{"instance":"c1","mode":"ok","delay_ms":1500}' >/dev/null
	m=$(msg resposta)
	"$CHIPCTL_BIN" send-worker --once 3>&- 2>"$BATS_TEST_TMPDIR/w.err" &
	pid=$!
	fake_wait_count evolution /message/sendText 1 10
	# the rescue takes it back while the send is in flight (its chip and
	# start stay: the send is uncertain)
	psql_q "UPDATE fila_mensagens SET status = 'pendente', worker_id = NULL, processando_desde = NULL,
	        agendar_para = now() + interval '1 hour' WHERE id = $m"
	wait $pid
	[ "$(psql_q "SELECT status, envio_chip_id IS NOT NULL FROM fila_mensagens WHERE id = $m")" = "pendente|t" ]
	grep -q "no longer claimed by this worker" "$BATS_TEST_TMPDIR/w.err"
	[ "$(psql_q "SELECT count(*) FROM send_attempts WHERE message_id = $m")" -eq 0 ]
	# the next claim finds it sent at the provider: recorded, not sent again
	psql_q "UPDATE fila_mensagens SET agendar_para = now() WHERE id = $m"
	run_chipctl 0 send-worker --once
	[[ "$stderr" == *"uncertain send found sent"* ]]
	[ "$(psql_q "SELECT status, provider_message_id IS NOT NULL FROM fila_mensagens WHERE id = $m")" = "enviada|t" ]
	[ "$(fake_count evolution POST /message/sendText/c1)" -eq 1 ]
	[ "$(psql_q "SELECT error FROM send_attempts WHERE message_id = $m AND result = 'ok'")" = "found by reconciliation (findMessages on c1)" ]
}

@test "database restart mid-loop: the worker reconnects and goes on" {
	chip c1 90 >/dev/null
	open_instances c1
	conf 'send: { idle_ms = 50; };'
	msg resposta >/dev/null
	"$CHIPCTL_BIN" send-worker 3>&- 2>"$BATS_TEST_TMPDIR/w.err" &
	pid=$!
	wait_for "SELECT count(*) = 1 FROM fila_mensagens WHERE status = 'enviada'"
	"$REPO/scripts/pg-tmp.sh" restart "$CHIPCTL_TEST_PGDIR" 3>&-
	# (through a pooler the first connection after a restart can be refused)
	for i in $(seq 1 50); do msg resposta >/dev/null 2>&1 && break; sleep 0.2; done
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens")" -eq 2 ]
	wait_for "SELECT count(*) = 2 FROM fila_mensagens WHERE status = 'enviada'" || { cat "$BATS_TEST_TMPDIR/w.err"; false; }
	kill -TERM $pid
	wait $pid
	# directly connected, the worker saw the connection drop and made a new
	# one (through a pooler it may never notice)
	[ -n "${CHIPCTL_TEST_BOUNCER_PORT:-}" ] || grep -q "database connection" "$BATS_TEST_TMPDIR/w.err"
}

@test "the database down at start: --once exits 75, the loop keeps waiting" {
	DATABASE_URL="postgresql://chipctl@127.0.0.1:1/x" run_chipctl 75 send-worker --once
}

@test "no secret reaches the worker's log, even at debug level" {
	chip c1 90 >/dev/null
	open_instances c1
	msg resposta >/dev/null
	run_chipctl 0 -v -v send-worker --once
	[[ "$stderr" == *"level=debug"*"message sent"* ]]
}
