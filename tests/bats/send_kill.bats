#!/usr/bin/env bats
# Issue 13, point 4: a send-worker SIGKILLed at random points while it sends,
# then the rescue as the real system runs it (reset-stuck-queue once the
# claims are old). Every message ends 'enviada', sent exactly once: the
# sends a kill left without a record (all those in flight, since issue 19)
# are found by the lookup (findMessages) and recorded, never sent again.
load ../lib/common
load ../lib/send

MESSAGES=300
ROUNDS=8

setup() {
	common_setup
	send_setup
}

teardown() { common_teardown; }

# kill_at STEP JITTER_MS LOG CMD...: count the sendText requests the fake
# has logged so far (BASE), start CMD (a send-worker, its stderr appended
# to LOG), and SIGKILL it JITTER_MS after the fake has logged request
# BASE + STEP (0: at once). The fake logs a request before it answers, so
# at that moment that request is in flight and the answers before it are
# in the worker's hands. The watcher starts the worker itself and follows
# the fake's log (no re-reading, no process per poll), so the kill lands
# within a fraction of a millisecond of the condition; a jitter moves it on
# to the other points of the worker's cycle (an answer in hand, the write
# of a result, the next claim). Prints "BASE SEEN" (requests before the
# worker started, and when the condition held); fails, killing the worker,
# if the count is not reached in 20 s or the worker exits first.
kill_at() {
	local step=$1 jitter=$2 log=$3; shift 3
	python3 - "$FAKE_EVOLUTION_LOG" "$step" "$jitter" "$log" "$@" 3>&- <<'PY'
import json, signal, subprocess, sys, time
flog, step, jitter, elog = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cmd = sys.argv[5:]
n, buf = 0, b""

def count(chunk):
    global n, buf
    buf += chunk
    *lines, buf = buf.split(b"\n")   # complete lines only
    for line in lines:
        r = json.loads(line)
        if r["method"] == "POST" and r["path"].startswith("/message/sendText/"):
            n += 1

with open(flog, "rb") as f, open(elog, "ab") as err:
    count(f.read())
    base = n
    w = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 20
    while True:
        chunk = f.read()
        if chunk:
            count(chunk)
            if n >= base + step:
                if jitter:
                    time.sleep(jitter / 1000)
                w.send_signal(signal.SIGKILL)
                w.wait()
                print(base, n)
                sys.exit(0)
        elif w.poll() is not None:
            print("kill_at: the worker exited (%s) after %d of %d requests"
                  % (w.returncode, n - base, step), file=sys.stderr)
            sys.exit(1)
        elif time.monotonic() > deadline:
            w.kill()
            w.wait()
            print("kill_at: %d of %d requests after 20 s" % (n - base, step), file=sys.stderr)
            sys.exit(1)
        else:
            time.sleep(0.0002)
PY
}

# analyse DIR KILLS: from the fake's log and, per kill K, DIR/base.K (the
# count of requests before its round; base.KILLS+1 before the drain),
# DIR/held.K (the texts it left claimed) and DIR/point.K (its kill point):
# one report line per kill (how many of the messages it held had reached
# the fake during its round: sent, not recorded, to be sent again), then
# "worst sum" on DIR/left, and a psql script that loads the requests per
# text into kill_received on DIR/received.sql.
analyse() {
	python3 - "$FAKE_EVOLUTION_LOG" "$1" "$2" <<'PY'
import collections, json, sys
flog, d, kills = sys.argv[1], sys.argv[2], int(sys.argv[3])
texts = []
for line in open(flog, encoding="utf-8"):
    r = json.loads(line)
    if r["method"] == "POST" and r["path"].startswith("/message/sendText/"):
        texts.append(r["json"]["text"])
worst = total = 0
for k in range(1, kills + 1):
    lo, hi = (int(open("%s/base.%d" % (d, j)).read()) for j in (k, k + 1))
    held = set(open("%s/held.%d" % (d, k), encoding="utf-8").read().split("\n")) - {""}
    left = len(held & set(texts[lo:hi]))
    worst, total = max(worst, left), total + left
    print("# kill %d: %s: %d message(s) held without a proof of sending, %d of them sent"
          % (k, open("%s/point.%d" % (d, k)).read().strip(), len(held), left))
open(d + "/left", "w").write("%d %d\n" % (worst, total))
with open(d + "/received.sql", "w", encoding="utf-8") as f:
    f.write("CREATE TABLE kill_received (text text PRIMARY KEY, n integer NOT NULL);\n"
            "COPY kill_received FROM STDIN;\n")
    for t, n in collections.Counter(texts).items():
        f.write("%s\t%d\n" % (t, n))
    f.write("\\.\n")
PY
}

@test "SIGKILL at random points while sending: every message sent exactly once (the lookup finds what a kill left unrecorded)" {
	for n in k1 k2 k3 k4; do chip $n 90 >/dev/null; done
	open_instances k1 k2 k3 k4
	psql_q "UPDATE chips SET limite_hora = 100000, limite_dia = 100000"
	# a few ms per answer: the worker has answers in hand when it dies
	fake_ctl evolution /__control/send '{"instance":"*","mode":"ok","delay_ms":5}' >/dev/null
	# replies (no guardrail), one text and one number per message; attempts
	# plenty, so the rescue's tentativas + 1 never fails one: only
	# duplicates are measured
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo, max_tentativas)
	        SELECT 'dr-kill-' || g, '55119' || lpad(g::text, 8, '0'), 'kill test message ' || g,
	               'resposta', 50
	        FROM generate_series(1, $MESSAGES) g"
	conf 'send: { idle_ms = 50; };'
	d=$BATS_TEST_TMPDIR

	kills=0
	for round in $(seq 1 $ROUNDS); do
		# the kill point: a random count of requests into the round, never
		# a multiple of ten nor one past it (a worker that records a batch
		# of ten at its end is then caught with two answers or more in
		# hand); half the kills as that request arrives (its HTTP call in
		# flight), half up to 8 ms later, wherever the worker then is
		step=$((2 + RANDOM % 28))
		case $((step % 10)) in 0|1) step=$((step + 2)) ;; esac
		jitter=$((RANDOM % 2 ? RANDOM % 9 : 0))
		read -r pending other <<<"$(psql_q "SELECT count(*) FILTER (WHERE status = 'pendente'),
		        count(*) FILTER (WHERE status NOT IN ('pendente', 'enviada')) FROM fila_mensagens" | tr '|' ' ')"
		[ "$other" -eq 0 ] || { psql_q "SELECT status, count(*) FROM fila_mensagens GROUP BY 1"; false; }
		[ "$pending" -gt $((step + 10)) ] || break
		at=$(kill_at $step $jitter "$d/workers.err" "$CHIPCTL_BIN" -q send-worker --worker-id "k$round") ||
			{ cat "$d/workers.err"; false; }
		kills=$((kills + 1))
		read -r base seen <<<"$at"
		echo "$base" > "$d/base.$kills"
		echo "at request $((seen - base)) of its round (target $step, +$jitter ms)" > "$d/point.$kills"
		# an hour later (its claims and its heartbeat that old: the chips it
		# held are freed too) the stuck-queue rescue takes back what it held
		# (held: the messages it held without a proof of sending, the
		# successful attempt it writes the moment an answer arrives; the
		# rescue records the proven ones sent and sends the others again)
		psql_q "WITH h AS (
		          SELECT id, conteudo,
		                 EXISTS (SELECT 1 FROM chipctl_sent_proof(id, processando_desde)) AS proven
		          FROM fila_mensagens WHERE status = 'processando'),
		        u AS (UPDATE fila_mensagens f SET processando_desde = now() - interval '2 hours'
		              FROM h WHERE f.id = h.id),
		        b AS (UPDATE worker_heartbeats SET last_beat_at = now() - interval '2 hours'
		              WHERE worker_id = 'k$round')
		        SELECT conteudo FROM h WHERE NOT proven" > "$d/held.$kills"
		run_chipctl 0 reset-stuck-queue
	done
	[ "$kills" -eq "$ROUNDS" ]

	# a normal worker drains the rest
	fake_count evolution POST /message/sendText/ > "$d/base.$((kills + 1))"
	run_chipctl 0 send-worker --once

	report=$(analyse "$d" "$kills")
	read -r worst sum_left < "$d/left"
	psql -XAtq -v ON_ERROR_STOP=1 "$DATABASE_URL" -f "$d/received.sql"
	# per message: requests the fake got, attempts recorded, ok attempts
	read -r total dup_msgs extra not_sent never unknown phantom ok_not_one <<<"$(psql_q "
	    WITH m AS (
	      SELECT f.id, f.status, coalesce(r.n, 0) AS n,
	             (SELECT count(*) FROM send_attempts a WHERE a.message_id = f.id) AS att,
	             (SELECT count(*) FROM send_attempts a WHERE a.message_id = f.id AND a.result = 'ok') AS ok
	      FROM fila_mensagens f LEFT JOIN kill_received r ON r.text = f.conteudo)
	    SELECT (SELECT coalesce(sum(n), 0) FROM kill_received),
	           count(*) FILTER (WHERE n > 1), coalesce(sum(greatest(n - 1, 0)), 0),
	           count(*) FILTER (WHERE status <> 'enviada'), count(*) FILTER (WHERE n = 0),
	           (SELECT count(*) FROM kill_received r
	            WHERE NOT EXISTS (SELECT 1 FROM fila_mensagens f WHERE f.conteudo = r.text)),
	           count(*) FILTER (WHERE att > n), count(*) FILTER (WHERE ok <> 1)
	    FROM m" | tr '|' ' ')"
	summary="$report
# $MESSAGES messages, $kills kills: $total sendText requests, $extra extra, $dup_msgs message(s) sent more than once (allowed: 0); the kills left $sum_left sent without a record, worst $worst (found by the lookup)
# not enviada: $not_sent; never sent: $never; texts of no message: $unknown; with more attempts recorded than requests: $phantom; without exactly one ok attempt: $ok_not_one"
	echo "$summary" >&3
	fail=""
	[ "$not_sent" -eq 0 ] || fail="$fail; $not_sent message(s) not enviada"
	[ "$never" -eq 0 ] || fail="$fail; $never message(s) never reached the fake"
	[ "$unknown" -eq 0 ] || fail="$fail; $unknown request text(s) of no message"
	[ "$dup_msgs" -eq 0 ] || fail="$fail; $dup_msgs messages sent more than once for $kills kills"
	[ "$total" -eq "$MESSAGES" ] || fail="$fail; $total requests for $MESSAGES messages and $kills kills"
	[ "$extra" -eq 0 ] || fail="$fail; $extra extra requests, $sum_left left by the kills"
	[ "$phantom" -eq 0 ] || fail="$fail; $phantom message(s) with more attempts recorded than requests"
	[ "$ok_not_one" -eq 0 ] || fail="$fail; $ok_not_one message(s) without exactly one ok attempt"
	[ -z "$fail" ] || { echo "${fail#; } (figures above)"; false; }
}
