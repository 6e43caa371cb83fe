/*
 * ping: the dead man's switch of the cron jobs.
 *
 * Owns pinging the optional per-job URL (the ping setting the job table
 * in common/job.c names, healthchecks.io style): a run that took its lease pings URL/start, and at its end URL/N
 * with its exit code N (0 is success, anything else a failure, with the
 * run's error as the body). A monitor outside that stops hearing the pings
 * knows cron itself stopped, which no check inside can notice. A ping is
 * bounded by ping.timeout_ms and its failure is a warning, never the
 * run's failure; a skipped run and a dry run ping nothing.
 */
#ifndef CHIPCTL_PING_H
#define CHIPCTL_PING_H

struct chipctl_ctx;

/* After job_begin: ping URL/start when the run is active. */
void ping_start(struct chipctl_ctx *ctx);
/* Before job_end: ping URL/rc when the run is active. */
void ping_finish(struct chipctl_ctx *ctx, int rc);

#endif
