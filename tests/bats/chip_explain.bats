#!/usr/bin/env bats
# chip explain (issue 5): the stored trust score, factor by factor.
load ../lib/common

# js EXPR: evaluate a Python expression over the JSON on stdin (bound to j);
# print it, None as null (python3 is there for the fakes; jq may not be)
js() {
	python3 -c 'import json, sys
j = json.load(sys.stdin)
v = eval(sys.argv[1])
print("null" if v is None else v)' "$1"
}

# chip NAME STATUS AGE_DAYS: print its id
chip() {
	psql_q "INSERT INTO chips (telefone, instance_name, status, created_at)
	        VALUES ('55119' || lpad((abs(hashtext('$1')) % 100000000)::text, 8, '0'),
	                '$1', '$2', now() - interval '$3 days') RETURNING id"
}

# Chips with data behind every factor, then one trust-update run.
seed() {
	A=$(chip busy active 12)
	psql_q "INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction,
	          provider_message_id, obteve_resposta, media_type, created_at)
	        SELECT '$A', 'dr' || g, '5511977' || lpad(g::text, 6, '0'), 'out', 'P' || g,
	               g % 7 = 0, NULL, now() - interval '3 hours'
	        FROM generate_series(1, 37) g;
	        INSERT INTO chip_interactions (chip_id, telefone, direction, media_type)
	        VALUES ('$A', '5511977000007', 'in', 'audio');
	        INSERT INTO send_attempts (message_id, chip_id, attempt, result, http_status, fault)
	        VALUES (1, '$A', 1, '5xx', 500, 'chip'), (2, '$A', 1, '4xx', 403, 'chip');
	        INSERT INTO message_receipts (provider_message_id, chip_id, last_status, delivered_at)
	        SELECT 'P' || g, '$A', 'DELIVERY_ACK', now() FROM generate_series(1, 33) g"
	B=$(chip quiet warming 3)
	C=$(chip sick degraded 200)
	psql_q "INSERT INTO chip_trust_events (chip_id, kind) VALUES ('$C', 'ban')"
	run_chipctl 0 trust-update
}

@test "--json: base plus the factors adds up exactly to the stored score" {
	seed
	for c in busy quiet sick; do
		run_chipctl 0 chip explain "$c" --json
		stored=$(psql_q "SELECT trust_score FROM chips WHERE instance_name = '$c'")
		sum=$(echo "$output" | js '"+".join(str(x) for x in [j["explanation"]["base"]] + [f["points"] for f in j["explanation"]["factors"]])')
		[ "$(psql_q "SELECT least(100, greatest(0, $sum))::numeric(5,2)")" = "$stored" ]
		[ "$(psql_q "SELECT $(echo "$output" | js 'j["trust_score"]')::numeric(5,2)")" = "$stored" ]
		[ "$(echo "$output" | js 'len(j["explanation"]["factors"])')" = 8 ]
	done
}

@test "the inputs shown are the stored metrics" {
	seed
	run_chipctl 0 chip explain busy --json
	got=$(echo "$output" | js '",".join(str(i[k]) for i in [dict(kv for f in j["explanation"]["factors"] for kv in f["inputs"].items())] for k in ("taxa_delivery", "taxa_resposta", "taxa_block", "erros_24h", "diversidade_midia"))')
	[ "$(psql_q "SELECT ARRAY[taxa_delivery, taxa_resposta, taxa_block, erros_ultimas_24h, diversidade_midia]
	             = '{$got}'::numeric[] FROM chips WHERE instance_name = 'busy'")" = t ]
	[ "$(echo "$output" | js 'j["trust_level"] + " " + str(j["pode_prospectar"]).lower() + " " + j["status"]')" = \
	  "$(psql_q "SELECT trust_level || ' ' || pode_prospectar || ' ' || status FROM chips WHERE instance_name = 'busy'" | sed 's/ t / true /; s/ f / false /')" ]
}

@test "text: every factor with its points and the sum equal to the score" {
	seed
	run_chipctl 0 chip explain busy
	stored=$(psql_q "SELECT trust_score FROM chips WHERE instance_name = 'busy'")
	for f in base age delivery response bidirectional media errors block phase; do
		[[ "$output" == *"  $f "* ]]
	done
	[[ "$output" == *"trust score $stored, level "* ]]
	[[ "$output" == *"  score"*" $stored"* ]]
	[[ "$output" == *"erros_24h=2"* ]]
}

@test "the chip may be named by uuid, instance name or telefone" {
	seed
	tel=$(psql_q "SELECT telefone FROM chips WHERE id = '$B'")
	run_chipctl 0 chip explain "$B" --json
	[ "$(echo "$output" | js 'j["instance_name"]')" = quiet ]
	run_chipctl 0 chip explain "+$tel" --json
	[ "$(echo "$output" | js 'j["chip_id"]')" = "$B" ]
}

@test "a chip never computed says so" {
	chip new pending 0 >/dev/null
	run_chipctl 0 chip explain new
	[[ "$output" == *"never computed"* ]]
	run_chipctl 0 chip explain new --json
	[ "$(echo "$output" | js 'j["explanation"]')" = null ]
}

@test "an unknown chip is exit 65" {
	run_chipctl 65 chip explain nosuchchip
	[[ "$stderr" == *'msg="unknown chip" chip=nosuchchip'* ]]
	run_chipctl 65 chip explain "x' OR '1'='1"
}
