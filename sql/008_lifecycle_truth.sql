-- 008_lifecycle_truth: issue 11, items 3, 4, 5 and 7.
--   * the seed's RPCs take the seed's calls (named arguments, as PostgREST
--     passes them), one definition each;
--   * a send reported the seed's way, and a message the chip sent outside
--     chipctl (a webhook), are outbound interactions, so warming chips
--     earn their response rate and bidirectional conversations;
--   * webhook events are applied by kind (inbound, outbound, receipt,
--     connection) for either provider: Evolution by instance name, Z-API by
--     its instance id;
--   * one function gives a chip's demotion reason, read by demotion,
--     recovery and `chip show`.

-- A send reported by the application through chip_registrar_envio_sucesso
-- (the seed's call: the chip alone) has no recipient until its webhook
-- tells it (see chipctl_ingest_event).
ALTER TABLE chip_interactions ALTER COLUMN telefone DROP NOT NULL;

-- ---- the seed's RPCs --------------------------------------------------------
-- Each is dropped and created again (not replaced): adding parameters with
-- defaults changes the signature, and two overloads would make the seed's
-- named call ambiguous. Callers inside the database bind at call time, so
-- the positional calls of the send path keep working.

-- Replaces 002's definition on purpose (same body plus the interaction).
DROP FUNCTION IF EXISTS chip_registrar_envio_sucesso(uuid, integer);
-- A successful send (T08.1): the chip's counters, and p_quantidade outbound
-- interactions (recipient, provider message id and media type when given),
-- unless the caller already recorded this chip's outbound interactions, with
-- their message, in the same transaction: chipctl's send path does so (in
-- chipctl_record_success and chipctl_record_success_batch), so its sends
-- are never counted twice. The application's call, the chip alone
-- (p_chip_id => ...), records one interaction without a recipient; the
-- first outbound webhook of that chip within 10 minutes fills it in
-- (chipctl_ingest_event), and replies to it then count.
CREATE FUNCTION chip_registrar_envio_sucesso(p_chip_id uuid,
                                             p_quantidade integer DEFAULT 1,
                                             p_telefone text DEFAULT NULL,
                                             p_provider_message_id text DEFAULT NULL,
                                             p_media_type text DEFAULT NULL,
                                             p_cliente_id text DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
    UPDATE chips SET msgs_enviadas_total = msgs_enviadas_total + coalesce(p_quantidade, 1),
                     ultimo_envio_em = now(), updated_at = now()
    WHERE id = p_chip_id;
    INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction,
                                   provider_message_id, media_type)
    SELECT c.id, p_cliente_id, nullif(chip_normalizar_telefone(p_telefone), ''), 'out',
           nullif(p_provider_message_id, ''), coalesce(p_media_type, 'text')
    FROM chips c, generate_series(1, greatest(coalesce(p_quantidade, 1), 0))
    WHERE c.id = p_chip_id
      AND NOT EXISTS (SELECT 1 FROM chip_interactions i
                      WHERE i.chip_id = p_chip_id AND i.direction = 'out'
                        AND i.created_at = now() AND i.message_id IS NOT NULL);
$$;

-- Replaces 002's and 004's definitions on purpose: 002's body was dead
-- (004 replaced it), and neither accepted the seed's call with the chip
-- alone. Same body as 004; the status and the reason are now optional.
DROP FUNCTION IF EXISTS chip_registrar_envio_erro(uuid, integer, text);
-- A failed send reported by the application or the worker (T08.1): the
-- counters, plus an event row so trust-update sees the error even without
-- a send_attempts row; a 403 is a block signal.
CREATE FUNCTION chip_registrar_envio_erro(p_chip_id uuid,
                                          p_http_status integer DEFAULT NULL,
                                          p_motivo text DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
    UPDATE chips SET erros_ultimas_24h = erros_ultimas_24h + 1, dias_sem_erro = 0,
                     ultimo_erro_em = now(), updated_at = now()
    WHERE id = p_chip_id;
    INSERT INTO chip_trust_events (chip_id, kind, http_status, detail)
    SELECT id, CASE WHEN p_http_status = 403 THEN 'forbidden' ELSE 'send_error' END,
           p_http_status, left(p_motivo, 500)
    FROM chips WHERE id = p_chip_id;
$$;

-- Replaces 004's two overloads with one definition. p_telefone_remetente
-- is the name the seed's webhook code uses (T08.2); either name works.
DROP FUNCTION IF EXISTS chip_registrar_resposta(uuid, text);
DROP FUNCTION IF EXISTS chip_registrar_resposta(uuid, text, text, text);
-- An inbound message to the chip from p_telefone (T08.2, T07.3): counts it,
-- keeps it as an 'in' interaction, marks the chip's unanswered messages to
-- that number of the last 7 days as answered (obteve_resposta), adds a
-- response to the doctor's affinity with the chip, and checks the
-- bidirectional conversation. True when it answered a message of the chip.
CREATE FUNCTION chip_registrar_resposta(p_chip_id uuid, p_telefone text DEFAULT NULL,
                                        p_provider_message_id text DEFAULT NULL,
                                        p_media_type text DEFAULT NULL,
                                        p_telefone_remetente text DEFAULT NULL)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_tel text := chip_normalizar_telefone(coalesce(p_telefone, p_telefone_remetente));
    v_cliente text;
    v_answered boolean;
BEGIN
    IF v_tel = '' OR NOT EXISTS (SELECT 1 FROM chips WHERE id = p_chip_id) THEN
        RETURN false;
    END IF;
    WITH m AS (
        UPDATE chip_interactions SET obteve_resposta = true
        WHERE chip_id = p_chip_id AND telefone = v_tel AND direction = 'out'
          AND NOT obteve_resposta AND created_at > now() - interval '7 days'
        RETURNING cliente_id, created_at)
    SELECT count(*) > 0,
           (array_agg(cliente_id ORDER BY created_at DESC)
              FILTER (WHERE cliente_id IS NOT NULL))[1]
    INTO v_answered, v_cliente FROM m;
    IF v_cliente IS NULL THEN
        SELECT cliente_id INTO v_cliente FROM chip_interactions
        WHERE chip_id = p_chip_id AND telefone = v_tel AND cliente_id IS NOT NULL
        ORDER BY created_at DESC LIMIT 1;
    END IF;
    INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction,
                                   provider_message_id, media_type)
    VALUES (p_chip_id, v_cliente, v_tel, 'in', p_provider_message_id,
            coalesce(p_media_type, 'text'));
    UPDATE chips SET msgs_recebidas_total = msgs_recebidas_total + 1, updated_at = now()
    WHERE id = p_chip_id;
    IF v_cliente IS NOT NULL THEN
        INSERT INTO medico_chip_affinity (cliente_id, chip_id, respostas, ultima_interacao_em)
        VALUES (v_cliente, p_chip_id, 1, now())
        ON CONFLICT (cliente_id, chip_id) DO UPDATE
            SET respostas = medico_chip_affinity.respostas + 1, ultima_interacao_em = now();
    END IF;
    PERFORM chip_verificar_conversa_bidirecional(p_chip_id, v_tel);
    RETURN v_answered;
END;
$$;

-- A message the chip sent outside chipctl's send path, seen in a webhook
-- (Evolution messages.upsert with fromMe, send.message; Z-API
-- ReceivedCallback with fromMe). Returns 'own' when it is already an
-- outbound interaction of the chip with that provider message id
-- (chipctl's own send, or the same message through the other event), or
-- a message chipctl is sending to that number right now,
-- 'claimed' when it completes a send the application reported through
-- chip_registrar_envio_sucesso in the last 10 minutes without a message id,
-- 'recorded' when it is new: an outbound interaction and the chip's counters.
CREATE OR REPLACE FUNCTION chipctl_registrar_envio_externo(p_chip_id uuid, p_telefone text,
                                                           p_provider_message_id text,
                                                           p_media_type text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_tel text := nullif(chip_normalizar_telefone(p_telefone), '');
    v_claim bigint;
    v_cliente text;
BEGIN
    -- by the recipient when known (an index probe), else by the chip
    IF p_provider_message_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM chip_interactions i
        WHERE i.chip_id = p_chip_id AND i.direction = 'out'
          AND i.provider_message_id = p_provider_message_id
          AND i.telefone = v_tel AND i.created_at > now() - interval '7 days'
        UNION ALL
        SELECT 1 FROM chip_interactions i
        WHERE v_tel IS NULL AND i.chip_id = p_chip_id AND i.direction = 'out'
          AND i.provider_message_id = p_provider_message_id
          AND i.created_at > now() - interval '7 days') THEN
        RETURN 'own';
    END IF;
    -- The echo of a send chipctl is making right now (its webhook can come
    -- before the send is recorded): the message is still 'processando'. The
    -- set in flight is small and indexed (fila_processando_idx).
    IF v_tel IS NOT NULL AND EXISTS (
        SELECT 1 FROM fila_mensagens f
        WHERE f.status = 'processando' AND f.processando_desde IS NOT NULL
          AND f.telefone = v_tel) THEN
        RETURN 'own';
    END IF;
    SELECT i.id INTO v_claim FROM chip_interactions i
    WHERE i.chip_id = p_chip_id AND i.direction = 'out' AND i.provider_message_id IS NULL
      AND i.message_id IS NULL AND i.created_at > now() - interval '10 minutes'
      AND (i.telefone IS NULL OR i.telefone = v_tel)
    ORDER BY (i.telefone IS NULL), i.created_at LIMIT 1
    FOR UPDATE SKIP LOCKED;
    IF v_claim IS NOT NULL THEN
        UPDATE chip_interactions SET telefone = coalesce(v_tel, telefone),
            provider_message_id = p_provider_message_id,
            media_type = coalesce(p_media_type, media_type)
        WHERE id = v_claim;
        RETURN 'claimed';
    END IF;
    IF v_tel IS NOT NULL THEN
        SELECT cliente_id INTO v_cliente FROM chip_interactions
        WHERE chip_id = p_chip_id AND telefone = v_tel AND cliente_id IS NOT NULL
        ORDER BY created_at DESC LIMIT 1;
    END IF;
    INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction,
                                   provider_message_id, media_type)
    VALUES (p_chip_id, v_cliente, v_tel, 'out', p_provider_message_id,
            coalesce(p_media_type, 'text'));
    UPDATE chips SET msgs_enviadas_total = msgs_enviadas_total + 1,
                     ultimo_envio_em = now(), updated_at = now()
    WHERE id = p_chip_id;
    RETURN 'recorded';
END;
$$;

-- ---- webhook events ---------------------------------------------------------

-- Replaces 004's chipctl_ingest_event(p_key, p_event, ...) (only `chipctl
-- ingest` calls it): events now come by kind, from either provider.
DROP FUNCTION IF EXISTS chipctl_ingest_event(text, text, text, text, text, text, text,
                                             integer, text, uuid);
-- Apply one webhook event for `chipctl ingest`, once: the event key is
-- recorded in webhook_events in the same transaction, so a repeated event
-- (Evolution retries up to 10 times) is a 'duplicate' and changes nothing.
-- The chip is the Evolution chip whose instance_name is p_instance, or with
-- p_provider 'zapi' the Z-API chip whose zapi_instance_id it is.
--   inbound     a message from p_phone: chip_registrar_resposta
--   outbound    a message the chip sent to p_phone:
--               chipctl_registrar_envio_externo ('own' events change
--               nothing else and are reported as 'own')
--   receipt     receipt p_status (Evolution's names) of message p_message_id
--   connection  p_status 'open' connects the chip (by its provider);
--               'close', 'closed' or 'refused' disconnects it, keeping the
--               first miss in desconectado_desde
-- p_critical ('block' or 'ban') also records a chip_trust_events row.
-- Returns 'applied', 'own', 'duplicate' or 'unknown_instance', and the chip.
CREATE FUNCTION chipctl_ingest_event(p_key text, p_kind text, p_event text, p_instance text,
                                     p_provider text DEFAULT 'evolution',
                                     p_phone text DEFAULT NULL,
                                     p_message_id text DEFAULT NULL,
                                     p_media text DEFAULT NULL,
                                     p_status text DEFAULT NULL,
                                     p_reason integer DEFAULT 0,
                                     p_critical text DEFAULT NULL,
                                     p_run_id uuid DEFAULT NULL)
RETURNS TABLE (result text, chip_id uuid) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_chip uuid;
    v_new integer;
BEGIN
    IF p_provider = 'zapi' THEN
        SELECT c.id INTO v_chip FROM chips c
        WHERE c.provider = 'zapi' AND c.zapi_instance_id = p_instance
        ORDER BY c.created_at LIMIT 1;
    ELSE
        SELECT c.id INTO v_chip FROM chips c WHERE c.instance_name = p_instance;
    END IF;
    IF v_chip IS NULL THEN
        result := 'unknown_instance';
        RETURN NEXT;
        RETURN;
    END IF;
    chip_id := v_chip;
    INSERT INTO webhook_events (event_key, event, instance, chip_id, run_id)
    VALUES (p_key, p_event, p_instance, v_chip, p_run_id) ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS v_new = ROW_COUNT;
    IF v_new = 0 THEN
        result := 'duplicate';
        RETURN NEXT;
        RETURN;
    END IF;
    result := 'applied';
    IF p_kind = 'inbound' THEN
        PERFORM chip_registrar_resposta(p_chip_id => v_chip, p_telefone => p_phone,
                                        p_provider_message_id => p_message_id,
                                        p_media_type => p_media);
    ELSIF p_kind = 'outbound' THEN
        IF chipctl_registrar_envio_externo(v_chip, p_phone, p_message_id, p_media) = 'own' THEN
            result := 'own';
        END IF;
    ELSIF p_kind = 'receipt' THEN
        -- Receipts may arrive out of order: each time is kept once, and
        -- last_status only moves forward.
        INSERT INTO message_receipts AS r (provider_message_id, chip_id, last_status,
                                           server_ack_at, delivered_at, read_at, error_at)
        VALUES (p_message_id, v_chip, p_status,
                CASE WHEN p_status = 'SERVER_ACK' THEN now() END,
                CASE WHEN p_status = 'DELIVERY_ACK' THEN now() END,
                CASE WHEN p_status IN ('READ', 'PLAYED') THEN now() END,
                CASE WHEN p_status = 'ERROR' THEN now() END)
        ON CONFLICT (provider_message_id) DO UPDATE SET
            last_status = CASE WHEN array_position(ARRAY['PENDING', 'SERVER_ACK', 'DELIVERY_ACK',
                                   'READ', 'PLAYED'], EXCLUDED.last_status)
                                 >= coalesce(array_position(ARRAY['PENDING', 'SERVER_ACK',
                                   'DELIVERY_ACK', 'READ', 'PLAYED'], r.last_status), 0)
                               THEN EXCLUDED.last_status ELSE r.last_status END,
            server_ack_at = coalesce(r.server_ack_at, EXCLUDED.server_ack_at),
            delivered_at = coalesce(r.delivered_at, EXCLUDED.delivered_at),
            read_at = coalesce(r.read_at, EXCLUDED.read_at),
            error_at = coalesce(r.error_at, EXCLUDED.error_at),
            updated_at = now();
    ELSIF p_kind = 'connection' THEN
        IF p_status = 'open' THEN
            UPDATE chips SET evolution_connected = evolution_connected OR provider <> 'zapi',
                             zapi_connected = zapi_connected OR provider = 'zapi',
                             desconectado_desde = NULL, updated_at = now()
            WHERE id = v_chip;
        ELSIF p_status IN ('close', 'closed', 'refused') THEN
            UPDATE chips SET evolution_connected = evolution_connected AND provider = 'zapi',
                             zapi_connected = zapi_connected AND provider <> 'zapi',
                             desconectado_desde = coalesce(desconectado_desde, now()),
                             updated_at = now()
            WHERE id = v_chip;
        END IF;
        IF p_critical IS NOT NULL THEN
            INSERT INTO chip_trust_events (chip_id, kind, http_status, detail)
            VALUES (v_chip, p_critical, p_reason, p_event || ' ' || coalesce(p_status, ''));
        END IF;
    END IF;
    RETURN NEXT;
END;
$$;

-- ---- the lifecycle rules ----------------------------------------------------

-- Why a chip should leave production now, or NULL when nothing says so
-- (T11.1). The one definition of the demotion rules: pool-check demotes an
-- active chip that has a reason, returns a degraded chip through recovery
-- only when it has none, and `chip show` prints it. The thresholds are the
-- pool.demote_* settings, passed by the caller.
CREATE OR REPLACE FUNCTION chipctl_demotion_reason(p_chip chips,
                                                   p_trust_below integer,
                                                   p_errors_24h integer,
                                                   p_disconnected_min integer,
                                                   p_block_permille integer)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN (p_chip).trust_score < p_trust_below
            THEN 'trust_score_critico:' || (p_chip).trust_score
        WHEN (p_chip).erros_ultimas_24h > p_errors_24h
            THEN 'muitos_erros:' || (p_chip).erros_ultimas_24h
        WHEN NOT chipctl_chip_connected((p_chip).provider, (p_chip).evolution_connected,
                                        (p_chip).zapi_connected)
             AND (p_chip).desconectado_desde
                 < now() - make_interval(mins => p_disconnected_min)
            THEN 'desconectado_prolongado:'
                 || (extract(epoch FROM now() - (p_chip).desconectado_desde) / 60)::bigint
                 || 'min'
        WHEN (p_chip).taxa_block > p_block_permille::numeric / 1000
            THEN 'taxa_block_alta:' || (p_chip).taxa_block
    END;
$$;

-- ---- readers ----------------------------------------------------------------

-- `chipctl queue show ID` reads a message's chip selections by message
-- (chip_selection_log is a view since 006; its table has the index there).
-- `chipctl chip show` reads the migrations into and out of a chip.
CREATE INDEX IF NOT EXISTS chip_migrations_origem_idx ON chip_migrations (chip_origem, created_at);
CREATE INDEX IF NOT EXISTS chip_migrations_destino_idx ON chip_migrations (chip_destino, created_at);
