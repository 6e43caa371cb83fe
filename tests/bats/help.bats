#!/usr/bin/env bats
# Free tests for every command (git's t0012-help): --help, man page, usage errors.
load ../lib/common

@test "every command prints --help on stdout and exits 0" {
	run_chipctl 0 --list-commands
	[ -n "$output" ]
	for c in $output; do
		run --separate-stderr "$CHIPCTL_BIN" "$c" --help
		[ "$status" -eq 0 ] || { echo "$c --help exited $status"; return 1; }
		[[ "$output" == usage:* ]] || { echo "$c --help: $output"; return 1; }
		[ -z "$stderr" ] || { echo "$c --help wrote to stderr: $stderr"; return 1; }
		run "$CHIPCTL_BIN" help "$c"
		[ "$status" -eq 0 ] && [[ "$output" == usage:* ]] || { echo "help $c"; return 1; }
	done
}

@test "every command has a man page that names it" {
	run_chipctl 0 --list-commands
	for c in $output; do
		[ -f "$REPO/man/chipctl-$c.1" ] || { echo "no man/chipctl-$c.1"; return 1; }
		grep -q "chipctl-$c\|chipctl $c" "$REPO/man/chipctl-$c.1"
		grep -q "$c" "$REPO/man/chipctl.1" || { echo "chipctl.1 lacks $c"; return 1; }
	done
}

@test "every setting is documented in chipctl.conf(5) and the sample config" {
	run_chipctl 0 --list-settings
	while IFS=$'\t' read -r name type def env; do
		grep -qx "\.B $name" "$REPO/man/chipctl.conf.5" || { echo "chipctl.conf.5 lacks $name"; return 1; }
		leaf=${name##*.}
		grep -Eq "^[[:space:]#]*$leaf[[:space:]]*=" "$REPO/etc/chipctl.conf.example" ||
			{ echo "sample config lacks $name"; return 1; }
		if [ "$env" != - ]; then
			grep -q "$env" "$REPO/man/chipctl.conf.5" || { echo "chipctl.conf.5 lacks $env"; return 1; }
		fi
	done <<< "$output"
}

@test "no command: usage on stderr, exit 64" {
	run_chipctl 64
	[ -z "$output" ]
	[[ "$stderr" == *"usage: chipctl"* ]]
}

@test "unknown command: one error and usage on stderr, exit 64" {
	run_chipctl 64 frobnicate
	[[ "$stderr" == *"unknown command 'frobnicate'"* ]]
}

@test "unknown global option: exit 64" {
	run_chipctl 64 --frob queue stats
	[[ "$stderr" == *"unknown option '--frob'"* ]]
}

@test "unknown command option: error and a hint, exit 64" {
	run_chipctl 64 reset-stuck-queue --frob
	[[ "$stderr" == *"unknown option '--frob'"* ]]
	[[ "$stderr" == *"Try 'chipctl reset-stuck-queue --help'"* ]]
}

@test "--dry-run on a command that does not write is a usage error" {
	run_chipctl 64 doctor --dry-run
	[[ "$stderr" == *"no --dry-run"* ]]
}

@test "--version and --help" {
	run_chipctl 0 --version
	[[ "$output" =~ ^chipctl\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
	run_chipctl 0 --help
	[[ "$output" == *"reset-stuck-queue"* ]]
	run_chipctl 0 help
	[[ "$output" == *"Exit codes"* ]]
}

@test "help for an unknown command: exit 64" {
	run_chipctl 64 help frobnicate
}
