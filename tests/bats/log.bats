#!/usr/bin/env bats
# Logging: logfmt and JSON lines on stderr, a run id on every line, levels.
load ../lib/common

@test "logfmt by default: every line has ts, level, cmd and the run id" {
	run_chipctl 0 reset-stuck-queue
	[ -n "$stderr" ]
	run_id=$(psql_q "SELECT run_id FROM job_executions")
	while read -r line; do
		[[ "$line" =~ ^ts=[0-9T:.-]+Z\ level=[a-z]+\ cmd=reset-stuck-queue\ run=$run_id\ msg= ]] ||
			{ echo "bad line: $line"; return 1; }
	done <<< "$stderr"
}

@test "--log-format json: every line is a JSON object with the run id" {
	run_chipctl 0 --log-format json reset-stuck-queue
	run_id=$(psql_q "SELECT run_id FROM job_executions")
	echo "$stderr" | python3 -c '
import json, sys
run = sys.argv[1]
n = 0
for line in sys.stdin:
    o = json.loads(line)
    assert o["run"] == run and o["cmd"] == "reset-stuck-queue" and o["level"], o
    n += 1
assert n >= 2, n
' "$run_id"
}

@test "log.format = json in the config; the command line wins" {
	conf 'log: { format = "json"; };'
	run_chipctl 0 reset-stuck-queue
	[[ "${stderr:0:1}" == "{" ]]
	run_chipctl 0 reset-stuck-queue --log-format logfmt
	[[ "$stderr" == ts=* ]]
}

@test "an unknown --log-format is a usage error" {
	run_chipctl 64 reset-stuck-queue --log-format xml
}

@test "-q silences info lines, -v adds debug lines" {
	run_chipctl 0 reset-stuck-queue -q
	[ -z "$stderr" ]
	run_chipctl 0 -v reset-stuck-queue
	[[ "$stderr" == *"level=debug"* ]]
}

@test "secrets in the environment never reach the log, even at debug level" {
	export EVOLUTION_API_KEY=evo-secret-key-777 SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T1/B2/slacksecret888
	add_secret evo-secret-key-777
	add_secret slacksecret888
	run_chipctl 0 -v -v alerts raise --type test --text "key evo-secret-key-777 leaked?"
	[[ "$stderr" == *"[REDACTED]"* ]]
}
