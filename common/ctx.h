/*
 * ctx: what the dispatcher hands every command, and the set-up it does.
 *
 * Owns the command context (config, database, run id, common flags), the
 * command-table flags that say what set-up a command needs, the common
 * options every command accepts (-n/--dry-run, --json, -v, -q, -c/--config,
 * --log-format, -h/--help), and ctx_start(): load the config, configure the
 * log, connect to the database and begin the job run, in that order, as the
 * command's table entry declares (and, for the lease, the job table in
 * common/job.c). Commands never do their own set-up.
 */
#ifndef CHIPCTL_CTX_H
#define CHIPCTL_CTX_H

#include <getopt.h>
#include <sysexits.h>

#include "config.h"

struct db;
struct json_object;

/* Flags in the command table. */
#define CMD_NEEDS_CONFIG 0x01u
#define CMD_NEEDS_DB     0x02u	/* implies CMD_NEEDS_CONFIG */
#define CMD_DRY_RUN      0x08u	/* accepts -n/--dry-run */
#define CMD_JSON         0x10u	/* accepts --json */

struct chipctl_ctx;

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv, struct chipctl_ctx *ctx);
	unsigned flags;
	const char *summary;
	const char *usage;	/* full --help text */
};

struct chipctl_ctx {
	const struct cmd *cmd;
	struct config cfg;
	int cfg_loaded;
	struct db *db;
	char run_id[37];
	const char *config_path;	/* from -c/--config, or NULL */
	const char *log_format;		/* from --log-format, or NULL */
	int verbosity;			/* -v +1, -q -1 */
	int strict;			/* --strict: refuse a config readable by others */
	int dry_run;
	int json;
	int exit_now;			/* set by cli_getopt: help or bad option */

	/* the job run, when the job table (common/job.c) says it takes a lease */
	const char *job_name;		/* lease and job_executions name; default cmd->name */
	int job_active;
	double job_lease_at;		/* monotonic seconds when the lease was last taken or renewed */
	long job_execution_id;
	struct json_object *job_counts;
	char job_error[512];
};

/* Common option table entries and short letters, for each command's getopt. */
#define CLI_COMMON_SHORT "nhvqc:"
/* A command's getopt string: CLI_SHORT("e") for its own -e. */
#define CLI_SHORT(own) ":" own CLI_COMMON_SHORT
#define CLI_COMMON_LONG \
	{ "dry-run", no_argument, 0, 'n' }, \
	{ "json", no_argument, 0, 1001 }, \
	{ "help", no_argument, 0, 'h' }, \
	{ "verbose", no_argument, 0, 'v' }, \
	{ "quiet", no_argument, 0, 'q' }, \
	{ "config", required_argument, 0, 'c' }, \
	{ "log-format", required_argument, 0, 1002 }

/*
 * getopt_long that handles the common options itself and returns only the
 * command's own. On --help it prints the usage and on a bad option it
 * prints one error and a hint; both end the loop (-1) with ctx->exit_now
 * set to the exit code the command must return.
 */
int cli_getopt(struct chipctl_ctx *ctx, int argc, char **argv,
	       const char *shortopts, const struct option *longopts);

/* Text from the command line that goes to the database must be UTF-8:
 * cli_getopt checks every option's value itself (file names excepted), a
 * command its positional arguments with this. Returns -1 when s is text
 * (or NULL), or 65 after saying which field is not. */
int cli_check_text(struct chipctl_ctx *ctx, const char *field, const char *s);

/* Report a usage error for the current command: exit 64. */
int cli_usage_error(struct chipctl_ctx *ctx, const char *msg, const char *arg);

/*
 * The set-up the command's table entry asks for. Returns -1 to go on, or
 * the exit code the command must return now (0 for --help or a job that
 * is already running elsewhere).
 */
int ctx_start(struct chipctl_ctx *ctx);

/* Tear down what ctx_start set up, finishing the job run with rc. Returns
 * the exit code the process should end with. */
int ctx_finish(struct chipctl_ctx *ctx, int rc);

/* Build a new random run id (UUID v4) into buf[37]. */
void make_run_id(char *buf);

/* Seconds on the monotonic clock: every duration a run measures (leases,
 * batches, flushes) is a difference of two of these. */
double mono_now(void);

#endif
