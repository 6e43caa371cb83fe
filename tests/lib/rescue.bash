# Helpers for the rescue suites (give_back, rescue_heartbeat): a worker
# stopped after its guard reserved and before it sends, killed there, and
# what the counters hold. Load after ../lib/common and ../lib/send.

# today: the doctors' day (the guardrail's time zone, the default one)
TODAY_SQL="(now() AT TIME ZONE 'America/Sao_Paulo')::date"

# hold_chip_room: a session that holds chip_send_counters in EXCLUSIVE mode
# (reads pass, any reservation of chip room waits) until release_chip_room.
# A worker that claimed and passed its guard then waits before it can
# reserve a chip, so nothing is sent: it is stopped "after the guard
# reserved and before any send", with no clock trick and no test seam.
hold_chip_room() {
	PGAPPNAME=test-hold-room psql -XAtq "$DATABASE_URL" -c \
		"BEGIN; LOCK TABLE chip_send_counters IN EXCLUSIVE MODE; SELECT pg_sleep(120)" \
		>/dev/null 2>&1 3>&- &
	HOLD_PID=$!
	wait_for "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
	          WHERE a.application_name = 'test-hold-room' AND l.granted
	            AND l.relation = 'chip_send_counters'::regclass AND l.mode = 'ExclusiveLock')"
}

release_chip_room() {
	psql_q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	        WHERE application_name = 'test-hold-room'" >/dev/null 2>&1 || true
	wait "$HOLD_PID" 2>/dev/null || true
}

# start_worker ID: a send-worker --once in the background (its pid in
# WORKER_PID, its log in $BATS_TEST_TMPDIR/ID.err).
start_worker() {
	"$CHIPCTL_BIN" send-worker --once --worker-id "$1" ${WORKER_ARGS:-} 3>&- 2>"$BATS_TEST_TMPDIR/$1.err" &
	WORKER_PID=$!
}

# await_guarded N: N messages hold their doctor's share (the guard's call
# committed) and the worker waits for chip room.
await_guarded() {
	wait_for "SELECT count(*) = $1 FROM fila_mensagens WHERE status = 'processando'
	          AND reserva_dia IS NOT NULL"
	wait_for "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted
	          AND relation = 'chip_send_counters'::regclass)"
}

# kill_worker: SIGKILL the worker, and end the database session it left
# waiting for the lock (PostgreSQL would notice the client gone only when
# it next writes to it: left alone, that session would take the chip room
# and commit it for a dead process; the room a dead worker holds is the
# hold's, held_by/held_room, given back by the rescue too).
kill_worker() {
	kill -KILL "$WORKER_PID"
	wait "$WORKER_PID" 2>/dev/null || true
	psql_q "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE NOT granted
	        AND relation = 'chip_send_counters'::regclass" >/dev/null
}

# await_dead ID: the worker's heartbeat is older than watchdog.heartbeat_s
# as the rescue reads it (the suites set 2 s).
await_dead() {
	wait_for "SELECT coalesce((SELECT chipctl_worker_dead(last_beat_at, 2)
	          FROM worker_heartbeats WHERE worker_id = '$1'), false)" 10
}

# quota CLIENTE: the doctor's count for today (0 when none)
quota() {
	psql_q "SELECT coalesce((SELECT used FROM guardrail_counters
	        WHERE cliente_id = '$1' AND dia = $TODAY_SQL), 0)"
}

# room CHIP_ID: the chip's counts in the current hour and day, "H|D"
room() {
	psql_q "SELECT coalesce((SELECT CASE WHEN hour_start = date_trunc('hour', now()) THEN hour_count ELSE 0 END
	          || '|' || CASE WHEN day_start = date_trunc('day', now()) THEN day_count ELSE 0 END
	        FROM chip_send_counters WHERE chip_id = '$1'), '0|0')"
}
