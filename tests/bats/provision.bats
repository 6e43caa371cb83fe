#!/usr/bin/env bats
# provision: new numbers from Salvy with their Evolution instances.
load ../lib/common

use_salvy() {
	fake_start salvy
	export SALVY_API_URL="$FAKE_SALVY_URL" SALVY_API_KEY="$FAKE_SALVY_APIKEY"
	add_secret "$FAKE_SALVY_APIKEY"
}
use_evolution() {
	fake_start evolution
	export EVOLUTION_API_URL="$FAKE_EVOLUTION_URL" EVOLUTION_API_KEY="$FAKE_EVOLUTION_APIKEY"
	add_secret "$FAKE_EVOLUTION_APIKEY"
}

@test "provision N numbers: Salvy, then Evolution, the chips pending" {
	use_salvy
	use_evolution
	t0=$(date +%s)
	run_chipctl 0 provision --area-code 21 --count 2 --actor bob --json
	[ $(( $(date +%s) - t0 )) -lt 120 ]	# seed KPI: provisioned -> pending in under 2 min
	[ "$output" = '{"dry_run":false,"requested":2,"allowed":2,"provisioned":2,"pending":2}' ]
	[ "$(psql_q "SELECT count(*) FROM chips WHERE status = 'pending' AND telefone ~ '^55219[0-9]{8}$' AND instance_name = 'chip-' || telefone AND salvy_account_id IS NOT NULL")" -eq 2 ]
	[ "$(psql_q "SELECT requested, provisioned, area_code, status, reason, actor FROM provisioning_requests")" = "2|2|21|fulfilled|manual|operator:bob" ]
	[ "$(psql_q "SELECT count(*) FROM chip_status_transitions WHERE actor = 'operator:bob'")" -eq 4 ]
	run python3 -c 'import json,sys; r=[x for x in json.load(sys.stdin) if x["path"].startswith("/instance/create")][0]; b=r["json"]; print(b["qrcode"], b["integration"], b["instanceName"] == "chip-" + b["number"])' < <(fake_requests evolution)
	[ "$output" = "True WHATSAPP-BAILEYS True" ]
}

@test "default area code and count come from the config; without Evolution the chips stay provisioned" {
	use_salvy
	conf 'salvy: { area_code = 31; };'
	run_chipctl 0 provision
	[ "$(psql_q "SELECT status, telefone LIKE '5531%' FROM chips")" = "provisioned|t" ]
}

@test "the daily bound: only what it allows, exit 75" {
	use_salvy
	conf 'salvy: { max_per_day = 3; };'
	run_chipctl 0 provision --count 2
	run_chipctl 75 provision --count 2
	[[ "$stderr" == *"daily bound: 2 of salvy.max_per_day 3 used in the last 24 h"* ]]
	[ "$(psql_q "SELECT count(*) FROM chips")" -eq 3 ]
	[ "$(psql_q "SELECT string_agg(status, ',' ORDER BY id) FROM provisioning_requests")" = "fulfilled,partial" ]
	run_chipctl 75 provision
	[ "$(fake_count salvy POST /api/v2/virtual-phone-accounts)" -eq 3 ]
	psql_q "UPDATE chips SET provisioned_at = now() - interval '25 hours'"
	run_chipctl 0 provision -n --count 3 --json
	[[ "$output" == *'"allowed":3'* ]]
}

@test "Salvy failures: refused 65, down 75, bad key 78; nothing half-made" {
	use_salvy
	fake_ctl salvy /__control/area-codes '{"available":[11]}' >/dev/null
	run_chipctl 65 provision --area-code 21
	[[ "$stderr" == *"HTTP 400 area_code_unavailable: Area code 21 is not available"* ]]
	fake_ctl salvy /__control/script '{"responses":[{"status":500,"body":{"code":"internal","message":"oops","publicDetails":{}}}]}' >/dev/null
	run_chipctl 75 provision --area-code 11
	fake_ctl salvy /__control/script '{"responses":[{"status":200,"body":"<html>"}]}' >/dev/null
	run_chipctl 75 provision --area-code 11
	SALVY_API_KEY=not-the-key run_chipctl 78 provision --area-code 11
	[ "$(psql_q "SELECT count(*) FROM chips")" -eq 0 ]
	[ "$(psql_q "SELECT string_agg(status, ',') FROM provisioning_requests")" = "failed,failed,failed,failed" ]
}

@test "usage and configuration errors" {
	run_chipctl 64 provision --count 0
	run_chipctl 64 provision --count 101
	run_chipctl 64 provision --area-code 1
	run_chipctl 64 provision extra
	run_chipctl 78 provision
	[[ "$stderr" == *"salvy.api_key must be set"* ]]
}
