-- sql/functions/10_alerts.sql: the alert outbox.
-- Owns: holding back the per-chip alerts a provider outage explains, at
-- raise time, whoever raises them (a trigger, so no raiser can forget).

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

CREATE OR REPLACE TRIGGER alert_outbox_inhibit BEFORE INSERT ON alert_outbox
    FOR EACH ROW EXECUTE FUNCTION chipctl_alert_inhibit();
