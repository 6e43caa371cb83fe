/* chipctl pool-check: keep the chip pool able to send (T11.1, T11.3,
 * T10.3, T11.4). */
#include "alert.h"
#include "builtin.h"
#include "db.h"
#include "job.h"
#include "lifecycle.h"
#include "log.h"
#include "provision.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

const char usage_pool_check[] =
	"usage: chipctl pool-check [-n|--dry-run] [--json]\n"
	"\n"
	"Every minute, in this order:\n"
	"  1. demote each active chip that has a demotion reason to degraded:\n"
	"     trust below pool.demote_trust_below (40), more than\n"
	"     pool.demote_errors_24h (10) errors in 24 h, disconnected from its\n"
	"     provider (Evolution or Z-API) for more than\n"
	"     pool.demote_disconnected_min (30) minutes, block rate above\n"
	"     pool.demote_block_rate_permille (20, i.e. 2 %); one alert per chip;\n"
	"  2. return degraded chips that have no demotion reason any more, after\n"
	"     pool.recover_after_min (60), connected and not cooling off, to ready\n"
	"     through recovery (phase 1);\n"
	"  3. graduate warming chips with pool.graduate_days (21) days and trust of\n"
	"     at least pool.graduate_trust (85) to ready;\n"
	"  4. promote ready chips (connected, no demotion reason, best trust\n"
	"     first) to active until pool.min_active (5) holds;\n"
	"  5. advance recovery phases: 1 (10 % of the limits) on day 1, 2 (25 %)\n"
	"     on days 2-3, 3 (50 %) on days 4-6, then none (100 %);\n"
	"  6. move the active conversations of degraded and banned chips to active\n"
	"     chips (the doctor's affinity chip first), with the affinity, a\n"
	"     chip_migrations row each, and a continuity message\n"
	"     pool.continuity_delay_hours (24) later when the conversation had an\n"
	"     interaction in the last pool.migration_recent_hours (48);\n"
	"  7. pool alerts, pool.alert_cooldown_s (1800) per type, recorded in\n"
	"     pool_alerts: active below pool.min_active (critical), ready below\n"
	"     pool.min_ready or warming below pool.min_warming (warning), no active\n"
	"     chip may prospect (critical);\n"
	"  8. when ready, warming, pending and provisioned chips cannot cover the\n"
	"     active deficit: a provisioning request and an alert, and with Salvy\n"
	"     configured new numbers (salvy.area_code, at most salvy.max_per_day a\n"
	"     day) whose Evolution instances are created (chip pending);\n"
	"     instances that failed to be created are retried, and the Salvy\n"
	"     numbers of banned chips are cancelled (reason whatsapp-ban).\n"
	"\n"
	"  -n, --dry-run  decide and log what would change; change nothing\n"
	"      --json     print what was done as JSON on stdout\n"
	"\n"
	"Exit: 0 done (also when another run holds the lease), 64 usage, 75\n"
	"database unreachable or Salvy failed, 78 configuration error or refused\n"
	"credentials, 70 internal error.\n";

struct pool {
	long active, ready, warming, pending, provisioned, degraded, banned;
	long prospect;
};

static const char counts_sql[] =
	"SELECT count(*) FILTER (WHERE status = 'active'),"
	"  count(*) FILTER (WHERE status = 'ready'),"
	"  count(*) FILTER (WHERE status = 'warming'),"
	"  count(*) FILTER (WHERE status = 'pending'),"
	"  count(*) FILTER (WHERE status = 'provisioned'),"
	"  count(*) FILTER (WHERE status = 'degraded'),"
	"  count(*) FILTER (WHERE status = 'banned'),"
	"  (SELECT may_prospect FROM chipctl_pool_permissions)"
	" FROM chips";

static const char pool_alert_sql[] =
	"INSERT INTO pool_alerts (tipo, severidade, mensagem, counts, run_id)"
	" VALUES ($1, $2, $3, $4::jsonb, $5::uuid)";

struct run {
	struct chipctl_ctx *ctx;
	char actor[64];
	int rc;			/* first failure, kept while the steps go on */
	json_object *out;
};

static void fail(struct run *r, int rc)
{
	if (!r->rc)
		r->rc = rc;
}

static void count(struct run *r, const char *key, long n)
{
	job_count(r->ctx, key, n);
	json_object_object_add(r->out, key, json_object_new_int64(n));
}

static void step_lifecycle(struct run *r)
{
	struct lifecycle_pass lp;
	int rc = lifecycle_pool_pass(r->ctx, r->actor, &lp);

	if (rc)
		fail(r, rc);
	count(r, "demoted", lp.demoted);
	count(r, "recovered", lp.recovered);
	count(r, "graduated", lp.graduated);
	count(r, "promoted", lp.promoted);
	count(r, "recovery_advanced", lp.recovery_advanced);
	count(r, "recovery_completed", lp.recovery_completed);
	count(r, "conversations_migrated", lp.conversations_migrated);
	count(r, "continuity_scheduled", lp.continuity_scheduled);
}

static int read_pool(struct run *r, struct pool *pl)
{
	PGresult *res = db_query(r->ctx->db, counts_sql, 0, NULL);

	if (!res) {
		fail(r, db_failure_rc(r->ctx->db));
		return -1;
	}
	pl->active = db_long(res, 0, 0);
	pl->ready = db_long(res, 0, 1);
	pl->warming = db_long(res, 0, 2);
	pl->pending = db_long(res, 0, 3);
	pl->provisioned = db_long(res, 0, 4);
	pl->degraded = db_long(res, 0, 5);
	pl->banned = db_long(res, 0, 6);
	pl->prospect = db_long(res, 0, 7);
	PQclear(res);
	return 0;
}

static char *pool_json(const struct pool *pl)
{
	static char buf[300];

	snprintf(buf, sizeof(buf), "{\"active\":%ld,\"ready\":%ld,\"warming\":%ld,"
		 "\"pending\":%ld,\"provisioned\":%ld,\"degraded\":%ld,\"banned\":%ld,"
		 "\"prospect\":%ld}", pl->active, pl->ready, pl->warming, pl->pending,
		 pl->provisioned, pl->degraded, pl->banned, pl->prospect);
	return buf;
}

/* Raise (or clear) one pool alert; a raised one is recorded in pool_alerts. */
static void pool_alert(struct run *r, const struct pool *pl, int on,
		       const char *type, enum alert_severity sev, const char *text)
{
	struct chipctl_ctx *ctx = r->ctx;
	const char *p[5];
	int q;

	if (!on) {
		if (!ctx->dry_run)
			alert_resolve(ctx, type, NULL, "pool back above its minimum");
		return;
	}
	q = alert_raise(ctx, type, NULL, sev, ctx->cfg.pool_alert_cooldown_s, text);
	if (q < 0) {
		fail(r, db_failure_rc(ctx->db));
		return;
	}
	if (q == 0)
		return;
	p[0] = type;
	p[1] = alert_severity_name(sev);
	p[2] = text;
	p[3] = pool_json(pl);
	p[4] = ctx->run_id;
	if (db_exec(ctx->db, pool_alert_sql, 5, p) < 0)
		fail(r, db_failure_rc(ctx->db));
	else
		count(r, "pool_alerts", 1);
}

static void step_alerts(struct run *r, const struct pool *pl)
{
	const struct config *cfg = &r->ctx->cfg;
	char t[200];

	snprintf(t, sizeof(t), "Pool de produção crítico: %ld/%d chips ativos",
		 pl->active, cfg->pool_min_active);
	pool_alert(r, pl, pl->active < cfg->pool_min_active, "pool_producao_critico",
		   ALERT_CRITICAL, t);
	snprintf(t, sizeof(t), "Reserve baixo: %ld/%d chips ready", pl->ready,
		 cfg->pool_min_ready);
	pool_alert(r, pl, pl->ready < cfg->pool_min_ready, "pool_ready_baixo",
		   ALERT_WARNING, t);
	snprintf(t, sizeof(t), "Warming insuficiente: %ld/%d chips em aquecimento",
		 pl->warming, cfg->pool_min_warming);
	pool_alert(r, pl, pl->warming < cfg->pool_min_warming, "warming_insuficiente",
		   ALERT_WARNING, t);
	/* what the send path then does (T05.7): prospecting goes on, on the
	 * emergency threshold; the alert says so rather than "nothing sends" */
	snprintf(t, sizeof(t), "CRÍTICO: Nenhum chip com permissão de prospecção (trust >= %d); "
		 "a prospecção continua em modo de emergência, com chips de trust >= %d",
		 cfg->trust_perm_prospect, cfg->send_fallback_trust_prospeccao);
	pool_alert(r, pl, pl->prospect == 0, "nenhum_chip_prospeccao", ALERT_CRITICAL, t);
}

static void step_provision(struct run *r, const struct pool *pl)
{
	struct provision_pass pp;
	int rc = provision_for_pool(r->ctx, r->actor, pl->active,
				    pl->ready + pl->warming + pl->pending + pl->provisioned, &pp);

	if (rc)
		fail(r, rc);
	if (pp.instances_created)
		count(r, "instances_created", pp.instances_created);
	if (pp.salvy_cancelled)
		count(r, "salvy_cancelled", pp.salvy_cancelled);
	if (pp.need > 0)
		count(r, "provision_needed", pp.need);
	if (pp.salvy_ran) {
		count(r, "provisioned", pp.provisioned);
		count(r, "provisioned_pending", pp.provisioned_pending);
	}
}

int cmd_pool_check(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = { CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	struct run r;
	struct pool pl;
	int rc;

	while (cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts) != -1)
		;
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	r.out = json_object_new_object();
	lifecycle_job_actor(ctx, r.actor, sizeof(r.actor));
	json_object_object_add(r.out, "dry_run", json_object_new_boolean(ctx->dry_run));
	step_lifecycle(&r);
	if (!read_pool(&r, &pl)) {
		json_object_object_add(r.out, "pool", json_tokener_parse(pool_json(&pl)));
		step_alerts(&r, &pl);
		step_provision(&r, &pl);
		log_info("pool checked", "active=%ld", pl.active, "ready=%ld", pl.ready,
			 "warming=%ld", pl.warming, "pending=%ld", pl.pending,
			 "degraded=%ld", pl.degraded, "prospect=%ld", pl.prospect);
	}
	if (ctx->json)
		puts(json_object_to_json_string_ext(r.out, JSON_C_TO_STRING_PLAIN));
	json_object_put(r.out);
	return r.rc;
}
