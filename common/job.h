/*
 * job: a cron job run.
 *
 * Owns the lease that keeps the same job from running twice at once, on
 * any number of hosts (a row in job_leases taken with a conditional
 * upsert: no session advisory lock, so it works behind a transaction-mode
 * pooler; a crashed holder's lease simply expires), the job_executions row
 * of every run (start, end, status, counts, error, run id, exit code; a
 * run that found the lease held is recorded as 'skipped', and a run whose
 * holder died is marked 'abandoned' by the next one), and the counts a
 * job reports. A dry run takes no lease and writes no row.
 */
#ifndef CHIPCTL_JOB_H
#define CHIPCTL_JOB_H

struct chipctl_ctx;

/* Returns -1 to go on, 0 when another run holds the lease (the caller
 * exits 0), or an exit code on a database failure. */
int job_begin(struct chipctl_ctx *ctx);

/* Add n to the run's counter key (created at 0). */
void job_count(struct chipctl_ctx *ctx, const char *key, long n);
/* Record why the run failed (first call wins). */
void job_set_error(struct chipctl_ctx *ctx, const char *error);

/* Extend the lease of a long-running job. Returns 0, or -1 when the lease
 * was lost (another run took it after it expired). */
int job_renew(struct chipctl_ctx *ctx);

/* Finish the run: status from rc, counts, error; release the lease. */
void job_end(struct chipctl_ctx *ctx, int rc);

#endif
