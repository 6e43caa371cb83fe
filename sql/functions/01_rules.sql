-- sql/functions/01_rules.sql: the small rules everything else reads.
-- Owns: a phone number's normal form (chip_normalizar_telefone), the
-- recovery ramp of a restricted chip's limits, whether a message's attempts
-- are used up or it has expired, whether a chip is connected by its own
-- provider, and whether a chip may send a message type (its permission, or
-- the fallback threshold).

-- A WhatsApp JID or a typed number to digits only, as the send path stores
-- it: '5511999990001:12@s.whatsapp.net' -> '5511999990001'.
CREATE OR REPLACE FUNCTION chip_normalizar_telefone(p text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(split_part(split_part(coalesce(p, ''), '@', 1), ':', 1), '[^0-9]', '', 'g');
$$;

-- The share of its limits a chip in recovery may use (T10.3): 10 % on day
-- 1, 25 % on days 2-3, 50 % on days 4-6, then all of it.
CREATE OR REPLACE FUNCTION chipctl_recovery_ramp(p_phase integer)
RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_phase WHEN 1 THEN 0.10 WHEN 2 THEN 0.25 WHEN 3 THEN 0.50 ELSE 1 END;
$$;

-- Are a message's attempts used up, at this count of attempts spent?
CREATE OR REPLACE FUNCTION chipctl_attempts_exhausted(p_tentativas integer, p_max integer)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT p_tentativas >= p_max;
$$;

-- Has a pending message outlived p_hours since its first due time?
CREATE OR REPLACE FUNCTION chipctl_message_expired(p_first_due timestamptz,
                                                   p_agendar timestamptz, p_hours integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(p_first_due, p_agendar) < now() - make_interval(hours => p_hours);
$$;

-- Is a chip connected? Evolution's state for Evolution chips, Z-API's for
-- Z-API chips.
CREATE OR REPLACE FUNCTION chipctl_chip_connected(p_provider text, p_evolution_connected boolean,
                                                  p_zapi_connected boolean)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_provider WHEN 'zapi' THEN p_zapi_connected ELSE p_evolution_connected END;
$$;

-- 007_jobs_health: what the pool may still do, defined once (issue 11).
--
-- A chip may do a kind of sending when it is active and its permission for
-- that kind is set (trust-update sets the permissions from its score).
-- pool-check's critical alert "Nenhum chip disponível para prospecção" fires
-- while may_prospect is 0, and `health chips` is CRITICAL while may_prospect
-- or may_followup is 0: both read this view, so they never disagree.
CREATE OR REPLACE FUNCTION chipctl_chip_permitted(p_status text, p_permission boolean)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT p_status = 'active' AND coalesce(p_permission, false);
$$;
