/*
 * The cron jobs as health and the watchdog judge them (see health.h):
 * the watched jobs of the job table (common/job.c) read in one round trip,
 * and `health jobs` built from them.
 */
#include "health.h"
#include "config.h"
#include "ctx.h"
#include "db.h"
#include "job.h"
#include "pgarray.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Each watched job of the job table with its interval: its last run that
 * was not skipped, its last success, and its recent runs. A job is judged
 * by the time without a success: since its last successful run started,
 * or, when it never succeeded, since chipctl was installed (the first
 * migration). $4 is the job asking (the watchdog judging itself): it is
 * running now, so it is not late.
 */
static const char jobs_sql[] =
	"SELECT j.name, j.interval_s, l.started_at IS NOT NULL,"
	"  extract(epoch FROM now() - l.started_at)::float8, l.status,"
	"  coalesce(l.exit_code, -1),"
	"  coalesce(extract(epoch FROM l.finished_at - l.started_at)::float8, -1),"
	"  r.total, r.failed, s.started_at IS NOT NULL,"
	"  extract(epoch FROM now() - s.started_at)::float8,"
	"  CASE WHEN j.name = $4 THEN 0 ELSE coalesce(extract(epoch FROM now()"
	"    - coalesce(s.started_at, i.installed_at))::float8, 0) END,"
	"  extract(epoch FROM now() - i.installed_at)::float8"
	" FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS j(name, interval_s, ord)"
	" CROSS JOIN (SELECT min(applied_at) AS installed_at FROM schema_migrations) i"
	" LEFT JOIN LATERAL (SELECT started_at, finished_at, status, exit_code"
	"   FROM job_executions e WHERE e.job_name = j.name AND e.status <> 'skipped'"
	"   ORDER BY started_at DESC LIMIT 1) l ON true"
	" LEFT JOIN LATERAL (SELECT started_at FROM job_executions e"
	"   WHERE e.job_name = j.name AND e.status = 'success'"
	"   ORDER BY started_at DESC LIMIT 1) s ON true"
	" LEFT JOIN LATERAL (SELECT count(*) AS total,"
	"     count(*) FILTER (WHERE status IN ('failed', 'abandoned')) AS failed"
	"   FROM (SELECT status FROM job_executions e WHERE e.job_name = j.name"
	"         AND e.status IN ('success', 'failed', 'abandoned')"
	"         ORDER BY started_at DESC LIMIT $3::int) z) r ON true"
	" ORDER BY j.ord";

int health_jobs(struct chipctl_ctx *ctx, struct health_job *jobs, int max)
{
	const struct config *cfg = &ctx->cfg;
	/* the job asking (the watchdog, also in a dry run) is running now */
	const char *self = job_of(ctx) ? job_run_name(ctx) : NULL;
	struct strbuf names = STRBUF_INIT, ivals = STRBUF_INIT;
	char recent[16];
	const char *params[4];
	PGresult *res;
	int i, n, r;

	for (i = 0, n = 0; i < njob_table; i++) {
		int interval = job_interval(&job_table[i], cfg);

		if (interval <= 0)
			continue;
		pga_add(&names, job_table[i].name);
		pga_addl(&ivals, interval);
		n++;
	}
	pga_end(&names);
	pga_end(&ivals);
	snprintf(recent, sizeof(recent), "%d", cfg->watchdog_recent_runs);
	params[0] = sb_str(&names);
	params[1] = sb_str(&ivals);
	params[2] = recent;
	params[3] = self;
	res = db_query(ctx->db, jobs_sql, 4, params);
	sb_free(&names);
	sb_free(&ivals);
	if (!res)
		return -1;
	for (r = 0; r < PQntuples(res) && r < max; r++) {
		struct health_job *j = &jobs[r];

		memset(j, 0, sizeof(*j));
		snprintf(j->name, sizeof(j->name), "%s", PQgetvalue(res, r, 0));
		j->interval_s = (int)db_long(res, r, 1);
		j->ran = PQgetvalue(res, r, 2)[0] == 't';
		j->age_s = j->ran ? strtod(PQgetvalue(res, r, 3), NULL) : -1;
		snprintf(j->last_status, sizeof(j->last_status), "%s",
			 j->ran ? PQgetvalue(res, r, 4) : "never");
		j->last_exit = (int)db_long(res, r, 5);
		j->last_duration_s = strtod(PQgetvalue(res, r, 6), NULL);
		j->recent = db_long(res, r, 7);
		j->failed = db_long(res, r, 8);
		j->succeeded = PQgetvalue(res, r, 9)[0] == 't';
		j->success_age_s = j->succeeded ? strtod(PQgetvalue(res, r, 10), NULL) : -1;
		j->quiet_s = strtod(PQgetvalue(res, r, 11), NULL);
		j->installed_s = (db_val(res, r, 12) ? strtod(db_val(res, r, 12), NULL) : -1);
		j->late = j->quiet_s > j->interval_s + cfg->jobs_grace_s;
		j->down = j->quiet_s > 2.0 * j->interval_s;
		/* more than half of at least 3 recent runs failed */
		j->failing = j->recent >= 3 && j->failed * 2 > j->recent;
	}
	PQclear(res);
	return r;
}

static const char *job_state(const struct health_job *j)
{
	return j->down ? "down" : j->late ? "late" : !j->ran ? "never_ran" : "ok";
}

/* Why a job is down, late or failing, for the summary. */
static void job_why(struct strbuf *sb, const struct health_job *j)
{
	char age[32];

	if (j->succeeded) {
		health_fmt_age(age, sizeof(age), j->success_age_s);
		sb_addf(sb, "last success %s ago", age);
	} else {
		health_fmt_age(age, sizeof(age), j->installed_s);
		sb_addf(sb, "no successful run since chipctl was installed %s ago", age);
	}
	if (j->ran && (!j->succeeded || j->age_s < j->success_age_s)) {
		health_fmt_age(age, sizeof(age), j->age_s);
		sb_addf(sb, ", last run %s %s ago", j->last_status, age);
	}
	sb_addf(sb, ", %ld of %ld recent failed", j->failed, j->recent);
}

void health_eval_jobs(const struct config *cfg, const struct health_job *jobs,
		      int n, struct health_result *r)
{
	json_object *arr = json_object_new_array();
	int i, down = 0, late = 0, failing = 0, ran = 0;

	(void)cfg;
	health_worse(r, HEALTH_OK);
	if (n == 0) {
		/* nothing watched is nothing measured */
		r->status = HEALTH_UNKNOWN;
		r->score = 0;
		sb_add(&r->text, "no job is watched (every jobs.*_interval_s is 0)");
	}
	for (i = 0; i < n; i++) {
		const struct health_job *j = &jobs[i];
		json_object *o = json_object_new_object();
		const char *state = job_state(j);

		ran += j->ran;
		if (j->down) {
			down++;
			health_worse(r, HEALTH_CRITICAL);
		} else if (j->late) {
			late++;
			health_worse(r, HEALTH_WARNING);
		}
		if (j->failing) {
			failing++;
			health_worse(r, HEALTH_WARNING);
		}
		if (j->down || j->late || j->failing) {
			sb_addf(&r->text, "%s%s %s%s (", r->text.len ? "; " : "", j->name,
				state, j->failing ? " and failing" : "");
			job_why(&r->text, j);
			sb_addc(&r->text, ')');
		}
		json_object_object_add(o, "job", json_object_new_string(j->name));
		json_object_object_add(o, "interval_s", json_object_new_int(j->interval_s));
		json_object_object_add(o, "state", json_object_new_string(state));
		json_object_object_add(o, "failing", json_object_new_boolean(j->failing));
		json_object_object_add(o, "last_status", json_object_new_string(j->last_status));
		json_object_object_add(o, "last_run_age_s", j->ran ?
				       health_json_double(j->age_s) : NULL);
		json_object_object_add(o, "last_exit_code", j->last_exit >= 0 ?
				       json_object_new_int(j->last_exit) : NULL);
		json_object_object_add(o, "recent_runs", json_object_new_int64(j->recent));
		json_object_object_add(o, "recent_failed", json_object_new_int64(j->failed));
		json_object_object_add(o, "last_success_age_s", j->succeeded ?
				       health_json_double(j->success_age_s) : NULL);
		json_object_object_add(o, "without_success_s", health_json_double(j->quiet_s));
		json_object_object_add(o, "counted_from", json_object_new_string(
			j->succeeded ? "last_success" : "installed"));
		json_object_array_add(arr, o);
	}
	if (!r->text.len)
		sb_addf(&r->text, "%d jobs watched, %d have run, none late or failing", n, ran);
	health_perf(r, "down", down, NULL, NULL, "1");
	health_perf(r, "late", late, NULL, "1", NULL);
	health_perf(r, "failing", failing, NULL, "1", NULL);
	json_object_object_add(r->json, "jobs", arr);
}
