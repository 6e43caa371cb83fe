#include "job.h"
#include "ctx.h"
#include "db.h"
#include "log.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const char *job_name(const struct chipctl_ctx *ctx)
{
	return ctx->job_name ? ctx->job_name : ctx->cmd->name;
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
	params[0] = job_name(ctx);
	params[1] = ctx->run_id;
	params[2] = host;
	params[3] = pid;
	params[4] = lease;
	res = db_query(ctx->db, begin_sql, 5, params);
	if (!res)
		return db_failure_rc(ctx->db);
	if (PQntuples(res) != 1) {
		log_error("job run was not recorded", "job=%s", job_name(ctx));
		PQclear(res);
		return EX_SOFTWARE;
	}
	ctx->job_execution_id = db_long(res, 0, 0);
	if (!strcmp(db_val(res, 0, 1), "skipped")) {
		log_warn("job is already running elsewhere, skipping",
			 "job=%s", job_name(ctx),
			 "holder=%s", db_val(res, 0, 2) ? db_val(res, 0, 2) : "-",
			 "host=%s", db_val(res, 0, 3) ? db_val(res, 0, 3) : "-",
			 "pid=%s", db_val(res, 0, 4) ? db_val(res, 0, 4) : "-");
		rc = 0;
	} else {
		ctx->job_active = 1;
		ctx->job_counts = json_object_new_object();
		if (db_long(res, 0, 5) > 0)
			log_warn("previous run of this job died without finishing",
				 "job=%s", job_name(ctx),
				 "abandoned=%ld", db_long(res, 0, 5));
		log_debug("job run started", "job=%s", job_name(ctx),
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
	if (!ctx->job_error[0])
		snprintf(ctx->job_error, sizeof(ctx->job_error), "%s", error);
}

int job_renew(struct chipctl_ctx *ctx)
{
	char lease[16];
	const char *params[3];

	if (!ctx->job_active)
		return 0;
	snprintf(lease, sizeof(lease), "%d", ctx->cfg.jobs_lease_s);
	params[0] = job_name(ctx);
	params[1] = ctx->run_id;
	params[2] = lease;
	if (db_exec(ctx->db,
		    "UPDATE job_leases SET expires_at = now() + make_interval(secs => $3::int)"
		    " WHERE job_name = $1 AND holder = $2", 3, params) != 1) {
		log_error("job lease lost", "job=%s", job_name(ctx));
		return -1;
	}
	return 0;
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
			 "job=%s", job_name(ctx));
	log_info("job run finished", "job=%s", job_name(ctx),
		 "status=%s", params[1], "counts=%s", counts);
}
