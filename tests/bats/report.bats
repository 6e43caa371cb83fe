#!/usr/bin/env bats
# chipctl report: one self-contained HTML page, checked in a real browser
# (Debian's chromium, headless): no console error, and as many drawn points
# and bars as the data seeded here.
load ../lib/common

# Times relative to today's midnight UTC, so no row lands on a day boundary.
D="(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"

chip() {	# chip NAME STATUS TRUST LEVEL
	psql_q "INSERT INTO chips (telefone, instance_name, provider, status, trust_score, trust_level)
	        VALUES ('55119' || lpad((random() * 1e8)::int::text, 8, '0'), \$n\$$1\$n\$, 'evolution',
	                '$2', $3, '$4') RETURNING id"
}

hist() {	# hist CHIP DAYS_AGO HOUR SCORE LEVEL
	psql_q "INSERT INTO chip_trust_history (chip_id, motivo, trust_score, trust_level, points, created_at)
	        VALUES ('$1', 'test', $4, '$5', '{}', $D - interval '$2 days' + interval '$3 hours')"
}

seed() {
	c1=$(chip c1 active 30 vermelho)
	c2=$(chip c2 active 45 laranja)
	c3=$(chip 'c3<script>alert(1)</script>' ready 65 amarelo)
	c4=$(chip c4 active 85 verde)
	cb=$(chip cb banned 10 critico)
	# 10 points drawn: c1 4, c2 2, c3 1, c4 3 (cb is banned: not drawn)
	hist "$c1" 3 10 82 verde; hist "$c1" 3 20 70 amarelo
	hist "$c1" 2 10 50 laranja; hist "$c1" 1 10 30 vermelho
	hist "$c1" 9 10 90 verde	# before the window
	hist "$c2" 2 8 61 amarelo; hist "$c2" 1 8 45 laranja
	hist "$c3" 1 9 65 amarelo
	hist "$c4" 3 9 85 verde; hist "$c4" 2 9 86 verde; hist "$c4" 1 9 85 verde
	hist "$cb" 2 9 10 critico
	# 10 distribution bars (day, level): day -3: amarelo, verde; day -2:
	# laranja, amarelo, verde, critico; day -1: vermelho, laranja, amarelo, verde
	psql_q "INSERT INTO chip_status_transitions (chip_id, from_status, to_status, reason, actor, created_at) VALUES
	  ('$c2', 'active', 'degraded', 'trust < 40', 'pool-check', $D - interval '1 day' + interval '12 hours'),
	  ('$c4', 'ready', 'active', 'pool below minimum', 'pool-check', $D - interval '2 days'),
	  ('$c3', 'warming', 'ready', 'graduated', 'pool-check', $D - interval '2 days')"
	# 6 snapshots in the window (one 9 days old is not): 3 lines of 6
	# points; sent and errors per hour: hours 10, 11, 12, so 3 + 3 bars
	psql_q "INSERT INTO metrics_snapshots (name, labels, value, created_at)
	  SELECT n.name, n.labels::jsonb, k, $D - interval '1 day' + t
	  FROM unnest(ARRAY[interval '10:00', '10:05', '10:10', '11:00', '11:05', '12:00', '-8 days'])
	       WITH ORDINALITY AS s(t, k),
	       (VALUES ('chipctl_queue_due_messages', '{}'),
	               ('chipctl_queue_messages', '{\"status\": \"processando\"}'),
	               ('chipctl_queue_messages', '{\"status\": \"pendente\"}'),
	               ('chipctl_queue_oldest_due_seconds', '{}'),
	               ('chipctl_queue_sent_last_hour', '{}'),
	               ('chipctl_queue_errors_last_hour', '{}'),
	               ('chipctl_chips', '{\"status\": \"active\"}')) n(name, labels)"
	psql_q "INSERT INTO circuit_breakers (name, kind, chip_id, state) VALUES ('chip:$c1', 'chip', '$c1', 'open')"
	psql_q "INSERT INTO circuit_transitions (breaker, from_state, to_state, reason, actor, created_at) VALUES
	  ('chip:$c1', 'closed', 'open', '3 faults <b>in a row</b>', 'send-worker', now() - interval '2 hours'),
	  ('provider:evolution', 'closed', 'open', '5 provider faults', 'send-worker', now() - interval '5 hours'),
	  ('provider:evolution', 'open', 'closed', 'probe ok', 'send-worker', now() - interval '4 hours'),
	  ('provider:evolution', 'closed', 'open', 'old', 'send-worker', now() - interval '9 days')"
	psql_q "INSERT INTO alert_outbox (alert_key, alert_type, subject, severity, text, resolved, created_at) VALUES
	  ('provider_outage:evolution', 'provider_outage', 'evolution', 'critical', 'down <img src=x>', false, now() - interval '5 hours'),
	  ('provider_outage:evolution', 'provider_outage', 'evolution', 'info', 'resolved', true, now() - interval '4 hours'),
	  ('chip_restricted:c2', 'chip_restricted', 'c2', 'warning', 'c2 restricted', false, now() - interval '1 hour')"
}

# browser FILE ARGS...: headless chromium on FILE with a fresh profile and
# no network of its own; stderr (its log, console messages included) kept
browser() {
	local file=$1; shift
	run --separate-stderr timeout 120 chromium --headless --no-sandbox --disable-gpu \
		--disable-quic --no-first-run --disable-background-networking \
		--disable-component-update --disable-sync --enable-logging=stderr --v=0 \
		--user-data-dir="$(mktemp -d "$BATS_TEST_TMPDIR/profile.XXXXXX")" "$@" "file://$file"
	[ "$status" -eq 0 ] || { echo "chromium exited $status: $stderr"; return 1; }
	if grep -E ':CONSOLE[:(]' <<< "$stderr"; then
		echo "console messages while loading $file"; return 1
	fi
}

# count DOM ELEMENT CLASS [SERIES-PREFIX]: drawn elements in the DOM the
# browser built
count() {
	python3 - "$1" "$2" "$3" "${4:-}" <<-'EOF'
	import sys
	from html.parser import HTMLParser
	dom, tag, cls, series = sys.argv[1:5]
	class P(HTMLParser):
	    n = 0
	    def handle_starttag(self, t, attrs):
	        a = dict(attrs)
	        if t == tag and cls in (a.get("class") or "").split() and \
	           (a.get("data-series") or "").startswith(series):
	            P.n += 1
	    handle_startendtag = handle_starttag
	P().feed(open(dom).read())
	print(P.n)
	EOF
}

@test "report --html: the page loads in chromium with no console error; drawn points and bars match the data" {
	command -v chromium >/dev/null || skip "chromium is not installed (scripts/install-deps.sh installs it)"
	seed
	run_chipctl 0 report --html "$BATS_TEST_TMPDIR/report.html"
	[ -s "$BATS_TEST_TMPDIR/report.html" ]
	browser "$BATS_TEST_TMPDIR/report.html" --dump-dom
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/dom.html"
	dom="$BATS_TEST_TMPDIR/dom.html"
	[ "$(count "$dom" circle pt trust)" -eq 10 ]
	[ "$(count "$dom" circle pt due)" -eq 6 ]
	[ "$(count "$dom" circle pt processing)" -eq 6 ]
	[ "$(count "$dom" circle pt oldest)" -eq 6 ]
	[ "$(count "$dom" circle pt)" -eq 28 ]
	[ "$(count "$dom" rect bar dist-)" -eq 10 ]
	[ "$(count "$dom" rect bar sent)" -eq 3 ]
	[ "$(count "$dom" rect bar errors)" -eq 3 ]
	[ "$(count "$dom" rect bar)" -eq 16 ]
	[ "$(count "$dom" path demote)" -eq 1 ]
	[ "$(count "$dom" path promote)" -eq 1 ]
	# four small multiples (banned cb left out), the worst first
	[ "$(count "$dom" figure small)" -eq 4 ]
	[ "$(count "$dom" tr chip)" -eq 5 ]
	[ "$(count "$dom" tr transition)" -eq 3 ]
	[ "$(count "$dom" tr alert)" -eq 2 ]
	# text from the database is text, never markup
	[ "$(count "$dom" script "")" -eq 0 ]
	[ "$(count "$dom" img "")" -eq 0 ]
	grep -q 'c3&lt;script&gt;alert(1)&lt;/script&gt;' "$BATS_TEST_TMPDIR/report.html"
	grep -q '3 faults &lt;b&gt;in a row&lt;/b&gt;' "$BATS_TEST_TMPDIR/report.html"
	# self-contained: no script, no reference outside the file
	! grep -Eqi '<script|src=|href="(https?:)?//' "$BATS_TEST_TMPDIR/report.html"
	grep -q 'chipctl report --html' "$BATS_TEST_TMPDIR/report.html"
	# the held times: the outage held 1 h until its resolved notice; the
	# chip's breaker is still open
	grep -q '<td>1h 0m</td>' "$BATS_TEST_TMPDIR/report.html"
	grep -q 'c1 is open' "$BATS_TEST_TMPDIR/report.html"
	# and a screenshot: a PNG of the page
	browser "$BATS_TEST_TMPDIR/report.html" --window-size=1200,2000 \
		--screenshot="$BATS_TEST_TMPDIR/report.png"
	[ "$(head -c 8 "$BATS_TEST_TMPDIR/report.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
}

@test "report on an empty database: a valid page saying so; to stdout without --html" {
	run_chipctl 0 report --days 1
	[[ "$output" == "<!DOCTYPE html>"* ]]
	[[ "$output" == *"No history recorded in the window yet."* ]]
	[[ "$output" == *"0 chips"* ]]
	[[ "$output" == *"</html>" ]]
}

@test "report: usage errors exit 64; an unwritable file exits 73" {
	run_chipctl 64 report --days 0
	[[ "$stderr" == *"--days must be 1 to 30"* ]]
	run_chipctl 64 report --days 31
	run_chipctl 64 report --days x
	run_chipctl 64 report extra
	run_chipctl 64 report --dry-run
	run_chipctl 73 report --html /nonexistent-dir/r.html
	[ ! -e /nonexistent-dir ]
}

@test "report: database unreachable exits 75" {
	export DATABASE_URL="postgresql://chipctl@127.0.0.1:1/none?connect_timeout=2"
	run_chipctl 75 report
}
