/*
 * job: the job table and a cron job's run.
 *
 * Owns the one table of chipctl's scheduled jobs (name, command, cron
 * schedule, interval setting, lease, ping URL setting, watched or not): the
 * dispatcher takes the lease of the jobs it marks, health and the watchdog
 * judge the watched ones by their interval, ping.c finds their URLs, and
 * `chipctl --list-jobs` prints it for the checks of crontab/, railway.json
 * and the systemd timers (scripts/gen-systemd.sh). Also owns the lease that keeps the same job from running twice at once, on
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

#include <stdio.h>

struct chipctl_ctx;
struct config;

/* Flags of a job in the table. */
#define JOB_LEASE   0x1u	/* one run at a time on any host: lease + job_executions */
#define JOB_WATCHED 0x2u	/* judged late/down by its interval (health jobs, watchdog) */
#define JOB_LOOP    0x4u	/* best run as a service in loop mode; cron runs it --once */

struct job_def {
	const char *name;	/* lease, job_executions, ping and alert name */
	const char *command;	/* what cron runs after `chipctl ` */
	const char *schedule;	/* cron's five fields */
	const char *interval_setting;	/* jobs.*_interval_s (0 stops watching), or NULL */
	const char *ping_setting;	/* ping.*_url, or NULL */
	unsigned flags;
};

extern const struct job_def job_table[];
extern const int njob_table;

/* The job of that name, or NULL. */
const struct job_def *job_find(const char *name);
/* The job a command run is (ctx->job_name, else the command's name), or NULL. */
const struct job_def *job_of(const struct chipctl_ctx *ctx);
/* Its name as recorded: ctx->job_name, else the command's name. */
const char *job_run_name(const struct chipctl_ctx *ctx);
/* The watching interval in seconds from the config; 0 when not watched. */
int job_interval(const struct job_def *j, const struct config *cfg);
/* The ping URL from the config, or NULL. */
const char *job_ping_url(const struct job_def *j, const struct config *cfg);
/* Every job's name as a PostgreSQL text[] literal, into an empty sb. */
struct strbuf;
void job_names_array(struct strbuf *sb);
/* `chipctl --list-jobs`: one tab-separated line per job (see chipctl(1)). */
void job_list(FILE *out);

/* Returns -1 to go on, 0 when another run holds the lease (the caller
 * exits 0), or an exit code on a database failure. */
int job_begin(struct chipctl_ctx *ctx);

/* Add n to the run's counter key (created at 0). */
void job_count(struct chipctl_ctx *ctx, const char *key, long n);
/* Record why the run failed (first call wins). */
void job_set_error(struct chipctl_ctx *ctx, const char *error);

/* Extend the lease of a long-running job. Returns 0, or -1 when the lease
 * was lost (another run took it after it expired) or the database failed. */
int job_renew(struct chipctl_ctx *ctx);

/*
 * Cheap enough to call on every iteration of a long loop: renews the lease
 * (job_renew) once a third of jobs.lease_s has passed since it was taken or
 * last renewed, so a run lasts as long as it needs and a second copy never
 * starts meanwhile. No-op outside an active run. Returns 0, or -1 as
 * job_renew (the caller should stop: another copy may be running).
 */
int job_renew_if_due(struct chipctl_ctx *ctx);

/* Finish the run: status from rc, counts, error; release the lease. */
void job_end(struct chipctl_ctx *ctx, int rc);

#endif
