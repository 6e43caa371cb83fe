#!/usr/bin/env bats
# watchdog: alerts at their thresholds, cooldowns per key, resolved notices,
# inhibition during a provider outage, delivery through Slack outages; pings.
load ../lib/common

heartbeat() {
	psql_q "INSERT INTO worker_heartbeats (worker_id, host, pid, last_beat_at)
		VALUES ('w1', 'h', 1, now() - make_interval(secs => $1))
		ON CONFLICT (worker_id) DO UPDATE SET last_beat_at = EXCLUDED.last_beat_at"
}
pending() {	# N AGE_MIN
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, agendar_para)
		SELECT 'dr' || g, '5511999990000', 'oi', now() - make_interval(mins => $2)
		FROM generate_series(1, $1) g"
}
errors() {	# N RESULT [AGE_S] [FAULT]
	psql_q "INSERT INTO send_attempts (message_id, attempt, result, http_status, created_at, fault)
		SELECT g, 1, '$2', CASE '$2' WHEN '5xx' THEN 500 WHEN '4xx' THEN 400 END,
			now() - make_interval(secs => ${3:-10}),
			CASE WHEN '$2' = 'ok' THEN NULL ELSE '${4:-provider}' END
		FROM generate_series(1, $1) g"
}
job_run() {	# JOB AGE_S [STATUS]
	psql_q "INSERT INTO job_executions (job_name, run_id, host, pid, status, started_at,
			finished_at, exit_code)
		VALUES ('$1', gen_random_uuid(), 'h', 1, '${3:-success}',
			now() - make_interval(secs => $2), now() - make_interval(secs => $2),
			CASE WHEN '${3:-success}' = 'success' THEN 0 ELSE 1 END)"
}
chip() {	# NAME [PROVIDER]
	psql_q "INSERT INTO chips (telefone, instance_name, provider, status, evolution_connected)
		VALUES ('55119999$RANDOM', '$1', '${2:-evolution}', 'active', true)"
}
evolution_breaker() {	# STATE
	psql_q "INSERT INTO circuit_breakers (name, kind, state) VALUES ('provider:evolution', 'provider', '$1')
		ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state"
}
outbox() {	# the outbox as key|status|resolved lines, in order
	psql_q "SELECT alert_key || '|' || status || '|' || CASE WHEN resolved THEN 't' ELSE 'f' END FROM alert_outbox ORDER BY id"
}
slack_posts() { fake_count slack POST /services/; }

@test "queue backlog: more than 50 due, oldest over 30 min; not at 50, not at 29 min" {
	heartbeat 1
	pending 49 5
	pending 1 31
	run_chipctl 0 watchdog
	[ -z "$(outbox)" ]
	pending 1 29	# 51 due, oldest 31 min
	run_chipctl 0 watchdog --json
	python3 -c '
import json, sys
o = json.load(sys.stdin)
assert [f["key"] for f in o["firing"]] == ["queue_backlog"] and o["firing"][0]["raised"], o
assert o["firing"][0]["severity"] == "critical"' <<< "$output"
	[ "$(outbox)" = "queue_backlog|unrouted|f" ]
	[[ "$(psql_q "SELECT text FROM alert_outbox")" == "queue backlog: 51 due pending messages, the oldest due 31 min ago"* ]]
	psql_q "UPDATE fila_mensagens SET agendar_para = now() - interval '29 minutes'"
	run_chipctl 0 watchdog	# 51 due, but none waited 30 min: resolved
	[ "$(outbox | tail -1)" = "queue_backlog|unrouted|t" ]
}

@test "cooldown is per type and subject; after it the alert fires again" {
	heartbeat 1
	pending 51 31
	job_run pool-check 200
	run_chipctl 0 watchdog
	run_chipctl 0 watchdog
	[ "$(outbox)" = "$(printf 'queue_backlog|unrouted|f\njob_down:pool-check|unrouted|f')" ]
	job_run sync-evolution 500	# another subject of the cooling type
	run_chipctl 0 watchdog
	[ "$(outbox | tail -1)" = "job_down:sync-evolution|unrouted|f" ]
	psql_q "UPDATE alert_state SET last_raised_at = now() - interval '3601 seconds' WHERE alert_key = 'queue_backlog'"
	run_chipctl 0 watchdog
	[ "$(outbox | tail -1)" = "queue_backlog|unrouted|f" ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox")" -eq 4 ]
	[ "$(psql_q "SELECT counts->>'alerts_raised' FROM job_executions WHERE job_name = 'watchdog' ORDER BY id")" = "$(printf '2\n0\n1\n1')" ]
}

@test "error burst: more than 10 send errors in 5 min, by fault and result; 10 is not enough" {
	heartbeat 1
	errors 4 5xx
	errors 2 4xx 10 chip
	errors 4 timeout
	errors 5 network 400	# older than the window
	errors 3 ok
	run_chipctl 0 watchdog
	[ -z "$(outbox)" ]
	errors 1 5xx
	run_chipctl 0 watchdog
	[ "$(psql_q "SELECT alert_key, severity, text FROM alert_outbox")" = "send_error_burst|warning|11 send errors in the last 300 s (the provider's fault 9, the chips' 2, the recipients' 0): provider 5xx=5, provider timeout=4, chip 4xx=2" ]
	run_chipctl 0 watchdog	# 30 min cooldown
	[ "$(psql_q "SELECT count(*) FROM alert_outbox")" -eq 1 ]
	psql_q "UPDATE send_attempts SET created_at = now() - interval '10 minutes'"
	run_chipctl 0 watchdog
	[ "$(outbox | tail -1)" = "send_error_burst|unrouted|t" ]
	[ "$(psql_q "SELECT text FROM alert_outbox ORDER BY id DESC LIMIT 1")" = "send errors are back below the threshold" ]
}

@test "worker heartbeat: older than 2 min while messages are due alerts" {
	pending 1 1
	heartbeat 100
	run_chipctl 0 watchdog
	[ -z "$(outbox)" ]
	heartbeat 130
	run_chipctl 0 watchdog
	[ "$(outbox)" = "worker_down|unrouted|f" ]
	[[ "$(psql_q "SELECT text FROM alert_outbox")" == "no send-worker heartbeat in the last 120 s (newest 13"?" s ago) while 1 messages are due" ]]
	psql_q "DELETE FROM fila_mensagens"
	run_chipctl 0 watchdog	# nothing due: no longer a problem
	[ "$(outbox | tail -1)" = "worker_down|unrouted|t" ]
	psql_q "DELETE FROM worker_heartbeats"
	pending 1 0
	run_chipctl 0 watchdog	# never beat at all, but the key is cooling down
	[ "$(outbox | tail -1)" = "worker_down|unrouted|t" ]
	psql_q "UPDATE alert_state SET last_raised_at = now() - interval '1801 seconds'"
	run_chipctl 0 watchdog
	[[ "$(psql_q "SELECT text FROM alert_outbox ORDER BY id DESC LIMIT 1")" == *"(newest never)"* ]]
}

@test "jobs: down past twice the interval alerts; late does not; intervals from config" {
	heartbeat 1
	job_run pool-check 119	# late (past 60 + grace 60 = 120? not yet) and not down
	job_run trust-update 1700	# late (past 960), not down (1800)
	run_chipctl 0 watchdog
	[ -z "$(outbox)" ]
	psql_q "UPDATE job_executions SET started_at = started_at - interval '2 seconds' WHERE job_name = 'pool-check'"
	run_chipctl 0 watchdog
	[ "$(outbox)" = "job_down:pool-check|unrouted|f" ]
	[[ "$(psql_q "SELECT text FROM alert_outbox")" == "job pool-check is down: its last successful run started 12"?" s ago (last run 12"?" s ago, status success), more than twice its interval of 60 s; newest worker heartbeat "*" s ago" ]]
	conf 'jobs: { pool_check_interval_s = 600; };'
	run_chipctl 0 watchdog
	[ "$(outbox | tail -1)" = "job_down:pool-check|unrouted|t" ]
	[ "$(psql_q "SELECT text FROM alert_outbox ORDER BY id DESC LIMIT 1")" = "job pool-check runs again" ]
}

@test "jobs: installed 3 h ago, only the watchdog ran: it names trust-update, health is not OK" {
	psql_q "UPDATE schema_migrations SET applied_at = now() - interval '3 hours'"
	psql_q "INSERT INTO chips (telefone, instance_name, status, pode_prospectar, pode_followup)
		VALUES ('5511999990001', 'pool-1', 'active', true, true)"
	heartbeat 1
	job_run watchdog 60
	run_chipctl 0 watchdog --json
	python3 -c '
import json, sys
keys = {f["key"] for f in json.load(sys.stdin)["firing"]}
want = {"job_down:" + j for j in ("trust-update", "pool-check", "sync-evolution",
        "reset-stuck-queue", "metrics-snapshot")}
assert want <= keys, keys
assert "job_down:watchdog" not in keys and "job_down:reset-stuck-queue-expire" not in keys, keys' <<< "$output"
	[[ "$(psql_q "SELECT text FROM alert_outbox WHERE alert_key = 'job_down:trust-update'")" == "job trust-update is down: no successful run since chipctl was installed 3.0 h ago (last run: never), more than twice its interval of 900 s; is it scheduled"* ]]
	run_chipctl 2 health jobs
	[[ "$output" == *"trust-update down (no successful run since chipctl was installed 3.0h ago"* ]]
	run_chipctl 2 health deep
	# the first watchdog run ever is not down itself: it is running
	psql_q "DELETE FROM job_executions"
	run_chipctl 0 watchdog --dry-run --json
	[[ "$output" != *"job_down:watchdog"* && "$output" == *"job_down:trust-update"* ]]
	run_chipctl 0 watchdog --json
	[[ "$output" != *"job_down:watchdog"* ]]
}

@test "jobs: more than half of the recent runs failed alerts" {
	heartbeat 1
	job_run metrics-snapshot 30 failed
	job_run metrics-snapshot 20 success
	job_run metrics-snapshot 10 success
	job_run metrics-snapshot 5 failed
	run_chipctl 0 watchdog	# 2 of 4
	[ -z "$(outbox)" ]
	job_run metrics-snapshot 1 abandoned
	run_chipctl 0 watchdog	# 3 of 5
	[ "$(psql_q "SELECT alert_key, severity FROM alert_outbox")" = "job_failing:metrics-snapshot|warning" ]
	[[ "$(psql_q "SELECT text FROM alert_outbox")" == "job metrics-snapshot is failing: 3 of its last 5 runs failed"* ]]
}

@test "Slack down: the alert waits in the outbox and the next run delivers it once" {
	use_fake_slack
	heartbeat 1
	pending 51 31
	fake_ctl slack /__control/mode '{"mode":"down"}'
	run_chipctl 0 watchdog
	[[ "$stderr" == *"alert delivery failed, will retry"* ]]
	[ "$(outbox)" = "queue_backlog|pending|f" ]
	fake_ctl slack /__control/mode '{"mode":"ok"}'
	psql_q "UPDATE alert_outbox SET next_attempt_at = now()"
	run_chipctl 0 watchdog
	[ "$(outbox)" = "queue_backlog|sent|f" ]
	run_chipctl 0 watchdog
	[ "$(slack_posts)" -eq 2 ]	# one failed post, one delivery
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE status = 'sent'")" -eq 1 ]
}

@test "two watchdogs at once: every alert is posted once" {
	use_fake_slack
	heartbeat 1
	for i in $(seq 1 8); do
		psql_q "INSERT INTO alert_outbox (alert_key, alert_type, severity, text) VALUES ('k$i', 'k', 'info', 't$i')"
	done
	"$CHIPCTL_BIN" -q watchdog 3>&- & a=$!
	"$CHIPCTL_BIN" -q watchdog 3>&- & b=$!
	wait $a; wait $b
	"$CHIPCTL_BIN" -q watchdog 3>&-	# whichever skipped, the rest goes now
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE status = 'sent'")" -eq 8 ]
	[ "$(slack_posts)" -eq 8 ]
}

@test "inhibition: per-chip alerts wait while the provider is out, and go when it ends" {
	use_fake_slack
	heartbeat 1
	chip evo-a
	chip evo-b
	chip zapi-c zapi
	evolution_breaker open
	run_chipctl 0 alerts raise --type chip_disconnected --subject evo-a --text "evo-a is down"
	run_chipctl 0 alerts raise --type chip_disconnected --subject evo-b --text "evo-b is down"
	run_chipctl 0 alerts raise --type chip_disconnected --subject zapi-c --text "zapi-c is down"
	run_chipctl 0 alerts raise --type other_alert --subject evo-a --text "not explained"
	run_chipctl 0 watchdog
	[ "$(psql_q "SELECT alert_key || '|' || status || '|' || coalesce(inhibited_by, '-') FROM alert_outbox ORDER BY id")" = "$(printf '%s\n' \
		'chip_disconnected:evo-a|inhibited|provider_outage:evolution' \
		'chip_disconnected:evo-b|inhibited|provider_outage:evolution' \
		'chip_disconnected:zapi-c|sent|-' 'other_alert:evo-a|sent|-' \
		'provider_outage:evolution|sent|-')" ]
	# evo-b recovers during the outage: its alert and its resolved notice are dropped
	psql_q "UPDATE alert_state SET active = false WHERE alert_key = 'chip_disconnected:evo-b'"
	evolution_breaker closed
	run_chipctl 0 watchdog
	[ "$(psql_q "SELECT status FROM alert_outbox WHERE alert_key = 'chip_disconnected:evo-a'")" = sent ]
	[ "$(psql_q "SELECT status || '|' || inhibited_by FROM alert_outbox WHERE alert_key = 'chip_disconnected:evo-b'")" = "inhibited|dropped after provider_outage:evolution" ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE alert_key = 'provider_outage:evolution' AND resolved AND status = 'sent'")" -eq 1 ]
	[ "$(slack_posts)" -eq 5 ]
	run_chipctl 0 watchdog
	[ "$(slack_posts)" -eq 5 ]
}

@test "inhibition also follows an active provider_outage alert raised by another job" {
	heartbeat 1
	chip evo-a
	run_chipctl 0 alerts raise --type provider_outage --subject evolution --text "raised by the send-worker"
	run_chipctl 0 alerts raise --type chip_error --subject evo-a --text "5xx"
	[ "$(psql_q "SELECT status FROM alert_outbox WHERE alert_type = 'chip_error'")" = inhibited ]
	evolution_breaker closed
	run_chipctl 0 watchdog	# breaker closed: the watchdog resolves the outage, the chip alert goes
	[ "$(psql_q "SELECT status FROM alert_outbox WHERE alert_type = 'chip_error'")" = unrouted ]
}

@test "--dry-run says what would fire and writes nothing" {
	heartbeat 1
	pending 51 31
	run_chipctl 0 watchdog --dry-run --json
	[[ "$stderr" == *'would raise alert'*'key=queue_backlog'* ]]
	[ -z "$(outbox)" ]
	[ "$(psql_q "SELECT count(*) FROM job_executions")" -eq 0 ]
	[ "$(psql_q "SELECT count(*) FROM alert_state")" -eq 0 ]
}

@test "a database it cannot read: exit 70, recorded as a failed run" {
	psql_q "DROP TABLE send_attempts CASCADE"
	run_chipctl 70 watchdog
	[ "$(psql_q "SELECT status, exit_code FROM job_executions")" = "failed|70" ]
	export DATABASE_URL="postgresql://chipctl:pw@127.0.0.1:1/none?connect_timeout=2"
	run_chipctl 75 watchdog
}

@test "pings: start and the exit code to the job's URL; none when not configured or dry" {
	fake_start slack
	fake_ctl slack /__control/script '{"responses":[{"status":200,"body":"OK"},{"status":200,"body":"OK"},{"status":200,"body":"OK"},{"status":200,"body":"OK"}]}'
	heartbeat 1
	conf "ping: { watchdog_url = \"$FAKE_SLACK_URL/ping/wd-secret-uuid\"; metrics_snapshot_url = \"$FAKE_SLACK_URL/ping/ms-secret-uuid\"; };"
	add_secret wd-secret-uuid
	run_chipctl 0 watchdog
	run_chipctl 0 watchdog --dry-run
	run_chipctl 0 reset-stuck-queue
	run_chipctl 0 metrics-snapshot
	run python3 -c '
import json, sys
for r in json.load(sys.stdin):
    print(r["method"], r["path"], r["body"].split(" ")[2:4])' < <(fake_requests slack)
	[ "$output" = "$(printf '%s\n' "POST /ping/wd-secret-uuid/start []" \
		"POST /ping/wd-secret-uuid/0 ['exit', '0']" \
		"POST /ping/ms-secret-uuid/start []" "POST /ping/ms-secret-uuid/0 ['exit', '0']")" ]
	[ "$(psql_q "SELECT run_id FROM job_executions WHERE job_name = 'watchdog'")" = \
		"$(fake_requests slack | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["body"])')" ]
}

@test "pings: a failed run pings its exit code with the error; a dead ping URL is only a warning" {
	fake_start slack
	fake_ctl slack /__control/script '{"responses":[{"status":200},{"status":200}]}'
	conf "ping: { watchdog_url = \"$FAKE_SLACK_URL/ping/wd\"; timeout_ms = 500; };"
	psql_q "DROP TABLE send_attempts CASCADE"
	run_chipctl 70 watchdog
	[ "$(fake_count slack POST /ping/wd/70)" -eq 1 ]
	[[ "$(fake_requests slack | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["body"])')" == "run "*" exit 70: "* ]]
	fake_stop slack
	psql_q "CREATE TABLE send_attempts (id bigserial, message_id bigint, result text, latency_ms int, created_at timestamptz, fault text)"
	run_chipctl 0 watchdog
	[[ "$stderr" == *"dead man's switch ping failed"*"ping=start"* ]]
	[[ "$stderr" == *"dead man's switch ping failed"*"ping=0"* ]]
}

@test "Slack's pace: posts of one run are at least slack.min_interval_ms apart" {
	fake_start slack
	export SLACK_WEBHOOK_URL="$FAKE_SLACK_URL/services/T0/B0/pacesecret"
	add_secret pacesecret
	conf 'slack: { min_interval_ms = 400; };'
	heartbeat 1
	for i in 1 2 3; do
		psql_q "INSERT INTO alert_outbox (alert_key, alert_type, severity, text) VALUES ('k$i', 'k', 'info', 't$i')"
	done
	run_chipctl 0 watchdog
	fake_requests slack | python3 -c '
import json, sys
ts = [r["ts"] for r in json.load(sys.stdin)]
assert len(ts) == 3, ts
gaps = [b - a for a, b in zip(ts, ts[1:])]
assert min(gaps) >= 0.39, gaps'
}
