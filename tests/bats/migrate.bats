#!/usr/bin/env bats
# chipctl migrate: numbered files, checksums, idempotence, one transaction each.
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
