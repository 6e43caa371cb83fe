#!/usr/bin/env bats
# metrics and metrics-snapshot: Prometheus text checked by a strict parser,
# the textfile, JSON, snapshots with their 7-day retention, history.
load ../lib/common

# prom_ok TEXT: the strict checker (and promtool too when it is installed)
prom_ok() {
	printf '%s\n' "$1" > "$BATS_TEST_TMPDIR/m.prom"
	python3 "$REPO/tests/prom_check.py" "$BATS_TEST_TMPDIR/m.prom" || return 1
	if command -v promtool >/dev/null; then
		promtool check metrics < "$BATS_TEST_TMPDIR/m.prom" || return 1
	fi
}

@test "the checker itself rejects broken exposition text" {
	run python3 "$REPO/tests/prom_check.py" <(printf '# TYPE a gauge\na{x="1"} 1\nb 2\na 3\n')
	[ "$status" -eq 1 ] && [[ "$output" == *"after its family ended"* ]]
	run python3 "$REPO/tests/prom_check.py" <(printf 'a{x="\\q"} 1\n')
	[ "$status" -eq 1 ] && [[ "$output" == *"bad escape"* ]]
	run python3 "$REPO/tests/prom_check.py" <(printf 'a 1\na 2\n')
	[ "$status" -eq 1 ] && [[ "$output" == *"duplicate series"* ]]
	run python3 "$REPO/tests/prom_check.py" <(printf 'a one\n')
	[ "$status" -eq 1 ]
	run python3 "$REPO/tests/prom_check.py" <(printf '# TYPE a gauge\n# TYPE a counter\na 1\n')
	[ "$status" -eq 1 ]
	run python3 "$REPO/tests/prom_check.py" <(printf 'a{1x="y"} 1\n')
	[ "$status" -eq 1 ]
	run python3 "$REPO/tests/prom_check.py" <(printf '# HELP a ok\n# TYPE a gauge\na{x="q\\"\\\\"} -1.5e3\n')
	[ "$status" -eq 0 ]
}

@test "metrics: valid Prometheus text with HELP and TYPE for every family, values from the data" {
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, agendar_para)
		SELECT 'c', '55', 'x', now() - interval '10 minutes' FROM generate_series(1, 3)"
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, agendar_para)
		VALUES ('c', '55', 'x', now() + interval '1 hour')"
	psql_q "INSERT INTO chips (telefone, instance_name, status, evolution_connected)
		VALUES ('5511', 'a', 'active', true), ('5512', 'b', 'ready', false)"
	psql_q "INSERT INTO circuit_breakers (name, kind, state) VALUES ('provider:evolution', 'provider', 'open')"
	psql_q "INSERT INTO send_attempts (message_id, attempt, result) VALUES (1, 1, '5xx'), (2, 1, '5xx'), (3, 1, 'ok')"
	run_chipctl 0 reset-stuck-queue
	run_chipctl 0 metrics
	prom_ok "$output"
	[[ "$output" == *$'\nchipctl_queue_messages{status="pendente"} 4\n'* ]]
	[[ "$output" == *$'\nchipctl_queue_due_messages 3\n'* ]]
	[[ "$output" == *$'\nchipctl_chips{status="ready"} 1\n'* ]]
	[[ "$output" == *$'\nchipctl_chips_connected 1\n'* ]]
	[[ "$output" == *$'\nchipctl_circuit_breakers{kind="provider",state="open"} 1\n'* ]]
	[[ "$output" == *$'\nchipctl_send_attempts_last_hour{result="5xx"} 2\n'* ]]
	[[ "$output" == *$'\nchipctl_job_last_exit_code{job="reset-stuck-queue"} 0\n'* ]]
	[[ "$output" =~ chipctl_queue_oldest_due_seconds\ 60[0-9] ]]
	# every family has exactly one HELP and one TYPE
	fams=$(grep -v '^#' <<< "$output" | sed 's/[{ ].*//' | sort -u)
	for f in $fams; do
		[ "$(grep -c "^# HELP $f " <<< "$output")" -eq 1 ] || { echo "HELP $f"; return 1; }
		[ "$(grep -c "^# TYPE $f gauge$" <<< "$output")" -eq 1 ] || { echo "TYPE $f"; return 1; }
	done
}

@test "metrics --textfile writes chipctl.prom atomically; an unwritable directory is 73" {
	mkdir "$BATS_TEST_TMPDIR/tf"
	echo stale > "$BATS_TEST_TMPDIR/tf/chipctl.prom"
	run_chipctl 0 metrics --textfile "$BATS_TEST_TMPDIR/tf"
	[ -z "$output" ]
	[ "$(ls "$BATS_TEST_TMPDIR/tf")" = chipctl.prom ]
	prom_ok "$(cat "$BATS_TEST_TMPDIR/tf/chipctl.prom")"
	run_chipctl 73 metrics --textfile "$BATS_TEST_TMPDIR/nonexistent"
	[[ "$stderr" == *"cannot write the textfile"* ]]
	run_chipctl 64 metrics --textfile "$BATS_TEST_TMPDIR/tf" --json
}

@test "metrics --json: an array of name, labels, value" {
	run_chipctl 0 metrics --json
	python3 -c '
import json, sys
rows = json.load(sys.stdin)
m = {(r["name"], tuple(sorted(r["labels"].items()))): r["value"] for r in rows}
assert m[("chipctl_queue_messages", (("status", "pendente"),))] == 0, m
assert m[("chipctl_worker_heartbeat_age_seconds", ())] == -1, m' <<< "$output"
}

@test "metrics-snapshot stores the metrics and deletes rows older than 7 days in the same run" {
	psql_q "INSERT INTO metrics_snapshots (name, value, created_at) VALUES
		('old', 1, now() - interval '8 days'), ('kept', 2, now() - interval '6 days')"
	run_chipctl 0 metrics-snapshot --dry-run --json
	[[ "$output" =~ ^\{\"dry_run\":true,\"written\":[0-9]+,\"deleted\":1\}$ ]]
	[ "$(psql_q "SELECT count(*) FROM metrics_snapshots")" -eq 2 ]
	run_chipctl 0 metrics-snapshot --json
	n=$(psql_q "SELECT count(*) FROM metrics_snapshots WHERE run_id IS NOT NULL")
	[ "$output" = "{\"dry_run\":false,\"written\":$n,\"deleted\":1}" ]
	[ "$n" -gt 30 ]
	[ "$(psql_q "SELECT string_agg(name, ',') FROM metrics_snapshots WHERE run_id IS NULL")" = kept ]
	[ "$(psql_q "SELECT value FROM metrics_snapshots WHERE name = 'chipctl_chips' AND labels->>'status' = 'active'")" = 0 ]
	[ "$(psql_q "SELECT counts FROM job_executions WHERE job_name = 'metrics-snapshot'")" = "{\"deleted\": 1, \"written\": $n}" ]
	conf 'metrics: { retention_days = 5; };'
	run_chipctl 0 metrics-snapshot
	[ "$(psql_q "SELECT count(*) FROM metrics_snapshots WHERE name = 'kept'")" -eq 0 ]
}

@test "metrics history NAME --since: the stored points in the window, oldest first" {
	psql_q "INSERT INTO metrics_snapshots (name, value, labels, created_at) VALUES
		('chipctl_queue_due_messages', 5, '{}', now() - interval '2 hours'),
		('chipctl_queue_due_messages', 7, '{}', now() - interval '30 minutes'),
		('chipctl_queue_due_messages', 9, '{}', now() - interval '2 days'),
		('other', 1, '{}', now())"
	run_chipctl 0 metrics history chipctl_queue_due_messages
	[ "$(wc -l <<< "$output")" -eq 2 ]
	[[ "$output" =~ ^[0-9-]+T[0-9:]+Z\ \ 5\ \ \{\}$'\n'[0-9-]+T[0-9:]+Z\ \ 7\ \ \{\}$ ]]
	run_chipctl 0 metrics history chipctl_queue_due_messages --since 1h --json
	python3 -c '
import json, sys
rows = json.load(sys.stdin)
assert [r["value"] for r in rows] == [7] and rows[0]["labels"] == {}, rows' <<< "$output"
	run_chipctl 0 metrics history chipctl_queue_due_messages --since 3d
	[ "$(wc -l <<< "$output")" -eq 3 ]
	run_chipctl 64 metrics history chipctl_queue_due_messages --since yesterday
	run_chipctl 64 metrics history
	run_chipctl 64 metrics --since 1h
}

@test "the Grafana dashboard queries only metrics and labels chipctl prints, and shows every one" {
	# a job run, so the per-job families are printed too
	run_chipctl 0 metrics-snapshot
	run_chipctl 0 metrics
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/m.prom"
	run python3 "$REPO/tests/grafana_check.py" "$REPO/etc/grafana/chipctl.json" "$BATS_TEST_TMPDIR/m.prom"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	# the checker itself: a misspelt metric, a wrong label, a family left out
	sed 's/chipctl_workers_alive/chipctl_workers_alvie/; s/{{status}}/{{state}}/' \
		"$REPO/etc/grafana/chipctl.json" > "$BATS_TEST_TMPDIR/bad.json"
	run python3 "$REPO/tests/grafana_check.py" "$BATS_TEST_TMPDIR/bad.json" "$BATS_TEST_TMPDIR/m.prom"
	[ "$status" -eq 1 ]
	[[ "$output" == *"chipctl_workers_alvie is not a metric chipctl prints"* ]]
	[[ "$output" == *"label 'state' is not a label of chipctl_queue_messages"* ]]
	[[ "$output" == *"metric chipctl_workers_alive is on no panel"* ]]
}
