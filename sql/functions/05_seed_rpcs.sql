-- sql/functions/05_seed_rpcs.sql: the seed's RPCs, as the application
-- calls them (names and named arguments are interface: extend with
-- defaults, never break), and what a chip's traffic means for its trust.
-- Owns: a send and a failed send reported by the application, a reply
-- (chip_registrar_resposta), the rules of a chip's traffic shared with
-- ingest and pull-messages (an answered message, a bidirectional
-- conversation), the delivery rate, and the doctor last seen on a number of
-- a chip.

-- The doctor last seen on number p_tel of chip p_chip_id (the newest
-- interaction that names one), or NULL: who a reply or a message sent from
-- the phone is about.
CREATE OR REPLACE FUNCTION chipctl_latest_cliente(p_chip_id uuid, p_tel text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT cliente_id FROM chip_interactions
    WHERE chip_id = p_chip_id AND telefone = p_tel AND cliente_id IS NOT NULL
    ORDER BY created_at DESC LIMIT 1;
$$;

-- A successful send (T08.1): the chip's counters, and p_quantidade outbound
-- interactions (recipient, provider message id and media type when given),
-- unless the caller already recorded this chip's outbound interactions, with
-- their message, in the same transaction: chipctl's send path does so (in
-- chipctl_record_sent_batch), so its sends are never counted twice. The application's call, the chip alone
-- (p_chip_id => ...), records one interaction without a recipient; the
-- first outbound webhook of that chip within 10 minutes fills it in
-- (chipctl_ingest_event), and replies to it then count.
CREATE OR REPLACE FUNCTION chip_registrar_envio_sucesso(p_chip_id uuid,
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

-- A failed send reported by the application or the worker (T08.1): the
-- counters, plus an event row so trust-update sees the error even without
-- a send_attempts row; a 403 is a block signal.
CREATE OR REPLACE FUNCTION chip_registrar_envio_erro(p_chip_id uuid,
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

-- A conversation is bidirectional when the chip sent to the number and
-- received from it within 24 h of each other (either order). Counted once
-- per chip and number in chips.conversas_bidirecionais. The one rule, for
-- the numbers p_tels of a chip (normalised): returns how many became
-- bidirectional now. Read by the RPC below, ingest and pull-messages
-- (chipctl_apply_traffic).
CREATE OR REPLACE FUNCTION chipctl_bidirecionais(p_chip_id uuid, p_tels text[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_new integer;
BEGIN
    INSERT INTO chip_conversas_bidirecionais (chip_id, telefone)
    SELECT DISTINCT p_chip_id, o.telefone
    FROM chip_interactions o
    WHERE o.chip_id = p_chip_id AND o.telefone = ANY (p_tels) AND o.direction = 'out'
      AND EXISTS (SELECT 1 FROM chip_interactions i
                  WHERE i.chip_id = o.chip_id AND i.telefone = o.telefone
                    AND i.direction = 'in'
                    AND i.created_at BETWEEN o.created_at - interval '24 hours'
                                         AND o.created_at + interval '24 hours')
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS v_new = ROW_COUNT;
    IF v_new > 0 THEN
        UPDATE chips SET conversas_bidirecionais = conversas_bidirecionais + v_new,
                         updated_at = now()
        WHERE id = p_chip_id;
    END IF;
    RETURN v_new;
END;
$$;

-- The seed's RPC: true when the pair is (now or already) bidirectional.
CREATE OR REPLACE FUNCTION chip_verificar_conversa_bidirecional(p_chip_id uuid, p_telefone text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_tel text := chip_normalizar_telefone(p_telefone);
BEGIN
    PERFORM chipctl_bidirecionais(p_chip_id, ARRAY[v_tel]);
    RETURN EXISTS (SELECT 1 FROM chip_conversas_bidirecionais b
                   WHERE b.chip_id = p_chip_id AND b.telefone = v_tel);
END;
$$;

-- A message of the chip is answered (obteve_resposta, what taxa_resposta
-- counts) when the number it went to wrote to the chip after it, within 7
-- days. The one rule, for the numbers p_tels of a chip (normalised), each
-- message dated where it happened: returns how many became answered now. A
-- message from a number the chip never wrote to answers nothing. Read by
-- chip_registrar_resposta, ingest and pull-messages.
CREATE OR REPLACE FUNCTION chipctl_marcar_respondidas(p_chip_id uuid, p_tels text[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_n integer;
BEGIN
    UPDATE chip_interactions o SET obteve_resposta = true
    WHERE o.chip_id = p_chip_id AND o.telefone = ANY (p_tels) AND o.direction = 'out'
      AND NOT o.obteve_resposta
      AND EXISTS (SELECT 1 FROM chip_interactions i
                  WHERE i.chip_id = o.chip_id AND i.telefone = o.telefone
                    AND i.direction = 'in' AND i.created_at >= o.created_at
                    AND i.created_at <= o.created_at + interval '7 days');
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END;
$$;

-- An inbound message to the chip from p_telefone (T08.2, T07.3), as the
-- application reports it: counts it, keeps it as an 'in' interaction (the
-- doctor last seen on that number), marks the chip's messages to that number
-- it answers (chipctl_marcar_respondidas), adds a response to the doctor's
-- affinity with the chip, and checks the bidirectional conversation. True
-- when it answered a message of the chip.
CREATE OR REPLACE FUNCTION chip_registrar_resposta(p_chip_id uuid, p_telefone text DEFAULT NULL,
                                        p_provider_message_id text DEFAULT NULL,
                                        p_media_type text DEFAULT NULL,
                                        p_telefone_remetente text DEFAULT NULL)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_tel text := chip_normalizar_telefone(coalesce(p_telefone, p_telefone_remetente));
    v_cliente text;
BEGIN
    IF v_tel = '' OR NOT EXISTS (SELECT 1 FROM chips WHERE id = p_chip_id) THEN
        RETURN false;
    END IF;
    v_cliente := chipctl_latest_cliente(p_chip_id, v_tel);
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
    PERFORM chipctl_bidirecionais(p_chip_id, ARRAY[v_tel]);
    RETURN chipctl_marcar_respondidas(p_chip_id, ARRAY[v_tel]) > 0;
END;
$$;

-- Delivery rate of a chip over p_dias days (T08.3): delivered / (judged +
-- failed), judged being the messages with a receipt (when the chip has
-- receipts) or else every sent message; stored in chips.taxa_delivery and
-- returned. NULL when there is nothing to judge: no data is neutral, not
-- 100 % or 0 %.
CREATE OR REPLACE FUNCTION chip_calcular_taxa_delivery(p_chip_id uuid, p_dias integer)
RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    v numeric;
BEGIN
    SELECT CASE WHEN m.avaliadas + m.falhas > 0
                THEN round(m.entregues::numeric / (m.avaliadas + m.falhas), 4) END
    INTO v FROM chip_trust_metricas(ARRAY[p_chip_id], p_dias) m;
    UPDATE chips SET taxa_delivery = v, updated_at = now() WHERE id = p_chip_id;
    RETURN v;
END;
$$;
