#!/usr/bin/env bats
# Configuration: file, environment, validation; errors name file and line, exit 78.
load ../lib/common

@test "a syntax error names the file and line, exit 78" {
	printf 'queue: {\n  stuck_minutes = 60\n  expire_hours = ;\n};\n' > "$CONF"
	run_chipctl 78 queue stats
	[[ "$stderr" == *"file=$CONF line=3"* ]]
}

@test "an unknown setting names its line, exit 78" {
	printf '# comment\nqueue: {\n  stuck_minute = 5;\n};\n' > "$CONF"
	run_chipctl 78 queue stats
	[[ "$stderr" == *"line=3"* ]]
	[[ "$stderr" == *"unknown setting"* ]]
	[[ "$stderr" == *"queue.stuck_minute"* ]]
}

@test "a retired setting is accepted with a warning naming what replaced it" {
	printf 'send: {\n  min_trust_followup = 70;\n};\n' > "$CONF"
	run_chipctl 0 queue stats
	[[ "$stderr" == *"config setting retired"*"line=2"*"send.min_trust_followup"*"instead=trust.perm_followup"* ]]
}

@test "a value of the wrong type names its line, exit 78" {
	printf 'queue: {\n  stuck_minutes = "sixty";\n};\n' > "$CONF"
	run_chipctl 78 queue stats
	[[ "$stderr" == *"line=2"* && "$stderr" == *"expected an integer"* ]]
}

@test "a value out of range names its line, exit 78" {
	printf 'queue: { stuck_minutes = 0; };\n' > "$CONF"
	run_chipctl 78 queue stats
	[[ "$stderr" == *"line=1"* && "$stderr" == *"out of range"* ]]
}

@test "a missing --config file is a configuration error, exit 78" {
	run_chipctl 78 --config /nonexistent/chipctl.conf queue stats
	[[ "$stderr" == *"cannot read config file"* && "$stderr" == *"/nonexistent/chipctl.conf"* ]]
}

@test "--config after the command works too" {
	printf 'queue: { stuck_minutes = "x"; };\n' > "$BATS_TEST_TMPDIR/other.conf"
	run_chipctl 78 queue stats -c "$BATS_TEST_TMPDIR/other.conf"
	[[ "$stderr" == *"other.conf"* ]]
}

@test "CHIPCTL_CONFIG names the file; the file's database.url is used" {
	url=$DATABASE_URL
	unset DATABASE_URL
	printf 'database: { url = "%s"; };\n' "$url" > "$CONF"
	run_chipctl 0 queue stats
	[[ "$output" == *pendente* ]]
}

@test "DATABASE_URL overrides the file" {
	printf 'database: { url = "postgresql://nobody@127.0.0.1:1/none"; };\n' > "$CONF"
	run_chipctl 0 queue stats
}

@test "a bad integer in the environment is a configuration error" {
	printf 'log: { level = "debug"; };\n' > "$CONF"
	CHIPCTL_LOG_LEVEL=loud run_chipctl 78 queue stats
	[[ "$stderr" == *"log.level"* ]]
}

@test "a non-http URL for a provider is refused, exit 78" {
	EVOLUTION_API_URL="ftp://evolution.local" run_chipctl 78 queue stats
	[[ "$stderr" == *"evolution.url"* ]]
}

@test "no database.url at all: exit 78 with a clear message" {
	unset DATABASE_URL
	run_chipctl 78 queue stats
	[[ "$stderr" == *"database.url is not set"* ]]
}

@test "an unparseable database.url: exit 78" {
	DATABASE_URL="postgresql://x:y@[::1" run_chipctl 78 queue stats
	[[ "$stderr" == *"database.url"* ]]
}

@test "the sample config parses and every setting in it is known" {
	run_chipctl 0 -c "$REPO/etc/chipctl.conf.example" queue stats
	sed 's/^\([[:space:]]*\)# \{0,1\}\([a-z_]* *=\)/\1\2/' "$REPO/etc/chipctl.conf.example" > "$BATS_TEST_TMPDIR/all.conf"
	run_chipctl 0 -c "$BATS_TEST_TMPDIR/all.conf" queue stats
}

@test "a config file holding secrets readable by others: a warning; refused with --strict" {
	printf 'evolution: { api_key = "file-secret-key-1"; };\n' > "$CONF"
	add_secret file-secret-key-1
	chmod 644 "$CONF"
	run_chipctl 0 queue stats
	[[ "$stderr" == *"readable by others"*"mode=0644"* ]]
	run_chipctl 78 --strict queue stats
	[[ "$stderr" == *"refused with --strict"* ]]
	chmod 600 "$CONF"
	run_chipctl 0 --strict queue stats
	[[ "$stderr" != *"readable by others"* ]]
	# a file without secrets may be world-readable
	printf 'queue: { stuck_minutes = 30; };\n' > "$CONF"
	chmod 644 "$CONF"
	run_chipctl 0 --strict queue stats
}
