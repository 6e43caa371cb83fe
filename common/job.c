#include "job.h"
#include "config.h"
#include "ctx.h"
#include "db.h"
#include "log.h"
#include "strbuf.h"
#include "validate.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/*
 * The job table. Every scheduled run of chipctl is a row here and nowhere
 * else: crontab/chipctl, crontab/railway.json and the generated systemd
 * timers are checked against `chipctl --list-jobs` by tests/bats/jobs.bats.
 * A schedule's period must equal its interval setting's default.
 */
const struct job_def job_table[] = {
	/* every minute: a dead worker's claims are back within its heartbeat
	 * age plus a minute */
	{ "reset-stuck-queue", "reset-stuck-queue", "* * * * *",
	  "jobs.reset_stuck_queue_interval_s", "ping.reset_stuck_queue_url",
	  JOB_LEASE | JOB_WATCHED },
	/* its own lease, so it never skips the rescue cron starts in the same minute */
	{ "reset-stuck-queue-expire", "reset-stuck-queue --expire", "0 3 * * *",
	  "jobs.reset_stuck_queue_expire_interval_s",
	  "ping.reset_stuck_queue_expire_url", JOB_LEASE | JOB_WATCHED },
	{ "sync-evolution", "sync-evolution", "*/2 * * * *",
	  "jobs.sync_evolution_interval_s", "ping.sync_evolution_url",
	  JOB_LEASE | JOB_WATCHED },
	{ "trust-update", "trust-update", "7-59/15 * * * *",
	  "jobs.trust_update_interval_s", "ping.trust_update_url",
	  JOB_LEASE | JOB_WATCHED },
	{ "pool-check", "pool-check", "* * * * *",
	  "jobs.pool_check_interval_s", "ping.pool_check_url",
	  JOB_LEASE | JOB_WATCHED },
	{ "watchdog", "watchdog", "* * * * *",
	  "jobs.watchdog_interval_s", "ping.watchdog_url",
	  JOB_LEASE | JOB_WATCHED },
	{ "metrics-snapshot", "metrics-snapshot", "1-59/5 * * * *",
	  "jobs.metrics_snapshot_interval_s", "ping.metrics_snapshot_url",
	  JOB_LEASE | JOB_WATCHED },
	{ "pull-messages", "pull-messages", "3-59/5 * * * *",
	  "jobs.pull_messages_interval_s", "ping.pull_messages_url",
	  JOB_LEASE | JOB_WATCHED },
	/* any number of workers at once: no lease; watched by its heartbeat */
	{ "send-worker", "send-worker --once", "* * * * *", NULL, NULL, JOB_LOOP },
};

const int njob_table = (int)(sizeof(job_table) / sizeof(job_table[0]));

const struct job_def *job_find(const char *name)
{
	int i;

	for (i = 0; name && i < njob_table; i++)
		if (!strcmp(job_table[i].name, name))
			return &job_table[i];
	return NULL;
}

const char *job_run_name(const struct chipctl_ctx *ctx)
{
	return ctx->job_name ? ctx->job_name : ctx->cmd ? ctx->cmd->name : NULL;
}

const struct job_def *job_of(const struct chipctl_ctx *ctx)
{
	return job_find(job_run_name(ctx));
}

int job_interval(const struct job_def *j, const struct config *cfg)
{
	int v = 0;

	if (!(j->flags & JOB_WATCHED) || !j->interval_setting ||
	    config_int(cfg, j->interval_setting, &v))
		return 0;
	return v > 0 ? v : 0;
}

const char *job_ping_url(const struct job_def *j, const struct config *cfg)
{
	const char *url = j->ping_setting ? config_str(cfg, j->ping_setting) : NULL;

	return url && *url ? url : NULL;
}

void job_names_array(struct strbuf *sb)
{
	int i;

	/* the names are plain words: no quoting needed */
	sb_addc(sb, '{');
	for (i = 0; i < njob_table; i++)
		sb_addf(sb, "%s%s", i ? "," : "", job_table[i].name);
	sb_addc(sb, '}');
}

void job_list(FILE *out)
{
	char def[64];
	int i;

	for (i = 0; i < njob_table; i++) {
		const struct job_def *j = &job_table[i];

		fprintf(out, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j->name,
			j->schedule, j->command,
			j->interval_setting ? j->interval_setting : "-",
			j->interval_setting ? config_default(j->interval_setting, def,
							     sizeof(def)) : "-",
			j->ping_setting ? j->ping_setting : "-",
			j->flags & JOB_LEASE ? "lease" : "none",
			j->flags & JOB_WATCHED ? "watched" :
			j->flags & JOB_LOOP ? "heartbeat" : "unwatched");
	}
}

/*
 * One round trip: take the lease if it is free or expired, mark a dead
 * holder's run abandoned, and record this run as running or skipped.
 * The final SELECT reads the snapshot from before the upsert, so when the
 * lease is held it names the holder.
 */
static const char begin_sql[] =
	"WITH lease AS ("
	"  INSERT INTO job_leases AS l (job_name, holder, host, pid, acquired_at, expires_at)"
	"  VALUES ($1, $2, $3, $4::int, now(), now() + make_interval(secs => $5::int))"
	"  ON CONFLICT (job_name) DO UPDATE SET holder = EXCLUDED.holder,"
	"    host = EXCLUDED.host, pid = EXCLUDED.pid,"
	"    acquired_at = now(), expires_at = EXCLUDED.expires_at"
	"  WHERE l.expires_at < now()"
	"  RETURNING 1"
	"), abandoned AS ("
	"  UPDATE job_executions SET status = 'abandoned', finished_at = now(),"
	"    error = 'the run ended without finishing (its lease expired)'"
	"  WHERE job_name = $1 AND status = 'running' AND run_id <> $2::uuid"
	"    AND EXISTS (SELECT 1 FROM lease)"
	"  RETURNING 1"
	"), run AS ("
	"  INSERT INTO job_executions (job_name, run_id, host, pid, status, started_at,"
	"    finished_at, error)"
	"  SELECT $1, $2::uuid, $3, $4::int,"
	"    CASE WHEN EXISTS (SELECT 1 FROM lease) THEN 'running' ELSE 'skipped' END,"
	"    now(),"
	"    CASE WHEN EXISTS (SELECT 1 FROM lease) THEN NULL ELSE now() END,"
	"    CASE WHEN EXISTS (SELECT 1 FROM lease) THEN NULL"
	"         ELSE 'another run holds the lease' END"
	"  RETURNING id, status"
	")"
	" SELECT run.id, run.status, h.holder, h.host, h.pid,"
	"   (SELECT count(*) FROM abandoned)"
	" FROM run LEFT JOIN job_leases h ON h.job_name = $1";

/*
 * Test seam: while the file named by CHIPCTL_TEST_HOLD_FILE exists (at most
 * 60 s), a run that took its lease waits before working, so a test can
 * start a second copy against a lease that is certainly held.
 */
static void hold_for_tests(void)
{
	const char *path = getenv("CHIPCTL_TEST_HOLD_FILE");
	struct timespec ts = { 0, 10 * 1000000L };
	int i;

	for (i = 0; path && *path && i < 6000 && access(path, F_OK) == 0; i++)
		nanosleep(&ts, NULL);
}

int job_begin(struct chipctl_ctx *ctx)
{
	char host[256] = "", pid[16], lease[16];
	const char *params[5];
	PGresult *res;
	int rc = -1;

	if (ctx->dry_run)
		return -1;
	gethostname(host, sizeof(host) - 1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	snprintf(lease, sizeof(lease), "%d", ctx->cfg.jobs_lease_s);
	params[0] = job_run_name(ctx);
	params[1] = ctx->run_id;
	params[2] = host;
	params[3] = pid;
	params[4] = lease;
	res = db_query(ctx->db, begin_sql, 5, params);
	if (!res)
		return db_failure_rc(ctx->db);
	if (PQntuples(res) != 1) {
		log_error("job run was not recorded", "job=%s", job_run_name(ctx));
		PQclear(res);
		return EX_SOFTWARE;
	}
	ctx->job_execution_id = db_long(res, 0, 0);
	if (!strcmp(db_val(res, 0, 1), "skipped")) {
		log_warn("job is already running elsewhere, skipping",
			 "job=%s", job_run_name(ctx),
			 "holder=%s", db_val(res, 0, 2) ? db_val(res, 0, 2) : "-",
			 "host=%s", db_val(res, 0, 3) ? db_val(res, 0, 3) : "-",
			 "pid=%s", db_val(res, 0, 4) ? db_val(res, 0, 4) : "-");
		rc = 0;
	} else {
		ctx->job_active = 1;
		ctx->job_lease_at = mono_now();
		ctx->job_counts = json_object_new_object();
		if (db_long(res, 0, 5) > 0)
			log_warn("previous run of this job died without finishing",
				 "job=%s", job_run_name(ctx),
				 "abandoned=%ld", db_long(res, 0, 5));
		log_debug("job run started", "job=%s", job_run_name(ctx),
			  "execution=%ld", ctx->job_execution_id);
		hold_for_tests();
	}
	PQclear(res);
	return rc;
}

void job_count(struct chipctl_ctx *ctx, const char *key, long n)
{
	json_object *v;
	long cur = 0;

	if (!ctx->job_counts)
		ctx->job_counts = json_object_new_object();
	if (json_object_object_get_ex(ctx->job_counts, key, &v))
		cur = (long)json_object_get_int64(v);
	json_object_object_add(ctx->job_counts, key,
			       json_object_new_int64(cur + n));
}

void job_set_error(struct chipctl_ctx *ctx, const char *error)
{
	/* stored: text PostgreSQL takes, whatever a provider's words or a cut
	 * of them left in it */
	if (!ctx->job_error[0])
		utf8_scrub(error, strlen(error), ctx->job_error, sizeof(ctx->job_error));
}

int job_renew(struct chipctl_ctx *ctx)
{
	char lease[16];
	const char *params[3];

	if (!ctx->job_active)
		return 0;
	snprintf(lease, sizeof(lease), "%d", ctx->cfg.jobs_lease_s);
	params[0] = job_run_name(ctx);
	params[1] = ctx->run_id;
	params[2] = lease;
	if (db_exec(ctx->db,
		    "UPDATE job_leases SET expires_at = now() + make_interval(secs => $3::int)"
		    " WHERE job_name = $1 AND holder = $2", 3, params) != 1) {
		log_error("job lease lost", "job=%s", job_run_name(ctx));
		return -1;
	}
	ctx->job_lease_at = mono_now();
	log_debug("job lease renewed", "job=%s", job_run_name(ctx),
		  "lease_s=%d", ctx->cfg.jobs_lease_s);
	return 0;
}

int job_renew_if_due(struct chipctl_ctx *ctx)
{
	if (!ctx->job_active ||
	    (mono_now() - ctx->job_lease_at) * 3 < ctx->cfg.jobs_lease_s)
		return 0;
	return job_renew(ctx);
}

void job_end(struct chipctl_ctx *ctx, int rc)
{
	char exit_code[16], id[24];
	const char *params[6];
	const char *counts;

	if (!ctx->job_active)
		return;
	ctx->job_active = 0;
	snprintf(exit_code, sizeof(exit_code), "%d", rc);
	snprintf(id, sizeof(id), "%ld", ctx->job_execution_id);
	counts = json_object_to_json_string_ext(ctx->job_counts,
						 JSON_C_TO_STRING_PLAIN);
	params[0] = id;
	params[1] = rc == 0 ? "success" : "failed";
	params[2] = counts;
	params[3] = ctx->job_error[0] ? ctx->job_error :
		    (rc ? "the run failed (see the log of this run id)" : NULL);
	params[4] = exit_code;
	params[5] = ctx->run_id;
	if (db_exec(ctx->db,
		    "WITH run AS ("
		    "  UPDATE job_executions SET status = $2, finished_at = now(),"
		    "    counts = $3::jsonb, error = $4, exit_code = $5::int"
		    "  WHERE id = $1::bigint RETURNING job_name)"
		    " DELETE FROM job_leases WHERE job_name = (SELECT job_name FROM run)"
		    "   AND holder = $6",
		    6, params) < 0)
		log_warn("could not record the end of the job run",
			 "job=%s", job_run_name(ctx));
	log_info("job run finished", "job=%s", job_run_name(ctx),
		 "status=%s", params[1], "counts=%s", counts);
}
