#!/usr/bin/env bats
# trust-update (T07.1, T08.3, T08.4): metrics, score, levels, permissions,
# history, alerts. The formula is in chipctl-trust-update(1).
load ../lib/common

# chip NAME STATUS [AGE_DAYS]: insert a chip whose last error was just now
# (so "days without error" adds nothing unless a test says so); print its id
chip() {
	psql_q "INSERT INTO chips (telefone, instance_name, status, created_at, ultimo_erro_em)
	        VALUES ('55119' || lpad((abs(hashtext('$1')) % 100000000)::text, 8, '0'),
	                '$1', '$2', now() - interval '${3:-0} days', now())
	        RETURNING id"
}

# sent ID N [ANSWERED]: N messages sent by the chip 2 hours ago
sent() {
	psql_q "INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction,
	          provider_message_id, obteve_resposta, created_at)
	        SELECT '$1', 'dr' || g, '5511977' || lpad(g::text, 6, '0'), 'out',
	               '$1-' || g, g <= ${3:-0}, now() - interval '2 hours'
	        FROM generate_series(1, $2) g"
}

# attempts ID N RESULT HTTP_STATUS [AGE]: N send attempts of the chip; a
# failure other than a timeout is the chip's fault (send_attempts.fault)
attempts() {
	psql_q "INSERT INTO send_attempts (message_id, chip_id, attempt, result, http_status, created_at, fault)
	        SELECT g, '$1', 1, '$3', NULLIF('$4', '')::int, now() - interval '${5:-1 hour}',
	               CASE WHEN '$3' IN ('ok', 'timeout') THEN NULL ELSE 'chip' END
	        FROM generate_series(1, $2) g"
}

# only 'key = v; ...': every factor weighs 0 except those given
only() {
	local k s=""
	for k in weight_age weight_delivery weight_response weight_bidirectional weight_media \
		weight_errors error_penalty weight_clean_days weight_block \
		phase_warming phase_ready phase_active phase_degraded; do
		[[ "$1" == *"$k ="* ]] || s+="$k = 0; "
	done
	conf "trust: { $s $1 };"
}

score() { psql_q "SELECT trust_score FROM chips WHERE instance_name = '$1'"; }

@test "a chip with no data gets neutral rates: base, age, clean days and phase only" {
	id=$(chip fresh active 40)
	psql_q "UPDATE chips SET ultimo_erro_em = NULL WHERE id = '$id'"
	run_chipctl 0 trust-update --json
	[ "$output" = '{"dry_run":false,"chips":1,"updated":1,"failed":0,"level_changes":1,"alerts":0,"levels":{"verde":0,"amarelo":1,"laranja":0,"vermelho":0,"critico":0}}' ]
	# 50 + age 10 + 40 days without error 5 + active 5
	[ "$(psql_q "SELECT trust_score, trust_level, taxa_delivery IS NULL, taxa_resposta IS NULL,
	              taxa_block IS NULL, dias_sem_erro FROM chips")" = "70.00|amarelo|t|t|t|40" ]
}

@test "age: weight x age / 30 days, capped" {
	only 'weight_age = 10;'
	chip a0 ready 0 >/dev/null
	chip a15 ready 15 >/dev/null
	chip a90 ready 90 >/dev/null
	run_chipctl 0 trust-update
	[ "$(score a0)" = 50.00 ]
	[ "$(score a15)" = 55.00 ]
	[ "$(score a90)" = 60.00 ]
}

@test "delivery: +15 at 100 %, 0 at 90 %, -15 at 80 % or less, neutral under 10 sends" {
	only 'weight_delivery = 15;'
	a=$(chip d100 active); sent "$a" 20
	b=$(chip d90 active); sent "$b" 18; attempts "$b" 2 5xx 500
	c=$(chip d50 active); sent "$c" 10; attempts "$c" 10 network ''
	d=$(chip dfew active); sent "$d" 5; attempts "$d" 4 4xx 400
	e=$(chip dtimeout active); sent "$e" 20; attempts "$e" 20 timeout ''
	run_chipctl 0 trust-update
	[ "$(score d100)" = 65.00 ]
	[ "$(score d90)" = 50.00 ]
	[ "$(score d50)" = 35.00 ]
	[ "$(score dfew)" = 50.00 ]
	[ "$(score dtimeout)" = 65.00 ]
	[ "$(psql_q "SELECT taxa_delivery FROM chips WHERE instance_name = 'd90'")" = 0.9000 ]
}

@test "delivery with receipts: acknowledged over 1 h ago and never delivered is undelivered" {
	only 'weight_delivery = 15;'
	a=$(chip r active); sent "$a" 20
	psql_q "INSERT INTO message_receipts (provider_message_id, chip_id, last_status, delivered_at)
	        SELECT '$a-' || g, '$a', 'DELIVERY_ACK', now() FROM generate_series(1, 19) g;
	        INSERT INTO message_receipts (provider_message_id, chip_id, last_status, server_ack_at, updated_at)
	        VALUES ('$a-20', '$a', 'SERVER_ACK', now() - interval '90 minutes', now() - interval '90 minutes')"
	run_chipctl 0 trust-update
	[ "$(psql_q "SELECT taxa_delivery FROM chips")" = 0.9500 ]
	[ "$(score r)" = 57.50 ]
}

@test "response: +10 at 30 %, 0 at 15 %, -10 at none, neutral under 10 sent" {
	only 'weight_response = 10;'
	a=$(chip r30 active); sent "$a" 20 6
	b=$(chip r15 active); sent "$b" 20 3
	c=$(chip r0 active); sent "$c" 20 0
	d=$(chip rfew active); sent "$d" 9 0
	run_chipctl 0 trust-update
	[ "$(score r30)" = 60.00 ]
	[ "$(score r15)" = 50.00 ]
	[ "$(score r0)" = 40.00 ]
	[ "$(score rfew)" = 50.00 ]
	[ "$(psql_q "SELECT taxa_resposta FROM chips WHERE instance_name = 'r30'")" = 0.3000 ]
}

@test "bidirectional conversations: weight x conversations / 20, capped; found from interactions" {
	only 'weight_bidirectional = 10;'
	a=$(chip b active)
	# the doctor wrote first, the chip replied: no function saw the pair yet
	psql_q "INSERT INTO chip_interactions (chip_id, telefone, direction, created_at)
	        SELECT '$a', '55119660' || lpad(g::text, 5, '0'), d, now() - interval '1 hour' * (d = 'in')::int
	        FROM generate_series(1, 10) g, unnest(ARRAY['in', 'out']) d"
	run_chipctl 0 trust-update
	[ "$(psql_q "SELECT conversas_bidirecionais, trust_score FROM chips")" = "10|55.00" ]
}

@test "media diversity: weight x types / 3, capped" {
	only 'weight_media = 5;'
	a=$(chip m active)
	psql_q "INSERT INTO chip_interactions (chip_id, telefone, direction, media_type)
	        VALUES ('$a', '5511966000001', 'in', 'image'), ('$a', '5511966000001', 'in', 'audio'),
	               ('$a', '5511966000001', 'out', NULL)"
	b=$(chip m1 active)
	psql_q "INSERT INTO chip_interactions (chip_id, telefone, direction) VALUES ('$b', '5511966000001', 'out')"
	run_chipctl 0 trust-update
	[ "$(psql_q "SELECT diversidade_midia, trust_score FROM chips WHERE instance_name = 'm'")" = "3|55.00" ]
	[ "$(score m1)" = 51.67 ]
}

@test "errors: -3 each in the last 24 h up to -15; none: +5 at 7 days without error" {
	only 'weight_errors = 15; error_penalty = 3; weight_clean_days = 5;'
	a=$(chip e2 active); attempts "$a" 2 5xx 500
	b=$(chip e10 active); attempts "$b" 10 network ''
	c=$(chip eold active 5); attempts "$c" 4 5xx 500 '30 hours'
	psql_q "UPDATE chips SET ultimo_erro_em = NULL WHERE id = '$c'"
	d=$(chip clean active 30); psql_q "UPDATE chips SET ultimo_erro_em = now() - interval '10 days' WHERE id = '$d'"
	e=$(chip rpc active); psql_q "SELECT chip_registrar_envio_erro('$e', 500, 'x')" >/dev/null
	psql_q "UPDATE chips SET erros_ultimas_24h = 7 WHERE instance_name = 'clean'"
	run_chipctl 0 trust-update
	[ "$(psql_q "SELECT erros_ultimas_24h, trust_score FROM chips WHERE instance_name = 'e2'")" = "2|44.00" ]
	[ "$(score e10)" = 35.00 ]
	[ "$(psql_q "SELECT erros_ultimas_24h, dias_sem_erro, trust_score FROM chips WHERE instance_name = 'eold'")" = "0|1|50.71" ]
	# a stale counter is replaced by the real events (T08.4)
	[ "$(psql_q "SELECT erros_ultimas_24h, dias_sem_erro, trust_score FROM chips WHERE instance_name = 'clean'")" = "0|10|55.00" ]
	# an error reported through chip_registrar_envio_erro counts too
	[ "$(score rpc)" = 47.00 ]
}

@test "block rate: -20 at 2 %, -10 at 1 %; a block with no sends is the full penalty" {
	only 'weight_block = 20;'
	a=$(chip k1 active); sent "$a" 99; attempts "$a" 1 4xx 403
	b=$(chip k2 active); sent "$b" 49; attempts "$b" 1 4xx 403
	c=$(chip kban active); psql_q "INSERT INTO chip_trust_events (chip_id, kind) VALUES ('$c', 'ban')"
	d=$(chip k0 active); sent "$d" 50
	run_chipctl 0 trust-update
	[ "$(psql_q "SELECT taxa_block, trust_score FROM chips WHERE instance_name = 'k1'")" = "0.0100|40.00" ]
	[ "$(score k2)" = 30.00 ]
	[ "$(score kban)" = 30.00 ]
	[ "$(score k0)" = 50.00 ]
}

@test "lifecycle phase: warming 0, ready +5, active +5, degraded -10; other statuses untouched" {
	only 'phase_warming = 0; phase_ready = 5; phase_active = 5; phase_degraded = -10;'
	for s in warming ready active degraded provisioned pending banned; do chip "p$s" $s >/dev/null; done
	run_chipctl 0 trust-update
	[ "$(psql_q "SELECT string_agg(instance_name || '=' || trust_score || coalesce('/' || trust_updated_at::date, ''), ' ' ORDER BY instance_name)
	             FROM chips")" = "pactive=55.00/$(date -u +%F) pbanned=50.00 pdegraded=40.00/$(date -u +%F) ppending=50.00 pprovisioned=50.00 pready=55.00/$(date -u +%F) pwarming=50.00/$(date -u +%F)" ]
}

@test "levels and permissions at every boundary, and the clamp to 0..100" {
	chip x ready >/dev/null
	for c in "80 verde t t t" "79 amarelo f t t" "60 amarelo f t t" "59 laranja f f t" \
		"40 laranja f f t" "39 vermelho f f f" "20 vermelho f f f" "19 critico f f f" \
		"0 critico f f f"; do
		set -- $c
		: > "$CONF"
		only "base = $1;"
		run_chipctl 0 trust-update
		[ "$(psql_q "SELECT trust_score::int, trust_level, pode_prospectar, pode_followup, pode_responder FROM chips")" = "$1|$2|$3|$4|$5" ]
	done
	: > "$CONF"; only 'base = 100; phase_ready = 30;'
	run_chipctl 0 trust-update
	[ "$(psql_q "SELECT trust_score, trust_factors->>'raw' FROM chips")" = "100.00|130.00" ]
	: > "$CONF"; only 'base = 0; phase_ready = -30;'
	run_chipctl 0 trust-update
	[ "$(psql_q "SELECT trust_score, trust_factors->>'raw' FROM chips")" = "0.00|-30.00" ]
}

@test "a history row per chip and run, with the run id" {
	chip h1 active >/dev/null
	chip h2 warming >/dev/null
	run_chipctl 0 trust-update
	run_chipctl 0 trust-update
	[ "$(psql_q "SELECT count(*), count(DISTINCT run_id) FROM chip_trust_history")" = "4|2" ]
	[ "$(psql_q "SELECT count(*) FROM chip_trust_history h JOIN job_executions j USING (run_id)
	             WHERE j.job_name = 'trust-update' AND h.motivo = 'trust-update'")" = 4 ]
	[ "$(psql_q "SELECT count(*) FROM chip_trust_history WHERE previous_score IS NOT NULL AND cardinality(points) = 8")" = 4 ]
	# the points of the last run add up to the stored score
	[ "$(psql_q "SELECT count(*) FROM chips c JOIN LATERAL (SELECT points FROM chip_trust_history h
	              WHERE h.chip_id = c.id ORDER BY id DESC LIMIT 1) h ON true
	             WHERE c.trust_score = least(100, greatest(0, 50 + (SELECT sum(p) FROM unnest(h.points) p)))")" = 2 ]
}

@test "a chip falling to vermelho or critico raises trust_low; climbing back resolves it" {
	chip fall active >/dev/null
	psql_q "UPDATE chips SET trust_score = 85, trust_level = 'verde'"
	only 'base = 30;'
	run_chipctl 0 trust-update --json
	[[ "$output" == *'"alerts":1'* ]]
	[ "$(psql_q "SELECT alert_type, subject, severity, resolved FROM alert_outbox")" = "trust_low|fall|critical|f" ]
	[[ "$(psql_q "SELECT text FROM alert_outbox")" == "chip fall fell to trust level vermelho (score 30.00, was verde at 85.00)"* ]]
	# no change of level: no new alert
	run_chipctl 0 trust-update
	[ "$(psql_q "SELECT count(*) FROM alert_outbox")" = 1 ]
	: > "$CONF"; only 'base = 70;'
	run_chipctl 0 trust-update
	[ "$(psql_q "SELECT alert_type, resolved FROM alert_outbox ORDER BY id DESC LIMIT 1")" = "trust_low|t" ]
}

@test "more than half of the chips failing to update raises an alert; the others are updated" {
	for n in good1 good2 bad1 bad2 bad3; do chip $n active 40 >/dev/null; done
	psql_q "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
	        \$\$BEGIN IF NEW.instance_name LIKE 'bad%' AND NEW.trust_updated_at IS NOT NULL
	          THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END\$\$;
	        CREATE TRIGGER refuse BEFORE UPDATE ON chips FOR EACH ROW EXECUTE FUNCTION refuse()"
	run_chipctl 70 trust-update --json
	[[ "$output" == *'"chips":5,"updated":2,"failed":3'* ]]
	[ "$(psql_q "SELECT count(*) FROM chips WHERE trust_updated_at IS NOT NULL")" = 2 ]
	[ "$(psql_q "SELECT alert_type, severity, text FROM alert_outbox")" = "trust_update_failed|critical|trust-update could not update 3 of 5 chips" ]
	[[ "$stderr" == *'msg="cannot update trust of chip" chip=bad1'* ]]
	[ "$(psql_q "SELECT status FROM job_executions")" = failed ]
}

@test "half or fewer failing: exit 70 but no alert" {
	for n in good1 good2 good3 bad1 bad2; do chip $n active 40 >/dev/null; done
	psql_q "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
	        \$\$BEGIN IF NEW.instance_name LIKE 'bad%' AND NEW.trust_updated_at IS NOT NULL
	          THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END\$\$;
	        CREATE TRIGGER refuse BEFORE UPDATE ON chips FOR EACH ROW EXECUTE FUNCTION refuse()"
	run_chipctl 70 trust-update --json
	[[ "$output" == *'"chips":5,"updated":3,"failed":2'* ]]
	[ "$(psql_q "SELECT count(*) FROM alert_outbox")" = 0 ]
}

@test "--dry-run computes and reports, changes nothing" {
	chip dry active 40 >/dev/null
	before=$(psql_q "SELECT md5(c::text) FROM chips c")
	run_chipctl 0 trust-update --dry-run --json
	[[ "$output" == '{"dry_run":true,"chips":1,"updated":1,'* ]]
	[[ "$stderr" == *'msg="would change trust level" chip=dry from=laranja to=amarelo'* ]]
	[ "$(psql_q "SELECT md5(c::text) FROM chips c")" = "$before" ]
	[ "$(psql_q "SELECT (SELECT count(*) FROM chip_trust_history) + (SELECT count(*) FROM job_executions)")" = 0 ]
}

@test "no chips: nothing to do, exit 0" {
	run_chipctl 0 trust-update --json
	[ "$output" = '{"dry_run":false,"chips":0,"updated":0,"failed":0,"level_changes":0,"alerts":0,"levels":{"verde":0,"amarelo":0,"laranja":0,"vermelho":0,"critico":0}}' ]
}

@test "old webhook keys and history beyond trust.history_days are pruned" {
	id=$(chip old active)
	psql_q "INSERT INTO webhook_events (event_key, event, instance, received_at)
	        VALUES ('k1', 'messages.upsert', 'old', now() - interval '8 days'),
	               ('k2', 'messages.upsert', 'old', now() - interval '1 day');
	        INSERT INTO chip_trust_history (chip_id, motivo, trust_score, trust_level, points, created_at)
	        VALUES ('$id', 'x', 50, 'laranja', '{0,0,0,0,0,0,0,0}', now() - interval '3 days')"
	conf 'trust: { history_days = 2; };'
	run_chipctl 0 trust-update
	[ "$(psql_q "SELECT string_agg(event_key, ',') FROM webhook_events")" = k2 ]
	[ "$(psql_q "SELECT count(*) FROM chip_trust_history WHERE motivo = 'x'")" = 0 ]
}

@test "unexpected arguments are a usage error" {
	run_chipctl 64 trust-update now
}
