#!/usr/bin/env bats
# send-worker's batches are sized by time (send.batch_seconds): large when
# the provider is fast, small when it is slow, and a batch that overruns
# gives the rest back instead of holding it.
load ../lib/common
load ../lib/send

setup() {
	common_setup
	send_setup
}

# claims FILE: each "batch claimed" line as ASKED:CLAIMED, space separated
claims() {
	sed -n 's/.*msg="batch claimed" asked=\([0-9]*\) claimed=\([0-9]*\).*/\1:\2/p' "$1" |
		tr '\n' ' ' | sed 's/ $//'
}

@test "a fast provider: a batch is topped up in flight to send.batch_size; the next claim is what it carried" {
	for n in c1 c2 c3; do chip $n 90 >/dev/null; done
	open_instances c1 c2 c3
	enqueue 2500
	conf 'send: { batch_size = 1000; batch_seconds = 10; };'
	"$CHIPCTL_BIN" -v send-worker --once 3>&- 2>"$BATS_TEST_TMPDIR/w.err"
	run claims "$BATS_TEST_TMPDIR/w.err"
	echo "claims: $output"
	set -- $output
	# the first claim takes 50; while its chips send back to back the
	# batch is topped up in flight (a second of sends per chip at the
	# answers' pace: here, at once to its room) up to send.batch_size ...
	[ "$1" = 50:50 ]
	run sed -n 's/.*msg="batch walked" messages=\([0-9]*\).*/\1/p' "$BATS_TEST_TMPDIR/w.err"
	echo "batches: ${lines[*]}"
	[ "${lines[0]}" -eq 1000 ]
	for b in "${lines[@]}"; do [ "$b" -le 1000 ]; done
	[ "$(grep -c 'msg="batch topped up" asked=[0-9]* claimed=[1-9]' "$BATS_TEST_TMPDIR/w.err")" -ge 1 ]
	# ... and the next claim is what the batch carried (1000 sent in far
	# less than 10 s: a faster rate than that, and within sixteen times
	# the 1000 it carried, not its claim of 50), never past batch_size
	[ "${2%%:*}" -eq 1000 ]
	for c in "$@"; do [ "${c%%:*}" -le 1000 ]; done
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 2500 ]
	every_text_once 2500
}

@test "the first claim takes one message per chip that may send now (80 chips: 80, not 50)" {
	psql_q "INSERT INTO chips (telefone, instance_name, status, trust_score, pode_prospectar,
	          pode_followup, pode_responder, evolution_connected, limite_hora, limite_dia)
	        SELECT '5511900000' || lpad(g::text, 3, '0'), 'b' || g, 'active', 90, true, true,
	          true, true, 1000, 10000 FROM generate_series(1, 80) g" >/dev/null
	# five of them may not send now: one cooling off, one paced, one at its limit,
	# one held by a live worker of another host, one banned
	psql_q "UPDATE chips SET cooldown_until = now() + interval '1 hour' WHERE instance_name = 'b1';
	        UPDATE chips SET status = 'banned' WHERE instance_name = 'b2';
	        INSERT INTO chip_send_counters (chip_id, hour_start, hour_count, day_start, day_count,
	          next_send_at, held_by, held_until)
	        SELECT id, date_trunc('hour', now()), CASE instance_name WHEN 'b3' THEN 1000 ELSE 0 END,
	          date_trunc('day', now()), 0,
	          CASE instance_name WHEN 'b4' THEN now() + interval '1 hour' END,
	          CASE instance_name WHEN 'b5' THEN 'other-worker' END,
	          CASE instance_name WHEN 'b5' THEN now() + interval '1 hour' END
	        FROM chips WHERE instance_name IN ('b3', 'b4', 'b5')" >/dev/null
	fake_ctl evolution /__control/instances/generate '{"count":80,"prefix":"b","width":1}' >/dev/null
	enqueue 300
	"$CHIPCTL_BIN" -v send-worker --once 3>&- 2>"$BATS_TEST_TMPDIR/w.err"
	run claims "$BATS_TEST_TMPDIR/w.err"
	echo "claims: $output"
	[ "${output%% *}" = "75:75" ]
	# and the rest follow
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 300 ]
}

@test "a slow provider: the batch overruns, gives the rest back, and the next claim is small" {
	chip c1 90 >/dev/null
	open_instances c1
	fake_ctl evolution /__control/send '{"instance":"c1","mode":"ok","delay_ms":300}' >/dev/null
	enqueue 8
	conf 'send: { batch_seconds = 1; };'
	"$CHIPCTL_BIN" -v send-worker --once 3>&- 2>"$BATS_TEST_TMPDIR/w.err"
	# 300 ms a send: the first batch (8 of the 50 asked) is past its 2 s
	# before the last ones, which go back at once ...
	run grep 'msg="batch deadline passed' "$BATS_TEST_TMPDIR/w.err"
	echo "$output"
	[ "${#lines[@]}" -ge 1 ]
	[[ "${lines[0]}" =~ given_back=([0-9]+)\ of=8 ]]
	[ "${BASH_REMATCH[1]}" -ge 1 ]
	# ... and the next claim asks for about a second's worth (3 or so), not 50
	run claims "$BATS_TEST_TMPDIR/w.err"
	echo "claims: $output"
	set -- $output
	[ "$1" = 50:8 ]
	asked=${2%%:*}
	[ "$asked" -ge 1 ] && [ "$asked" -le 4 ]
	# every message sent once, none spent an attempt on the way back
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada' AND tentativas = 0")" -eq 8 ]
	[ "$(psql_q "SELECT count(*) FROM send_attempts WHERE result <> 'ok'")" -eq 0 ]
	every_text_once 8
}

@test "four workers, the provider slows down mid-run: batches shrink, what is given back is sent once" {
	# eight chips: each worker holds the chips of its batch (one send in
	# flight per chip, fleet-wide), so four workers need several
	for n in c1 c2 c3 c4 c5 c6 c7 c8; do chip $n 90 >/dev/null; done
	open_instances c1 c2 c3 c4 c5 c6 c7 c8
	# the provider slows down after the first sends: each chip's first 8
	# answers take 10 ms, every later one 400 ms (no poll race: the fake
	# counts)
	fake_ctl evolution /__control/send '{"instance":"*","mode":"ok","delay_ms":400}' >/dev/null
	for n in c1 c2 c3 c4 c5 c6 c7 c8; do
		fake_ctl evolution /__control/send "{\"instance\":\"$n\",\"mode\":\"ok\",\"count\":8,\"delay_ms\":10}" >/dev/null
	done
	enqueue 200
	conf 'send: { batch_seconds = 1; };'
	pids=""
	for w in 1 2 3 4; do
		"$CHIPCTL_BIN" -v send-worker --once --worker-id "w$w" 3>&- 2>"$BATS_TEST_TMPDIR/w$w.err" &
		pids="$pids $!"
	done
	# one worker holds the chips (the others wait, claiming nothing) and
	# its batch, sized by the fast answers, is topped up or followed by a
	# claim sixteen times larger: when the answers slow down it holds over
	# a hundred messages on 8 chips at 400 ms (over 5 s), so it is past
	# its 2 s with messages still in hand
	for p in $pids; do wait "$p"; done
	cat "$BATS_TEST_TMPDIR"/w*.err > "$BATS_TEST_TMPDIR/all.err"
	run grep -c 'msg="batch deadline passed' "$BATS_TEST_TMPDIR/all.err"
	echo "deadline lines: $output"
	[ "$output" -ge 1 ]
	# after the first, every claim is sized by the worker's rate (its sends
	# in flight at once, one per chip): the slowdown shrinks them
	small=0
	for w in 1 2 3 4; do
		run claims "$BATS_TEST_TMPDIR/w$w.err"
		echo "w$w claims: $output"
		set -- $output
		[ "${1%%:*}" -eq 50 ]
		prev=${1%%:*}
		shift
		for c in "$@"; do
			[ "${c%%:*}" -ge "$prev" ] || small=$((small + 1))
			prev=${c%%:*}
		done
	done
	[ "$small" -ge 1 ]
	# given back and sent by whoever claimed them next (a worker's batch
	# holds its chips, one send in flight each, so one worker may well
	# carry all eight: send_faults.bats has several at once): nothing
	# lost, nothing twice
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada' AND tentativas = 0")" -eq 200 ]
	every_text_once 200
}

@test "every chip with room held by another worker: nothing is claimed until one is let go, then all go out once" {
	for n in c1 c2; do chip $n 90 >/dev/null; done
	open_instances c1 c2
	psql_q "INSERT INTO chip_send_counters (chip_id, hour_start, hour_count, day_start, day_count,
	          held_by, held_until)
	        SELECT id, date_trunc('hour', now()), 0, date_trunc('day', now()), 0, 'other-worker',
	          now() + interval '1 hour' FROM chips" >/dev/null
	enqueue 20
	conf 'send: { idle_ms = 50; };'
	"$CHIPCTL_BIN" -v send-worker --once --worker-id w1 3>&- 2>"$BATS_TEST_TMPDIR/w.err" &
	pid=$!
	# it looks, again and again (a --once worker too: the holder is
	# sending), and claims nothing: claimed they would only bounce back
	i=0
	until [ "$(grep -c 'msg="every chip with room is held by another worker: nothing claimed" busy=2' \
	           "$BATS_TEST_TMPDIR/w.err")" -ge 3 ]; do
		i=$((i + 1)); [ "$i" -lt 400 ]; sleep 0.05
	done
	[ "$(grep -cE 'msg="(batch claimed|message waits for a chip)"' "$BATS_TEST_TMPDIR/w.err")" -eq 0 ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente' AND worker_id IS NULL")" -eq 20 ]
	# the holder lets c1 go: the waiting worker takes it and sends everything through it
	psql_q "UPDATE chip_send_counters SET held_by = NULL, held_until = NULL
	        WHERE chip_id = (SELECT id FROM chips WHERE instance_name = 'c1')" >/dev/null
	wait "$pid"
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens f JOIN chips c ON c.id = f.chip_id
	             WHERE f.status = 'enviada' AND c.instance_name = 'c1'")" -eq 20 ]
	[ "$(sends_to c2)" -eq 0 ]
	every_text_once 20
}

@test "a worker that claims again at once keeps its chips between batches; they are let go when the queue runs dry" {
	for n in c1 c2; do chip $n 90 >/dev/null; done
	open_instances c1 c2
	fake_ctl evolution /__control/send '{"instance":"*","mode":"ok","delay_ms":20}' >/dev/null
	enqueue 200
	conf 'send: { batch_size = 20; idle_ms = 50; };'
	"$CHIPCTL_BIN" -v send-worker --once --worker-id wa 3>&- 2>"$BATS_TEST_TMPDIR/a.err" &
	a=$!
	# a second worker comes once the first has walked a batch and kept its chips
	i=0
	until grep -q 'msg="the batch.s chips are kept for the next claim"' "$BATS_TEST_TMPDIR/a.err"; do
		i=$((i + 1)); [ "$i" -lt 400 ]; sleep 0.05
	done
	"$CHIPCTL_BIN" -v send-worker --once --worker-id wb 3>&- 2>"$BATS_TEST_TMPDIR/b.err" &
	b=$!
	wait "$a"
	wait "$b"
	# between two batches of the first no chip was free: the second claimed
	# nothing (no message claimed and given back), and sent nothing
	[ "$(grep -c 'msg="the batch.s chips are kept for the next claim"' "$BATS_TEST_TMPDIR/a.err")" -ge 2 ]
	[ "$(grep -cE 'msg="batch claimed" asked=[0-9]+ claimed=[1-9]' "$BATS_TEST_TMPDIR/b.err")" -eq 0 ]
	[ "$(grep -c 'msg="message waits for a chip"' "$BATS_TEST_TMPDIR/b.err")" -eq 0 ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada' AND worker_id = 'wa'")" -eq 200 ]
	# the queue ran dry: the chips are free again, their unstarted room given back
	[ "$(psql_q "SELECT count(*) FROM chip_send_counters WHERE held_by IS NOT NULL OR held_room <> 0")" -eq 0 ]
	[ "$(psql_q "SELECT sum(hour_count) FROM chip_send_counters")" -eq 200 ]
	every_text_once 200
}
