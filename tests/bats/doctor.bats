#!/usr/bin/env bats
# chipctl doctor: one line per check, never a secret.
load ../lib/common

@test "everything configured and reachable: all OK, exit 0" {
	use_fake_slack
	fake_start evolution
	export EVOLUTION_API_URL=$FAKE_EVOLUTION_URL EVOLUTION_API_KEY=$FAKE_EVOLUTION_APIKEY
	add_secret "$FAKE_EVOLUTION_APIKEY"
	run_chipctl 0 doctor
	for c in config database migrations evolution slack; do
		[[ "$output" == *"OK    $c"* ]] || { echo "no OK for $c"; return 1; }
	done
	# doctor posts nothing visible to Slack (an empty payload is refused)
	[ "$(fake_count slack POST /services/)" -eq 1 ]
}

@test "a refused Evolution key and a dead webhook: FAIL lines, exit 78" {
	use_fake_slack
	fake_ctl slack /__control/mode '{"mode":"no_service"}'
	fake_start evolution
	export EVOLUTION_API_URL=$FAKE_EVOLUTION_URL EVOLUTION_API_KEY=wrong-key-4242
	add_secret wrong-key-4242
	run_chipctl 78 doctor
	[[ "$output" == *"FAIL  evolution   "*"refused the API key (401)"* ]]
	[[ "$output" == *"FAIL  slack"* ]]
}

@test "database down and migrations pending are reported, exit 75" {
	DATABASE_URL="postgresql://chipctl:pw12345678@127.0.0.1:1/x" run_chipctl 75 doctor --json
	add_secret pw12345678
	echo "$output" | python3 -c '
import json, sys
o = json.load(sys.stdin)
states = {c["check"]: c["state"] for c in o["checks"]}
assert o["ok"] is False and states["database"] == "FAIL" and states["config"] == "OK", o'
}

@test "a config error is reported and exits 78" {
	printf 'nope = ;\n' > "$CONF"
	run_chipctl 78 doctor
	[[ "$output" == *"FAIL  config"* ]]
}

@test "an unreachable Evolution server is a temporary failure, exit 75" {
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	EVOLUTION_API_URL=http://127.0.0.1:$port EVOLUTION_API_KEY=k-123456 run_chipctl 75 doctor
	[[ "$output" == *"FAIL  evolution"* ]]
	add_secret k-123456
}

@test "no database.url: a configuration error, exit 78" {
	unset DATABASE_URL
	run_chipctl 78 doctor
	[[ "$output" == *"FAIL  database    database.url is not set"* ]]
}
