#!/usr/bin/env bats
# pool-check (T11.1, T11.3, T10.3, T11.4).
load ../lib/common

# chip NAME STATUS [SQL assignments]: insert a connected Evolution chip
chip() {
	psql_q "INSERT INTO chips (telefone, instance_name, status, evolution_connected, trust_score)
	        VALUES ('5511' || lpad((abs(hashtext('$1')) % 100000000)::text, 9, '9'), '$1', '$2', true, 70)"
	[ -z "${3:-}" ] || psql_q "UPDATE chips SET $3 WHERE instance_name = '$1'"
}
status_of() { psql_q "SELECT status FROM chips WHERE instance_name = '$1'"; }
id_of() { psql_q "SELECT id FROM chips WHERE instance_name = '$1'"; }
quiet_pool() { conf "pool: { min_active = ${1:-0}; min_ready = 0; min_warming = 0; ${2:-} };"; }

@test "each demotion rule alone demotes; a chip just inside every limit is kept" {
	quiet_pool
	chip a_trust active "trust_score = 39.99"
	chip a_errors active "erros_ultimas_24h = 11"
	chip a_disc active "evolution_connected = false, desconectado_desde = now() - interval '31 minutes'"
	chip a_block active "taxa_block = 0.0201"
	chip healthy active "trust_score = 40, erros_ultimas_24h = 10, taxa_block = 0.02,
	     evolution_connected = false, desconectado_desde = now() - interval '29 minutes'"
	chip z_ready ready "trust_score = 10"	# only active chips are demoted
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"demoted":4'* ]]
	run psql_q "SELECT instance_name, status, split_part(demovido_motivo, ':', 1) FROM chips WHERE demovido_em IS NOT NULL ORDER BY 1"
	[ "$output" = "a_block|degraded|taxa_block_alta
a_disc|degraded|desconectado_prolongado
a_errors|degraded|muitos_erros
a_trust|degraded|trust_score_critico" ]
	[ "$(status_of healthy)" = active ]
	[ "$(status_of z_ready)" = ready ]
	[ "$(psql_q "SELECT count(*) FROM chip_status_transitions WHERE from_status = 'active' AND to_status = 'degraded' AND actor = 'job:pool-check' AND run_id IS NOT NULL")" -eq 4 ]
	[ "$(psql_q "SELECT string_agg(subject, ',' ORDER BY subject) FROM alert_outbox WHERE alert_type = 'chip_demoted'")" = "a_block,a_disc,a_errors,a_trust" ]
	[ "$(psql_q "SELECT text FROM alert_outbox WHERE subject = 'a_errors'")" = "chip a_errors demoted to degraded: muitos_erros:11" ]
}

@test "a Z-API chip is demoted after 30 min disconnected from Z-API, whatever Evolution says" {
	quiet_pool
	chip z_down active "provider = 'zapi', evolution_connected = true, zapi_connected = false, desconectado_desde = now() - interval '31 minutes'"
	chip z_up active "provider = 'zapi', evolution_connected = false, zapi_connected = true, desconectado_desde = now() - interval '2 hours'"
	chip z_new active "provider = 'zapi', zapi_connected = false, desconectado_desde = now() - interval '29 minutes'"
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"demoted":1,'* ]]
	[ "$(status_of z_down)|$(status_of z_up)|$(status_of z_new)" = "degraded|active|active" ]
	[[ "$(psql_q "SELECT demovido_motivo FROM chips WHERE instance_name = 'z_down'")" == desconectado_prolongado:31min ]]
	# demotion and recovery read one definition: while Z-API says disconnected it stays degraded
	psql_q "UPDATE chips SET demovido_em = now() - interval '2 hours', trust_score = 70 WHERE instance_name = 'z_down'"
	run_chipctl 0 pool-check
	[ "$(status_of z_down)" = degraded ]
	psql_q "UPDATE chips SET zapi_connected = true, desconectado_desde = NULL WHERE instance_name = 'z_down'"
	run_chipctl 0 pool-check
	[ "$(status_of z_down)" = ready ]
	[ "$(psql_q "SELECT recovery_phase FROM chips WHERE instance_name = 'z_down'")" = 1 ]
}

@test "a degraded chip that still has a demotion reason is not recovered; one with none is" {
	quiet_pool
	chip d_err degraded "demovido_em = now() - interval '2 hours', erros_ultimas_24h = 11"
	chip d_block degraded "demovido_em = now() - interval '2 hours', taxa_block = 0.03"
	chip d_ok degraded "demovido_em = now() - interval '2 hours', erros_ultimas_24h = 10, taxa_block = 0.02"
	chip d_off degraded "demovido_em = now() - interval '2 hours', evolution_connected = false, desconectado_desde = now() - interval '5 minutes'"
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"recovered":1,'* ]]
	[ "$(status_of d_err)|$(status_of d_block)|$(status_of d_ok)|$(status_of d_off)" = "degraded|degraded|ready|degraded" ]
}

@test "the thresholds come from the config" {
	quiet_pool 0 "demote_trust_below = 60; demote_errors_24h = 2; demote_disconnected_min = 5; demote_block_rate_permille = 5;"
	chip t active "trust_score = 59"
	chip e active "trust_score = 90, erros_ultimas_24h = 3"
	chip d active "trust_score = 90, evolution_connected = false, desconectado_desde = now() - interval '6 minutes'"
	chip b active "trust_score = 90, taxa_block = 0.006"
	chip ok active "trust_score = 60, erros_ultimas_24h = 2, taxa_block = 0.005"
	run_chipctl 0 pool-check
	[ "$(psql_q "SELECT string_agg(instance_name, ',' ORDER BY instance_name) FROM chips WHERE status = 'degraded'")" = "b,d,e,t" ]
}

@test "a bad chip is demoted and replaced from ready in the same run" {
	conf 'pool: { min_active = 1; min_ready = 0; min_warming = 0; };'
	chip bad active "trust_score = 20"
	chip spare ready "trust_score = 85"
	run_chipctl 0 pool-check
	[ "$(status_of bad)" = degraded ]
	[ "$(status_of spare)" = active ]
	[ "$(psql_q "SELECT reason FROM chip_status_transitions WHERE to_status = 'active'")" = "pool_below_minimum:0/1" ]
}

@test "promotion fills the production minimum, best connected trust first" {
	quiet_pool 3
	chip act active
	chip r70 ready "trust_score = 70"
	chip r90 ready "trust_score = 90"
	chip r80 ready "trust_score = 80"
	chip r95 ready "trust_score = 95, evolution_connected = false"
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"promoted":2'* ]]
	[ "$(psql_q "SELECT string_agg(instance_name, ',' ORDER BY instance_name) FROM chips WHERE status = 'active'")" = "act,r80,r90" ]
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"promoted":0'* ]]
}

@test "warming chips graduate to ready with 21 days and trust 85" {
	quiet_pool
	chip g warming "warming_started_at = now() - interval '21 days 1 minute', trust_score = 85"
	chip young warming "warming_started_at = now() - interval '20 days', trust_score = 99"
	chip weak warming "warming_started_at = now() - interval '30 days', trust_score = 84.99"
	run_chipctl 0 pool-check
	[ "$(psql_q "SELECT string_agg(instance_name || ':' || status, ',' ORDER BY instance_name) FROM chips")" = "g:ready,weak:warming,young:warming" ]
	[[ "$(psql_q "SELECT reason FROM chip_status_transitions")" == graduated:21d_trust_85* ]]
}

@test "recovery phases ramp 10, 25, 50, 100 %; a degraded chip returns only through recovery" {
	quiet_pool
	chip p1 active "recovery_phase = 1, recovery_started_at = now() - interval '23 hours'"
	chip p2 active "recovery_phase = 1, recovery_started_at = now() - interval '25 hours'"
	chip p3 ready "recovery_phase = 2, recovery_started_at = now() - interval '3 days 1 hour'"
	chip p4 active "recovery_phase = 3, recovery_started_at = now() - interval '6 days 1 hour'"
	chip deg degraded "demovido_em = now() - interval '61 minutes', trust_score = 70"
	chip deg_new degraded "demovido_em = now() - interval '59 minutes', trust_score = 70"
	chip deg_bad degraded "demovido_em = now() - interval '2 hours', trust_score = 30"
	chip deg_cool degraded "demovido_em = now() - interval '2 hours', cooldown_until = now() + interval '5 minutes'"
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"recovery_advanced":3,"recovery_completed":1'* ]]
	run psql_q "SELECT instance_name, status, coalesce(recovery_phase::text, '-') FROM chips ORDER BY 1"
	[ "$output" = "deg|ready|1
deg_bad|degraded|-
deg_cool|degraded|-
deg_new|degraded|-
p1|active|1
p2|active|2
p3|ready|3
p4|active|-" ]
	[[ "$(psql_q "SELECT reason FROM chip_status_transitions WHERE to_status = 'ready'")" == recovered:* ]]
	[ "$(psql_q "SELECT recovery_started_at > now() - interval '1 minute' FROM chips WHERE instance_name = 'deg'")" = t ]
}

@test "migration: conversations move with the affinity, audited, continuity for recent ones" {
	quiet_pool
	chip old active "trust_score = 10"
	chip best active "trust_score = 95"
	chip fav active "trust_score = 60"
	old=$(id_of old) best=$(id_of best) fav=$(id_of fav)
	psql_q "INSERT INTO conversations (id, cliente_id, telefone, chip_id, ultima_interacao_em) VALUES
	  ('cv1', 'dr1', '5511900000001', '$old', now() - interval '2 hours'),
	  ('cv2', 'dr2', '5511900000002', '$old', now() - interval '3 days'),
	  ('cv3', 'dr3', '5511900000003', '$best', now()),
	  ('cv4', 'dr4', '5511900000004', '$old', NULL)"
	psql_q "UPDATE conversations SET status = 'closed' WHERE id = 'cv4'"
	psql_q "INSERT INTO medico_chip_affinity (cliente_id, chip_id, msgs_enviadas, respostas) VALUES
	  ('dr1', '$old', 5, 2), ('dr2', '$fav', 1, 3), ('dr2', '$old', 4, 1)"
	psql_q "INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction, created_at) VALUES
	  ('$old', 'dr2', '5511900000002', 'in', now() - interval '47 hours'),
	  ('$old', 'dr2', '5511900000002', 'out', now() - interval '50 hours')"
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"conversations_migrated":2,"continuity_scheduled":2'* ]]
	run psql_q "SELECT id, chip_id = '$best', chip_id = '$fav', chip_migrado_de IS NOT DISTINCT FROM '$old', chip_migrado_em IS NOT NULL FROM conversations ORDER BY id"
	[ "$output" = "cv1|t|f|t|t
cv2|f|t|t|t
cv3|t|f|f|f
cv4|f|f|f|f" ]
	run psql_q "SELECT conversa_id, cliente_id, chip_origem = '$old', interacoes_count, motivo, continuidade_agendada FROM chip_migrations ORDER BY 1"
	[ "$output" = "cv1|dr1|t|0|chip_degraded:trust_score_critico:10.00|t
cv2|dr2|t|2|chip_degraded:trust_score_critico:10.00|t" ]
	run psql_q "SELECT cliente_id, chip_id = '$best', chip_id = '$fav', msgs_enviadas, respostas FROM medico_chip_affinity ORDER BY 1"
	[ "$output" = "dr1|t|f|5|2
dr2|f|t|5|4" ]
	run psql_q "SELECT conversa_id, telefone, tipo, status, agendar_para BETWEEN now() + interval '23 hours 59 minutes' AND now() + interval '24 hours', chip_id IS NOT NULL FROM fila_mensagens ORDER BY conversa_id"
	[ "$output" = "cv1|5511900000001|followup|pendente|t|t
cv2|5511900000002|followup|pendente|t|t" ]
	[ "$(psql_q "SELECT count(*) FROM chip_migrations m JOIN fila_mensagens f ON f.id = m.mensagem_id")" -eq 2 ]
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"conversations_migrated":0'* ]]
}

@test "migration: no continuity message without an interaction in 48 h; none without a target" {
	quiet_pool
	chip old active "trust_score = 10"
	old=$(id_of old)
	psql_q "INSERT INTO conversations (id, cliente_id, telefone, chip_id, ultima_interacao_em) VALUES
	  ('cv1', 'dr1', '5511900000001', '$old', now() - interval '49 hours')"
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"conversations_migrated":0'* ]]
	[[ "$stderr" == *"no active chip to take them"* ]]
	chip new active
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"conversations_migrated":1,"continuity_scheduled":0'* ]]
	[ "$(psql_q "SELECT continuidade_agendada, mensagem_id IS NULL FROM chip_migrations")" = "f|t" ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens")" -eq 0 ]
}

@test "every pool alert, recorded in pool_alerts, once per 30 min cooldown per type" {
	conf 'pool: { min_active = 2; min_ready = 1; min_warming = 1; };'
	chip a1 active "pode_prospectar = false"
	run_chipctl 0 pool-check
	run psql_q "SELECT alert_type, severity FROM alert_outbox WHERE alert_type <> 'pool_provisioning_needed' ORDER BY 1"
	[ "$output" = "nenhum_chip_prospeccao|critical
pool_producao_critico|critical
pool_ready_baixo|warning
warming_insuficiente|warning" ]
	[ "$(psql_q "SELECT count(*) FROM pool_alerts")" -eq 4 ]
	[ "$(psql_q "SELECT mensagem, counts->>'active' FROM pool_alerts WHERE tipo = 'pool_producao_critico'")" = "Pool de produção crítico: 1/2 chips ativos|1" ]
	run_chipctl 0 pool-check
	[ "$(psql_q "SELECT count(*) FROM pool_alerts")" -eq 4 ]
	psql_q "UPDATE alert_state SET last_raised_at = now() - interval '29 minutes' WHERE alert_type = 'pool_ready_baixo'"
	psql_q "UPDATE alert_state SET last_raised_at = now() - interval '31 minutes' WHERE alert_type = 'warming_insuficiente'"
	run_chipctl 0 pool-check
	[ "$(psql_q "SELECT string_agg(tipo, ',' ORDER BY id) FROM pool_alerts WHERE id > 4")" = "warming_insuficiente" ]
}

@test "a pool at its minimums raises no pool alert" {
	conf 'pool: { min_active = 2; min_ready = 1; min_warming = 1; };'
	chip a1 active "pode_prospectar = true"
	chip a2 active
	chip r1 ready
	chip w1 warming "warming_started_at = now()"
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"pool":{"active":2,"ready":1,"warming":1,'* ]]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox")" -eq 0 ]
	[ "$(psql_q "SELECT count(*) FROM pool_alerts")" -eq 0 ]
}

@test "without Salvy: one open provisioning request, kept up to date, and an alert" {
	quiet_pool 3
	chip a1 active
	chip w1 warming
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"provision_needed":1'* ]]
	[ "$(psql_q "SELECT requested, status, actor FROM provisioning_requests")" = "1|open|job:pool-check" ]
	[ "$(psql_q "SELECT severity FROM alert_outbox WHERE alert_type = 'pool_provisioning_needed'")" = critical ]
	psql_q "UPDATE chips SET status = 'banned' WHERE instance_name = 'w1'"
	run_chipctl 0 pool-check
	[ "$(psql_q "SELECT requested, status FROM provisioning_requests")" = "2|open" ]
	chip w2 warming
	chip w3 warming
	run_chipctl 0 pool-check
	[ "$(psql_q "SELECT requested, status FROM provisioning_requests")" = "2|fulfilled" ]
}

use_salvy_evolution() {
	fake_start salvy
	fake_start evolution
	export SALVY_API_URL="$FAKE_SALVY_URL" SALVY_API_KEY="$FAKE_SALVY_APIKEY"
	export EVOLUTION_API_URL="$FAKE_EVOLUTION_URL" EVOLUTION_API_KEY="$FAKE_EVOLUTION_APIKEY"
	add_secret "$FAKE_SALVY_APIKEY"
	add_secret "$FAKE_EVOLUTION_APIKEY"
}

@test "with Salvy: new numbers become pending chips with Evolution instances" {
	use_salvy_evolution
	quiet_pool 2
	conf 'salvy: { area_code = 21; };'
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"provisioned":2,"provisioned_pending":2'* ]]
	[ "$(psql_q "SELECT count(*) FROM chips WHERE status = 'pending' AND salvy_account_id IS NOT NULL AND telefone LIKE '5521%' AND instance_name = 'chip-' || telefone")" -eq 2 ]
	[ "$(psql_q "SELECT string_agg(coalesce(from_status, '-') || '>' || to_status, ',' ORDER BY id) FROM chip_status_transitions")" = "->provisioned,provisioned>pending,->provisioned,provisioned>pending" ]
	[ "$(psql_q "SELECT requested, provisioned, area_code, status FROM provisioning_requests")" = "2|2|21|fulfilled" ]
	[ "$(fake_count salvy POST /api/v2/virtual-phone-accounts)" -eq 2 ]
	[ "$(fake_count evolution POST /instance/create)" -eq 2 ]
	run curl -s -H "apikey: $FAKE_EVOLUTION_APIKEY" "$FAKE_EVOLUTION_URL/instance/fetchInstances"
	[ "$(echo "$output" | python3 -c 'import json,sys; print(sorted(r["name"] for r in json.load(sys.stdin)))')" = "$(psql_q "SELECT '[' || string_agg(quote_literal(instance_name), ', ' ORDER BY instance_name) || ']' FROM chips")" ]
	# the pending chips cover the deficit: nothing more is bought
	run_chipctl 0 pool-check
	[ "$(fake_count salvy POST /api/v2/virtual-phone-accounts)" -eq 2 ]
}

@test "with Salvy: at most salvy.max_per_day numbers a day" {
	use_salvy_evolution
	quiet_pool 3
	conf 'salvy: { max_per_day = 2; };'
	psql_q "INSERT INTO chips (telefone, instance_name, status, salvy_account_id, provisioned_at)
	        VALUES ('5511900000009', 'old', 'banned', 'x', now() - interval '25 hours'),
	               ('5511900000008', 'today', 'banned', 'y', now() - interval '23 hours')"
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"provision_needed":3,"provisioned":1,'* ]]
	[ "$(psql_q "SELECT requested, provisioned, status FROM provisioning_requests")" = "3|1|partial" ]
	[[ "$(psql_q "SELECT text FROM alert_outbox WHERE alert_type = 'pool_provisioning_failed'")" == *"daily bound: 1 of salvy.max_per_day 2 used in the last 24 h"* ]]
}

@test "Salvy failures: no chip, an alert, exit 75; the rest of the run is done" {
	use_salvy_evolution
	quiet_pool 1
	chip bad active "trust_score = 5"
	fake_ctl salvy /__control/area-codes '{"available":[21]}' >/dev/null
	run_chipctl 75 pool-check
	[[ "$stderr" == *"Salvy did not provision a number"*"area_code_unavailable"* ]]
	[ "$(status_of bad)" = degraded ]
	[ "$(psql_q "SELECT count(*) FROM chips")" -eq 1 ]
	[ "$(psql_q "SELECT status FROM provisioning_requests")" = failed ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE alert_type = 'pool_provisioning_failed'")" -eq 1 ]
	[ "$(psql_q "SELECT status, exit_code FROM job_executions")" = "failed|75" ]
	SALVY_API_KEY=wrong-salvy-key run_chipctl 78 pool-check
	[[ "$stderr" == *"HTTP 401 unauthorized"* ]]
}

@test "a failed instance creation leaves the chip provisioned; the next run retries" {
	use_salvy_evolution
	quiet_pool 1
	fake_ctl evolution /__control/script '{"responses":[{"status":500,"body":{"status":500,"error":"Internal Server Error","response":{"message":"boom"}}}]}' >/dev/null
	run_chipctl 0 pool-check
	[[ "$stderr" == *"cannot create the Evolution instance"* ]]
	[ "$(psql_q "SELECT status FROM chips")" = provisioned ]
	run_chipctl 0 pool-check --json
	[[ "$output" == *'"instances_created":1'* ]]
	[ "$(psql_q "SELECT status FROM chips")" = pending ]
	[ "$(fake_count salvy POST /api/v2/virtual-phone-accounts)" -eq 1 ]
}

@test "--dry-run decides and changes nothing" {
	conf 'pool: { min_active = 1; min_ready = 1; min_warming = 1; };'
	chip bad active "trust_score = 5"
	chip spare ready
	before=$(psql_q "SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM chips c")
	run_chipctl 0 pool-check -n --json
	[[ "$output" == *'"dry_run":true,"demoted":1,'* ]]
	[[ "$stderr" == *'would change chip status'* ]]
	[ "$(psql_q "SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM chips c")" = "$before" ]
	[ "$(psql_q "SELECT (SELECT count(*) FROM chip_status_transitions) + (SELECT count(*) FROM alert_outbox) + (SELECT count(*) FROM pool_alerts) + (SELECT count(*) FROM provisioning_requests) + (SELECT count(*) FROM job_executions)")" -eq 0 ]
}
