-- 005_observability: metrics snapshots, alert inhibition, and the indexes the
-- watchdog, the health checks and the metrics need (SPEC section 5, issue 6).

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

-- Is the outage of provider p on?
CREATE OR REPLACE FUNCTION chipctl_provider_outage(p text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM circuit_breakers b
                   WHERE b.name = 'provider:' || p
                     AND (b.override = 'forced_open'
                          OR (b.state = 'open' AND b.override IS DISTINCT FROM 'disabled')))
        OR EXISTS (SELECT 1 FROM alert_state s
                   WHERE s.alert_key = 'provider_outage:' || p AND s.active);
$$;

-- At raise time, whoever raises it: one place, so no raiser can forget.
-- A resolved notice for a key whose alert is held back is held back too.
CREATE OR REPLACE FUNCTION chipctl_alert_inhibit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    p text;
BEGIN
    IF NEW.status <> 'pending' OR NEW.subject IS NULL THEN
        RETURN NEW;
    END IF;
    IF NEW.resolved THEN
        IF EXISTS (SELECT 1 FROM alert_outbox o
                   WHERE o.status = 'inhibited' AND o.alert_key = NEW.alert_key
                     AND NOT o.resolved AND o.inhibited_by LIKE 'provider_outage:%') THEN
            NEW.status := 'inhibited';
            NEW.inhibited_by := 'resolved while held back';
        END IF;
        RETURN NEW;
    END IF;
    SELECT c.provider INTO p
    FROM chips c JOIN alert_inhibit_rules r
      ON r.provider = c.provider AND r.target_type = NEW.alert_type
    WHERE c.instance_name = NEW.subject;
    IF p IS NOT NULL AND chipctl_provider_outage(p) THEN
        NEW.status := 'inhibited';
        NEW.inhibited_by := 'provider_outage:' || p;
    END IF;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS alert_outbox_inhibit ON alert_outbox;
CREATE TRIGGER alert_outbox_inhibit BEFORE INSERT ON alert_outbox
    FOR EACH ROW EXECUTE FUNCTION chipctl_alert_inhibit();
