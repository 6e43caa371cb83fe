#!/usr/bin/env bats
# Alerts: outbox, cooldown per key, Slack delivery, retry, nothing lost, none twice.
load ../lib/common

slack_posts() { fake_count slack POST /services/; }

@test "an alert is delivered to Slack once, and marked sent" {
	use_fake_slack
	run_chipctl 0 alerts raise --type chip_down --subject chip7 --severity critical --text "chip7 is down"
	[ "$(slack_posts)" -eq 1 ]
	[ "$(psql_q "SELECT status, attempts FROM alert_outbox")" = "sent|1" ]
	run python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))[-1]; print(r["json"]["text"])' <(curl -s "$FAKE_SLACK_URL/__requests")
	[[ "$output" == "[CRITICAL] chipctl chip_down:chip7: chip7 is down" ]]
	run_chipctl 0 alerts flush
	[ "$(slack_posts)" -eq 1 ]
}

@test "cooldown is per key: the same key is held back, another subject is not" {
	use_fake_slack
	run_chipctl 0 alerts raise --type chip_down --subject A --text a
	run_chipctl 0 alerts raise --type chip_down --subject A --text again
	[[ "$output" == "held back by cooldown" ]]
	run_chipctl 0 alerts raise --type chip_down --subject B --text b
	[[ "$output" == queued ]]
	[ "$(psql_q "SELECT string_agg(alert_key, ',' ORDER BY id) FROM alert_outbox")" = "chip_down:A,chip_down:B" ]
	[ "$(slack_posts)" -eq 2 ]
}

@test "after the cooldown the same key alerts again" {
	run_chipctl 0 alerts raise --type t --text one --cooldown 60
	psql_q "UPDATE alert_state SET last_raised_at = now() - interval '61 seconds'"
	run_chipctl 0 alerts raise --type t --text two --cooldown 60
	[[ "$output" == queued ]]
}

@test "Slack down: the alert is kept, retried by the next run, delivered once" {
	use_fake_slack
	fake_ctl slack /__control/mode '{"mode":"down"}'
	run_chipctl 0 alerts raise --type backlog --text "queue backlog"
	[[ "$stderr" == *"alert delivery failed, will retry"* ]]
	[ "$(psql_q "SELECT status, attempts, last_error LIKE 'HTTP 500%' FROM alert_outbox")" = "pending|1|t" ]
	fake_ctl slack /__control/mode '{"mode":"ok"}'
	# not due yet: the next run leaves it alone
	run_chipctl 0 reset-stuck-queue
	[ "$(psql_q "SELECT status FROM alert_outbox")" = pending ]
	psql_q "UPDATE alert_outbox SET next_attempt_at = now()"
	run_chipctl 0 reset-stuck-queue
	[ "$(psql_q "SELECT status, attempts FROM alert_outbox")" = "sent|2" ]
	[ "$(psql_q "SELECT counts->>'alerts_delivered' FROM job_executions ORDER BY id DESC LIMIT 1")" = 1 ]
	run_chipctl 0 reset-stuck-queue
	[ "$(fake_count slack POST /services/)" -eq 2 ]	# one failed post, one delivery
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE status = 'sent'")" -eq 1 ]
}

@test "Slack 429: Retry-After is honoured, and the run stops posting" {
	use_fake_slack
	fake_ctl slack /__control/mode '{"mode":"ratelimit","retry_after":120}'
	run_chipctl 0 alerts raise --type a --text one
	run_chipctl 0 alerts raise --type b --text two
	[ "$(psql_q "SELECT bool_and(next_attempt_at BETWEEN now() + interval '110 s' AND now() + interval '121 s') FROM alert_outbox WHERE attempts > 0")" = t ]
	# each run made one post, then stopped
	[ "$(slack_posts)" -eq 2 ]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE status = 'pending'")" -eq 2 ]
}

@test "Slack hanging: the post times out, the alert waits for the next run" {
	use_fake_slack 'timeout_ms = 500;'
	fake_ctl slack /__control/mode '{"mode":"hang"}'
	run_chipctl 0 alerts raise --type hang --text h
	[ "$(psql_q "SELECT status, last_error LIKE 'timed out%' FROM alert_outbox")" = "pending|t" ]
}

@test "Slack webhook gone (404 no_service): kept pending, never dropped" {
	use_fake_slack
	fake_ctl slack /__control/mode '{"mode":"no_service"}'
	run_chipctl 0 alerts raise --type gone --text g
	[ "$(psql_q "SELECT status, last_error FROM alert_outbox")" = "pending|HTTP 404: no_service" ]
}

@test "two deliverers at once never post the same alert twice" {
	use_fake_slack
	for i in $(seq 1 12); do
		psql_q "INSERT INTO alert_outbox (alert_key, alert_type, severity, text) VALUES ('k$i', 'k', 'info', 't$i')"
	done
	"$CHIPCTL_BIN" -q alerts flush 3>&- & a=$!
	"$CHIPCTL_BIN" -q alerts flush 3>&- & b=$!
	wait $a; wait $b
	[ "$(psql_q "SELECT count(*) FROM alert_outbox WHERE status = 'sent'")" -eq 12 ]
	[ "$(slack_posts)" -eq 12 ]
}

@test "no webhook configured: the alert goes to the log and is marked unrouted" {
	run_chipctl 0 alerts raise --type x --subject s --text "visible in the log"
	[[ "$stderr" == *"no slack.webhook_url configured"*"visible in the log"* ]]
	[ "$(psql_q "SELECT status FROM alert_outbox")" = unrouted ]
}

@test "--dry-run raises and posts nothing" {
	use_fake_slack
	psql_q "INSERT INTO alert_outbox (alert_key, alert_type, severity, text) VALUES ('k', 'k', 'info', 'waiting')"
	run_chipctl 0 alerts raise --type x --text y --dry-run
	run_chipctl 0 alerts flush -n
	[ "$(psql_q "SELECT count(*) FROM alert_outbox")" -eq 1 ]
	[ "$(psql_q "SELECT status FROM alert_outbox")" = pending ]
	[ "$(fake_count slack POST /services/)" -eq 0 ]
}

@test "alerts list shows pending alerts; --json parses" {
	fake_start slack
	export SLACK_WEBHOOK_URL="$FAKE_SLACK_URL/services/T/B/secretpathzz"
	add_secret secretpathzz
	conf 'slack: { min_interval_ms = 0; };'
	fake_ctl slack /__control/mode '{"mode":"down"}'
	run_chipctl 0 alerts raise --type quoted --text "it's \"quoted\""
	run_chipctl 0 alerts list --json
	echo "$output" | python3 -c 'import json,sys; l=json.load(sys.stdin); assert l[0]["text"]=="it'"'"'s \"quoted\"" and l[0]["status"]=="pending", l'
	run_chipctl 64 alerts raise --type x
	run_chipctl 64 alerts raise --type x --text y --severity loud
}
