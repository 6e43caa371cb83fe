-- sql/functions/08_events.sql: webhook events for `chipctl ingest`.
-- Owns: applying one Evolution or Z-API event once, by kind (inbound,
-- outbound, receipt, connection).

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
CREATE OR REPLACE FUNCTION chipctl_ingest_event(p_key text, p_kind text, p_event text, p_instance text,
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
