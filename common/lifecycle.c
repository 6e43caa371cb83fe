#include "lifecycle.h"
#include "alert.h"
#include "ctx.h"
#include "db.h"
#include "handover.h"
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

/* ---- the pool pass ---- */

/* $1..$4: the pool.demote_* thresholds. */
#define REASON(c) "chipctl_demotion_reason(" c ", p_trust_below => $1::int," \
	" p_errors_24h => $2::int, p_disconnected_min => $3::int," \
	" p_block_permille => $4::int)"

static const char demote_sql[] =
	"SELECT c.id, r.reason FROM chips c,"
	"  LATERAL (SELECT " REASON("c") " AS reason) r"
	" WHERE c.status = 'active' AND r.reason IS NOT NULL";

/* A degraded chip returns when nothing would demote it any more, and it
 * can take traffic: connected, not cooling off. $5: pool.recover_after_min. */
static const char recover_sql[] =
	"SELECT c.id, 'recovered:' || coalesce((extract(epoch FROM now() - c.demovido_em)"
	"  / 60)::bigint || 'min_after_demotion', 'no_demotion_time') FROM chips c"
	" WHERE c.status = 'degraded'"
	"   AND coalesce(c.demovido_em, '-infinity') < now() - make_interval(mins => $5::int)"
	"   AND " REASON("c") " IS NULL"
	"   AND chipctl_chip_connected(c.provider, c.evolution_connected, c.zapi_connected)"
	"   AND coalesce(c.cooldown_until, '-infinity') <= now()";

static const char graduate_sql[] =
	"SELECT id, 'graduated:' || (extract(epoch FROM now() - warming_started_at)"
	"  / 86400)::int || 'd_trust_' || trust_score FROM chips"
	" WHERE status = 'warming'"
	"   AND warming_started_at <= now() - make_interval(days => $1::int)"
	"   AND trust_score >= $2::int";

/* Connected ready chips that nothing would demote, best trust first, up to
 * pool.min_active ($5). */
static const char promote_sql[] =
	"SELECT c.id, 'pool_below_minimum:' ||"
	"  (SELECT count(*) FROM chips WHERE status = 'active') || '/' || $5::int"
	" FROM chips c WHERE c.status = 'ready'"
	"   AND chipctl_chip_connected(c.provider, c.evolution_connected, c.zapi_connected)"
	"   AND " REASON("c") " IS NULL"
	" ORDER BY c.trust_score DESC, c.id"
	" LIMIT greatest(0, $5::int - (SELECT count(*) FROM chips WHERE status = 'active'))";

/* T10.3: day 1 -> 1 (10 %), days 2-3 -> 2 (25 %), days 4-6 -> 3 (50 %),
 * then NULL (100 %). The send path scales the limits by the phase
 * (chipctl_recovery_ramp). */
static const char recovery_sql[] =
	"WITH p AS ("
	"  SELECT id, CASE"
	"    WHEN coalesce(recovery_started_at, now()) > now() - interval '1 day' THEN 1"
	"    WHEN recovery_started_at > now() - interval '3 days' THEN 2"
	"    WHEN recovery_started_at > now() - interval '6 days' THEN 3 END AS phase"
	"  FROM chips WHERE recovery_phase IS NOT NULL AND status IN ('ready', 'active')"
	"), upd AS ("
	"  UPDATE chips c SET recovery_phase = p.phase,"
	"    recovery_started_at = coalesce(c.recovery_started_at, now()), updated_at = now()"
	"  FROM p WHERE c.id = p.id AND $1::bool"
	"    AND (c.recovery_phase IS DISTINCT FROM p.phase OR c.recovery_started_at IS NULL)"
	"  RETURNING c.instance_name, p.phase"
	")"
	" SELECT count(*) FILTER (WHERE p.phase IS DISTINCT FROM c.recovery_phase),"
	"        count(*) FILTER (WHERE p.phase IS NULL)"
	" FROM p JOIN chips c ON c.id = p.id";

static void reason_params(const struct config *cfg, char buf[5][16])
{
	snprintf(buf[0], 16, "%d", cfg->pool_demote_trust_below);
	snprintf(buf[1], 16, "%d", cfg->pool_demote_errors_24h);
	snprintf(buf[2], 16, "%d", cfg->pool_demote_disconnected_min);
	snprintf(buf[3], 16, "%d", cfg->pool_demote_block_rate_permille);
}

int lifecycle_demotion_reason(struct chipctl_ctx *ctx, const char *chip_id,
			      char *buf, size_t n)
{
	char v[5][16];
	const char *p[5] = { v[0], v[1], v[2], v[3], chip_id };
	PGresult *res;
	int found;

	reason_params(&ctx->cfg, v);
	res = db_query(ctx->db, "SELECT " REASON("c") " FROM chips c WHERE c.id = $5::uuid",
		       5, p);
	if (!res)
		return -1;
	found = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
	snprintf(buf, n, "%s", found ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	return found;
}

/* Move the chips a rule selects; the count moved, or -1. */
static long move(struct chipctl_ctx *ctx, const char *sql, int n, const char *const *p,
		 const char *to, const char *actor, int *rc, PGresult **keep)
{
	PGresult *res = lifecycle_move(ctx, sql, n, p, to, actor);
	long moved;

	if (!res) {
		if (!*rc)
			*rc = db_failure_rc(ctx->db);
		return 0;
	}
	moved = PQntuples(res);
	if (keep)
		*keep = res;
	else
		PQclear(res);
	return moved;
}

static void pass_status(struct chipctl_ctx *ctx, const char *actor, struct lifecycle_pass *o,
			int *rc)
{
	const struct config *cfg = &ctx->cfg;
	char v[5][16], text[300];
	const char *p[5] = { v[0], v[1], v[2], v[3], v[4] };
	PGresult *res = NULL;
	long i;

	reason_params(cfg, v);
	snprintf(v[4], 16, "%d", cfg->pool_recover_after_min);
	o->demoted = move(ctx, demote_sql, 4, p, "degraded", actor, rc, &res);
	for (i = 0; res && i < o->demoted; i++) {
		snprintf(text, sizeof(text), "chip %s demoted to degraded: %s",
			 PQgetvalue(res, (int)i, LC_INSTANCE), PQgetvalue(res, (int)i, LC_REASON));
		if (alert_raise(ctx, "chip_demoted", PQgetvalue(res, (int)i, LC_INSTANCE),
				ALERT_WARNING, cfg->alerts_cooldown_s, text) < 0 && !*rc)
			*rc = db_failure_rc(ctx->db);
	}
	PQclear(res);
	o->recovered = move(ctx, recover_sql, 5, p, "ready", actor, rc, NULL);
	snprintf(v[4], 16, "%d", cfg->pool_min_active);
	{
		char days[16], trust[16];
		const char *g[2] = { days, trust };

		snprintf(days, sizeof(days), "%d", cfg->pool_graduate_days);
		snprintf(trust, sizeof(trust), "%d", cfg->pool_graduate_trust);
		o->graduated = move(ctx, graduate_sql, 2, g, "ready", actor, rc, NULL);
	}
	o->promoted = move(ctx, promote_sql, 5, p, "active", actor, rc, NULL);
}

static void pass_recovery(struct chipctl_ctx *ctx, struct lifecycle_pass *o, int *rc)
{
	const char *p[1] = { ctx->dry_run ? "false" : "true" };
	PGresult *res = db_query(ctx->db, recovery_sql, 1, p);

	if (!res) {
		if (!*rc)
			*rc = db_failure_rc(ctx->db);
		return;
	}
	o->recovery_advanced = db_long(res, 0, 0);
	o->recovery_completed = db_long(res, 0, 1);
	if (o->recovery_advanced)
		log_info(ctx->dry_run ? "would advance recovery phases" :
			 "advanced recovery phases", "chips=%ld", o->recovery_advanced,
			 "completed=%ld", o->recovery_completed);
	PQclear(res);
}

static void pass_migrate(struct chipctl_ctx *ctx, struct lifecycle_pass *o, int *rc)
{
	struct handover h;
	int r = handover_conversations(ctx, &h);

	o->conversations_found = h.found;
	o->conversations_migrated = h.migrated;
	o->continuity_scheduled = h.continuity;
	if (r && !*rc)
		*rc = r;
}

int lifecycle_pool_pass(struct chipctl_ctx *ctx, const char *actor,
			struct lifecycle_pass *out)
{
	int rc = 0;

	memset(out, 0, sizeof(*out));
	pass_status(ctx, actor, out, &rc);
	pass_recovery(ctx, out, &rc);
	pass_migrate(ctx, out, &rc);
	return rc;
}
