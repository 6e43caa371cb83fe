-- sql/functions/04_guardrails.sql: the doctor's guardrails (T04, T06).
-- Owns: reserving a message's share of its doctor's daily quota and the
-- contact cap, one message or a whole batch at once.

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

-- The batch forms of the three calls above: one round trip (and one
-- commit) for a whole claimed batch instead of three per message. Element i
-- of every array describes message i; results come back with its index.

CREATE OR REPLACE FUNCTION chipctl_guardrail_reserve_batch(
    p_clientes text[], p_weights integer[], p_exempt boolean[], p_max integer,
    p_cap integer, p_tz text, p_jitter_s integer[])
RETURNS TABLE (idx integer, blocked text, reserved boolean, until timestamptz, dia date)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    i integer;
    r record;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_clientes, 1), 0) LOOP
        idx := i;
        IF p_exempt[i] THEN
            blocked := NULL; reserved := true; until := NULL; dia := NULL;
        ELSE
            SELECT * INTO r FROM chipctl_guardrail_reserve(p_clientes[i], p_weights[i], p_max,
                                                           p_cap, p_tz, p_jitter_s[i]);
            blocked := r.blocked; reserved := r.reserved; until := r.until; dia := r.dia;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;
