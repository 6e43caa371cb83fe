-- sql/functions/03_pool.sql: the pool as the send path sees it.
-- Owns: whether a chip is sendable now (the chipctl_chip_now view, the one
-- definition read by selection, health, watchdog, metrics, pool-check and
-- `chips`), the pool's permissions by message type, the batch's snapshot
-- of the pool (chipctl_pool), and reserving and giving back the chips'
-- hourly and daily room.

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

CREATE OR REPLACE VIEW chipctl_pool_permissions AS
SELECT count(*) FILTER (WHERE chipctl_chip_permitted(c.status, c.pode_prospectar))
           AS may_prospect,
       count(*) FILTER (WHERE chipctl_chip_permitted(c.status, c.pode_followup))
           AS may_followup,
       count(*) FILTER (WHERE chipctl_chip_permitted(c.status, c.pode_responder))
           AS may_reply
FROM chips c;

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
