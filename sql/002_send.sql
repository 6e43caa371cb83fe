-- 002_send: the send path (SPEC section 8): circuit breakers held in
-- PostgreSQL, send attempts, chip selection decisions, the doctor-chip
-- affinity and interactions, guardrails, and the chip counter functions.
-- (Its functions and views live in sql/functions/ since issue 18.)

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
