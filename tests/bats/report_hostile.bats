#!/usr/bin/env bats
# The report with hostile names (issue 21), in headless chromium: a
# right-to-left override or right-to-left letters in a name reverse nothing
# after it, and a 10 kB name does not push a table off the page. The layout
# is read from the browser: a copy of the page (its no-script policy taken
# out) runs tests/lib/report_probe.js, which writes what it measured.
load ../lib/common

chip() {	# chip NAME TRUST LEVEL: a chip with one trust point in the window
	local id
	id=$(psql_q "INSERT INTO chips (telefone, instance_name, status, trust_score, trust_level)
	             VALUES ('55119' || lpad((random() * 1e8)::int::text, 8, '0'), \$n\$$1\$n\$,
	                     'active', $2, '$3') RETURNING id")
	psql_q "INSERT INTO chip_trust_history (chip_id, motivo, trust_score, trust_level, points, created_at)
	        VALUES ('$id', 'test', $2, '$3', '{}', now() - interval '1 day')"
}

probe() {	# probe REPORT: the probe's lines for the page
	python3 - "$1" "$REPO/tests/lib/report_probe.js" "$BATS_TEST_TMPDIR/probe.html" <<-'EOF'
	import re, sys
	page, js, out = sys.argv[1:4]
	s = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', '', open(page).read())
	open(out, 'w').write(s.replace('</body>', '<script>' + open(js).read() + '</script></body>'))
	EOF
	timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
		--no-first-run --window-size=1280,2000 \
		--user-data-dir="$(mktemp -d "$BATS_TEST_TMPDIR/profile.XXXXXX")" \
		--dump-dom "file://$BATS_TEST_TMPDIR/probe.html" 2>/dev/null |
		sed -n '/<pre id="probe">/,/<\/pre>/p' | sed 's/<[^>]*>//g'
}

@test "report: bidi names isolated, captions read in order; a 10 kB name is cut and the tables fit the page" {
	command -v chromium >/dev/null || skip "chromium is not installed (scripts/install-deps.sh installs it)"
	chip $'abc\u202eevil' 30 vermelho
	chip "$(printf 'L%.0s' $(seq 10000))" 35 vermelho
	chip $'\u05e9\u05dc\u05d5\u05dd' 40 laranja
	psql_q "INSERT INTO alert_outbox (alert_key, alert_type, subject, severity, text)
	        VALUES ('x', 'chip_restricted', repeat('S', 10000), 'warning', repeat('T', 10000))"
	before=$(pg_dump --data-only "$DATABASE_URL" | grep -Ev '^(--|\\restrict |\\unrestrict )' | sha256sum)
	run_chipctl 0 report --html "$BATS_TEST_TMPDIR/r.html"
	# the names: isolated, the long one cut with an ellipsis
	grep -q $'\u2068abc\u202eevil\u2069' "$BATS_TEST_TMPDIR/r.html"
	grep -q "$(printf 'L%.0s' $(seq 48))…<" "$BATS_TEST_TMPDIR/r.html"
	! grep -q "$(printf 'L%.0s' $(seq 49))" "$BATS_TEST_TMPDIR/r.html"
	run probe "$BATS_TEST_TMPDIR/r.html"
	echo "$output"
	[ "$(grep -c '^caption inorder' <<< "$output")" -eq 3 ]
	! grep -q REVERSED <<< "$output"
	grep -q '^table pool fits' <<< "$output"
	grep -q '^table alerts fits' <<< "$output"
	! grep -q OVERFLOWS <<< "$output"
	[ "$(pg_dump --data-only "$DATABASE_URL" | grep -Ev '^(--|\\restrict |\\unrestrict )' | sha256sum)" = "$before" ]
}
