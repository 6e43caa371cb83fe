/*
 * The commands of chipctl. To add one:
 *  1. write cmd/NAME.c with `int cmd_NAME(int argc, char **argv,
 *     struct chipctl_ctx *ctx)` and its `const char usage_NAME[]`;
 *     parse options with cli_getopt(), then call ctx_start() once;
 *  2. declare both below and add a row to the table in cmd/chipctl.c with
 *     the flags that say what set-up it needs;
 *  3. write man/chipctl-NAME.1 and add it to chipctl(1) and the README;
 *  4. add tests/bats/NAME.bats (the help and man-page checks in
 *     tests/bats/help.bats cover it automatically);
 *  5. if it is a scheduled job, add a row to the job table in common/job.c
 *     (schedule, interval and ping settings, lease, watched), and its line
 *     to crontab/chipctl and crontab/railway.json: tests/bats/schedules.bats
 *     holds them to the table; the systemd timers are generated from it.
 */
#ifndef CHIPCTL_BUILTIN_H
#define CHIPCTL_BUILTIN_H

#include "ctx.h"

#define DECLARE_CMD(name) \
	int cmd_##name(int argc, char **argv, struct chipctl_ctx *ctx); \
	extern const char usage_##name[]

DECLARE_CMD(migrate);
DECLARE_CMD(alerts);
DECLARE_CMD(doctor);
DECLARE_CMD(queue);
DECLARE_CMD(reset_stuck_queue);
/* issue 6: observability */
DECLARE_CMD(watchdog);
DECLARE_CMD(health);
DECLARE_CMD(metrics_snapshot);
DECLARE_CMD(metrics);
/* issue 3: send-worker */
DECLARE_CMD(send_worker);
DECLARE_CMD(circuits);
DECLARE_CMD(guardrail);
/* issue 4: lifecycle */
DECLARE_CMD(sync_evolution);
DECLARE_CMD(pool_check);
DECLARE_CMD(provision);
DECLARE_CMD(chips);
DECLARE_CMD(chip);
/* issue 5: trust */
DECLARE_CMD(trust_update);
DECLARE_CMD(ingest);
/* issue 12: the report */
DECLARE_CMD(report);
/* issue 20: the chips' traffic from Evolution */
DECLARE_CMD(pull_messages);

#endif
