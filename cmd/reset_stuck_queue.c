/* chipctl reset-stuck-queue: rescue stuck messages, expire old ones (T01.1, T01.2). */
#include "alert.h"
#include "builtin.h"
#include "db.h"
#include "job.h"
#include "log.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

const char usage_reset_stuck_queue[] =
	"usage: chipctl reset-stuck-queue [--expire] [-n|--dry-run] [--json]\n"
	"\n"
	"Without --expire (every 15 min): a message in 'processando' for more than\n"
	"queue.stuck_minutes (60) that its worker proved sent (a successful attempt\n"
	"since it was claimed) is recorded 'enviada', never sent again; any other\n"
	"goes back to 'pendente' with tentativas + 1; one\n"
	"whose attempts are used up (tentativas reaches max_tentativas) becomes\n"
	"'erro' with outcome FAILED_MAX_ATTEMPTS, and an alert is raised.\n"
	"\n"
	"With --expire (daily at 03:00): a message 'pendente' more than\n"
	"queue.expire_hours (24) past its first due time (its creation, or the\n"
	"time it was scheduled for; never a later reschedule, so waiting for a\n"
	"chip cannot keep it alive) becomes 'cancelada' with outcome FAILED_EXPIRED.\n"
	"\n"
	"  --expire       cancel expired pending messages instead\n"
	"  -n, --dry-run  count what would change; change nothing\n"
	"      --json     print the counts as JSON on stdout\n"
	"\n"
	"Exit: 0 done (also when another run holds the lease), 64 usage, 75\n"
	"database unreachable, 78 configuration error or refused credentials,\n"
	"70 internal error.\n";

/* A stuck message: claimed more than $1 minutes ago. */
#define STUCK "status = 'processando'" \
	" AND processando_desde < now() - make_interval(mins => $1::int)"

/* A stuck message its worker proved sent (a successful attempt since it
 * was claimed) is recorded sent, not sent again (sql/009). */
static const char proven_sql[] =
	"SELECT count(*) FILTER (WHERE recorded) FROM chipctl_record_sent_batch(p_msgs =>"
	"  ARRAY (SELECT id FROM fila_mensagens WHERE " STUCK " ORDER BY id))";

static const char proven_dry_sql[] =
	"SELECT count(*) FROM fila_mensagens f WHERE " STUCK
	"   AND EXISTS (SELECT 1 FROM chipctl_sent_proof(f.id, f.processando_desde))";

/*
 * The ids go through ARRAY(...) so the update probes the primary key for
 * each one: joining the CTE instead lets a stale row estimate pick a hash
 * join over the whole million-row table.
 */
static const char rescue_sql[] =
	"WITH stuck AS ("
	"  SELECT id FROM fila_mensagens WHERE " STUCK
	"  FOR UPDATE SKIP LOCKED"
	"), upd AS ("
	"  UPDATE fila_mensagens f SET"
	"    tentativas = f.tentativas + 1,"
	"    status = CASE WHEN chipctl_attempts_exhausted(f.tentativas + 1, f.max_tentativas)"
	"                  THEN 'erro' ELSE 'pendente' END,"
	"    outcome = CASE WHEN chipctl_attempts_exhausted(f.tentativas + 1, f.max_tentativas)"
	"                   THEN 'FAILED_MAX_ATTEMPTS' ELSE f.outcome END,"
	"    outcome_reason_code = CASE"
	"      WHEN chipctl_attempts_exhausted(f.tentativas + 1, f.max_tentativas)"
	"      THEN 'STUCK_PROCESSING' ELSE f.outcome_reason_code END,"
	"    first_due_at = coalesce(f.first_due_at, f.agendar_para),"
	"    ultimo_erro = 'stuck in processando, rescued by reset-stuck-queue',"
	"    processando_desde = NULL, worker_id = NULL, updated_at = now()"
	"  WHERE f.id = ANY (ARRAY (SELECT id FROM stuck))"
	"  RETURNING f.id, f.status"
	")"
	" SELECT count(*) FILTER (WHERE status = 'pendente'),"
	"        count(*) FILTER (WHERE status = 'erro'),"
	"        coalesce(array_to_string((array_agg(id ORDER BY id)"
	"          FILTER (WHERE status = 'erro'))[1:10], ', '), '')"
	" FROM upd";

static const char rescue_dry_sql[] =
	"SELECT count(*) FILTER (WHERE NOT chipctl_attempts_exhausted(tentativas + 1, max_tentativas)),"
	"       count(*) FILTER (WHERE chipctl_attempts_exhausted(tentativas + 1, max_tentativas)), ''"
	" FROM fila_mensagens f WHERE " STUCK
	"   AND NOT EXISTS (SELECT 1 FROM chipctl_sent_proof(f.id, f.processando_desde))";

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

static void print_counts(struct chipctl_ctx *ctx, const char *k1, long v1,
			 const char *k2, long v2, const char *k3, long v3)
{
	json_object *o;

	if (!ctx->json)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "dry_run", json_object_new_boolean(ctx->dry_run));
	json_object_object_add(o, k1, json_object_new_int64(v1));
	if (k2)
		json_object_object_add(o, k2, json_object_new_int64(v2));
	if (k3)
		json_object_object_add(o, k3, json_object_new_int64(v3));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static int rescue(struct chipctl_ctx *ctx)
{
	char minutes[16], text[256];
	const char *params[1] = { minutes };
	PGresult *res;
	long requeued, failed, proven;

	snprintf(minutes, sizeof(minutes), "%d", ctx->cfg.queue_stuck_minutes);
	res = db_query(ctx->db, ctx->dry_run ? proven_dry_sql : proven_sql, 1, params);
	if (!res)
		return db_failure_rc(ctx->db);
	proven = db_long(res, 0, 0);
	PQclear(res);
	res = db_query(ctx->db, ctx->dry_run ? rescue_dry_sql : rescue_sql, 1, params);
	if (!res)
		return db_failure_rc(ctx->db);
	requeued = db_long(res, 0, 0);
	failed = db_long(res, 0, 1);
	log_info(ctx->dry_run ? "would rescue stuck messages" : "rescued stuck messages",
		 "recorded_sent=%ld", proven, "requeued=%ld", requeued,
		 "failed_max_attempts=%ld", failed, "stuck_minutes=%d", ctx->cfg.queue_stuck_minutes);
	job_count(ctx, "recorded_sent", proven);
	job_count(ctx, "requeued", requeued);
	job_count(ctx, "failed_max_attempts", failed);
	if (failed > 0) {
		snprintf(text, sizeof(text),
			 "%ld message(s) stuck in processing used up their attempts and "
			 "failed with FAILED_MAX_ATTEMPTS (ids %s%s)", failed,
			 PQgetvalue(res, 0, 2), failed > 10 ? ", ..." : "");
		if (alert_raise(ctx, "queue_max_attempts", NULL, ALERT_CRITICAL,
				ctx->cfg.alerts_cooldown_s, text) < 0) {
			PQclear(res);
			return db_failure_rc(ctx->db);
		}
	}
	PQclear(res);
	print_counts(ctx, "requeued", requeued, "failed_max_attempts", failed, "recorded_sent",
		     proven);
	return 0;
}

static int expire(struct chipctl_ctx *ctx)
{
	char hours[16], text[256];
	const char *params[1] = { hours };
	PGresult *res;
	long expired;

	snprintf(hours, sizeof(hours), "%d", ctx->cfg.queue_expire_hours);
	res = db_query(ctx->db, ctx->dry_run ? expire_dry_sql : expire_sql, 1, params);
	if (!res)
		return db_failure_rc(ctx->db);
	expired = db_long(res, 0, 0);
	PQclear(res);
	log_info(ctx->dry_run ? "would expire old pending messages" :
				"expired old pending messages",
		 "expired=%ld", expired, "expire_hours=%d", ctx->cfg.queue_expire_hours);
	job_count(ctx, "expired", expired);
	if (expired > 0) {
		snprintf(text, sizeof(text),
			 "%ld pending message(s) older than %d h were cancelled "
			 "with FAILED_EXPIRED", expired, ctx->cfg.queue_expire_hours);
		if (alert_raise(ctx, "queue_expired", NULL, ALERT_WARNING,
				ctx->cfg.alerts_cooldown_s, text) < 0)
			return db_failure_rc(ctx->db);
	}
	print_counts(ctx, "expired", expired, NULL, 0, NULL, 0);
	return 0;
}

int cmd_reset_stuck_queue(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = {
		{ "expire", no_argument, 0, 'e' }, CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	int c, do_expire = 0, rc;

	while ((c = cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts)) != -1)
		if (c == 'e')
			do_expire = 1;
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	/* The daily expiry has its own lease, so it never skips the rescue
	 * that cron starts in the same minute. */
	if (do_expire)
		ctx->job_name = "reset-stuck-queue-expire";
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	return do_expire ? expire(ctx) : rescue(ctx);
}
