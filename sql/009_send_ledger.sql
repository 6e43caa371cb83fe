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

ALTER TABLE send_attempts ADD COLUMN IF NOT EXISTS provider_message_id text;

-- The attempt log grows by one row per send and is read by time ranges:
-- a BRIN index costs almost nothing to keep up to date.
DROP INDEX IF EXISTS send_attempts_time_idx;
CREATE INDEX IF NOT EXISTS send_attempts_time_brin ON send_attempts USING brin (created_at);

-- One message sent: its successful attempt, with the choice that led to it
-- and the provider's message id. Replaces 006's chipctl_record_sent on
-- purpose (that one also wrote the queue row, and returned whether it did). Committed asynchronously (a database
-- crash may lose the last fraction of a second of these; the batch's
-- synchronous commit makes all of them durable): a killed worker does not
-- lose a committed row, and the sender never waits for a disk flush.
DROP FUNCTION IF EXISTS chipctl_record_sent(bigint, text, uuid, text, integer, integer,
    integer, text, uuid, uuid, text, text, integer, integer);
CREATE FUNCTION chipctl_record_sent(
    p_msg bigint, p_worker text, p_chip uuid, p_provider text, p_attempt integer,
    p_status integer, p_latency integer, p_provider_msg text, p_correlation uuid,
    p_run uuid, p_note text, p_mode text, p_candidates integer, p_threshold integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO send_attempts (message_id, chip_id, provider, attempt, http_status,
        latency_ms, result, error, correlation_id, worker_id, run_id, mode, candidates,
        threshold, provider_message_id)
    VALUES (p_msg, p_chip, p_provider, p_attempt, p_status, p_latency, 'ok',
        nullif(p_note, ''), p_correlation, p_worker, p_run, p_mode, p_candidates,
        p_threshold, nullif(p_provider_msg, ''));
END;
$$;

-- The proof that message p_msg was sent since p_since (when it was
-- claimed): its latest successful attempt since then. One definition, read
-- by the batch's record and by the rescue's dry run.
CREATE OR REPLACE FUNCTION chipctl_sent_proof(p_msg bigint, p_since timestamptz)
RETURNS TABLE (chip_id uuid, provider_message_id text, sent_at timestamptz)
LANGUAGE sql STABLE AS $$
    -- (the latest success, then its time: a message has a few attempts,
    -- found by message_idx, never by the time index)
    SELECT l.chip_id, l.provider_message_id, l.created_at
    FROM (SELECT a.chip_id, a.provider_message_id, a.created_at FROM send_attempts a
          WHERE a.message_id = p_msg AND a.result = 'ok'
          ORDER BY a.id DESC LIMIT 1) l
    WHERE l.created_at >= p_since
$$;

-- Record the messages of p_msgs that were sent: each still 'processando'
-- (claimed by p_worker; any worker when NULL, for the rescue) with a
-- successful attempt since it was claimed becomes 'enviada' through that
-- attempt's chip, at that attempt's time; and what those sends add up to:
-- an outbound interaction each, the doctors' affinity, the chips' totals
-- (in chip order, so concurrent batches lock chips the same way), and the
-- breakers named in p_reset_keys ('chip:ID', 'provider:NAME') closed.
-- Returns one row per element of p_msgs: whether it was recorded sent now.
CREATE OR REPLACE FUNCTION chipctl_record_sent_batch(
    p_msgs bigint[], p_worker text DEFAULT NULL, p_run uuid DEFAULT NULL,
    p_base_backoff integer DEFAULT 60, p_reset_keys text[] DEFAULT NULL)
RETURNS TABLE (id bigint, recorded boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_ids bigint[];
    v_chips uuid[];
BEGIN
    WITH c AS (
        SELECT f.id, f.processando_desde FROM fila_mensagens f
        WHERE f.id = ANY (p_msgs) AND f.status = 'processando'
          AND (p_worker IS NULL OR f.worker_id = p_worker)
        ORDER BY f.id FOR UPDATE OF f
    ), s AS (
        SELECT c.id, a.chip_id, a.provider_message_id, a.sent_at FROM c
        CROSS JOIN LATERAL chipctl_sent_proof(c.id, c.processando_desde) a
    ), up AS (
        UPDATE fila_mensagens f SET status = 'enviada', enviada_em = s.sent_at,
            chip_id = s.chip_id, outcome = 'SENT', outcome_reason_code = NULL,
            provider_message_id = s.provider_message_id, processando_desde = NULL,
            ultimo_erro = NULL, updated_at = now()
        FROM s WHERE f.id = s.id
        RETURNING f.id, f.chip_id, f.cliente_id, f.telefone, f.tipo, f.provider_message_id
    ), ints AS (
        INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction, message_id,
            provider_message_id, tipo)
        SELECT up.chip_id, up.cliente_id, up.telefone, 'out', up.id, up.provider_message_id,
            up.tipo
        FROM up
    ), aff AS (
        INSERT INTO medico_chip_affinity AS a (cliente_id, chip_id, msgs_enviadas)
        SELECT up.cliente_id, up.chip_id, count(*) FROM up
        GROUP BY up.cliente_id, up.chip_id ORDER BY up.cliente_id, up.chip_id
        ON CONFLICT (cliente_id, chip_id) DO UPDATE SET
            msgs_enviadas = a.msgs_enviadas + EXCLUDED.msgs_enviadas,
            ultima_interacao_em = now()
    )
    SELECT array_agg(up.id), array_agg(up.chip_id) INTO v_ids, v_chips FROM up;
    -- the chips' totals last, in chip order: their row locks are held
    -- from here to the commit only, not through the writes above
    UPDATE chips k SET msgs_enviadas_total = k.msgs_enviadas_total + g.n,
        ultimo_envio_em = now(), updated_at = now()
    FROM (SELECT u.chip, count(*) AS n FROM unnest(v_chips) AS u(chip)
          GROUP BY u.chip ORDER BY u.chip) g
    WHERE k.id = g.chip;
    IF cardinality(p_reset_keys) > 0 THEN
        PERFORM chipctl_breaker_success(
            ARRAY(SELECT DISTINCT k FROM unnest(p_reset_keys) k ORDER BY k),
            p_base_backoff, coalesce(p_worker, 'rescue'), p_run);
    END IF;
    RETURN QUERY
    SELECT m.id, m.id = ANY (coalesce(v_ids, '{}')) FROM unnest(p_msgs) AS m(id);
END;
$$;

-- chipctl_record_sent_batch takes over from 006's chipctl_record_success_batch
-- (dropped on purpose: nothing calls it any more); where 008's comment on
-- chip_registrar_envio_sucesso names it, read chipctl_record_sent_batch.
DROP FUNCTION IF EXISTS chipctl_record_success_batch(bigint[], uuid[], text[], text[], text[],
    text[], text[], boolean[], text, uuid, integer);
