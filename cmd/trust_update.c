/* chipctl trust-update: recompute every chip's trust score (T07.1, T08.3, T08.4). */
#include "builtin.h"
#include "db.h"
#include "job.h"
#include "log.h"
#include "trust.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

const char usage_trust_update[] =
	"usage: chipctl trust-update [-n|--dry-run] [--json]\n"
	"\n"
	"Every 15 min: for every chip in warming, ready, active or degraded,\n"
	"recompute the rolling metrics (errors in the last 24 h, days without\n"
	"error, delivery, response and block rates over trust.window_days (7),\n"
	"bidirectional conversations, media diversity), then the score (base 50\n"
	"plus eight weighted factors, clamped to 0..100), the level (verde >= 80,\n"
	"amarelo >= 60, laranja >= 40, vermelho >= 20, critico) and the\n"
	"permissions (prospect >= 80, follow-up >= 60, reply >= 40), all in one\n"
	"statement, with a history row per chip. A chip that falls to vermelho\n"
	"or critico raises an alert; more than trust.failure_alert_pct (50) of\n"
	"the chips failing to update raises another. See chipctl-trust-update(1)\n"
	"for the formula and `chipctl chip explain` for one chip's numbers.\n"
	"\n"
	"  -n, --dry-run  compute and report, in a transaction rolled back\n"
	"      --json     print the counts as JSON on stdout\n"
	"\n"
	"Exit: 0 done (also when another run holds the lease), 64 usage, 70 some\n"
	"chips could not be updated or internal error, 75 database unreachable,\n"
	"78 configuration error or refused credentials.\n";

static const char *const level_names[] = {
	"verde", "amarelo", "laranja", "vermelho", "critico"
};

static void print_json(struct chipctl_ctx *ctx, const struct trust_run *run)
{
	json_object *o = json_object_new_object(), *lv = json_object_new_object();
	int i;

	json_object_object_add(o, "dry_run", json_object_new_boolean(ctx->dry_run));
	json_object_object_add(o, "chips", json_object_new_int64(run->chips));
	json_object_object_add(o, "updated", json_object_new_int64(run->updated));
	json_object_object_add(o, "failed", json_object_new_int64(run->failed));
	json_object_object_add(o, "level_changes", json_object_new_int64(run->level_changes));
	json_object_object_add(o, "alerts", json_object_new_int64(run->alerts));
	for (i = 0; i < 5; i++)
		json_object_object_add(lv, level_names[i], json_object_new_int64(run->by_level[i]));
	json_object_object_add(o, "levels", lv);
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

/* Old webhook keys (Evolution stops retrying within hours) and history
 * beyond trust.history_days. */
static int prune(struct chipctl_ctx *ctx)
{
	char days[16];
	const char *params[1] = { days };
	PGresult *res;

	snprintf(days, sizeof(days), "%d", ctx->cfg.trust_history_days);
	res = db_query(ctx->db,
		"WITH w AS (DELETE FROM webhook_events"
		"           WHERE received_at < now() - interval '7 days' RETURNING 1),"
		" h AS (DELETE FROM chip_trust_history"
		"       WHERE created_at < now() - make_interval(days => $1::int) RETURNING 1)"
		" SELECT (SELECT count(*) FROM w), (SELECT count(*) FROM h)", 1, params);
	if (!res)
		return db_failure_rc(ctx->db);
	job_count(ctx, "pruned_webhook_events", db_long(res, 0, 0));
	job_count(ctx, "pruned_history", db_long(res, 0, 1));
	PQclear(res);
	return 0;
}

int cmd_trust_update(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = { CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	struct trust_run run;
	int rc;

	while (cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts) != -1)
		;
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	memset(&run, 0, sizeof(run));
	rc = trust_recalc(ctx, NULL, "trust-update", &run);
	log_info(ctx->dry_run ? "would update trust scores" : "updated trust scores",
		 "chips=%ld", run.chips, "updated=%ld", run.updated,
		 "failed=%ld", run.failed, "level_changes=%ld", run.level_changes,
		 "verde=%ld", run.by_level[0], "amarelo=%ld", run.by_level[1],
		 "laranja=%ld", run.by_level[2], "vermelho=%ld", run.by_level[3],
		 "critico=%ld", run.by_level[4]);
	job_count(ctx, "chips", run.chips);
	job_count(ctx, "updated", run.updated);
	job_count(ctx, "failed", run.failed);
	job_count(ctx, "level_changes", run.level_changes);
	if (run.failed)
		job_set_error(ctx, "some chips could not be updated");
	if (rc == 0 || rc == 70) {
		int prc = ctx->dry_run ? 0 : prune(ctx);

		if (prc && !rc)
			rc = prc;
		if (ctx->json)
			print_json(ctx, &run);
	}
	return rc;
}
