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
-- day, and whether it is sendable now (a chip whose breaker is open but due
-- for its probe is sendable: the probe is taken when it is chosen).
-- Selection chooses only among sendable chips; health counts them as available.
CREATE OR REPLACE VIEW chipctl_chip_now AS
SELECT s.*,
       s.status = 'active' AND s.connected AND NOT s.cooling
       AND (s.chip_breaker = 'closed' OR s.chip_probe_due)
       AND (s.provider_breaker = 'closed' OR s.provider_probe_due)
       AND s.hour_used < s.hour_cap AND s.day_used < s.day_cap AS sendable
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
) s;

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
