#include "provision.h"
#include "alert.h"
#include "config.h"
#include "ctx.h"
#include "db.h"
#include "evolution_admin.h"
#include "job.h"
#include "lifecycle.h"
#include "log.h"
#include "salvy.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

static int evolution_configured(const struct config *cfg)
{
	return cfg->evolution_url && *cfg->evolution_url &&
	       cfg->evolution_api_key && *cfg->evolution_api_key;
}

static const char used_today_sql[] =
	"SELECT count(*) FROM chips WHERE salvy_account_id IS NOT NULL"
	" AND provisioned_at > now() - interval '1 day'";

static const char request_sql[] =
	"INSERT INTO provisioning_requests (requested, provisioned, area_code, status,"
	"  reason, actor, error, run_id)"
	" VALUES ($1::int, $2::int, $3::int, $4, $5, $6, nullif($7, ''), $8::uuid)";

/* Create the instance of one provisioned chip and move it to pending. */
static int create_instance(struct chipctl_ctx *ctx, const char *id,
			   const char *name, const char *phone, const char *actor)
{
	char err[512];
	enum evo_rc rc = evo_create_instance(&ctx->cfg, name, phone, err, sizeof(err));

	if (rc != EVO_OK && rc != EVO_EXISTS) {
		log_warn("cannot create the Evolution instance; the chip stays "
			 "provisioned and pool-check retries", "chip=%s", name,
			 "error=%s", err);
		return 0;
	}
	return lifecycle_set_status(ctx, id, "pending",
				    rc == EVO_EXISTS ? "instance_exists" : "instance_created",
				    actor);
}

int provision_numbers(struct chipctl_ctx *ctx, int area_code, int count,
		    const char *reason, const char *actor,
		    struct provision_result *res)
{
	PGresult *r;
	char sreq[16], sprov[16], sarea[16], name[96], chip_id[37], inst[64];
	const char *status, *params[8];
	int i, used;

	memset(res, 0, sizeof(*res));
	res->requested = count;
	if (!(r = db_query(ctx->db, used_today_sql, 0, NULL)))
		return -1;
	used = (int)db_long(r, 0, 0);
	PQclear(r);
	res->allowed = ctx->cfg.salvy_max_per_day - used;
	if (res->allowed < 0)
		res->allowed = 0;
	if (res->allowed > count)
		res->allowed = count;
	if (res->allowed < count)
		snprintf(res->error, sizeof(res->error),
			 "daily bound: %d of salvy.max_per_day %d used in the last 24 h",
			 used, ctx->cfg.salvy_max_per_day);
	if (ctx->dry_run) {
		log_info("would provision numbers", "requested=%d", count,
			 "allowed=%d", res->allowed, "area_code=%d", area_code);
		return 0;
	}
	for (i = 0; i < res->allowed; i++) {
		struct salvy_account acc;
		enum salvy_rc src;

		snprintf(name, sizeof(name), "chipctl %.8s #%d", ctx->run_id, i + 1);
		src = salvy_create_number(&ctx->cfg, area_code, name, &acc,
					  res->error, sizeof(res->error));
		if (src != SALVY_OK) {
			log_error("Salvy did not provision a number", "error=%s",
				  res->error, "area_code=%d", area_code);
			res->failed = 1;
			res->rc = src == SALVY_REJECTED ? EX_DATAERR :
				  src == SALVY_AUTH ? EX_CONFIG : EX_TEMPFAIL;
			break;
		}
		snprintf(inst, sizeof(inst), "chip-%s", acc.phone);
		if (lifecycle_create_chip(ctx, acc.phone, inst, acc.id, reason, actor,
					  chip_id))
			return -1;
		res->numbers++;
		log_info("provisioned a number", "chip=%s", inst, "area_code=%d",
			 area_code, "salvy_id=%s", acc.id);
		if (evolution_configured(&ctx->cfg)) {
			int moved = create_instance(ctx, chip_id, inst, acc.phone, actor);
			if (moved < 0)
				return -1;
			res->pending += moved;
		}
	}
	status = res->numbers == count ? "fulfilled" :
		 res->numbers > 0 ? "partial" : "failed";
	snprintf(sreq, sizeof(sreq), "%d", count);
	snprintf(sprov, sizeof(sprov), "%d", res->numbers);
	snprintf(sarea, sizeof(sarea), "%d", area_code);
	params[0] = sreq;
	params[1] = sprov;
	params[2] = sarea;
	params[3] = status;
	params[4] = reason;
	params[5] = actor;
	params[6] = res->error;
	params[7] = ctx->run_id;
	if (db_exec(ctx->db, request_sql, 8, params) < 0)
		return -1;
	return 0;
}

int provision_create_instances(struct chipctl_ctx *ctx, const char *actor)
{
	PGresult *r;
	int i, n = 0, moved;

	if (!evolution_configured(&ctx->cfg) || ctx->dry_run)
		return 0;
	r = db_query(ctx->db, "SELECT id, instance_name, telefone FROM chips"
		     " WHERE status = 'provisioned' AND provider = 'evolution'"
		     " ORDER BY created_at LIMIT 50", 0, NULL);
	if (!r)
		return -1;
	for (i = 0; i < PQntuples(r); i++) {
		moved = create_instance(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
					PQgetvalue(r, i, 2), actor);
		if (moved < 0) {
			PQclear(r);
			return -1;
		}
		n += moved;
	}
	PQclear(r);
	return n;
}

int provision_cancel_banned(struct chipctl_ctx *ctx, const char *only_chip_id)
{
	const char *params[1] = { only_chip_id };
	PGresult *r;
	char err[512];
	int i, n = 0;

	if (!salvy_configured(&ctx->cfg) || ctx->dry_run)
		return 0;
	r = db_query(ctx->db, "SELECT id, instance_name, salvy_account_id FROM chips"
		     " WHERE status = 'banned' AND salvy_account_id IS NOT NULL"
		     "   AND salvy_canceled_at IS NULL"
		     "   AND ($1::uuid IS NULL OR id = $1::uuid)", 1, params);
	if (!r)
		return -1;
	for (i = 0; i < PQntuples(r); i++) {
		const char *p[1] = { PQgetvalue(r, i, 0) };
		enum salvy_rc rc = salvy_cancel_number(&ctx->cfg, PQgetvalue(r, i, 2),
						       "whatsapp-ban", err, sizeof(err));
		if (rc != SALVY_OK) {
			log_warn("cannot cancel the Salvy number of a banned chip; "
				 "pool-check retries", "chip=%s", PQgetvalue(r, i, 1),
				 "error=%s", err);
			continue;
		}
		if (db_exec(ctx->db, "UPDATE chips SET salvy_canceled_at = now(),"
			    " updated_at = now() WHERE id = $1", 1, p) < 0) {
			PQclear(r);
			return -1;
		}
		log_info("cancelled the Salvy number of a banned chip",
			 "chip=%s", PQgetvalue(r, i, 1), "reason=%s", "whatsapp-ban");
		n++;
	}
	PQclear(r);
	return n;
}

/* An open request is kept up to date, not repeated every minute. */
static const char open_request_sql[] =
	"WITH upd AS ("
	"  UPDATE provisioning_requests SET requested = $1::int, updated_at = now()"
	"  WHERE status = 'open' RETURNING id"
	")"
	" INSERT INTO provisioning_requests (requested, area_code, reason, actor, run_id)"
	" SELECT $1::int, $2::int, $3, $4, $5::uuid WHERE NOT EXISTS (SELECT 1 FROM upd)"
	" RETURNING id";

static const char close_requests_sql[] =
	"UPDATE provisioning_requests SET status = 'fulfilled', updated_at = now()"
	" WHERE status = 'open'";

int provision_for_pool(struct chipctl_ctx *ctx, const char *actor, long active,
		       long pipeline, struct provision_pass *out)
{
	const struct config *cfg = &ctx->cfg;
	long need = cfg->pool_min_active - active - pipeline;
	char text[700], sneed[16], sarea[16];
	struct provision_result pr;
	int rc = 0, n;

	memset(out, 0, sizeof(*out));
	if (!ctx->dry_run) {
		if ((n = provision_create_instances(ctx, actor)) < 0)
			rc = db_failure_rc(ctx->db);
		else
			out->instances_created = n;
		if ((n = provision_cancel_banned(ctx, NULL)) < 0) {
			if (!rc)
				rc = db_failure_rc(ctx->db);
		} else {
			out->salvy_cancelled = n;
		}
	}
	if (need <= 0) {
		if (ctx->dry_run)
			return rc;
		if (db_exec(ctx->db, close_requests_sql, 0, NULL) < 0 && !rc)
			rc = db_failure_rc(ctx->db);
		alert_resolve(ctx, "pool_provisioning_needed", NULL,
			      "the pool can refill itself again");
		return rc;
	}
	out->need = need;
	if (!salvy_configured(cfg)) {
		const char *p[5] = { sneed, sarea, "pool_deficit", actor, ctx->run_id };
		snprintf(sneed, sizeof(sneed), "%ld", need);
		snprintf(sarea, sizeof(sarea), "%d", cfg->salvy_area_code);
		if (!ctx->dry_run && db_exec(ctx->db, open_request_sql, 5, p) < 0 && !rc)
			rc = db_failure_rc(ctx->db);
		snprintf(text, sizeof(text), "Provisioning needed: %ld new number(s) "
			 "(active %ld/%d, nothing in ready, warming, pending or "
			 "provisioned to cover it); Salvy is not configured", need,
			 active, cfg->pool_min_active);
		if (alert_raise(ctx, "pool_provisioning_needed", NULL, ALERT_CRITICAL,
				cfg->pool_alert_cooldown_s, text) < 0 && !rc)
			rc = db_failure_rc(ctx->db);
		return rc;
	}
	if (provision_numbers(ctx, cfg->salvy_area_code, (int)need, "pool_deficit",
			      actor, &pr))
		return rc ? rc : db_failure_rc(ctx->db);
	out->salvy_ran = 1;
	out->provisioned = pr.numbers;
	out->provisioned_pending = pr.pending;
	if (pr.numbers < need) {
		snprintf(text, sizeof(text), "Provisioning short: %d of %ld new number(s) "
			 "(active %ld/%d): %s", pr.numbers, need, active,
			 cfg->pool_min_active, pr.error);
		if (alert_raise(ctx, "pool_provisioning_failed", NULL, ALERT_CRITICAL,
				cfg->pool_alert_cooldown_s, text) < 0 && !rc)
			rc = db_failure_rc(ctx->db);
	}
	if (pr.failed) {
		job_set_error(ctx, pr.error);
		if (!rc)
			rc = pr.rc == EX_CONFIG ? EX_CONFIG : EX_TEMPFAIL;
	}
	return rc;
}
