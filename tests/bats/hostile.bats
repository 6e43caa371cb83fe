#!/usr/bin/env bats
# Hostile input changes nothing (issue 21): numbers past their type, JSON
# fields of the wrong type, NUL bytes, text that is not UTF-8, control bytes
# stored in the database, and output paths that are not regular files. Each
# class pins the documented exit code and that the database is unchanged
# byte for byte (a data-only pg_dump, sequences included, before and after).
load ../lib/common

setup() {
	common_setup
	CHIP=$(psql_q "INSERT INTO chips (telefone, instance_name, status, created_at, evolution_connected)
	               VALUES ('5511900000001', 'chip01', 'active', now() - interval '40 days', true)
	               RETURNING id")
	# the message the clamped id used to reach: bigint's largest
	psql_q "INSERT INTO fila_mensagens (id, cliente_id, telefone, conteudo, status, tentativas, outcome)
	        VALUES (9223372036854775807, 'dr1', '5511999990000', 'x', 'erro', 3, 'FAILED_ALL_CHIPS')"
	EV="$BATS_TEST_TMPDIR/events.jsonl"
	: > "$EV"
}

# db_digest: the whole database's data, sequences included, as one hash
db_digest() {
	# (pg_dump 15.14+ adds a random \restrict key: not data)
	pg_dump --data-only --no-owner --no-privileges "$DATABASE_URL" |
		grep -Ev '^(--|\\restrict |\\unrestrict )' | sha256sum
}

# unchanged_since DIGEST: the database is byte for byte what it was
unchanged_since() {
	local now
	now=$(db_digest)
	[ "$now" = "$1" ] || { echo "the database changed"; return 1; }
}

@test "numbers past their type are refused, never clamped: 64, 65 or 78 as documented; nothing changes" {
	before=$(db_digest)
	run_chipctl 65 queue requeue 9223372036854775808
	[[ "$stderr" == *"message ids are positive integers"* ]]
	run_chipctl 65 queue show 9223372036854775808
	run_chipctl 64 queue requeue -1	# an option, as for any command
	for id in 99999999999999999999999 0 0x10 ' 5' '5 ' +5 '' 1e3 '５'; do
		run_chipctl 65 queue requeue "$id"
		run_chipctl 65 queue show "$id"
	done
	[ "$(psql_q "SELECT status, tentativas FROM fila_mensagens WHERE id = 9223372036854775807")" = "erro|3" ]
	run_chipctl 64 report --days 4294967297
	run_chipctl 64 report --days ' 7'
	run_chipctl 64 chip cooldown chip01 --minutes 4294967297 --reason r
	run_chipctl 64 chip cooldown chip01 --minutes -0x1 --reason r
	run_chipctl 64 alerts raise --type t --text x --cooldown 18446744073709551616
	run_chipctl 64 circuits --hours 8761
	run_chipctl 64 metrics history chipctl_chips --since 99999999999999999999d
	run_chipctl 64 provision --count 101
	CHIPCTL_MULTI_CHIP=2 run_chipctl 78 chips
	[[ "$stderr" == *"env=CHIPCTL_MULTI_CHIP"*"out of range"* ]]
	CHIPCTL_MULTI_CHIP=' 1' run_chipctl 78 chips
	[[ "$stderr" == *"not a decimal integer"* ]]
	unchanged_since "$before"
	# the largest id itself is a valid id: requeued as asked
	run_chipctl 0 queue requeue 9223372036854775807
	[ "$(psql_q "SELECT status, tentativas FROM fila_mensagens WHERE id = 9223372036854775807")" = "pendente|0" ]
}

@test "JSON fields of the wrong type, NUL in strings, absurd timestamps: malformed, counted, 65, nothing written" {
	cat > "$EV" <<-'EOF'
	{"event":"messages.upsert","instance":"chip01","data":{"key":{"remoteJid":"5511988800001@s.whatsapp.net","fromMe":"true","id":"W1"},"messageType":"conversation","messageTimestamp":1773027345}}
	{"event":"messages.upsert","instance":"chip01","data":{"key":{"remoteJid":"5511988800001@s.whatsapp.net","fromMe":1,"id":"W2"}}}
	{"event":"messages.upsert","instance":"chip01\u0000x","data":{"key":{"remoteJid":"5511988800001@s.whatsapp.net","fromMe":false,"id":"W3"}}}
	{"event":"messages.upsert","instance":"chip01","data":{"key":{"remoteJid":"5511988800001@s.whatsapp.net","fromMe":false,"id":"W4"},"messageTimestamp":"soon"}}
	{"event":"messages.upsert","instance":"chip01","data":{"key":{"remoteJid":"5511988800001@s.whatsapp.net","fromMe":false,"id":"W5"},"messageTimestamp":32503680000}}
	{"event":"messages.upsert","instance":"chip01","data":{"key":{"remoteJid":"5511988800001@s.whatsapp.net","fromMe":false,"id":"W6"},"messageTimestamp":-5}}
	{"event":"messages.upsert","instance":"chip01","data":{"key":{"remoteJid":"5511988800001@s.whatsapp.net","fromMe":false,"id":"W7"},"messageTimestamp":99999999999999999999999}}
	{"event":"messages.update","instance":"chip01","data":{"keyId":"K1","fromMe":"false","status":"READ"}}
	{"event":"connection.update","instance":"chip01","data":{"state":"close","statusReason":"401"}}
	{"event":"connection.update","instance":"chip01","data":{"state":"close","statusReason":4294967697}}
	{"type":"ReceivedCallback","instanceId":"Z1","messageId":"M1","phone":"5511988800001","fromMe":"true"}
	{"type":"MessageStatusCallback","instanceId":"Z1","status":"READ","ids":["A1",7]}
	{"type":"DisconnectedCallback","instanceId":"Z1","momment":1}
	EOF
	before=$(db_digest)
	run_chipctl 65 ingest --json "$EV"
	[ "$output" = '{"dry_run":false,"lines":13,"applied":0,"duplicates":0,"ignored":0,"unknown_instance":0,"malformed":13,"failed":0,"urgent_recomputations":0,"alerts":0,"own_sends":0}' ]
	[[ "$stderr" == *"line=1 error=\"data.key.fromMe: not a boolean\""* ]]
	[[ "$stderr" == *"line=3 error=\"instance: a string with a NUL inside\""* ]]
	[[ "$stderr" == *"line=5 error=\"data.messageTimestamp: time out of range"* ]]
	unchanged_since "$before"
	# the same events well typed are applied: the test can fail
	echo '{"event":"messages.upsert","instance":"chip01","data":{"key":{"remoteJid":"5511988800001@s.whatsapp.net","fromMe":true,"id":"W1"},"messageTimestamp":"1773027345"}}' > "$EV"
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"applied":1,'* ]]
	[ "$(psql_q "SELECT direction FROM chip_interactions WHERE provider_message_id = 'W1'")" = out ]
}

@test "text that is not UTF-8 is 65 naming the field, before any SQL; the database is unchanged" {
	before=$(db_digest)
	run_chipctl 65 chip show $'chip\xff'
	[[ "$stderr" == *"CHIP is not UTF-8 text"* ]]
	run_chipctl 65 alerts raise --type manual --text $'caf\xe9'
	[[ "$stderr" == *"--text is not UTF-8 text"* ]]
	run_chipctl 65 alerts raise --type $'\xc0\xaf' --text x
	[[ "$stderr" == *"--type is not UTF-8 text"* ]]
	run_chipctl 65 queue enqueue --cliente $'d\xed\xa0\x80' --telefone 5511999990000 --text x
	[[ "$stderr" == *"--cliente is not UTF-8 text"* ]]
	run_chipctl 65 guardrail block $'dr\xff' --reason r
	[[ "$stderr" == *"DOCTOR is not UTF-8 text"* ]]
	printf '{"event":"messages.upsert","instance":"chip\xff","data":{"key":{"remoteJid":"5511988800001@s.whatsapp.net","id":"U1"}}}\n' > "$EV"
	printf '{"event":"messages.upsert","instance":"chip01","data":{"key":{"remoteJid":"5511988800001@s.whatsapp.net","id":"U2\xc3"}}}\n' >> "$EV"
	run_chipctl 65 ingest --json "$EV"
	[[ "$output" == *'"lines":2,"applied":0,'*'"malformed":2,"failed":0,'* ]]
	[[ "$stderr" == *'error="instance: not UTF-8 text"'* ]]
	[[ "$stderr" == *'error="data.key.id: not UTF-8 text"'* ]]
	unchanged_since "$before"
}

@test "control bytes stored in the database are shown escaped in tables, as --json does" {
	EVIL=$(psql_q "INSERT INTO chips (telefone, instance_name, status) VALUES
	        ('5511900000002', E'evil\x1b[2J\x07\rchip99 active 100', 'ready') RETURNING id")
	psql_q "INSERT INTO chip_status_transitions (chip_id, from_status, to_status, reason, actor)
	        VALUES ('$CHIP', 'ready', 'active', E'ok\x1b]0;pwned\x07\u202etxt', 'op')"
	before=$(db_digest)
	run_chipctl 0 chips
	! grep -q $'[\x01-\x09\x0b-\x1f\x7f]' <<< "$output"
	[[ "$output" == *'evil\x1b[2J\x07\rchip99 active 100'* ]]
	run_chipctl 0 chip show "$CHIP"
	! grep -q $'[\x01-\x09\x0b-\x1f\x7f]' <<< "$output"
	! grep -q $'\u202e' <<< "$output"
	[[ "$output" == *'ok\x1b]0;pwned\x07\u202etxt'* ]]
	run_chipctl 0 chip explain "$EVIL"
	! grep -q $'[\x01-\x09\x0b-\x1f\x7f]' <<< "$output"
	[[ "$output" == *'chip evil\x1b[2J\x07\rchip99 active 100 ('* ]]
	run_chipctl 0 chips --json
	[[ "$output" == *'evil\u001b[2J\u0007\rchip99'* ]]
	unchanged_since "$before"
}

# no_raw_controls TEXT: no C0 byte but \n, no DEL, no C1 (U+0080-009F), no
# right-to-left override reaches the terminal
no_raw_controls() {
	! grep -q $'[\x01-\x09\x0b-\x1f\x7f]' <<< "$1" || { echo "a raw control byte:"; echo "$1" | od -c | head; return 1; }
	! grep -q $'\xc2[\x80-\x9f]' <<< "$1" || { echo "a raw C1 control"; return 1; }
	! grep -q $'\u202e' <<< "$1" || { echo "a raw U+202E"; return 1; }
}

@test "doctor, health and metrics show stored or served control bytes escaped, never raw" {
	psql_q "INSERT INTO chips (telefone, instance_name, status, evolution_connected) VALUES
	        ('5511900000002', E'evil\x1b[2J\x07\rchip99 active 100', 'active', false)"
	psql_q "INSERT INTO alert_outbox (alert_key, alert_type, subject, severity, text) VALUES
	        (E'k\x1b', E'manual\x07', E'evil\x1b[2J', 'critical', E'alert\x1b]0;pwned\x07\rOK')"
	psql_q "INSERT INTO job_executions (job_name, run_id, host, pid, status, error, exit_code, finished_at)
	        VALUES ('sync-evolution', gen_random_uuid(), E'h\x1b', 1, 'failed', E'boom\x1b[31m\r', 75, now())"
	psql_q "INSERT INTO metrics_snapshots (name, value, labels) VALUES
	        ('chipctl_chips', 1, jsonb_build_object('chip', E'evil\x7f\u009b2J\u202etxt', 'status', E'x\x1b'))"
	before=$(db_digest)
	# a Slack webhook answering with escape sequences: doctor prints its words
	use_fake_slack
	fake_ctl slack /__control/script '{"responses":[{"status":404,"body":"gone\u001b[2J\u0007\rOK    slack  \u009b31m\u202eyes"}]}' >/dev/null
	run_chipctl 75 doctor
	no_raw_controls "$output"
	[[ "$output" == *'FAIL  slack       webhook: HTTP 404: gone\x1b[2J\x07\rOK    slack  \u009b31m\u202eyes'* ]]
	for c in deep ready queue worker chips circuits jobs evolution score; do
		run --separate-stderr timeout 30 "$CHIPCTL_BIN" health "$c"
		[ "$status" -le 3 ] || { echo "health $c exited $status"; return 1; }
		no_raw_controls "$output"
	done
	run_chipctl 0 metrics history chipctl_chips --since 1h
	no_raw_controls "$output"
	[[ "$output" == *'"evil\x7f\u009b2J\u202etxt"'* ]]
	run_chipctl 0 metrics
	no_raw_controls "$output"
	unchanged_since "$before"
}

@test "report --html writes only a regular file or a new one; anything else is refused with 73" {
	before=$(db_digest)
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	run_chipctl 73 report --html "$BATS_TEST_TMPDIR/fifo"
	[[ "$stderr" == *"not a regular file"*"error=\"a FIFO\""* ]]
	[ -p "$BATS_TEST_TMPDIR/fifo" ]
	mkdir "$BATS_TEST_TMPDIR/dir"
	run_chipctl 73 report --html "$BATS_TEST_TMPDIR/dir"
	[[ "$stderr" == *"error=\"a directory\""* ]]
	[ -d "$BATS_TEST_TMPDIR/dir" ]
	ln -s "$BATS_TEST_TMPDIR/nowhere/r.html" "$BATS_TEST_TMPDIR/dangling"
	run_chipctl 73 report --html "$BATS_TEST_TMPDIR/dangling"
	[[ "$stderr" == *"a symbolic link to nothing"* ]]
	[ -L "$BATS_TEST_TMPDIR/dangling" ] && [ ! -e "$BATS_TEST_TMPDIR/nowhere" ]
	run_chipctl 73 report --html /dev/null
	[[ "$stderr" == *"error=\"a device\""* ]]
	[ -c /dev/null ]
	ln -s /dev/null "$BATS_TEST_TMPDIR/to-device"
	run_chipctl 73 report --html "$BATS_TEST_TMPDIR/to-device"
	[ -L "$BATS_TEST_TMPDIR/to-device" ]
	# nothing left behind: no temporary file anywhere
	[ -z "$(find "$BATS_TEST_TMPDIR" -name '*.tmp')" ]
	# a regular file is replaced; a new one is created; a link to a
	# regular file is written through and stays a link
	echo old > "$BATS_TEST_TMPDIR/r.html"
	run_chipctl 0 report --html "$BATS_TEST_TMPDIR/r.html"
	grep -q '^<!DOCTYPE html>' "$BATS_TEST_TMPDIR/r.html"
	run_chipctl 0 report --html "$BATS_TEST_TMPDIR/new.html"
	[ -f "$BATS_TEST_TMPDIR/new.html" ]
	echo old > "$BATS_TEST_TMPDIR/target.html"
	ln -s "$BATS_TEST_TMPDIR/target.html" "$BATS_TEST_TMPDIR/link.html"
	run_chipctl 0 report --html "$BATS_TEST_TMPDIR/link.html"
	[ -L "$BATS_TEST_TMPDIR/link.html" ]
	grep -q '^<!DOCTYPE html>' "$BATS_TEST_TMPDIR/target.html"
	unchanged_since "$before"
}

@test "a write error on stdout exits 74, for the report and for any command" {
	before=$(db_digest)
	run --separate-stderr bash -c "timeout 30 '$CHIPCTL_BIN' report > /dev/full"
	[ "$status" -eq 74 ]
	[[ "$stderr" == *"cannot write to standard output"* ]]
	run --separate-stderr bash -c "timeout 30 '$CHIPCTL_BIN' chips > /dev/full"
	[ "$status" -eq 74 ]
	run --separate-stderr bash -c "timeout 30 '$CHIPCTL_BIN' chips >&-"
	[ "$status" -eq 74 ]
	run --separate-stderr bash -c "timeout 30 '$CHIPCTL_BIN' --list-commands > /dev/full"
	[ "$status" -eq 74 ]
	unchanged_since "$before"
}

@test "smaller: a DATABASE_URL port that is no number is 78; -c DIR says it is a directory; blank lines are in no count" {
	before=$(db_digest)
	DATABASE_URL="postgresql://chipctl@127.0.0.1:abc/x" run_chipctl 78 chips
	[[ "$stderr" == *"the port is not a number from 1 to 65535"* ]]
	DATABASE_URL="host=127.0.0.1 port=99999 dbname=x" run_chipctl 78 chips
	run_chipctl 78 -c "$BATS_TEST_TMPDIR" chips
	[[ "$stderr" == *"Is a directory"* ]]
	[[ "$stderr" != *"No such file"* ]]
	printf '\n   \n\t\n' > "$EV"
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"lines":0,"applied":0,"duplicates":0,"ignored":0,"unknown_instance":0,"malformed":0,'* ]]
	unchanged_since "$before"
	printf '\n{"event":"qrcode.updated","instance":"chip01","data":{}}\n\n' > "$EV"
	run_chipctl 0 ingest --json "$EV"
	[[ "$output" == *'"lines":1,"applied":0,"duplicates":0,"ignored":1,'* ]]
}
