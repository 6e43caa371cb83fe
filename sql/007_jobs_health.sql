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

CREATE OR REPLACE VIEW chipctl_pool_permissions AS
SELECT count(*) FILTER (WHERE chipctl_chip_permitted(c.status, c.pode_prospectar))
           AS may_prospect,
       count(*) FILTER (WHERE chipctl_chip_permitted(c.status, c.pode_followup))
           AS may_followup,
       count(*) FILTER (WHERE chipctl_chip_permitted(c.status, c.pode_responder))
           AS may_reply
FROM chips c;
