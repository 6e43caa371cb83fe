#include "handover.h"
#include "ctx.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/*
 * The targets are an array, so the round-robin pick is an index into it,
 * and the affinity lookup probes the primary keys: per conversation the
 * cost stays constant, which also keeps the plan under jit_above_cost
 * (JIT compilation alone would cost more than the whole statement).
 */
#define MIGRATE_CTES \
	"WITH conv AS (" \
	"  SELECT cv.id, cv.cliente_id, cv.telefone, cv.chip_id AS origem," \
	"    (coalesce(cv.ultima_interacao_em, '-infinity')" \
	"        > now() - make_interval(hours => $1::int)" \
	"     OR EXISTS (SELECT 1 FROM chip_interactions i WHERE i.chip_id = cv.chip_id" \
	"        AND i.cliente_id = cv.cliente_id" \
	"        AND i.created_at > now() - make_interval(hours => $1::int))) AS recent," \
	"    (SELECT count(*) FROM chip_interactions i WHERE i.chip_id = cv.chip_id" \
	"        AND i.cliente_id = cv.cliente_id) AS n_inter" \
	"  FROM chips c JOIN conversations cv ON cv.chip_id = c.id AND cv.status = 'active'" \
	"  WHERE c.status IN ('degraded', 'banned')" \
	"  FOR UPDATE OF cv SKIP LOCKED" \
	"), numbered AS (" \
	"  SELECT conv.*, row_number() OVER (ORDER BY id) - 1 AS rn FROM conv" \
	"), targets AS MATERIALIZED (" \
	"  SELECT array_agg(id ORDER BY trust_score DESC, id) AS ids FROM chips" \
	"  WHERE status = 'active'" \
	"    AND chipctl_chip_connected(provider, evolution_connected, zapi_connected)" \
	"), pick AS (" \
	"  SELECT numbered.*, coalesce(" \
	"    (SELECT a.chip_id FROM medico_chip_affinity a JOIN chips t ON t.id = a.chip_id" \
	"     WHERE a.cliente_id = numbered.cliente_id AND t.status = 'active'" \
	"       AND chipctl_chip_connected(t.provider, t.evolution_connected, t.zapi_connected)" \
	"     ORDER BY a.respostas DESC, a.msgs_enviadas DESC, a.ultima_interacao_em DESC" \
	"     LIMIT 1)," \
	"    (SELECT ids[1 + numbered.rn % cardinality(ids)] FROM targets)) AS destino" \
	"  FROM numbered" \
	")"

/* Most runs have nothing to migrate: a cheap probe spares them the plan
 * (and its JIT compilation) of the statement below. */
static const char migrate_probe_sql[] =
	"SELECT EXISTS (SELECT 1 FROM chips c JOIN conversations cv"
	"  ON cv.chip_id = c.id AND cv.status = 'active'"
	"  WHERE c.status IN ('degraded', 'banned'))";

static const char migrate_dry_sql[] =
	MIGRATE_CTES
	" SELECT count(*), count(destino), count(*) FILTER (WHERE destino IS NOT NULL"
	"   AND recent) FROM pick WHERE $2::text IS NOT NULL AND $3::int IS NOT NULL"
	"   AND $4::uuid IS NOT NULL";

static const char migrate_sql[] =
	MIGRATE_CTES
	", mv AS ("
	"  UPDATE conversations cv SET chip_id = p.destino, chip_migrado_de = p.origem,"
	"    chip_migrado_em = now(), updated_at = now()"
	"  FROM pick p WHERE cv.id = p.id AND p.destino IS NOT NULL"
	"  RETURNING cv.id, p.cliente_id, p.telefone, p.origem, p.destino, p.recent, p.n_inter"
	"), pairs AS (SELECT DISTINCT cliente_id, origem, destino FROM mv"
	"), aff AS ("
	"  INSERT INTO medico_chip_affinity AS a"
	"    (cliente_id, chip_id, msgs_enviadas, respostas, ultima_interacao_em)"
	"  SELECT o.cliente_id, pairs.destino, o.msgs_enviadas, o.respostas,"
	"         o.ultima_interacao_em"
	"  FROM pairs JOIN medico_chip_affinity o"
	"    ON o.cliente_id = pairs.cliente_id AND o.chip_id = pairs.origem"
	"  ON CONFLICT (cliente_id, chip_id) DO UPDATE SET"
	"    msgs_enviadas = a.msgs_enviadas + excluded.msgs_enviadas,"
	"    respostas = a.respostas + excluded.respostas,"
	"    ultima_interacao_em = greatest(a.ultima_interacao_em, excluded.ultima_interacao_em)"
	"), affdel AS ("
	"  DELETE FROM medico_chip_affinity a USING pairs"
	"  WHERE a.cliente_id = pairs.cliente_id AND a.chip_id = pairs.origem"
	"), cont AS ("
	"  INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo, agendar_para,"
	"                              chip_id, conversa_id)"
	"  SELECT cliente_id, telefone, $2, 'followup',"
	"         now() + make_interval(hours => $3::int), destino, id FROM mv WHERE recent"
	"  RETURNING id, conversa_id"
	"), audit AS ("
	"  INSERT INTO chip_migrations (conversa_id, cliente_id, chip_origem, chip_destino,"
	"    interacoes_count, motivo, continuidade_agendada, mensagem_id, run_id)"
	"  SELECT mv.id, mv.cliente_id, mv.origem, mv.destino, mv.n_inter,"
	"    'chip_' || c.status || coalesce(':' || c.demovido_motivo, ''),"
	"    cont.id IS NOT NULL, cont.id, $4::uuid"
	"  FROM mv JOIN chips c ON c.id = mv.origem"
	"  LEFT JOIN cont ON cont.conversa_id = mv.id"
	")"
	" SELECT (SELECT count(*) FROM conv), (SELECT count(*) FROM mv),"
	"        (SELECT count(*) FROM cont)";

int handover_conversations(struct chipctl_ctx *ctx, struct handover *o)
{
	char recent[16], delay[16];
	const char *p[4] = { recent, ctx->cfg.pool_continuity_text, delay, ctx->run_id };
	PGresult *res;
	int found;

	memset(o, 0, sizeof(*o));
	res = db_query(ctx->db, migrate_probe_sql, 0, NULL);
	if (!res)
		return db_failure_rc(ctx->db);
	found = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!found)
		return 0;
	snprintf(recent, sizeof(recent), "%d", ctx->cfg.pool_migration_recent_hours);
	snprintf(delay, sizeof(delay), "%d", ctx->cfg.pool_continuity_delay_hours);
	res = db_query(ctx->db, ctx->dry_run ? migrate_dry_sql : migrate_sql, 4, p);
	if (!res)
		return db_failure_rc(ctx->db);
	o->found = db_long(res, 0, 0);
	o->migrated = db_long(res, 0, 1);
	o->continuity = db_long(res, 0, 2);
	PQclear(res);
	if (o->found)
		log_info(ctx->dry_run ? "would migrate conversations" :
			 "migrated conversations", "found=%ld", o->found,
			 "moved=%ld", o->migrated,
			 "continuity=%ld", o->continuity);
	if (o->found > o->migrated)
		log_warn("conversations of degraded chips wait: no active chip to take them",
			 "waiting=%ld", o->found - o->migrated);
	return 0;
}
