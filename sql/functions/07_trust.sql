-- sql/functions/07_trust.sql: the trust score (SPEC section 7).
-- Owns: a chip's rolling metrics over a window, and the one trust formula
-- (chip_trust_recalcular), read by trust-update and `chip explain`.

-- trust-update's metrics (004) count a failed attempt against a chip only when
-- it was the chip's fault: a provider outage never lowers a chip's score,
-- error count or status. Redefined here on purpose; the rest is as in 004.
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
               count(*) AS falhas,
               count(*) FILTER (WHERE a.created_at > now() - interval '24 hours') AS erros_24h,
               max(a.created_at) AS ultimo,
               count(*) FILTER (WHERE a.http_status = 403) AS f403
        FROM send_attempts a
        WHERE a.created_at > now() - make_interval(days => p_dias)
          AND a.fault = 'chip'
          AND (p_chip_ids IS NULL OR a.chip_id = ANY (p_chip_ids))
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
