-- sql/functions/06_record.sql: what the send path writes down (SPEC
-- section 8, step 5).
-- Owns: the proof of a sent message, recording a batch's successes, a
-- failed attempt (cooldown, session down, restriction alert), the messages
-- that leave a batch unsent (and give back what they held), and the
-- chip_selection_log view.

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

-- The per-message proof (a pipelined commit before the next send) is gone:
-- a send's chip and start are committed before it leaves
-- (chipctl_sends_start), and a send whose answer was not recorded is asked
-- of the provider (reconciliation), never sent blindly again.
DROP FUNCTION IF EXISTS chipctl_record_sent(bigint, text, uuid, text, integer, integer,
                                            integer, text, uuid, uuid, text, text, integer,
                                            integer);

-- The successes of a batch so far, as their answers arrived (element i of
-- every array is one send): their attempt rows, set-based, then the batch's
-- record (chipctl_record_sent_batch). Also how a reconciled send is
-- recorded (p_notes 'found by reconciliation ...').
CREATE OR REPLACE FUNCTION chipctl_record_sends(
    p_msgs bigint[], p_chips uuid[], p_attempts integer[], p_status integer[],
    p_latency integer[], p_provider_msgs text[], p_notes text[], p_modes text[],
    p_candidates integer[], p_thresholds integer[], p_worker text, p_run uuid,
    p_base_backoff integer DEFAULT 60, p_reset_keys text[] DEFAULT NULL)
RETURNS TABLE (id bigint, recorded boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    INSERT INTO send_attempts (message_id, chip_id, provider, attempt, http_status,
        latency_ms, result, error, correlation_id, worker_id, run_id, mode, candidates,
        threshold, provider_message_id)
    SELECT u.msg, u.chip, c.provider, u.att, u.st, u.lat, 'ok', nullif(u.note, ''),
        f.correlation_id, p_worker, p_run, u.mode, u.cand, u.thr, nullif(u.pmsg, '')
    FROM unnest(p_msgs, p_chips, p_attempts, p_status, p_latency, p_provider_msgs, p_notes,
                p_modes, p_candidates, p_thresholds)
         AS u(msg, chip, att, st, lat, pmsg, note, mode, cand, thr)
    JOIN chips c ON c.id = u.chip
    JOIN fila_mensagens f ON f.id = u.msg
    WHERE f.status = 'processando' AND f.worker_id = p_worker;
    RETURN QUERY SELECT * FROM chipctl_record_sent_batch(p_msgs, p_worker, p_run,
                                                         p_base_backoff, p_reset_keys);
END;
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
            envio_chip_id = NULL, envio_iniciado_em = NULL,
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

-- Record one failed attempt, with whose fault it was (p_fault: chip,
-- provider, configuration, message or recipient, set by provider.c; a
-- timeout is the provider's, and p_uncertain: it may have been delivered)
-- and why (p_blame). Every failure becomes the chip's last failure, which
-- `chips` shows; only the chip's fault touches the chip: its error
-- counters, and a cooldown of p_cooldown_s or, for a session or instance
-- down or gone (p_disconnected), the chip marked disconnected by its
-- provider (what sync and demotion read).
DROP FUNCTION IF EXISTS chipctl_record_failure(bigint, uuid, text, integer, integer, integer,
    text, text, boolean, text, uuid, text, uuid, text, text, integer, integer, boolean, integer);
CREATE OR REPLACE FUNCTION chipctl_record_failure(
    p_msg bigint, p_chip uuid, p_provider text, p_attempt integer, p_status integer,
    p_latency integer, p_result text, p_fault text, p_uncertain boolean, p_error text,
    p_correlation uuid, p_worker text, p_run uuid, p_tipo text, p_mode text,
    p_candidates integer, p_threshold integer, p_disconnected boolean DEFAULT false,
    p_cooldown_s integer DEFAULT 0, p_blame text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_chip boolean := p_fault = 'chip';
BEGIN
    INSERT INTO send_attempts (message_id, chip_id, provider, attempt, http_status,
        latency_ms, result, fault, blame, uncertain, error, correlation_id, worker_id, run_id,
        mode, candidates, threshold)
    VALUES (p_msg, p_chip, p_provider, p_attempt, nullif(p_status, 0), p_latency, p_result,
        p_fault, p_blame, p_uncertain, p_error, p_correlation, p_worker, p_run, p_mode,
        p_candidates, p_threshold);
    IF v_chip THEN
        PERFORM chip_registrar_envio_erro(p_chip, nullif(p_status, 0), p_error);
    END IF;
    UPDATE chips SET last_fault = p_fault, last_fault_why = p_blame,
        last_fault_error = p_error, last_fault_at = now(),
        evolution_connected = CASE WHEN v_chip AND p_disconnected AND provider <> 'zapi'
                                   THEN false ELSE evolution_connected END,
        zapi_connected = CASE WHEN v_chip AND p_disconnected AND provider = 'zapi'
                              THEN false ELSE zapi_connected END,
        desconectado_desde = CASE WHEN v_chip AND p_disconnected
                                  THEN coalesce(desconectado_desde, now())
                                  ELSE desconectado_desde END,
        cooldown_until = CASE WHEN v_chip AND NOT p_disconnected
                              THEN greatest(coalesce(cooldown_until, now()),
                                            now() + make_interval(secs => p_cooldown_s))
                              ELSE cooldown_until END,
        cooldown_reason = CASE WHEN v_chip AND NOT p_disconnected THEN p_error
                               ELSE cooldown_reason END,
        updated_at = now()
    WHERE id = p_chip;
END;
$$;

-- A batch of messages leaving the worker without being sent (element i of
-- every array is message i), each only while still 'processando' and
-- claimed by p_worker. p_status 'pendente' waits until p_next_at or
-- p_next_in_s from now, spending p_spent attempts (the chips that refused
-- it); when that uses its attempts up it ends 'erro' with p_final_outcomes
-- instead. A message waiting for capacity (p_waits) spends nothing and
-- keeps its first due time; past p_expire_hours since then it ends
-- 'cancelada' FAILED_EXPIRED. Any other p_status is final as given. Every
-- message here was not sent: what it holds (its doctor's quota share, its
-- chip's room: reserva_*) is given back by chipctl_give_back, once; a
-- message that waits reserves again when it is retried. An uncertain send
-- (p_uncertain_chips[i]: it may have gone out) keeps them until it is
-- reconciled; the caller says which sends are uncertain (a send's start
-- left set on a definite failure does not make it one). p_clientes, p_release_days and
-- p_weights are no longer read (the message's own columns say what it
-- holds); they stay for the callers. Returns one row per message: whether
-- it was still claimed, and the state it ended in.
CREATE OR REPLACE FUNCTION chipctl_finish_batch(
    p_msgs bigint[], p_status text[], p_outcomes text[], p_final_outcomes text[],
    p_reasons text[], p_errors text[], p_next_in_s integer[], p_next_at timestamptz[],
    p_spent integer[], p_waits boolean[], p_uncertain_chips uuid[], p_clientes text[],
    p_release_days date[], p_weights integer[], p_worker text, p_expire_hours integer)
RETURNS TABLE (id bigint, recorded boolean, status text, outcome text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_ids bigint[];
    v_status text[];
    v_outcomes text[];
    v_back bigint[];
BEGIN
    WITH u AS (
        SELECT * FROM unnest(p_msgs, p_status, p_outcomes, p_final_outcomes, p_reasons,
                             p_errors, p_next_in_s, p_next_at, p_spent, p_waits,
                             p_uncertain_chips)
            AS u(msg, st, oc, foc, reason, err, next_in, next_at, spent, waits, uchip)
    ), v AS (
        SELECT f.id, f.tipo, u.*,
            u.uchip IS NOT NULL AS unsure,
            CASE WHEN u.st <> 'pendente' THEN u.st
                 WHEN chipctl_attempts_exhausted(f.tentativas + u.spent, f.max_tentativas)
                      AND u.spent > 0 THEN 'erro'
                 WHEN chipctl_message_expired(f.first_due_at, f.agendar_para, p_expire_hours)
                      THEN 'cancelada'
                 ELSE 'pendente' END AS new_status
        FROM u JOIN fila_mensagens f ON f.id = u.msg
        WHERE f.status = 'processando' AND f.worker_id = p_worker
        ORDER BY f.id FOR UPDATE OF f
    ), up AS (
        UPDATE fila_mensagens f SET status = v.new_status,
            outcome = CASE v.new_status WHEN 'pendente' THEN NULL
                           WHEN 'cancelada' THEN coalesce(v.oc, 'FAILED_EXPIRED')
                           ELSE coalesce(v.oc, v.foc) END,
            outcome_reason_code = CASE WHEN v.new_status = 'cancelada' AND v.oc IS NULL
                                       THEN 'EXPIRED' ELSE v.reason END,
            ultimo_erro = v.err,
            tentativas = f.tentativas + v.spent,
            esperas = f.esperas + CASE WHEN v.waits THEN 1 ELSE 0 END,
            first_due_at = coalesce(f.first_due_at, f.agendar_para),
            agendar_para = CASE WHEN v.new_status = 'pendente'
                THEN coalesce(v.next_at, now() + make_interval(secs => v.next_in))
                ELSE f.agendar_para END,
            chip_id = coalesce(v.uchip, f.chip_id),
            -- an uncertain send keeps its chip and start: the next claim
            -- asks the provider whether it went out
            envio_chip_id = CASE WHEN v.uchip IS NOT NULL THEN f.envio_chip_id END,
            envio_iniciado_em = CASE WHEN v.uchip IS NOT NULL THEN f.envio_iniciado_em END,
            processando_desde = NULL, worker_id = NULL, updated_at = now()
        FROM v WHERE f.id = v.id
        RETURNING f.id, f.status, f.outcome, v.unsure
    ), sel AS (
        -- why no chip took a waiting message, for `queue show`
        INSERT INTO chip_selection_none (message_id, tipo, chip_id, mode, candidates,
            threshold, reason, worker_id)
        SELECT v.id, v.tipo, NULL, 'none', 0, 0,
            coalesce(v.reason, 'no chip') || coalesce(': ' || v.err, ''), p_worker
        FROM v WHERE v.waits
        RETURNING 1
    )
    SELECT array_agg(up.id), array_agg(up.status), array_agg(up.outcome),
           array_agg(up.id) FILTER (WHERE NOT up.unsure)
    INTO v_ids, v_status, v_outcomes, v_back
    FROM up WHERE (SELECT count(*) FROM sel) >= 0;
    IF v_back IS NOT NULL THEN
        PERFORM chipctl_give_back(p_msgs => v_back);
    END IF;
    RETURN QUERY
    SELECT m.msg, d.id IS NOT NULL, d.status, d.outcome
    FROM unnest(p_msgs) AS m(msg)
    LEFT JOIN unnest(v_ids, v_status, v_outcomes) AS d(id, status, outcome) ON d.id = m.msg;
END;
$$;

CREATE OR REPLACE VIEW chip_selection_log AS
SELECT n.id, n.message_id, n.tipo, n.chip_id, n.mode, n.candidates, n.threshold, n.reason,
       n.worker_id, n.created_at
FROM chip_selection_none n
UNION ALL
SELECT a.id, a.message_id, f.tipo, a.chip_id, a.mode, a.candidates, a.threshold,
       CASE WHEN a.result = 'ok' THEN 'sent'
            ELSE 'failed (' || coalesce(a.fault, '?') || '): ' || coalesce(a.error, '') END,
       a.worker_id, a.created_at
FROM send_attempts a LEFT JOIN fila_mensagens f ON f.id = a.message_id
WHERE a.mode IS NOT NULL;
