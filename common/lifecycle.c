#include "lifecycle.h"
#include "ctx.h"
#include "db.h"
#include "log.h"
#include "strbuf.h"

#include <stdio.h>
#include <string.h>

/*
 * "c.status = cur.from_status" is re-checked by the UPDATE against the
 * latest row version, so when two runs (or a run and an operator) move the
 * same chip at once, the second skips it and writes no transition row.
 * Parameters after the caller's: to, actor, run id.
 */
static const char move_sql[] =
	"WITH cand (id, reason) AS (%s),"
	" cur AS ("
	"  SELECT c.id, c.status AS from_status,"
	"         coalesce(min(cand.reason), 'unspecified') AS reason"
	"  FROM chips c JOIN cand ON cand.id = c.id"
	"  WHERE c.status <> $%d::text AND c.status <> 'banned'"
	"  GROUP BY c.id, c.status"
	"),"
	" upd AS ("
	"  UPDATE chips c SET status = $%d::text, updated_at = now(),"
	"    demovido_em = CASE WHEN $%d::text = 'degraded' THEN now() ELSE c.demovido_em END,"
	"    demovido_motivo = CASE WHEN $%d::text = 'degraded' THEN cur.reason"
	"                      ELSE c.demovido_motivo END,"
	"    recovery_phase = CASE"
	"      WHEN $%d::text IN ('degraded', 'banned') THEN NULL"
	"      WHEN cur.from_status = 'degraded' AND $%d::text IN ('ready', 'active') THEN 1"
	"      ELSE c.recovery_phase END,"
	"    recovery_started_at = CASE"
	"      WHEN $%d::text IN ('degraded', 'banned') THEN NULL"
	"      WHEN cur.from_status = 'degraded' AND $%d::text IN ('ready', 'active') THEN now()"
	"      ELSE c.recovery_started_at END,"
	"    warming_started_at = CASE WHEN $%d::text = 'warming'"
	"      THEN coalesce(c.warming_started_at, now()) ELSE c.warming_started_at END"
	"  FROM cur WHERE c.id = cur.id"
	"    AND c.status = cur.from_status"
	"  RETURNING c.id, c.instance_name, cur.from_status, c.status, cur.reason"
	"), ins AS ("
	"  INSERT INTO chip_status_transitions"
	"    (chip_id, from_status, to_status, reason, actor, run_id)"
	"  SELECT id, from_status, status, reason, $%d::text, $%d::uuid FROM upd"
	")"
	" SELECT id, instance_name, from_status, status, reason FROM upd"
	" ORDER BY instance_name";

static const char dry_sql[] =
	"WITH cand (id, reason) AS (%s)"
	" SELECT c.id, c.instance_name, c.status, $%d::text,"
	"        coalesce(min(cand.reason), 'unspecified')"
	" FROM chips c JOIN cand ON cand.id = c.id"
	" WHERE c.status <> $%d::text AND c.status <> 'banned'"
	" GROUP BY c.id, c.instance_name, c.status ORDER BY c.instance_name";

PGresult *lifecycle_move(struct chipctl_ctx *ctx, const char *cand_sql,
			 int nparams, const char *const *params,
			 const char *to, const char *actor)
{
	struct strbuf sql = STRBUF_INIT;
	const char *p[32];
	PGresult *res;
	int i, t = nparams + 1, a = nparams + 2, r = nparams + 3;

	if (nparams > 28 || !lifecycle_valid_status(to)) {
		log_error("internal error: bad lifecycle move", "to=%s", to);
		return NULL;
	}
	for (i = 0; i < nparams; i++)
		p[i] = params[i];
	p[nparams] = to;
	p[nparams + 1] = actor;
	p[nparams + 2] = ctx->run_id;
	if (ctx->dry_run) {
		sb_addf(&sql, dry_sql, cand_sql, t, t);
		res = db_query(ctx->db, sb_str(&sql), nparams + 1, p);
	} else {
		sb_addf(&sql, move_sql, cand_sql, t, t, t, t, t, t, t, t, t, a, r);
		res = db_query(ctx->db, sb_str(&sql), nparams + 3, p);
	}
	sb_free(&sql);
	if (!res)
		return NULL;
	for (i = 0; i < PQntuples(res); i++)
		log_info(ctx->dry_run ? "would change chip status" : "chip status changed",
			 "chip=%s", PQgetvalue(res, i, LC_INSTANCE),
			 "from=%s", PQgetvalue(res, i, LC_FROM),
			 "to=%s", PQgetvalue(res, i, LC_TO),
			 "reason=%s", PQgetvalue(res, i, LC_REASON),
			 "actor=%s", actor);
	return res;
}

int lifecycle_set_status(struct chipctl_ctx *ctx, const char *chip_id,
			 const char *to, const char *reason, const char *actor)
{
	const char *params[2] = { chip_id, reason };
	PGresult *res = lifecycle_move(ctx, "SELECT $1::uuid AS id, $2::text AS reason",
				       2, params, to, actor);
	int n;

	if (!res)
		return -1;
	n = PQntuples(res) > 0;
	PQclear(res);
	return n;
}

static const char create_sql[] =
	"WITH c AS ("
	"  INSERT INTO chips (telefone, instance_name, provider, status,"
	"                     salvy_account_id, provisioned_at)"
	"  VALUES ($1, $2, 'evolution', 'provisioned', $3, now()) RETURNING id"
	"), t AS ("
	"  INSERT INTO chip_status_transitions"
	"    (chip_id, from_status, to_status, reason, actor, run_id)"
	"  SELECT id, NULL, 'provisioned', $4, $5, $6::uuid FROM c"
	")"
	" SELECT id FROM c";

int lifecycle_create_chip(struct chipctl_ctx *ctx, const char *telefone,
			  const char *instance_name, const char *salvy_id,
			  const char *reason, const char *actor, char *id_out)
{
	const char *params[6] = { telefone, instance_name, salvy_id, reason,
				  actor, ctx->run_id };
	PGresult *res = db_query(ctx->db, create_sql, 6, params);

	if (!res)
		return -1;
	snprintf(id_out, 37, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	log_info("chip created", "chip=%s", instance_name, "status=%s", "provisioned",
		 "reason=%s", reason, "actor=%s", actor);
	return 0;
}

void lifecycle_job_actor(const struct chipctl_ctx *ctx, char *buf, size_t n)
{
	snprintf(buf, n, "job:%s", ctx->job_name ? ctx->job_name :
		 ctx->cmd ? ctx->cmd->name : "chipctl");
}

int lifecycle_valid_status(const char *s)
{
	static const char *const all[] = { "provisioned", "pending", "warming",
		"ready", "active", "degraded", "banned" };
	size_t i;

	for (i = 0; s && i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(s, all[i]))
			return 1;
	return 0;
}
