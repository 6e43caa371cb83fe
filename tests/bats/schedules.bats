#!/usr/bin/env bats
# The job table (chipctl --list-jobs) against everything that schedules the
# jobs: crontab/chipctl, crontab/railway.json, the systemd timers generated
# from it; the shipped worker unit and the logrotate snippet.
load ../lib/common

setup() {	# no database needed
	export LC_ALL=C HOME="$BATS_TEST_TMPDIR"
	JOBS="$BATS_TEST_TMPDIR/jobs.tsv"
	"$CHIPCTL_BIN" --list-jobs > "$JOBS"
}
teardown() { :; }

@test "--list-jobs: one line per job, eight tab-separated fields, settings that exist" {
	run "$CHIPCTL_BIN" --list-jobs
	[ "$status" -eq 0 ]
	[ "$(wc -l < "$JOBS")" -eq 9 ]
	"$CHIPCTL_BIN" --list-settings > "$BATS_TEST_TMPDIR/settings.tsv"
	while IFS=$'\t' read -r name schedule command iset idef pset lease watched; do
		[ -n "$watched" ] || { echo "short line for $name"; return 1; }
		[[ "$lease" == lease || "$lease" == none ]]
		[[ "$watched" == watched || "$watched" == heartbeat || "$watched" == unwatched ]]
		for s in "$iset" "$pset"; do
			[ "$s" = - ] || grep -q "^$s"$'\t' "$BATS_TEST_TMPDIR/settings.tsv" ||
				{ echo "$name names an unknown setting $s"; return 1; }
		done
		[ "$iset" = - ] || [ "$idef" = "$(awk -F'\t' -v s="$iset" '$1 == s { print $3 }' "$BATS_TEST_TMPDIR/settings.tsv")" ]
		"$CHIPCTL_BIN" "${command%% *}" --help >/dev/null || { echo "no command for $name"; return 1; }
	done < "$JOBS"
}

@test "a watched job's interval default is its schedule's period" {
	PYTHONPATH="$REPO/tests/lib" python3 - "$JOBS" <<'PY'
import sys
from cronfield import expand
for line in open(sys.argv[1]):
    name, sched, cmd, iset, idef, pset, lease, watched = line.rstrip("\n").split("\t")
    if watched != "watched":
        continue
    m, h, dom, mon, dow = sched.split()
    assert (dom, mon, dow) == ("*", "*", "*"), sched
    times = sorted(hh * 60 + mm for hh in expand(h, 0, 23) for mm in expand(m, 0, 59))
    gaps = {(b - a) for a, b in zip(times, times[1:] + [times[0] + 1440])}
    assert gaps == {int(idef) // 60}, (name, sched, gaps, idef)
PY
}

@test "crontab/chipctl runs every job of the table on its schedule, and nothing else" {
	cron="$REPO/crontab/chipctl"
	while IFS=$'\t' read -r name schedule command rest; do
		line="$schedule chipctl @BINDIR@/chipctl $command >>/var/log/chipctl/${command%% *}.log 2>&1"
		awk '!/^#/ && NF > 6 { $1 = $1; print }' "$cron" | grep -qxF "$line" ||
			{ echo "crontab lacks: $line"; return 1; }
	done < "$JOBS"
	# every command line of the crontab is a job of the table
	[ "$(awk '!/^#/ && NF > 6' "$cron" | wc -l)" -eq "$(wc -l < "$JOBS")" ]
	# five time fields, a user, an absolute command; no dot in the file name
	run awk '!/^#/ && NF && !/^[A-Z_]+=/ && ($6 != "chipctl" || $7 !~ /^@BINDIR@\//)' "$cron"
	[ -z "$output" ]
	[[ "$(basename "$cron")" != *.* ]]
}

@test "crontab/railway.json: a cron service per leased job, a worker for the loop job" {
	python3 - "$JOBS" "$REPO/crontab/railway.json" <<'PY'
import json, sys
svc = {s["name"]: s for s in json.load(open(sys.argv[2]))["services"]}
names = set()
for line in open(sys.argv[1]):
    name, sched, cmd, iset, idef, pset, lease, watched = line.rstrip("\n").split("\t")
    s = svc["chipctl-" + name]
    names.add("chipctl-" + name)
    if watched == "heartbeat":
        assert "cronSchedule" not in s and s["restartPolicyType"] == "ALWAYS", s
        assert s["startCommand"] == "chipctl " + cmd.replace(" --once", ""), s
    else:
        assert s["cronSchedule"] == sched, (s, sched)
        assert s["startCommand"] == "chipctl " + cmd and s["restartPolicyType"] == "NEVER", s
assert set(svc) == names, set(svc) ^ names
PY
}

# the units for this checkout: timers generated from the table, the worker
gen_units() {
	UNITS="$BATS_TEST_TMPDIR/units"
	sh "$REPO/scripts/gen-systemd.sh" "$REPO" "$UNITS" < "$JOBS"
	sed "s|@BINDIR@|$REPO|g" "$REPO/etc/systemd/chipctl-send-worker.service" \
		> "$UNITS/chipctl-send-worker.service"
}

@test "systemd: a .service/.timer pair per cron job, timers firing when cron does" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed (Debian package systemd)"
	gen_units
	while IFS=$'\t' read -r name schedule command iset idef pset lease watched; do
		if [ "$watched" = heartbeat ]; then
			[ ! -e "$UNITS/chipctl-$name.timer" ]
			continue
		fi
		grep -qx "ExecStart=$REPO/chipctl $command" "$UNITS/chipctl-$name.service"
		cal=$(sed -n 's/^OnCalendar=//p' "$UNITS/chipctl-$name.timer")
		# the next 200 firings from a fixed time, by systemd and by cron's rules
		TZ=UTC systemd-analyze calendar --base-time='2026-01-23 00:00:00 UTC' \
			--iterations=200 "$cal" | sed -n 's/^ *\(Next elapse\|Iter\. #[0-9]*\): //p' \
			> "$BATS_TEST_TMPDIR/systemd.txt"
		PYTHONPATH="$REPO/tests/lib" python3 - "$schedule" > "$BATS_TEST_TMPDIR/cron.txt" <<'PY'
import sys, datetime as dt
from cronfield import expand
m, h, dom, mon, dow = sys.argv[1].split()
mins, hours = expand(m, 0, 59), expand(h, 0, 23)
t, n = dt.datetime(2026, 1, 23, 0, 1), 0	# systemd: strictly after the base time
while n < 200:
    if t.minute in mins and t.hour in hours:
        print(t.strftime("%a %Y-%m-%d %H:%M:%S UTC")); n += 1
    t += dt.timedelta(minutes=1)
PY
		diff "$BATS_TEST_TMPDIR/cron.txt" "$BATS_TEST_TMPDIR/systemd.txt" ||
			{ echo "$name: '$cal' fires apart from '$schedule'"; return 1; }
	done < "$JOBS"
}

@test "systemd: systemd-analyze verify accepts every unit, man pages included" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed (Debian package systemd)"
	gen_units
	mkdir -p "$BATS_TEST_TMPDIR/man/man1"
	cp "$REPO"/man/*.1 "$BATS_TEST_TMPDIR/man/man1/"
	MANPATH="$BATS_TEST_TMPDIR/man" run systemd-analyze verify "$UNITS"/*.service "$UNITS"/*.timer
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[ -z "$output" ] || { echo "$output"; return 1; }
	# the worker: loop mode, restarted always, the chipctl user, hardened
	w="$UNITS/chipctl-send-worker.service"
	grep -qx "ExecStart=$REPO/chipctl send-worker" "$w"
	for kv in Restart=always User=chipctl NoNewPrivileges=yes ProtectSystem=strict \
		PrivateTmp=yes ProtectHome=yes EnvironmentFile=-/etc/default/chipctl \
		Environment=CHIPCTL_CONFIG=/etc/chipctl/chipctl.conf; do
		grep -qx "$kv" "$w" || { echo "worker lacks $kv"; return 1; }
		grep -qx "$kv" "$UNITS/chipctl-trust-update.service" || [ "$kv" = Restart=always ] ||
			{ echo "trust-update lacks $kv"; return 1; }
	done
	# a schedule the generator cannot translate is an error, not a wrong timer
	printf 'x\t0 3 * * 1\tx\t-\t-\t-\tlease\twatched\n' |
		{ ! sh "$REPO/scripts/gen-systemd.sh" "$REPO" "$BATS_TEST_TMPDIR/bad" 2>/dev/null; }
}

@test "logrotate: the snippet parses and rotates /var/log/chipctl/*.log" {
	command -v logrotate >/dev/null || skip "logrotate is not installed (Debian package logrotate)"
	logs="$BATS_TEST_TMPDIR/log"
	mkdir -p "$logs"
	echo "ts=1 level=info msg=x" > "$logs/watchdog.log"
	# the shipped snippet, pointed at a scratch directory and owned by us
	# (the chipctl user does not exist on a test machine)
	sed -e "s|/var/log/chipctl/|$logs/|" -e "s/chipctl chipctl/$(id -un) $(id -gn)/" \
		"$REPO/etc/logrotate.d/chipctl" > "$BATS_TEST_TMPDIR/chipctl.logrotate"
	run logrotate -d -f -s "$BATS_TEST_TMPDIR/state" "$BATS_TEST_TMPDIR/chipctl.logrotate"
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[[ "$output" != *"error:"* ]] || { echo "$output"; return 1; }
	[[ "$output" == *"renaming $logs/watchdog.log to $logs/watchdog.log-"* ]] || { echo "$output"; return 1; }
	[ -f "$logs/watchdog.log" ]	# -d changes nothing
	grep -q '^/var/log/chipctl/\*\.log {$' "$REPO/etc/logrotate.d/chipctl"
}

@test "make install puts the crontab, the units and the logrotate snippet under examples" {
	dest="$BATS_TEST_TMPDIR/dest"
	# -o all: install what is built, never rebuild under the running suites
	run make -C "$REPO" -s -o all install DESTDIR="$dest" PREFIX=/usr/local
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	ex="$dest/usr/local/share/chipctl/examples"
	[ -f "$ex/chipctl.cron" ] && [ -f "$ex/logrotate/chipctl" ]
	grep -qx "ExecStart=/usr/local/bin/chipctl send-worker" "$ex/systemd/chipctl-send-worker.service"
	grep -qx "ExecStart=/usr/local/bin/chipctl reset-stuck-queue --expire" \
		"$ex/systemd/chipctl-reset-stuck-queue-expire.service"
	[ "$(ls "$ex/systemd"/*.timer | wc -l)" -eq 8 ]
}
