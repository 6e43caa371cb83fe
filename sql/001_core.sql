-- 001_core: the core schema of chipctl (SPEC section 4).
-- The chips pool, the outbound queue, job runs and their leases, the alert
-- outbox and the audit of chip status changes. Later migrations add the
-- tables of the send path, the lifecycle and the trust score.

CREATE TABLE IF NOT EXISTS chips (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    telefone                  text NOT NULL,
    instance_name             text NOT NULL UNIQUE,
    provider                  text NOT NULL DEFAULT 'evolution'
                              CHECK (provider IN ('evolution', 'zapi')),
    zapi_instance_id          text,
    zapi_token                text,
    status                    text NOT NULL DEFAULT 'provisioned'
                              CHECK (status IN ('provisioned', 'pending', 'warming',
                                     'ready', 'active', 'degraded', 'banned')),
    trust_score               numeric(5,2) NOT NULL DEFAULT 50
                              CHECK (trust_score BETWEEN 0 AND 100),
    trust_level               text NOT NULL DEFAULT 'laranja'
                              CHECK (trust_level IN ('verde', 'amarelo', 'laranja',
                                     'vermelho', 'critico')),
    pode_prospectar           boolean NOT NULL DEFAULT false,
    pode_followup             boolean NOT NULL DEFAULT false,
    pode_responder            boolean NOT NULL DEFAULT true,
    evolution_connected       boolean NOT NULL DEFAULT false,
    desconectado_desde        timestamptz,
    connection_cooldown_until timestamptz,
    cooldown_until            timestamptz,
    cooldown_reason           text,
    msgs_enviadas_total       bigint NOT NULL DEFAULT 0,
    msgs_recebidas_total      bigint NOT NULL DEFAULT 0,
    erros_ultimas_24h         integer NOT NULL DEFAULT 0,
    dias_sem_erro             integer NOT NULL DEFAULT 0,
    taxa_delivery             numeric(6,4),
    taxa_resposta             numeric(6,4),
    taxa_block                numeric(6,4),
    conversas_bidirecionais   integer NOT NULL DEFAULT 0,
    diversidade_midia         integer NOT NULL DEFAULT 0,
    ultimo_envio_em           timestamptz,
    ultimo_erro_em            timestamptz,
    limite_hora               integer NOT NULL DEFAULT 20 CHECK (limite_hora >= 0),
    limite_dia                integer NOT NULL DEFAULT 100 CHECK (limite_dia >= 0),
    recovery_phase            smallint CHECK (recovery_phase BETWEEN 0 AND 4),
    recovery_started_at       timestamptz,
    warming_started_at        timestamptz,
    demovido_em               timestamptz,
    demovido_motivo           text,
    profile_name              text,
    owner_jid                 text,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS chips_status_idx ON chips (status, trust_score DESC);

-- Every change of a chip's status: from, to, reason, actor, time (SPEC 7).
CREATE TABLE IF NOT EXISTS chip_status_transitions (
    id          bigserial PRIMARY KEY,
    chip_id     uuid NOT NULL REFERENCES chips (id) ON DELETE CASCADE,
    from_status text,
    to_status   text NOT NULL,
    reason      text NOT NULL,
    actor       text NOT NULL,
    run_id      uuid,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS chip_status_transitions_chip_idx
    ON chip_status_transitions (chip_id, created_at DESC);

CREATE TABLE IF NOT EXISTS fila_mensagens (
    id                  bigserial PRIMARY KEY,
    cliente_id          text NOT NULL,
    telefone            text NOT NULL,
    conteudo            text NOT NULL,
    tipo                text NOT NULL DEFAULT 'followup'
                        CHECK (tipo IN ('prospeccao', 'followup', 'resposta', 'campanha')),
    prioridade          smallint NOT NULL DEFAULT 5,
    status              text NOT NULL DEFAULT 'pendente'
                        CHECK (status IN ('pendente', 'processando', 'enviada',
                               'erro', 'cancelada')),
    tentativas          integer NOT NULL DEFAULT 0 CHECK (tentativas >= 0),
    max_tentativas      integer NOT NULL DEFAULT 3 CHECK (max_tentativas >= 1),
    agendar_para        timestamptz NOT NULL DEFAULT now(),
    processando_desde   timestamptz,
    worker_id           text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    enviada_em          timestamptz,
    chip_id             uuid REFERENCES chips (id) ON DELETE SET NULL,
    conversa_id         text,
    outcome             text CHECK (outcome IN ('SENT', 'FAILED_EXPIRED',
                        'FAILED_CIRCUIT_OPEN', 'FAILED_ALL_CHIPS', 'FAILED_RATE_LIMIT',
                        'FAILED_INVALID_NUMBER', 'FAILED_GUARDRAIL',
                        'FAILED_MAX_ATTEMPTS', 'FAILED_NO_CHIP', 'FAILED_PROVIDER')),
    outcome_reason_code text,
    correlation_id      uuid NOT NULL DEFAULT gen_random_uuid(),
    provider_message_id text,
    ultimo_erro         text
);
-- The send-worker's claim walks this in order: priority, then age.
CREATE INDEX IF NOT EXISTS fila_pendente_claim_idx
    ON fila_mensagens (prioridade, agendar_para, id) WHERE status = 'pendente';
-- Due and overdue pending messages by due time (backlog, --expire).
CREATE INDEX IF NOT EXISTS fila_pendente_due_idx
    ON fila_mensagens (agendar_para) WHERE status = 'pendente';
-- reset-stuck-queue --expire and the backlog check: pending by age.
CREATE INDEX IF NOT EXISTS fila_pendente_created_idx
    ON fila_mensagens (created_at) WHERE status = 'pendente';
-- reset-stuck-queue: processing by when it was claimed.
CREATE INDEX IF NOT EXISTS fila_processando_idx
    ON fila_mensagens (processando_desde) WHERE status = 'processando';
-- guardrails: messages to a doctor over the last days.
CREATE INDEX IF NOT EXISTS fila_cliente_enviada_idx
    ON fila_mensagens (cliente_id, enviada_em) WHERE enviada_em IS NOT NULL;
-- chip counters and health: what a chip sent recently.
CREATE INDEX IF NOT EXISTS fila_chip_enviada_idx
    ON fila_mensagens (chip_id, enviada_em) WHERE chip_id IS NOT NULL;
-- health and metrics: failures over the last hour. (No index on updated_at
-- alone: it would make every status change a non-HOT update.)
CREATE INDEX IF NOT EXISTS fila_erro_updated_idx
    ON fila_mensagens (updated_at) WHERE status = 'erro';

CREATE TABLE IF NOT EXISTS job_leases (
    job_name    text PRIMARY KEY,
    holder      text NOT NULL,
    host        text NOT NULL,
    pid         integer NOT NULL,
    acquired_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS job_executions (
    id          bigserial PRIMARY KEY,
    job_name    text NOT NULL,
    run_id      uuid NOT NULL,
    host        text NOT NULL,
    pid         integer NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'success', 'failed',
                                     'skipped', 'abandoned')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    counts      jsonb NOT NULL DEFAULT '{}',
    error       text,
    exit_code   integer
);
CREATE INDEX IF NOT EXISTS job_executions_job_idx
    ON job_executions (job_name, started_at DESC);
CREATE INDEX IF NOT EXISTS job_executions_running_idx
    ON job_executions (job_name) WHERE status = 'running';

-- Cooldown and active state per alert key (type plus subject).
CREATE TABLE IF NOT EXISTS alert_state (
    alert_key        text PRIMARY KEY,
    alert_type       text NOT NULL,
    subject          text,
    active           boolean NOT NULL DEFAULT true,
    last_raised_at   timestamptz,
    last_resolved_at timestamptz
);

CREATE TABLE IF NOT EXISTS alert_outbox (
    id              bigserial PRIMARY KEY,
    alert_key       text NOT NULL,
    alert_type      text NOT NULL,
    subject         text,
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    text            text NOT NULL,
    resolved        boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'unrouted')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_by      uuid,
    claimed_until   timestamptz,
    last_error      text,
    run_id          uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX IF NOT EXISTS alert_outbox_pending_idx
    ON alert_outbox (next_attempt_at, id) WHERE status = 'pending';

-- One row per send-worker process, written every cycle (T01.6).
CREATE TABLE IF NOT EXISTS worker_heartbeats (
    worker_id    text PRIMARY KEY,
    host         text NOT NULL,
    pid          integer NOT NULL,
    run_id       uuid,
    started_at   timestamptz NOT NULL DEFAULT now(),
    last_beat_at timestamptz NOT NULL DEFAULT now(),
    messages_sent bigint NOT NULL DEFAULT 0,
    messages_failed bigint NOT NULL DEFAULT 0
);
