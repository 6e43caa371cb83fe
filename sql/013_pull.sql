-- 013_pull: pull-messages (issue 20), each chip's traffic read from Evolution.
--
-- chip_pull_cursors: how far a chip's history has been read. Every record
-- with messageTimestamp <= read_to has been applied; the next run reads from
-- read_to less pull.overlap_s (the server may store late) up to its own now.
-- The row moves in the same transaction as the last page it applied, so a
-- failure leaves it where it was. A chip without a row was never read: its
-- first run reaches pull.first_days back.
CREATE TABLE IF NOT EXISTS chip_pull_cursors (
    chip_id    uuid PRIMARY KEY REFERENCES chips (id) ON DELETE CASCADE,
    read_to    timestamptz NOT NULL,
    pulled_at  timestamptz NOT NULL DEFAULT now(),
    run_id     uuid
);
