-- sql/functions/04_guardrails.sql: the doctor's guardrails (T04, T06).
-- Owns: reserving a message's share of its doctor's daily quota and the
-- contact cap, one message or a whole batch at once, and recording that
-- share on the message it belongs to (reserva_dia, reserva_peso), which
-- is what chipctl_give_back (11_rescue.sql) gives back.

-- The send path's statements, as functions: PL/pgSQL keeps their plans for
-- the session, so a worker pays the planning of these joins once, not per
-- message (and they stay safe behind a transaction-mode pooler: nothing but
-- a plan cache lives in the session).

-- Reserve a message's weight against its doctor's daily limit and 7-day
-- cap (p_cap 0 = no cap). A conditional upsert: concurrent workers cannot
-- overshoot. blocked is the block reason when the doctor is blocked;
-- until is when a held-back message may try again (tomorrow in p_tz, plus
-- p_jitter_s).
CREATE OR REPLACE FUNCTION chipctl_guardrail_reserve(
    p_cliente text, p_weight integer, p_max integer, p_cap integer, p_tz text,
    p_jitter_s integer)
RETURNS TABLE (blocked text, reserved boolean, until timestamptz, dia date)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_today date := (now() AT TIME ZONE p_tz)::date;
    v_week integer;
    v_used integer;
BEGIN
    dia := v_today;
    until := ((v_today + 1)::timestamp AT TIME ZONE p_tz) + make_interval(secs => p_jitter_s);
    SELECT b.reason INTO blocked FROM guardrail_blocks b WHERE b.cliente_id = p_cliente;
    IF blocked IS NOT NULL THEN
        reserved := false;
        RETURN NEXT;
        RETURN;
    END IF;
    IF p_cap > 0 THEN
        SELECT coalesce(sum(g.used), 0) INTO v_week FROM guardrail_counters g
        WHERE g.cliente_id = p_cliente AND g.dia > v_today - 7;
        IF v_week + p_weight > p_cap THEN
            reserved := false;
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;
    v_used := NULL;
    IF p_weight <= p_max THEN
        INSERT INTO guardrail_counters AS g (cliente_id, dia, used)
        VALUES (p_cliente, v_today, p_weight)
        ON CONFLICT (cliente_id, dia) DO UPDATE SET used = g.used + EXCLUDED.used
        WHERE g.used + EXCLUDED.used <= p_max
        RETURNING g.used INTO v_used;
    END IF;
    reserved := v_used IS NOT NULL;
    RETURN NEXT;
END;
$$;

-- The batch form: one round trip (and one commit) for a whole claimed
-- batch. Element i of every array describes message p_msgs[i]; results come
-- back with its index i. Each reservation is recorded on its message by
-- the same call that counts it, so whoever takes the message back unsent
-- gives back exactly that, once. A message that already holds today's
-- reservation (its send was uncertain, or it was rescued before it left)
-- is not counted again; one that holds another day's gives that back
-- first. A message no longer 'processando' under p_worker (any worker when
-- NULL: the rescue took it back) is not counted: reserved false, until
-- NULL. Doctors are reserved in key order (cliente, then position), after
-- the messages' rows are locked in id order: the lock order of
-- 11_rescue.sql.
DROP FUNCTION IF EXISTS chipctl_guardrail_reserve_batch(text[], integer[], boolean[], integer,
                                                        integer, text, integer[]);
CREATE OR REPLACE FUNCTION chipctl_guardrail_reserve_batch(
    p_msgs bigint[], p_clientes text[], p_weights integer[], p_exempt boolean[], p_max integer,
    p_cap integer, p_tz text, p_jitter_s integer[], p_worker text DEFAULT NULL)
RETURNS TABLE (idx integer, blocked text, reserved boolean, until timestamptz, dia date)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_today date := (now() AT TIME ZONE p_tz)::date;
    r record;
    g record;
    v_set bigint[] := '{}';
    v_set_dia date[] := '{}';
    v_set_peso integer[] := '{}';
BEGIN
    FOR r IN
        WITH mine AS (
            SELECT f.id, f.reserva_dia, f.reserva_peso FROM fila_mensagens f
            WHERE f.id = ANY (p_msgs) AND f.status = 'processando'
              AND (p_worker IS NULL OR f.worker_id = p_worker)
            ORDER BY f.id FOR UPDATE OF f
        )
        SELECT u.i::integer AS i, u.msg, u.cli, u.w, u.ex, u.jit, mine.id IS NOT NULL AS ours,
               mine.reserva_dia AS held_dia, mine.reserva_peso AS held_peso
        FROM unnest(p_msgs, p_clientes, p_weights, p_exempt, p_jitter_s)
             WITH ORDINALITY AS u(msg, cli, w, ex, jit, i)
        LEFT JOIN mine ON mine.id = u.msg
        ORDER BY u.cli, u.i
    LOOP
        idx := r.i;
        blocked := NULL; reserved := false; until := NULL; dia := NULL;
        IF NOT r.ours THEN
            NULL;                       -- taken back: nothing counted
        ELSIF r.ex THEN
            reserved := true;
        ELSIF r.held_dia = v_today
              AND NOT EXISTS (SELECT 1 FROM guardrail_blocks b WHERE b.cliente_id = r.cli) THEN
            reserved := true;           -- holds today's share already
            dia := v_today;
        ELSE
            IF r.held_dia IS NOT NULL AND r.held_dia <> v_today THEN
                -- another day's share, never used: given back before today's
                UPDATE guardrail_counters c SET used = greatest(c.used - coalesce(r.held_peso, 0), 0)
                WHERE c.cliente_id = r.cli AND c.dia = r.held_dia;
                v_set := v_set || r.msg; v_set_dia := v_set_dia || NULL::date;
                v_set_peso := v_set_peso || NULL::integer;
            END IF;
            IF r.held_dia = v_today THEN
                -- a blocked doctor's message holding today's share: it is
                -- cancelled, and its finish gives the share back
                SELECT b.reason INTO blocked FROM guardrail_blocks b WHERE b.cliente_id = r.cli;
                until := ((v_today + 1)::timestamp AT TIME ZONE p_tz)
                         + make_interval(secs => r.jit);
            ELSE
                SELECT * INTO g FROM chipctl_guardrail_reserve(r.cli, r.w, p_max, p_cap, p_tz,
                                                               r.jit);
                blocked := g.blocked; reserved := g.reserved; until := g.until; dia := g.dia;
                IF g.reserved THEN
                    v_set := v_set || r.msg; v_set_dia := v_set_dia || g.dia;
                    v_set_peso := v_set_peso || r.w;
                END IF;
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;
    -- what each message holds now, written by the call that counted it (a
    -- message given another day's share back and none today: last entry wins)
    UPDATE fila_mensagens f SET reserva_dia = s.dia, reserva_peso = s.peso
    FROM (SELECT DISTINCT ON (x.msg) x.msg, x.dia, x.peso
          FROM unnest(v_set, v_set_dia, v_set_peso) WITH ORDINALITY AS x(msg, dia, peso, n)
          ORDER BY x.msg, x.n DESC) s
    WHERE f.id = s.msg;
END;
$$;
