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
-- (Its functions and views live in sql/functions/ since issue 18.)

-- A send reported by the application through chip_registrar_envio_sucesso
-- (the seed's call: the chip alone) has no recipient until its webhook
-- tells it (see chipctl_ingest_event).
ALTER TABLE chip_interactions ALTER COLUMN telefone DROP NOT NULL;

-- ---- readers ----------------------------------------------------------------

-- `chipctl queue show ID` reads a message's chip selections by message
-- (chip_selection_log is a view since 006; its table has the index there).
-- `chipctl chip show` reads the migrations into and out of a chip.
CREATE INDEX IF NOT EXISTS chip_migrations_origem_idx ON chip_migrations (chip_origem, created_at);
CREATE INDEX IF NOT EXISTS chip_migrations_destino_idx ON chip_migrations (chip_destino, created_at);
