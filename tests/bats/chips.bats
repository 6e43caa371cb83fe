#!/usr/bin/env bats
# chips: the pool at a glance (T10.2, T05.4).
load ../lib/common

chip() {	# chip NAME STATUS [SQL assignments]
	psql_q "INSERT INTO chips (telefone, instance_name, status, evolution_connected)
	        VALUES ('5511' || lpad((abs(hashtext('$1')) % 100000000)::text, 9, '9'), '$1', '$2', true)"
	[ -z "${3:-}" ] || psql_q "UPDATE chips SET $3 WHERE instance_name = '$1'"
}

seed() {
	chip a1 active "trust_score = 81, trust_level = 'verde', erros_ultimas_24h = 3, telefone = '5511911110001'"
	chip a2 active "trust_score = 90, trust_level = 'verde', cooldown_until = now() + interval '9 minutes 30 seconds',
	     evolution_connected = false, desconectado_desde = now() - interval '12 minutes 10 seconds', recovery_phase = 2"
	chip r1 ready "trust_score = 70, trust_level = 'amarelo'"
	chip b1 banned
	chip d1 degraded
	chip z1 active "provider = 'zapi', trust_score = 10"
	id=$(psql_q "SELECT id FROM chips WHERE instance_name = 'a1'")
	psql_q "INSERT INTO circuit_breakers (name, kind, chip_id, state, override) VALUES ('chip:$id', 'chip', '$id', 'half_open', 'disabled')"
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, status, chip_id, enviada_em)
	        SELECT 'dr', '5511999999999', 'x', 'enviada', '$id', now() - g * interval '5 hours' FROM generate_series(1, 6) g"
}

@test "one line per chip, production first and best trust first, with a summary" {
	seed
	run_chipctl 0 chips
	[ "${lines[0]}" = "$(printf '%-22s %-14s %-11s %-14s %-16s %-16s %-9s %-5s %7s %6s' INSTANCE PHONE STATUS TRUST CONNECTION BREAKER COOLDOWN RECOV SENT24H ERR24H)" ]
	[[ "${lines[1]}" == "a2 "*" active "*"90 verde"*"down 12m"*"closed"*"10m"*" 2 "*"0      0" ]]
	[ "${lines[2]}" = "$(printf '%-22s %-14s %-11s %-14s %-16s %-16s %-9s %-5s %7s %6s' a1 5511911110001 active '81 verde' connected closed/disabled - - 4 3)" ]
	[[ "${lines[3]}" == "z1 "*" zapi connected "* ]]
	[[ "${lines[4]}" == "r1 "* ]]
	[[ "${lines[5]}" == "d1 "* ]]
	[[ "${lines[6]}" == "b1 "* ]]
	[ "${lines[7]}" = "6 chips: active 3, ready 1, warming 0, pending 0, provisioned 0, degraded 1, banned 1" ]
	[ "${lines[8]}" = "pool alerts in the last 24 h: none" ]
}

@test "a Z-API chip shows its Z-API connection; the pool alerts of the last 24 h are listed" {
	seed
	psql_q "UPDATE chips SET zapi_connected = false, desconectado_desde = now() - interval '40 minutes 5 seconds' WHERE instance_name = 'z1'"
	psql_q "INSERT INTO pool_alerts (tipo, severidade, mensagem, counts, created_at) VALUES
	        ('pool_ready_baixo', 'warning', 'Reserve baixo: 1/2 chips ready', '{\"ready\": 1}', now() - interval '2 hours'),
	        ('nenhum_chip_prospeccao', 'critical', 'old', '{}', now() - interval '25 hours')"
	run_chipctl 0 chips
	[[ "${lines[3]}" == "z1 "*" zapi down 40m "* ]]
	[ "${lines[8]}" = "pool alerts in the last 24 h:" ]
	[[ "${lines[9]}" == *"  warning  pool_ready_baixo         Reserve baixo: 1/2 chips ready  {\"ready\": 1}" ]]
	[ "${#lines[@]}" -eq 10 ]
	run_chipctl 0 chips --json
	run python3 -c '
import json, sys
a = {c["instance_name"]: c for c in json.loads(sys.argv[1])}
print(a["z1"]["connected"], a["z1"]["evolution_connected"], a["a1"]["connected"], a["a1"]["msgs_enviadas_total"], a["a1"]["msgs_recebidas_total"])' "$output"
	[ "$output" = "False True True 0 0" ]
}

# a breaker's state is its effective state (chipctl_breakers): a disabled
# breaker is closed, whatever its row says
@test "--json: every field, as numbers, booleans and nulls" {
	seed
	run_chipctl 0 chips --json
	run python3 -c '
import json, sys
a = {c["instance_name"]: c for c in json.loads(sys.argv[1])}
print(a["a1"]["breaker"], a["a1"]["breaker_override"], a["a1"]["sent_24h"], a["a1"]["errors_24h"], a["a1"]["trust_score"])
print(a["a2"]["evolution_connected"], a["a2"]["disconnected_min"], a["a2"]["cooldown_min"], a["a2"]["recovery_phase"])
print(a["r1"]["breaker"], a["r1"]["breaker_override"], a["r1"]["cooldown_min"], a["r1"]["recovery_phase"], a["r1"]["disconnected_min"])' "$output"
	[ "$output" = "closed disabled 4 3 81.0
False 12 10 2
closed None 0 None None" ]
}

@test "--status filters; an unknown status is a usage error" {
	seed
	run_chipctl 0 chips --status ready
	[ "${#lines[@]}" -eq 4 ]
	[[ "${lines[1]}" == "r1 "* ]]
	run_chipctl 64 chips --status nope
	[[ "$stderr" == *"unknown status 'nope'"* ]]
	run_chipctl 0 chips --status warming --json
	[ "$(echo "$output" | python3 -c 'import json,sys; print(json.load(sys.stdin))')" = "[]" ]
}
