-- 009: a sent message costs one small row at once, the rest per batch
-- (issue 13).
--
-- The moment a provider accepts a message the worker writes one row: its
-- successful attempt in send_attempts (chipctl_record_sent, pipelined,
-- each its own transaction). That row is the proof the message went out:
-- a worker killed at any moment leaves at most the one message whose HTTP
-- call was in flight sent but unproven. Everything else a sent message
-- changes (the queue row 'enviada', the interaction, the doctor's
-- affinity, the chip's totals, breakers reset) is written once per batch,
-- set-based, by chipctl_record_sent_batch, which reads the proofs; the
-- stuck-queue rescue calls the same function for the messages a dead
-- worker held, so a proven message is recorded, never sent again.
--
-- Why not the queue row at once: an UPDATE of fila_mensagens changes its
-- status (no HOT update: three index entries), checks the chip's foreign
-- key and builds its nine partial-index predicates and five CHECKs for
-- every statement; set-based, those costs are paid once per batch.
-- (Its functions and views live in sql/functions/ since issue 18.)

ALTER TABLE send_attempts ADD COLUMN IF NOT EXISTS provider_message_id text;

-- The attempt log grows by one row per send and is read by time ranges:
-- a BRIN index costs almost nothing to keep up to date.
DROP INDEX IF EXISTS send_attempts_time_idx;
CREATE INDEX IF NOT EXISTS send_attempts_time_brin ON send_attempts USING brin (created_at);
