-- 006_send_rules: one definition of each rule of the send path (issue 10),
-- read by selection, health, watchdog, metrics, pool-check and the
-- commands alike: whether a chip is connected, a breaker's effective state,
-- the recovery ramp, whether a chip is sendable now, whether a message's
-- attempts are used up or it has expired, and whose fault each attempt was.
-- Limits are reserved at selection (chip_send_counters counts requests
-- taken, not sends recorded), so any number of workers never exceed them.

-- Z-API's own connection state (GET .../status "connected"), kept apart from
-- Evolution's: a chip is connected by its own provider. Until sync reads it,
-- a Z-API chip counts as connected (what selection always assumed).
ALTER TABLE chips ADD COLUMN IF NOT EXISTS zapi_connected boolean NOT NULL DEFAULT true;

-- A message's first due time (its creation, or the time it was scheduled
-- for), kept when it is rescheduled: the 24 h expiry counts from it, never
-- from a reschedule. NULL until the first reschedule (then agendar_para is
-- still the first due time). esperas counts the times it waited for a chip
-- without spending an attempt; its backoff grows with it, capped.
ALTER TABLE fila_mensagens ADD COLUMN IF NOT EXISTS first_due_at timestamptz;
ALTER TABLE fila_mensagens ADD COLUMN IF NOT EXISTS esperas integer NOT NULL DEFAULT 0;

-- Whose fault a failed attempt was, set once by the provider module from
-- the answer's shape: 'chip' (403, 429, a 400 other than not-on-WhatsApp,
-- Connection Closed, rate-overlimit), 'provider' (timeout, refused
-- connection, other 5xx, 401) or 'recipient' (not on WhatsApp). Only
-- 'chip' counts against a chip anywhere.
ALTER TABLE send_attempts ADD COLUMN IF NOT EXISTS fault text
    CHECK (fault IN ('chip', 'provider', 'recipient'));
UPDATE send_attempts a SET fault = CASE
        WHEN a.result IN ('timeout', 'network') OR a.http_status = 401 THEN 'provider'
        WHEN a.http_status = 400 AND EXISTS (SELECT 1 FROM fila_mensagens f
             WHERE f.id = a.message_id AND f.outcome = 'FAILED_INVALID_NUMBER') THEN 'recipient'
        WHEN a.result = '4xx' THEN 'chip'
        WHEN a.error ILIKE '%connection closed%' OR a.error ILIKE '%rate-overlimit%' THEN 'chip'
        ELSE 'provider' END
WHERE a.result <> 'ok' AND a.fault IS NULL;
DROP INDEX IF EXISTS send_attempts_failed_time_idx;
CREATE INDEX IF NOT EXISTS send_attempts_chip_fault_idx ON send_attempts (created_at)
    WHERE fault = 'chip';

-- Is a chip connected? Evolution's state for Evolution chips, Z-API's for
-- Z-API chips.
CREATE OR REPLACE FUNCTION chipctl_chip_connected(p_provider text, p_evolution_connected boolean,
                                                  p_zapi_connected boolean)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_provider WHEN 'zapi' THEN p_zapi_connected ELSE p_evolution_connected END;
$$;

-- A breaker's effective state, operator overrides included: forced open is
-- open, disabled is closed, no row is closed.
CREATE OR REPLACE FUNCTION chipctl_breaker_effective(p_state text, p_override text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_override WHEN 'forced_open' THEN 'open' WHEN 'disabled' THEN 'closed'
                ELSE coalesce(p_state, 'closed') END;
$$;

-- May one probe go through now (open and its wait over, or half-open with
-- its probe's lease expired)? Never under an override.
CREATE OR REPLACE FUNCTION chipctl_breaker_probe_due(p_state text, p_override text,
                                                     p_retry_at timestamptz,
                                                     p_probe_until timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT p_override IS NULL
       AND coalesce((p_state = 'open' AND p_retry_at <= now())
                    OR (p_state = 'half_open' AND p_probe_until < now()), false);
$$;

-- Every breaker with its effective state: what circuits, health and metrics show.
CREATE OR REPLACE VIEW chipctl_breakers AS
SELECT b.*, chipctl_breaker_effective(b.state, b.override) AS effective_state,
       chipctl_breaker_probe_due(b.state, b.override, b.retry_at, b.probe_until) AS probe_due
FROM circuit_breakers b;

-- The share of its limits a chip in recovery may use (T10.3): 10 % on day
-- 1, 25 % on days 2-3, 50 % on days 4-6, then all of it.
CREATE OR REPLACE FUNCTION chipctl_recovery_ramp(p_phase integer)
RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_phase WHEN 1 THEN 0.10 WHEN 2 THEN 0.25 WHEN 3 THEN 0.50 ELSE 1 END;
$$;

-- Are a message's attempts used up, at this count of attempts spent?
CREATE OR REPLACE FUNCTION chipctl_attempts_exhausted(p_tentativas integer, p_max integer)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT p_tentativas >= p_max;
$$;

-- Has a pending message outlived p_hours since its first due time?
CREATE OR REPLACE FUNCTION chipctl_message_expired(p_first_due timestamptz,
                                                   p_agendar timestamptz, p_hours integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(p_first_due, p_agendar) < now() - make_interval(hours => p_hours);
$$;

-- Every chip as the send path sees it now: connected, cooling off, its
-- breakers and its provider's, its use and limits in the current hour and
-- day, the first rule that blocks it (blocked_by: status, disconnected,
-- cooldown, circuit_open, limit) and whether it is sendable now (a chip
-- whose breaker is open but due for its probe is sendable: the probe is
-- taken when it is chosen).
-- Selection chooses only among sendable chips; health counts them as available.
CREATE OR REPLACE VIEW chipctl_chip_now AS
SELECT b.*, b.blocked_by IS NULL AS sendable
FROM (SELECT s.*,
       -- the first rule that keeps the chip from sending now, or NULL
       CASE WHEN s.status <> 'active' THEN 'status'
            WHEN NOT s.connected THEN 'disconnected'
            WHEN s.cooling THEN 'cooldown'
            WHEN NOT (s.chip_breaker = 'closed' OR s.chip_probe_due)
              OR NOT (s.provider_breaker = 'closed' OR s.provider_probe_due) THEN 'circuit_open'
            WHEN s.hour_used >= s.hour_cap OR s.day_used >= s.day_cap THEN 'limit'
       END AS blocked_by
FROM (
    SELECT c.id, c.instance_name, c.provider, c.status, c.trust_score, c.trust_level,
           c.pode_prospectar, c.pode_followup, c.pode_responder,
           c.zapi_instance_id, c.zapi_token,
           chipctl_chip_connected(c.provider, c.evolution_connected, c.zapi_connected)
               AS connected,
           coalesce(c.cooldown_until > now(), false)
               OR coalesce(c.connection_cooldown_until > now(), false) AS cooling,
           chipctl_breaker_effective(cb.state, cb.override) AS chip_breaker,
           chipctl_breaker_probe_due(cb.state, cb.override, cb.retry_at, cb.probe_until)
               AS chip_probe_due,
           chipctl_breaker_effective(pb.state, pb.override) AS provider_breaker,
           chipctl_breaker_probe_due(pb.state, pb.override, pb.retry_at, pb.probe_until)
               AS provider_probe_due,
           coalesce(cb.state <> 'closed' OR cb.consecutive_failures > 0
                    OR cb.consecutive_timeouts > 0, false)
               OR coalesce(pb.state <> 'closed' OR pb.consecutive_failures > 0
                           OR pb.consecutive_timeouts > 0, false) AS breaker_dirty,
           CASE WHEN k.hour_start = date_trunc('hour', now()) THEN k.hour_count ELSE 0 END
               AS hour_used,
           CASE WHEN k.day_start = date_trunc('day', now()) THEN k.day_count ELSE 0 END
               AS day_used,
           floor(c.limite_hora * chipctl_recovery_ramp(c.recovery_phase))::integer AS hour_cap,
           floor(c.limite_dia * chipctl_recovery_ramp(c.recovery_phase))::integer AS day_cap
    FROM chips c
    LEFT JOIN circuit_breakers cb ON cb.name = 'chip:' || c.id
    LEFT JOIN circuit_breakers pb ON pb.name = 'provider:' || c.provider
    LEFT JOIN chip_send_counters k ON k.chip_id = c.id
) s) b;

-- The outage predicate (005) now reads the one breaker definition.
CREATE OR REPLACE FUNCTION chipctl_provider_outage(p text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM chipctl_breakers b
                   WHERE b.name = 'provider:' || p AND b.effective_state = 'open')
        OR EXISTS (SELECT 1 FROM alert_state s
                   WHERE s.alert_key = 'provider_outage:' || p AND s.active);
$$;

-- trust-update's metrics (004) count a failed attempt against a chip only when
-- it was the chip's fault: a provider outage never lowers a chip's score,
-- error count or status. Redefined here on purpose; the rest is as in 004.
CREATE OR REPLACE FUNCTION chip_trust_metricas(p_chip_ids uuid[], p_dias integer)
RETURNS TABLE (chip_id uuid, enviadas bigint, falhas bigint, entregues bigint,
               avaliadas bigint, respondidas bigint, tipos_midia bigint, bloqueios bigint,
               erros_24h bigint, ultimo_erro_em timestamptz, conversas_bi bigint)
LANGUAGE sql STABLE AS $$
    -- NULL: every chip in warming, ready, active or degraded. Each source is
    -- read by time window and aggregated by chip, then joined to the chips
    -- by hash: one pass each, not one index probe per chip.
    WITH ids AS (
        SELECT c.id AS chip_id FROM chips c
        WHERE CASE WHEN p_chip_ids IS NULL
                   THEN c.status IN ('warming', 'ready', 'active', 'degraded')
                   ELSE c.id = ANY (p_chip_ids) END),
    ci AS (
        SELECT i.chip_id,
               count(*) FILTER (WHERE i.direction = 'out') AS enviadas,
               count(*) FILTER (WHERE i.direction = 'out' AND i.obteve_resposta) AS respondidas,
               -- distinct media types in the same pass: one bit per type
               bit_count(bit_or(CASE coalesce(i.media_type, 'text')
                   WHEN 'text' THEN 1 WHEN 'image' THEN 2 WHEN 'audio' THEN 4
                   WHEN 'video' THEN 8 WHEN 'document' THEN 16 WHEN 'sticker' THEN 32
                   WHEN 'location' THEN 64 WHEN 'contact' THEN 128 ELSE 256 END)::bit(9))
                   AS tipos_midia
        FROM chip_interactions i
        WHERE i.created_at > now() - make_interval(days => p_dias)
          AND (p_chip_ids IS NULL OR i.chip_id = ANY (p_chip_ids))
        GROUP BY i.chip_id),
    -- Receipts by the time they arrived (never before the message was
    -- sent). A message acknowledged by the server less than an hour ago and
    -- not yet delivered is pending: it counts neither way.
    rc AS (
        SELECT r.chip_id,
               count(*) FILTER (WHERE r.delivered_at IS NOT NULL OR r.read_at IS NOT NULL
                                  OR r.error_at IS NOT NULL
                                  OR coalesce(r.server_ack_at, r.updated_at)
                                     <= now() - interval '1 hour') AS com_recibo,
               count(*) FILTER (WHERE r.delivered_at IS NOT NULL OR r.read_at IS NOT NULL)
                   AS entregues
        FROM message_receipts r
        WHERE r.updated_at > now() - make_interval(days => p_dias)
          AND (p_chip_ids IS NULL OR r.chip_id = ANY (p_chip_ids))
        GROUP BY r.chip_id),
    sa AS (
        SELECT a.chip_id,
               count(*) AS falhas,
               count(*) FILTER (WHERE a.created_at > now() - interval '24 hours') AS erros_24h,
               max(a.created_at) AS ultimo,
               count(*) FILTER (WHERE a.http_status = 403) AS f403
        FROM send_attempts a
        WHERE a.created_at > now() - make_interval(days => p_dias)
          AND a.fault = 'chip'
          AND (p_chip_ids IS NULL OR a.chip_id = ANY (p_chip_ids))
        GROUP BY a.chip_id),
    ev AS (
        SELECT e.chip_id,
               count(*) FILTER (WHERE e.kind IN ('send_error', 'forbidden')) AS falhas,
               count(*) FILTER (WHERE e.kind IN ('send_error', 'forbidden')
                                  AND e.created_at > now() - interval '24 hours') AS erros_24h,
               max(e.created_at) FILTER (WHERE e.kind IN ('send_error', 'forbidden')) AS ultimo,
               count(*) FILTER (WHERE e.kind = 'forbidden') AS f403,
               count(*) FILTER (WHERE e.kind IN ('block', 'ban')) AS bloqueios
        FROM chip_trust_events e
        WHERE e.created_at > now() - make_interval(days => p_dias)
          AND (p_chip_ids IS NULL OR e.chip_id = ANY (p_chip_ids))
        GROUP BY e.chip_id),
    bi AS (
        SELECT b.chip_id, count(*) AS n
        FROM chip_conversas_bidirecionais b
        WHERE p_chip_ids IS NULL OR b.chip_id = ANY (p_chip_ids)
        GROUP BY b.chip_id)
    SELECT ids.chip_id,
           coalesce(ci.enviadas, 0),
           greatest(coalesce(sa.falhas, 0), coalesce(ev.falhas, 0)),
           CASE WHEN coalesce(rc.com_recibo, 0) > 0 THEN rc.entregues
                ELSE coalesce(ci.enviadas, 0) END,
           CASE WHEN coalesce(rc.com_recibo, 0) > 0 THEN rc.com_recibo
                ELSE coalesce(ci.enviadas, 0) END,
           coalesce(ci.respondidas, 0),
           coalesce(ci.tipos_midia, 0),
           greatest(coalesce(sa.f403, 0), coalesce(ev.f403, 0)) + coalesce(ev.bloqueios, 0),
           greatest(coalesce(sa.erros_24h, 0), coalesce(ev.erros_24h, 0)),
           greatest(sa.ultimo, ev.ultimo),
           coalesce(bi.n, 0)
    FROM ids
    LEFT JOIN ci ON ci.chip_id = ids.chip_id
    LEFT JOIN rc ON rc.chip_id = ids.chip_id
    LEFT JOIN sa ON sa.chip_id = ids.chip_id
    LEFT JOIN ev ON ev.chip_id = ids.chip_id
    LEFT JOIN bi ON bi.chip_id = ids.chip_id;
$$;

-- ---- the send path's statements (replacing 002's per-message forms) -------

-- Selection is now made by the worker over one snapshot of chipctl_chip_now
-- per batch; the chosen chips' use is then reserved here. 002's one-scan-
-- per-message selection and its single-message recording go.
DROP FUNCTION IF EXISTS chipctl_select_chips(text[], text[], numeric[], numeric[], text[],
                                             boolean, text, text[]);
DROP FUNCTION IF EXISTS chipctl_select_chip(text, text, uuid[], numeric, numeric, boolean,
                                            text, text, text[], uuid[]);
DROP FUNCTION IF EXISTS chipctl_select_chip(text, text, uuid[], numeric, numeric, boolean,
                                            text, text, text[]);
DROP FUNCTION IF EXISTS chipctl_record_success(bigint, text, uuid, text, integer, integer,
    integer, text, uuid, uuid, text, text, integer, integer, text, text, text, boolean, integer);
DROP FUNCTION IF EXISTS chipctl_record_success_batch(bigint[], uuid[], text[], integer[],
    integer[], integer[], text[], uuid[], text[], text[], integer[], integer[], text[], text[],
    text[], boolean[], text, uuid, integer);
DROP FUNCTION IF EXISTS chipctl_record_failure(bigint, uuid, text, integer, integer, integer,
    text, boolean, text, uuid, text, uuid, text, text, integer, integer, boolean, boolean, integer);

-- Take p_wants[i] sends of chip p_chips[i]'s hourly and daily room (scaled
-- by the recovery ramp), and the breaker probes asked for. A conditional
-- update under the counter row's lock: however many workers on however
-- many hosts reserve at once, no chip goes past its limits. Breakers are
-- locked before counters, each in name order, so concurrent reservations
-- never deadlock. Returns what each chip granted (0 when its probe went to
-- another worker).
CREATE OR REPLACE FUNCTION chipctl_reserve_chips(
    p_chips uuid[], p_wants integer[], p_chip_probes boolean[], p_provider_probes boolean[],
    p_worker text, p_run uuid, p_probe_lease_s integer)
RETURNS TABLE (chip_id uuid, granted integer) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r record;
    v_lost uuid[] := '{}';
    v_hour timestamptz := date_trunc('hour', now());
    v_day timestamptz := date_trunc('day', now());
    v_g integer;
BEGIN
    FOR r IN SELECT u.chip, c.provider, u.cp, u.pp
             FROM unnest(p_chips, p_chip_probes, p_provider_probes) AS u(chip, cp, pp)
             JOIN chips c ON c.id = u.chip
             WHERE u.cp OR u.pp ORDER BY u.chip LOOP
        IF (r.pp AND NOT chipctl_breaker_probe('provider:' || r.provider, p_worker,
                                               p_probe_lease_s, p_run))
           OR (r.cp AND NOT chipctl_breaker_probe('chip:' || r.chip, p_worker,
                                                  p_probe_lease_s, p_run)) THEN
            v_lost := v_lost || r.chip;
        END IF;
    END LOOP;
    INSERT INTO chip_send_counters (chip_id, hour_start, hour_count, day_start, day_count)
    SELECT u.chip, v_hour, 0, v_day, 0 FROM unnest(p_chips) AS u(chip) ORDER BY u.chip
    ON CONFLICT (chip_id) DO NOTHING;
    FOR r IN SELECT u.chip, u.want,
                    floor(c.limite_hora * chipctl_recovery_ramp(c.recovery_phase))::integer AS hcap,
                    floor(c.limite_dia * chipctl_recovery_ramp(c.recovery_phase))::integer AS dcap
             FROM unnest(p_chips, p_wants) AS u(chip, want)
             JOIN chips c ON c.id = u.chip ORDER BY u.chip LOOP
        chip_id := r.chip;
        granted := 0;
        IF NOT (r.chip = ANY (v_lost)) THEN
            -- the row lock makes the read current: no other worker's
            -- reservation can slip in between it and the update
            SELECT greatest(0, least(r.want,
                       r.hcap - CASE WHEN k.hour_start = v_hour THEN k.hour_count ELSE 0 END,
                       r.dcap - CASE WHEN k.day_start = v_day THEN k.day_count ELSE 0 END))
            INTO v_g FROM chip_send_counters k WHERE k.chip_id = r.chip FOR UPDATE;
            IF v_g > 0 THEN
                UPDATE chip_send_counters k SET
                    hour_count = CASE WHEN k.hour_start = v_hour THEN k.hour_count ELSE 0 END + v_g,
                    day_count = CASE WHEN k.day_start = v_day THEN k.day_count ELSE 0 END + v_g,
                    hour_start = v_hour, day_start = v_day
                WHERE k.chip_id = r.chip;
            END IF;
            granted := v_g;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;

-- Give back reserved room that was never used (a send that did not happen:
-- the worker stopped, or the message went to another chip). One element per
-- unused send. Only the current windows are given back, never below zero.
CREATE OR REPLACE FUNCTION chipctl_release_chips(p_chips uuid[])
RETURNS integer LANGUAGE sql AS $$
    WITH g AS (SELECT u.chip, count(*)::integer AS n FROM unnest(p_chips) AS u(chip)
               GROUP BY u.chip ORDER BY u.chip),
    up AS (
        UPDATE chip_send_counters k SET
            hour_count = CASE WHEN k.hour_start = date_trunc('hour', now())
                              THEN greatest(k.hour_count - g.n, 0) ELSE k.hour_count END,
            day_count = CASE WHEN k.day_start = date_trunc('day', now())
                             THEN greatest(k.day_count - g.n, 0) ELSE k.day_count END
        FROM g WHERE k.chip_id = g.chip
        RETURNING 1)
    SELECT count(*)::integer FROM up;
$$;

-- Each chip choice is written on the attempt it led to (mode, candidates,
-- threshold), once; chip_selection_log becomes a view of those and of the
-- decisions that found no chip (its old rows stay readable), so a sent
-- message writes one row less and nothing reads two copies.
ALTER TABLE send_attempts ADD COLUMN IF NOT EXISTS mode text;
ALTER TABLE send_attempts ADD COLUMN IF NOT EXISTS candidates integer;
ALTER TABLE send_attempts ADD COLUMN IF NOT EXISTS threshold integer;
ALTER TABLE chip_selection_log RENAME TO chip_selection_none;
ALTER INDEX IF EXISTS chip_selection_log_time_idx RENAME TO chip_selection_none_time_idx;
CREATE INDEX IF NOT EXISTS chip_selection_none_message_idx ON chip_selection_none (message_id);
CREATE OR REPLACE VIEW chip_selection_log AS
SELECT n.id, n.message_id, n.tipo, n.chip_id, n.mode, n.candidates, n.threshold, n.reason,
       n.worker_id, n.created_at
FROM chip_selection_none n
UNION ALL
SELECT a.id, a.message_id, f.tipo, a.chip_id, a.mode, a.candidates, a.threshold,
       CASE WHEN a.result = 'ok' THEN 'sent'
            ELSE 'failed (' || coalesce(a.fault, '?') || '): ' || coalesce(a.error, '') END,
       a.worker_id, a.created_at
FROM send_attempts a LEFT JOIN fila_mensagens f ON f.id = a.message_id
WHERE a.mode IS NOT NULL;

-- Record one sent message the moment its answer arrives (the worker sends
-- this in pipeline mode, without waiting, each its own transaction): the
-- message 'enviada', only while still 'processando' and claimed by
-- p_worker (else the rescue took it back: its state is left alone, but the
-- attempt is still real), and its attempt with the choice that led to it.
-- A worker killed at any moment leaves at most the message whose HTTP call
-- was in flight sent but unrecorded. Returns whether the message row was
-- updated.
CREATE OR REPLACE FUNCTION chipctl_record_sent(
    p_msg bigint, p_worker text, p_chip uuid, p_provider text, p_attempt integer,
    p_status integer, p_latency integer, p_provider_msg text, p_correlation uuid,
    p_run uuid, p_note text, p_mode text, p_candidates integer, p_threshold integer)
RETURNS TABLE (message_id bigint, recorded boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    UPDATE fila_mensagens SET status = 'enviada', enviada_em = now(), chip_id = p_chip,
        outcome = 'SENT', outcome_reason_code = NULL,
        provider_message_id = nullif(p_provider_msg, ''),
        processando_desde = NULL, ultimo_erro = NULL, updated_at = now()
    WHERE id = p_msg AND status = 'processando' AND worker_id = p_worker;
    recorded := FOUND;
    INSERT INTO send_attempts (message_id, chip_id, provider, attempt, http_status,
        latency_ms, result, error, correlation_id, worker_id, run_id, mode, candidates,
        threshold)
    VALUES (p_msg, p_chip, p_provider, p_attempt, p_status, p_latency, 'ok',
        nullif(p_note, ''), p_correlation, p_worker, p_run, p_mode, p_candidates,
        p_threshold);
    message_id := p_msg;
    RETURN NEXT;
END;
$$;

-- What the sends of a batch add up to, once per batch (element i of every
-- array is send i): the interactions, the doctors' affinity, the chips'
-- totals, and the breakers that were not clean closed and reset. The
-- chips' hourly and daily use was reserved at selection.
CREATE OR REPLACE FUNCTION chipctl_record_success_batch(
    p_msgs bigint[], p_chips uuid[], p_providers text[], p_provider_msgs text[],
    p_tipos text[], p_clientes text[], p_telefones text[], p_resets boolean[],
    p_worker text, p_run uuid, p_base_backoff integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction, message_id,
        provider_message_id, tipo)
    SELECT u.chip, u.cliente, u.tel, 'out', u.msg, nullif(u.pmid, ''), u.tipo
    FROM unnest(p_chips, p_clientes, p_telefones, p_msgs, p_provider_msgs, p_tipos)
        AS u(chip, cliente, tel, msg, pmid, tipo);
    INSERT INTO medico_chip_affinity AS a (cliente_id, chip_id, msgs_enviadas)
    SELECT u.cliente, u.chip, count(*) FROM unnest(p_clientes, p_chips) AS u(cliente, chip)
    GROUP BY u.cliente, u.chip ORDER BY u.cliente, u.chip
    ON CONFLICT (cliente_id, chip_id) DO UPDATE SET
        msgs_enviadas = a.msgs_enviadas + EXCLUDED.msgs_enviadas, ultima_interacao_em = now();
    -- the chips' totals in a fixed order, so concurrent batches lock the
    -- chips the same way
    UPDATE chips c SET msgs_enviadas_total = c.msgs_enviadas_total + g.k,
        ultimo_envio_em = now(), updated_at = now()
    FROM (SELECT u.chip, count(*) AS k FROM unnest(p_chips) AS u(chip)
          GROUP BY u.chip ORDER BY u.chip) g
    WHERE c.id = g.chip;
    IF true = ANY (p_resets) THEN
        PERFORM chipctl_breaker_success(
            ARRAY(SELECT DISTINCT x FROM unnest(p_chips, p_providers, p_resets) AS u(chip, prov, r),
                  LATERAL (VALUES ('chip:' || u.chip), ('provider:' || u.prov)) v(x)
                  WHERE u.r ORDER BY x),
            p_base_backoff, p_worker, p_run);
    END IF;
END;
$$;

-- Record one failed attempt, with whose fault it was (p_fault: chip,
-- provider or recipient; a timeout is the provider's, and p_uncertain: it
-- may have been delivered). Only the chip's fault touches the chip:
-- its error counters, and a cooldown of p_cooldown_s or, for a closed
-- session (p_disconnected), the chip marked disconnected by its provider.
CREATE OR REPLACE FUNCTION chipctl_record_failure(
    p_msg bigint, p_chip uuid, p_provider text, p_attempt integer, p_status integer,
    p_latency integer, p_result text, p_fault text, p_uncertain boolean, p_error text,
    p_correlation uuid, p_worker text, p_run uuid, p_tipo text, p_mode text,
    p_candidates integer, p_threshold integer, p_disconnected boolean DEFAULT false,
    p_cooldown_s integer DEFAULT 0)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO send_attempts (message_id, chip_id, provider, attempt, http_status,
        latency_ms, result, fault, uncertain, error, correlation_id, worker_id, run_id,
        mode, candidates, threshold)
    VALUES (p_msg, p_chip, p_provider, p_attempt, nullif(p_status, 0), p_latency, p_result,
        p_fault, p_uncertain, p_error, p_correlation, p_worker, p_run, p_mode,
        p_candidates, p_threshold);
    IF p_fault = 'chip' THEN
        PERFORM chip_registrar_envio_erro(p_chip, nullif(p_status, 0), p_error);
        IF p_disconnected THEN
            UPDATE chips SET
                evolution_connected = CASE WHEN provider = 'zapi' THEN evolution_connected
                                           ELSE false END,
                zapi_connected = CASE WHEN provider = 'zapi' THEN false ELSE zapi_connected END,
                desconectado_desde = coalesce(desconectado_desde, now()), updated_at = now()
            WHERE id = p_chip;
        ELSE
            UPDATE chips SET cooldown_until = greatest(coalesce(cooldown_until, now()),
                    now() + make_interval(secs => p_cooldown_s)),
                cooldown_reason = p_error, updated_at = now()
            WHERE id = p_chip;
        END IF;
    END IF;
END;
$$;

-- A batch of messages leaving the worker without being sent (element i of
-- every array is message i), each only while still 'processando' and
-- claimed by p_worker. p_status 'pendente' waits until p_next_at or
-- p_next_in_s from now, spending p_spent attempts (the chips that refused
-- it); when that uses its attempts up it ends 'erro' with p_final_outcomes
-- instead. A message waiting for capacity (p_waits) spends nothing and
-- keeps its first due time; past p_expire_hours since then it ends
-- 'cancelada' FAILED_EXPIRED. Any other p_status is final as given. Every
-- message here was not sent: its doctor's reservation for p_release_days
-- is given back (a message that waits reserves again when it is retried).
-- Returns one row per message: whether it was still claimed, and the
-- state it ended in.
CREATE OR REPLACE FUNCTION chipctl_finish_batch(
    p_msgs bigint[], p_status text[], p_outcomes text[], p_final_outcomes text[],
    p_reasons text[], p_errors text[], p_next_in_s integer[], p_next_at timestamptz[],
    p_spent integer[], p_waits boolean[], p_uncertain_chips uuid[], p_clientes text[],
    p_release_days date[], p_weights integer[], p_worker text, p_expire_hours integer)
RETURNS TABLE (id bigint, recorded boolean, status text, outcome text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH u AS (
        SELECT * FROM unnest(p_msgs, p_status, p_outcomes, p_final_outcomes, p_reasons,
                             p_errors, p_next_in_s, p_next_at, p_spent, p_waits,
                             p_uncertain_chips)
            AS u(msg, st, oc, foc, reason, err, next_in, next_at, spent, waits, uchip)
    ), v AS (
        SELECT f.id, f.tipo, u.*,
            CASE WHEN u.st <> 'pendente' THEN u.st
                 WHEN chipctl_attempts_exhausted(f.tentativas + u.spent, f.max_tentativas)
                      AND u.spent > 0 THEN 'erro'
                 WHEN chipctl_message_expired(f.first_due_at, f.agendar_para, p_expire_hours)
                      THEN 'cancelada'
                 ELSE 'pendente' END AS new_status
        FROM u JOIN fila_mensagens f ON f.id = u.msg
        WHERE f.status = 'processando' AND f.worker_id = p_worker
        ORDER BY f.id FOR UPDATE OF f
    ), up AS (
        UPDATE fila_mensagens f SET status = v.new_status,
            outcome = CASE v.new_status WHEN 'pendente' THEN NULL
                           WHEN 'cancelada' THEN coalesce(v.oc, 'FAILED_EXPIRED')
                           ELSE coalesce(v.oc, v.foc) END,
            outcome_reason_code = CASE WHEN v.new_status = 'cancelada' AND v.oc IS NULL
                                       THEN 'EXPIRED' ELSE v.reason END,
            ultimo_erro = v.err,
            tentativas = f.tentativas + v.spent,
            esperas = f.esperas + CASE WHEN v.waits THEN 1 ELSE 0 END,
            first_due_at = coalesce(f.first_due_at, f.agendar_para),
            agendar_para = CASE WHEN v.new_status = 'pendente'
                THEN coalesce(v.next_at, now() + make_interval(secs => v.next_in))
                ELSE f.agendar_para END,
            chip_id = coalesce(v.uchip, f.chip_id),
            processando_desde = NULL, worker_id = NULL, updated_at = now()
        FROM v WHERE f.id = v.id
        RETURNING f.id, f.status, f.outcome
    ), sel AS (
        -- why no chip took a waiting message, for `queue show`
        INSERT INTO chip_selection_none (message_id, tipo, chip_id, mode, candidates,
            threshold, reason, worker_id)
        SELECT v.id, v.tipo, NULL, 'none', 0, 0,
            coalesce(v.reason, 'no chip') || coalesce(': ' || v.err, ''), p_worker
        FROM v WHERE v.waits
        RETURNING 1
    ), rel AS (
        UPDATE guardrail_counters g SET used = greatest(g.used - r.w, 0)
        FROM (SELECT x.cli, x.dia, sum(x.w)::integer AS w
              FROM unnest(p_msgs, p_clientes, p_release_days, p_weights) AS x(msg, cli, dia, w)
              JOIN up ON up.id = x.msg
              WHERE x.dia IS NOT NULL
              GROUP BY x.cli, x.dia ORDER BY x.cli, x.dia) r
        WHERE g.cliente_id = r.cli AND g.dia = r.dia
        RETURNING 1
    )
    SELECT u.msg, up.id IS NOT NULL, up.status, up.outcome
    FROM u LEFT JOIN up ON up.id = u.msg
    WHERE (SELECT count(*) FROM rel) + (SELECT count(*) FROM sel) >= 0;
END;
$$;

-- The expiry's scan (reset-stuck-queue --expire): pending messages by
-- their first due time, the expression chipctl_message_expired compares.
CREATE INDEX IF NOT EXISTS fila_pendente_first_due_idx
    ON fila_mensagens ((coalesce(first_due_at, agendar_para))) WHERE status = 'pendente';

-- The pool as the send path's selection reads it, once per batch: every
-- active chip (with multi-chip off only p_default, or the active chip with
-- the highest trust) by the one definition of sendable (chipctl_chip_now),
-- with the affinity of the batch's doctors. A PL/pgSQL function, so the
-- view's plan is made once per session, not once per batch.
CREATE OR REPLACE FUNCTION chipctl_pool(p_clientes text[], p_multi boolean, p_default text)
RETURNS TABLE (id uuid, instance_name text, provider text, zapi_instance_id text,
               zapi_token text, trust_score numeric, pode_prospectar boolean,
               pode_followup boolean, pode_responder boolean, sendable boolean,
               blocked_by text, chip_probe boolean, provider_probe boolean,
               breaker_dirty boolean, hour_used integer, day_used integer, room integer,
               affinity json)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT n.id, n.instance_name, n.provider, coalesce(n.zapi_instance_id, ''),
        coalesce(n.zapi_token, ''), n.trust_score, n.pode_prospectar, n.pode_followup,
        n.pode_responder, n.sendable, coalesce(n.blocked_by, ''),
        n.chip_breaker <> 'closed', n.provider_breaker <> 'closed', n.breaker_dirty,
        n.hour_used, n.day_used,
        greatest(least(n.hour_cap - n.hour_used, n.day_cap - n.day_used), 0),
        af.affinity
    FROM chipctl_chip_now n
    -- one probe of the doctors' key each (the plan is generic: an
    -- "= ANY (array)" would be planned as a scan of the whole table)
    LEFT JOIN (SELECT a.chip_id,
                      json_object_agg(a.cliente_id, a.respostas * 3 + a.msgs_enviadas) AS affinity
               FROM (SELECT DISTINCT u.cli FROM unnest(p_clientes) AS u(cli)) d
               JOIN medico_chip_affinity a ON a.cliente_id = d.cli
               GROUP BY a.chip_id) af ON af.chip_id = n.id
    WHERE n.status = 'active'
      AND (p_multi OR n.instance_name = coalesce(p_default,
            (SELECT c.instance_name FROM chips c WHERE c.status = 'active'
             ORDER BY c.trust_score DESC, c.instance_name LIMIT 1)))
    ORDER BY n.instance_name;
END;
$$;
