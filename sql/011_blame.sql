-- 011_blame: whose fault, and why (issue 22; SPEC section 8, step 3).
-- A fault is the chip's only if another chip would not get the same
-- answer: besides the chip, the provider and the recipient, a failure can
-- be the configuration's (chipctl's credentials, URL or API version) or
-- the message's (content no chip can send, FAILED_INVALID_MESSAGE). Each
-- attempt keeps why it was blamed on its side, each chip its last failure,
-- and a provider's breaker the distinct chips of its run of timeouts.

ALTER TABLE send_attempts DROP CONSTRAINT IF EXISTS send_attempts_fault_check;
ALTER TABLE send_attempts ADD CONSTRAINT send_attempts_fault_check
    CHECK (fault IN ('chip', 'provider', 'configuration', 'message', 'recipient'));
-- why that side, in a few words (provider.c's classification)
ALTER TABLE send_attempts ADD COLUMN IF NOT EXISTS blame text;

ALTER TABLE fila_mensagens DROP CONSTRAINT IF EXISTS fila_mensagens_outcome_check;
ALTER TABLE fila_mensagens ADD CONSTRAINT fila_mensagens_outcome_check
    CHECK (outcome IN ('SENT', 'FAILED_EXPIRED', 'FAILED_CIRCUIT_OPEN', 'FAILED_ALL_CHIPS',
                       'FAILED_RATE_LIMIT', 'FAILED_INVALID_NUMBER', 'FAILED_INVALID_MESSAGE',
                       'FAILED_GUARDRAIL', 'FAILED_MAX_ATTEMPTS', 'FAILED_NO_CHIP',
                       'FAILED_PROVIDER'));

-- The last failed send through the chip, whoever's fault it was: what
-- `chips` shows. Only the chip's own faults count against it anywhere.
ALTER TABLE chips ADD COLUMN IF NOT EXISTS last_fault text;
ALTER TABLE chips ADD COLUMN IF NOT EXISTS last_fault_why text;
ALTER TABLE chips ADD COLUMN IF NOT EXISTS last_fault_error text;
ALTER TABLE chips ADD COLUMN IF NOT EXISTS last_fault_at timestamptz;

-- A provider's run of timeouts (reset with its consecutive_timeouts): the
-- distinct chips it spans. The provider's breaker opens only when they
-- reach breaker.provider_timeout_chips, so one hanging chip never stops
-- the pool. (A table of its own: a new circuit_breakers column would
-- change the chipctl_breakers view's b.* under it.)
CREATE TABLE IF NOT EXISTS breaker_timeout_chips (
    breaker  text NOT NULL REFERENCES circuit_breakers (name) ON DELETE CASCADE,
    chip_id  uuid NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (breaker, chip_id)
);
