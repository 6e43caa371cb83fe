-- 002_send: the send path (SPEC section 8): circuit breakers held in
-- PostgreSQL, send attempts, chip selection decisions, the doctor-chip
-- affinity and interactions, guardrails, and the chip counter functions.

-- One row per breaker: 'provider:evolution', 'provider:zapi', 'chip:<uuid>'.
-- Every change is a conditional UPDATE on (name, version): it only wins if
-- the breaker is still what the worker read, so no lock is held during HTTP
-- and no transition happens twice.
CREATE TABLE IF NOT EXISTS circuit_breakers (
    name                 text PRIMARY KEY,
    kind                 text NOT NULL CHECK (kind IN ('provider', 'chip')),
    chip_id              uuid REFERENCES chips (id) ON DELETE CASCADE,
    state                text NOT NULL DEFAULT 'closed'
                         CHECK (state IN ('closed', 'open', 'half_open')),
    -- the state before the last update: RETURNING prev_state, state tells a
    -- worker exactly which transition its own update made
    prev_state           text,
    -- operator override: 'forced_open' keeps it open, 'disabled' never opens
    override             text CHECK (override IN ('forced_open', 'disabled')),
    consecutive_failures integer NOT NULL DEFAULT 0,
    consecutive_timeouts integer NOT NULL DEFAULT 0,
    backoff_s            integer NOT NULL DEFAULT 60,
    opened_at            timestamptz,
    -- open: no request before this; then one probe may take the lease
    retry_at             timestamptz,
    probe_holder         text,
    probe_until          timestamptz,
    last_failure_at      timestamptz,
    last_failure         text,
    version              bigint NOT NULL DEFAULT 0,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS circuit_transitions (
    id          bigserial PRIMARY KEY,
    breaker     text NOT NULL,
    from_state  text NOT NULL,
    to_state    text NOT NULL,
    reason      text NOT NULL,
    actor       text NOT NULL,
    run_id      uuid,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS circuit_transitions_time_idx
    ON circuit_transitions (created_at DESC);
CREATE INDEX IF NOT EXISTS circuit_transitions_breaker_idx
    ON circuit_transitions (breaker, created_at DESC);

-- Sends per chip in the current hour and day (fixed windows), kept apart
-- from chips so a send does not update the chip row twice.
CREATE TABLE IF NOT EXISTS chip_send_counters (
    chip_id     uuid PRIMARY KEY REFERENCES chips (id) ON DELETE CASCADE,
    hour_start  timestamptz NOT NULL,
    hour_count  integer NOT NULL DEFAULT 0,
    day_start   timestamptz NOT NULL,
    day_count   integer NOT NULL DEFAULT 0
);

-- Every attempt to send a message through a chip.
CREATE TABLE IF NOT EXISTS send_attempts (
    id             bigserial PRIMARY KEY,
    message_id     bigint NOT NULL,
    chip_id        uuid,
    provider       text,
    attempt        integer NOT NULL,
    http_status    integer,
    latency_ms     integer,
    -- ok, timeout (uncertain), network, 4xx, 5xx, skipped
    result         text NOT NULL,
    uncertain      boolean NOT NULL DEFAULT false,
    error          text,
    correlation_id uuid,
    worker_id      text,
    run_id         uuid,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS send_attempts_message_idx ON send_attempts (message_id);
CREATE INDEX IF NOT EXISTS send_attempts_time_idx ON send_attempts (created_at);
CREATE INDEX IF NOT EXISTS send_attempts_chip_idx ON send_attempts (chip_id, created_at);

-- Every chip selection: the chosen chip (or none), the mode and why.
CREATE TABLE IF NOT EXISTS chip_selection_log (
    id          bigserial PRIMARY KEY,
    message_id  bigint NOT NULL,
    tipo        text NOT NULL,
    chip_id     uuid,
    mode        text NOT NULL,     -- affinity, least_used, fallback, single, none
    candidates  integer NOT NULL,
    threshold   integer NOT NULL,
    reason      text NOT NULL,
    worker_id   text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS chip_selection_log_time_idx ON chip_selection_log (created_at);

-- The doctor's chip (T11.5): responses weigh more than messages.
CREATE TABLE IF NOT EXISTS medico_chip_affinity (
    cliente_id          text NOT NULL,
    chip_id             uuid NOT NULL REFERENCES chips (id) ON DELETE CASCADE,
    msgs_enviadas       integer NOT NULL DEFAULT 0,
    respostas           integer NOT NULL DEFAULT 0,
    ultima_interacao_em timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cliente_id, chip_id)
);
CREATE INDEX IF NOT EXISTS medico_chip_affinity_chip_idx ON medico_chip_affinity (chip_id);

-- Messages in and out of each chip (T08.1, T08.2, T08.5).
CREATE TABLE IF NOT EXISTS chip_interactions (
    id                  bigserial PRIMARY KEY,
    chip_id             uuid NOT NULL REFERENCES chips (id) ON DELETE CASCADE,
    cliente_id          text,
    telefone            text NOT NULL,
    direction           text NOT NULL CHECK (direction IN ('out', 'in')),
    message_id          bigint,
    provider_message_id text,
    tipo                text,
    obteve_resposta     boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS chip_interactions_chip_time_idx
    ON chip_interactions (chip_id, created_at);
CREATE INDEX IF NOT EXISTS chip_interactions_phone_idx
    ON chip_interactions (chip_id, telefone, created_at);

-- Guardrails (E06): blocked doctors and the audit of every bypass.
CREATE TABLE IF NOT EXISTS guardrail_blocks (
    cliente_id text PRIMARY KEY,
    reason     text NOT NULL,
    blocked_by text NOT NULL,
    blocked_at timestamptz NOT NULL DEFAULT now()
);
-- Messages reserved per doctor per day (weight: a campaign counts 2). A
-- reservation is a conditional upsert, so concurrent workers never let a
-- doctor go over the daily limit; a send that finally fails releases it.
CREATE TABLE IF NOT EXISTS guardrail_counters (
    cliente_id text NOT NULL,
    dia        date NOT NULL,
    used       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (cliente_id, dia)
);
CREATE TABLE IF NOT EXISTS guardrail_bypasses (
    id         bigserial PRIMARY KEY,
    cliente_id text NOT NULL,
    kind       text NOT NULL,      -- unblock, ...
    reason     text NOT NULL,
    actor      text NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The chip counters after a send (T08.1, T07.2). The application may call
-- these too; trust-update recomputes the rolling metrics from events.
CREATE OR REPLACE FUNCTION chip_registrar_envio_sucesso(p_chip_id uuid,
                                                        p_quantidade integer DEFAULT 1)
RETURNS void LANGUAGE sql AS $$
    UPDATE chips SET msgs_enviadas_total = msgs_enviadas_total + p_quantidade,
                     ultimo_envio_em = now(), updated_at = now()
    WHERE id = p_chip_id;
$$;

CREATE OR REPLACE FUNCTION chip_registrar_envio_erro(p_chip_id uuid, p_http_status integer,
                                                     p_motivo text)
RETURNS void LANGUAGE sql AS $$
    UPDATE chips SET erros_ultimas_24h = erros_ultimas_24h + 1, dias_sem_erro = 0,
                     ultimo_erro_em = now(), updated_at = now()
    WHERE id = p_chip_id;
$$;

-- Circuit breaker transitions, each one atomic under the breaker's row lock.
-- chipctl calls these; an operator may too. Every change of state writes a
-- circuit_transitions row.

-- A counted failure (p_counted = 1) or a timeout (p_timeout = 1) of a request
-- through the breaker. Opens it at p_fail_threshold counted failures in a
-- row, or p_timeout_threshold timeouts in a row (single timeouts do not
-- count: a hung provider is still caught); a failed probe reopens it with
-- the backoff doubled up to p_max_backoff. p_retry_after (seconds, or 0)
-- comes from a Retry-After header and can only lengthen the wait.
CREATE OR REPLACE FUNCTION chipctl_breaker_failure(
    p_name text, p_kind text, p_chip_id uuid, p_counted integer, p_timeout integer,
    p_why text, p_worker text, p_fail_threshold integer, p_timeout_threshold integer,
    p_base_backoff integer, p_max_backoff integer, p_retry_after integer,
    p_run_id uuid)
RETURNS TABLE (from_state text, to_state text) LANGUAGE plpgsql AS $$
DECLARE
    b circuit_breakers%ROWTYPE;
    v_opens boolean;
    v_backoff integer;
BEGIN
    INSERT INTO circuit_breakers (name, kind, chip_id, backoff_s)
    VALUES (p_name, p_kind, p_chip_id, p_base_backoff)
    ON CONFLICT (name) DO NOTHING;
    SELECT * INTO b FROM circuit_breakers WHERE name = p_name FOR UPDATE;
    b.consecutive_failures := CASE WHEN p_counted > 0 THEN b.consecutive_failures + 1
                                   ELSE b.consecutive_failures END;
    b.consecutive_timeouts := CASE WHEN p_timeout > 0 THEN b.consecutive_timeouts + 1 ELSE 0 END;
    v_opens := b.override IS DISTINCT FROM 'disabled' AND (
        (b.state = 'half_open' AND (p_counted > 0 OR p_timeout > 0)) OR
        (b.state = 'closed' AND (b.consecutive_failures >= p_fail_threshold OR
                                 b.consecutive_timeouts >= p_timeout_threshold)));
    from_state := b.state;
    IF v_opens THEN
        v_backoff := CASE WHEN b.state = 'half_open' THEN least(b.backoff_s * 2, p_max_backoff)
                          ELSE b.backoff_s END;
        UPDATE circuit_breakers SET prev_state = state, state = 'open', opened_at = now(),
            retry_at = now() + make_interval(secs => greatest(v_backoff, coalesce(p_retry_after, 0))),
            backoff_s = v_backoff, probe_holder = NULL, probe_until = NULL,
            consecutive_failures = b.consecutive_failures,
            consecutive_timeouts = b.consecutive_timeouts,
            last_failure_at = now(), last_failure = p_why,
            version = version + 1, updated_at = now()
        WHERE name = p_name;
        INSERT INTO circuit_transitions (breaker, from_state, to_state, reason, actor, run_id)
        VALUES (p_name, b.state, 'open',
                CASE WHEN b.state = 'half_open' THEN 'probe failed: ' ELSE
                     CASE WHEN b.consecutive_timeouts >= p_timeout_threshold
                          THEN b.consecutive_timeouts || ' timeouts in a row: '
                          ELSE b.consecutive_failures || ' failures in a row: ' END END || p_why,
                coalesce(p_worker, 'chipctl'), p_run_id);
        to_state := 'open';
    ELSE
        UPDATE circuit_breakers SET prev_state = state,
            consecutive_failures = b.consecutive_failures,
            consecutive_timeouts = b.consecutive_timeouts,
            retry_at = CASE WHEN state = 'open' AND p_retry_after > 0
                            THEN greatest(retry_at, now() + make_interval(secs => p_retry_after))
                            ELSE retry_at END,
            last_failure_at = now(), last_failure = p_why, updated_at = now()
        WHERE name = p_name;
        to_state := b.state;
    END IF;
    RETURN NEXT;
END;
$$;

-- A success through these breakers: each one that is not clean closes and
-- resets (counters, backoff), with a transition row when its state changes.
CREATE OR REPLACE FUNCTION chipctl_breaker_success(p_names text[], p_base_backoff integer,
                                                   p_worker text, p_run_id uuid)
RETURNS integer LANGUAGE sql AS $$
    WITH up AS (
        UPDATE circuit_breakers SET prev_state = state, state = 'closed',
            consecutive_failures = 0, consecutive_timeouts = 0, backoff_s = p_base_backoff,
            retry_at = NULL, probe_holder = NULL, probe_until = NULL,
            version = version + 1, updated_at = now()
        WHERE name = ANY (p_names) AND override IS DISTINCT FROM 'forced_open'
          AND (state <> 'closed' OR consecutive_failures > 0 OR consecutive_timeouts > 0)
        RETURNING name, prev_state, state
    ), tr AS (
        INSERT INTO circuit_transitions (breaker, from_state, to_state, reason, actor, run_id)
        SELECT name, prev_state, state, 'request succeeded', coalesce(p_worker, 'chipctl'), p_run_id
        FROM up WHERE prev_state <> state
        RETURNING 1
    )
    SELECT count(*)::integer FROM tr;
$$;

-- Take the one half-open probe of an open breaker whose wait is over (or
-- whose probe holder died: the probe is a lease). True when this caller
-- holds the probe.
CREATE OR REPLACE FUNCTION chipctl_breaker_probe(p_name text, p_worker text, p_lease_s integer,
                                                 p_run_id uuid)
RETURNS boolean LANGUAGE sql AS $$
    WITH up AS (
        UPDATE circuit_breakers SET prev_state = state, state = 'half_open',
            probe_holder = p_worker, probe_until = now() + make_interval(secs => p_lease_s),
            version = version + 1, updated_at = now()
        WHERE name = p_name AND override IS DISTINCT FROM 'forced_open'
          AND ((state = 'open' AND retry_at <= now())
               OR (state = 'half_open' AND probe_until < now()))
        RETURNING name, prev_state
    ), tr AS (
        INSERT INTO circuit_transitions (breaker, from_state, to_state, reason, actor, run_id)
        SELECT name, prev_state, 'half_open',
               CASE WHEN prev_state = 'open' THEN 'backoff elapsed, one probe allowed'
                    ELSE 'previous probe lease expired' END,
               coalesce(p_worker, 'chipctl'), p_run_id
        FROM up WHERE prev_state = 'open'
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM up) OR (SELECT count(*) FROM tr) < 0;
$$;

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

-- Choose the chip for a message, in one query (SPEC 8 step 2): active,
-- connected (Evolution), out of cooldown, not tried yet for this message,
-- provider not skipped, breakers closed (or open and due for their one
-- probe), under the hourly and daily limits scaled by the recovery ramp,
-- trust at least p_fallback. Order: the chip an uncertain send must be
-- retried on, then chips passing the normal threshold with the permission,
-- then the doctor's affinity (a response weighs 3 messages), then the
-- least used. With p_multi false only the default chip (p_default, else
-- the most trusted active chip) is considered. p_picked lists the chips
-- already chosen for earlier messages of the same batch (not sent yet): each
-- occurrence counts as one more use, so a batch spreads and respects limits.
CREATE OR REPLACE FUNCTION chipctl_select_chip(
    p_cliente text, p_tipo text, p_tried uuid[], p_normal numeric, p_fallback numeric,
    p_multi boolean, p_default text, p_prefer text, p_skip text[],
    p_picked uuid[] DEFAULT '{}')
RETURNS TABLE (id uuid, instance_name text, provider text, zapi_instance_id text,
               zapi_token text, trust_score numeric, normal boolean, cprobe boolean,
               pprobe boolean, needs_reset boolean, candidates bigint,
               normal_candidates bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_single text;
BEGIN
    IF NOT p_multi THEN
        v_single := coalesce(p_default, (SELECT c.instance_name FROM chips c
            WHERE c.status = 'active' ORDER BY c.trust_score DESC, c.instance_name LIMIT 1));
    END IF;
    RETURN QUERY
    WITH c AS (
        SELECT c.id, c.instance_name, c.provider, c.zapi_instance_id, c.zapi_token,
            c.trust_score, c.limite_hora, c.limite_dia,
            CASE WHEN p_tipo IN ('prospeccao', 'campanha') THEN c.pode_prospectar
                 WHEN p_tipo = 'followup' THEN c.pode_followup
                 ELSE c.pode_responder END AS perm,
            coalesce(a.respostas, 0) * 3 + coalesce(a.msgs_enviadas, 0) AS affinity,
            CASE WHEN k.hour_start = date_trunc('hour', now()) THEN k.hour_count ELSE 0 END
              + coalesce(array_length(array_positions(p_picked, c.id), 1), 0) AS hour_used,
            CASE WHEN k.day_start = date_trunc('day', now()) THEN k.day_count ELSE 0 END
              + coalesce(array_length(array_positions(p_picked, c.id), 1), 0) AS day_used,
            CASE c.recovery_phase WHEN 1 THEN 0.10 WHEN 2 THEN 0.25 WHEN 3 THEN 0.50
                 ELSE 1 END AS ramp,
            coalesce(cb.override, '') AS cover, coalesce(cb.state, 'closed') AS cstate,
            coalesce(cb.state = 'open' AND cb.retry_at <= now()
                     OR cb.state = 'half_open' AND cb.probe_until < now(), false) AS cdue,
            coalesce(pb.override, '') AS pover, coalesce(pb.state, 'closed') AS pstate,
            coalesce(pb.state = 'open' AND pb.retry_at <= now()
                     OR pb.state = 'half_open' AND pb.probe_until < now(), false) AS pdue,
            coalesce(cb.state <> 'closed' OR cb.consecutive_failures > 0
                     OR cb.consecutive_timeouts > 0, false)
            OR coalesce(pb.state <> 'closed' OR pb.consecutive_failures > 0
                     OR pb.consecutive_timeouts > 0, false) AS needs_reset
        FROM chips c
        LEFT JOIN medico_chip_affinity a ON a.chip_id = c.id AND a.cliente_id = p_cliente
        LEFT JOIN chip_send_counters k ON k.chip_id = c.id
        LEFT JOIN circuit_breakers cb ON cb.name = 'chip:' || c.id
        LEFT JOIN circuit_breakers pb ON pb.name = 'provider:' || c.provider
        WHERE c.status = 'active'
          AND (c.provider = 'zapi' OR c.evolution_connected)
          AND (c.cooldown_until IS NULL OR c.cooldown_until <= now())
          AND (c.connection_cooldown_until IS NULL OR c.connection_cooldown_until <= now())
          AND NOT (c.id = ANY (p_tried))
          AND NOT (c.provider = ANY (p_skip))
          AND c.trust_score >= p_fallback
          AND (p_multi OR c.instance_name = v_single)
    ), e AS (
        SELECT c.*, c.trust_score >= p_normal AND c.perm AS normal,
            c.cstate <> 'closed' AND c.cover <> 'disabled' AS cprobe,
            c.pstate <> 'closed' AND c.pover <> 'disabled' AS pprobe
        FROM c
        WHERE (c.cstate = 'closed' OR c.cover = 'disabled' OR (c.cdue AND c.cover <> 'forced_open'))
          AND (c.pstate = 'closed' OR c.pover = 'disabled' OR (c.pdue AND c.pover <> 'forced_open'))
          AND c.hour_used < floor(c.limite_hora * c.ramp)
          AND c.day_used < floor(c.limite_dia * c.ramp)
    )
    SELECT e.id, e.instance_name, e.provider, e.zapi_instance_id, e.zapi_token,
        e.trust_score, e.normal, e.cprobe, e.pprobe, e.needs_reset,
        count(*) OVER (), count(*) FILTER (WHERE e.normal) OVER ()
    FROM e
    ORDER BY (e.id::text = p_prefer) DESC NULLS LAST, e.normal DESC, e.affinity DESC,
        e.day_used, e.hour_used, e.trust_score DESC, e.instance_name
    LIMIT 1;
END;
$$;

-- Record a successful send. The message becomes 'enviada' only while it
-- is still 'processando' and claimed by p_worker (the stuck-queue rescue
-- may have taken it back: then its state is left alone, but the attempt,
-- the chip's counters, the interaction and the affinity are still real).
-- Returns whether the message row was updated.
CREATE OR REPLACE FUNCTION chipctl_record_success(
    p_msg bigint, p_worker text, p_chip uuid, p_provider text, p_attempt integer,
    p_status integer, p_latency integer, p_provider_msg text, p_correlation uuid,
    p_run uuid, p_tipo text, p_mode text, p_candidates integer, p_threshold integer,
    p_note text, p_cliente text, p_telefone text, p_reset_breakers boolean,
    p_base_backoff integer)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_recorded boolean;
BEGIN
    UPDATE fila_mensagens SET status = 'enviada', enviada_em = now(), chip_id = p_chip,
        outcome = 'SENT', outcome_reason_code = NULL,
        provider_message_id = nullif(p_provider_msg, ''),
        tentativas = tentativas + 1, processando_desde = NULL, ultimo_erro = NULL,
        updated_at = now()
    WHERE id = p_msg AND status = 'processando' AND worker_id = p_worker;
    v_recorded := FOUND;
    INSERT INTO send_attempts (message_id, chip_id, provider, attempt, http_status,
        latency_ms, result, error, correlation_id, worker_id, run_id)
    VALUES (p_msg, p_chip, p_provider, p_attempt, p_status, p_latency, 'ok',
        nullif(p_note, ''), p_correlation, p_worker, p_run);
    INSERT INTO chip_selection_log (message_id, tipo, chip_id, mode, candidates,
        threshold, reason, worker_id)
    VALUES (p_msg, p_tipo, p_chip, p_mode, p_candidates, p_threshold, 'sent', p_worker);
    INSERT INTO chip_send_counters AS k (chip_id, hour_start, hour_count, day_start, day_count)
    VALUES (p_chip, date_trunc('hour', now()), 1, date_trunc('day', now()), 1)
    ON CONFLICT (chip_id) DO UPDATE SET
        hour_count = CASE WHEN k.hour_start = EXCLUDED.hour_start THEN k.hour_count + 1 ELSE 1 END,
        hour_start = EXCLUDED.hour_start,
        day_count = CASE WHEN k.day_start = EXCLUDED.day_start THEN k.day_count + 1 ELSE 1 END,
        day_start = EXCLUDED.day_start;
    INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction, message_id,
        provider_message_id, tipo)
    VALUES (p_chip, p_cliente, p_telefone, 'out', p_msg, nullif(p_provider_msg, ''), p_tipo);
    INSERT INTO medico_chip_affinity AS a (cliente_id, chip_id, msgs_enviadas)
    VALUES (p_cliente, p_chip, 1)
    ON CONFLICT (cliente_id, chip_id) DO UPDATE SET msgs_enviadas = a.msgs_enviadas + 1,
        ultima_interacao_em = now();
    PERFORM chip_registrar_envio_sucesso(p_chip);
    IF p_reset_breakers THEN
        PERFORM chipctl_breaker_success(ARRAY['chip:' || p_chip, 'provider:' || p_provider],
                                        p_base_backoff, p_worker, p_run);
    END IF;
    RETURN v_recorded;
END;
$$;

-- Record a failed attempt: the attempt row, the selection, and when the
-- chip is at fault (p_chip_fault) its error counters and either a
-- cooldown of p_cooldown_s or, for a closed session (p_disconnected), the
-- chip marked disconnected.
CREATE OR REPLACE FUNCTION chipctl_record_failure(
    p_msg bigint, p_chip uuid, p_provider text, p_attempt integer, p_status integer,
    p_latency integer, p_result text, p_uncertain boolean, p_error text,
    p_correlation uuid, p_worker text, p_run uuid, p_tipo text, p_mode text,
    p_candidates integer, p_threshold integer, p_chip_fault boolean,
    p_disconnected boolean, p_cooldown_s integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO send_attempts (message_id, chip_id, provider, attempt, http_status,
        latency_ms, result, uncertain, error, correlation_id, worker_id, run_id)
    VALUES (p_msg, p_chip, p_provider, p_attempt, nullif(p_status, 0), p_latency, p_result,
        p_uncertain, p_error, p_correlation, p_worker, p_run);
    INSERT INTO chip_selection_log (message_id, tipo, chip_id, mode, candidates,
        threshold, reason, worker_id)
    VALUES (p_msg, p_tipo, p_chip, p_mode, p_candidates, p_threshold,
        'failed: ' || p_error, p_worker);
    IF p_chip_fault THEN
        PERFORM chip_registrar_envio_erro(p_chip, nullif(p_status, 0), p_error);
        IF p_disconnected THEN
            UPDATE chips SET evolution_connected = false,
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

CREATE OR REPLACE FUNCTION chipctl_select_chips(
    p_clientes text[], p_tipos text[], p_normals numeric[], p_fallbacks numeric[],
    p_prefers text[], p_multi boolean, p_default text, p_skip text[])
RETURNS TABLE (idx integer, id uuid, instance_name text, provider text,
               zapi_instance_id text, zapi_token text, trust_score numeric,
               normal boolean, cprobe boolean, pprobe boolean, needs_reset boolean,
               candidates bigint, normal_candidates bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    i integer;
    r record;
    v_picked uuid[] := '{}';
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_clientes, 1), 0) LOOP
        SELECT * INTO r FROM chipctl_select_chip(p_clientes[i], p_tipos[i], '{}',
            p_normals[i], p_fallbacks[i], p_multi, p_default, p_prefers[i], p_skip, v_picked);
        IF FOUND THEN
            v_picked := v_picked || r.id;
            idx := i; id := r.id; instance_name := r.instance_name; provider := r.provider;
            zapi_instance_id := r.zapi_instance_id; zapi_token := r.zapi_token;
            trust_score := r.trust_score; normal := r.normal; cprobe := r.cprobe;
            pprobe := r.pprobe; needs_reset := r.needs_reset; candidates := r.candidates;
            normal_candidates := r.normal_candidates;
            RETURN NEXT;
        END IF;
    END LOOP;
END;
$$;

-- Returns the ids of the messages whose row was no longer claimed by
-- p_worker (sent, but their state was left as the rescue set it).
CREATE OR REPLACE FUNCTION chipctl_record_success_batch(
    p_msgs bigint[], p_chips uuid[], p_providers text[], p_attempts integer[],
    p_status integer[], p_latency integer[], p_provider_msgs text[],
    p_correlations uuid[], p_tipos text[], p_modes text[], p_candidates integer[],
    p_thresholds integer[], p_notes text[], p_clientes text[], p_telefones text[],
    p_resets boolean[], p_worker text, p_run uuid, p_base_backoff integer)
RETURNS SETOF bigint LANGUAGE plpgsql AS $$
BEGIN
    -- Each statement reads the arrays afresh (no temporary table: nothing
    -- may outlive the transaction in the session, for the poolers).
    RETURN QUERY
    WITH b AS (SELECT * FROM unnest(p_msgs) AS u(msg)),
    done AS (
        UPDATE fila_mensagens f SET status = 'enviada', enviada_em = now(), chip_id = u.chip,
            outcome = 'SENT', outcome_reason_code = NULL,
            provider_message_id = nullif(u.pmid, ''), tentativas = f.tentativas + 1,
            processando_desde = NULL, ultimo_erro = NULL, updated_at = now()
        FROM unnest(p_msgs, p_chips, p_provider_msgs) AS u(msg, chip, pmid)
        WHERE f.id = u.msg AND f.status = 'processando' AND f.worker_id = p_worker
        RETURNING f.id
    )
    SELECT b.msg FROM b WHERE b.msg NOT IN (SELECT id FROM done);
    INSERT INTO send_attempts (message_id, chip_id, provider, attempt, http_status,
        latency_ms, result, error, correlation_id, worker_id, run_id)
    SELECT u.msg, u.chip, u.provider, u.attempt, u.status, u.latency, 'ok',
        nullif(u.note, ''), u.corr, p_worker, p_run
    FROM unnest(p_msgs, p_chips, p_providers, p_attempts, p_status, p_latency, p_notes,
                p_correlations) AS u(msg, chip, provider, attempt, status, latency, note, corr);
    INSERT INTO chip_selection_log (message_id, tipo, chip_id, mode, candidates,
        threshold, reason, worker_id)
    SELECT u.msg, u.tipo, u.chip, u.mode, u.cand, u.thr, 'sent', p_worker
    FROM unnest(p_msgs, p_tipos, p_chips, p_modes, p_candidates, p_thresholds)
        AS u(msg, tipo, chip, mode, cand, thr);
    INSERT INTO chip_send_counters AS k (chip_id, hour_start, hour_count, day_start, day_count)
    SELECT u.chip, date_trunc('hour', now()), count(*), date_trunc('day', now()), count(*)
    FROM unnest(p_chips) AS u(chip) GROUP BY u.chip ORDER BY u.chip
    ON CONFLICT (chip_id) DO UPDATE SET
        hour_count = CASE WHEN k.hour_start = EXCLUDED.hour_start
                          THEN k.hour_count + EXCLUDED.hour_count ELSE EXCLUDED.hour_count END,
        hour_start = EXCLUDED.hour_start,
        day_count = CASE WHEN k.day_start = EXCLUDED.day_start
                         THEN k.day_count + EXCLUDED.day_count ELSE EXCLUDED.day_count END,
        day_start = EXCLUDED.day_start;
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
    -- one call per chip, in a fixed order, so concurrent batches lock the
    -- chips the same way
    PERFORM chip_registrar_envio_sucesso(g.chip, g.k::integer)
    FROM (SELECT u.chip, count(*) AS k FROM unnest(p_chips) AS u(chip)
          GROUP BY u.chip ORDER BY u.chip) g;
    IF true = ANY (p_resets) THEN
        PERFORM chipctl_breaker_success(
            ARRAY(SELECT DISTINCT x FROM unnest(p_chips, p_providers, p_resets) AS u(chip, prov, r),
                  LATERAL (VALUES ('chip:' || u.chip), ('provider:' || u.prov)) v(x)
                  WHERE u.r),
            p_base_backoff, p_worker, p_run);
    END IF;
END;
$$;
