/* chipctl health: monitoring-plugin checks (T01.4, T01.6, T03.1, T03.4, T10.2, T02.5). */
#include "builtin.h"
#include "db.h"
#include "health.h"
#include "health_print.h"
#include "log.h"
#include "migrations.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_health[] =
	"usage: chipctl health [ready|queue|worker|chips|circuits|jobs|evolution|\n"
	"                      score|deep]\n"
	"                      [--evolution] [--json]\n"
	"\n"
	"One check (default deep), in the monitoring-plugin convention: one line\n"
	"'STATUS - summary | performance data' on stdout, and the exit code.\n"
	"  ready     database reachable and every migration applied\n"
	"            (with --evolution: Evolution answers too)\n"
	"  queue     pending, due, processing, sent and errors in the last hour,\n"
	"            mean processing ms, oldest due message's age\n"
	"  worker    age of the newest send-worker heartbeat\n"
	"  chips     chips available to send now (chipctl_chip_now.sendable);\n"
	"            CRITICAL with none, or while no chip may prospect or\n"
	"            none may follow up (the pool alert's condition)\n"
	"  circuits  provider and chip breakers, transitions in 24 h\n"
	"  jobs      watched jobs without a successful run (counted from the last\n"
	"            success, or from the first migration if none) late past\n"
	"            interval + jobs.grace_s (WARNING) or down past twice the\n"
	"            interval (CRITICAL); failing: most recent runs failed\n"
	"  evolution the server answers (CRITICAL when not, or when its breaker\n"
	"            is open; WARNING half open), and it keeps the messages it\n"
	"            sends: WARNING when a message known sent was not found by its\n"
	"            id (pull-messages and reconciliation are off); UNKNOWN\n"
	"            without evolution.url\n"
	"  score     components 0-100 (database, evolution, circuits, queue,\n"
	"            worker, jobs, chips: 100 OK, 50 WARNING, 0 CRITICAL) and the\n"
	"            mean of those measured: healthy >= 80,\n"
	"            degraded >= 50; one not configured or not measured is\n"
	"            unknown and makes the check UNKNOWN unless it is CRITICAL\n"
	"  deep      all of them; the worst status wins\n"
	"\n"
	"      --evolution  ready: also probe Evolution\n"
	"      --json       the full object on stdout instead of the line\n"
	"\n"
	"Exit: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Database unreachable: ready,\n"
	"score and deep 2, the others 3. Configuration error or usage error: 3.\n";

enum check { C_READY, C_QUEUE, C_WORKER, C_CHIPS, C_CIRCUITS, C_JOBS, C_EVOLUTION,
	     C_SCORE, NCHECKS };

static const char *const check_names[NCHECKS] = {
	"ready", "queue", "worker", "chips", "circuits", "jobs", "evolution", "score",
};

struct run {
	struct chipctl_ctx *ctx;
	int db_ok;			/* connected */
	int snap_ok, jobs_ok;
	struct health_snapshot snap;
	struct health_job jobs[HEALTH_MAX_JOBS];
	int njobs;
	int probe_evolution;		/* --evolution */
	struct health_result res[NCHECKS];
	int done[NCHECKS];
};

static void add_rows(struct run *rn, struct health_result *r, const char *key,
		     const char *sql)
{
	PGresult *res = db_query(rn->ctx->db, sql, 0, NULL);

	if (res) {
		json_object_object_add(r->json, key, health_rows_json(res));
		PQclear(res);
	}
}

static void unknown(struct health_result *r, const char *why)
{
	r->status = HEALTH_UNKNOWN;
	r->score = 0;
	sb_reset(&r->text);
	sb_add(&r->text, why);
}

static void check_ready(struct run *rn, struct health_result *r)
{
	int pending = 0, edited = 0, unknown_n = 0;

	r->score = 100;
	if (!rn->db_ok) {
		r->status = HEALTH_CRITICAL;
		r->score = 0;
		sb_add(&r->text, "database unreachable");
		json_object_object_add(r->json, "database", json_object_new_string("unreachable"));
		return;
	}
	json_object_object_add(r->json, "database", json_object_new_string("ok"));
	if (migrations_check(rn->ctx->db, &pending, &edited, &unknown_n, NULL, 0, NULL)) {
		r->status = HEALTH_CRITICAL;
		r->score = 0;
		sb_add(&r->text, "database reachable, cannot read schema_migrations");
		return;
	}
	if (pending || edited) {
		r->status = HEALTH_CRITICAL;
		r->score = 50;
		sb_addf(&r->text, "database reachable, migrations not current "
			"(%d pending, %d edited)", pending, edited);
	} else {
		sb_addf(&r->text, "database reachable, %d migrations current", nmigrations);
	}
	json_object_object_add(r->json, "migrations_pending", json_object_new_int(pending));
	json_object_object_add(r->json, "migrations_edited", json_object_new_int(edited));
	health_perf(r, "migrations_pending", pending, NULL, NULL, "1");
	if (rn->probe_evolution) {
		char why[300];
		int ok = health_probe_evolution(&rn->ctx->cfg, why, sizeof(why));

		sb_addf(&r->text, ", %s", why);
		json_object_object_add(r->json, "evolution",
				       json_object_new_string(ok > 0 ? "ok" : why));
		if (ok < 0 && r->status == HEALTH_OK)
			r->status = HEALTH_UNKNOWN;
		else if (ok == 0)
			r->status = HEALTH_CRITICAL;
	}
}

static int need_snapshot(struct run *rn, struct health_result *r)
{
	if (!rn->db_ok) {
		unknown(r, "database unreachable");
		return 0;
	}
	if (!rn->snap_ok) {
		unknown(r, "cannot read the database (see the log)");
		return 0;
	}
	return 1;
}

static void check_jobs(struct run *rn, struct health_result *r)
{
	if (!rn->db_ok) {
		unknown(r, "database unreachable");
		return;
	}
	if (!rn->jobs_ok) {
		unknown(r, "cannot read job_executions (see the log)");
		return;
	}
	health_eval_jobs(&rn->ctx->cfg, rn->jobs, rn->njobs, r);
}

static void run_check(struct run *rn, enum check c);

#define NCOMP 7

/*
 * The mean of the components that were measured: every one the checks
 * judge, so a CRITICAL check always pulls the overall score down. One not configured or not
 * measured (Evolution without evolution.url, jobs when none is watched, a
 * check that could not read the database) has no score: it is listed as
 * unknown and left out of the mean, and the check is UNKNOWN unless the
 * measured mean is already unhealthy (CRITICAL beats UNKNOWN, as in deep).
 */
static void check_score(struct run *rn, struct health_result *r)
{
	static const enum check from[NCOMP] = { C_READY, C_EVOLUTION, C_CIRCUITS, C_QUEUE,
						C_WORKER, C_JOBS, C_CHIPS };
	static const char *const names[NCOMP] = { "database", "evolution", "circuits",
						  "queue", "worker", "jobs", "chips" };
	int score[NCOMP], known[NCOMP];
	json_object *jc = json_object_new_object(), *unk = json_object_new_array();
	double sum = 0, overall;
	int i, measured = 0;
	const char *health;

	for (i = C_READY; i < C_SCORE; i++)
		run_check(rn, (enum check)i);
	if (!rn->db_ok) {
		/* the other components cannot be measured */
		r->status = HEALTH_CRITICAL;
		r->score = 0;
		sb_add(&r->text, "database unreachable: score 0 (unhealthy)");
		health_perf(r, "overall", 0, NULL, "80:", "50:");
		json_object_object_add(r->json, "overall", json_object_new_double(0));
		json_object_object_add(r->json, "health", json_object_new_string("unhealthy"));
		json_object_put(jc);
		json_object_put(unk);
		return;
	}
	for (i = 0; i < NCOMP; i++) {
		score[i] = rn->res[from[i]].score;
		known[i] = from[i] == C_READY || rn->res[from[i]].status != HEALTH_UNKNOWN;
		if (known[i]) {
			sum += score[i];
			measured++;
		} else {
			json_object_array_add(unk, json_object_new_string(names[i]));
		}
		json_object_object_add(jc, names[i], known[i] ?
				       json_object_new_int(score[i]) : NULL);
	}
	overall = measured ? health_round1(sum / measured) : 0;
	health = overall >= 80 ? "healthy" : overall >= 50 ? "degraded" : "unhealthy";
	r->status = overall >= 80 ? HEALTH_OK : overall >= 50 ? HEALTH_WARNING : HEALTH_CRITICAL;
	if (measured < NCOMP && r->status != HEALTH_CRITICAL)
		r->status = HEALTH_UNKNOWN;
	r->score = (int)overall;
	sb_addf(&r->text, "score %.1f (%s):", overall, health);
	for (i = 0; i < NCOMP; i++) {
		if (known[i])
			sb_addf(&r->text, "%s %s %d", i ? "," : "", names[i], score[i]);
		else
			sb_addf(&r->text, "%s %s unknown", i ? "," : "", names[i]);
	}
	if (!known[1])
		sb_addf(&r->text, " (%s)", sb_str(&rn->res[C_EVOLUTION].text));
	health_perf(r, "overall", overall, NULL, "80:", "50:");
	for (i = 0; i < NCOMP; i++)
		if (known[i])
			health_perf(r, names[i], score[i], NULL, NULL, NULL);
	json_object_object_add(r->json, "overall", health_json_double(overall));
	json_object_object_add(r->json, "health", json_object_new_string(health));
	json_object_object_add(r->json, "components", jc);
	json_object_object_add(r->json, "unknown", unk);
}

/* The chips as the send path sees them (006's chipctl_chip_now). */
static const char chips_list_sql[] =
	"SELECT n.instance_name AS instance, right(c.telefone, 4) AS telefone_end,"
	"  n.status, n.provider, n.trust_score::float8 AS trust_score, n.trust_level,"
	"  n.connected, n.pode_prospectar, n.pode_followup,"
	"  n.chip_breaker AS circuit_state, n.cooling, n.sendable,"
	"  (SELECT count(*) FROM fila_mensagens f WHERE f.chip_id = c.id"
	"    AND f.enviada_em > now() - interval '24 hours') AS msgs_24h,"
	"  c.erros_ultimas_24h AS errors_24h"
	" FROM chipctl_chip_now n JOIN chips c ON c.id = n.id"
	" WHERE n.status <> 'banned' ORDER BY n.instance_name";

static const char breakers_list_sql[] =
	"SELECT b.name, b.kind, b.state, b.override, b.effective_state,"
	"  b.consecutive_failures,"
	"  b.opened_at::text AS opened_at, b.retry_at::text AS retry_at, b.last_failure,"
	"  (SELECT count(*) FROM circuit_transitions t WHERE t.breaker = b.name"
	"    AND t.created_at > now() - interval '24 hours') AS transitions_24h"
	" FROM chipctl_breakers b"
	" WHERE b.kind = 'provider' OR b.state <> 'closed' OR b.override IS NOT NULL"
	"   OR EXISTS (SELECT 1 FROM circuit_transitions t WHERE t.breaker = b.name"
	"     AND t.created_at > now() - interval '24 hours')"
	" ORDER BY b.kind DESC, b.name";

static void run_check(struct run *rn, enum check c)
{
	struct health_result *r = &rn->res[c];

	if (rn->done[c])
		return;
	rn->done[c] = 1;
	health_result_init(r, check_names[c]);
	switch (c) {
	case C_READY:
		check_ready(rn, r);
		break;
	case C_QUEUE:
		if (need_snapshot(rn, r))
			health_eval_queue(&rn->ctx->cfg, &rn->snap, r);
		break;
	case C_WORKER:
		if (need_snapshot(rn, r))
			health_eval_worker(&rn->ctx->cfg, &rn->snap, r);
		break;
	case C_CHIPS:
		if (need_snapshot(rn, r)) {
			health_eval_chips(&rn->ctx->cfg, &rn->snap, r);
			if (rn->ctx->json)
				add_rows(rn, r, "chips", chips_list_sql);
		}
		break;
	case C_CIRCUITS:
		if (need_snapshot(rn, r)) {
			health_eval_circuits(&rn->ctx->cfg, &rn->snap, r);
			if (rn->ctx->json)
				add_rows(rn, r, "breakers", breakers_list_sql);
		}
		break;
	case C_JOBS:
		check_jobs(rn, r);
		break;
	case C_EVOLUTION:
		health_eval_evolution(rn->ctx, rn->snap_ok ? &rn->snap : NULL, rn->db_ok, r);
		break;
	case C_SCORE:
		check_score(rn, r);
		break;
	default:
		break;
	}
}

int cmd_health(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = {
		{ "evolution", no_argument, 0, 'E' }, CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	struct run rn;
	int c, rc, which = -1, i;
	char app[64];

	memset(&rn, 0, sizeof(rn));
	rn.ctx = ctx;
	while ((c = cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts)) != -1)
		if (c == 'E')
			rn.probe_evolution = 1;
	if (ctx->exit_now > 0)
		return HEALTH_UNKNOWN;	/* plugins answer a usage error with 3 */
	if (ctx->exit_now < 0 && optind < argc) {
		for (i = 0; i < NCHECKS; i++)
			if (!strcmp(argv[optind], check_names[i]))
				which = i;
		if (!strcmp(argv[optind], "deep"))
			which = NCHECKS;
		if (which < 0) {
			cli_usage_error(ctx, "unknown check", argv[optind]);
			return HEALTH_UNKNOWN;
		}
		if (optind + 1 < argc) {
			cli_usage_error(ctx, "unexpected argument", argv[optind + 1]);
			return HEALTH_UNKNOWN;
		}
	}
	if (which < 0)
		which = NCHECKS;
	rc = ctx_start(ctx);
	if (rc == 0)
		return 0;	/* --help */
	if (rc > 0) {
		return health_print_unknown(rc == EX_CONFIG ?
			"the configuration does not load (see the log)" :
			"cannot start (see the log)", ctx->json);
	}
	if (!ctx->cfg.database_url) {
		return health_print_unknown("database.url is not set (config or DATABASE_URL)",
					    ctx->json);
	}
	snprintf(app, sizeof(app), "chipctl/health/%.8s", ctx->run_id);
	rn.db_ok = db_open(&ctx->db, ctx->cfg.database_url, app,
			   ctx->cfg.db_connect_timeout_s) == 0;
	if (rn.db_ok && which != C_READY) {
		rn.snap_ok = health_snapshot(ctx, &rn.snap) == 0;
		if (which == C_JOBS || which == C_SCORE || which == NCHECKS) {
			rn.njobs = health_jobs(ctx, rn.jobs, HEALTH_MAX_JOBS);
			rn.jobs_ok = rn.njobs >= 0;
		}
	}
	if (which == NCHECKS) {
		for (i = 0; i < NCHECKS; i++)
			run_check(&rn, (enum check)i);
		rc = health_print_deep(rn.res, NCHECKS, sb_str(&rn.res[C_SCORE].text), ctx->json);
	} else {
		run_check(&rn, (enum check)which);
		rc = health_print_one(&rn.res[which], ctx->json);
	}
	for (i = 0; i < NCHECKS; i++)
		if (rn.done[i])
			health_result_free(&rn.res[i]);
	return rc;
}
