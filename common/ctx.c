#include "ctx.h"
#include "alert.h"
#include "db.h"
#include "job.h"
#include "log.h"
#include "ping.h"
#include "validate.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void make_run_id(char *buf)
{
	unsigned char b[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC), i;
	ssize_t got = fd >= 0 ? read(fd, b, sizeof(b)) : -1;

	if (fd >= 0)
		close(fd);
	if (got != (ssize_t)sizeof(b)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		srand((unsigned)(ts.tv_nsec ^ getpid()));
		for (i = 0; i < 16; i++)
			b[i] = (unsigned char)rand();
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(buf, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

int cli_usage_error(struct chipctl_ctx *ctx, const char *msg, const char *arg)
{
	if (arg)
		fprintf(stderr, "chipctl %s: %s '%s'\n", ctx->cmd->name, msg, arg);
	else
		fprintf(stderr, "chipctl %s: %s\n", ctx->cmd->name, msg);
	fprintf(stderr, "Try 'chipctl %s --help'\n", ctx->cmd->name);
	return EX_USAGE;
}

int cli_check_text(struct chipctl_ctx *ctx, const char *field, const char *s)
{
	if (!s || validate_utf8(s, strlen(s)))
		return -1;
	fprintf(stderr, "chipctl %s: %s is not UTF-8 text\n", ctx->cmd->name, field);
	return EX_DATAERR;
}

/* Options whose value is a file name: bytes, not text, never sent to SQL. */
static int is_path_option(const struct option *o)
{
	return o && (!strcmp(o->name, "html") || !strcmp(o->name, "textfile"));
}

int cli_getopt(struct chipctl_ctx *ctx, int argc, char **argv,
	       const char *shortopts, const struct option *longopts)
{
	int c;

	opterr = 0;
	for (;;) {
		int idx = -1;
		c = getopt_long(argc, argv, shortopts, longopts, &idx);
		switch (c) {
		case 'h':
			fputs(ctx->cmd->usage, stdout);
			fputs("\nEvery command also exits 65 when an option's value or an argument\n"
			      "that goes to the database is not UTF-8 text (the field is named), and\n"
			      "74 when standard output cannot be written.\n", stdout);
			ctx->exit_now = 0;
			return -1;
		case 'v':
			ctx->verbosity++;
			continue;
		case 'q':
			ctx->verbosity--;
			continue;
		case 'c':
			ctx->config_path = optarg;
			continue;
		case 1002:
			ctx->log_format = optarg;
			continue;
		case 'n':
			if (!(ctx->cmd->flags & CMD_DRY_RUN)) {
				ctx->exit_now = cli_usage_error(ctx,
					"this command does not write: no --dry-run", NULL);
				return -1;
			}
			ctx->dry_run = 1;
			continue;
		case 1001:
			if (!(ctx->cmd->flags & CMD_JSON)) {
				ctx->exit_now = cli_usage_error(ctx,
					"this command has no --json output", NULL);
				return -1;
			}
			ctx->json = 1;
			continue;
		case '?':
		case ':':
			ctx->exit_now = cli_usage_error(ctx,
				c == ':' ? "option needs a value:" : "unknown option",
				argv[optind - 1]);
			return -1;
		default:
			if (optarg && !is_path_option(idx >= 0 ? &longopts[idx] : NULL)) {
				char field[64];

				if (idx >= 0)
					snprintf(field, sizeof(field), "--%s", longopts[idx].name);
				else
					snprintf(field, sizeof(field), "-%c", c);
				ctx->exit_now = cli_check_text(ctx, field, optarg);
				if (ctx->exit_now >= 0)
					return -1;
			}
			return c;
		}
	}
}

static void apply_log_settings(struct chipctl_ctx *ctx)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	int level = LOG_INFO, i;

	if (ctx->cfg_loaded) {
		for (i = 0; i < 4; i++)
			if (!strcmp(ctx->cfg.log_level, names[i]))
				level = i;
		log_set_format(ctx->cfg.log_format);
	}
	level -= ctx->verbosity;
	if (level < LOG_DEBUG)
		level = LOG_DEBUG;
	if (level > LOG_QUIET)
		level = LOG_QUIET;
	log_set_level((enum log_level)level);
}

int ctx_start(struct chipctl_ctx *ctx)
{
	unsigned flags = ctx->cmd->flags;
	int rc;

	if (ctx->exit_now >= 0)
		return ctx->exit_now;
	if (ctx->log_format && log_set_format(ctx->log_format)) {
		fprintf(stderr, "chipctl: unknown log format '%s' (logfmt or json)\n",
			ctx->log_format);
		return EX_USAGE;
	}
	apply_log_settings(ctx);
	if (flags & (CMD_NEEDS_CONFIG | CMD_NEEDS_DB)) {
		if (config_load(&ctx->cfg, ctx->config_path, ctx->strict))
			return EX_CONFIG;
		ctx->cfg_loaded = 1;
		apply_log_settings(ctx);
		if (ctx->log_format)	/* the command line wins over the file */
			log_set_format(ctx->log_format);
	}
	if (flags & CMD_NEEDS_DB) {
		char app[64];
		snprintf(app, sizeof(app), "chipctl/%s/%.8s", ctx->cmd->name,
			 ctx->run_id);
		rc = db_open(&ctx->db, ctx->cfg.database_url, app,
			     ctx->cfg.db_connect_timeout_s);
		if (rc)
			return rc;
	}
	if ((flags & CMD_NEEDS_DB) && job_of(ctx) &&
	    (job_of(ctx)->flags & JOB_LEASE)) {
		rc = job_begin(ctx);
		if (rc >= 0)
			return rc;
		ping_start(ctx);	/* issue 6: dead man's switch */
	}
	return -1;
}

int ctx_finish(struct chipctl_ctx *ctx, int rc)
{
	if (ctx->job_active) {
		int n = alert_flush(ctx);
		if (n > 0)
			job_count(ctx, "alerts_delivered", n);
		ping_finish(ctx, rc);	/* issue 6: dead man's switch */
		job_end(ctx, rc);
	}
	if (ctx->job_counts) {
		json_object_put(ctx->job_counts);
		ctx->job_counts = NULL;
	}
	db_close(ctx->db);
	ctx->db = NULL;
	if (ctx->cfg_loaded)
		config_free(&ctx->cfg);
	ctx->cfg_loaded = 0;
	return rc;
}
