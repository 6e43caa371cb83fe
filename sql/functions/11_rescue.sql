-- sql/functions/11_rescue.sql: taking messages back (SPEC section 8, its
-- last paragraphs; issues 19 and 23).
-- Owns: when a worker is dead (chipctl_worker_dead, the one definition read
-- by reset-stuck-queue, watchdog and health), giving back what a message
-- holds (chipctl_give_back: its doctor's quota share and its chip's room,
-- exactly once), and the rescue of stuck claims, dead workers' claims and
-- dead workers' chip holds (chipctl_rescue).
--
-- Lock order, shared with the send path (guard, finish, reservations):
-- queue rows by id, then guardrail_counters by (cliente_id, dia), then
-- chip_send_counters by chip_id. Two of these running at once never
-- deadlock.

-- A worker is dead when its newest heartbeat is older than p_heartbeat_s
-- (watchdog.heartbeat_s). An SQL function, inlined where it is used.
CREATE OR REPLACE FUNCTION chipctl_worker_dead(p_last_beat timestamptz, p_heartbeat_s integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT p_last_beat < now() - make_interval(secs => p_heartbeat_s)
$$;

-- Give back what each message of p_msgs holds: its share of its doctor's
-- daily quota (reserva_dia, reserva_peso) in guardrail_counters, and one
-- send of its chip's room (reserva_chip_id, reserva_hora) in
-- chip_send_counters: the hour's count while that hour is still the
-- counter's window, the day's while the day is; never below zero. The
-- columns are cleared by the same call, under the rows' locks, so a second
-- call (or a concurrent one) gives back nothing. Returns how many messages
-- gave something back. Callers: chipctl_finish_batch (a message leaving
-- unsent), chipctl_rescue, and the reconciliation of an uncertain send
-- that was not found.
CREATE OR REPLACE FUNCTION chipctl_give_back(p_msgs bigint[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_cli text[];
    v_dia date[];
    v_peso integer[];
    v_chip uuid[];
    v_hora timestamptz[];
    v_n integer;
BEGIN
    WITH m AS (
        SELECT f.id, f.cliente_id, f.reserva_dia, f.reserva_peso, f.reserva_chip_id,
               f.reserva_hora
        FROM fila_mensagens f
        WHERE f.id = ANY (p_msgs)
          AND (f.reserva_dia IS NOT NULL OR f.reserva_chip_id IS NOT NULL)
        ORDER BY f.id FOR UPDATE OF f
    ), clr AS (
        UPDATE fila_mensagens f SET reserva_dia = NULL, reserva_peso = NULL,
            reserva_chip_id = NULL, reserva_hora = NULL
        FROM m WHERE f.id = m.id
        RETURNING f.id
    )
    SELECT array_agg(m.cliente_id), array_agg(m.reserva_dia), array_agg(m.reserva_peso),
           array_agg(m.reserva_chip_id), array_agg(m.reserva_hora), count(*)
    INTO v_cli, v_dia, v_peso, v_chip, v_hora, v_n
    FROM m WHERE m.id IN (SELECT clr.id FROM clr);
    IF coalesce(v_n, 0) = 0 THEN
        RETURN 0;
    END IF;

    -- the doctors' days, locked in key order, then given back
    PERFORM 1 FROM guardrail_counters g
    WHERE (g.cliente_id, g.dia) IN (SELECT x.cli, x.dia FROM unnest(v_cli, v_dia) AS x(cli, dia))
    ORDER BY g.cliente_id, g.dia FOR UPDATE;
    UPDATE guardrail_counters g SET used = greatest(g.used - r.w, 0)
    FROM (SELECT x.cli, x.dia, sum(coalesce(x.w, 0))::integer AS w
          FROM unnest(v_cli, v_dia, v_peso) AS x(cli, dia, w)
          WHERE x.dia IS NOT NULL GROUP BY x.cli, x.dia) r
    WHERE g.cliente_id = r.cli AND g.dia = r.dia;

    -- the chips' room, locked in key order, then given back window by window
    PERFORM 1 FROM chip_send_counters k
    WHERE k.chip_id IN (SELECT x.chip FROM unnest(v_chip) AS x(chip))
    ORDER BY k.chip_id FOR UPDATE;
    UPDATE chip_send_counters k SET
        hour_count = greatest(k.hour_count - (
            SELECT count(*) FROM unnest(v_chip, v_hora) AS x(chip, hora)
            WHERE x.chip = k.chip_id AND date_trunc('hour', x.hora) = k.hour_start), 0),
        day_count = greatest(k.day_count - (
            SELECT count(*) FROM unnest(v_chip, v_hora) AS x(chip, hora)
            WHERE x.chip = k.chip_id AND date_trunc('day', x.hora) = k.day_start), 0)
    WHERE k.chip_id IN (SELECT x.chip FROM unnest(v_chip) AS x(chip));
    RETURN v_n;
END;
$$;

-- The rescue (reset-stuck-queue, every minute). It takes back, each once
-- and skipping rows another transaction holds:
--   * the claims of a dead worker (its heartbeat older than p_heartbeat_s,
--     or the claim older than the run its worker id beats for now), at once;
--   * any claim older than p_stuck_minutes (the 60-minute rule: a worker
--     that left no heartbeat, or one that kept a message that long).
-- A message taken back that its worker proved sent is recorded sent
-- (chipctl_record_sent_batch, any worker) and keeps its reservations. One
-- whose send started and was never answered (envio_iniciado_em, an
-- uncertain send) goes back to 'pendente' keeping its send's chip and start
-- and its reservations: the next claim asks the provider. Every other one
-- goes back to 'pendente' and gives back what it held (chipctl_give_back);
-- the 60-minute rule spends an attempt (and past max_tentativas ends it
-- 'erro' FAILED_MAX_ATTEMPTS), a dead worker's claim spends none.
-- Then every chip held by a dead worker, by a worker whose claims this
-- run took back, or whose hold has expired, gives back the room its holder
-- reserved and never started (held_room, in the counters' current
-- windows) and is free again.
CREATE OR REPLACE FUNCTION chipctl_rescue(p_heartbeat_s integer, p_stuck_minutes integer,
                                          p_run uuid DEFAULT NULL)
RETURNS TABLE (recorded_sent integer, uncertain integer, requeued integer,
               requeued_dead integer, failed_max_attempts integer, failed_ids text,
               quota_given_back integer, chips_released integer, room_given_back integer,
               dead_workers text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_all bigint[];
    v_dead bigint[];
    v_back bigint[];
    v_workers text[];
BEGIN
    -- the candidates, each found through an index (fila_processando_idx,
    -- fila_processando_worker_idx), never by reading every claimed row:
    -- the claims of each dead worker (and those older than its worker's
    -- current run), then the claims past the 60 minutes
    SELECT coalesce(array_agg(c.id), '{}') INTO v_all FROM (
        SELECT f.id FROM worker_heartbeats h
        JOIN fila_mensagens f ON f.worker_id = h.worker_id AND f.status = 'processando'
        WHERE chipctl_worker_dead(h.last_beat_at, p_heartbeat_s)
           OR f.processando_desde < h.started_at
        UNION
        SELECT f.id FROM fila_mensagens f
        WHERE f.status = 'processando'
          AND f.processando_desde < now() - make_interval(mins => p_stuck_minutes)) c;
    IF cardinality(v_all) = 0 THEN
        v_dead := '{}';
        v_workers := '{}';
        dead_workers := '';
    ELSE
    -- locked in id order, each decided again under its lock
    WITH t AS (
        SELECT f.id, f.worker_id,
               coalesce(chipctl_worker_dead(h.last_beat_at, p_heartbeat_s)
                        OR f.processando_desde < h.started_at, false) AS dead
        FROM fila_mensagens f
        LEFT JOIN worker_heartbeats h ON h.worker_id = f.worker_id
        WHERE f.id = ANY (v_all) AND f.status = 'processando'
          AND (f.processando_desde < now() - make_interval(mins => p_stuck_minutes)
               OR chipctl_worker_dead(h.last_beat_at, p_heartbeat_s)
               OR f.processando_desde < h.started_at)
        ORDER BY f.id FOR UPDATE OF f SKIP LOCKED
    )
    SELECT coalesce(array_agg(t.id), '{}'), coalesce(array_agg(t.id) FILTER (WHERE t.dead), '{}'),
           coalesce(string_agg(DISTINCT t.worker_id, ',') FILTER (WHERE t.dead), ''),
           coalesce(array_agg(DISTINCT t.worker_id) FILTER (WHERE t.worker_id IS NOT NULL), '{}')
    INTO v_all, v_dead, dead_workers, v_workers FROM t;
    END IF;

    recorded_sent := 0;
    IF cardinality(v_all) > 0 THEN
        SELECT count(*) FILTER (WHERE r.recorded) INTO recorded_sent
        FROM chipctl_record_sent_batch(p_msgs => v_all, p_run => p_run) r;
    END IF;

    WITH s AS (
        SELECT f.id, f.id = ANY (v_dead) AS dead, f.envio_iniciado_em IS NOT NULL AS unsure,
               CASE WHEN f.id = ANY (v_dead) OR f.envio_iniciado_em IS NOT NULL THEN 0
                    ELSE 1 END AS spend
        FROM fila_mensagens f
        WHERE f.id = ANY (v_all) AND f.status = 'processando'
    ), up AS (
        UPDATE fila_mensagens f SET
            tentativas = f.tentativas + s.spend,
            status = CASE WHEN s.spend > 0
                               AND chipctl_attempts_exhausted(f.tentativas + 1, f.max_tentativas)
                          THEN 'erro' ELSE 'pendente' END,
            outcome = CASE WHEN s.spend > 0
                                AND chipctl_attempts_exhausted(f.tentativas + 1, f.max_tentativas)
                           THEN 'FAILED_MAX_ATTEMPTS' ELSE f.outcome END,
            outcome_reason_code = CASE WHEN s.spend > 0
                     AND chipctl_attempts_exhausted(f.tentativas + 1, f.max_tentativas)
                THEN 'STUCK_PROCESSING' ELSE f.outcome_reason_code END,
            first_due_at = coalesce(f.first_due_at, f.agendar_para),
            ultimo_erro = CASE
                WHEN s.unsure THEN 'its send was never answered (worker ' || coalesce(f.worker_id, '?')
                     || '): taken back by reset-stuck-queue, the provider is asked before sending again'
                WHEN s.dead THEN 'worker ' || coalesce(f.worker_id, '?')
                     || ' stopped beating: taken back by reset-stuck-queue'
                ELSE 'stuck in processando, rescued by reset-stuck-queue' END,
            processando_desde = NULL, worker_id = NULL, updated_at = now()
        FROM s WHERE f.id = s.id
        RETURNING f.id, f.status, s.dead, s.unsure
    )
    SELECT count(*) FILTER (WHERE up.unsure),
           count(*) FILTER (WHERE NOT up.unsure AND NOT up.dead AND up.status = 'pendente'),
           count(*) FILTER (WHERE NOT up.unsure AND up.dead),
           count(*) FILTER (WHERE up.status = 'erro'),
           coalesce(array_to_string((array_agg(up.id ORDER BY up.id)
               FILTER (WHERE up.status = 'erro'))[1:10], ', '), ''),
           coalesce(array_agg(up.id) FILTER (WHERE NOT up.unsure), '{}')
    INTO uncertain, requeued, requeued_dead, failed_max_attempts, failed_ids, v_back
    FROM up;

    quota_given_back := chipctl_give_back(p_msgs => v_back);

    WITH d AS (
        SELECT k.chip_id, k.held_room FROM chip_send_counters k
        LEFT JOIN worker_heartbeats h ON h.worker_id = k.held_by
        WHERE k.held_by IS NOT NULL
          AND (k.held_until < now() OR chipctl_worker_dead(h.last_beat_at, p_heartbeat_s)
               -- a worker whose claims this rescue took back holds nothing
               OR k.held_by = ANY (v_workers))
        ORDER BY k.chip_id FOR UPDATE OF k SKIP LOCKED
    ), up AS (
        UPDATE chip_send_counters k SET
            hour_count = CASE WHEN k.hour_start = date_trunc('hour', now())
                              THEN greatest(k.hour_count - d.held_room, 0) ELSE k.hour_count END,
            day_count = CASE WHEN k.day_start = date_trunc('day', now())
                             THEN greatest(k.day_count - d.held_room, 0) ELSE k.day_count END,
            held_by = NULL, held_until = NULL, held_room = 0
        FROM d WHERE k.chip_id = d.chip_id
        RETURNING d.held_room
    )
    SELECT count(*), coalesce(sum(up.held_room), 0) INTO chips_released, room_given_back FROM up;
    RETURN NEXT;
END;
$$;
