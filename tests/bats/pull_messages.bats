#!/usr/bin/env bats
# pull-messages (issue 20): each chip's traffic read from Evolution's
# findMessages and applied by ingest's rules, against the fake Evolution.
load ../lib/common

setup() {
	common_setup
	fake_start evolution
	export EVOLUTION_API_URL="$FAKE_EVOLUTION_URL" EVOLUTION_API_KEY="$FAKE_EVOLUTION_APIKEY"
	add_secret "$FAKE_EVOLUTION_APIKEY"
}

# chip NAME [STATUS [DAYS_OLD [PROVIDER]]]: a chip, created (and warming
# since) DAYS_OLD days ago
chip() {
	psql_q "INSERT INTO chips (telefone, instance_name, status, provider, evolution_connected,
	                           created_at, warming_started_at)
	        VALUES ('5511' || lpad((abs(hashtext('$1')) % 100000000)::text, 9, '9'), '$1',
	                '${2:-active}', '${4:-evolution}', false,
	                now() - make_interval(days => ${3:-40}), now() - make_interval(days => ${3:-40}))"
}

# instances NAME...: the fake's instances (all open)
instances() {
	local js="" n
	for n in "$@"; do js="$js${js:+,}{\"name\":\"$n\",\"connectionStatus\":\"open\"}"; done
	fake_ctl evolution /__control/instances "[$js]" >/dev/null
}

# seed INSTANCE JSON: stored messages (evo_messages.py's seed specs)
seed() { fake_ctl evolution /__control/messages/seed "{\"instance\":\"$1\",\"messages\":$2}" >/dev/null; }

# ago SECONDS: a unix timestamp that long ago
ago() { echo $(($(date +%s) - $1)); }

# counts CHIP: everything the chip's traffic changes
counts() {
	psql_q "SELECT c.msgs_enviadas_total, c.msgs_recebidas_total, c.conversas_bidirecionais,
	          (SELECT count(*) FROM chip_interactions i WHERE i.chip_id = c.id AND i.direction = 'out'),
	          (SELECT count(*) FROM chip_interactions i WHERE i.chip_id = c.id AND i.direction = 'in'),
	          (SELECT count(*) FROM chip_interactions i WHERE i.chip_id = c.id AND i.obteve_resposta),
	          (SELECT count(*) FROM message_receipts r WHERE r.chip_id = c.id AND (r.delivered_at IS NOT NULL OR r.read_at IS NOT NULL)),
	          (SELECT count(*) FROM chip_conversas_bidirecionais b WHERE b.chip_id = c.id)
	        FROM chips c WHERE c.instance_name = '$1'"
}

cursor() { psql_q "SELECT coalesce(extract(epoch FROM p.read_to)::bigint::text, 'none') FROM chips c LEFT JOIN chip_pull_cursors p ON p.chip_id = c.id WHERE c.instance_name = '$1'"; }

# jval KEY: the key of the --json line in $output
jval() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$output" "$1"; }

# three messages sent from the phone (delivered) and two replies to them
small_history() {
	seed w1 "[{\"number\":\"5511911110001\",\"fromMe\":true,\"text\":\"a\",\"id\":\"O1\",\"timestamp\":$(ago 500),\"receipts\":[\"SERVER_ACK\",\"DELIVERY_ACK\"]},
	          {\"number\":\"5511911110002\",\"fromMe\":true,\"text\":\"b\",\"id\":\"O2\",\"timestamp\":$(ago 480),\"receipts\":[\"DELIVERY_ACK\"]},
	          {\"number\":\"5511911110003\",\"fromMe\":true,\"text\":\"c\",\"id\":\"O3\",\"timestamp\":$(ago 460),\"receipts\":[\"DELIVERY_ACK\"]},
	          {\"number\":\"5511911110001\",\"text\":\"oi\",\"id\":\"I1\",\"timestamp\":$(ago 300)},
	          {\"number\":\"5511911110002\",\"text\":\"ola\",\"id\":\"I2\",\"timestamp\":$(ago 280)}]"
}

@test "a chipctl-only install: a warming chip's 22 days pulled, it scores >= 85 and graduates" {
	chip w1 warming 22
	instances w1
	# 40 messages sent from the phone over 22 days to 20 numbers, all
	# delivered; 20 replies, an hour after the first message to each number
	seed w1 "$(python3 -c '
import json, time
now = int(time.time()); day = 86400; out = []
for i in range(40):
    ts = now - 22 * day + 3600 + i * (22 * day - 7200) // 40
    num = "55119777%05d" % (i % 20)
    out.append({"number": num, "fromMe": True, "text": "m%d" % i, "id": "W%d" % i,
                "timestamp": ts, "receipts": ["SERVER_ACK", "DELIVERY_ACK"]})
    if i >= 20:
        out.append({"number": num, "text": "r%d" % i, "id": "R%d" % i, "timestamp": ts + 3600})
print(json.dumps(out))')"
	run_chipctl 0 pull-messages --json
	[ "$(jval records)" = 60 ] && [ "$(jval outbound)" = 40 ] && [ "$(jval replies)" = 20 ]
	[ "$(jval receipts)" = 40 ] && [ "$(jval answered)" = 20 ] && [ "$(jval failures)" = 0 ]
	run_chipctl 0 trust-update
	run_chipctl 0 pool-check
	[ "$(psql_q "SELECT trust_score >= 85, status FROM chips WHERE instance_name = 'w1'")" = "t|ready" ]
	[ "$(psql_q "SELECT count(*) FROM chip_status_transitions t JOIN chips c ON c.id = t.chip_id
	             WHERE c.instance_name = 'w1' AND t.from_status = 'warming' AND t.to_status = 'ready'")" = 1 ]
	# nothing came from webhooks or the application
	[ "$(psql_q "SELECT count(*) FROM webhook_events")" = 0 ]
}

@test "pulled twice: every count unchanged; the second run finds only duplicates" {
	chip w1
	chip z1 active 40 zapi	# Z-API keeps no history: never asked
	instances w1
	small_history
	run_chipctl 0 pull-messages --json
	[ "$(jval chips)" = 1 ] && [ "$(jval outbound)" = 3 ] && [ "$(jval replies)" = 2 ]
	[ "$(jval answered)" = 2 ] && [ "$(jval receipts)" = 3 ] && [ "$(jval duplicates)" = 0 ]
	[ "$(counts w1)" = "3|2|2|3|2|2|3|2" ]
	run_chipctl 0 pull-messages --json
	[ "$(jval outbound)" = 0 ] && [ "$(jval replies)" = 0 ] && [ "$(jval receipts)" = 0 ]
	[ "$(jval duplicates)" = 5 ]
	[ "$(counts w1)" = "3|2|2|3|2|2|3|2" ]
	[ "$(fake_count evolution POST /chat/findMessages/w1)" -eq 2 ]
	[ "$(fake_count evolution POST /chat/findMessages/z1)" -eq 0 ]
}

@test "the same messages through ingest first, then pulled: counted once" {
	chip w1
	instances w1
	small_history
	{
		for m in "O1 5511911110001 true" "O2 5511911110002 true" "O3 5511911110003 true" \
			 "I1 5511911110001 false" "I2 5511911110002 false"; do
			set -- $m
			printf '{"event":"messages.upsert","instance":"w1","data":{"key":{"remoteJid":"%s@s.whatsapp.net","fromMe":%s,"id":"%s"},"messageType":"conversation","messageTimestamp":%s}}\n' "$2" "$3" "$1" "$(ago 60)"
		done
		for id in O1 O2 O3; do
			printf '{"event":"messages.update","instance":"w1","data":{"keyId":"%s","remoteJid":"5511911110001@s.whatsapp.net","fromMe":true,"status":"DELIVERY_ACK"}}\n' "$id"
		done
	} > "$BATS_TEST_TMPDIR/events"
	run_chipctl 0 ingest "$BATS_TEST_TMPDIR/events"
	[ "$(counts w1)" = "3|2|2|3|2|2|3|2" ]
	run_chipctl 0 pull-messages --json
	[ "$(jval outbound)" = 0 ] && [ "$(jval replies)" = 0 ] && [ "$(jval receipts)" = 0 ]
	[ "$(jval duplicates)" = 5 ]
	[ "$(counts w1)" = "3|2|2|3|2|2|3|2" ]
	# and the other way round: pulled first, then the webhooks
	run_chipctl 0 ingest "$BATS_TEST_TMPDIR/events"	# already applied by key
	[ "$(counts w1)" = "3|2|2|3|2|2|3|2" ]
}

@test "pulled history keeps its dates: 10 days ago is outside the 7-day window" {
	chip w1
	instances w1
	seed w1 "$(python3 -c '
import json, time
now = int(time.time()); out = []
for i in range(12):	# 10 days ago: sent, delivered, answered
    out.append({"number": "5511966600%03d" % i, "fromMe": True, "text": "old", "id": "OLD%d" % i,
                "timestamp": now - 10 * 86400 + i, "receipts": ["DELIVERY_ACK"]})
    out.append({"number": "5511966600%03d" % i, "text": "re", "id": "ROLD%d" % i,
                "timestamp": now - 10 * 86400 + 600 + i})
for i in range(11):	# yesterday: sent, never delivered nor answered
    out.append({"number": "5511955500%03d" % i, "fromMe": True, "text": "new", "id": "NEW%d" % i,
                "timestamp": now - 86400 + i, "receipts": ["SERVER_ACK"]})
print(json.dumps(out))')"
	run_chipctl 0 pull-messages --json
	[ "$(jval outbound)" = 23 ] && [ "$(jval replies)" = 12 ]
	run_chipctl 0 trust-update
	# the window sees only yesterday's 11: none delivered, none answered
	[ "$(psql_q "SELECT m.enviadas, m.respondidas, m.entregues, m.avaliadas
	             FROM chips c, chip_trust_metricas(ARRAY[c.id], 7) m WHERE c.instance_name = 'w1'")" = "11|0|0|11" ]
	[ "$(psql_q "SELECT taxa_resposta, taxa_delivery, msgs_enviadas_total FROM chips WHERE instance_name = 'w1'")" = "0.0000|0.0000|23" ]
	[ "$(psql_q "SELECT count(*) FROM chip_interactions WHERE created_at < now() - interval '9 days'")" = 24 ]
}

@test "a reply from a number the chip never wrote to does not raise taxa_resposta" {
	chip w1
	instances w1
	seed w1 "$(python3 -c '
import json, time
now = int(time.time()); out = []
for i in range(10):
    out.append({"number": "5511944400%03d" % i, "fromMe": True, "text": "x", "timestamp": now - 7200 + i})
for i in range(5):	# strangers: never written to
    out.append({"number": "5511933300%03d" % i, "text": "quem?", "timestamp": now - 3600 + i})
# one real answer, and a stranger writing first that the chip answers later
out.append({"number": "5511944400000", "text": "sim", "timestamp": now - 3000})
out.append({"number": "5511922200000", "text": "oi", "timestamp": now - 2000})
out.append({"number": "5511922200000", "fromMe": True, "text": "ola", "timestamp": now - 1000})
print(json.dumps(out))')"
	run_chipctl 0 pull-messages --json
	[ "$(jval replies)" = 7 ] && [ "$(jval answered)" = 1 ] && [ "$(jval outbound)" = 11 ]
	run_chipctl 0 trust-update
	[ "$(psql_q "SELECT taxa_resposta FROM chips WHERE instance_name = 'w1'")" = "0.0909" ]	# 1/11
}

@test "a record stored late, older than the cursor but within the overlap: applied, once" {
	chip w1
	instances w1
	small_history
	run_chipctl 0 pull-messages
	c1=$(cursor w1)
	[ "$c1" != none ]
	late=$((c1 - 120))	# stamped 2 minutes before the cursor, stored after the run
	seed w1 "[{\"number\":\"5511911110003\",\"text\":\"late\",\"id\":\"LATE1\",\"timestamp\":$late}]"
	run_chipctl 0 pull-messages --json
	[ "$(jval replies)" = 1 ] && [ "$(jval answered)" = 1 ] && [ "$(jval duplicates)" = 5 ]
	run_chipctl 0 pull-messages --json
	[ "$(jval replies)" = 0 ] && [ "$(jval duplicates)" = 6 ]
	[ "$(counts w1)" = "3|3|3|3|3|3|3|3" ]
	[ "$(psql_q "SELECT extract(epoch FROM created_at)::bigint FROM chip_interactions WHERE provider_message_id = 'LATE1'")" = "$late" ]
}

@test "one instance 404s and another times out: the rest applied, their cursors do not move" {
	conf 'evolution = { timeout_ms = 1000; };'
	for c in w1 w2 gone slow; do chip $c; done
	instances w1 w2 slow	# 'gone' is missing on the server: 404
	psql_q "INSERT INTO chip_pull_cursors (chip_id, read_to)
	        SELECT id, '2026-01-01 00:00+00' FROM chips WHERE instance_name IN ('gone', 'slow')"
	small_history
	seed w2 "[{\"number\":\"5511911110009\",\"text\":\"oi\",\"timestamp\":$(ago 60)}]"
	seed slow "[{\"number\":\"5511911110009\",\"text\":\"oi\",\"timestamp\":$(ago 60)}]"
	fake_ctl evolution /__control/find '{"instance":"slow","mode":"hang"}' >/dev/null
	run_chipctl 0 pull-messages --json
	[ "$(jval chips)" = 4 ] && [ "$(jval chips_read)" = 2 ] && [ "$(jval failures)" = 2 ]
	[ "$(jval replies)" = 3 ] && [ "$(jval outbound)" = 3 ]
	[[ "$stderr" == *"chip=gone"*"status=404"* ]]
	[[ "$stderr" == *"chip=slow"* ]]
	[ "$(cursor gone)" = 1767225600 ] && [ "$(cursor slow)" = 1767225600 ]
	[ "$(cursor w1)" != none ] && [ "$(cursor w2)" != none ]
	[ "$(counts slow)" = "0|0|0|0|0|0|0|0" ]
	[ "$(psql_q "SELECT status, counts->>'failures' FROM job_executions WHERE job_name = 'pull-messages'")" = "success|2" ]
	# every chip failing is the server's trouble: 75
	fake_ctl evolution /__control/find '{"instance":"*","mode":"server_error"}' >/dev/null
	run_chipctl 75 pull-messages
}

@test "a server that keeps nothing: health evolution WARNs, the run says it once, no error storm" {
	for c in w1 w2 w3; do chip $c; done
	instances w1 w2 w3
	fake_ctl evolution /__control/messages/saving '{"instance":"*","enabled":false}' >/dev/null
	# a message known sent through w1, 5 minutes ago
	psql_q "INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, status, chip_id,
	                                    provider_message_id, enviada_em, outcome)
	        SELECT 'dr1', '5511911110001', 'oi', 'enviada', id, '3EB0KNOWN', now() - interval '5 minutes', 'SENT'
	        FROM chips WHERE instance_name = 'w1'"
	run_chipctl 0 health evolution
	run_chipctl 0 pull-messages --json
	[ "$(jval keeps_messages)" = False ] && [ "$(jval failures)" = 0 ]
	[ "$(grep -c 'keeps no messages' <<< "$stderr")" = 1 ]
	[ "$(grep -c 'level=error' <<< "$stderr")" = 0 ]
	[ "$(fake_count evolution POST /chat/findMessages)" -eq 1 ]	# the probe alone
	[ "$(psql_q "SELECT keeps_messages FROM evolution_history")" = f ]
	run_chipctl 1 health evolution
	[[ "$output" == "WARNING - "*"pull and reconciliation are off"* ]]
	# saving on again: found by its id, pulled, OK
	fake_ctl evolution /__control/messages/saving '{"instance":"*","enabled":true}' >/dev/null
	seed w1 '[{"number":"5511911110001","fromMe":true,"text":"oi","id":"3EB0KNOWN"}]'
	run_chipctl 0 pull-messages --json
	[ "$(jval keeps_messages)" = True ] && [ "$(jval chips_read)" = 3 ]
	run_chipctl 0 health evolution
}

@test "--dry-run writes nothing; --chip reads one chip; an unknown chip is 65" {
	chip w1
	chip w2
	instances w1 w2
	small_history
	run_chipctl 0 pull-messages --dry-run --json
	[ "$(jval outbound)" = 3 ] && [ "$(jval replies)" = 2 ]
	[ "$(counts w1)" = "0|0|0|0|0|0|0|0" ] && [ "$(cursor w1)" = none ]
	run_chipctl 0 pull-messages --chip w2 --json
	[ "$(jval chips)" = 1 ] && [ "$(cursor w1)" = none ] && [ "$(cursor w2)" != none ]
	run_chipctl 65 pull-messages --chip nosuch
	run_chipctl 64 pull-messages extra
}

@test "more pages than pull.max_pages: the oldest read first, the next run goes on from there" {
	conf 'pull = { page_size = 2; max_pages = 3; overlap_s = 0; };'
	chip w1
	instances w1
	seed w1 "$(python3 -c '
import json, time
now = int(time.time())
print(json.dumps([{"number": "55119222000%02d" % i, "text": "m%d" % i, "id": "P%d" % i,
                   "timestamp": now - 700 + 100 * i} for i in range(7)]))')"
	# 7 records, 4 pages: page 1 (the newest two), then pages 4 and 3
	run_chipctl 0 pull-messages --json
	[ "$(jval pages)" = 3 ] && [ "$(jval replies)" = 5 ] && [ "$(jval chips_read)" = 0 ]
	[ "$(cursor w1)" = "$(psql_q "SELECT extract(epoch FROM created_at)::bigint - 1 FROM chip_interactions WHERE provider_message_id = 'P2'")" ]
	# from just before P2: five records, three pages, read to the end
	run_chipctl 0 pull-messages --json
	[ "$(jval pages)" = 3 ] && [ "$(jval replies)" = 2 ] && [ "$(jval duplicates)" = 3 ]
	[ "$(jval chips_read)" = 1 ]
	[ "$(psql_q "SELECT count(*), count(DISTINCT provider_message_id) FROM chip_interactions")" = "7|7" ]
}
