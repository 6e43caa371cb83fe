/*
 * chipctl: keeps a pool of WhatsApp numbers and its outbound queue healthy.
 * This file is the dispatcher: the one command table, the global options,
 * and the set-up and tear-down every command shares (see common/ctx.h).
 */
#include "builtin.h"
#include "http.h"
#include "job.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CHIPCTL_VERSION
#define CHIPCTL_VERSION "0.0.0"
#endif

/* A scheduled job: whether it takes the lease, its schedule, interval and
 * ping URL are in the job table (common/job.c). */
#define JOB_CMD (CMD_NEEDS_DB | CMD_DRY_RUN)

static const struct cmd commands[] = {
	{ "alerts", cmd_alerts, CMD_NEEDS_DB | CMD_DRY_RUN | CMD_JSON,
	  "list, deliver or raise alerts", usage_alerts },
	{ "doctor", cmd_doctor, CMD_NEEDS_CONFIG | CMD_JSON,
	  "check config, database, migrations, Evolution and Slack", usage_doctor },
	{ "migrate", cmd_migrate, CMD_NEEDS_DB | CMD_DRY_RUN | CMD_JSON,
	  "apply the database migrations", usage_migrate },
	{ "queue", cmd_queue, CMD_NEEDS_DB | CMD_DRY_RUN | CMD_JSON,
	  "inspect and feed the outbound queue", usage_queue },
	{ "reset-stuck-queue", cmd_reset_stuck_queue, JOB_CMD | CMD_JSON,
	  "rescue stuck messages; with --expire cancel old ones",
	  usage_reset_stuck_queue },
	/* issue 6: observability */
	{ "watchdog", cmd_watchdog, JOB_CMD | CMD_JSON,
	  "alert on backlog, send errors, worker, late jobs; deliver alerts",
	  usage_watchdog },
	{ "health", cmd_health, CMD_NEEDS_CONFIG | CMD_JSON,
	  "monitoring-plugin checks: ready, queue, worker, ..., score, deep",
	  usage_health },
	{ "metrics-snapshot", cmd_metrics_snapshot, JOB_CMD | CMD_JSON,
	  "store the current metrics; drop those older than 7 days",
	  usage_metrics_snapshot },
	{ "metrics", cmd_metrics, CMD_NEEDS_DB | CMD_JSON,
	  "current metrics in Prometheus text format, or their history",
	  usage_metrics },
	/* issue 3: send-worker */
	{ "send-worker", cmd_send_worker, CMD_NEEDS_DB | CMD_JSON,
	  "claim due messages, choose a chip, send, fail over, record",
	  usage_send_worker },
	{ "circuits", cmd_circuits, CMD_NEEDS_DB | CMD_DRY_RUN | CMD_JSON,
	  "circuit breakers: state, transitions, open/close/reset by hand",
	  usage_circuits },
	{ "guardrail", cmd_guardrail, CMD_NEEDS_DB | CMD_DRY_RUN | CMD_JSON,
	  "block or unblock a doctor, audited", usage_guardrail },
	/* issue 4: lifecycle */
	{ "sync-evolution", cmd_sync_evolution, JOB_CMD | CMD_JSON,
	  "store every chip's Evolution connection state", usage_sync_evolution },
	{ "pool-check", cmd_pool_check, JOB_CMD | CMD_JSON,
	  "demote, migrate, promote, recover, alert and provision", usage_pool_check },
	{ "provision", cmd_provision, CMD_NEEDS_DB | CMD_DRY_RUN | CMD_JSON,
	  "new numbers from Salvy with their Evolution instances", usage_provision },
	{ "chips", cmd_chips, CMD_NEEDS_DB | CMD_JSON,
	  "the chip pool at a glance", usage_chips },
	{ "chip", cmd_chip, CMD_NEEDS_DB | CMD_DRY_RUN | CMD_JSON,
	  "show, explain, promote, demote, ban or cool down one chip", usage_chip },
	/* issue 5: trust */
	{ "pull-messages", cmd_pull_messages, JOB_CMD | CMD_JSON,
	  "read each chip's messages and receipts from Evolution, as ingest",
	  usage_pull_messages },
	{ "trust-update", cmd_trust_update, JOB_CMD | CMD_JSON,
	  "recompute every chip's trust score, level and permissions",
	  usage_trust_update },
	{ "ingest", cmd_ingest, CMD_NEEDS_DB | CMD_DRY_RUN | CMD_JSON,
	  "apply Evolution webhook events (responses, receipts, connection)",
	  usage_ingest },
	/* issue 12: the report */
	{ "report", cmd_report, CMD_NEEDS_DB,
	  "the pool's week on one HTML page: pool, trust, queue, breakers, alerts",
	  usage_report },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char usage_main[] =
	"usage: chipctl [-c FILE] [--log-format logfmt|json] [-v|-q] [--strict] COMMAND [ARGS]\n"
	"       chipctl help COMMAND\n"
	"       chipctl --version | --help\n"
	"       chipctl --list-commands | --list-settings | --list-jobs\n"
	"\n"
	"Global options (-c, --log-format, -v and -q also after the command):\n"
	"  -c, --config FILE       config file (default $CHIPCTL_CONFIG or\n"
	"                          " CHIPCTL_DEFAULT_CONFIG ")\n"
	"      --log-format FMT    logfmt (default) or json, on stderr\n"
	"  -v, --verbose           more log lines; -q, --quiet fewer\n"
	"      --strict            refuse a config file holding secrets that\n"
	"                          group or others can read (else a warning)\n"
	"  -V, --version           print the version and exit\n"
	"  -h, --help              print this help and exit\n"
	"\n"
	"Commands:\n";

static void print_usage(FILE *out)
{
	size_t i;

	fputs(usage_main, out);
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-20s %s\n", commands[i].name, commands[i].summary);
	fputs("\nExit codes: 0 done, 64 usage, 65 bad data, 70 internal error,\n"
	      "75 temporary failure (retry later), 78 configuration error.\n"
	      "See chipctl(1) and chipctl-COMMAND(1).\n", out);
}

static const struct cmd *find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int run_cmd(const struct cmd *cmd, int argc, char **argv,
		   struct chipctl_ctx *ctx)
{
	int rc;

	ctx->cmd = cmd;
	log_set_context(cmd->name, ctx->run_id);
	optind = 1;
	rc = cmd->fn(argc, argv, ctx);
	return ctx_finish(ctx, rc);
}

static int chipctl_main(int argc, char **argv)
{
	struct chipctl_ctx ctx;
	const struct cmd *cmd;
	int i, rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.exit_now = -1;
	make_run_id(ctx.run_id);
	log_set_context("chipctl", ctx.run_id);

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			print_usage(stdout);
			return 0;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("chipctl %s\n", CHIPCTL_VERSION);
			return 0;
		} else if (!strcmp(a, "--list-commands")) {
			size_t k;
			for (k = 0; k < NCOMMANDS; k++)
				puts(commands[k].name);
			return 0;
		} else if (!strcmp(a, "--list-settings")) {
			config_list_settings(stdout);
			return 0;
		} else if (!strcmp(a, "--list-jobs")) {
			job_list(stdout);
			return 0;
		} else if (!strcmp(a, "--strict")) {
			ctx.strict = 1;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			ctx.verbosity++;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			ctx.verbosity--;
		} else if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && i + 1 < argc) {
			ctx.config_path = argv[++i];
		} else if (!strncmp(a, "--config=", 9)) {
			ctx.config_path = a + 9;
		} else if (!strcmp(a, "--log-format") && i + 1 < argc) {
			ctx.log_format = argv[++i];
		} else if (!strncmp(a, "--log-format=", 13)) {
			ctx.log_format = a + 13;
		} else {
			fprintf(stderr, "chipctl: unknown option '%s'\n", a);
			print_usage(stderr);
			return EX_USAGE;
		}
	}
	if (i == argc) {
		print_usage(stderr);
		return EX_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		char *help_argv[3];
		if (i + 1 == argc) {
			print_usage(stdout);
			return 0;
		}
		if (!(cmd = find_cmd(argv[i + 1]))) {
			fprintf(stderr, "chipctl: unknown command '%s'\n", argv[i + 1]);
			return EX_USAGE;
		}
		help_argv[0] = argv[i + 1];
		help_argv[1] = "--help";
		help_argv[2] = NULL;
		return run_cmd(cmd, 2, help_argv, &ctx);
	}
	if (!(cmd = find_cmd(argv[i]))) {
		fprintf(stderr, "chipctl: unknown command '%s'\n", argv[i]);
		print_usage(stderr);
		return EX_USAGE;
	}
	if (http_global_init()) {
		fprintf(stderr, "chipctl: cannot initialise libcurl\n");
		return EX_SOFTWARE;
	}
	rc = run_cmd(cmd, argc - i, argv + i, &ctx);
	log_clear_secrets();
	http_global_cleanup();
	return rc;
}

/* What a command printed must have reached stdout: a full disk, a closed
 * descriptor or /dev/full is 74 (EX_IOERR), never a silent 0. A command
 * that already failed keeps its own code. */
int main(int argc, char **argv)
{
	int rc = chipctl_main(argc, argv), flushed;

	errno = 0;
	flushed = fflush(stdout) == 0;
	if ((!flushed || ferror(stdout)) && rc == 0) {
		/* errno says why only when the flush itself failed */
		fprintf(stderr, "chipctl: cannot write to standard output: %s\n",
			!flushed && errno ? strerror(errno) : "write error");
		rc = EX_IOERR;
	}
	return rc;
}
