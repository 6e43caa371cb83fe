/* chipctl metrics-snapshot: persist the current metrics (T03.2). */
#include "builtin.h"
#include "db.h"
#include "health.h"
#include "job.h"
#include "log.h"
#include "strbuf.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

const char usage_metrics_snapshot[] =
	"usage: chipctl metrics-snapshot [-n|--dry-run] [--json]\n"
	"\n"
	"A job run, every 5 minutes: write the current metrics (the series of\n"
	"`chipctl metrics`: queue, chips, circuits, worker, jobs) as rows of\n"
	"metrics_snapshots (name, value, labels, time), and delete the rows older\n"
	"than metrics.retention_days (7), in one statement.\n"
	"\n"
	"  -n, --dry-run  count what would be written and deleted; change nothing\n"
	"      --json     print the counts as JSON on stdout\n"
	"\n"
	"Exit: 0 done (also when another run holds the lease), 64 usage, 75\n"
	"database unreachable, 78 configuration error, 70 internal error.\n";

int cmd_metrics_snapshot(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = { CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	struct strbuf sql = STRBUF_INIT, jobs = STRBUF_INIT;
	char hb[16], days[16];
	const char *params[4] = { hb, NULL, days, ctx->run_id };
	PGresult *res;
	long written, deleted;
	int rc;

	while (cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts) != -1)
		;
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	snprintf(hb, sizeof(hb), "%d", ctx->cfg.watchdog_heartbeat_s);
	snprintf(days, sizeof(days), "%d", ctx->cfg.metrics_retention_days);
	job_names_array(&jobs);
	params[1] = sb_str(&jobs);	/* $1 and $2 are health_metrics_sql's */
	if (ctx->dry_run)
		sb_addf(&sql, "SELECT (SELECT count(*) FROM (%s) m),"
			" (SELECT count(*) FROM metrics_snapshots"
			"  WHERE created_at < now() - make_interval(days => $3::int))",
			health_metrics_sql);
	else
		sb_addf(&sql, "WITH del AS (DELETE FROM metrics_snapshots"
			"  WHERE created_at < now() - make_interval(days => $3::int) RETURNING 1),"
			" ins AS (INSERT INTO metrics_snapshots (name, labels, value, run_id)"
			"  SELECT m.name, m.labels::jsonb, m.value, $4::uuid FROM (%s) m RETURNING 1)"
			" SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM del)",
			health_metrics_sql);
	res = db_query(ctx->db, sb_str(&sql), ctx->dry_run ? 3 : 4, params);
	sb_free(&sql);
	sb_free(&jobs);
	if (!res)
		return db_failure_rc(ctx->db);
	written = db_long(res, 0, 0);
	deleted = db_long(res, 0, 1);
	PQclear(res);
	log_info(ctx->dry_run ? "would snapshot metrics" : "metrics snapshot written",
		 "written=%ld", written, "deleted=%ld", deleted,
		 "retention_days=%d", ctx->cfg.metrics_retention_days);
	job_count(ctx, "written", written);
	job_count(ctx, "deleted", deleted);
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "dry_run", json_object_new_boolean(ctx->dry_run));
		json_object_object_add(o, "written", json_object_new_int64(written));
		json_object_object_add(o, "deleted", json_object_new_int64(deleted));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	}
	return 0;
}
