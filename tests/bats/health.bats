#!/usr/bin/env bats
# health: monitoring-plugin checks, exit 0 OK / 1 WARNING / 2 CRITICAL / 3 UNKNOWN.
load ../lib/common

# heartbeat AGE_S: the send-worker beat AGE_S seconds ago
heartbeat() {
	psql_q "INSERT INTO worker_heartbeats (worker_id, host, pid, last_beat_at)
		VALUES ('w1', 'h', 1, now() - make_interval(secs => $1))
		ON CONFLICT (worker_id) DO UPDATE SET last_beat_at = EXCLUDED.last_beat_at"
}
# pending N AGE_MIN: N pending messages due AGE_MIN minutes ago
pending() {
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, agendar_para)
		SELECT 'dr' || g, '5511999990000', 'oi', now() - make_interval(mins => $2)
		FROM generate_series(1, $1) g"
}
# chip NAME [PROVIDER] [STATUS] [CONNECTED]: trusted enough to prospect and follow up
chip() {
	psql_q "INSERT INTO chips (telefone, instance_name, provider, status, evolution_connected,
			pode_prospectar, pode_followup)
		VALUES ('55119999$RANDOM', '$1', '${2:-evolution}', '${3:-active}', ${4:-true}, true, true)"
}
# evolution_up: a fake Evolution answering the probe
evolution_up() {
	fake_start evolution
	export EVOLUTION_API_URL="$FAKE_EVOLUTION_URL" EVOLUTION_API_KEY="$FAKE_EVOLUTION_APIKEY"
	add_secret "$FAKE_EVOLUTION_APIKEY"
}
# breaker NAME STATE: a provider breaker, or chip:INSTANCE for a chip's
breaker() {
	if [[ $1 == chip:* ]]; then
		psql_q "INSERT INTO circuit_breakers (name, kind, chip_id, state)
			SELECT 'chip:' || id, 'chip', id, '$2' FROM chips WHERE instance_name = '${1#chip:}'"
	else
		psql_q "INSERT INTO circuit_breakers (name, kind, state) VALUES ('$1', 'provider', '$2')
			ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state"
	fi
}
# job_run JOB AGE_S [STATUS]
job_run() {
	psql_q "INSERT INTO job_executions (job_name, run_id, host, pid, status, started_at,
			finished_at, exit_code)
		VALUES ('$1', gen_random_uuid(), 'h', 1, '${3:-success}',
			now() - make_interval(secs => $2), now() - make_interval(secs => $2),
			CASE WHEN '${3:-success}' = 'success' THEN 0 ELSE 1 END)"
}

# the plugin line: STATUS - text | perfdata, one line, nothing else
assert_plugin_line() {
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ] || { echo "not one line: $output"; return 1; }
	[[ "$output" =~ ^(OK|WARNING|CRITICAL|UNKNOWN)\ -\ [^|]+(\ \|\ [a-z0-9_]+=[-0-9.]+[a-z%]*(\;[-0-9:.]*\;[-0-9:.]*)?(\ [a-z0-9_]+=[-0-9.]+[a-z%]*(\;[-0-9:.]*\;[-0-9:.]*)?)*)?$ ]] ||
		{ echo "not a plugin line: $output"; return 1; }
}

@test "ready: OK when the database is reachable and migrations are current" {
	run_chipctl 0 health ready
	assert_plugin_line
	[[ "$output" == "OK - database reachable, "*" migrations current | migrations_pending=0;;1" ]]
}

@test "ready: CRITICAL when a migration is pending" {
	psql_q "DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)"
	run_chipctl 2 health ready
	[[ "$output" == "CRITICAL - database reachable, migrations not current (1 pending, 0 edited)"* ]]
}

@test "database down: ready, score and deep CRITICAL; the other checks UNKNOWN" {
	export DATABASE_URL="postgresql://chipctl:pw@127.0.0.1:1/none?connect_timeout=2"
	run_chipctl 2 health ready
	assert_plugin_line
	[[ "$output" == "CRITICAL - database unreachable"* ]]
	run_chipctl 2 health deep
	assert_plugin_line
	run_chipctl 2 health score
	for c in queue worker chips circuits jobs; do
		run_chipctl 3 health "$c"
		[[ "$output" == "UNKNOWN - database unreachable" ]]
	done
}

@test "configuration error, no database.url, usage error: UNKNOWN (3)" {
	conf 'health: { bogus = 1; };'
	run_chipctl 3 health queue
	[[ "$output" == "UNKNOWN - the configuration does not load"* ]]
	: > "$CONF"
	unset DATABASE_URL
	run_chipctl 3 health queue --json
	python3 -c 'import json,sys; assert json.load(sys.stdin)["status"] == "UNKNOWN"' <<< "$output"
	run_chipctl 3 health frobnicate
	[[ "$stderr" == *"unknown check 'frobnicate'"* ]]
	run_chipctl 3 health --frob
}

@test "a table that cannot be read: UNKNOWN" {
	psql_q "DROP TABLE worker_heartbeats"
	run_chipctl 3 health worker
	[[ "$output" == "UNKNOWN - cannot read the database"* ]]
}

@test "queue: OK below the age threshold, WARNING at 10 min, CRITICAL at 30 min" {
	heartbeat 1
	pending 5 9
	run_chipctl 0 health queue
	assert_plugin_line
	[[ "$output" == "OK - 5 pending (5 due, oldest due 9m), 0 processing"* ]]
	[[ "$output" == *"pending=5 due=5 processing=0 sent_1h=0 errors_1h=0;10;50 oldest_due=54"?"s;600;1800 mean_processing=0ms"* ]]
	pending 1 11
	run_chipctl 1 health queue
	pending 1 31
	run_chipctl 2 health queue
	run_chipctl 2 health queue --json
	python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["check"] == "queue" and o["status"] == "CRITICAL", o
assert o["pending"] == 7 and o["due"] == 7 and o["processing"] == 0, o
assert o["sent_last_hour"] == 0 and o["errors_last_hour"] == 0, o
assert o["mean_processing_ms"] is None and 1860 <= o["oldest_due_age_s"] < 1900, o' <<< "$output"
}

@test "queue: errors and sent in the last hour, mean processing time" {
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, status, updated_at)
		SELECT 'c', '55', 'x', 'erro', now() - interval '10 minutes' FROM generate_series(1, 9)"
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, status, updated_at)
		VALUES ('c', '55', 'x', 'erro', now() - interval '2 hours')"
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, status, enviada_em)
		SELECT 'c', '55', 'x', 'enviada', now() - interval '5 minutes' FROM generate_series(1, 4)"
	psql_q "INSERT INTO send_attempts (message_id, attempt, result, latency_ms)
		VALUES (1, 1, 'ok', 100), (2, 1, 'ok', 300), (3, 1, '5xx', 5000)"
	run_chipctl 0 health queue
	[[ "$output" == *"4 sent and 9 errors in the last hour"* ]]
	[[ "$output" == *"mean_processing=200ms"* ]]
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, status)
		VALUES ('c', '55', 'x', 'erro')"
	run_chipctl 1 health queue
	[[ "$output" == *"errors_1h=10;10;50"* ]]
}

@test "worker: CRITICAL with no heartbeat, OK fresh, WARNING at 60 s, CRITICAL at 120 s" {
	run_chipctl 2 health worker
	[[ "$output" == "CRITICAL - no send-worker has ever beaten"* ]]
	heartbeat 5
	run_chipctl 0 health worker
	assert_plugin_line
	[[ "$output" == "OK - newest heartbeat "?"s ago, 1 of 1 workers alive"* ]]
	heartbeat 61
	run_chipctl 1 health worker
	heartbeat 121
	run_chipctl 2 health worker
	conf 'health: { worker_critical_s = 600; };'
	run_chipctl 1 health worker
}

@test "chips: CRITICAL with none available, WARNING below the minimum, OK at it" {
	chip a
	chip b
	chip off evolution active false
	chip cold
	psql_q "UPDATE chips SET cooldown_until = now() + interval '5 minutes' WHERE instance_name = 'cold'"
	chip broken
	breaker chip:broken open
	chip spare evolution ready
	run_chipctl 1 health chips
	assert_plugin_line
	[[ "$output" == "WARNING - 2 of 5 active chips available (1 disconnected, 1 cooling down), 6 chips in the pool | available=2;3:;1:"* ]]
	chip c
	run_chipctl 0 health chips
	breaker provider:evolution open
	run_chipctl 2 health chips
	run_chipctl 2 health chips --json
	python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["available"] == 0 and o["active"] == 6, o
chips = {c["instance"]: c for c in o["chips"]}
assert set(chips) == {"a", "b", "c", "off", "cold", "broken", "spare"}, chips
assert chips["broken"]["circuit_state"] == "open" and chips["a"]["circuit_state"] == "closed"
assert len(chips["a"]["telefone_end"]) == 4 and chips["a"]["msgs_24h"] == 0
assert chips["off"]["connected"] is False and chips["a"]["trust_score"] == 50
assert chips["a"]["sendable"] is False and o["may_prospect"] == 6, o' <<< "$output"
}

@test "chips: CRITICAL while no chip may prospect or none may follow up (the pool alert's rule)" {
	for i in 1 2 3; do chip "c$i"; done
	run_chipctl 0 health chips
	[[ "$output" == *"may_prospect=3;;1: may_followup=3;;1:"* ]]
	psql_q "UPDATE chips SET pode_prospectar = false"
	run_chipctl 2 health chips
	[[ "$output" == "CRITICAL - 3 of 3 active chips available (0 disconnected, 0 cooling down), 3 chips in the pool; no chip may prospect |"* ]]
	# pool-check raises its alert from the same definition
	run_chipctl 0 pool-check
	[ "$(psql_q "SELECT count(*) FROM alert_state WHERE alert_key = 'nenhum_chip_prospeccao' AND active")" -eq 1 ]
	psql_q "UPDATE chips SET pode_prospectar = true WHERE instance_name = 'c1'"
	run_chipctl 0 health chips
	run_chipctl 0 pool-check
	[ "$(psql_q "SELECT count(*) FROM alert_state WHERE alert_key = 'nenhum_chip_prospeccao' AND active")" -eq 0 ]
	psql_q "UPDATE chips SET pode_followup = false"
	run_chipctl 2 health chips --json
	python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["status"] == "CRITICAL" and o["may_prospect"] == 1 and o["may_followup"] == 0, o
assert o["summary"].endswith("; no chip may follow up"), o' <<< "$output"
}

@test "chips: a Z-API chip is connected by its own status, not Evolution's" {
	chip z1 zapi active false	# evolution_connected false, zapi_connected true
	run_chipctl 1 health chips
	[[ "$output" == "WARNING - 1 of 1 active chips available (0 disconnected,"* ]]
	psql_q "UPDATE chips SET zapi_connected = false"
	run_chipctl 2 health chips
	[[ "$output" == "CRITICAL - 0 of 1 active chips available (1 disconnected,"* ]]
}

@test "circuits: provider open CRITICAL, half open WARNING, chip breakers by share" {
	for i in $(seq 1 10); do chip "c$i"; done
	breaker provider:evolution closed
	run_chipctl 0 health circuits
	assert_plugin_line
	breaker chip:c1 open
	run_chipctl 2 health circuits	# 1 of 1 chip breakers: 100 %, past 50 %
	[[ "$output" == *"1 of 1 chip breakers open"* ]]
	for i in $(seq 2 10); do breaker "chip:c$i" closed; done
	run_chipctl 1 health circuits	# 10 %, the warning threshold
	psql_q "INSERT INTO circuit_breakers (name, kind, state) SELECT 'chip:' || gen_random_uuid(), 'chip', 'closed' FROM generate_series(1, 2)"
	run_chipctl 0 health circuits	# 1 of 12: below 10 %
	breaker provider:evolution half_open
	run_chipctl 1 health circuits
	breaker provider:evolution open
	run_chipctl 2 health circuits
	psql_q "UPDATE circuit_breakers SET override = 'disabled' WHERE name = 'provider:evolution'"
	run_chipctl 0 health circuits
	psql_q "UPDATE circuit_breakers SET state = 'closed', override = 'forced_open' WHERE name = 'provider:evolution'"
	psql_q "INSERT INTO circuit_transitions (breaker, from_state, to_state, reason, actor)
		VALUES ('provider:evolution', 'closed', 'open', '5 failures', 'test')"
	run_chipctl 2 health circuits --json
	python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["evolution"] == "open" and o["transitions_24h"] == 1, o
b = {x["name"]: x for x in o["breakers"]}
assert b["provider:evolution"]["transitions_24h"] == 1 and b["provider:evolution"]["override"] == "forced_open"
assert any(n.startswith("chip:") for n in b), b' <<< "$output"
}

@test "jobs: late past interval + grace is WARNING, down past twice the interval CRITICAL" {
	run_chipctl 0 health jobs
	[[ "$output" == "OK - 8 jobs watched, 0 have run"* ]]
	job_run pool-check 100	# interval 60 + grace 60 = 120: on time
	run_chipctl 0 health jobs
	conf 'jobs: { grace_s = 30; };'
	run_chipctl 1 health jobs	# late past 90 s, not down before 120 s
	[[ "$output" == "WARNING - pool-check late (last success 10"?"s ago, 0 of 1 recent failed)"* ]]
	job_run trust-update 1801	# 900 s interval: down past 1800 s
	run_chipctl 2 health jobs
	[[ "$output" == *"trust-update down"* ]]
	: > "$CONF"
	conf 'jobs: { trust_update_interval_s = 0; };'
	run_chipctl 0 health jobs	# interval 0: not watched
	[[ "$output" == "OK - 7 jobs watched"* ]]
}

@test "jobs: more than half of the recent runs failed is WARNING" {
	job_run reset-stuck-queue 40 failed
	job_run reset-stuck-queue 30 success
	job_run reset-stuck-queue 20 failed
	job_run reset-stuck-queue 10 skipped
	run_chipctl 1 health jobs
	[[ "$output" == *"reset-stuck-queue ok and failing (last success 3"?"s ago, last run failed 2"?"s ago, 2 of 3 recent failed)"* ]]
	job_run reset-stuck-queue 5 success	# 2 of 4: not more than half
	run_chipctl 0 health jobs --json
	python3 -c '
import json, sys
o = json.load(sys.stdin)
j = {x["job"]: x for x in o["jobs"]}
r = j["reset-stuck-queue"]
assert r["recent_runs"] == 4 and r["recent_failed"] == 2 and not r["failing"], r
assert r["state"] == "ok" and r["last_exit_code"] == 0 and j["watchdog"]["state"] == "never_ran", j
assert r["counted_from"] == "last_success" and j["watchdog"]["counted_from"] == "installed", j' <<< "$output"
}

@test "jobs: a job that never ran is judged from the first migration's time" {
	psql_q "UPDATE schema_migrations SET applied_at = now() - interval '100 seconds'"
	run_chipctl 0 health jobs	# 100 s: pool-check and watchdog within 60 + 60
	psql_q "UPDATE schema_migrations SET applied_at = now() - interval '3 hours'
		WHERE version = (SELECT min(version) FROM schema_migrations)"
	job_run watchdog 30
	run_chipctl 2 health jobs
	[[ "$output" == "CRITICAL - "*"trust-update down (no successful run since chipctl was installed 3.0h ago, 0 of 0 recent failed)"* ]]
	[[ "$output" != *"watchdog down"* ]]
	[[ "$output" != *"reset-stuck-queue-expire"* ]]	# daily: 3 h is on time
	# only failed runs since: still down, counted from the installation
	job_run trust-update 60 failed
	run_chipctl 2 health jobs --json
	python3 -c '
import json, sys
j = {x["job"]: x for x in json.load(sys.stdin)["jobs"]}
t = j["trust-update"]
assert t["state"] == "down" and t["counted_from"] == "installed" and t["last_status"] == "failed", t
assert 10790 < t["without_success_s"] < 10900 and t["last_success_age_s"] is None, t
assert j["watchdog"]["state"] == "ok" and j["watchdog"]["counted_from"] == "last_success", j' <<< "$output"
	job_run trust-update 10	# a success: no longer down
	run_chipctl 2 health jobs
	[[ "$output" != *"trust-update"* ]]
}

@test "score: the mean of seven components; healthy, degraded, unhealthy" {
	heartbeat 1
	evolution_up
	for i in 1 2 3; do chip "c$i"; done
	run_chipctl 0 health score
	assert_plugin_line
	[[ "$output" == "OK - score 100.0 (healthy): database 100, evolution 100, circuits 100, queue 100, worker 100, jobs 100, chips 100 | overall=100;80:;50:"* ]]
	heartbeat 61	# worker WARNING: 50
	run_chipctl 0 health score
	[[ "$output" == "OK - score 92.9 (healthy)"* ]]	# 650/7
	heartbeat 121	# worker CRITICAL: 0
	pending 1 31	# queue CRITICAL: 0
	run_chipctl 1 health score
	[[ "$output" == "WARNING - score 71.4 (degraded)"* ]]	# 500/7
	fake_stop evolution	# unreachable: measured, 0
	breaker provider:evolution open	# circuits 0 and evolution 0
	run_chipctl 2 health score --json
	python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["overall"] == 28.6 and o["health"] == "unhealthy", o
assert o["components"] == {"database": 100, "evolution": 0, "circuits": 0, "queue": 0, "worker": 0, "jobs": 100, "chips": 0}, o
assert o["unknown"] == [], o' <<< "$output"
}

@test "score: a component not configured or not measured is UNKNOWN, not 100" {
	heartbeat 1
	for i in 1 2 3; do chip "c$i"; done
	run_chipctl 3 health score	# evolution.url not set
	assert_plugin_line
	[[ "$output" == "UNKNOWN - score 100.0 (healthy): database 100, evolution unknown, circuits 100, queue 100, worker 100, jobs 100, chips 100 (evolution.url is not set) | overall=100;80:;50: database=100 circuits=100"* ]]
	run_chipctl 3 health score --json
	python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["status"] == "UNKNOWN" and o["components"]["evolution"] is None, o
assert o["unknown"] == ["evolution"], o' <<< "$output"
	conf 'jobs: { sync_evolution_interval_s = 0; trust_update_interval_s = 0;
		reset_stuck_queue_interval_s = 0; reset_stuck_queue_expire_interval_s = 0;
		pool_check_interval_s = 0; watchdog_interval_s = 0; metrics_snapshot_interval_s = 0;
		pull_messages_interval_s = 0; };'
	run_chipctl 3 health jobs
	[[ "$output" == "UNKNOWN - no job is watched"* ]]
	heartbeat 500	# a measured CRITICAL beats what is unknown
	pending 1 31
	breaker provider:zapi open
	run_chipctl 2 health score
	[[ "$output" == "CRITICAL - score 40.0 (unhealthy): database 100, evolution unknown, circuits 0, queue 0, worker 0, jobs unknown, chips 100"* ]]
	run_chipctl 2 health deep
}

@test "score and ready --evolution probe Evolution when it is configured" {
	heartbeat 1
	for i in 1 2 3; do chip "c$i"; done
	fake_start evolution
	export EVOLUTION_API_URL="$FAKE_EVOLUTION_URL" EVOLUTION_API_KEY="$FAKE_EVOLUTION_APIKEY"
	add_secret "$FAKE_EVOLUTION_APIKEY"
	run_chipctl 0 health ready --evolution
	[[ "$output" == *"evolution answered 200"* ]]
	run_chipctl 0 health score
	[[ "$output" == *"evolution 100"* ]]
	fake_stop evolution
	run_chipctl 2 health ready --evolution
	run_chipctl 0 health score	# 600/7 = 85.7
	[[ "$output" == "OK - score 85.7 (healthy): database 100, evolution 0,"* ]]
	unset EVOLUTION_API_URL
	run_chipctl 3 health ready --evolution
}

@test "deep: every check, one line, the worst status wins; --json has them all" {
	heartbeat 1
	evolution_up
	for i in 1 2 3; do chip "c$i"; done
	run_chipctl 0 health deep
	assert_plugin_line
	[[ "$output" == "OK - all 8 checks OK, score 100.0 (healthy)"*" | ready_migrations_pending=0;;1 queue_pending=0 "* ]]
	run_chipctl 0 health	# deep is the default
	pending 1 11
	run_chipctl 1 health deep
	[[ "$output" == "WARNING - queue WARNING (1 pending"* ]]
	heartbeat 500
	run_chipctl 2 health deep --json
	python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["status"] == "CRITICAL", o
assert sorted(o["checks"]) == ["chips", "circuits", "evolution", "jobs", "queue", "ready", "score", "worker"], o
assert o["checks"]["worker"]["status"] == "CRITICAL" and o["checks"]["queue"]["status"] == "WARNING"
assert len(o["checks"]["chips"]["chips"]) == 3' <<< "$output"
}
