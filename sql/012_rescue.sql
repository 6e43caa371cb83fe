-- 012_rescue: the rescue by heartbeat (issue 19, item 4) finds a dead
-- worker's claims through this index, not by reading every claimed row
-- (reset-stuck-queue runs every minute, under 100 ms with 1,000,000 rows).
-- The claims past queue.stuck_minutes keep fila_processando_idx (001).
CREATE INDEX IF NOT EXISTS fila_processando_worker_idx
    ON fila_mensagens (worker_id, processando_desde) WHERE status = 'processando';
