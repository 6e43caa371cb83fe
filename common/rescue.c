#include "rescue.h"
#include "alert.h"
#include "ctx.h"
#include "db.h"
#include "job.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

static const char rescue_sql[] =
	"SELECT recorded_sent, uncertain, requeued, requeued_dead, failed_max_attempts,"
	"  failed_ids, quota_given_back, chips_released, room_given_back, dead_workers"
	" FROM chipctl_rescue(p_heartbeat_s => $1::int, p_stuck_minutes => $2::int,"
	"  p_run => $3::uuid)";

static const char expire_sql[] =
	"WITH old AS ("
	"  SELECT id FROM fila_mensagens"
	"  WHERE status = 'pendente'"
	"    AND chipctl_message_expired(first_due_at, agendar_para, $1::int)"
	"  FOR UPDATE SKIP LOCKED"
	"), upd AS ("
	"  UPDATE fila_mensagens f SET status = 'cancelada', outcome = 'FAILED_EXPIRED',"
	"    outcome_reason_code = 'EXPIRED', updated_at = now()"
	"  WHERE f.id = ANY (ARRAY (SELECT id FROM old)) RETURNING 1"
	")"
	" SELECT count(*) FROM upd";

static const char expire_dry_sql[] =
	"SELECT count(*) FROM fila_mensagens WHERE status = 'pendente'"
	"   AND chipctl_message_expired(first_due_at, agendar_para, $1::int)";

/* The rescue's one statement; a dry run inside a transaction rolled back. */
static PGresult *run_rescue(struct chipctl_ctx *ctx)
{
	char hb[16], minutes[16];
	const char *p[3] = { hb, minutes, ctx->run_id };
	PGresult *res;

	snprintf(hb, sizeof(hb), "%d", ctx->cfg.watchdog_heartbeat_s);
	snprintf(minutes, sizeof(minutes), "%d", ctx->cfg.queue_stuck_minutes);
	if (!ctx->dry_run)
		return db_query(ctx->db, rescue_sql, 3, p);
	if (db_begin(ctx->db) < 0)
		return NULL;
	res = db_query(ctx->db, rescue_sql, 3, p);
	db_rollback(ctx->db);
	return res;
}

static void count_all(struct chipctl_ctx *ctx, const struct rescue_counts *c)
{
	job_count(ctx, "recorded_sent", c->recorded_sent);
	job_count(ctx, "requeued", c->requeued);
	job_count(ctx, "requeued_dead_worker", c->requeued_dead);
	job_count(ctx, "uncertain", c->uncertain);
	job_count(ctx, "failed_max_attempts", c->failed);
	job_count(ctx, "given_back", c->given_back);
	job_count(ctx, "chips_released", c->chips_released);
	job_count(ctx, "chip_room_given_back", c->room_given_back);
}

int rescue_stuck(struct chipctl_ctx *ctx, struct rescue_counts *c)
{
	PGresult *res = run_rescue(ctx);
	char text[256];

	memset(c, 0, sizeof(*c));
	if (!res)
		return -1;
	c->recorded_sent = db_long(res, 0, 0);
	c->uncertain = db_long(res, 0, 1);
	c->requeued = db_long(res, 0, 2);
	c->requeued_dead = db_long(res, 0, 3);
	c->failed = db_long(res, 0, 4);
	snprintf(c->failed_ids, sizeof(c->failed_ids), "%s", PQgetvalue(res, 0, 5));
	c->given_back = db_long(res, 0, 6);
	c->chips_released = db_long(res, 0, 7);
	c->room_given_back = db_long(res, 0, 8);
	snprintf(c->dead_workers, sizeof(c->dead_workers), "%s", PQgetvalue(res, 0, 9));
	PQclear(res);
	if (c->dead_workers[0])
		log_warn(ctx->dry_run ? "would take back dead workers' claims" :
					"took back dead workers' claims",
			 "workers=%s", c->dead_workers, "messages=%ld", c->requeued_dead,
			 "heartbeat_s=%d", ctx->cfg.watchdog_heartbeat_s);
	log_info(ctx->dry_run ? "would rescue stuck messages" : "rescued stuck messages",
		 "recorded_sent=%ld", c->recorded_sent, "requeued=%ld", c->requeued,
		 "requeued_dead_worker=%ld", c->requeued_dead, "uncertain=%ld", c->uncertain,
		 "failed_max_attempts=%ld", c->failed, "given_back=%ld", c->given_back,
		 "chips_released=%ld", c->chips_released,
		 "chip_room_given_back=%ld", c->room_given_back,
		 "stuck_minutes=%d", ctx->cfg.queue_stuck_minutes);
	if (!ctx->dry_run)
		count_all(ctx, c);
	/* a dry run's alert_raise only says it would raise it */
	if (c->failed > 0) {
		snprintf(text, sizeof(text),
			 "%ld message(s) stuck in processing used up their attempts and "
			 "failed with FAILED_MAX_ATTEMPTS (ids %s%s)", c->failed, c->failed_ids,
			 c->failed > 10 ? ", ..." : "");
		if (alert_raise(ctx, "queue_max_attempts", NULL, ALERT_CRITICAL,
				ctx->cfg.alerts_cooldown_s, text) < 0)
			return -1;
	}
	return 0;
}

int rescue_expire(struct chipctl_ctx *ctx, long *expired)
{
	char hours[16], text[256];
	const char *params[1] = { hours };
	PGresult *res;

	snprintf(hours, sizeof(hours), "%d", ctx->cfg.queue_expire_hours);
	res = db_query(ctx->db, ctx->dry_run ? expire_dry_sql : expire_sql, 1, params);
	if (!res)
		return -1;
	*expired = db_long(res, 0, 0);
	PQclear(res);
	log_info(ctx->dry_run ? "would expire old pending messages" :
				"expired old pending messages",
		 "expired=%ld", *expired, "expire_hours=%d", ctx->cfg.queue_expire_hours);
	if (!ctx->dry_run)
		job_count(ctx, "expired", *expired);
	if (*expired > 0) {
		snprintf(text, sizeof(text),
			 "%ld pending message(s) older than %d h were cancelled "
			 "with FAILED_EXPIRED", *expired, ctx->cfg.queue_expire_hours);
		if (alert_raise(ctx, "queue_expired", NULL, ALERT_WARNING,
				ctx->cfg.alerts_cooldown_s, text) < 0)
			return -1;
	}
	return 0;
}
