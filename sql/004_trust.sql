-- 004_trust: the trust score (SPEC 7, issue 5) and what feeds it: receipts,
-- inbound responses, bidirectional conversations, critical chip events,
-- the score history, and the webhook events already applied (idempotence
-- of `chipctl ingest`). The score itself is computed here, set-based, by
-- chip_trust_recalcular(); `chipctl trust-update` passes it the weights of
-- the config, and stores nothing the function did not compute, so `chip
-- explain` shows exactly the numbers that produced the stored score.

-- json, not jsonb: built for every chip on every run, read only by explain
ALTER TABLE chips ADD COLUMN IF NOT EXISTS trust_factors json;
ALTER TABLE chips ADD COLUMN IF NOT EXISTS trust_updated_at timestamptz;
-- text, image, audio, video, document, sticker, ... (NULL = text)
ALTER TABLE chip_interactions ADD COLUMN IF NOT EXISTS media_type text;

-- One row per chip per recomputation (trust-update run or urgent one).
CREATE TABLE IF NOT EXISTS chip_trust_history (
    id             bigserial PRIMARY KEY,
    chip_id        uuid NOT NULL REFERENCES chips (id) ON DELETE CASCADE,
    run_id         uuid,
    motivo         text NOT NULL,
    trust_score    numeric(5,2) NOT NULL,
    trust_level    text NOT NULL,
    previous_score numeric(5,2),
    previous_level text,
    -- the eight factors' points, in the order of chip explain: age,
    -- delivery, response, bidirectional, media, errors, block, phase (the
    -- chip's trust_factors has the inputs of the latest computation)
    points         numeric(6,2)[] NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS chip_trust_history_chip_idx
    ON chip_trust_history (chip_id, created_at DESC);
-- trust-update prunes by age
CREATE INDEX IF NOT EXISTS chip_trust_history_time_idx ON chip_trust_history (created_at);

-- Errors and block signals not seen in send_attempts: errors the
-- application reports through chip_registrar_envio_erro, and blocks and
-- ban signals from webhooks.
CREATE TABLE IF NOT EXISTS chip_trust_events (
    id          bigserial PRIMARY KEY,
    chip_id     uuid NOT NULL REFERENCES chips (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('send_error', 'forbidden', 'block', 'ban')),
    http_status integer,
    detail      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS chip_trust_events_chip_idx
    ON chip_trust_events (chip_id, created_at);
CREATE INDEX IF NOT EXISTS chip_trust_events_time_idx ON chip_trust_events (created_at);
-- trust-update reads the interactions of the window for every chip at once
CREATE INDEX IF NOT EXISTS chip_interactions_time_idx ON chip_interactions (created_at);
-- ... and the failed send attempts (a few percent of them)
CREATE INDEX IF NOT EXISTS send_attempts_failed_time_idx ON send_attempts (created_at)
    WHERE result IN ('network', '4xx', '5xx');

-- Delivery receipts (messages.update) of the messages a chip sent, one row
-- per provider message id; a repeated receipt changes nothing.
CREATE TABLE IF NOT EXISTS message_receipts (
    provider_message_id text PRIMARY KEY,
    chip_id             uuid REFERENCES chips (id) ON DELETE CASCADE,
    last_status         text NOT NULL,
    server_ack_at       timestamptz,
    delivered_at        timestamptz,
    read_at             timestamptz,
    error_at            timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS message_receipts_chip_idx ON message_receipts (chip_id, updated_at);
CREATE INDEX IF NOT EXISTS message_receipts_time_idx ON message_receipts (updated_at);

-- Each (chip, number) counted once as a bidirectional conversation (T08.5).
CREATE TABLE IF NOT EXISTS chip_conversas_bidirecionais (
    chip_id     uuid NOT NULL REFERENCES chips (id) ON DELETE CASCADE,
    telefone    text NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chip_id, telefone)
);

-- Webhook events applied by `chipctl ingest`, by identity: the same event
-- delivered twice (Evolution retries) is applied once. trust-update drops
-- keys older than 7 days (Evolution stops retrying long before).
CREATE TABLE IF NOT EXISTS webhook_events (
    event_key   text PRIMARY KEY,
    event       text NOT NULL,
    instance    text NOT NULL,
    chip_id     uuid,
    run_id      uuid,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_events_time_idx ON webhook_events (received_at);

-- A WhatsApp JID or a typed number to digits only, as the send path stores
-- it: '5511999990001:12@s.whatsapp.net' -> '5511999990001'.
CREATE OR REPLACE FUNCTION chip_normalizar_telefone(p text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(split_part(split_part(coalesce(p, ''), '@', 1), ':', 1), '[^0-9]', '', 'g');
$$;

-- A failed send reported by the application or the worker (T08.1): the
-- counters as in 002, plus an event row so trust-update sees the error
-- even without a send_attempts row; a 403 is a block signal.
CREATE OR REPLACE FUNCTION chip_registrar_envio_erro(p_chip_id uuid, p_http_status integer,
                                                     p_motivo text)
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
-- per chip and number in chips.conversas_bidirecionais. True when the pair
-- is (now or already) bidirectional.
CREATE OR REPLACE FUNCTION chip_verificar_conversa_bidirecional(p_chip_id uuid, p_telefone text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_tel text := chip_normalizar_telefone(p_telefone);
    v_new integer;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM chip_interactions o
        JOIN chip_interactions i ON i.chip_id = o.chip_id AND i.telefone = o.telefone
             AND i.direction = 'in'
             AND i.created_at BETWEEN o.created_at - interval '24 hours'
                                  AND o.created_at + interval '24 hours'
        WHERE o.chip_id = p_chip_id AND o.telefone = v_tel AND o.direction = 'out') THEN
        RETURN false;
    END IF;
    INSERT INTO chip_conversas_bidirecionais (chip_id, telefone)
    VALUES (p_chip_id, v_tel) ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS v_new = ROW_COUNT;
    IF v_new > 0 THEN
        UPDATE chips SET conversas_bidirecionais = conversas_bidirecionais + 1,
                         updated_at = now()
        WHERE id = p_chip_id;
    END IF;
    RETURN true;
END;
$$;

-- An inbound message to the chip from p_telefone (T08.2, T07.3): counts it,
-- keeps it as an 'in' interaction, marks the chip's unanswered messages to
-- that number of the last 7 days as answered (obteve_resposta), adds a
-- response to the doctor's affinity with the chip, and checks the
-- bidirectional conversation. True when it answered a message of the chip.
CREATE OR REPLACE FUNCTION chip_registrar_resposta(p_chip_id uuid, p_telefone text,
                                                   p_provider_message_id text,
                                                   p_media_type text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_tel text := chip_normalizar_telefone(p_telefone);
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

CREATE OR REPLACE FUNCTION chip_registrar_resposta(p_chip_id uuid, p_telefone text)
RETURNS boolean LANGUAGE sql AS $$
    SELECT chip_registrar_resposta(p_chip_id, p_telefone, NULL::text, NULL::text);
$$;

-- The raw counts behind the rolling metrics of the given chips over the
-- last p_dias days (errors over the last 24 h). One pass over each source:
--   chip_interactions: messages sent (direction 'out'), answered, media types
--                      (text, image, audio, video, document, sticker,
--                      location, contact; any other counts as one more)
--   message_receipts:  when the chip has receipts, delivered = messages with
--                      a delivery or read receipt; a message the server
--                      acknowledged over 1 h ago and never delivered, or an
--                      ERROR receipt, is undelivered; without receipts every
--                      sent message counts as delivered
--   send_attempts:     failed attempts (network, 4xx, 5xx; not the 400 of a
--                      number that is not on WhatsApp, nor timeouts), 403s
--   chip_trust_events: errors reported through chip_registrar_envio_erro,
--                      blocks and ban signals
-- An error reported both as an attempt and through the function counts once
-- (the larger of the two counts).
CREATE OR REPLACE FUNCTION chip_trust_metricas(p_chip_ids uuid[], p_dias integer)
RETURNS TABLE (chip_id uuid, enviadas bigint, falhas bigint, entregues bigint,
               avaliadas bigint, respondidas bigint, tipos_midia bigint, bloqueios bigint,
               erros_24h bigint, ultimo_erro_em timestamptz, conversas_bi bigint)
LANGUAGE sql STABLE AS $$
    -- NULL: every chip in warming, ready, active or degraded. Each source is
    -- read by time window and aggregated by chip, then joined to the chips
    -- by hash: one pass each, not one index probe per chip.
    WITH ids AS (
        SELECT c.id AS chip_id FROM chips c
        WHERE CASE WHEN p_chip_ids IS NULL
                   THEN c.status IN ('warming', 'ready', 'active', 'degraded')
                   ELSE c.id = ANY (p_chip_ids) END),
    ci AS (
        SELECT i.chip_id,
               count(*) FILTER (WHERE i.direction = 'out') AS enviadas,
               count(*) FILTER (WHERE i.direction = 'out' AND i.obteve_resposta) AS respondidas,
               -- distinct media types in the same pass: one bit per type
               bit_count(bit_or(CASE coalesce(i.media_type, 'text')
                   WHEN 'text' THEN 1 WHEN 'image' THEN 2 WHEN 'audio' THEN 4
                   WHEN 'video' THEN 8 WHEN 'document' THEN 16 WHEN 'sticker' THEN 32
                   WHEN 'location' THEN 64 WHEN 'contact' THEN 128 ELSE 256 END)::bit(9))
                   AS tipos_midia
        FROM chip_interactions i
        WHERE i.created_at > now() - make_interval(days => p_dias)
          AND (p_chip_ids IS NULL OR i.chip_id = ANY (p_chip_ids))
        GROUP BY i.chip_id),
    -- Receipts by the time they arrived (never before the message was
    -- sent). A message acknowledged by the server less than an hour ago and
    -- not yet delivered is pending: it counts neither way.
    rc AS (
        SELECT r.chip_id,
               count(*) FILTER (WHERE r.delivered_at IS NOT NULL OR r.read_at IS NOT NULL
                                  OR r.error_at IS NOT NULL
                                  OR coalesce(r.server_ack_at, r.updated_at)
                                     <= now() - interval '1 hour') AS com_recibo,
               count(*) FILTER (WHERE r.delivered_at IS NOT NULL OR r.read_at IS NOT NULL)
                   AS entregues
        FROM message_receipts r
        WHERE r.updated_at > now() - make_interval(days => p_dias)
          AND (p_chip_ids IS NULL OR r.chip_id = ANY (p_chip_ids))
        GROUP BY r.chip_id),
    sa AS (
        SELECT a.chip_id,
               count(*) FILTER (WHERE a.result IN ('network', '4xx', '5xx')) AS falhas,
               count(*) FILTER (WHERE a.result IN ('network', '4xx', '5xx')
                                  AND a.created_at > now() - interval '24 hours') AS erros_24h,
               max(a.created_at) FILTER (WHERE a.result IN ('network', '4xx', '5xx')) AS ultimo,
               count(*) FILTER (WHERE a.http_status = 403) AS f403
        FROM send_attempts a
        WHERE a.created_at > now() - make_interval(days => p_dias)
          AND a.result IN ('network', '4xx', '5xx')
          AND (p_chip_ids IS NULL OR a.chip_id = ANY (p_chip_ids))
          AND NOT (a.http_status = 400 AND EXISTS (
                SELECT 1 FROM fila_mensagens f
                WHERE f.id = a.message_id AND f.outcome = 'FAILED_INVALID_NUMBER'))
        GROUP BY a.chip_id),
    ev AS (
        SELECT e.chip_id,
               count(*) FILTER (WHERE e.kind IN ('send_error', 'forbidden')) AS falhas,
               count(*) FILTER (WHERE e.kind IN ('send_error', 'forbidden')
                                  AND e.created_at > now() - interval '24 hours') AS erros_24h,
               max(e.created_at) FILTER (WHERE e.kind IN ('send_error', 'forbidden')) AS ultimo,
               count(*) FILTER (WHERE e.kind = 'forbidden') AS f403,
               count(*) FILTER (WHERE e.kind IN ('block', 'ban')) AS bloqueios
        FROM chip_trust_events e
        WHERE e.created_at > now() - make_interval(days => p_dias)
          AND (p_chip_ids IS NULL OR e.chip_id = ANY (p_chip_ids))
        GROUP BY e.chip_id),
    bi AS (
        SELECT b.chip_id, count(*) AS n
        FROM chip_conversas_bidirecionais b
        WHERE p_chip_ids IS NULL OR b.chip_id = ANY (p_chip_ids)
        GROUP BY b.chip_id)
    SELECT ids.chip_id,
           coalesce(ci.enviadas, 0),
           greatest(coalesce(sa.falhas, 0), coalesce(ev.falhas, 0)),
           CASE WHEN coalesce(rc.com_recibo, 0) > 0 THEN rc.entregues
                ELSE coalesce(ci.enviadas, 0) END,
           CASE WHEN coalesce(rc.com_recibo, 0) > 0 THEN rc.com_recibo
                ELSE coalesce(ci.enviadas, 0) END,
           coalesce(ci.respondidas, 0),
           coalesce(ci.tipos_midia, 0),
           greatest(coalesce(sa.f403, 0), coalesce(ev.f403, 0)) + coalesce(ev.bloqueios, 0),
           greatest(coalesce(sa.erros_24h, 0), coalesce(ev.erros_24h, 0)),
           greatest(sa.ultimo, ev.ultimo),
           coalesce(bi.n, 0)
    FROM ids
    LEFT JOIN ci ON ci.chip_id = ids.chip_id
    LEFT JOIN rc ON rc.chip_id = ids.chip_id
    LEFT JOIN sa ON sa.chip_id = ids.chip_id
    LEFT JOIN ev ON ev.chip_id = ids.chip_id
    LEFT JOIN bi ON bi.chip_id = ids.chip_id;
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

-- Recompute the rolling metrics, the score, the level and the permissions
-- of the given chips (NULL: every chip in warming, ready, active or
-- degraded) in one statement, with a history row per chip. p_cfg holds the
-- weights and thresholds (the trust.* settings; a missing key takes the
-- documented default). Returns each chip's previous and new score and level.
--
-- score = clamp(base + the eight factors, 0, 100); each factor is rounded to
-- 2 decimals before the sum, so the stored breakdown adds up exactly.
CREATE OR REPLACE FUNCTION chip_trust_recalcular(p_chip_ids uuid[], p_cfg jsonb,
                                                 p_run_id uuid, p_motivo text)
RETURNS TABLE (chip_id uuid, instance_name text, score_anterior numeric,
               nivel_anterior text, trust_score numeric, trust_level text)
LANGUAGE plpgsql
-- Scoped to the call, not the session: JIT would cost seconds compiling a
-- statement that runs in a fraction of one; the aggregates want memory; a
-- custom plan each time, so NULL (every chip) scans by time and one chip
-- by its index even after `chipctl ingest` called it many times.
-- (The CTEs r, f and s are MATERIALIZED: inlined, each factor expression
-- would be evaluated again in every expression that uses the sum.)
SET jit = off SET work_mem = '64MB' SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
DECLARE
BEGIN
    -- A conversation the chip's reply made bidirectional (the inbound came
    -- first) is found here, from the replies of the last 6 hours (runs are
    -- every 15 minutes); one that an inbound completed was counted then.
    INSERT INTO chip_conversas_bidirecionais (chip_id, telefone)
    SELECT DISTINCT o.chip_id, o.telefone
    FROM chip_interactions o
    WHERE o.direction = 'out' AND o.created_at > now() - interval '6 hours'
      AND (p_chip_ids IS NULL OR o.chip_id = ANY (p_chip_ids))
      AND EXISTS (SELECT 1 FROM chip_interactions i
                  WHERE i.chip_id = o.chip_id AND i.telefone = o.telefone
                    AND i.direction = 'in' AND i.created_at > now() - interval '30 hours'
                    AND i.created_at BETWEEN o.created_at - interval '24 hours'
                                         AND o.created_at + interval '24 hours')
    ON CONFLICT DO NOTHING;
    RETURN QUERY
    WITH cfg AS (
        SELECT coalesce((p_cfg->>'base')::numeric, 50) AS base,
               coalesce((p_cfg->>'weight_age')::numeric, 10) AS w_age,
               greatest(coalesce((p_cfg->>'age_full_days')::numeric, 30), 1) AS age_full,
               coalesce((p_cfg->>'weight_delivery')::numeric, 15) AS w_del,
               round(least(coalesce((p_cfg->>'delivery_pivot_pct')::numeric, 90), 99) / 100, 4) AS del_pivot,
               coalesce((p_cfg->>'weight_response')::numeric, 10) AS w_resp,
               round(greatest(coalesce((p_cfg->>'response_target_pct')::numeric, 15), 1) / 100, 4) AS resp_target,
               coalesce((p_cfg->>'weight_bidirectional')::numeric, 10) AS w_bidi,
               greatest(coalesce((p_cfg->>'bidirectional_full')::numeric, 20), 1) AS bidi_full,
               coalesce((p_cfg->>'weight_media')::numeric, 5) AS w_media,
               greatest(coalesce((p_cfg->>'media_full')::numeric, 3), 1) AS media_full,
               coalesce((p_cfg->>'error_penalty')::numeric, 3) AS err_penalty,
               coalesce((p_cfg->>'weight_errors')::numeric, 15) AS w_err,
               coalesce((p_cfg->>'weight_clean_days')::numeric, 5) AS w_clean,
               greatest(coalesce((p_cfg->>'clean_days_full')::numeric, 7), 1) AS clean_full,
               coalesce((p_cfg->>'weight_block')::numeric, 20) AS w_block,
               round(greatest(coalesce((p_cfg->>'block_full_pct')::numeric, 2), 1) / 100, 4) AS block_full,
               coalesce((p_cfg->>'phase_warming')::numeric, 0) AS ph_warming,
               coalesce((p_cfg->>'phase_ready')::numeric, 5) AS ph_ready,
               coalesce((p_cfg->>'phase_active')::numeric, 5) AS ph_active,
               coalesce((p_cfg->>'phase_degraded')::numeric, -10) AS ph_degraded,
               greatest(coalesce((p_cfg->>'window_days')::integer, 7), 1) AS window_days,
               greatest(coalesce((p_cfg->>'min_sample')::integer, 10), 1) AS min_sample,
               coalesce((p_cfg->>'level_verde')::numeric, 80) AS lv_verde,
               coalesce((p_cfg->>'level_amarelo')::numeric, 60) AS lv_amarelo,
               coalesce((p_cfg->>'level_laranja')::numeric, 40) AS lv_laranja,
               coalesce((p_cfg->>'level_vermelho')::numeric, 20) AS lv_vermelho,
               coalesce((p_cfg->>'perm_prospect')::numeric, 80) AS pm_prospect,
               coalesce((p_cfg->>'perm_followup')::numeric, 60) AS pm_followup,
               coalesce((p_cfg->>'perm_reply')::numeric, 40) AS pm_reply),
    rules AS (
        SELECT to_json(x.r_age)::text AS j_age,
               to_json(x.r_delivery)::text AS j_delivery,
               to_json(x.r_response)::text AS j_response,
               to_json(x.r_bidirectional)::text AS j_bidirectional,
               to_json(x.r_media)::text AS j_media,
               to_json(x.r_errors)::text AS j_errors,
               to_json(x.r_block)::text AS j_block,
               to_json(x.r_phase)::text AS j_phase,
               '{"base":' || cfg.base || ',"window_days":' || cfg.window_days
               || ',"min_sample":' || cfg.min_sample || ',"computed_at":' || to_json(now())::text
               || ',"motivo":' || coalesce(to_json(p_motivo)::text, 'null') AS j_head
        FROM cfg, (
            SELECT format('%s x min(age_days / %s, 1)', cfg.w_age, cfg.age_full) AS r_age,
                       format('taxa = delivered / (judged + failed); %s x (taxa - %s) / (1 - %s), in [-%s, %s]; neutral (0) under %s', cfg.w_del, cfg.del_pivot, cfg.del_pivot, cfg.w_del, cfg.w_del, cfg.min_sample) AS r_delivery,
                       format('%s x (taxa - %s) / %s, in [-%s, %s]; neutral (0) under %s sent', cfg.w_resp, cfg.resp_target, cfg.resp_target, cfg.w_resp, cfg.w_resp, cfg.min_sample) AS r_response,
                       format('%s x min(conversas / %s, 1)', cfg.w_bidi, cfg.bidi_full) AS r_bidirectional,
                       format('%s x min(types / %s, 1)', cfg.w_media, cfg.media_full) AS r_media,
                       format('errors: -min(%s x erros_24h, %s); none: %s x min(dias_sem_erro / %s, 1)', cfg.err_penalty, cfg.w_err, cfg.w_clean, cfg.clean_full) AS r_errors,
                       format('-%s x min(taxa_block / %s, 1); neutral (0) with no block under %s attempts', cfg.w_block, cfg.block_full, cfg.min_sample) AS r_block,
                       format('warming %s, ready %s, active %s, degraded %s', cfg.ph_warming, cfg.ph_ready, cfg.ph_active, cfg.ph_degraded) AS r_phase
            FROM cfg) x),
    m AS (
        SELECT mt.*, c.status, c.instance_name AS inst, c.created_at AS criado,
               c.trust_score AS old_score, c.trust_level AS old_level,
               greatest(mt.ultimo_erro_em, c.ultimo_erro_em) AS ultimo_erro,
               mt.enviadas + mt.falhas AS tentativas,
               mt.avaliadas + mt.falhas AS base_delivery
        FROM cfg, chip_trust_metricas(p_chip_ids, cfg.window_days) mt
        JOIN chips c ON c.id = mt.chip_id),
    r AS MATERIALIZED (
        SELECT m.*,
               round(greatest(extract(epoch FROM now() - m.criado), 0) / 86400, 2) AS idade_dias,
               floor(greatest(extract(epoch FROM now() - coalesce(m.ultimo_erro, m.criado)), 0)
                     / 86400)::integer AS dias_sem_erro,
               CASE WHEN m.base_delivery >= cfg.min_sample
                    THEN round(m.entregues::numeric / m.base_delivery, 4) END
                   AS taxa_delivery,
               CASE WHEN m.enviadas >= cfg.min_sample
                    THEN round(m.respondidas::numeric / m.enviadas, 4) END AS taxa_resposta,
               CASE WHEN m.bloqueios > 0
                    THEN round(least(m.bloqueios::numeric / greatest(m.tentativas, 1), 1), 4)
                    WHEN m.tentativas >= cfg.min_sample THEN 0 END AS taxa_block
        FROM m, cfg),
    f AS MATERIALIZED (
        SELECT r.*,
               round(cfg.w_age * least(r.idade_dias / cfg.age_full, 1), 2) AS p_idade,
               CASE WHEN r.taxa_delivery IS NULL THEN 0
                    ELSE round(cfg.w_del * greatest(-1, least(1, (r.taxa_delivery - cfg.del_pivot)
                                                             / (1 - cfg.del_pivot))), 2) END AS p_delivery,
               CASE WHEN r.taxa_resposta IS NULL THEN 0
                    ELSE round(cfg.w_resp * greatest(-1, least(1, (r.taxa_resposta - cfg.resp_target)
                                                              / cfg.resp_target)), 2) END AS p_resposta,
               round(cfg.w_bidi * least(r.conversas_bi / cfg.bidi_full, 1), 2) AS p_bidi,
               round(cfg.w_media * least(r.tipos_midia / cfg.media_full, 1), 2) AS p_midia,
               CASE WHEN r.erros_24h > 0 THEN -least(r.erros_24h * cfg.err_penalty, cfg.w_err)
                    ELSE round(cfg.w_clean * least(r.dias_sem_erro / cfg.clean_full, 1), 2) END
                   AS p_erros,
               CASE WHEN r.taxa_block IS NULL THEN 0
                    ELSE round(-cfg.w_block * least(r.taxa_block / cfg.block_full, 1), 2) END
                   AS p_block,
               CASE r.status WHEN 'warming' THEN cfg.ph_warming WHEN 'ready' THEN cfg.ph_ready
                    WHEN 'active' THEN cfg.ph_active WHEN 'degraded' THEN cfg.ph_degraded
                    ELSE 0 END AS p_fase
        FROM r, cfg),
    s AS MATERIALIZED (
        SELECT f.*, f.raw_ AS raw,
               least(100, greatest(0, f.raw_)) AS score
        FROM (SELECT f.*, cfg.base + f.p_idade + f.p_delivery + f.p_resposta + f.p_bidi
                          + f.p_midia + f.p_erros + f.p_block + f.p_fase AS raw_
              FROM f, cfg) f),
    l AS (
        SELECT s.*,
               CASE WHEN s.score >= cfg.lv_verde THEN 'verde'
                    WHEN s.score >= cfg.lv_amarelo THEN 'amarelo'
                    WHEN s.score >= cfg.lv_laranja THEN 'laranja'
                    WHEN s.score >= cfg.lv_vermelho THEN 'vermelho'
                    ELSE 'critico' END AS level,
               s.score >= cfg.pm_prospect AS pode_prospectar,
               s.score >= cfg.pm_followup AS pode_followup,
               s.score >= cfg.pm_reply AS pode_responder,
               -- Built as text, not with json_build_object: several times
               -- cheaper over every chip; every value is a number, NULL or
               -- a constant (the rules are escaped once, in rules).
               (rules.j_head || ',"raw":' || s.raw || ',"score":' || s.score
                || ',"factors":[{"name":"age","points":' || s.p_idade
                || ',"inputs":{"age_days":' || s.idade_dias
                || '},"rule":' || rules.j_age
                || '},{"name":"delivery","points":' || s.p_delivery
                || ',"inputs":{"taxa_delivery":' || coalesce(s.taxa_delivery::text, 'null')
                || ',"delivered":' || s.entregues || ',"judged":' || s.avaliadas
                || ',"sent":' || s.enviadas || ',"failed":' || s.falhas
                || '},"rule":' || rules.j_delivery
                || '},{"name":"response","points":' || s.p_resposta
                || ',"inputs":{"taxa_resposta":' || coalesce(s.taxa_resposta::text, 'null')
                || ',"answered":' || s.respondidas || ',"sent":' || s.enviadas
                || '},"rule":' || rules.j_response
                || '},{"name":"bidirectional","points":' || s.p_bidi
                || ',"inputs":{"conversas_bidirecionais":' || s.conversas_bi
                || '},"rule":' || rules.j_bidirectional
                || '},{"name":"media","points":' || s.p_midia
                || ',"inputs":{"diversidade_midia":' || s.tipos_midia
                || '},"rule":' || rules.j_media
                || '},{"name":"errors","points":' || s.p_erros
                || ',"inputs":{"erros_24h":' || s.erros_24h
                || ',"dias_sem_erro":' || s.dias_sem_erro
                || '},"rule":' || rules.j_errors
                || '},{"name":"block","points":' || s.p_block
                || ',"inputs":{"taxa_block":' || coalesce(s.taxa_block::text, 'null')
                || ',"blocks":' || s.bloqueios || ',"attempts":' || s.tentativas
                || '},"rule":' || rules.j_block
                || '},{"name":"phase","points":' || s.p_fase
                || ',"inputs":{"status":' || to_json(s.status)::text
                || '},"rule":' || rules.j_phase || '}]}')::json AS factors
        FROM s, cfg, rules),
    upd AS (
        UPDATE chips c SET
            trust_score = l.score, trust_level = l.level,
            pode_prospectar = l.pode_prospectar, pode_followup = l.pode_followup,
            pode_responder = l.pode_responder,
            erros_ultimas_24h = l.erros_24h, dias_sem_erro = l.dias_sem_erro,
            taxa_delivery = l.taxa_delivery, taxa_resposta = l.taxa_resposta,
            taxa_block = l.taxa_block, conversas_bidirecionais = l.conversas_bi,
            diversidade_midia = l.tipos_midia, trust_factors = l.factors,
            trust_updated_at = now(), updated_at = now()
        FROM l WHERE c.id = l.chip_id
        RETURNING c.id),
    hist AS (
        INSERT INTO chip_trust_history (chip_id, run_id, motivo, trust_score, trust_level,
                                        previous_score, previous_level, points)
        SELECT l.chip_id, p_run_id, p_motivo, l.score, l.level, l.old_score, l.old_level,
               ARRAY[l.p_idade, l.p_delivery, l.p_resposta, l.p_bidi, l.p_midia, l.p_erros,
                     l.p_block, l.p_fase]
        FROM l JOIN upd ON upd.id = l.chip_id
        RETURNING 1)
    SELECT l.chip_id, l.inst, l.old_score, l.old_level, l.score, l.level
    FROM l JOIN upd ON upd.id = l.chip_id;
END;
$$;

-- Apply one webhook event for `chipctl ingest`, once: the event key is
-- recorded in webhook_events in the same transaction, so a repeated event
-- (Evolution retries up to 10 times) is a 'duplicate' and changes nothing.
-- Returns 'applied', 'duplicate' or 'unknown_instance', and the chip.
--   messages.upsert    an inbound message from p_phone: chip_registrar_resposta
--   messages.update    a receipt p_status of message p_message_id
--   connection.update  p_status 'open' connects the chip; 'close' or
--   status.instance    'refused' (or 'closed') disconnects it, keeping the
--                      first miss in desconectado_desde
-- p_critical ('block' or 'ban') also records a chip_trust_events row.
CREATE OR REPLACE FUNCTION chipctl_ingest_event(p_key text, p_event text, p_instance text,
                                                p_phone text, p_message_id text,
                                                p_media text, p_status text,
                                                p_reason integer, p_critical text,
                                                p_run_id uuid)
RETURNS TABLE (result text, chip_id uuid) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_chip uuid;
    v_new integer;
BEGIN
    SELECT c.id INTO v_chip FROM chips c WHERE c.instance_name = p_instance;
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
    IF p_event = 'messages.upsert' THEN
        PERFORM chip_registrar_resposta(v_chip, p_phone, p_message_id, p_media);
    ELSIF p_event = 'messages.update' THEN
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
    ELSIF p_event IN ('connection.update', 'status.instance') THEN
        IF p_status = 'open' THEN
            UPDATE chips SET evolution_connected = true, desconectado_desde = NULL,
                             updated_at = now()
            WHERE id = v_chip;
        ELSIF p_status IN ('close', 'closed', 'refused') THEN
            UPDATE chips SET evolution_connected = false,
                             desconectado_desde = coalesce(desconectado_desde, now()),
                             updated_at = now()
            WHERE id = v_chip;
        END IF;
        IF p_critical IS NOT NULL THEN
            INSERT INTO chip_trust_events (chip_id, kind, http_status, detail)
            VALUES (v_chip, p_critical, p_reason, p_event || ' ' || coalesce(p_status, ''));
        END IF;
    END IF;
    result := 'applied';
    RETURN NEXT;
END;
$$;
