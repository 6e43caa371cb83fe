-- 005_observability: metrics snapshots, alert inhibition, and the indexes the
-- watchdog, the health checks and the metrics need (SPEC section 5, issue 6).
-- (Its functions and views live in sql/functions/ since issue 18.)

-- What metrics-snapshot persists every 5 minutes (T03.2); 7 days are kept.
CREATE TABLE IF NOT EXISTS metrics_snapshots (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    value      double precision NOT NULL,
    labels     jsonb NOT NULL DEFAULT '{}',
    run_id     uuid,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS metrics_snapshots_name_time_idx
    ON metrics_snapshots (name, created_at DESC);
CREATE INDEX IF NOT EXISTS metrics_snapshots_time_idx
    ON metrics_snapshots (created_at);

-- Health and metrics: messages sent in the last hour, without walking the
-- 70 % of the queue that is 'enviada'.
CREATE INDEX IF NOT EXISTS fila_enviada_em_idx
    ON fila_mensagens (enviada_em) WHERE status = 'enviada';

-- Inhibition: while a provider-wide outage is on, the per-chip alerts it
-- explains are held back. A rule says which alert types (their subject is
-- the chip's instance name) a provider's outage explains. The outage is on
-- while the provider's breaker is open (or forced open), or while its alert
-- key (e.g. 'provider_outage:evolution') is active in alert_state.
CREATE TABLE IF NOT EXISTS alert_inhibit_rules (
    target_type text NOT NULL,
    provider    text NOT NULL CHECK (provider IN ('evolution', 'zapi')),
    PRIMARY KEY (target_type, provider)
);
-- What an outage explains: errors, disconnections, open chip breakers,
-- cooldowns, and what follows from them (demotion, a trust drop). Not a
-- ban or a WhatsApp restriction, which are about the chip itself.
INSERT INTO alert_inhibit_rules (target_type, provider)
SELECT t, p
FROM unnest(ARRAY['chip_error', 'chip_disconnected', 'chip_circuit_open',
                  'chip_cooldown', 'chip_demoted', 'trust_low']) AS t,
     unnest(ARRAY['evolution', 'zapi']) AS p
ON CONFLICT DO NOTHING;

-- A held-back alert is a row with status 'inhibited' and the outage that
-- explains it; the watchdog releases it (back to 'pending') when the outage
-- is over and the alert's key is still active, and leaves it otherwise.
ALTER TABLE alert_outbox DROP CONSTRAINT IF EXISTS alert_outbox_status_check;
ALTER TABLE alert_outbox ADD CONSTRAINT alert_outbox_status_check
    CHECK (status IN ('pending', 'sent', 'unrouted', 'inhibited'));
ALTER TABLE alert_outbox ADD COLUMN IF NOT EXISTS inhibited_by text;
-- The watchdog's release (by outage) and the trigger's check (by key).
CREATE INDEX IF NOT EXISTS alert_outbox_inhibited_idx
    ON alert_outbox (inhibited_by) WHERE status = 'inhibited';
CREATE INDEX IF NOT EXISTS alert_outbox_inhibited_key_idx
    ON alert_outbox (alert_key) WHERE status = 'inhibited';
