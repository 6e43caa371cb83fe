-- 006_send_rules: one definition of each rule of the send path (issue 10),
-- read by selection, health, watchdog, metrics, pool-check and the
-- commands alike: whether a chip is connected, a breaker's effective state,
-- the recovery ramp, whether a chip is sendable now, whether a message's
-- attempts are used up or it has expired, and whose fault each attempt was.
-- Limits are reserved at selection (chip_send_counters counts requests
-- taken, not sends recorded), so any number of workers never exceed them.
-- (Its functions and views live in sql/functions/ since issue 18.)

-- Z-API's own connection state (GET .../status "connected"), kept apart from
-- Evolution's: a chip is connected by its own provider. Until sync reads it,
-- a Z-API chip counts as connected (what selection always assumed).
ALTER TABLE chips ADD COLUMN IF NOT EXISTS zapi_connected boolean NOT NULL DEFAULT true;

-- A message's first due time (its creation, or the time it was scheduled
-- for), kept when it is rescheduled: the 24 h expiry counts from it, never
-- from a reschedule. NULL until the first reschedule (then agendar_para is
-- still the first due time). esperas counts the times it waited for a chip
-- without spending an attempt; its backoff grows with it, capped.
ALTER TABLE fila_mensagens ADD COLUMN IF NOT EXISTS first_due_at timestamptz;
ALTER TABLE fila_mensagens ADD COLUMN IF NOT EXISTS esperas integer NOT NULL DEFAULT 0;

-- Whose fault a failed attempt was, set once by the provider module from
-- the answer's shape: 'chip' (403, 429, a 400 other than not-on-WhatsApp,
-- Connection Closed, rate-overlimit), 'provider' (timeout, refused
-- connection, other 5xx, 401) or 'recipient' (not on WhatsApp). Only
-- 'chip' counts against a chip anywhere.
ALTER TABLE send_attempts ADD COLUMN IF NOT EXISTS fault text
    CHECK (fault IN ('chip', 'provider', 'recipient'));
UPDATE send_attempts a SET fault = CASE
        WHEN a.result IN ('timeout', 'network') OR a.http_status = 401 THEN 'provider'
        WHEN a.http_status = 400 AND EXISTS (SELECT 1 FROM fila_mensagens f
             WHERE f.id = a.message_id AND f.outcome = 'FAILED_INVALID_NUMBER') THEN 'recipient'
        WHEN a.result = '4xx' THEN 'chip'
        WHEN a.error ILIKE '%connection closed%' OR a.error ILIKE '%rate-overlimit%' THEN 'chip'
        ELSE 'provider' END
WHERE a.result <> 'ok' AND a.fault IS NULL;
DROP INDEX IF EXISTS send_attempts_failed_time_idx;
CREATE INDEX IF NOT EXISTS send_attempts_chip_fault_idx ON send_attempts (created_at)
    WHERE fault = 'chip';

-- Each chip choice is written on the attempt it led to (mode, candidates,
-- threshold), once; chip_selection_log becomes a view of those and of the
-- decisions that found no chip (its old rows stay readable), so a sent
-- message writes one row less and nothing reads two copies.
ALTER TABLE send_attempts ADD COLUMN IF NOT EXISTS mode text;
ALTER TABLE send_attempts ADD COLUMN IF NOT EXISTS candidates integer;
ALTER TABLE send_attempts ADD COLUMN IF NOT EXISTS threshold integer;
ALTER TABLE chip_selection_log RENAME TO chip_selection_none;
ALTER INDEX IF EXISTS chip_selection_log_time_idx RENAME TO chip_selection_none_time_idx;
CREATE INDEX IF NOT EXISTS chip_selection_none_message_idx ON chip_selection_none (message_id);

-- The expiry's scan (reset-stuck-queue --expire): pending messages by
-- their first due time, the expression chipctl_message_expired compares.
CREATE INDEX IF NOT EXISTS fila_pendente_first_due_idx
    ON fila_mensagens ((coalesce(first_due_at, agendar_para))) WHERE status = 'pendente';
