#!/usr/bin/env bats
# The database connection: unreachable → 75, refused credentials → 78, never a secret.
load ../lib/common

@test "database down (nothing listening): exit 75, password not printed" {
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	DATABASE_URL="postgresql://chipctl:hunter2secret@127.0.0.1:$port/chipctl" \
		run_chipctl 75 reset-stuck-queue
	add_secret hunter2secret
	assert_no_secrets "$stderr"
	[[ "$stderr" == *"cannot connect to database"* ]]
}

@test "a server that accepts but never answers: connect timeout, exit 75" {
	python3 - "$BATS_TEST_TMPDIR/port" <<'PY' 3>&- &
import socket, sys, time, os
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(5)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
conns = []
end = time.time() + 20
while time.time() < end:
    s.settimeout(1)
    try: conns.append(s.accept()[0])
    except socket.timeout: pass
PY
	pid=$!
	for i in $(seq 100); do [ -f "$BATS_TEST_TMPDIR/port" ] && break; sleep 0.05; done
	printf 'database: { connect_timeout = 1; };\n' > "$CONF"
	start=$(date +%s)
	DATABASE_URL="postgresql://chipctl@127.0.0.1:$(cat "$BATS_TEST_TMPDIR/port")/x" \
		run_chipctl 75 queue stats
	kill $pid 2>/dev/null || true
	[ $(( $(date +%s) - start )) -lt 10 ]
}

@test "wrong password: exit 78, the password is not printed" {
	skip_under_pgbouncer "the pooler authenticates clients itself"
	url=${DATABASE_URL/:$(cat "$CHIPCTL_TEST_PGDIR/password")@/:wrongpassword99@}
	DATABASE_URL=$url run_chipctl 78 queue stats
	add_secret wrongpassword99
	assert_no_secrets "$stderr"
	[[ "$stderr" == *"password authentication failed"* ]]
}

@test "a database that does not exist: exit 78" {
	skip_under_pgbouncer "the pooler reports a missing database as a server error"
	DATABASE_URL=${DATABASE_URL%/*}/no_such_db run_chipctl 78 queue stats
	[[ "$stderr" == *"does not exist"* ]]
}

@test "the run id is in application_name, visible in pg_stat_activity" {
	skip_under_pgbouncer "server connections are the pooler's, shared by its clients"
	touch "$BATS_TEST_TMPDIR/hold"
	CHIPCTL_TEST_HOLD_FILE="$BATS_TEST_TMPDIR/hold" "$CHIPCTL_BIN" reset-stuck-queue 3>&- 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	wait_for "SELECT count(*) = 1 FROM job_leases"
	run psql_q "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'chipctl/%'"
	rm "$BATS_TEST_TMPDIR/hold"
	wait $pid
	run_id=$(psql_q "SELECT run_id FROM job_executions")
	[[ "$output" == "chipctl/reset-stuck-queue/${run_id:0:8}" ]]
}
