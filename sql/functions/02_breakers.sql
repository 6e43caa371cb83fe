-- sql/functions/02_breakers.sql: the circuit breakers (SPEC section 8).
-- Owns: a breaker's effective state (overrides included) and whether a
-- probe is due, the chipctl_breakers view every reader shares, counting a
-- failure, closing on success, taking the one probe of a half-open breaker,
-- and whether a provider is in an outage.

-- A breaker's effective state, operator overrides included: forced open is
-- open, disabled is closed, no row is closed.
CREATE OR REPLACE FUNCTION chipctl_breaker_effective(p_state text, p_override text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_override WHEN 'forced_open' THEN 'open' WHEN 'disabled' THEN 'closed'
                ELSE coalesce(p_state, 'closed') END;
$$;

-- May one probe go through now (open and its wait over, or half-open with
-- its probe's lease expired)? Never under an override.
CREATE OR REPLACE FUNCTION chipctl_breaker_probe_due(p_state text, p_override text,
                                                     p_retry_at timestamptz,
                                                     p_probe_until timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT p_override IS NULL
       AND coalesce((p_state = 'open' AND p_retry_at <= now())
                    OR (p_state = 'half_open' AND p_probe_until < now()), false);
$$;

-- Every breaker with its effective state: what circuits, health and metrics show.
CREATE OR REPLACE VIEW chipctl_breakers AS
SELECT b.*, chipctl_breaker_effective(b.state, b.override) AS effective_state,
       chipctl_breaker_probe_due(b.state, b.override, b.retry_at, b.probe_until) AS probe_due
FROM circuit_breakers b;

-- Circuit breaker transitions, each one atomic under the breaker's row lock.
-- chipctl calls these; an operator may too. Every change of state writes a
-- circuit_transitions row.

-- A counted failure (p_counted = 1) or a timeout (p_timeout = 1) of a request
-- through the breaker. Opens it at p_fail_threshold counted failures in a
-- row, or on a run of timeouts (single timeouts do not count): a chip's at
-- p_timeout_threshold in a row; a provider's (p_timeout_chips given, the
-- timeout's chip in p_timeout_chip) only when its run spans p_timeout_chips
-- distinct chips, so one hanging chip never opens its provider. A failed
-- probe reopens it with the backoff doubled up to p_max_backoff.
-- p_retry_after (seconds, or 0) comes from a Retry-After header and can
-- only lengthen the wait.
DROP FUNCTION IF EXISTS chipctl_breaker_failure(text, text, uuid, integer, integer, text, text,
    integer, integer, integer, integer, integer, uuid);
CREATE OR REPLACE FUNCTION chipctl_breaker_failure(
    p_name text, p_kind text, p_chip_id uuid, p_counted integer, p_timeout integer,
    p_why text, p_worker text, p_fail_threshold integer, p_timeout_threshold integer,
    p_base_backoff integer, p_max_backoff integer, p_retry_after integer,
    p_run_id uuid, p_timeout_chip uuid DEFAULT NULL, p_timeout_chips integer DEFAULT NULL)
RETURNS TABLE (from_state text, to_state text) LANGUAGE plpgsql AS $$
DECLARE
    b circuit_breakers%ROWTYPE;
    v_opens boolean;
    v_run boolean;
    v_chips integer := 0;
    v_backoff integer;
BEGIN
    INSERT INTO circuit_breakers (name, kind, chip_id, backoff_s)
    VALUES (p_name, p_kind, p_chip_id, p_base_backoff)
    ON CONFLICT (name) DO NOTHING;
    SELECT * INTO b FROM circuit_breakers WHERE name = p_name FOR UPDATE;
    b.consecutive_failures := CASE WHEN p_counted > 0 THEN b.consecutive_failures + 1
                                   ELSE b.consecutive_failures END;
    b.consecutive_timeouts := CASE WHEN p_timeout > 0 THEN b.consecutive_timeouts + 1 ELSE 0 END;
    -- the run's distinct chips: a timeout adds its chip, anything else ends the run
    IF p_timeout <= 0 THEN
        DELETE FROM breaker_timeout_chips WHERE breaker = p_name;
    ELSIF p_timeout_chip IS NOT NULL THEN
        INSERT INTO breaker_timeout_chips (breaker, chip_id) VALUES (p_name, p_timeout_chip)
        ON CONFLICT DO NOTHING;
        SELECT count(*) INTO v_chips FROM breaker_timeout_chips WHERE breaker = p_name;
    END IF;
    v_run := CASE WHEN p_timeout_chips IS NULL
                  THEN b.consecutive_timeouts >= p_timeout_threshold
                  ELSE v_chips >= p_timeout_chips END;
    v_opens := b.override IS DISTINCT FROM 'disabled' AND (
        (b.state = 'half_open' AND (p_counted > 0 OR p_timeout > 0)) OR
        (b.state = 'closed' AND (b.consecutive_failures >= p_fail_threshold OR
                                 (p_timeout > 0 AND v_run))));
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
                CASE WHEN b.state = 'half_open' THEN 'probe failed: '
                     WHEN p_timeout > 0 AND v_run AND p_timeout_chips IS NOT NULL
                     THEN b.consecutive_timeouts || ' timeouts in a row on '
                          || v_chips || ' chips: '
                     WHEN p_timeout > 0 AND v_run
                     THEN b.consecutive_timeouts || ' timeouts in a row: '
                     ELSE b.consecutive_failures || ' failures in a row: ' END || p_why,
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
-- resets (counters, its run of timeouts, backoff), with a transition row
-- when its state changes.
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
    ), run_ended AS (
        -- the answer ends a provider's run of timeouts
        DELETE FROM breaker_timeout_chips t USING up WHERE t.breaker = up.name
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

-- The outage predicate (005) now reads the one breaker definition.
CREATE OR REPLACE FUNCTION chipctl_provider_outage(p text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM chipctl_breakers b
                   WHERE b.name = 'provider:' || p AND b.effective_state = 'open')
        OR EXISTS (SELECT 1 FROM alert_state s
                   WHERE s.alert_key = 'provider_outage:' || p AND s.active);
$$;
