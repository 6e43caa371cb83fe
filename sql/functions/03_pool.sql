-- sql/functions/03_pool.sql: the pool as the send path sees it.
-- Owns: whether a chip is sendable now (the chipctl_chip_now view, the one
-- definition read by selection, health, watchdog, metrics, pool-check and
-- `chips`), the pool's permissions by message type, the batch's snapshot
-- of the pool (chipctl_pool), reserving a chip for a batch (its hourly and
-- daily room, its pacing gap and its hold: one send in flight, fleet-wide),
-- the batch's sends starting (each message's chip and start committed
-- before its request leaves), and giving back what a batch held.

-- Signatures this file changed (issue 19): dropped before their new
-- definitions, so no call is ambiguous between two overloads.
DROP FUNCTION IF EXISTS chipctl_pool(text[], boolean, text);
DROP FUNCTION IF EXISTS chipctl_reserve_chips(uuid[], integer[], boolean[], boolean[], text,
                                              uuid, integer);
DROP FUNCTION IF EXISTS chipctl_release_chips(uuid[]);

-- Every chip as the send path sees it now: connected, cooling off, its
-- breakers and its provider's, its use and limits in the current hour and
-- day, the first rule that blocks it (blocked_by: status, disconnected,
-- cooldown, circuit_open, limit) and whether it is sendable now (a chip
-- whose breaker is open but due for its probe is sendable: the probe is
-- taken when it is chosen).
-- Selection chooses only among sendable chips; health counts them as available.
-- Pacing (next_send_at) and a hold by a worker (held: one send in flight)
-- are momentary: they do not make a chip unavailable, only busy for now;
-- chipctl_pool reads them for selection.
DROP VIEW IF EXISTS chipctl_chip_now;
CREATE VIEW chipctl_chip_now AS
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
           floor(c.limite_dia * chipctl_recovery_ramp(c.recovery_phase))::integer AS day_cap,
           CASE WHEN k.next_send_at > now() THEN k.next_send_at END AS next_send_at,
           CASE WHEN k.held_until > now() THEN k.held_by END AS held_by
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
-- with the affinity of the batch's doctors. For selection a chip is also
-- busy while its pacing gap runs (blocked_by 'pacing') or another worker
-- holds it (blocked_by 'busy'). A PL/pgSQL function, so the view's plan is
-- made once per session, not once per batch.
CREATE OR REPLACE FUNCTION chipctl_pool(p_clientes text[], p_multi boolean, p_default text,
                                        p_worker text DEFAULT NULL)
RETURNS TABLE (id uuid, instance_name text, provider text, zapi_instance_id text,
               zapi_token text, trust_score numeric, pode_prospectar boolean,
               pode_followup boolean, pode_responder boolean, sendable boolean,
               blocked_by text, chip_probe boolean, provider_probe boolean,
               breaker_dirty boolean, hour_used integer, day_used integer, room integer,
               affinity json, next_send_at timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT n.id, n.instance_name, n.provider, coalesce(n.zapi_instance_id, ''),
        coalesce(n.zapi_token, ''), n.trust_score, n.pode_prospectar, n.pode_followup,
        n.pode_responder, n.sendable AND n.next_send_at IS NULL
            AND (n.held_by IS NULL OR n.held_by = p_worker),
        coalesce(n.blocked_by, CASE WHEN n.next_send_at IS NOT NULL THEN 'pacing'
                                    WHEN n.held_by <> p_worker OR p_worker IS NULL
                                         AND n.held_by IS NOT NULL THEN 'busy' END, ''),
        n.chip_breaker <> 'closed', n.provider_breaker <> 'closed', n.breaker_dirty,
        n.hour_used, n.day_used,
        greatest(least(n.hour_cap - n.hour_used, n.day_cap - n.day_used), 0),
        af.affinity, n.next_send_at
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
-- by the recovery ramp), and the breaker probes asked for, and hold each
-- chip granted for worker p_worker until p_hold_s from now: while held, no
-- other worker is granted it, so a chip has one send in flight fleet-wide
-- (a hold past its time is a dead worker's: taken over, and the room it
-- had not started given back). With a pacing gap (p_gap_s > 0) a chip
-- grants at most one send, and only once its gap ran out (its next start
-- is set when the send starts: chipctl_sends_start). A conditional
-- update under the counter row's lock: however many workers on however
-- many hosts reserve at once, no chip goes past its limits. Breakers are
-- locked before counters, each in name order, so concurrent reservations
-- never deadlock. Returns what each chip granted (0 when its probe went to
-- another worker, it is held by another worker, or its gap still runs).
CREATE OR REPLACE FUNCTION chipctl_reserve_chips(
    p_chips uuid[], p_wants integer[], p_chip_probes boolean[], p_provider_probes boolean[],
    p_worker text, p_run uuid, p_probe_lease_s integer, p_gap_s integer DEFAULT 0,
    p_jitter_s integer DEFAULT 0, p_hold_s integer DEFAULT 300)
RETURNS TABLE (chip_id uuid, granted integer) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r record;
    k record;
    v_lost uuid[] := '{}';
    v_hour timestamptz := date_trunc('hour', now());
    v_day timestamptz := date_trunc('day', now());
    v_g integer;
    v_back integer;
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
        -- the row lock makes the read current: no other worker's
        -- reservation can slip in between it and the update
        SELECT * INTO k FROM chip_send_counters x WHERE x.chip_id = r.chip FOR UPDATE;
        IF NOT (r.chip = ANY (v_lost))
           AND (k.held_by IS NULL OR k.held_by = p_worker OR k.held_until <= now())
           AND (k.next_send_at IS NULL OR k.next_send_at <= now()) THEN
            -- a dead holder's room that never started goes back first
            v_back := CASE WHEN k.held_by IS DISTINCT FROM p_worker THEN k.held_room ELSE 0 END;
            v_g := greatest(0, least(r.want,
                       r.hcap - CASE WHEN k.hour_start = v_hour
                                     THEN greatest(k.hour_count - v_back, 0) ELSE 0 END,
                       r.dcap - CASE WHEN k.day_start = v_day
                                     THEN greatest(k.day_count - v_back, 0) ELSE 0 END));
            IF p_gap_s > 0 THEN
                v_g := least(v_g, 1);
            END IF;
            IF v_g > 0 THEN
                UPDATE chip_send_counters x SET
                    hour_count = CASE WHEN x.hour_start = v_hour
                                      THEN greatest(x.hour_count - v_back, 0) ELSE 0 END + v_g,
                    day_count = CASE WHEN x.day_start = v_day
                                     THEN greatest(x.day_count - v_back, 0) ELSE 0 END + v_g,
                    hour_start = v_hour, day_start = v_day,
                    held_by = p_worker, held_until = now() + make_interval(secs => p_hold_s),
                    held_room = CASE WHEN x.held_by = p_worker THEN x.held_room ELSE 0 END + v_g
                WHERE x.chip_id = r.chip;
            END IF;
            granted := v_g;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;

-- The sends of a batch start: each message of p_msgs (still 'processando'
-- and claimed by p_worker) takes its chip (p_chips[i]): the chip and the
-- start are committed before the request leaves, so a send whose answer is
-- never recorded is known to be uncertain (reconciled with the provider
-- before it is sent again), and the message holds one send of the chip's
-- room from now on (given back only if it turns out unsent); with a pacing
-- gap, the chip's next start is p_gap_s plus a random 0..p_jitter_s
-- seconds from this one. A message
-- no longer claimed by p_worker (the rescue took it back) does not start:
-- the worker sends nothing more from a claim it lost. Returns, per
-- message, whether it started.
DROP FUNCTION IF EXISTS chipctl_sends_start(bigint[], uuid[], text);
CREATE OR REPLACE FUNCTION chipctl_sends_start(p_msgs bigint[], p_chips uuid[], p_worker text,
                                               p_gap_s integer DEFAULT 0,
                                               p_jitter_s integer DEFAULT 0)
RETURNS TABLE (id bigint, started boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    -- (the claim's own rows: only the rescue may touch them meanwhile,
    -- and it skips locked rows, so no lock order is needed)
    WITH u AS (
        SELECT * FROM unnest(p_msgs, p_chips) AS u(msg, chip)
    ), m AS (
        UPDATE fila_mensagens f SET envio_chip_id = u.chip, envio_iniciado_em = now(),
            reserva_chip_id = u.chip, reserva_hora = date_trunc('hour', now())
        FROM u WHERE f.id = u.msg AND f.status = 'processando' AND f.worker_id = p_worker
        RETURNING f.id, u.chip
    ), h AS (
        UPDATE chip_send_counters k SET held_room = greatest(k.held_room - g.n, 0),
            next_send_at = CASE WHEN p_gap_s > 0
                THEN now() + make_interval(secs => p_gap_s + random() * p_jitter_s)
                ELSE k.next_send_at END
        FROM (SELECT m.chip, count(*)::integer AS n FROM m GROUP BY m.chip ORDER BY m.chip) g
        WHERE k.chip_id = g.chip AND k.held_by = p_worker
        RETURNING 1
    )
    SELECT u.msg, m.id IS NOT NULL FROM u LEFT JOIN m ON m.id = u.msg;
END;
$$;

-- A batch of p_worker ends: the room it reserved and never started goes
-- back (the current windows only, never below zero), and its chips are
-- free for other workers, but for those in p_keep: the batch's own chips
-- when the worker claims again at once (the queue not dry), held on for
-- its next batch, whose reservation renews the hold, so no other worker
-- takes them up between two batches only to find the messages gone (a kept
-- hold still expires at held_until: a dead worker's chips are free again;
-- a chip kept from an earlier batch and not used in this one is let go).
-- With a pacing gap, a chip that started a send in the batch may start the
-- next no sooner than p_gap_s from now: a send that left late (after the
-- batch's first answer) still keeps its gap. Returns the number of chips
-- released or kept.
DROP FUNCTION IF EXISTS chipctl_release_hold(text);
DROP FUNCTION IF EXISTS chipctl_release_hold(text, integer);
DROP FUNCTION IF EXISTS chipctl_release_hold(text, integer, boolean);
CREATE OR REPLACE FUNCTION chipctl_release_hold(p_worker text, p_gap_s integer DEFAULT 0,
                                                p_keep uuid[] DEFAULT NULL)
RETURNS integer LANGUAGE sql AS $$
    WITH h AS (
        SELECT x.chip_id FROM chip_send_counters x WHERE x.held_by = p_worker
        ORDER BY x.chip_id FOR UPDATE
    ), up AS (
        UPDATE chip_send_counters k SET
            hour_count = CASE WHEN k.hour_start = date_trunc('hour', now())
                              THEN greatest(k.hour_count - k.held_room, 0) ELSE k.hour_count END,
            day_count = CASE WHEN k.day_start = date_trunc('day', now())
                             THEN greatest(k.day_count - k.held_room, 0) ELSE k.day_count END,
            held_room = 0,
            held_by = CASE WHEN k.chip_id = ANY (p_keep) THEN k.held_by END,
            held_until = CASE WHEN k.chip_id = ANY (p_keep) THEN k.held_until END,
            next_send_at = CASE WHEN p_gap_s > 0 AND k.next_send_at > now()
                THEN greatest(k.next_send_at, now() + make_interval(secs => p_gap_s))
                ELSE k.next_send_at END
        FROM h WHERE k.chip_id = h.chip_id
        RETURNING 1)
    SELECT count(*)::integer FROM up;
$$;
