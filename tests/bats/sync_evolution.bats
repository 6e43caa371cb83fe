#!/usr/bin/env bats
# sync-evolution (T11.2, T03.7, T05.2).
load ../lib/common

chip() {	# chip NAME [STATUS [PROVIDER]]: insert one
	psql_q "INSERT INTO chips (telefone, instance_name, status, provider)
	        VALUES ('5511' || lpad((abs(hashtext('$1')) % 100000000)::text, 9, '9'),
	                '$1', '${2:-active}', '${3:-evolution}')"
}

use_evolution() {
	fake_start evolution
	export EVOLUTION_API_URL="$FAKE_EVOLUTION_URL" EVOLUTION_API_KEY="$FAKE_EVOLUTION_APIKEY"
	add_secret "$FAKE_EVOLUTION_APIKEY"
}

instances() { fake_ctl evolution /__control/instances "$1" >/dev/null; }

state() { psql_q "SELECT evolution_connected, desconectado_desde IS NOT NULL FROM chips WHERE instance_name = '$1'"; }

@test "open, close, connecting, not loaded and missing instances map to connected or not" {
	use_evolution
	for c in c_open c_close c_connecting c_unloaded c_missing; do chip $c; done
	chip z_zapi active zapi
	instances '[{"name":"c_open","connectionStatus":"open","ownerJid":"5511987654321@s.whatsapp.net","profileName":"Loja","number":"5511987654321"},
	            {"name":"c_close","connectionStatus":"close"},
	            {"name":"c_connecting","connectionStatus":"connecting"},
	            {"name":"c_unloaded","connectionStatus":"open","state":null},
	            {"name":"stranger","connectionStatus":"open"}]'
	run_chipctl 0 sync-evolution --json
	[ "$output" = '{"dry_run":false,"chips":5,"connected":2,"disconnected":3,"missing":1,"newly_disconnected":0,"reconnected":2,"changed":5,"unknown_instances":1,"zapi":{"chips":1,"connected":0,"disconnected":1,"missing":1,"failed":0,"changed":1}}' ]
	[ "$(state c_open)" = "t|f" ]
	[ "$(state c_unloaded)" = "t|f" ]	# fetchInstances reports the stored status
	[ "$(state c_close)" = "f|t" ]
	[ "$(state c_connecting)" = "f|t" ]
	[ "$(state c_missing)" = "f|t" ]
	# not an Evolution chip: its own provider's state (no instance id: disconnected)
	[ "$(psql_q "SELECT evolution_connected, zapi_connected, desconectado_desde IS NOT NULL FROM chips WHERE instance_name = 'z_zapi'")" = "f|f|t" ]
	[ "$(psql_q "SELECT owner_jid, profile_name, evolution_number FROM chips WHERE instance_name = 'c_open'")" = "5511987654321@s.whatsapp.net|Loja|5511987654321" ]
	[ "$(fake_count evolution GET /instance/fetchInstances)" -eq 1 ]
	[ "$(psql_q "SELECT status, counts->>'disconnected' FROM job_executions WHERE job_name = 'sync-evolution'")" = "success|3" ]
}

@test "desconectado_desde is set at the first miss, kept, and cleared on reconnection" {
	use_evolution
	chip c1
	instances '[{"name":"c1","connectionStatus":"close"}]'
	run_chipctl 0 sync-evolution
	[ "$(state c1)" = "f|t" ]
	psql_q "UPDATE chips SET desconectado_desde = '2026-01-01 10:00+00'"
	run_chipctl 0 sync-evolution
	[ "$(psql_q "SELECT desconectado_desde = '2026-01-01 10:00+00' FROM chips")" = t ]
	fake_ctl evolution /__control/status '{"instance":"c1","connectionStatus":"open"}' >/dev/null
	run_chipctl 0 sync-evolution --json
	[[ "$output" == *'"reconnected":1'* ]]
	[ "$(state c1)" = "t|f" ]
	run_chipctl 0 sync-evolution --json
	[[ "$output" == *'"changed":0'* ]]	# nothing rewritten when nothing changed
}

@test "more than 30 % disconnected raises one alert per cooldown; 30 % does not" {
	use_evolution
	for i in 1 2 3 4 5 6 7 8 9 10; do chip "chip$(printf %02d $i)"; done
	fake_ctl evolution /__control/instances/generate '{"count":10,"open_ratio":0.7}' >/dev/null
	run_chipctl 0 sync-evolution
	[ "$(psql_q "SELECT count(*) FROM alert_outbox")" -eq 0 ]
	fake_ctl evolution /__control/status '{"instance":"chip01","connectionStatus":"close"}' >/dev/null
	run_chipctl 0 sync-evolution
	run_chipctl 0 sync-evolution
	[ "$(psql_q "SELECT count(*), min(alert_type), min(severity) FROM alert_outbox")" = "1|evolution_disconnected|critical" ]
	[[ "$(psql_q "SELECT text FROM alert_outbox")" == "4/10 Evolution instances disconnected"* ]]
	psql_q "UPDATE alert_state SET last_raised_at = now() - interval '31 minutes'"
	run_chipctl 0 sync-evolution
	[ "$(psql_q "SELECT count(*) FROM alert_outbox")" -eq 2 ]
}

@test "401, a hang, garbage and a huge answer: exit 75, nothing changed" {
	use_evolution
	conf 'evolution: { timeout_ms = 500; }; sync: { max_response_bytes = 100000; };'
	chip c1
	chip c2
	psql_q "UPDATE chips SET evolution_connected = true"
	instances '[{"name":"c1","connectionStatus":"close"}]'
	before=$(psql_q "SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM chips c")
	for mode in unauthorized hang garbage huge server_error; do
		fake_ctl evolution /__control/fetch "{\"mode\":\"$mode\"}" >/dev/null
		run_chipctl 75 sync-evolution
		[[ "$stderr" == *"cannot sync with Evolution, nothing changed"* ]]
		[ "$(psql_q "SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM chips c")" = "$before" ]
	done
	[ "$(psql_q "SELECT count(*) FROM job_executions WHERE status = 'failed' AND exit_code = 75")" -eq 5 ]
	fake_ctl evolution /__control/fetch '{"mode":"ok"}' >/dev/null
	EVOLUTION_API_KEY=wrong-key-456 run_chipctl 75 sync-evolution
	[[ "$stderr" == *"HTTP 401: Unauthorized"* ]]
}

@test "connectionState mode: one call per chip, bounded in parallel, same mapping" {
	use_evolution
	conf 'sync: { method = "connection_state"; parallel = 3; };'
	for c in c1 c2 c3 c4 c5 c6 c7; do chip $c; done
	instances '[{"name":"c1","connectionStatus":"open"},{"name":"c2","connectionStatus":"close"},
	            {"name":"c3","connectionStatus":"open","state":"connecting"},
	            {"name":"c4","connectionStatus":"open","state":null},
	            {"name":"c5","connectionStatus":"open"},{"name":"c6","connectionStatus":"open"}]'
	run_chipctl 0 sync-evolution --json
	[[ "$output" == *'"chips":7,"connected":3,"disconnected":4,"missing":1,'* ]]
	[ "$(state c3)" = "f|t" ]	# the live state wins in this mode
	[ "$(state c4)" = "f|t" ]	# not loaded: no state
	[ "$(state c7)" = "f|t" ]	# 404: missing
	[ "$(fake_count evolution GET /instance/connectionState/)" -eq 7 ]
	[ "$(fake_count evolution GET /instance/fetchInstances)" -eq 0 ]
	# a hang on one call fails the run, nothing changed
	conf 'evolution: { timeout_ms = 500; };'
	fake_ctl evolution /__control/script '{"responses":[{"hang":true}]}' >/dev/null
	fake_ctl evolution /__control/status '{"instance":"c2","connectionStatus":"open"}' >/dev/null
	run_chipctl 75 sync-evolution
	[ "$(state c2)" = "f|t" ]
}

@test "a pending chip whose instance is open moves to warming" {
	use_evolution
	chip p1 pending
	chip p2 pending
	chip pr provisioned
	instances '[{"name":"p1","connectionStatus":"open"},{"name":"p2","connectionStatus":"connecting"},
	            {"name":"pr","connectionStatus":"open"}]'
	run_chipctl 0 sync-evolution
	[ "$(psql_q "SELECT string_agg(instance_name || ':' || status, ',' ORDER BY instance_name) FROM chips")" = "p1:warming,p2:pending,pr:provisioned" ]
	[ "$(psql_q "SELECT from_status, to_status, reason, actor FROM chip_status_transitions")" = "pending|warming|qr_scanned|job:sync-evolution" ]
	[ "$(psql_q "SELECT warming_started_at IS NOT NULL FROM chips WHERE instance_name = 'p1'")" = t ]
}

@test "--dry-run asks the server and changes nothing" {
	use_evolution
	chip c1 pending
	instances '[{"name":"c1","connectionStatus":"open"}]'
	run_chipctl 0 sync-evolution -n --json
	[[ "$output" == *'"dry_run":true,"chips":1,"connected":1,'* ]]
	[ "$(psql_q "SELECT status, evolution_connected FROM chips")" = "pending|f" ]
	[ "$(psql_q "SELECT count(*) FROM chip_status_transitions")" -eq 0 ]
}

@test "without evolution.url and api_key: exit 78" {
	chip c1
	run_chipctl 78 sync-evolution
	[[ "$stderr" == *"evolution.url and evolution.api_key must be set"* ]]
}

@test "the v1 fetchInstances shape is understood too" {
	use_evolution
	chip a
	chip b
	fake_ctl evolution /__control/script '{"responses":[{"status":200,"body":[
	  {"instance":{"instanceName":"a","instanceId":"x1","owner":"5511911112222@s.whatsapp.net","profileName":"A","status":"open"}},
	  {"instance":{"instanceName":"b","instanceId":"x2","status":"close"}}]}]}' >/dev/null
	run_chipctl 0 sync-evolution --json
	[[ "$output" == *'"chips":2,"connected":1,"disconnected":1,"missing":0,'* ]]
	[ "$(psql_q "SELECT owner_jid, profile_name FROM chips WHERE instance_name = 'a'")" = "5511911112222@s.whatsapp.net|A" ]
}

@test "an answer of the wrong JSON type names what was wrong" {
	use_evolution
	chip a
	fake_ctl evolution /__control/script '{"responses":[{"status":200,"body":{"instances":[]}}]}' >/dev/null
	run_chipctl 75 sync-evolution
	[[ "$stderr" == *"fetchInstances: expected a JSON array, got object"* ]]
	fake_ctl evolution /__control/script '{"responses":[{"status":200,"body":"[{\"name\":\"a\",\"connectionStatus\":\"op"}]}' >/dev/null
	run_chipctl 75 sync-evolution
	[[ "$stderr" == *"fetchInstances: invalid JSON at offset"* ]]
	[ "$(psql_q "SELECT desconectado_desde IS NULL FROM chips")" = t ]
}

@test "an empty instance list while there are chips is not believed: exit 75" {
	use_evolution
	chip a
	psql_q "UPDATE chips SET evolution_connected = true"
	instances '[]'
	run_chipctl 75 sync-evolution
	[[ "$stderr" == *"fetchInstances listed no instance at all"* ]]
	[ "$(state a)" = "t|f" ]
	# with connectionState each chip is asked: a 404 there is believed
	conf 'sync: { method = "connection_state"; };'
	run_chipctl 0 sync-evolution
	[ "$(state a)" = "f|t" ]
}

# zchip NAME ID: a Z-API chip with instance id ID (token tok-ID)
zchip() {
	psql_q "INSERT INTO chips (telefone, instance_name, status, provider, zapi_instance_id, zapi_token)
	        VALUES ('5511' || lpad((abs(hashtext('$1')) % 100000000)::text, 9, '9'),
	                '$1', 'active', 'zapi', NULLIF('$2', ''), NULLIF('tok-$2', 'tok-'))"
}
zstate() { psql_q "SELECT zapi_connected, desconectado_desde IS NOT NULL FROM chips WHERE instance_name = '$1'"; }

use_zapi() {
	fake_start zapi
	export ZAPI_API_URL="$FAKE_ZAPI_URL" ZAPI_CLIENT_TOKEN="$FAKE_ZAPI_CLIENT_TOKEN"
	add_secret "$FAKE_ZAPI_CLIENT_TOKEN"
	add_secret "tok-Z1"
}

@test "Z-API chips: GET .../status sets zapi_connected; the first miss is kept; a disconnected one is not sendable" {
	use_evolution
	use_zapi
	instances '[]'
	chip e1
	instances '[{"name":"e1","connectionStatus":"open"}]'
	zchip z_on Z1
	zchip z_off Z2
	zchip z_gone Z3
	zchip z_noid ''
	fake_ctl zapi /__control/instances '[{"id":"Z1","token":"tok-Z1","connected":true},{"id":"Z2","token":"tok-Z2","connected":false}]' >/dev/null
	run_chipctl 0 sync-evolution --json
	[[ "$output" == *'"zapi":{"chips":4,"connected":1,"disconnected":3,"missing":2,"failed":0,"changed":3}}' ]]
	[ "$(zstate z_on)" = "t|f" ]
	[ "$(zstate z_off)" = "f|t" ]
	[ "$(zstate z_gone)" = "f|t" ]
	[ "$(zstate z_noid)" = "f|t" ]
	[ "$(fake_count zapi GET /instances/Z1/token/tok-Z1/status)" -eq 1 ]
	[ "$(psql_q "SELECT string_agg(instance_name || ':' || sendable, ',' ORDER BY instance_name) FROM chipctl_chip_now WHERE provider = 'zapi'")" = "z_gone:false,z_noid:false,z_off:false,z_on:true" ]
	psql_q "UPDATE chips SET desconectado_desde = '2026-01-01 10:00+00' WHERE instance_name = 'z_off'"
	run_chipctl 0 sync-evolution
	[ "$(psql_q "SELECT desconectado_desde = '2026-01-01 10:00+00' FROM chips WHERE instance_name = 'z_off'")" = t ]
	fake_ctl zapi /__control/instances '[{"id":"Z1","token":"tok-Z1","connected":true},{"id":"Z2","token":"tok-Z2","connected":true}]' >/dev/null
	run_chipctl 0 sync-evolution --json
	[[ "$output" == *'"zapi":{"chips":4,"connected":2,"disconnected":2,"missing":2,"failed":0,"changed":1}}' ]]
	[ "$(zstate z_off)" = "t|f" ]
	[ "$(psql_q "SELECT evolution_connected FROM chips WHERE instance_name = 'e1'")" = t ]
}

@test "Z-API status that cannot be read: the chip is left as it was, the others are synced, exit 75" {
	use_evolution
	use_zapi
	conf 'zapi: { timeout_ms = 500; };'
	chip e1
	instances '[{"name":"e1","connectionStatus":"open"}]'
	zchip z1 Z1
	zchip z2 Z2
	fake_ctl zapi /__control/instances '[{"id":"Z1","token":"tok-Z1","connected":false},{"id":"Z2","token":"tok-Z2","connected":false}]' >/dev/null
	fake_ctl zapi /__control/script '{"responses":[{"status":500,"body":{"error":"Internal Server Error"}}]}' >/dev/null
	run_chipctl 75 sync-evolution
	[[ "$stderr" == *"cannot read the Z-API status"*"HTTP 500"* ]]
	[ "$(zstate z1)" = "t|f" ]	# unknown: left as it was
	[ "$(zstate z2)" = "f|t" ]
	[ "$(psql_q "SELECT evolution_connected FROM chips WHERE instance_name = 'e1'")" = t ]
	[ "$(psql_q "SELECT status, exit_code FROM job_executions ORDER BY id DESC LIMIT 1")" = "failed|75" ]
	# a refused Client-Token: nothing changes, and it is not printed
	psql_q "UPDATE chips SET zapi_connected = true, desconectado_desde = NULL WHERE provider = 'zapi'"
	ZAPI_CLIENT_TOKEN=wrong-zapi-token-789 run_chipctl 75 sync-evolution
	[[ "$stderr" == *"not allowed"* ]]
	[ "$(zstate z1)|$(zstate z2)" = "t|f|t|f" ]
	[ "$(fake_count zapi GET /instances/Z2/token/tok-Z2/status)" -eq 1 ]	# stopped after the first refusal
	# the instance token never appears in the output
	[[ "$output$stderr" != *"tok-Z1"* ]]
}
