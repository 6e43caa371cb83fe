#!/bin/sh
# Run every test suite against a throwaway PostgreSQL 15 cluster:
#   C unit tests (plain and sanitizer builds), bats suites (with the plain
#   binary and with the ASan+UBSan binary), SQL tests.
# Ends with one line "N passed, N failed"; exits 1 if anything failed.
# Expects `make all build/unit-all asan` to have run (make test does that).
#
#   CHIPCTL_TEST_FILTER=regex  only bats tests whose name matches
#   CHIPCTL_TEST_SUITES="a b"  only these bats files (names without .bats)
#   CHIPCTL_TEST_NO_ASAN=1     skip the sanitizer pass of the bats suites
#   CHIPCTL_BIN=path           the binary of the first pass (default ./chipctl)
#   CHIPCTL_TEST_PGBOUNCER=1   chipctl and the tests reach the database through
#                              a pgbouncer in transaction pooling mode
#   CHIPCTL_TEST_NO_VALGRIND=1 skip the memcheck pass over every command
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"

WORK=$(mktemp -d /tmp/chipctl-test.XXXXXX)
chmod 755 "$WORK"
cleanup() {
	scripts/pgbouncer-tmp.sh stop "$WORK/bouncer" 2>/dev/null
	scripts/pg-tmp.sh stop "$WORK/pg" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! scripts/pg-tmp.sh start "$WORK/pg" >/dev/null 3>&-; then
	echo "run-tests: cannot start a test PostgreSQL cluster" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
export CHIPCTL_TEST_PGDIR="$WORK/pg"
if [ -n "${CHIPCTL_TEST_PGBOUNCER:-}" ]; then
	CHIPCTL_TEST_BOUNCER_PORT=$(scripts/pgbouncer-tmp.sh start "$WORK/bouncer" "$WORK/pg" 3>&-) || {
		echo "run-tests: cannot start pgbouncer"; echo "0 passed, 1 failed"; exit 1; }
	export CHIPCTL_TEST_BOUNCER_PORT
	echo "# through pgbouncer (transaction pooling) on port $CHIPCTL_TEST_BOUNCER_PORT"
fi
admin=$(scripts/pg-tmp.sh url "$WORK/pg")
psql -XAtq -v ON_ERROR_STOP=1 "$admin" -c "CREATE DATABASE chipctl_tmpl" >/dev/null
BIN=${CHIPCTL_BIN:-$REPO/chipctl}
DATABASE_URL=$(scripts/pg-tmp.sh url "$WORK/pg" chipctl_tmpl) "$BIN" -q migrate || { echo "run-tests: cannot migrate the template database"; echo "0 passed, 1 failed"; exit 1; }

tap="$WORK/results.tap"
: > "$tap"

run_tap() {	# label command... : run, show and keep TAP output
	label=$1; shift
	echo "# --- $label"
	out="$WORK/one.tap"
	"$@" > "$out" 2>&1
	rc=$?
	cat "$out"
	grep -E '^(not )?ok ' "$out" >> "$tap"
	if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$out"; then
		echo "not ok - $label exited $rc without a failing test (crash?)" | tee -a "$tap"
	fi
}

for t in build/unit/test_* build/asan/unit/test_*; do
	[ -x "$t" ] && run_tap "unit $t" "$t"
done

suites=""
if [ -n "${CHIPCTL_TEST_SUITES:-}" ]; then
	for s in $CHIPCTL_TEST_SUITES; do suites="$suites tests/bats/$s.bats"; done
else
	suites=$(ls tests/bats/*.bats)
fi
filter=""
[ -n "${CHIPCTL_TEST_FILTER:-}" ] && filter="--filter $CHIPCTL_TEST_FILTER"

# shellcheck disable=SC2086
CHIPCTL_BIN="$BIN" run_tap "bats" bats --tap $filter $suites
if [ -z "${CHIPCTL_TEST_NO_ASAN:-}" ] && [ -x build/asan/chipctl ]; then
	# shellcheck disable=SC2086
	CHIPCTL_BIN="$REPO/build/asan/chipctl" run_tap "bats asan" bats --tap $filter $suites
fi

if [ -z "${CHIPCTL_TEST_NO_VALGRIND:-}" ] && [ -z "${CHIPCTL_TEST_SUITES:-}" ] &&
   [ -z "${CHIPCTL_TEST_FILTER:-}" ] && command -v valgrind >/dev/null; then
	run_tap "valgrind" sh scripts/valgrind-jobs.sh
fi

for f in tests/sql/*.sql; do
	[ -e "$f" ] || continue
	db="sqltest_$$"
	psql -XAtq "$admin" -c "CREATE DATABASE $db TEMPLATE chipctl_tmpl" >/dev/null
	run_tap "pgtap $f" psql -XAtq -v ON_ERROR_STOP=1 \
		"$(scripts/pg-tmp.sh url "$WORK/pg" "$db")" -f "$f"
	psql -XAtq "$admin" -c "DROP DATABASE $db" >/dev/null
done

passed=$(grep -c '^ok ' "$tap")
failed=$(grep -c '^not ok ' "$tap")
if [ "$failed" -gt 0 ]; then
	echo "# failed tests:"
	grep '^not ok ' "$tap" | sed 's/^/#   /'
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
