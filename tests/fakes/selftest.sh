#!/usr/bin/env bash
# shellcheck disable=SC2015  # "cond && pass || fail": pass never fails
# Quick self-test of the fake providers: starts each via tests/lib/fakes.bash and
# exercises every mode once with curl. Prints "N passed, N failed"; exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 2
FAKE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/fakes-selftest.XXXXXX")"
export FAKE_DIR
# shellcheck disable=SC1091
source tests/lib/fakes.bash
trap 'fake_stop_all; rm -rf "$FAKE_DIR"' EXIT

PASS=0 FAIL=0
pass() { PASS=$((PASS + 1)); }
fail() { FAIL=$((FAIL + 1)); echo "FAIL: $*" >&2; }

# req CURL_ARGS...: sets CODE, BODY, RC, SIZE, TIME, HDRS
req() {
  local out
  out="$(curl -sS -o "$FAKE_DIR/body" -D "$FAKE_DIR/hdrs" \
    -w '%{http_code} %{size_download} %{time_total}' "$@" 2>"$FAKE_DIR/curl.err")"
  RC=$?
  read -r CODE SIZE TIME <<<"$out"
  BODY="$(head -c 2000 "$FAKE_DIR/body" 2>/dev/null)"
  HDRS="$(cat "$FAKE_DIR/hdrs" 2>/dev/null)"
}
# is DESC STATUS EXACT_BODY | has DESC STATUS BODY_SUBSTR | rc DESC EXIT_CODE
is() { if [[ "$CODE" == "$2" && "$BODY" == "$3" ]]; then pass; else fail "$1: want $2 '$3', got $CODE rc=$RC '${BODY:0:300}'"; fi; }
has() { if [[ "$CODE" == "$2" && "$BODY" == *"$3"* ]]; then pass; else fail "$1: want $2 ~'$3', got $CODE rc=$RC '${BODY:0:300}'"; fi; }
rc() { if [[ "$RC" == "$2" ]]; then pass; else fail "$1: want curl exit $2, got $RC (status $CODE)"; fi; }
eq() { if [[ "$2" == "$3" ]]; then pass; else fail "$1: want '$3', got '$2'"; fi; }
ctl() { fake_ctl "$@" >/dev/null || fail "control $*"; }
J=(-H 'Content-Type: application/json')

for n in slack evolution zapi salvy; do fake_start "$n" || { echo "cannot start $n"; exit 1; }; done

# ---------------------------------------------------------------- common
req "$FAKE_SLACK_URL/__health"; is "health" 200 "ok"

# ---------------------------------------------------------------- slack
S="$FAKE_SLACK_URL/services/T000/B000/XXXX"
req "${J[@]}" -d '{"text":"hi"}' "$S"; is "slack ok" 200 "ok"
[[ "$HDRS" == *"text/plain"* ]] && pass || fail "slack ok content-type"
req "${J[@]}" -d 'not json' "$S"; is "slack not json" 400 "invalid_payload"
req "${J[@]}" -d '{"blocks":[]}' "$S"; is "slack no text" 400 "invalid_payload"
ctl slack /__control/mode '{"mode":"down"}'
req "${J[@]}" -d '{"text":"hi"}' "$S"; is "slack down" 500 "rollup_error"
ctl slack /__control/mode '{"mode":"ratelimit","retry_after":7}'
req "${J[@]}" -d '{"text":"hi"}' "$S"; has "slack ratelimit" 429 ""
[[ "$HDRS" == *$'Retry-After: 7\r'* ]] && pass || fail "slack Retry-After header: $HDRS"
ctl slack /__control/mode '{"mode":"archived"}'
req "${J[@]}" -d '{"text":"hi"}' "$S"; is "slack archived" 410 "channel_is_archived"
ctl slack /__control/mode '{"mode":"no_service"}'
req "${J[@]}" -d '{"text":"hi"}' "$S"; is "slack no_service" 404 "no_service"
ctl slack /__control/mode '{"mode":"hang"}'
req --max-time 1 "${J[@]}" -d '{"text":"hi"}' "$S"; rc "slack hang" 28
ctl slack /__control/mode '{"mode":"ok"}'
ctl slack /__control/script '{"responses":[{"status":503,"body":"busy"},{"garbage":true},{"huge_mb":2},{"close_mid_body":true,"body":"ok"},{"delay_ms":500,"body":"slow"}]}'
req "${J[@]}" -d '{"text":"1"}' "$S"; is "slack script status" 503 "busy"
req "${J[@]}" -d '{"text":"2"}' "$S"; is "slack script garbage" 200 "<html>oops"
req "${J[@]}" -d '{"text":"3"}' "$S"; eq "slack script huge size" "$CODE $SIZE" "200 2097152"
req "${J[@]}" -d '{"text":"4"}' "$S"; rc "slack script close_mid_body" 18
req "${J[@]}" -d '{"text":"5"}' "$S"; is "slack script delay" 200 "slow"
awk "BEGIN{exit !($TIME >= 0.45)}" && pass || fail "slack delay_ms took $TIME"
req "${J[@]}" -d '{"text":"6"}' "$S"; is "slack script consumed" 200 "ok"
eq "slack log counts failed posts" "$(fake_count slack POST /services/)" 14
eq "slack count by path only" "$(fake_count slack /services/T000)" 14
fake_wait_count slack /services 14 2 && pass || fail "fake_wait_count"
eq "__requests" "$(fake_requests slack | "$FAKE_PYTHON" -c 'import json,sys; r=json.load(sys.stdin); print(len(r), r[0]["json"], r[0]["headers"]["content-type"])')" \
  "14 {'text': 'hi'} application/json"
out="$(curl -sv -o /dev/null -o /dev/null "${J[@]}" -d '{"text":"a"}' "$S" "$S" 2>&1)"
[[ "$out" == *"Re-using existing connection"* ]] && pass || fail "slack keep-alive"
ctl slack /__control/reset
eq "slack reset clears log" "$(fake_count slack)" 0
ctl slack /__control/script '{"responses":[{"status":200,"body_b64":"eyJhIjoiY2Fm6SJ9"}]}'
req "${J[@]}" -d '{"text":"b"}' "$S"
eq "slack script body_b64: the exact bytes, not UTF-8" "$CODE $(od -An -tx1 "$FAKE_DIR/body" | tr -d ' \n') $(grep -i '^content-type' "$FAKE_DIR/hdrs" | tr -d '\r')" \
  "200 7b2261223a22636166e9227d Content-Type: application/json; charset=utf-8"
ctl slack /__control/reset

# ---------------------------------------------------------------- evolution
E="$FAKE_EVOLUTION_URL"; K=(-H "apikey: $FAKE_EVOLUTION_APIKEY")
ctl evolution /__control/instances/generate '{"count":10,"prefix":"chip","open_ratio":0.9}'
req "$E/instance/fetchInstances"; is "evo fetch no key" 401 '{"status":401,"error":"Unauthorized","response":{"message":"Unauthorized"}}'
req "${K[@]}" "$E/instance/fetchInstances"
eq "evo fetch all" "$("$FAKE_PYTHON" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(len(r), sorted(r[0])[:3], r[9]["connectionStatus"])' "$FAKE_DIR/body")" \
  "10 ['Chatwoot', 'Nats', 'Proxy'] close"
req "${K[@]}" "$E/instance/fetchInstances?instanceName=zzz"
is "evo fetch unknown" 404 '{"status":404,"error":"Not Found","response":{"message":["Instance \"zzz\" not found"]}}'
TOK2="$(curl -s "${K[@]}" "$E/instance/fetchInstances?instanceName=chip02" | "$FAKE_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[0]["token"])')"
req -H "apikey: $TOK2" "$E/instance/fetchInstances"; has "evo fetch by instance token" 200 '"name":"chip02"'
eq "evo fetch by token: one row" "$("$FAKE_PYTHON" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$FAKE_DIR/body")" 1
req -H "apikey: $TOK2" "$E/instance/fetchInstances?instanceName=chip03"; is "evo fetch token other" 401 '{"status":401,"error":"Unauthorized","response":{"message":"Unauthorized"}}'
req "${K[@]}" "$E/instance/connectionState/chip01"; is "evo state open" 200 '{"instance":{"instanceName":"chip01","state":"open"}}'
req "${K[@]}" "$E/instance/connectionState/chip10"; is "evo state close" 200 '{"instance":{"instanceName":"chip10","state":"close"}}'
req "$E/instance/connectionState/nope"; is "evo state unknown (no key)" 404 '{"status":404,"error":"Not Found","response":{"message":["The \"nope\" instance does not exist"]}}'
req "${K[@]}" "${J[@]}" -d '{"instanceName":"new1","integration":"WHATSAPP-BAILEYS","qrcode":true}' "$E/instance/create"
has "evo create" 201 '"status":"connecting"},"hash":"'
req "${J[@]}" -d '{"instanceName":"new1"}' "$E/instance/create"; is "evo create dup" 403 '{"status":403,"error":"Forbidden","response":{"message":["This name \"new1\" is already in use."]}}'
req "${J[@]}" -d '{"instanceName":"new2"}' "$E/instance/create"; eq "evo create no key" "$CODE" 401
ST="$E/message/sendText"
req "${K[@]}" "${J[@]}" -d '{"number":"5531991234567","text":"Olá"}' "$ST/chip01"
has "evo send ok" 201 '"key":{"remoteJid":"553191234567@s.whatsapp.net","fromMe":true,"id":"3EB0'
ID1="$("$FAKE_PYTHON" -c 'import json,sys; b=json.load(open(sys.argv[1])); assert b["status"]=="PENDING" and isinstance(b["messageTimestamp"],int) and b["message"]=={"conversation":"Olá"}; print(b["key"]["id"])' "$FAKE_DIR/body")" && pass || fail "evo send body shape"
req "${K[@]}" "${J[@]}" -d '{"number":"5511987654321","text":"x"}' "$ST/chip01"; has "evo send sp no quirk" 201 '"remoteJid":"5511987654321@s.whatsapp.net"'
ID2="$("$FAKE_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"]["id"])' "$FAKE_DIR/body")"
[[ -n "$ID1" && "$ID1" != "$ID2" ]] && pass || fail "evo ids unique ($ID1 $ID2)"
req "${J[@]}" -d '{"number":"1","text":"x"}' "$ST/nope"; is "evo send unknown no key" 404 '{"status":404,"error":"Not Found","response":{"message":["The \"nope\" instance does not exist"]}}'
req "${J[@]}" -d '{"number":"1","text":"x"}' "$ST/chip01"; eq "evo send no key" "$CODE" 401
req -H "apikey: wrong" "${J[@]}" -d '{"number":"1","text":"x"}' "$ST/chip01"; eq "evo send wrong key" "$CODE" 401
req -H "apikey: $TOK2" "${J[@]}" -d '{"number":"1","text":"x"}' "$ST/chip03"; eq "evo token other instance" "$CODE" 401
req -H "apikey: $TOK2" "${J[@]}" -d '{"number":"1","text":"x"}' "$ST/chip02"; eq "evo token own instance" "$CODE" 201
req "${K[@]}" "${J[@]}" -d '{"number":"5511999999999","textMessage":{"text":"v1"}}' "$ST/chip01"
is "evo v1 body" 400 '{"status":400,"error":"Bad Request","response":{"message":[["instance requires property \"text\""]]}}'
req "${K[@]}" "${J[@]}" -d '{"number":"5511999999999","text":"  "}' "$ST/chip01"
is "evo blank text" 400 '{"status":400,"error":"Bad Request","response":{"message":["Text is required"]}}'
req "${K[@]}" "${J[@]}" -d '{"number":5511999999999,"text":"x"}' "$ST/chip01"
is "evo number not string" 400 '{"status":400,"error":"Bad Request","response":{"message":[["Invalid format"]]}}'
req "${K[@]}" "${J[@]}" -d '{"number":"5511999999999","text":"x"}' "$ST/chip10"
is "evo closed instance" 500 '{"status":500,"error":"Internal Server Error","response":{"message":"Connection Closed"}}'
req "${K[@]}" -X POST "$E/foo/bar"; is "evo unknown route" 404 '{"status":404,"error":"Not Found","response":{"message":["Cannot POST /foo/bar"]}}'

declare -A EVO=(
  [not_on_whatsapp]='400 {"status":400,"error":"Bad Request","response":{"message":[{"jid":"5511999999999@s.whatsapp.net","exists":false,"number":"5511999999999"}]}}'
  [rate_overlimit_400]='400 {"status":400,"error":"Bad Request","response":{"message":["Error: rate-overlimit"]}}'
  [rate_overlimit_500]='500 {"status":500,"error":"Internal Server Error","response":{"message":["Error: rate-overlimit"]}}'
  [connection_closed]='500 {"status":500,"error":"Internal Server Error","response":{"message":"Connection Closed"}}'
  [connection_closed_array]='500 {"status":500,"error":"Internal Server Error","response":{"message":["Error: Connection Closed"]}}'
  [baileys_error]='400 {"status":400,"error":"Bad Request","response":{"message":["Error: Timed Out"]}}'
  [client_not_started]="500 {\"status\":500,\"error\":\"Internal Server Error\",\"response\":{\"message\":\"Cannot read properties of undefined (reading 'textMessage')\"}}"
  [restricted]='403 {"status":403,"error":"Forbidden","response":{"message":["Error: forbidden"]}}'
  [forbidden]='403 {"status":403,"error":"Forbidden","response":{"message":["Missing global api key","The global api key must be set"]}}'
  [unauthorized]='401 {"status":401,"error":"Unauthorized","response":{"message":"Unauthorized"}}'
  [server_error]='500 {"status":500,"error":"Internal Server Error","response":{"message":"Internal Server Error"}}'
  [garbage]='201 <html>oops'
)
SEND=(-d '{"number":"5511999999999","text":"x"}')
for m in "${!EVO[@]}"; do
  ctl evolution /__control/send "{\"instance\":\"chip01\",\"mode\":\"$m\",\"count\":1}"
  req "${K[@]}" "${J[@]}" "${SEND[@]}" "$ST/chip01"; is "evo mode $m" "${EVO[$m]%% *}" "${EVO[$m]#* }"
done
req "${K[@]}" "${J[@]}" "${SEND[@]}" "$ST/chip01"; eq "evo count=1 mode back to ok" "$CODE" 201
ctl evolution /__control/send '{"instance":"chip01","mode":"hang","count":1}'
req --max-time 1 "${K[@]}" "${J[@]}" "${SEND[@]}" "$ST/chip01"; rc "evo mode hang" 28
ctl evolution /__control/send '{"instance":"chip01","mode":"huge","huge_mb":3,"count":1}'
req "${K[@]}" "${J[@]}" "${SEND[@]}" "$ST/chip01"; eq "evo mode huge" "$CODE $SIZE" "201 3145728"
ctl evolution /__control/send '{"instance":"chip01","mode":"close_mid_body","count":1}'
req "${K[@]}" "${J[@]}" "${SEND[@]}" "$ST/chip01"; rc "evo mode close_mid_body" 18
ctl evolution /__control/send '{"instance":"*","mode":"rate_overlimit_400","count":2}'
req "${K[@]}" "${J[@]}" "${SEND[@]}" "$ST/chip02"; eq "evo * mode 1" "$CODE" 400
req "${K[@]}" "${J[@]}" "${SEND[@]}" "$ST/chip03"; eq "evo * mode 2" "$CODE" 400
req "${K[@]}" "${J[@]}" "${SEND[@]}" "$ST/chip04"; eq "evo * mode spent" "$CODE" 201
ctl evolution /__control/send '{"instance":"chip01","mode":"ok","delay_ms":500,"count":1}'
req "${K[@]}" "${J[@]}" "${SEND[@]}" "$ST/chip01"; eq "evo slow ok" "$CODE" 201
awk "BEGIN{exit !($TIME >= 0.45)}" && pass || fail "evo delay_ms took $TIME"
ctl evolution /__control/script '{"responses":[{"mode":"connection_closed_array","instance":"chip03"}]}'
req "${K[@]}" "${J[@]}" "${SEND[@]}" "$ST/chip01"; eq "evo script for other instance skipped" "$CODE" 201
req "${K[@]}" "${J[@]}" "${SEND[@]}" "$ST/chip03"; has "evo script instance" 500 '["Error: Connection Closed"]'
for m in unauthorized server_error garbage; do
  ctl evolution /__control/fetch "{\"mode\":\"$m\"}"
  req "${K[@]}" "$E/instance/fetchInstances"; case $m in
    unauthorized) eq "evo fetch $m" "$CODE" 401 ;; server_error) eq "evo fetch $m" "$CODE" 500 ;;
    garbage) is "evo fetch $m" 200 "<html>oops" ;; esac
done
ctl evolution /__control/fetch '{"mode":"huge","huge_mb":1}'
req "${K[@]}" "$E/instance/fetchInstances"; eq "evo fetch huge" "$CODE $SIZE" "200 1048576"
ctl evolution /__control/fetch '{"mode":"hang"}'
req --max-time 1 "${K[@]}" "$E/instance/fetchInstances"; rc "evo fetch hang" 28
ctl evolution /__control/fetch '{"mode":"ok"}'
n="$(fake_count evolution POST /message/sendText/)"
[[ "$n" -ge 30 ]] && pass || fail "evo sendText logged ($n)"
# benchmark shape: 1,000 instances, 400 concurrent sends
ctl evolution /__control/reset
ctl evolution /__control/instances/generate '{"count":1000,"prefix":"chip","open_ratio":0.9}'
seq -f 'chip%04g' 1 400 | xargs -P 64 -I{} curl -s -o /dev/null -w '%{http_code}\n' "${K[@]}" "${J[@]}" "${SEND[@]}" "$ST/{}" \
  | sort | uniq -c | tr -s ' ' >"$FAKE_DIR/bench"
eq "evo 400 concurrent sends" "$(tr '\n' ' ' <"$FAKE_DIR/bench")" " 360 201  40 500 "
eq "evo concurrent sends logged" "$(fake_count evolution POST /message/sendText)" 400

# ---------------------------------------------------------------- evolution: findMessages (§11)
pj() { "$FAKE_PYTHON" -c "import json,sys; b=json.load(open(sys.argv[1])); m=b.get('messages',{}) if isinstance(b,dict) else {}; r=m.get('records',[]); print($1)" "$FAKE_DIR/body"; }
F="$E/chat/findMessages"
ctl evolution /__control/reset
ctl evolution /__control/instances/generate '{"count":3}'
req "${K[@]}" "${J[@]}" -d '{"number":"5531991234567","text":"Olá!"}' "$ST/chip01"; eq "find: a send to keep" "$CODE" 201
SID="$("$FAKE_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"]["id"])' "$FAKE_DIR/body")"
req "${K[@]}" "${J[@]}" -d '{"where":{"key":{"remoteJid":"553191234567@s.whatsapp.net","fromMe":true}}}' "$F/chip01"
eq "find: kept under the short JID" "$CODE $(pj 'm["total"], m["pages"], m["currentPage"], r[0]["key"]["id"], r[0]["key"]["fromMe"], r[0]["message"]["conversation"], r[0]["MessageUpdate"], type(r[0]["messageTimestamp"]).__name__')" \
  "200 1 1 1 $SID True Olá! [] int"
req "${K[@]}" "${J[@]}" -d '{"where":{"key":{"remoteJid":"5531991234567@s.whatsapp.net"}}}' "$F/chip01"
eq "find: not under the long JID" "$CODE $(pj 'm["total"]')" "200 0"
req "${K[@]}" "${J[@]}" -d "{\"where\":{\"key\":{\"id\":\"$SID\"}}}" "$F/chip01"; eq "find: by key.id" "$(pj 'm["total"]')" 1
req "${K[@]}" "${J[@]}" -d "{\"where\":{\"key\":{\"id\":\"$SID\"}}}" "$F/chip02"; eq "find: per instance" "$(pj 'm["total"]')" 0
NOW="$(date +%s)"
ctl evolution /__control/messages/seed "{\"instance\":\"chip01\",\"messages\":[
  {\"number\":\"5531991234567\",\"fromMe\":false,\"text\":\"oi doutor\",\"timestamp\":$((NOW - 5))},
  {\"number\":\"5531991234567\",\"fromMe\":true,\"text\":\"do celular\",\"extended\":true,\"timestamp\":$((NOW - 86400 * 22)),\"receipts\":[\"SERVER_ACK\",\"READ\"]},
  {\"raw\":{\"key\":{\"id\":\"ODD\",\"fromMe\":\"true\",\"remoteJid\":\"x\"},\"messageTimestamp\":\"1\"}}]}"
req "${K[@]}" "${J[@]}" -d '{"where":{"key":{"remoteJid":"553191234567@s.whatsapp.net","fromMe":false}}}' "$F/chip01"
eq "find: fromMe false filters nothing; newest first" "$(pj '[x["key"]["fromMe"] for x in r]')" "[True, False, True]"
req "${K[@]}" "${J[@]}" -d '{"where":{"key":{"remoteJid":"553191234567@s.whatsapp.net","fromMe":true}}}' "$F/chip01"
eq "find: fromMe true" "$(pj 'm["total"], r[1]["message"], r[1]["MessageUpdate"]')" \
  "2 {'extendedTextMessage': {'text': 'do celular'}} [{'status': 'SERVER_ACK'}, {'status': 'READ'}]"
req "${K[@]}" "${J[@]}" -d "{\"where\":{\"messageTimestamp\":{\"gte\":\"$(date -u -d @$((NOW - 60)) +%FT%TZ)\"}}}" "$F/chip01"
eq "find: gte alone filters nothing" "$(pj 'm["total"]')" 4
req "${K[@]}" "${J[@]}" -d "{\"where\":{\"messageTimestamp\":{\"gte\":\"$(date -u -d @$((NOW - 60)) +%FT%TZ)\",\"lte\":\"$(date -u -d @$((NOW + 60)) +%FT%T.000Z)\"}}}" "$F/chip01"
eq "find: gte and lte, whole seconds" "$(pj 'm["total"]')" 2
req "${K[@]}" "${J[@]}" -d "{\"where\":{\"messageTimestamp\":{\"gte\":\"$(date -u -d @$((NOW - 86400 * 30)) +%F)\",\"lte\":\"$(date -u -d @$((NOW - 86400 * 21)) +%FT%TZ)\"}}}" "$F/chip01"
eq "find: 22 days ago" "$(pj 'm["total"], r[0]["key"]["fromMe"]')" "1 True"
req "${K[@]}" "${J[@]}" -d '{"offset":3,"page":2}' "$F/chip01"
eq "find: offset is the page size, page from 1" "$(pj 'm["total"], m["pages"], m["currentPage"], len(r), r[0]["key"]["id"]')" "4 2 2 1 ODD"
req "${K[@]}" "${J[@]}" -d '{}' "$F/nope"; is "find: unknown instance" 404 '{"status":404,"error":"Not Found","response":{"message":["The \"nope\" instance does not exist"]}}'
req -H "apikey: wrong" "${J[@]}" -d '{}' "$F/chip01"; is "find: wrong key" 401 '{"status":401,"error":"Unauthorized","response":{"message":"Unauthorized"}}'
ctl evolution /__control/messages/receipt "{\"instance\":\"chip01\",\"id\":\"$SID\",\"status\":\"DELIVERY_ACK\"}"
req "${K[@]}" "${J[@]}" -d "{\"where\":{\"key\":{\"id\":\"$SID\"}}}" "$F/chip01"; eq "find: a receipt added" "$(pj 'r[0]["MessageUpdate"]')" "[{'status': 'DELIVERY_ACK'}]"
ctl evolution /__control/find '{"instance":"chip01","mode":"not_found","count":1}'
req "${K[@]}" "${J[@]}" -d '{}' "$F/chip01"; eq "find mode not_found" "$CODE" 404
req "${K[@]}" "${J[@]}" -d '{}' "$F/chip01"; eq "find mode spent" "$CODE" 200
ctl evolution /__control/find '{"instance":"chip01","mode":"server_error","count":1}'
req "${K[@]}" "${J[@]}" -d '{}' "$F/chip01"; eq "find mode server_error" "$CODE" 500
ctl evolution /__control/find '{"instance":"chip01","mode":"hang","count":1}'
req --max-time 1 "${K[@]}" "${J[@]}" -d '{}' "$F/chip01"; rc "find mode hang" 28
ctl evolution /__control/messages/saving '{"instance":"chip02","enabled":false}'
req "${K[@]}" "${J[@]}" -d '{"number":"5511988887777","text":"x"}' "$ST/chip02"; eq "saving off: sent" "$CODE" 201
req "${K[@]}" "${J[@]}" -d '{}' "$F/chip02"; eq "saving off: total 0" "$CODE $(pj 'm["total"], r')" "200 0 []"
ctl evolution /__control/messages/late '{"instance":"chip03","delay_ms":1500}'
req "${K[@]}" "${J[@]}" -d '{"number":"5511988887777","text":"late"}' "$ST/chip03"; eq "late: sent" "$CODE" 201
req "${K[@]}" "${J[@]}" -d '{}' "$F/chip03"; eq "late: not visible yet" "$(pj 'm["total"]')" 0
for _ in $(seq 50); do req "${K[@]}" "${J[@]}" -d '{}' "$F/chip03"; [[ "$(pj 'm["total"]')" == 1 ]] && break; sleep 0.1; done
eq "late: appears later with its older timestamp" "$(pj 'm["total"], r[0]["messageTimestamp"] < int(__import__("time").time()) ')" "1 True"
ctl evolution /__control/send '{"instance":"chip01","mode":"hang","count":1,"store":true}'
req --max-time 1 "${K[@]}" "${J[@]}" -d '{"number":"5511977776666","text":"lost answer"}' "$ST/chip01"; rc "store+hang: no answer" 28
req "${K[@]}" "${J[@]}" -d '{"where":{"key":{"remoteJid":"5511977776666@s.whatsapp.net"}}}' "$F/chip01"
eq "store+hang: yet it was sent" "$(pj 'm["total"], r[0]["message"]["conversation"]')" "1 lost answer"
# latency mode: every send held L ms; timings show overlap
ctl evolution /__control/reset
ctl evolution /__control/instances/generate '{"count":60}'
ctl evolution /__control/latency '{"ms":300}'
req "${K[@]}" "${J[@]}" "${SEND[@]}" "$ST/chip01"; eq "latency: answered" "$CODE" 201
awk "BEGIN{exit !($TIME >= 0.29)}" && pass || fail "latency 300 ms took $TIME"
seq -f 'chip%02g' 1 60 | xargs -P 60 -I{} curl -s -o /dev/null "${K[@]}" "${J[@]}" "${SEND[@]}" "$ST/{}"
printf 'chip01\nchip01\n' | xargs -P 2 -I{} curl -s -o /dev/null "${K[@]}" "${J[@]}" "${SEND[@]}" "$ST/{}"
req "$E/__sends/stats"
eq "latency: timings recorded" "$("$FAKE_PYTHON" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["count"], s["max_in_flight"] >= 20, s["overlapping_on_one_instance"] >= 1, s["max_on_one_instance"], s["in_flight"])' "$FAKE_DIR/body")" "63 True True 2 0"
req "$E/__sends"; eq "latency: per-send start and end" "$("$FAKE_PYTHON" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(all(x["end"] - x["start"] >= 0.29 and x["status"] == 201 and x["id"] for x in s))' "$FAKE_DIR/body")" True
req "$E/__messages?instance=chip01"; eq "__messages lists what was kept" "$("$FAKE_PYTHON" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$FAKE_DIR/body")" 4
ctl evolution /__control/sends/reset '{}'
req "$E/__sends/stats"; eq "sends/reset forgets the timings" "$("$FAKE_PYTHON" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["count"], s["max_in_flight"])' "$FAKE_DIR/body")" "0 0"
ctl evolution /__control/latency '{"ms":0}'

# ---------------------------------------------------------------- zapi
Z="$FAKE_ZAPI_URL"; CT=(-H "Client-Token: $FAKE_ZAPI_CLIENT_TOKEN")
ctl zapi /__control/instances '[{"id":"Z1","token":"T1","connected":true},{"id":"Z2","token":"T2","connected":false}]'
ZS=(-d '{"phone":"5511999999999","message":"oi"}')
req "${CT[@]}" "${J[@]}" "${ZS[@]}" "$Z/instances/Z1/token/T1/send-text"; has "zapi send ok" 200 '"zaapId":"'
"$FAKE_PYTHON" -c 'import json,sys; b=json.load(open(sys.argv[1])); assert b["id"]==b["messageId"] and b["zaapId"]' "$FAKE_DIR/body" && pass || fail "zapi body shape"
req "${J[@]}" "${ZS[@]}" "$Z/instances/Z1/token/T1/send-text"; is "zapi no client-token" 400 '{"error":"null not allowed"}'
req "${CT[@]}" "${J[@]}" "${ZS[@]}" "$Z/instances/Z1/token/T2/send-text"; is "zapi bad pair" 400 '{"error":"Instance not found"}'
req "${CT[@]}" "$Z/instances/Z1/token/T1/status"; is "zapi status on" 200 '{"connected":true,"error":"You are already connected.","smartphoneConnected":true}'
req "${CT[@]}" "$Z/instances/Z2/token/T2/status"; is "zapi status off" 200 '{"connected":false,"error":"You are not connected.","smartphoneConnected":false}'
ctl zapi /__control/send '{"instance":"Z1","mode":"subscription_expired","count":1}'
req "${CT[@]}" "${J[@]}" "${ZS[@]}" "$Z/instances/Z1/token/T1/send-text"
is "zapi subscription_expired" 400 '{"error":"To continue sending a message, you must subscribe to this instance again"}'
ctl zapi /__control/send '{"instance":"Z1","mode":"server_error","count":1}'
req "${CT[@]}" "${J[@]}" "${ZS[@]}" "$Z/instances/Z1/token/T1/send-text"; eq "zapi server_error" "$CODE" 500
ctl zapi /__control/send '{"instance":"Z1","mode":"garbage","count":1}'
req "${CT[@]}" "${J[@]}" "${ZS[@]}" "$Z/instances/Z1/token/T1/send-text"; is "zapi garbage" 200 "<html>oops"
ctl zapi /__control/send '{"instance":"Z1","mode":"huge","huge_mb":2,"count":1}'
req "${CT[@]}" "${J[@]}" "${ZS[@]}" "$Z/instances/Z1/token/T1/send-text"; eq "zapi huge" "$CODE $SIZE" "200 2097152"
ctl zapi /__control/send '{"instance":"Z1","mode":"close_mid_body","count":1}'
req "${CT[@]}" "${J[@]}" "${ZS[@]}" "$Z/instances/Z1/token/T1/send-text"; rc "zapi close_mid_body" 18
ctl zapi /__control/send '{"instance":"Z1","mode":"hang","count":1}'
req --max-time 1 "${CT[@]}" "${J[@]}" "${ZS[@]}" "$Z/instances/Z1/token/T1/send-text"; rc "zapi hang" 28
req "${CT[@]}" "${J[@]}" "${ZS[@]}" "$Z/instances/Z1/token/T1/send-text"; eq "zapi back to ok" "$CODE" 200
ctl zapi /__control/script '{"responses":[{"mode":"subscription_expired","instance":"Z2"}]}'
req "${CT[@]}" "${J[@]}" "${ZS[@]}" "$Z/instances/Z2/token/T2/send-text"; eq "zapi scripted mode" "$CODE" 400
eq "zapi sends logged" "$(fake_count zapi POST /send-text)" 11

# ---------------------------------------------------------------- salvy
A="$FAKE_SALVY_URL/api/v2/virtual-phone-accounts"; B=(-H "Authorization: Bearer $FAKE_SALVY_APIKEY")
req "$A"; has "salvy no auth" 401 '{"code":"unauthorized","message":'
req "${B[@]}" "$A/area-codes?available=true"; has "salvy area codes" 200 '{"areaCodes":[{"areaCode":11,"available":true}'
req "${B[@]}" "${J[@]}" -d '{"areaCode":11,"name":"chip-a"}' "$A"; has "salvy create" 200 '"status":"active"'
ACC="$("$FAKE_PYTHON" -c 'import json,sys,re; b=json.load(open(sys.argv[1])); assert re.fullmatch(r"\+55119\d{8}", b["phoneNumber"]), b; print(b["id"])' "$FAKE_DIR/body")" && pass || fail "salvy phone format"
req "${B[@]}" "${J[@]}" -d '{"areaCode":11,"name":"chip-b"}' "$A"; eq "salvy create 2" "$CODE" 200
req "${B[@]}" "${J[@]}" -d '{"areaCode":10}' "$A"; has "salvy bad area code" 400 '"code":"bad_request"'
req "${B[@]}" "$A"; eq "salvy list unique numbers" "$("$FAKE_PYTHON" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(len(r), len({a["phoneNumber"] for a in r}))' "$FAKE_DIR/body")" "2 2"
req -X DELETE "${B[@]}" "${J[@]}" -d '{"reason":"bored"}' "$A/$ACC"; has "salvy delete bad reason" 400 '"publicDetails":{}'
req -X DELETE "${B[@]}" "${J[@]}" -d '{"reason":"whatsapp-ban"}' "$A/$ACC"; has "salvy delete" 200 '"status":"canceled"'
req -X DELETE "${B[@]}" "${J[@]}" -d '{"reason":"unnecessary"}' "$A/nope"; eq "salvy delete unknown" "$CODE" 404
ctl salvy /__control/script '{"responses":[{"status":500,"body":{"code":"internal_error","message":"boom","publicDetails":{}}}]}'
req "${B[@]}" "$A"; is "salvy scripted" 500 '{"code":"internal_error","message":"boom","publicDetails":{}}'

# ---------------------------------------------------------------- shutdown
pid="$FAKE_SALVY_PID"; fake_stop salvy
kill -0 "$pid" 2>/dev/null && fail "salvy still running after fake_stop" || pass

echo "$PASS passed, $FAIL failed"
[[ "$FAIL" -eq 0 ]]
