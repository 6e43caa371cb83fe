#!/usr/bin/env bats
# Issue 19: a chip sends like a person (one send in flight fleet-wide, a gap
# between two starts, "typing..." first), a worker keeps many chips busy at
# once, and a send whose answer was never recorded is asked of Evolution
# (findMessages) before it is ever sent again: exactly once, through kills,
# pauses and timeouts. Gaps and heartbeats are seconds here, never minutes.
load ../lib/common
load ../lib/send

setup() {
	common_setup
	send_setup
	zapi_setup
}

teardown() {
	for p in ${pids:-}; do kill -KILL "$p" 2>/dev/null; done
	common_teardown
}

# workers N ARGS...: N send-workers in the background (pids in $pids)
workers() {
	local n=$1 w
	shift
	for w in $(seq 1 "$n"); do
		"$CHIPCTL_BIN" -q send-worker --worker-id "w$w" "$@" 3>&- 2>>"$BATS_TEST_TMPDIR/w.err" &
		pids="${pids:-} $!"
	done
}

stop_workers() {
	for p in $pids; do kill -TERM "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	pids=""
}

# sends_stat KEY: one figure of the fake Evolution's /__sends/stats
sends_stat() {
	curl -sf "$FAKE_EVOLUTION_URL/__sends/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"
}

@test "four workers, five chips, a 300 ms provider: one send in flight per chip, gaps kept, typing on every request" {
	export CHIPCTL_CHIP_GAP_S=1 CHIPCTL_CHIP_GAP_JITTER_S=1 CHIPCTL_TYPING_MS_PER_CHAR=10
	conf 'send: { typing_min_ms = 100; typing_max_ms = 400; idle_ms = 50; };'
	fake_ctl evolution /__control/latency '{"ms":300}' >/dev/null
	fake_ctl zapi /__control/instances '[{"id":"ZI1","token":"ZT-1-abcdef","connected":true},
	  {"id":"ZI2","token":"ZT-2-abcdef","connected":true}]' >/dev/null
	for n in e1 e2 e3; do chip $n 90 >/dev/null; done
	open_instances e1 e2 e3
	add_secret ZT-1-abcdef
	add_secret ZT-2-abcdef
	chip z1 90 zapi ZI1 ZT-1-abcdef >/dev/null
	chip z2 90 zapi ZI2 ZT-2-abcdef >/dev/null
	enqueue 15 "pace"
	workers 4
	wait_for "SELECT count(*) = 15 FROM fila_mensagens WHERE status = 'enviada'" 60
	stop_workers
	[ "$(sends_stat overlapping_on_one_instance)" -eq 0 ]
	# per chip, Evolution and Z-API alike: starts (the fake's arrival
	# times) at least the 1 s gap apart; typing asked on every request
	fake_requests evolution > "$BATS_TEST_TMPDIR/evo.json"
	fake_requests zapi > "$BATS_TEST_TMPDIR/zapi.json"
	run python3 - "$BATS_TEST_TMPDIR/evo.json" "$BATS_TEST_TMPDIR/zapi.json" <<'PY'
import json, sys
bad, starts, n, texts = [], {}, 0, []
for path, field, lo, hi in ((sys.argv[1], "delay", 100, 400), (sys.argv[2], "delayTyping", 1, 1)):
    for r in json.load(open(path)):
        p = r["path"]
        if not (p.startswith("/message/sendText/") or p.endswith("/send-text")):
            continue
        n += 1
        v = (r.get("json") or {}).get(field)
        if not isinstance(v, int) or not lo <= v <= hi:
            bad.append("%s: %s = %r" % (p, field, v))
        starts.setdefault(p, []).append(r["ts"])
        texts.append((r.get("json") or {}).get("text") or (r.get("json") or {}).get("message"))
for p, ts in starts.items():
    ts.sort()
    for a, b in zip(ts, ts[1:]):
        if b - a < 0.95:
            bad.append("%s: two starts %.3f s apart" % (p, b - a))
if sorted(texts) != sorted("pace %d" % g for g in range(1, 16)):
    bad.append("not every text exactly once: %r" % sorted(texts))
print("requests %d, chips %d" % (n, len(starts)))
print("\n".join(bad))
sys.exit(1 if bad or n != 15 or len(starts) != 5 else 0)
PY
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "default pacing: a chip starts one send per gap; the rest wait WAIT_PACING until their chip may send, counted and shown" {
	pacing_on
	conf 'send: { typing_min_ms = 100; typing_max_ms = 200; };'
	for i in $(seq 1 10); do chip "p$i" 90 >/dev/null; done
	open_instances p1 p2 p3 p4 p5 p6 p7 p8 p9 p10
	enqueue 30 "paced"
	run_chipctl 0 send-worker --once
	# one send per chip, every one asking for typing first
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 10 ]
	[ "$(psql_q "SELECT count(DISTINCT chip_id) FROM fila_mensagens WHERE status = 'enviada'")" -eq 10 ]
	[ "$(fake_requests evolution | python3 -c 'import json,sys
print(sum(1 for r in json.load(sys.stdin) if r["path"].startswith("/message/sendText/")
          and 100 <= (r["json"] or {}).get("delay", 0) <= 200))')" -eq 10 ]
	# the others wait, unburnt, until the first chip's gap (20 s + 0..20) ran out
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente' AND tentativas = 0
	              AND outcome_reason_code = 'WAIT_PACING'
	              AND agendar_para >= now() + interval '15 seconds'
	              AND agendar_para <= now() + interval '41 seconds'")" -eq 20 ]
	[ "$(psql_q "SELECT bool_and(next_send_at BETWEEN now() + interval '15 seconds'
	                                         AND now() + interval '41 seconds')
	              FROM chip_send_counters")" = t ]
	run_chipctl 0 queue stats
	[[ "$output" == *"WAIT_PACING"*"20"* ]]
	run_chipctl 0 chips
	[[ "$output" == *"next send"* ]]
	m=$(psql_q "SELECT min(id) FROM fila_mensagens WHERE status = 'pendente'")
	run_chipctl 0 queue show "$m"
	[[ "$output" == *"WAIT_PACING"* ]]
	# a second run at once sends nothing: no chip may start yet
	run_chipctl 0 send-worker --once
	[ "$(fake_count evolution POST /message/sendText/)" -eq 10 ]
}

@test "a send that timed out here but went out there is recorded after the lookup, never sent again; the 9 the stored JID lost is no obstacle" {
	sed -i '/timeout_ms = 2000/d' "$CONF"
	conf 'evolution: { timeout_ms = 400; };'
	chip c1 90 >/dev/null
	open_instances c1
	# the server sends it, stores it, and never answers in time
	fake_ctl evolution /__control/send '{"instance":"c1","mode":"hang","store":true,"count":1}' >/dev/null
	m=$(msg resposta dr-br 5531991234567)
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT status, outcome_reason_code FROM fila_mensagens WHERE id = $m")" = "pendente|UNCERTAIN_TIMEOUT" ]
	# stored under the JID without the 9
	[ "$(curl -sf "$FAKE_EVOLUTION_URL/__messages?instance=c1" | python3 -c 'import json,sys
print(json.load(sys.stdin)[0]["key"]["remoteJid"])')" = "553191234567@s.whatsapp.net" ]
	psql_q "UPDATE fila_mensagens SET agendar_para = now() WHERE id = $m"
	run_chipctl 0 send-worker --once
	[[ "$stderr" == *"uncertain send found sent"* ]]
	[ "$(psql_q "SELECT status, outcome, tentativas FROM fila_mensagens WHERE id = $m")" = "enviada|SENT|0" ]
	[ "$(fake_count evolution POST /message/sendText/c1)" -eq 1 ]
	[ "$(fake_count evolution POST /chat/findMessages/c1)" -ge 1 ]
}

# kill_in_flight N: SIGKILL the workers once the fake holds N sends at once
kill_in_flight() {
	local i=0
	while [ "$(sends_stat in_flight)" -lt "$1" ]; do
		i=$((i + 1))
		[ $i -lt 400 ] || { echo "never $1 sends in flight"; return 1; }
		sleep 0.05
	done
	for p in $pids; do kill -KILL "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	pids=""
}

# rescue_dead: once the killed worker's heartbeat is older than 2 s, the
# rescue takes its claims back (uncertain sends keep their chip and start)
rescue_dead() {
	wait_for "SELECT bool_and(last_beat_at < now() - interval '2 seconds') FROM worker_heartbeats" 20
	run_chipctl 0 reset-stuck-queue
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'processando'")" -eq 0 ]
}

@test "a worker SIGKILLed three times with 30 sends in flight: every message sent exactly once" {
	conf 'watchdog: { heartbeat_s = 2; };'
	conf 'send: { idle_ms = 50; };'
	fake_ctl evolution /__control/latency '{"ms":1500}' >/dev/null
	names=""
	for i in $(seq 1 40); do chip "k$i" 90 >/dev/null; names="$names k$i"; done
	open_instances $names
	enqueue 160 "once"
	for round in 1 2 3; do
		workers 1
		kill_in_flight 30
		rescue_dead
	done
	uncertain=$(psql_q "SELECT count(*) FROM fila_mensagens WHERE envio_chip_id IS NOT NULL")
	[ "$uncertain" -ge 30 ]
	workers 1
	wait_for "SELECT count(*) = 160 FROM fila_mensagens WHERE status = 'enviada'" 90
	stop_workers
	every_text_once 160
	[ "$(psql_q "SELECT count(*) FROM send_attempts WHERE error LIKE 'found by reconciliation%'")" -ge 30 ]
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE tentativas > 0")" -eq 0 ]
}

@test "a server that keeps nothing: a killed worker loses nothing, duplicates at most what was in flight, health evolution warns" {
	conf 'watchdog: { heartbeat_s = 2; };'
	conf 'send: { idle_ms = 50; };'
	fake_ctl evolution /__control/messages/saving '{"instance":"*","enabled":false}' >/dev/null
	fake_ctl evolution /__control/latency '{"ms":1500}' >/dev/null
	names=""
	for i in $(seq 1 40); do chip "n$i" 90 >/dev/null; names="$names n$i"; done
	open_instances $names
	enqueue 100 "kept"
	# one batch sent to the end first: messages known sent, for the check
	run_chipctl 0 send-worker --once --max-messages 10
	# sent a while ago: the server had time to keep them, were it keeping any
	psql_q "UPDATE fila_mensagens SET enviada_em = enviada_em - interval '5 minutes'
	        WHERE status = 'enviada'"
	workers 1
	kill_in_flight 30
	rescue_dead
	in_flight=$(psql_q "SELECT count(*) FROM fila_mensagens WHERE envio_chip_id IS NOT NULL")
	workers 1
	wait_for "SELECT count(*) = 100 FROM fila_mensagens WHERE status = 'enviada'" 90
	stop_workers
	# every text at least once, the extra ones only among those in flight
	extra=$(fake_requests evolution | python3 -c 'import collections, json, sys
c = collections.Counter(r["json"]["text"] for r in json.load(sys.stdin)
                        if r["path"].startswith("/message/sendText/"))
assert len(c) == 100, len(c)
print(sum(n - 1 for n in c.values()))')
	echo "in flight at the kill: $in_flight, sent twice: $extra"
	[ "$extra" -le "$in_flight" ]
	grep -q "keeps no messages" "$BATS_TEST_TMPDIR/w.err"
	[ "$(psql_q "SELECT keeps_messages FROM evolution_history")" = f ]
	run_chipctl 1 health evolution
	[[ "$output" == WARNING* ]]
}

@test "a worker paused past its heartbeat sends nothing more from the claim it lost" {
	conf 'watchdog: { heartbeat_s = 2; };'
	conf 'send: { idle_ms = 50; };'
	fake_ctl evolution /__control/latency '{"ms":1500}' >/dev/null
	chip c1 90 >/dev/null
	open_instances c1
	enqueue 5 "paused"
	workers 1
	fake_wait_count evolution /message/sendText 1 10
	kill -STOP $pids
	wait_for "SELECT bool_and(last_beat_at < now() - interval '2 seconds') FROM worker_heartbeats" 20
	run_chipctl 0 reset-stuck-queue
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'pendente'")" -eq 5 ]
	# resumed: its answer comes and is not written; its next send does not start
	kill -CONT $pids
	wait_for "SELECT count(*) = 1 FROM fila_mensagens WHERE status = 'enviada'" 30 || true
	stop_workers
	grep -q "no longer claimed by this worker" "$BATS_TEST_TMPDIR/w.err"
	# then whoever claims them sends each once: the one in flight is found
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 5 ]
	every_text_once 5
}

@test "a provider proven by one status call: every chip's first send leaves at once; unproven, the first goes alone" {
	fake_ctl evolution /__control/latency '{"ms":300}' >/dev/null
	for n in e1 e2 e3 e4; do chip $n 90 >/dev/null; done
	open_instances e1 e2 e3 e4
	enqueue 4 "proof"
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 4 ]
	# one GET of one chip's state, then the four sends together
	[ "$(fake_count evolution GET /instance/connectionState/)" -eq 1 ]
	[ "$(sends_stat max_in_flight)" -eq 4 ]
	# the state call answers 500: nothing proven, nothing decided; the first
	# send goes alone, its answer proves the provider, the rest follow at once
	fake_ctl evolution /__control/reset >/dev/null
	fake_ctl evolution /__control/sends/reset >/dev/null
	fake_ctl evolution /__control/latency '{"ms":300}' >/dev/null
	open_instances e1 e2 e3 e4
	fake_ctl evolution /__control/script '{"responses":[{"path":"/instance/connectionState/",
	  "status":500,"body":{"status":500,"error":"Internal Server Error","response":{"message":"boom"}}}]}' >/dev/null
	enqueue 4 "again"
	run_chipctl 0 send-worker --once
	[ "$(psql_q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")" -eq 8 ]
	[ "$(sends_stat max_in_flight)" -eq 3 ]
	[[ "$stderr" == *"provider not proven by its status: its first send goes alone"* ]]
}
