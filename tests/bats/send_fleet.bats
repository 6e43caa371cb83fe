#!/usr/bin/env bats
# Fleet-wide faults, tested the way they happen: an hour of cron rounds
# through a provider outage, several workers against per-chip limits,
# identical chips that must stay identical (issue 10; SPEC 8 and 9).
load ../lib/common
load ../lib/send

setup() {
	common_setup
	send_setup
}

teardown() {
	[ -n "${pids:-}" ] && kill -KILL $pids 2>/dev/null
	common_teardown
}

# Time moves forward between cron rounds: whatever waited is due again, and
# open breakers have served their backoff.
five_minutes_pass() {
	psql_q "UPDATE fila_mensagens SET agendar_para = now() WHERE status = 'pendente';
	        UPDATE circuit_breakers SET retry_at = now() - interval '1 second' WHERE state = 'open';
	        UPDATE circuit_breakers SET probe_until = now() - interval '1 second' WHERE state = 'half_open'"
}

# One cron round of the jobs that run every few minutes. Evolution being
# unreachable may make a job exit 75 (cron tries again); anything else fails.
cron_round() {
	local job rc
	for job in "send-worker --once" sync-evolution trust-update pool-check watchdog; do
		run --separate-stderr timeout 60 "$CHIPCTL_BIN" $job
		rc=$status
		[ "$rc" -eq 0 ] || [ "$rc" -eq 75 ] || { echo "$job exited $rc: $stderr"; return 1; }
		assert_no_secrets "$output$stderr"
	done
}

@test "an hour-long Evolution outage: nothing fails, no chip is harmed, everything goes out once after" {
	use_fake_slack
	for n in c1 c2 c3 c4 c5 c6; do chip $n 70 >/dev/null; done
	open_instances c1 c2 c3 c4 c5 c6
	psql_q "UPDATE chips SET dias_sem_erro = 10, warming_started_at = now() - interval '60 days',
	          created_at = now() - interval '60 days'"
	run_chipctl 0 trust-update
	enqueue 60 follow-up followup
	before=$(psql_q "SELECT string_agg(DISTINCT trust_score::text, ',') FROM chips")
	# Evolution refuses connections for twelve 5-minute rounds
	export EVOLUTION_API_URL=http://127.0.0.1:9
	for round in $(seq 1 12); do
		cron_round
		five_minutes_pass
	done
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status IN ('erro', 'cancelada')")" -eq 0 ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente' AND tentativas = 0")" -eq 60 ]
	[ "$(psql_q "SELECT count(*) FROM chips WHERE status <> 'active'")" -eq 0 ]
	# identical chips stay identical: same score as before, no error counted
	[ "$(psql_q "SELECT string_agg(DISTINCT trust_score::text, ',') FROM chips")" = "$before" ]
	[ "$(psql_q "SELECT sum(erros_ultimas_24h), count(*) FILTER (WHERE cooldown_until > now()) FROM chips")" = "0|0" ]
	[ "$(psql_q "SELECT count(*) FROM send_attempts WHERE fault IS DISTINCT FROM 'provider' AND result <> 'ok'")" -eq 0 ]
	[ "$(psql_q "SELECT count(*) FROM circuit_breakers WHERE kind = 'chip' AND state <> 'closed'")" -eq 0 ]
	# the outage was told, and says the messages wait
	run python3 -c '
import json, sys
texts = [r["body"] for r in json.load(sys.stdin)]
assert any("provider evolution: circuit breaker opened" in t and "wait in the queue" in t for t in texts), texts
' < <(fake_requests slack)
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	run_chipctl 0 queue stats --json
	echo "$output" | python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["waiting"] == 60 and sum(o["waiting_by_reason"].values()) == 60, o
assert set(o["waiting_by_reason"]) <= {"WAIT_PROVIDER_DOWN", "WAIT_CIRCUIT_OPEN"}, o'
	# Evolution answers again: within a few rounds every message is sent, once
	export EVOLUTION_API_URL=$FAKE_EVOLUTION_URL
	for round in 1 2 3 4; do
		cron_round
		five_minutes_pass
	done
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 60 ]
	run python3 -c '
import collections, json, sys
n = collections.Counter(r["json"]["number"] for r in json.load(sys.stdin) if r["path"].startswith("/message/sendText/"))
assert len(n) == 60 and set(n.values()) == {1}, n
' < <(fake_requests evolution)
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[ "$(psql_q "SELECT count(DISTINCT trust_score) FROM chips")" -eq 1 ]
}

@test "four workers never take a chip past its hourly limit; the rest wait" {
	for n in c1 c2 c3 c4; do chip $n 90 >/dev/null; done
	open_instances c1 c2 c3 c4
	psql_q "UPDATE chips SET limite_hora = 20"
	enqueue 400 reply resposta
	pids=""
	for w in 1 2 3 4; do "$CHIPCTL_BIN" -q send-worker --once --worker-id "w$w" 3>&- & pids="$pids $!"; done
	for p in $pids; do wait "$p"; done
	pids=""
	for n in c1 c2 c3 c4; do
		[ "$(sends_to $n)" -le 20 ] || { echo "$n got $(sends_to $n)"; return 1; }
	done
	[ "$(fake_count evolution POST /message/sendText/)" -eq 80 ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 80 ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente' AND tentativas = 0
	              AND outcome_reason_code = 'WAIT_LIMIT'")" -eq 320 ]
	[ "$(psql_q "SELECT sum(hour_count) FROM chip_send_counters")" -eq 80 ]
}

@test "FAILED_ALL_CHIPS only after three distinct chips refused the message" {
	for n in c1 c2; do chip $n 90 >/dev/null; done
	open_instances c1 c2
	conf 'cooldown: { bad_request_s = 0; };'
	evo_mode '*' baileys_error
	m=$(msg followup)
	# two chips refuse it, pass after pass: two attempts spent, never more
	for pass in 1 2 3; do
		run_chipctl 0 send-worker --once
		[ "$(msg_state $m)" = "pendente|-" ]
		psql_q "UPDATE fila_mensagens SET agendar_para = now(); UPDATE circuit_breakers SET state = 'closed', consecutive_failures = 0"
	done
	[ "$(psql_q "SELECT tentativas, outcome_reason_code FROM fila_mensagens WHERE id = $m")" = "2|ALL_CHIPS_FAILED" ]
	[ "$(sends_to c1)" -eq 3 ]
	# a third chip refuses it too: now it has failed for good
	chip c3 90 >/dev/null
	open_instances c1 c2 c3
	evo_mode '*' baileys_error
	run_chipctl 0 send-worker --once
	[ "$(msg_state $m)" = "erro|FAILED_ALL_CHIPS" ]
	[ "$(psql_q "SELECT tentativas, count(DISTINCT a.chip_id) FROM fila_mensagens f JOIN send_attempts a ON a.message_id = f.id WHERE f.id = $m GROUP BY 1")" = "3|3" ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE alert_type = 'message_failed'")" -eq 1 ]
}

@test "FAILED_EXPIRED for a message that waited 24 h with no chip able to take it" {
	a=$(chip c1 90)
	open_instances c1
	run_chipctl 0 circuits open c1 --reason "restricted for a day" --by ops
	m=$(msg followup)
	first=$(psql_q "SELECT agendar_para FROM fila_mensagens WHERE id = $m")
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT status, tentativas, outcome_reason_code, first_due_at = '$first' FROM fila_mensagens WHERE id = $m")" = "pendente|0|WAIT_CIRCUIT_OPEN|t" ]
	# a day of waiting: its backoff moved agendar_para, never its first due time
	psql_q "UPDATE fila_mensagens SET first_due_at = first_due_at - interval '23 hours', agendar_para = now()"
	run_chipctl 0 send-worker --once
	[ "$(msg_state $m)" = "pendente|-" ]
	psql_q "UPDATE fila_mensagens SET first_due_at = first_due_at - interval '2 hours', agendar_para = now()"
	run_chipctl 0 send-worker --once
	[ "$(msg_state $m)" = "cancelada|FAILED_EXPIRED" ]
	[ "$(sends_to c1)" -eq 0 ]
	# the daily expiry sees the same first due time, even when the backoff
	# put agendar_para in the future
	m2=$(msg followup)
	psql_q "UPDATE fila_mensagens SET first_due_at = now() - interval '25 hours', agendar_para = now() + interval '2 minutes', esperas = 40 WHERE id = $m2"
	run_chipctl 0 reset-stuck-queue --expire
	[ "$(msg_state $m2)" = "cancelada|FAILED_EXPIRED" ]
}

@test "a mixed pool: health's available chips are exactly the ones selection sends through" {
	zapi_setup
	fake_ctl zapi /__control/instances '[{"id":"ZI1","token":"ZT-1-abcdef","connected":true},{"id":"ZI2","token":"ZT-2-abcdef","connected":true}]' >/dev/null
	add_secret ZT-1-abcdef
	add_secret ZT-2-abcdef
	for n in e-ok1 e-ok2 e-cool e-forced e-full; do chip $n 90 >/dev/null; done
	chip z-ok 90 zapi ZI1 ZT-1-abcdef >/dev/null
	chip z-down 90 zapi ZI2 ZT-2-abcdef >/dev/null
	open_instances e-ok1 e-ok2 e-cool e-forced e-full
	psql_q "UPDATE chips SET cooldown_until = now() + interval '10 minutes' WHERE instance_name = 'e-cool';
	        UPDATE chips SET zapi_connected = false WHERE instance_name = 'z-down';
	        UPDATE chips SET limite_hora = 5 WHERE instance_name = 'e-full';
	        INSERT INTO chip_send_counters SELECT id, date_trunc('hour', now()), 5, date_trunc('day', now()), 5
	          FROM chips WHERE instance_name = 'e-full'"
	run_chipctl 0 circuits open e-forced --reason "operator" --by ops
	run_chipctl 0 health chips --json
	available=$(echo "$output" | python3 -c 'import json,sys; print(json.load(sys.stdin)["available"])')
	[ "$available" -eq "$(psql_q "SELECT count(*) FROM chipctl_chip_now WHERE sendable")" ]
	enqueue 30 reply resposta
	run_chipctl 0 send-worker --once
	used=$(psql_q "SELECT string_agg(DISTINCT c.instance_name, ',' ORDER BY c.instance_name) FROM fila_mensagens f JOIN chips c ON c.id = f.chip_id WHERE f.status = 'enviada'")
	[ "$used" = "e-ok1,e-ok2,z-ok" ]
	[ "$available" -eq 3 ]
}
