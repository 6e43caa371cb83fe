#!/bin/sh
# Benchmark of issue 19's goal "Defaults: 10 chips at the default limits for
# 100 s: no chip starts two sends within 20 s, every send carries a typing
# delay, and the pool still sends" (SPEC section 8: a chip sends like a
# person).
#
# The fake Evolution API (tests/fakes/fake_evolution.py) answers every
# sendText after L ms (300) plus the "delay" the request asks for, and
# records each send's instance, start and end (/__sends) and each request's
# body (/__requests). 10 Evolution chips at the table's default limits
# (limite_hora, limite_dia not set), N due replies ('resposta', one doctor
# each, texts of 15 to ~280 characters so the typing delay varies). The
# pacing and typing settings are the defaults: CHIPCTL_CHIP_GAP_S,
# CHIPCTL_CHIP_GAP_JITTER_S and CHIPCTL_TYPING_MS_PER_CHAR are unset and the
# config file is an empty one. TWO `send-worker` run in loop mode for S
# seconds, then get SIGTERM (each finishes the sends it has in flight).
#
# Prints, from the fake's records: sends started, sends per chip, the
# shortest gap between two consecutive starts of one chip (must be >= 20 s:
# send.chip_gap_s), sends carrying a "delay" > 0 (must be all) and their
# range, overlapping sends on one chip (must be 0); from the database: the
# messages enviada and the queue's WAIT_PACING count (mid-run and at the
# end); and the default hourly and daily limits against what the pace
# allows. Last line "pacing: OK" or "pacing: FAIL <why>" (exit 1).
#
# Knobs: BENCH_PACING_S (100), BENCH_PACING_CHIPS (10),
# BENCH_PACING_MESSAGES (200), BENCH_PACING_LATENCY_MS (300),
# BENCH_PACING_DUMP=DIR keeps the fake's records and the workers' logs.
set -eu
S=${BENCH_PACING_S:-100}
CHIPS=${BENCH_PACING_CHIPS:-10}
N=${BENCH_PACING_MESSAGES:-200}
L=${BENCH_PACING_LATENCY_MS:-300}
WORKERS=2

# the defaults are what is measured: nothing overrides them
unset CHIPCTL_CHIP_GAP_S CHIPCTL_CHIP_GAP_JITTER_S CHIPCTL_TYPING_MS_PER_CHAR CHIPCTL_MULTI_CHIP

. "$(dirname "$0")/lib.sh"
keep_binary


: > "$BENCH_WORK/chipctl.conf"
export CHIPCTL_CONFIG="$BENCH_WORK/chipctl.conf"

# --- the fake, with a round trip
start_fake_evolution "$L" "$CHIPS" pacing

# --- chips at the default limits, due replies to distinct doctors
q "INSERT INTO chips (telefone, instance_name, status, trust_score, pode_prospectar,
     pode_followup, pode_responder, evolution_connected)
   SELECT '5511900000' || lpad(g::text, 3, '0'), 'bench' || g, 'active', 90, true, true,
     true, true FROM generate_series(1, $CHIPS) g"
q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo)
   SELECT 'dr' || g, '55119' || lpad(g::text, 8, '0'),
     'Olá, plantão ' || g || ' ' || repeat('x', (g * 37) % 270), 'resposta'
   FROM generate_series(1, $N) g"
q "VACUUM ANALYZE fila_mensagens"
q "VACUUM ANALYZE chips"
limits=$(q "SELECT min(limite_hora) || ' ' || max(limite_hora) || ' ' || min(limite_dia) || ' ' || max(limite_dia) FROM chips")
# shellcheck disable=SC2086  # four numbers, split on purpose
set -- $limits
HOUR_CAP=$1
DAY_CAP=$3
[ "$1" = "$2" ] && [ "$3" = "$4" ] || { echo "pacing: chips' limits differ: $limits"; exit 1; }
# send.chip_gap_s's default (20): the floor two starts of one chip must keep
GAP_MIN=$("$CHIPCTL" --list-settings | awk '$1 == "send.chip_gap_s" { print $3 }')
JITTER=$("$CHIPCTL" --list-settings | awk '$1 == "send.chip_gap_jitter_s" { print $3 }')
[ -n "$GAP_MIN" ] && [ "$GAP_MIN" -gt 0 ] || { echo "pacing: FAIL send.chip_gap_s is not in --list-settings or is 0"; exit 1; }
defaults=$("$CHIPCTL" --list-settings | awk '$1 ~ /^send\.(chip_gap_s|chip_gap_jitter_s|typing_ms_per_char|typing_min_ms|typing_max_ms)$/ { printf "%s%s=%s", sep, $1, $3; sep = " " }')

echo "== pacing (issue 19): $CHIPS Evolution chips at the default limits (limite_hora $HOUR_CAP, limite_dia $DAY_CAP), $N due replies, the fake answers after $L ms + the delay asked; $WORKERS send-worker loops for $S s at the default pace ($defaults)"
echo "binary: $BINARY"

# --- two workers in loop mode, S seconds
t0=$(date +%s.%N)
wpids=""
w=1
while [ "$w" -le "$WORKERS" ]; do
	"$CHIPCTL" send-worker --worker-id "pace-$w" 2>"$BENCH_WORK/err.$w" &
	wpids="$wpids $!"
	w=$((w + 1))
done
pids="$pids $wpids"
half=$((S / 2))
sleep "$half"
mid_pacing=$("$CHIPCTL" -q queue stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["waiting_by_reason"].get("WAIT_PACING", 0))')
sleep $((S - half))
for p in $wpids; do kill -TERM "$p" 2>/dev/null || true; done
# each finishes its sends in flight (a typing delay is at most 8 s): 60 s cap
i=0
while [ "$i" -lt 600 ]; do
	alive=0
	for p in $wpids; do kill -0 "$p" 2>/dev/null && alive=1; done
	[ "$alive" -eq 1 ] || break
	sleep 0.1
	i=$((i + 1))
done
for p in $wpids; do kill -0 "$p" 2>/dev/null && { echo "pacing: worker $p did not stop within 60 s of SIGTERM"; kill -9 "$p"; }; done
rc=0
for p in $wpids; do wait "$p" || rc=$?; done
t1=$(date +%s.%N)
[ "$rc" -eq 0 ] || { echo "pacing: a worker exited $rc"; tail -n 20 "$BENCH_WORK"/err.*; }

fake GET /__sends >"$BENCH_WORK/sends.json"
fake GET /__requests >"$BENCH_WORK/requests.json"
fake GET /__sends/stats >"$BENCH_WORK/stats.json"
[ -z "${BENCH_PACING_DUMP:-}" ] || cp "$BENCH_WORK/sends.json" "$BENCH_WORK/requests.json" "$BENCH_WORK"/err.* "$BENCH_PACING_DUMP/"
sent=$(q "SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'")
end_pacing=$("$CHIPCTL" -q queue stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["waiting_by_reason"].get("WAIT_PACING", 0))')
statuses=$(q "SELECT string_agg(status || ' ' || n, ', ' ORDER BY status) FROM (SELECT status, count(*) n FROM fila_mensagens GROUP BY 1) s")
max_hour=$(q "SELECT coalesce(max(hour_count), 0) FROM chip_send_counters")
log_errors=$(cat "$BENCH_WORK"/err.* | grep -c 'level=error' || true)

PYTHONDONTWRITEBYTECODE=1 python3 - "$BENCH_WORK" "$S" "$CHIPS" "$GAP_MIN" "$JITTER" "$sent" "$mid_pacing" "$end_pacing" \
	"$HOUR_CAP" "$DAY_CAP" "$max_hour" "$t0" "$t1" "$statuses" "$log_errors" <<'PY'
import json, sys, time
work, S, chips, gap_min, jitter, sent, mid_pacing, end_pacing, hour_cap, day_cap, max_hour, t0, t1, statuses, log_errors = sys.argv[1:]
S, chips, gap_min, jitter, sent = int(S), int(chips), float(gap_min), float(jitter), int(sent)
hour_cap, day_cap, max_hour, t0, t1 = int(hour_cap), int(day_cap), int(max_hour), float(t0), float(t1)
sends = json.load(open(work + "/sends.json"))
reqs = [r for r in json.load(open(work + "/requests.json"))
        if r["method"] == "POST" and r["path"].startswith("/message/sendText/")]
stats = json.load(open(work + "/stats.json"))

def hms(t):
    return time.strftime("%H:%M:%S", time.localtime(t)) + ".%03d" % int((t % 1) * 1000)

fails = []
by = {}
for s in sends:
    by.setdefault(s["instance"], []).append(s)
names = sorted(by, key=lambda n: (len(n), n))
per_chip = " ".join("%s:%d" % (n, len(by[n])) for n in names)
idle = chips - len(by)
print("sends started: %d (%d answered 201), in %.1f s; %d chips of %d sent" % (
    len(sends), sum(1 for s in sends if s.get("status") == 201), t1 - t0, len(by), chips))
print("per chip: %s" % per_chip)
gaps = []  # (gap, instance, start, next start)
for n in names:
    st = sorted(s["start"] for s in by[n])
    gaps += [(b - a, n, a, b) for a, b in zip(st, st[1:])]
if gaps:
    g = min(gaps)
    mean = sum(x[0] for x in gaps) / len(gaps)
    print("gap between two starts of one chip: min %.3f s (%s, %s -> %s), mean %.1f s, max %.1f s, over %d gaps (must be >= %g s)" % (
        g[0], g[1], hms(g[2]), hms(g[3]), mean, max(gaps)[0], len(gaps), gap_min))
    short = [x for x in gaps if x[0] < gap_min]
    for x in sorted(short)[:20]:
        print("  TOO CLOSE: %s started at %s and again at %s (%.3f s apart)" % (x[1], hms(x[2]), hms(x[3]), x[0]))
    if short:
        fails.append("%d gaps under %g s (shortest %.3f s on %s)" % (len(short), gap_min, g[0], g[1]))
else:
    print("gap between two starts of one chip: no chip started twice")
delays = [r["json"].get("delay") if isinstance(r.get("json"), dict) else None for r in reqs]
with_delay = [d for d in delays if isinstance(d, int) and not isinstance(d, bool) and d > 0]
print("typing: %d of %d sendText requests carry a delay > 0 (must be all)%s" % (
    len(with_delay), len(reqs),
    ", delay %d..%d ms, mean %.0f ms" % (min(with_delay), max(with_delay), sum(with_delay) / len(with_delay)) if with_delay else ""))
if len(with_delay) != len(reqs):
    bad = [r for r, d in zip(reqs, delays) if d not in with_delay]
    for r in bad[:10]:
        print("  NO DELAY: %s at %s, delay %r" % (r["path"].rsplit("/", 1)[-1], hms(r["ts"]), (r.get("json") or {}).get("delay")))
    fails.append("%d sends without a typing delay" % (len(reqs) - len(with_delay)))
# the delay asked against 40 ms a character, clamped to 1000..8000
match = 0
for r, d in zip(reqs, delays):
    text = (r.get("json") or {}).get("text") or ""
    if d == max(1000, min(8000, 40 * len(text))):
        match += 1
print("typing: %d of %d delays are clamp(40 ms x characters, 1000, 8000)" % (match, len(reqs)))
print("overlapping sends on one chip: %d (must be 0); most in flight at once: %d" % (
    stats["overlapping_on_one_instance"], stats["max_in_flight"]))
if stats["overlapping_on_one_instance"]:
    fails.append("%d overlapping sends on one chip" % stats["overlapping_on_one_instance"])
print("database: %d enviada (%s); WAIT_PACING mid-run %s, at the end %s; worker log lines at level=error: %s" % (
    sent, statuses, mid_pacing, end_pacing, log_errors))
# what the pace allows against the default limits
pace_max = 1 + int(S // gap_min)
print("limits: limite_hora %d, limite_dia %d (table defaults); the pace allows at most %d starts per chip in %d s "
      "(%d an hour at a %g s gap, %d at %g s), so in %d s the hourly limit %s; most counted in one chip's hour: %d" % (
    hour_cap, day_cap, pace_max, S, 3600 // gap_min, gap_min, 3600 // (gap_min + jitter), gap_min + jitter, S,
    "does not bind" if pace_max < hour_cap else "binds", max_hour))
if sent == 0 or not sends:
    fails.append("the pool sent nothing")
elif idle:
    fails.append("%d chips never sent" % idle)
elif S >= 3 * gap_min and len(gaps) == 0:
    fails.append("no chip sent twice in %d s" % S)
ok201 = sum(1 for s in sends if s.get("status") == 201)
if sent != ok201:
    fails.append("the fake answered %d sends 201 but %d messages are enviada" % (ok201, sent))
print("pacing: OK" if not fails else "pacing: FAIL " + "; ".join(fails))
sys.exit(1 if fails else 0)
PY
