#!/usr/bin/env bats
# chipctl migrate: numbered files and repeatable files (sql/functions/),
# checksums, idempotence, one transaction per run.
load ../lib/common

fresh_db() {
	psql -XAtq "$ADMIN_URL" -c "CREATE DATABASE ${TEST_DB}_fresh" >/dev/null
	export DATABASE_URL=${DATABASE_URL%/*}/${TEST_DB}_fresh
}

teardown() {
	psql -XAtq "$ADMIN_URL" -c "DROP DATABASE IF EXISTS ${TEST_DB}_fresh WITH (FORCE)" >/dev/null 2>&1
	common_teardown
}

@test "a fresh database gets every migration, recorded with its checksum" {
	fresh_db
	run_chipctl 0 migrate
	n=$(ls "$REPO"/sql/[0-9][0-9][0-9]_*.sql | wc -l)
	[ "$(psql_q "SELECT count(*) FROM schema_migrations")" -eq "$n" ]
	sum=$(sha256sum "$REPO/sql/001_core.sql" | cut -d' ' -f1)
	[ "$(psql_q "SELECT checksum FROM schema_migrations WHERE version = 1")" = "$sum" ]
	[ "$(psql_q "SELECT to_regclass('fila_mensagens') IS NOT NULL")" = t ]
}

@test "re-running is a no-op" {
	run_chipctl 0 migrate
	[[ "$stderr" == *"applied=0"* ]]
	before=$(psql_q "SELECT string_agg(applied_at::text, ',') FROM schema_migrations")
	run_chipctl 0 migrate
	[ "$(psql_q "SELECT string_agg(applied_at::text, ',') FROM schema_migrations")" = "$before" ]
}

@test "an applied migration whose file was edited is refused, exit 65" {
	psql_q "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1"
	run_chipctl 65 migrate
	[[ "$stderr" == *"edited after it was applied"* && "$stderr" == *"001_core.sql"* ]]
	run_chipctl 65 migrate --status
	[[ "$output" == *"edited"* ]]
}

@test "--status and --dry-run list pending migrations and apply nothing" {
	fresh_db
	run_chipctl 0 migrate --status
	[[ "$output" == *"pending"*"001_core.sql"* ]]
	run_chipctl 0 migrate --dry-run
	[[ "$stderr" == *"would apply migration"* ]]
	[ "$(psql_q "SELECT to_regclass('schema_migrations') IS NULL")" = t ]
}

@test "--json lists every migration with its state" {
	run_chipctl 0 migrate --status --json
	echo "$output" | python3 -c 'import json,sys; l=json.load(sys.stdin); assert all(m["state"]=="applied" for m in l) and l[0]["version"]==1, l'
}

@test "two migrate runs at once both succeed and apply each file once" {
	fresh_db
	"$CHIPCTL_BIN" -q migrate 3>&- & a=$!
	"$CHIPCTL_BIN" -q migrate 3>&- & b=$!
	wait $a
	wait $b
	n=$(ls "$REPO"/sql/[0-9][0-9][0-9]_*.sql | wc -l)
	[ "$(psql_q "SELECT count(*) FROM schema_migrations")" -eq "$n" ]
}

@test "a database newer than chipctl: migrate warns and succeeds" {
	psql_q "INSERT INTO schema_migrations (version, name, checksum) VALUES (999, '999_future.sql', 'x')"
	run_chipctl 0 migrate
	[[ "$stderr" == *"does not know"* ]]
}

# ---- repeatable files (sql/functions/): issue 18 ----------------------------

# The release before the split (its numbered files held the functions).
RELEASE_009=b71be81

defs() { psql -XAtq -v ON_ERROR_STOP=1 "$1" -f "$REPO/tests/lib/schema-defs.sql"; }

@test "status lists both kinds; a second run applies nothing" {
	run_chipctl 0 migrate --status
	[[ "$output" == *"009  applied  009_send_ledger.sql"* ]]
	[[ "$output" == *"R01  applied  functions/01_rules.sql"* ]]
	n=$(ls "$REPO"/sql/functions/[0-9][0-9]_*.sql | wc -l)
	[ "$(psql_q "SELECT count(*) FROM schema_repeatables")" -eq "$n" ]
	run_chipctl 0 migrate
	[[ "$stderr" == *"applied=0 repeatable=0"* ]]
	[[ "$stderr" != *"repeatable applied"* ]]
}

@test "a database migrated by the 009 release ends with exactly a fresh install's definitions" {
	git -C "$REPO" cat-file -e "$RELEASE_009^{commit}" || {
		echo "this test needs the git history of the repository (release $RELEASE_009)" >&2
		return 1
	}
	fresh_db
	fresh_url=$DATABASE_URL
	run_chipctl 0 migrate
	# The old release's way: each numbered file as it was, its checksum recorded.
	old=${TEST_DB}_old
	psql -XAtq "$ADMIN_URL" -c "CREATE DATABASE $old" >/dev/null
	export DATABASE_URL=${DATABASE_URL%/*}/$old
	psql_q "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
	        checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), run_id uuid)"
	for f in $(git -C "$REPO" ls-tree --name-only "$RELEASE_009" sql/ | grep -E '/[0-9]{3}_'); do
		git -C "$REPO" show "$RELEASE_009:$f" | psql -XAtq -v ON_ERROR_STOP=1 "$DATABASE_URL" >/dev/null
		sum=$(git -C "$REPO" show "$RELEASE_009:$f" | sha256sum | cut -d' ' -f1)
		base=${f#sql/}
		psql_q "INSERT INTO schema_migrations (version, name, checksum)
		        VALUES (${base%%_*}::int, '$base', '$sum')"
		# a file reworked since is recognised by the checksum it had
		grep -q "^$base $sum\$" "$REPO/sql/reworked.txt" || cmp -s <(git -C "$REPO" show "$RELEASE_009:$f") "$REPO/$f"
	done
	run_chipctl 0 migrate --status
	[[ "$output" != *"edited"* && "$output" == *"R01  pending"* ]]
	run_chipctl 0 migrate
	# only the numbered files added since the release are applied
	added=$(comm -13 <(git -C "$REPO" ls-tree --name-only "$RELEASE_009" sql/ | grep -E '/[0-9]{3}_' | sort) \
		<(cd "$REPO" && ls sql/[0-9][0-9][0-9]_*.sql | sort) | wc -l)
	[[ "$stderr" == *"applied=$added repeatable="* ]]
	defs "$fresh_url" > "$BATS_TEST_TMPDIR/fresh.defs"
	defs "$DATABASE_URL" > "$BATS_TEST_TMPDIR/upgraded.defs"
	[ "$(grep -c '^function ' "$BATS_TEST_TMPDIR/fresh.defs")" -gt 30 ]
	diff "$BATS_TEST_TMPDIR/fresh.defs" "$BATS_TEST_TMPDIR/upgraded.defs"
	psql -XAtq "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $old WITH (FORCE)" >/dev/null
}

@test "a changed repeatable file is re-applied alone, and restores its definitions" {
	# As a new binary whose 01_rules.sql changed sees it: another checksum
	# recorded, and a definition that is not the file's.
	psql_q "CREATE OR REPLACE FUNCTION chipctl_recovery_ramp(p_phase integer) RETURNS numeric
	        LANGUAGE sql IMMUTABLE AS 'SELECT 0.0'"
	psql_q "UPDATE schema_repeatables SET checksum = 'old' WHERE name = 'functions/01_rules.sql'"
	before=$(psql_q "SELECT string_agg(name || applied_at, ',' ORDER BY name) FROM schema_repeatables
	                 WHERE name <> 'functions/01_rules.sql'")
	run_chipctl 0 migrate --status
	[[ "$output" == *"R01  changed  functions/01_rules.sql"* ]]
	run_chipctl 0 migrate
	[ "$(grep -c 'repeatable applied' <<<"$stderr")" -eq 1 ]
	[[ "$stderr" == *"repeatable applied"*"name=functions/01_rules.sql"* ]]
	[ "$(psql_q "SELECT chipctl_recovery_ramp(1)")" != "0.0" ]
	[ "$(psql_q "SELECT string_agg(name || applied_at, ',' ORDER BY name) FROM schema_repeatables
	             WHERE name <> 'functions/01_rules.sql'")" = "$before" ]
	sum=$(sha256sum "$REPO/sql/functions/01_rules.sql" | cut -d' ' -f1)
	[ "$(psql_q "SELECT checksum FROM schema_repeatables WHERE name = 'functions/01_rules.sql'")" = "$sum" ]
	run_chipctl 0 migrate
	[[ "$stderr" == *"applied=0 repeatable=0"* ]]
}

@test "a repeatable file that fails rolls back the whole run, naming the file and line" {
	# A pending numbered migration (009: idempotent statements) and a schema
	# its definitions no longer fit: the column the pool reads was renamed.
	psql_q "DELETE FROM schema_migrations WHERE version = 9"
	psql_q "DROP INDEX send_attempts_time_brin"
	psql_q "ALTER TABLE chips RENAME COLUMN limite_hora TO limite_hora_x"
	run_chipctl 70 migrate
	[[ "$stderr" == *"file=functions/"* && "$stderr" == *"limite_hora"* ]]
	[[ "$stderr" == *"rolled back"* ]]
	file=$(sed -n 's/.*file=\(functions\/[^ ]*\).*/\1/p' <<<"$stderr" | head -1)
	line=$(sed -n 's/.* line=\([0-9]*\).*/\1/p' <<<"$stderr" | head -1)
	[ -n "$line" ]
	sed -n "${line}p" "$REPO/sql/$file" | grep -q limite_hora
	# nothing of the run: neither the numbered file nor its index
	[ "$(psql_q "SELECT count(*) FROM schema_migrations WHERE version = 9")" = 0 ]
	[ "$(psql_q "SELECT to_regclass('send_attempts_time_brin') IS NULL")" = t ]
	psql_q "ALTER TABLE chips RENAME COLUMN limite_hora_x TO limite_hora"
	run_chipctl 0 migrate
	[[ "$stderr" == *"applied=1 repeatable="* ]]
	[ "$(psql_q "SELECT to_regclass('send_attempts_time_brin') IS NOT NULL")" = t ]
}
