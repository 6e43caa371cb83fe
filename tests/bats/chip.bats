#!/usr/bin/env bats
# chip show|explain|promote|demote|ban|cooldown (T10.2, T05.4).
load ../lib/common

chip() {	# chip NAME STATUS [SQL assignments]
	psql_q "INSERT INTO chips (telefone, instance_name, status, evolution_connected)
	        VALUES ('5511' || lpad((abs(hashtext('$1')) % 100000000)::text, 9, '9'), '$1', '$2', true)"
	[ -z "${3:-}" ] || psql_q "UPDATE chips SET $3 WHERE instance_name = '$1'"
}
status_of() { psql_q "SELECT status FROM chips WHERE instance_name = '$1'"; }

@test "show finds a chip by uuid, instance name or phone" {
	chip c1 active "telefone = '5511987654321', trust_score = 77"
	id=$(psql_q "SELECT id FROM chips")
	psql_q "INSERT INTO circuit_breakers (name, kind, chip_id, state) VALUES ('chip:$id', 'chip', '$id', 'open')"
	for ref in "$id" c1 5511987654321 "+55 (11) 98765-4321"; do
		run_chipctl 0 chip show "$ref"
		[[ "$output" == *"instance_name"*"c1"* ]]
		[[ "$output" == *"state"*"open"* ]]
	done
	run_chipctl 0 chip show c1 --json
	[ "$(echo "$output" | python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["chip"]["trust_score"], o["breaker"]["state"], o["transitions"], o["sent_24h"])')" = "77.0 open [] 0" ]
}

@test "show: why the chip would be demoted now, its transitions and its migrations" {
	chip src degraded "demovido_motivo = 'muitos_erros:12', erros_ultimas_24h = 12"
	chip dst ready
	run_chipctl 0 chip promote dst --reason "check the history" --actor ana
	src=$(psql_q "SELECT id FROM chips WHERE instance_name = 'src'")
	dst=$(psql_q "SELECT id FROM chips WHERE instance_name = 'dst'")
	psql_q "INSERT INTO chip_migrations (conversa_id, cliente_id, chip_origem, chip_destino, interacoes_count, motivo, continuidade_agendada, mensagem_id)
	        VALUES ('conv-1', 'dr1', '$src', '$dst', 3, 'chip_degraded:muitos_erros:12', true, 77)"
	run_chipctl 0 chip show src
	[[ "$output" == *"demotion_reason            muitos_erros:12"* ]]
	[[ "$output" == *"migrations:"*"conversation conv-1 (cliente dr1): src -> dst: chip_degraded:muitos_erros:12; continuity message scheduled"* ]]
	[[ "$output" == *"msgs_enviadas_total"*"msgs_recebidas_total"* ]]
	run_chipctl 0 chip show dst
	[[ "$output" == *"demotion_reason            none (nothing would demote it now)"* ]]
	[[ "$output" == *"transitions:"*"ready -> active  by operator:ana: check the history"* ]]
	[[ "$output" == *"conversation conv-1 (cliente dr1): src -> dst"* ]]
	run_chipctl 0 chip show dst --json
	run python3 -c '
import json, sys
o = json.loads(sys.argv[1])
m = o["migrations"][0]
print(o["demotion_reason"], m["direction"], m["chip_origem"], m["chip_destino"], m["interacoes_count"], m["mensagem_id"])' "$output"
	[ "$output" = "None in src dst 3 77" ]
}

@test "an instance name wins over another chip's phone; two chips with one phone are ambiguous" {
	chip 5511900000001 active "telefone = '5511900000009'"
	chip other ready "telefone = '5511900000001'"
	run_chipctl 0 chip show 5511900000001 --json
	[[ "$output" == *'"instance_name" : "5511900000001"'* || "$output" == *'"instance_name": "5511900000001"'* ]]
	chip twin ready "telefone = '5511900000009'"
	run_chipctl 65 chip show +55-11-900000009
	[[ "$stderr" == *"chip reference is ambiguous"* ]]
}

@test "an unknown chip: exit 65 with a clear error; usage errors exit 64" {
	chip c1 active
	run_chipctl 65 chip show nope
	[[ "$stderr" == *'msg="no such chip" chip=nope'* ]]
	run_chipctl 65 chip promote 00000000-0000-0000-0000-000000000000 --reason x
	run_chipctl 65 chip demote 5511000000000 --reason x
	run_chipctl 64 chip frobnicate c1
	[[ "$stderr" == *"unknown subcommand 'frobnicate'"* ]]
	run_chipctl 64 chip promote c1
	[[ "$stderr" == *"--reason is required"* ]]
	run_chipctl 64 chip show
	run_chipctl 64 chip cooldown c1 --reason x
	run_chipctl 64 chip cooldown c1 --reason x --minutes -1
	run_chipctl 64 chip show c1 extra
}

@test "promote moves one step forward, audited with the actor and reason" {
	chip w warming
	chip r ready
	chip p pending
	run_chipctl 0 chip promote w --reason "checked by hand" --actor alice
	[ "$output" = "w: warming -> ready" ]
	run_chipctl 0 chip promote r --reason "need capacity" --actor alice
	run_chipctl 0 chip promote p --reason "qr scanned" --actor alice
	[ "$(psql_q "SELECT string_agg(instance_name || ':' || status, ',' ORDER BY instance_name) FROM chips")" = "p:warming,r:active,w:ready" ]
	[ "$(psql_q "SELECT from_status, to_status, reason, actor FROM chip_status_transitions WHERE chip_id = (SELECT id FROM chips WHERE instance_name = 'w')")" = "warming|ready|checked by hand|operator:alice" ]
	[ "$(psql_q "SELECT count(*) FROM chip_manual_actions WHERE actor = 'operator:alice' AND action = 'promote'")" -eq 3 ]
	USER=bob run_chipctl 0 chip promote w --reason again
	[ "$(psql_q "SELECT actor FROM chip_status_transitions ORDER BY id DESC LIMIT 1")" = "operator:bob" ]
	run_chipctl 65 chip promote w --reason "already active"
	[[ "$stderr" == *"cannot be promoted"* ]]
}

@test "demote, then promote back only through recovery" {
	chip a active
	run_chipctl 0 chip demote a --reason "customer complaint"
	[ "$(psql_q "SELECT status, demovido_motivo, demovido_em IS NOT NULL FROM chips")" = "degraded|customer complaint|t" ]
	run_chipctl 65 chip demote a --reason again
	run_chipctl 0 chip promote a --reason "fixed"
	[ "$(psql_q "SELECT status, recovery_phase, recovery_started_at IS NOT NULL FROM chips")" = "ready|1|t" ]
}

@test "ban is final, and cancels the chip's Salvy number with reason whatsapp-ban" {
	fake_start salvy
	export SALVY_API_URL="$FAKE_SALVY_URL" SALVY_API_KEY="$FAKE_SALVY_APIKEY"
	add_secret "$FAKE_SALVY_APIKEY"
	acc=$(curl -s -X POST -H "Authorization: Bearer $FAKE_SALVY_APIKEY" -H 'Content-Type: application/json' \
		-d '{"areaCode":11,"name":"x"}' "$FAKE_SALVY_URL/api/v2/virtual-phone-accounts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	chip b active "salvy_account_id = '$acc'"
	run_chipctl 0 chip ban b --reason "banned by WhatsApp" --actor carol
	[ "$(psql_q "SELECT status, salvy_canceled_at IS NOT NULL FROM chips")" = "banned|t" ]
	run curl -s -H "Authorization: Bearer $FAKE_SALVY_APIKEY" "$FAKE_SALVY_URL/api/v2/virtual-phone-accounts/$acc"
	[[ "$output" == *'"status": "canceled"'*'"cancelReason": "whatsapp-ban"'* || "$output" == *'"status":"canceled"'*'"cancelReason":"whatsapp-ban"'* ]]
	[ "$(psql_q "SELECT alert_type, subject FROM alert_outbox")" = "chip_banned|b" ]
	for sub in promote demote ban; do
		run_chipctl 65 chip $sub b --reason x
		[[ "$stderr" == *"banned is final"* ]]
	done
	run_chipctl 65 chip cooldown b --reason x --minutes 5
	[ "$(psql_q "SELECT count(*) FROM chip_status_transitions")" -eq 1 ]
}

@test "a Salvy failure on ban keeps the ban; pool-check cancels the number later" {
	fake_start salvy
	export SALVY_API_URL="$FAKE_SALVY_URL" SALVY_API_KEY="$FAKE_SALVY_APIKEY"
	acc=$(curl -s -X POST -H "Authorization: Bearer $FAKE_SALVY_APIKEY" -H 'Content-Type: application/json' \
		-d '{"areaCode":11,"name":"x"}' "$FAKE_SALVY_URL/api/v2/virtual-phone-accounts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	chip b active "salvy_account_id = '$acc'"
	fake_ctl salvy /__control/script '{"responses":[{"status":503,"body":{"code":"unavailable","message":"down","publicDetails":{}}}]}' >/dev/null
	run_chipctl 0 chip ban b --reason x
	[[ "$stderr" == *"cannot cancel the Salvy number"*"HTTP 503 unavailable"* ]]
	[ "$(psql_q "SELECT status, salvy_canceled_at IS NULL FROM chips")" = "banned|t" ]
	conf 'pool: { min_active = 0; min_ready = 0; min_warming = 0; };'
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"salvy_cancelled":1'* ]]
	[ "$(psql_q "SELECT salvy_canceled_at IS NOT NULL FROM chips")" = t ]
}

@test "cooldown sets and lifts cooldown_until, audited" {
	chip c active
	run_chipctl 0 chip cooldown c --minutes 30 --reason "too many blocks" --actor dan
	[ "$(psql_q "SELECT cooldown_until BETWEEN now() + interval '29 minutes' AND now() + interval '30 minutes', cooldown_reason FROM chips")" = "t|too many blocks" ]
	[ "$(psql_q "SELECT action, reason, actor, details->>'minutes' FROM chip_manual_actions")" = "cooldown|too many blocks|operator:dan|30" ]
	run_chipctl 0 chip cooldown c --minutes 0 --reason "ok now"
	[ "$output" = "c: cooldown lifted" ]
	[ "$(psql_q "SELECT cooldown_until IS NULL, cooldown_reason IS NULL FROM chips")" = "t|t" ]
	[ "$(psql_q "SELECT status FROM chips")" = active ]
}

@test "--dry-run says what would change and changes nothing" {
	chip r ready
	run_chipctl 0 chip promote r --reason x -n
	[ "$output" = "r: ready -> active (dry run)" ]
	run_chipctl 0 chip cooldown r --reason x --minutes 5 -n
	[ "$(psql_q "SELECT status, cooldown_until IS NULL FROM chips")" = "ready|t" ]
	[ "$(psql_q "SELECT (SELECT count(*) FROM chip_status_transitions) + (SELECT count(*) FROM chip_manual_actions)")" -eq 0 ]
}

@test "explain: an unknown chip exits 65; a known one explains its score" {
	chip e active
	run_chipctl 65 chip explain nope
	run_chipctl 0 chip explain e
	[ -n "$output" ]
}
