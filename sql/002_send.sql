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
CREATE OR REPLACE FUNCTION chip_registrar_envio_sucesso(p_chip_id uuid)
RETURNS void LANGUAGE sql AS $$
    UPDATE chips SET msgs_enviadas_total = msgs_enviadas_total + 1,
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
