-- sql/functions/12_pull.sql: pull-messages (issue 20), each chip's traffic
-- read from its Evolution server.
-- Owns: which chips are read and from when (the cursor less the overlap, or
-- pull.first_days back), applying one page with the cursor moved in the same
-- transaction, and whether the Evolution server keeps its messages (shared
-- with the send path's reconciliation and `health evolution`).

-- The chips pull-messages reads: Evolution chips with an instance, neither
-- provisioned (no instance yet) nor banned (p_chip: that one only, by id,
-- instance name or phone), each with the window's start: its cursor less
-- p_overlap_s, or p_first_days back for a chip never read.
CREATE OR REPLACE FUNCTION chipctl_pull_chips(p_overlap_s integer, p_first_days integer,
                                              p_chip text DEFAULT NULL)
RETURNS TABLE (chip_id uuid, instance_name text, read_from bigint, never_read boolean)
LANGUAGE sql STABLE AS $$
    SELECT c.id, c.instance_name,
           floor(extract(epoch FROM coalesce(p.read_to - make_interval(secs => p_overlap_s),
                                             now() - make_interval(days => p_first_days))))::bigint,
           p.chip_id IS NULL
    FROM chips c LEFT JOIN chip_pull_cursors p ON p.chip_id = c.id
    WHERE c.provider = 'evolution' AND coalesce(c.instance_name, '') <> ''
      AND c.status NOT IN ('provisioned', 'banned')
      AND (p_chip IS NULL OR c.id::text = p_chip OR c.instance_name = p_chip
           OR c.telefone = p_chip)
    ORDER BY c.instance_name;
$$;

-- Apply one page of a chip's history (chipctl_apply_traffic, each record
-- dated by its messageTimestamp) and, when p_read_to is given (the chip's
-- last page of this run), move its cursor there: both in one transaction,
-- so a failure leaves the cursor where it was, and pages applied before it
-- are applied once again, harmlessly, by the next run.
CREATE OR REPLACE FUNCTION chipctl_pull_apply(p_chip_id uuid, p_kinds text[], p_phones text[],
        p_message_ids text[], p_media text[], p_statuses text[], p_at timestamptz[],
        p_read_to timestamptz DEFAULT NULL, p_run_id uuid DEFAULT NULL)
RETURNS TABLE (replies integer, answered integer, outbound integer, own integer,
               claimed integer, receipts integer, duplicates integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT * FROM chipctl_apply_traffic(p_chip_id => p_chip_id, p_kinds => p_kinds,
        p_phones => p_phones, p_message_ids => p_message_ids, p_media => p_media,
        p_statuses => p_statuses, p_at => p_at);
    IF p_read_to IS NOT NULL THEN
        INSERT INTO chip_pull_cursors AS p (chip_id, read_to, pulled_at, run_id)
        VALUES (p_chip_id, p_read_to, now(), p_run_id)
        ON CONFLICT (chip_id) DO UPDATE
            SET read_to = greatest(p.read_to, EXCLUDED.read_to),
                pulled_at = now(), run_id = EXCLUDED.run_id;
    END IF;
END;
$$;

-- A message known sent through an Evolution chip, to ask its server for by
-- id: the newest 'enviada' message with a provider id, sent through an
-- Evolution chip with an instance between p_min_age_s and 7 days ago (the
-- server stores a send when it completes). NULL when there is none.
CREATE OR REPLACE FUNCTION chipctl_evolution_probe(p_min_age_s integer DEFAULT 60)
RETURNS TABLE (instance_name text, provider_message_id text, enviada_em timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT c.instance_name, f.provider_message_id, f.enviada_em
    FROM fila_mensagens f JOIN chips c ON c.id = f.chip_id
    WHERE f.status = 'enviada' AND f.provider_message_id IS NOT NULL
      AND f.enviada_em <= now() - make_interval(secs => p_min_age_s)
      AND f.enviada_em > now() - interval '7 days'
      AND c.provider = 'evolution' AND coalesce(c.instance_name, '') <> ''
      AND c.status <> 'banned'
    ORDER BY f.enviada_em DESC
    LIMIT 1;
$$;

-- Record whether the Evolution server keeps its messages: false when a
-- message known sent was not found by its id (DATABASE_SAVE_DATA_NEW_MESSAGE
-- off: pull-messages and the send path's reconciliation see nothing). Returns
-- the previous value (NULL: never checked).
CREATE OR REPLACE FUNCTION chipctl_evolution_keeps(p_keeps boolean, p_detail text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_old boolean;
BEGIN
    SELECT keeps_messages INTO v_old FROM evolution_history WHERE id = 1 FOR UPDATE;
    INSERT INTO evolution_history AS h (id, keeps_messages, checked_at, detail)
    VALUES (1, p_keeps, now(), left(p_detail, 500))
    ON CONFLICT (id) DO UPDATE SET keeps_messages = EXCLUDED.keeps_messages,
                                   checked_at = now(), detail = EXCLUDED.detail;
    RETURN v_old;
END;
$$;
