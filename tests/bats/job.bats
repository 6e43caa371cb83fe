#!/usr/bin/env bats
# Job runs: the lease (one run at a time, across hosts), job_executions rows, dry runs.
load ../lib/common

start_held_run() {	# start a run that holds its lease until "$HOLD" is removed
	HOLD="$BATS_TEST_TMPDIR/hold"
	touch "$HOLD"
	CHIPCTL_TEST_HOLD_FILE="$HOLD" "$CHIPCTL_BIN" reset-stuck-queue "$@" 3>&- \
		2>"$BATS_TEST_TMPDIR/held.err" &
	HELD_PID=$!
	wait_for "SELECT count(*) = 1 FROM job_leases"
}

@test "a run records start, end, status, counts and run id in job_executions" {
	run_chipctl 0 reset-stuck-queue
	run psql_q "SELECT job_name, status, exit_code, finished_at >= started_at,
	            counts ? 'requeued', run_id IS NOT NULL FROM job_executions"
	[ "$output" = "reset-stuck-queue|success|0|t|t|t" ]
	[ "$(psql_q "SELECT count(*) FROM job_leases")" -eq 0 ]
}

@test "two copies at once: the second says so, exits 0, records 'skipped'" {
	start_held_run
	run_chipctl 0 reset-stuck-queue
	[[ "$stderr" == *"already running elsewhere"* ]]
	rm "$HOLD"
	wait "$HELD_PID"
	run psql_q "SELECT status FROM job_executions ORDER BY id"
	[ "$output" = $'success\nskipped' ] || [ "$output" = $'skipped\nsuccess' ]
	[ "$(psql_q "SELECT count(*) FROM job_executions WHERE status = 'success'")" -eq 1 ]
}

@test "a crashed holder's lease expires; the next run marks its run abandoned" {
	conf 'jobs: { lease_s = 1; };'
	start_held_run
	kill -9 "$HELD_PID"
	wait "$HELD_PID" || true
	rm -f "$HOLD"
	# while the lease is still valid the job is skipped ...
	psql_q "UPDATE job_leases SET expires_at = now() + interval '1 hour'"
	run_chipctl 0 reset-stuck-queue
	[[ "$stderr" == *"already running"* ]]
	# ... once it has expired, the next run takes over
	psql_q "UPDATE job_leases SET expires_at = now() + interval '1 second'"
	wait_for "SELECT expires_at < now() FROM job_leases"
	run_chipctl 0 reset-stuck-queue
	[[ "$stderr" == *"died without finishing"* ]]
	run psql_q "SELECT status FROM job_executions ORDER BY id"
	[ "$output" = $'abandoned\nskipped\nsuccess' ]
}

@test "the expiry run has its own lease: it never skips the 15-minute rescue" {
	start_held_run
	run_chipctl 0 reset-stuck-queue --expire
	[[ "$stderr" != *"already running"* ]]
	rm "$HOLD"
	wait "$HELD_PID"
	[ "$(psql_q "SELECT count(*) FROM job_executions WHERE status = 'success'")" -eq 2 ]
	[ "$(psql_q "SELECT job_name FROM job_executions WHERE id = (SELECT max(id) FROM job_executions WHERE job_name LIKE '%expire')")" = reset-stuck-queue-expire ]
}

@test "--dry-run takes no lease and writes no job_executions row" {
	run_chipctl 0 reset-stuck-queue --dry-run
	[ "$(psql_q "SELECT count(*) FROM job_executions")" -eq 0 ]
}

@test "a failed run is recorded failed with its error, when the database stays up" {
	psql_q "ALTER TABLE fila_mensagens RENAME COLUMN processando_desde TO x"
	run_chipctl 70 reset-stuck-queue
	run psql_q "SELECT status, exit_code, error IS NOT NULL FROM job_executions"
	[ "$output" = "failed|70|t" ]
}

@test "a run that outlasts its lease renews it: no second copy starts meanwhile" {
	conf 'jobs: { lease_s = 2; };'
	psql_q "INSERT INTO chips (telefone, instance_name, status)
		SELECT '5511900000' || g, 'c' || g, 'active' FROM generate_series(10, 19) g"
	# trust-update made slow: the statement for every chip is refused, so it
	# goes chip by chip, and each chip takes half a second (10 chips: 5 s,
	# more than twice the lease)
	psql_q "CREATE FUNCTION slow_trust() RETURNS trigger LANGUAGE plpgsql AS \$\$
		BEGIN
			IF (SELECT count(*) FROM n) > 1 THEN
				RAISE EXCEPTION 'one chip at a time in this test';
			END IF;
			PERFORM pg_sleep(0.5);
			RETURN NULL;
		END \$\$"
	psql_q "CREATE TRIGGER slow AFTER UPDATE ON chips REFERENCING NEW TABLE AS n
		FOR EACH STATEMENT EXECUTE FUNCTION slow_trust()"
	"$CHIPCTL_BIN" trust-update 3>&- 2>"$BATS_TEST_TMPDIR/first.err" &
	first=$!
	# past the first lease's end (its acquired_at + 2 s), the run still holds it
	wait_for "SELECT coalesce(bool_or(now() > acquired_at + interval '2.5 seconds'
		AND expires_at > now()), false) FROM job_leases"
	run_chipctl 0 trust-update
	[[ "$stderr" == *"already running elsewhere"* ]]
	wait "$first"
	run psql_q "SELECT status FROM job_executions ORDER BY id"
	[ "$output" = $'success\nskipped' ]
	[ "$(psql_q "SELECT count(*) FROM chip_trust_history")" -eq 10 ]
	if grep -q "lease lost" "$BATS_TEST_TMPDIR/first.err"; then cat "$BATS_TEST_TMPDIR/first.err"; return 1; fi
}
