-- sql/functions/08_events.sql: what a chip's traffic means, for `chipctl
-- ingest` (webhook events) and `chipctl pull-messages` (history read from
-- Evolution) alike.
-- Owns: applying a batch of one chip's messages, replies and receipts once,
-- each dated where it happened (chipctl_apply_traffic: the one set of rules
-- both commands use), and applying one Evolution or Z-API event once, by
-- kind (inbound, outbound, receipt, connection).

-- moved, set-based, into chipctl_apply_traffic (issue 20)
DROP FUNCTION IF EXISTS chipctl_registrar_envio_externo(uuid, text, text, text);

-- The records of a batch as rows: n (the order given), kind ('in' a
-- message from p_phones[n]; 'out' a message the chip sent to it; 'receipt'
-- the best receipt p_statuses[n] of message p_message_ids[n]), the number
-- normalised, the provider's message id, the media type, and the time the
-- message happened (NULL: now; never later than now: a phone's clock ahead
-- of ours dates nothing in the future).
CREATE OR REPLACE FUNCTION chipctl_traffic_rows(p_kinds text[], p_phones text[],
        p_message_ids text[], p_media text[], p_statuses text[], p_at timestamptz[])
RETURNS TABLE (n bigint, kind text, tel text, mid text, media text, status text,
               at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT u.n, u.kind, chip_normalizar_telefone(u.phone), nullif(u.mid, ''),
           coalesce(nullif(u.media, ''), 'text'), nullif(u.status, ''),
           least(coalesce(u.at, now()), now())
    FROM unnest(p_kinds, p_phones, p_message_ids, p_media, p_statuses, p_at)
         WITH ORDINALITY AS u(kind, phone, mid, media, status, at, n);
$$;

-- Apply a batch of one chip's traffic, once, by the same rules whatever
-- brought it (a webhook event through ingest: a batch of one; a page of
-- history through pull-messages), each record dated by its own timestamp
-- (messageTimestamp, Z-API's momment) when it has one, so the trust windows
-- count it where it happened:
--   in       a message from someone else: counted, an 'in' interaction (the
--            doctor last seen on that number), a response in the doctor's
--            affinity; the chip's messages it answers are marked
--            (chipctl_marcar_respondidas: only messages the chip sent to
--            that number before it), the conversation checked for
--            bidirectional (chipctl_bidirecionais)
--   out      a message the chip sent: 'own' when chipctl sent it (an
--            outbound interaction of its send path with that provider id,
--            or a send to that number in flight right now), 'duplicate' when
--            already applied (by ingest or an earlier pull), 'claimed' when
--            it completes a send the application reported without an id
--            (chip_registrar_envio_sucesso) within 10 minutes of it, else an
--            outbound interaction and the chip's counters (warming traffic)
--   receipt  delivery of a message the chip sent: message_receipts, each
--            time kept once, last_status only forward
-- Deduplicated by the provider's message id (within 2 days of the batch's
-- oldest record); a message seen by webhook and by pull counts once. Calls
-- for one chip are serialised (a transaction-scoped lock).
CREATE OR REPLACE FUNCTION chipctl_apply_traffic(p_chip_id uuid, p_kinds text[],
        p_phones text[], p_message_ids text[], p_media text[], p_statuses text[],
        p_at timestamptz[])
RETURNS TABLE (replies integer, answered integer, outbound integer, own integer,
               claimed integer, receipts integer, duplicates integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_since timestamptz;
    v_tels text[];
    v_tels_out text[];
    v_dup integer;
    v_last timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_chip_id::text, 20));
    SELECT min(r.at) - interval '2 days' INTO v_since
    FROM chipctl_traffic_rows(p_kinds, p_phones, p_message_ids, p_media, p_statuses, p_at) r;

    WITH r AS (
        SELECT DISTINCT ON (coalesce(t.mid, t.n::text)) t.*
        FROM chipctl_traffic_rows(p_kinds, p_phones, p_message_ids, p_media, p_statuses, p_at) t
        WHERE t.kind = 'in' AND t.tel <> ''
        ORDER BY coalesce(t.mid, t.n::text), t.n
    ), nw AS (
        SELECT r.* FROM r
        WHERE r.mid IS NULL OR NOT EXISTS (
            SELECT 1 FROM chip_interactions i
            WHERE i.chip_id = p_chip_id AND i.created_at >= v_since
              AND i.direction = 'in' AND i.provider_message_id = r.mid)
    ), ins AS (
        INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction,
                                       provider_message_id, media_type, created_at)
        SELECT p_chip_id, chipctl_latest_cliente(p_chip_id, nw.tel), nw.tel, 'in', nw.mid,
               nw.media, nw.at
        FROM nw ORDER BY nw.at
        RETURNING cliente_id, telefone, created_at
    ), aff AS (
        INSERT INTO medico_chip_affinity AS a (cliente_id, chip_id, respostas, ultima_interacao_em)
        SELECT ins.cliente_id, p_chip_id, count(*), max(ins.created_at)
        FROM ins WHERE ins.cliente_id IS NOT NULL GROUP BY ins.cliente_id
        ON CONFLICT (cliente_id, chip_id) DO UPDATE
            SET respostas = a.respostas + EXCLUDED.respostas,
                ultima_interacao_em = greatest(a.ultima_interacao_em,
                                               EXCLUDED.ultima_interacao_em)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM r) - (SELECT count(*) FROM ins),
           (SELECT array_agg(DISTINCT ins.telefone) FROM ins), (SELECT count(*) FROM aff)
    INTO replies, duplicates, v_tels, v_dup;

    WITH r AS (
        SELECT DISTINCT ON (coalesce(t.mid, t.n::text)) t.*
        FROM chipctl_traffic_rows(p_kinds, p_phones, p_message_ids, p_media, p_statuses, p_at) t
        WHERE t.kind = 'out'
        ORDER BY coalesce(t.mid, t.n::text), t.n
    ), k AS (
        SELECT r.*, s.hit IS NOT NULL AS seen, coalesce(s.ours, false) AS ours,
               (s.hit IS NULL AND r.tel <> '' AND EXISTS (
                   SELECT 1 FROM fila_mensagens f
                   WHERE f.status = 'processando' AND f.processando_desde IS NOT NULL
                     AND f.telefone = r.tel)) AS echo
        FROM r LEFT JOIN LATERAL (
            SELECT 1 AS hit, bool_or(i.message_id IS NOT NULL) AS ours
            FROM chip_interactions i
            WHERE r.mid IS NOT NULL AND i.chip_id = p_chip_id AND i.created_at >= v_since
              AND i.direction = 'out' AND i.provider_message_id = r.mid
            HAVING count(*) > 0) s ON true
    ), nw AS (
        SELECT k.*, row_number() OVER (ORDER BY k.at, k.n) AS rn
        FROM k WHERE NOT k.seen AND NOT k.echo
    ), cand AS (
        SELECT i.id, i.telefone, i.created_at,
               row_number() OVER (ORDER BY (i.telefone IS NULL), i.created_at) AS rn
        FROM chip_interactions i
        WHERE i.chip_id = p_chip_id AND i.direction = 'out'
          AND i.provider_message_id IS NULL AND i.message_id IS NULL
          AND i.created_at >= (SELECT min(nw.at) FROM nw) - interval '10 minutes'
          AND i.created_at <= (SELECT max(nw.at) FROM nw) + interval '10 minutes'
          AND (i.telefone IS NULL OR i.telefone IN (SELECT nw.tel FROM nw))
    ), pair AS (
        SELECT nw.n, cand.id AS cid, nw.tel, nw.mid, nw.media
        FROM nw JOIN cand ON cand.rn = nw.rn
        WHERE cand.created_at BETWEEN nw.at - interval '10 minutes'
                                  AND nw.at + interval '10 minutes'
          AND (cand.telefone IS NULL OR cand.telefone = nw.tel)
    ), cl AS (
        UPDATE chip_interactions i
        SET telefone = coalesce(nullif(pair.tel, ''), i.telefone),
            provider_message_id = pair.mid, media_type = coalesce(pair.media, i.media_type)
        FROM pair WHERE i.id = pair.cid
        RETURNING i.telefone
    ), ins AS (
        INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction,
                                       provider_message_id, media_type, created_at)
        SELECT p_chip_id, CASE WHEN nw.tel <> '' THEN chipctl_latest_cliente(p_chip_id, nw.tel) END,
               nullif(nw.tel, ''), 'out', nw.mid, nw.media, nw.at
        FROM nw WHERE nw.n NOT IN (SELECT pair.n FROM pair)
        ORDER BY nw.at
        RETURNING telefone, created_at
    )
    SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM cl),
           (SELECT count(*) FROM k WHERE k.ours OR k.echo),
           (SELECT count(*) FROM k WHERE k.seen AND NOT k.ours),
           (SELECT array_agg(DISTINCT x.telefone) FROM (SELECT telefone FROM ins UNION ALL
                                                        SELECT telefone FROM cl) x
            WHERE x.telefone IS NOT NULL),
           (SELECT max(ins.created_at) FROM ins)
    INTO outbound, claimed, own, v_dup, v_tels_out, v_last;
    duplicates := duplicates + v_dup;

    WITH r AS (
        SELECT DISTINCT ON (t.mid) t.mid, t.status, t.at
        FROM chipctl_traffic_rows(p_kinds, p_phones, p_message_ids, p_media, p_statuses, p_at) t
        WHERE t.kind = 'receipt' AND t.mid IS NOT NULL AND t.status IS NOT NULL
        ORDER BY t.mid, array_position(ARRAY['ERROR', 'PENDING', 'SERVER_ACK', 'DELIVERY_ACK',
                                             'READ', 'PLAYED'], t.status) DESC NULLS LAST
    ), up AS (
        INSERT INTO message_receipts AS m (provider_message_id, chip_id, last_status,
                                           server_ack_at, delivered_at, read_at, error_at,
                                           updated_at)
        SELECT r.mid, p_chip_id, r.status,
               CASE WHEN r.status = 'SERVER_ACK' THEN r.at END,
               CASE WHEN r.status = 'DELIVERY_ACK' THEN r.at END,
               CASE WHEN r.status IN ('READ', 'PLAYED') THEN r.at END,
               CASE WHEN r.status = 'ERROR' THEN r.at END, r.at
        FROM r
        -- Receipts may arrive out of order: each time is kept once, and
        -- last_status only moves forward; a receipt already known changes
        -- nothing.
        ON CONFLICT (provider_message_id) DO UPDATE SET
            last_status = CASE WHEN array_position(ARRAY['PENDING', 'SERVER_ACK', 'DELIVERY_ACK',
                                   'READ', 'PLAYED'], EXCLUDED.last_status)
                                 >= coalesce(array_position(ARRAY['PENDING', 'SERVER_ACK',
                                   'DELIVERY_ACK', 'READ', 'PLAYED'], m.last_status), 0)
                               THEN EXCLUDED.last_status ELSE m.last_status END,
            server_ack_at = coalesce(m.server_ack_at, EXCLUDED.server_ack_at),
            delivered_at = coalesce(m.delivered_at, EXCLUDED.delivered_at),
            read_at = coalesce(m.read_at, EXCLUDED.read_at),
            error_at = coalesce(m.error_at, EXCLUDED.error_at),
            updated_at = greatest(m.updated_at, EXCLUDED.updated_at)
        WHERE (m.server_ack_at IS NULL AND EXCLUDED.server_ack_at IS NOT NULL)
           OR (m.delivered_at IS NULL AND EXCLUDED.delivered_at IS NOT NULL)
           OR (m.read_at IS NULL AND EXCLUDED.read_at IS NOT NULL)
           OR (m.error_at IS NULL AND EXCLUDED.error_at IS NOT NULL)
        RETURNING 1
    )
    SELECT count(*) INTO receipts FROM up;

    v_tels := array(SELECT DISTINCT x FROM unnest(coalesce(v_tels, '{}')
                                                  || coalesce(v_tels_out, '{}')) x);
    answered := 0;
    IF cardinality(v_tels) > 0 THEN
        answered := chipctl_marcar_respondidas(p_chip_id, v_tels);
        PERFORM chipctl_bidirecionais(p_chip_id, v_tels);
    END IF;
    IF replies > 0 OR outbound > 0 THEN
        UPDATE chips SET msgs_recebidas_total = msgs_recebidas_total + replies,
                         msgs_enviadas_total = msgs_enviadas_total + outbound,
                         ultimo_envio_em = CASE WHEN v_last IS NULL THEN ultimo_envio_em
                                                ELSE greatest(ultimo_envio_em, v_last) END,
                         updated_at = now()
        WHERE id = p_chip_id;
    END IF;
    RETURN NEXT;
END;
$$;

-- Apply one webhook event for `chipctl ingest`, once: the event key is
-- recorded in webhook_events in the same transaction, so a repeated event
-- (Evolution retries up to 10 times) is a 'duplicate' and changes nothing.
-- The chip is the Evolution chip whose instance_name is p_instance, or with
-- p_provider 'zapi' the Z-API chip whose zapi_instance_id it is.
--   inbound     a message from p_phone       \  chipctl_apply_traffic, a batch
--   outbound    a message the chip sent to it  > of one dated p_at, or now ('own':
--   receipt     receipt p_status (Evolution's  / chipctl's send; 'duplicate':
--               names) of message p_message_id   already applied, by id, e.g. pulled)
--   connection  p_status 'open' connects the chip (by its provider);
--               'close', 'closed' or 'refused' disconnects it, keeping the
--               first miss in desconectado_desde
-- p_critical ('block' or 'ban') also records a chip_trust_events row.
-- p_at is when the event happened by its own timestamp (the parser keeps
-- only plausible ones), NULL when it has none: it dates the traffic; a
-- connection's state is the state now.
-- Returns 'applied', 'own', 'duplicate' or 'unknown_instance', and the chip.
-- (p_at is new and defaulted, last: callers by name or by position of the
-- old twelve arguments call it unchanged.)
DROP FUNCTION IF EXISTS chipctl_ingest_event(text, text, text, text, text, text, text, text,
                                             text, integer, text, uuid);
CREATE OR REPLACE FUNCTION chipctl_ingest_event(p_key text, p_kind text, p_event text, p_instance text,
                                     p_provider text DEFAULT 'evolution',
                                     p_phone text DEFAULT NULL,
                                     p_message_id text DEFAULT NULL,
                                     p_media text DEFAULT NULL,
                                     p_status text DEFAULT NULL,
                                     p_reason integer DEFAULT 0,
                                     p_critical text DEFAULT NULL,
                                     p_run_id uuid DEFAULT NULL,
                                     p_at timestamptz DEFAULT NULL)
RETURNS TABLE (result text, chip_id uuid) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_chip uuid;
    v_new integer;
    v_t record;
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
    IF p_kind IN ('inbound', 'outbound', 'receipt') THEN
        SELECT * INTO v_t FROM chipctl_apply_traffic(
            p_chip_id => v_chip,
            p_kinds => ARRAY[CASE p_kind WHEN 'inbound' THEN 'in' WHEN 'outbound' THEN 'out'
                                  ELSE 'receipt' END],
            p_phones => ARRAY[p_phone], p_message_ids => ARRAY[p_message_id],
            p_media => ARRAY[p_media], p_statuses => ARRAY[p_status],
            p_at => ARRAY[coalesce(p_at, now())]);
        -- an outbound message already an interaction of the chip, with that
        -- id, is its own send (as the application's or chipctl's)
        IF v_t.own > 0 OR (p_kind = 'outbound' AND v_t.duplicates > 0) THEN
            result := 'own';
        ELSIF v_t.duplicates > 0 THEN
            result := 'duplicate';
        END IF;
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
