#!/usr/bin/env bats
# Hostile provider answers change nothing (issue 21): a string with a NUL
# inside, bytes that are not UTF-8, or a field of the wrong type in what
# Evolution, Z-API or Salvy answers is a malformed answer: a one-line error
# naming the field, the documented exit code (75, as any answer that is not
# what the API documents), and none of the provider's data written. Error
# texts that are only logged and stored are escaped instead, and never fail
# the statement that stores them.
load ../lib/common

chip() {	# chip NAME [PROVIDER [ZAPI_ID]]: an active chip
	psql_q "INSERT INTO chips (telefone, instance_name, status, provider, evolution_connected,
	                           zapi_connected, zapi_instance_id, zapi_token)
	        VALUES ('5511' || lpad((abs(hashtext('$1')) % 100000000)::text, 9, '9'), '$1',
	                'active', '${2:-evolution}', false, true, NULLIF('${3:-}', ''),
	                NULLIF('tok-${3:-}', 'tok-'))"
}

use_evolution() {
	fake_start evolution
	export EVOLUTION_API_URL="$FAKE_EVOLUTION_URL" EVOLUTION_API_KEY="$FAKE_EVOLUTION_APIKEY"
	add_secret "$FAKE_EVOLUTION_APIKEY"
}

# script NAME R: the fake's next answer is R (a response spec, tests/fakes/README.md)
script() { fake_ctl "$1" /__control/script "{\"responses\":[$2]}" >/dev/null; }

# b64 PRINTF_FORMAT: the bytes printf makes, in base64 (for body_b64)
b64() { printf "$1" | base64 -w0; }

# db_dump: the data of every table, sequences included, but the job runs'
# own bookkeeping (a failed run is recorded: that is the run, not the
# provider's data)
db_dump() {
	pg_dump --data-only --no-owner --no-privileges --exclude-table-data=job_executions \
		--exclude-table-data=job_leases "$DATABASE_URL" |
		grep -Ev '^(--|\\restrict |\\unrestrict )|job_executions_id_seq'
}
# snapshot: keep the data now; unchanged: it is byte for byte what it was
snapshot() { db_dump > "$BATS_TEST_TMPDIR/before.sql"; }
unchanged() {
	db_dump | diff "$BATS_TEST_TMPDIR/before.sql" - || { echo "the database changed"; return 1; }
}

@test "fetchInstances with a NUL in a name or state, bytes that are not UTF-8, a wrong type: 75, the field named, nothing written" {
	use_evolution
	chip c1
	chip c2
	snapshot
	# "c1\u0000x" cut at its NUL would be c1: connected by another's state
	script evolution '{"status":200,"body":[{"name":"c1\u0000x","connectionStatus":"open"}]}'
	run_chipctl 75 sync-evolution
	[[ "$stderr" == *'cannot sync with Evolution, nothing changed'*'error="fetchInstances: row 1: malformed answer: name a string with a NUL inside"'* ]]
	script evolution '{"status":200,"body":[{"name":"c2","connectionStatus":"open"},{"name":"c1","connectionStatus":"open\u0000"}]}'
	run_chipctl 75 sync-evolution
	[[ "$stderr" == *'row 2: malformed answer: connectionStatus a string with a NUL inside'* ]]
	script evolution "{\"status\":200,\"body_b64\":\"$(b64 '[{"name":"c1","connectionStatus":"open","profileName":"caf\xe9"}]')\"}"
	run_chipctl 75 sync-evolution
	[[ "$stderr" == *'row 1: malformed answer: profileName not UTF-8 text'* ]]
	script evolution '{"status":200,"body":[{"name":"c1","connectionStatus":true}]}'
	run_chipctl 75 sync-evolution
	[[ "$stderr" == *'row 1: malformed answer: connectionStatus not a string'* ]]
	script evolution '{"status":200,"body":[{"name":7,"connectionStatus":"open"}]}'
	run_chipctl 75 sync-evolution
	[[ "$stderr" == *'row 1: malformed answer: name not a string'* ]]
	script evolution '{"status":200,"body":[{"instance":{"instanceName":"c1\u0000","status":"open"}}]}'
	run_chipctl 75 sync-evolution
	[[ "$stderr" == *'row 1: malformed answer: instance.instanceName a string with a NUL inside'* ]]
	script evolution '{"status":200,"body":["c1"]}'
	run_chipctl 75 sync-evolution
	[[ "$stderr" == *'row 1: malformed answer: not an object'* ]]
	unchanged
	# every run recorded as failed, its error stored as it was said
	[ "$(psql_q "SELECT count(*) FROM job_executions WHERE job_name = 'sync-evolution' AND status = 'failed' AND exit_code = 75 AND error LIKE 'fetchInstances: row %: malformed answer: %'")" -eq 7 ]
	# the same answer well formed is applied: the test can fail
	script evolution '{"status":200,"body":[{"name":"c1","connectionStatus":"open"},{"name":"c2","connectionStatus":"close"}]}'
	run_chipctl 0 sync-evolution
	[ "$(psql_q "SELECT string_agg(instance_name || ':' || evolution_connected, ',' ORDER BY instance_name) FROM chips")" = "c1:true,c2:false" ]
}

@test "connectionState with a NUL or a wrong type in state: 75, nothing written" {
	use_evolution
	conf 'sync: { method = "connection_state"; parallel = 1; };'
	chip c1
	snapshot
	script evolution '{"status":200,"body":{"instance":{"instanceName":"c1","state":"open\u0000"}}}'
	run_chipctl 75 sync-evolution
	[[ "$stderr" == *"connectionState 'c1': malformed answer: instance.state a string with a NUL inside"* ]]
	script evolution '{"status":200,"body":{"instance":{"instanceName":"c1","state":["open"]}}}'
	run_chipctl 75 sync-evolution
	[[ "$stderr" == *"instance.state not a string"* ]]
	unchanged
}

@test "Evolution's and Z-API's error texts with a NUL or bytes that are not UTF-8 are stored escaped, never a failed statement" {
	use_evolution
	fake_start zapi
	export ZAPI_API_URL="$FAKE_ZAPI_URL" ZAPI_CLIENT_TOKEN="$FAKE_ZAPI_CLIENT_TOKEN"
	add_secret "$FAKE_ZAPI_CLIENT_TOKEN"
	add_secret tok-Z1
	chip c1
	chip z1 zapi Z1
	fake_ctl zapi /__control/instances '[{"id":"Z1","token":"tok-Z1","connected":false}]' >/dev/null
	snapshot
	script evolution "{\"status\":500,\"body_b64\":\"$(b64 '{"status":500,"response":{"message":["down\\u0000 for caf\xe9"]}}')\"}"
	script zapi "{\"status\":500,\"body_b64\":\"$(b64 '{"error":"oops\\u0000 \xff\xfe"}')\"}"
	run_chipctl 75 sync-evolution
	# (the log doubles each backslash of a value)
	[[ "$stderr" == *'HTTP 500: down\\x00 for caf\\xe9'* ]]
	[[ "$stderr" == *"cannot read the Z-API status"*'HTTP 500: oops\\x00 \\xff\\xfe'* ]]
	[ "$(psql_q "SELECT status, exit_code, error FROM job_executions ORDER BY id DESC LIMIT 1")" = 'failed|75|fetchInstances: HTTP 500: down\x00 for caf\xe9' ]
	unchanged
	# a "connected" that is not a boolean is a malformed answer: the chip is left as it was
	psql_q "UPDATE chips SET zapi_connected = true WHERE instance_name = 'z1'"
	snapshot
	for connected in '"false"' 0 null '{"v":false}'; do
		script zapi "{\"status\":200,\"body\":{\"connected\":$connected}}"
		run_chipctl 75 sync-evolution
		[[ "$stderr" == *"Z-API status 'Z1': malformed answer (HTTP 200, "*"connected "* ]]
	done
	[[ "$stderr" == *'connected not a boolean'* ]]
	unchanged
	run_chipctl 75 sync-evolution	# the fake's own answer, connected false: believed
	[ "$(psql_q "SELECT zapi_connected FROM chips WHERE instance_name = 'z1'")" = f ]
}

@test "a Salvy answer with a NUL, bytes that are not UTF-8 or a wrong type makes no chip: 75, the field named" {
	fake_start salvy
	export SALVY_API_URL="$FAKE_SALVY_URL" SALVY_API_KEY="$FAKE_SALVY_APIKEY"
	add_secret "$FAKE_SALVY_APIKEY"
	script salvy '{"status":200,"body":{"id":"acc-1\u0000x","phoneNumber":"+5511987654321","status":"active"}}'
	run_chipctl 75 provision --area-code 11
	[[ "$stderr" == *'Salvy did not provision a number'*'error="Salvy POST: malformed answer: id a string with a NUL inside"'* ]]
	script salvy "{\"status\":200,\"body_b64\":\"$(b64 '{"id":"acc-\xff","phoneNumber":"+5511987654321"}')\"}"
	run_chipctl 75 provision --area-code 11
	[[ "$stderr" == *'malformed answer: id not UTF-8 text'* ]]
	script salvy '{"status":200,"body":{"id":"acc-1","phoneNumber":5511987654321}}'
	run_chipctl 75 provision --area-code 11
	[[ "$stderr" == *'malformed answer: phoneNumber not a string'* ]]
	script salvy '{"status":200,"body":{"id":"acc-1","phoneNumber":"+55 11 98765\u0000"}}'
	run_chipctl 75 provision --area-code 11
	[[ "$stderr" == *'malformed answer: phoneNumber a string with a NUL inside'* ]]
	script salvy '{"status":200,"body":{"id":"acc-1","phoneNumber":"call me"}}'
	run_chipctl 75 provision --area-code 11
	[[ "$stderr" == *'malformed answer: phoneNumber not a phone number of 10 to 15 digits'* ]]
	# an error text is only stored: escaped, and the request is recorded
	script salvy "{\"status\":500,\"body_b64\":\"$(b64 '{"code":"internal\xc0","message":"no\\u0000pe"}')\"}"
	run_chipctl 75 provision --area-code 11
	[ "$(psql_q "SELECT count(*) FROM chips")" -eq 0 ]
	[ "$(psql_q "SELECT string_agg(status, ',') FROM provisioning_requests")" = "failed,failed,failed,failed,failed,failed" ]
	[ "$(psql_q "SELECT error FROM provisioning_requests ORDER BY id DESC LIMIT 1")" = 'Salvy POST: HTTP 500 internal\xc0: no\x00pe' ]
	# the fake's own answer is taken: the test can fail
	run_chipctl 0 provision --area-code 11
	[ "$(psql_q "SELECT count(*) FROM chips WHERE salvy_account_id IS NOT NULL")" -eq 1 ]
}
