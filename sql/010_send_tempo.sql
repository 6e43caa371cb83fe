-- 010_send_tempo: the provider's real tempo (issues 19 and 23).
--
-- A chip sends like a person: one send in flight at a time, fleet-wide, and
-- two starts at least send.chip_gap_s (+ jitter) apart. Both live on the
-- chip's counter row, taken with the limit reservation, per batch:
--   next_send_at  the chip may start its next send from then on (NULL: now)
--   held_by       the worker whose batch holds the chip (its one send in
--                 flight, and the room it reserved); NULL: free
--   held_until    the hold expires then (a dead worker's hold is free again)
--   held_room     sends the holder reserved and has not started yet: given
--                 back when its batch ends, or by the rescue if it died
ALTER TABLE chip_send_counters ADD COLUMN IF NOT EXISTS next_send_at timestamptz;
ALTER TABLE chip_send_counters ADD COLUMN IF NOT EXISTS held_by text;
ALTER TABLE chip_send_counters ADD COLUMN IF NOT EXISTS held_until timestamptz;
ALTER TABLE chip_send_counters ADD COLUMN IF NOT EXISTS held_room integer NOT NULL DEFAULT 0;

-- A send that left: its chip and start time, committed (for the batch, in
-- one statement) before the request goes out. Until its result is recorded
-- the send is *uncertain*: whoever takes the message next asks the chip's
-- provider whether it went out (findMessages) before sending it again.
ALTER TABLE fila_mensagens ADD COLUMN IF NOT EXISTS envio_chip_id uuid;
ALTER TABLE fila_mensagens ADD COLUMN IF NOT EXISTS envio_iniciado_em timestamptz;

-- What a message holds (issue 23): its doctor's daily quota share (the day
-- and the weight counted in guardrail_counters) and one send of a chip's
-- hourly and daily room (the chip, and the hour of the window it was
-- counted in). Whoever takes the message back unsent gives them back, once
-- (the columns are cleared in the same statement); a message sent keeps
-- them: they were used.
ALTER TABLE fila_mensagens ADD COLUMN IF NOT EXISTS reserva_dia date;
ALTER TABLE fila_mensagens ADD COLUMN IF NOT EXISTS reserva_peso integer;
ALTER TABLE fila_mensagens ADD COLUMN IF NOT EXISTS reserva_chip_id uuid;
ALTER TABLE fila_mensagens ADD COLUMN IF NOT EXISTS reserva_hora timestamptz;

-- None of the columns above is indexed, and the queue's pages keep some
-- room: the updates that mark a send's start and what a message holds stay
-- HOT (no index entry written), a write per message the send path can
-- afford. (Found through the claim and the rescue's indexes, never alone.)
ALTER TABLE fila_mensagens SET (fillfactor = 85);

-- Whether the Evolution server keeps the messages it sends (findMessages
-- finds a message known sent by its id). When it does not, reconciliation
-- and pull-messages are off, and `health evolution` says so.
CREATE TABLE IF NOT EXISTS evolution_history (
    id              integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    keeps_messages  boolean NOT NULL,
    checked_at      timestamptz NOT NULL DEFAULT now(),
    detail          text
);
