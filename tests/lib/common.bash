# Shared set-up for the bats suites: load with `load ../lib/common`.
#
# Each test gets a clean environment (no stray PG* or chipctl variables, its
# own HOME, LC_ALL=C) and its own database, created from the migrated
# template of the cluster that scripts/run-tests.sh started
# (CHIPCTL_TEST_PGDIR). run_chipctl pins the exit code and checks that no
# configured secret appears in anything chipctl printed.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert
load "$BATS_TEST_DIRNAME/../lib/fakes.bash"

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
CHIPCTL_BIN=${CHIPCTL_BIN:-$REPO/chipctl}
export FAKE_DIR

# Values that must never be printed; tests add theirs with add_secret.
SECRETS=()
add_secret() { SECRETS+=("$1"); }

common_setup() {
	[ -n "${CHIPCTL_TEST_PGDIR:-}" ] || {
		echo "run the suites through scripts/run-tests.sh (or make test)" >&2
		return 1
	}
	while read -r v; do unset "$v"; done < <(env | sed -n 's/^\(PG[A-Z_]*\)=.*/\1/p')
	unset CHIPCTL_CONFIG CHIPCTL_LOG_FORMAT CHIPCTL_LOG_LEVEL DATABASE_URL \
		EVOLUTION_API_URL EVOLUTION_API_KEY SLACK_WEBHOOK_URL ZAPI_API_URL \
		ZAPI_CLIENT_TOKEN SALVY_API_URL SALVY_API_KEY CHIPCTL_TEST_HOLD_FILE
	export HOME="$BATS_TEST_TMPDIR" LC_ALL=C
	# Pacing and typing off, as for benchmarks: a test of them turns them on
	# (pacing_on). Everything else sends at the fake's speed.
	export CHIPCTL_CHIP_GAP_S=0 CHIPCTL_CHIP_GAP_JITTER_S=0 CHIPCTL_TYPING_MS_PER_CHAR=0
	FAKE_DIR="$BATS_TEST_TMPDIR/fakes"
	mkdir -p "$FAKE_DIR"
	TEST_DB="t_$(date +%s%N | tail -c 10)_$$"
	ADMIN_URL=$("$REPO/scripts/pg-tmp.sh" url "$CHIPCTL_TEST_PGDIR")
	psql -XAtq "$ADMIN_URL" -c "CREATE DATABASE $TEST_DB TEMPLATE chipctl_tmpl" >/dev/null
	export DATABASE_URL
	DATABASE_URL=$("$REPO/scripts/pg-tmp.sh" url "$CHIPCTL_TEST_PGDIR" "$TEST_DB")
	# chipctl was installed just now: a job that never ran is judged from the
	# first migration's time (health jobs, watchdog), not the suite's start
	psql -XAtq "$DATABASE_URL" -c "UPDATE schema_migrations SET applied_at = now()" >/dev/null
	if [ -n "${CHIPCTL_TEST_BOUNCER_PORT:-}" ]; then
		# make test-pgbouncer: everything goes through a transaction pooler
		DATABASE_URL="postgresql://chipctl@127.0.0.1:$CHIPCTL_TEST_BOUNCER_PORT/$TEST_DB"
	fi
	SECRETS=("$(cat "$CHIPCTL_TEST_PGDIR/password")")
	# A config file every test can extend; secrets live in the environment.
	CONF="$BATS_TEST_TMPDIR/chipctl.conf"
	: > "$CONF"
	export CHIPCTL_CONFIG="$CONF"
}

common_teardown() {
	fake_stop_all 2>/dev/null || true
	psql -XAtq "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $TEST_DB WITH (FORCE)" >/dev/null 2>&1 || true
}

setup() { common_setup; }

# skip_under_pgbouncer WHY: for a test of something the pooler changes on
# purpose (it authenticates clients itself, it reconnects for us).
skip_under_pgbouncer() {
	[ -z "${CHIPCTL_TEST_BOUNCER_PORT:-}" ] || skip "through pgbouncer: $1"
}
teardown() { common_teardown; }

# run_chipctl RC ARGS...: run chipctl (30 s bound), assert the exit code
# exactly, and that no secret is in its stdout or stderr.
run_chipctl() {
	local want=$1; shift
	run --separate-stderr timeout 30 "$CHIPCTL_BIN" "$@"
	if [ "$status" -ne "$want" ]; then
		echo "chipctl $* exited $status, expected $want"
		echo "--- stdout:"; echo "$output"
		echo "--- stderr:"; echo "$stderr"
		return 1
	fi
	assert_no_secrets "$output$stderr"
}

assert_no_secrets() {
	local s
	for s in "${SECRETS[@]}"; do
		[ -n "$s" ] || continue
		if [[ "$1" == *"$s"* ]]; then
			echo "a secret was printed: ${s:0:3}..."
			echo "$1"
			return 1
		fi
	done
}

# psql_q SQL: one query against the test database, unaligned, no headers.
psql_q() {
	psql -XAtq -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"
}

# wait_for SQL [TIMEOUT_S]: until the query returns 't' (bounded poll).
wait_for() {
	local sql=$1 limit=${2:-20} i=0
	while [ "$(psql_q "$sql")" != t ]; do
		i=$((i + 1))
		[ $i -lt $((limit * 20)) ] || { echo "timed out waiting for: $sql"; return 1; }
		sleep 0.05
	done
}

# pacing_on: the defaults of send.chip_gap_s, send.chip_gap_jitter_s and
# send.typing_ms_per_char (or the config file's), not the suites' zeros.
pacing_on() { unset CHIPCTL_CHIP_GAP_S CHIPCTL_CHIP_GAP_JITTER_S CHIPCTL_TYPING_MS_PER_CHAR; }

# conf 'text': append to the test's config file.
conf() { printf '%s\n' "$1" >> "$CONF"; }

# use_fake_slack [SETTINGS]: Slack through the fake, with a webhook path
# that is a secret; SETTINGS go into the config's slack group.
use_fake_slack() {
	fake_start slack
	export SLACK_WEBHOOK_URL="$FAKE_SLACK_URL/services/T0SECRET/B0SECRET/xoxSECRETtoken"
	add_secret "xoxSECRETtoken"
	conf "slack: { min_interval_ms = 0; ${1:-} };"
}
