-- sql/functions/09_lifecycle.sql: the chip lifecycle (SPEC section 7).
-- Owns: a chip's demotion reason, read by demotion, recovery and `chip show`.

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
