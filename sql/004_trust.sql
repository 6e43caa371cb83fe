-- 004_trust: the trust score (SPEC 7, issue 5) and what feeds it: receipts,
-- inbound responses, bidirectional conversations, critical chip events,
-- the score history, and the webhook events already applied (idempotence
-- of `chipctl ingest`). The score itself is computed here, set-based, by
-- chip_trust_recalcular(); `chipctl trust-update` passes it the weights of
-- the config, and stores nothing the function did not compute, so `chip
-- explain` shows exactly the numbers that produced the stored score.
-- (Its functions and views live in sql/functions/ since issue 18.)

-- json, not jsonb: built for every chip on every run, read only by explain
ALTER TABLE chips ADD COLUMN IF NOT EXISTS trust_factors json;
ALTER TABLE chips ADD COLUMN IF NOT EXISTS trust_updated_at timestamptz;
-- text, image, audio, video, document, sticker, ... (NULL = text)
ALTER TABLE chip_interactions ADD COLUMN IF NOT EXISTS media_type text;

-- One row per chip per recomputation (trust-update run or urgent one).
CREATE TABLE IF NOT EXISTS chip_trust_history (
    id             bigserial PRIMARY KEY,
    chip_id        uuid NOT NULL REFERENCES chips (id) ON DELETE CASCADE,
    run_id         uuid,
    motivo         text NOT NULL,
    trust_score    numeric(5,2) NOT NULL,
    trust_level    text NOT NULL,
    previous_score numeric(5,2),
    previous_level text,
    -- the eight factors' points, in the order of chip explain: age,
    -- delivery, response, bidirectional, media, errors, block, phase (the
    -- chip's trust_factors has the inputs of the latest computation)
    points         numeric(6,2)[] NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS chip_trust_history_chip_idx
    ON chip_trust_history (chip_id, created_at DESC);
-- trust-update prunes by age
CREATE INDEX IF NOT EXISTS chip_trust_history_time_idx ON chip_trust_history (created_at);

-- Errors and block signals not seen in send_attempts: errors the
-- application reports through chip_registrar_envio_erro, and blocks and
-- ban signals from webhooks.
CREATE TABLE IF NOT EXISTS chip_trust_events (
    id          bigserial PRIMARY KEY,
    chip_id     uuid NOT NULL REFERENCES chips (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('send_error', 'forbidden', 'block', 'ban')),
    http_status integer,
    detail      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS chip_trust_events_chip_idx
    ON chip_trust_events (chip_id, created_at);
CREATE INDEX IF NOT EXISTS chip_trust_events_time_idx ON chip_trust_events (created_at);
-- trust-update reads the interactions of the window for every chip at once
CREATE INDEX IF NOT EXISTS chip_interactions_time_idx ON chip_interactions (created_at);
-- ... and the failed send attempts (a few percent of them)
CREATE INDEX IF NOT EXISTS send_attempts_failed_time_idx ON send_attempts (created_at)
    WHERE result IN ('network', '4xx', '5xx');

-- Delivery receipts (messages.update) of the messages a chip sent, one row
-- per provider message id; a repeated receipt changes nothing.
CREATE TABLE IF NOT EXISTS message_receipts (
    provider_message_id text PRIMARY KEY,
    chip_id             uuid REFERENCES chips (id) ON DELETE CASCADE,
    last_status         text NOT NULL,
    server_ack_at       timestamptz,
    delivered_at        timestamptz,
    read_at             timestamptz,
    error_at            timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS message_receipts_chip_idx ON message_receipts (chip_id, updated_at);
CREATE INDEX IF NOT EXISTS message_receipts_time_idx ON message_receipts (updated_at);

-- Each (chip, number) counted once as a bidirectional conversation (T08.5).
CREATE TABLE IF NOT EXISTS chip_conversas_bidirecionais (
    chip_id     uuid NOT NULL REFERENCES chips (id) ON DELETE CASCADE,
    telefone    text NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chip_id, telefone)
);

-- Webhook events applied by `chipctl ingest`, by identity: the same event
-- delivered twice (Evolution retries) is applied once. trust-update drops
-- keys older than 7 days (Evolution stops retrying long before).
CREATE TABLE IF NOT EXISTS webhook_events (
    event_key   text PRIMARY KEY,
    event       text NOT NULL,
    instance    text NOT NULL,
    chip_id     uuid,
    run_id      uuid,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_events_time_idx ON webhook_events (received_at);
