#!/bin/sh
# Benchmark of issue 20: pull-messages over 1,000 Evolution chips with 50 new
# records each (25 sent from the phone and delivered, 25 replies) kept by the
# fake Evolution API. Prints the run's time, start to exit (goal < 30 s),
# and the database time per record (chipctl_pull_apply, from
# pg_stat_user_functions).
set -eu
. "$(dirname "$0")/lib.sh"

FAKE_KEY=bench-evo-key-123
python3 "$REPO/tests/fakes/fake_evolution.py" --port 0 --portfile "$BENCH_WORK/evo.port" \
	--log /dev/null --apikey "$FAKE_KEY" </dev/null >"$BENCH_WORK/evo.out" 2>&1 &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null; "$REPO/scripts/pg-tmp.sh" stop "$BENCH_WORK/pg" 2>/dev/null; rm -rf "$BENCH_WORK"' EXIT
i=0
while [ ! -s "$BENCH_WORK/evo.port" ]; do
	i=$((i + 1)); [ $i -lt 200 ] || { echo "fake Evolution did not start" >&2; exit 1; }
	sleep 0.05
done
EVOLUTION_API_URL="http://127.0.0.1:$(cat "$BENCH_WORK/evo.port")"
EVOLUTION_API_KEY=$FAKE_KEY
export EVOLUTION_API_URL EVOLUTION_API_KEY
CONF="$BENCH_WORK/chipctl.conf"
echo 'pull: { max_in_flight = 64; };' > "$CONF"
CHIPCTL_CONFIG=$CONF
export CHIPCTL_CONFIG
CHIPS=${BENCH_PULL_CHIPS:-1000}
PER=${BENCH_PULL_RECORDS:-50}

echo "== pull-messages over $CHIPS chips x $PER new records from the fake Evolution API"
curl -sS -X POST -H 'Content-Type: application/json' -d "{\"count\":$CHIPS,\"width\":4}" \
	"$EVOLUTION_API_URL/__control/instances/generate" >/dev/null
q "INSERT INTO chips (telefone, instance_name, status, trust_score, evolution_connected,
     warming_started_at, created_at)
   SELECT '55119' || lpad(g::text, 8, '0'), 'chip' || lpad(g::text, 4, '0'),
     CASE WHEN g % 3 = 0 THEN 'warming' ELSE 'active' END, 70, true,
     now() - interval '25 days', now() - interval '25 days'
   FROM generate_series(1, $CHIPS) g"
python3 - "$EVOLUTION_API_URL" "$CHIPS" "$PER" <<'EOF'
import http.client, json, sys, time, urllib.parse
url, chips, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
u = urllib.parse.urlparse(url)
c = http.client.HTTPConnection(u.hostname, u.port)
now = int(time.time())
for k in range(1, chips + 1):
    msgs = []
    for j in range(per // 2):
        num = "55118%04d%04d" % (k, j)
        ts = now - 3 * 86400 + j * 600
        msgs.append({"number": num, "fromMe": True, "text": "m", "timestamp": ts,
                     "receipts": ["SERVER_ACK", "DELIVERY_ACK"]})
        msgs.append({"number": num, "text": "r", "timestamp": ts + 120})
    body = json.dumps({"instance": "chip%04d" % k, "messages": msgs})
    c.request("POST", "/__control/messages/seed", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status != 200:
        sys.exit("seed failed: %d" % r.status)
EOF
q "ALTER DATABASE bench SET track_functions = 'pl'"
q "SELECT pg_stat_reset()" >/dev/null
t0=$(now_ns)
out=$("$CHIPCTL" -q pull-messages --json)
t1=$(now_ns)
# the backend's function statistics are flushed as it exits: wait for them
i=0
while [ "$(q "SELECT count(*) FROM pg_stat_user_functions WHERE funcname = 'chipctl_pull_apply'")" = 0 ]; do
	i=$((i + 1)); [ $i -lt 100 ] || break
	sleep 0.05
done
python3 - "$out" "$(( (t1 - t0) / 1000000 ))" "$(q "SELECT coalesce(sum(total_time), 0) FROM pg_stat_user_functions WHERE funcname = 'chipctl_pull_apply'")" <<'EOF'
import json, sys
o, ms, db_ms = json.loads(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
rec = o["records"]
print("records=%d replies=%d outbound=%d receipts=%d failures=%d" %
      (rec, o["replies"], o["outbound"], o["receipts"], o["failures"]))
print("run: %.2f s (goal < 30 s); database: %.1f ms in chipctl_pull_apply, %.3f ms per record"
      % (ms / 1000.0, db_ms, db_ms / rec if rec else 0))
EOF
t0=$(now_ns)
out=$("$CHIPCTL" -q pull-messages --json)
t1=$(now_ns)
echo "second run (nothing new since the cursors): $(( (t1 - t0) / 1000000 )) ms," \
	"records=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')"
