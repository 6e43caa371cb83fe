-- 003_lifecycle: the chip lifecycle (issue 4, SPEC sections 5 and 7).
-- What sync-evolution, pool-check, provision and the operator chip
-- commands need beyond the core schema: the server's view of each
-- instance, Salvy numbers, conversations and their migrations (T11.4),
-- pool alerts (T11.3), provisioning requests and the audit of manual
-- changes that are not status changes (cooldowns).

ALTER TABLE chips ADD COLUMN IF NOT EXISTS evolution_number text;
ALTER TABLE chips ADD COLUMN IF NOT EXISTS salvy_account_id text;
ALTER TABLE chips ADD COLUMN IF NOT EXISTS salvy_canceled_at timestamptz;
ALTER TABLE chips ADD COLUMN IF NOT EXISTS provisioned_at timestamptz;
CREATE INDEX IF NOT EXISTS chips_provisioned_at_idx
    ON chips (provisioned_at) WHERE salvy_account_id IS NOT NULL;

-- The application's conversations (seed T11.4: conversations with chip_id,
-- status 'active', cliente_id, chip_migrado_de, chip_migrado_em).
CREATE TABLE IF NOT EXISTS conversations (
    id                  text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    cliente_id          text NOT NULL,
    telefone            text NOT NULL,
    chip_id             uuid REFERENCES chips (id) ON DELETE SET NULL,
    status              text NOT NULL DEFAULT 'active',
    ultima_interacao_em timestamptz,
    chip_migrado_de     uuid,
    chip_migrado_em     timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS conversations_chip_active_idx
    ON conversations (chip_id) WHERE status = 'active';

-- One row per conversation moved off a demoted chip (T11.4).
CREATE TABLE IF NOT EXISTS chip_migrations (
    id                    bigserial PRIMARY KEY,
    conversa_id           text NOT NULL,
    cliente_id            text,
    chip_origem           uuid NOT NULL,
    chip_destino          uuid NOT NULL,
    interacoes_count      integer NOT NULL DEFAULT 0,
    motivo                text NOT NULL,
    continuidade_agendada boolean NOT NULL DEFAULT false,
    mensagem_id           bigint,
    run_id                uuid,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS chip_migrations_time_idx ON chip_migrations (created_at);

-- Every pool alert pool-check queued (T11.3), with the counts behind it.
CREATE TABLE IF NOT EXISTS pool_alerts (
    id         bigserial PRIMARY KEY,
    tipo       text NOT NULL,
    severidade text NOT NULL CHECK (severidade IN ('info', 'warning', 'critical')),
    mensagem   text NOT NULL,
    counts     jsonb NOT NULL DEFAULT '{}',
    run_id     uuid,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS pool_alerts_tipo_idx ON pool_alerts (tipo, created_at DESC);

-- A need for new numbers: raised by pool-check when ready plus warming
-- cannot cover the deficit, or by `chipctl provision`.
CREATE TABLE IF NOT EXISTS provisioning_requests (
    id          bigserial PRIMARY KEY,
    requested   integer NOT NULL CHECK (requested > 0),
    provisioned integer NOT NULL DEFAULT 0,
    area_code   integer,
    status      text NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'fulfilled', 'partial', 'failed')),
    reason      text NOT NULL,
    actor       text NOT NULL,
    error       text,
    run_id      uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS provisioning_requests_open_idx
    ON provisioning_requests (created_at) WHERE status = 'open';

-- Manual changes by an operator that are not status changes (a status
-- change is a chip_status_transitions row with the operator as actor).
CREATE TABLE IF NOT EXISTS chip_manual_actions (
    id         bigserial PRIMARY KEY,
    chip_id    uuid NOT NULL REFERENCES chips (id) ON DELETE CASCADE,
    action     text NOT NULL,
    reason     text NOT NULL,
    actor      text NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}',
    run_id     uuid,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS chip_manual_actions_chip_idx
    ON chip_manual_actions (chip_id, created_at DESC);
