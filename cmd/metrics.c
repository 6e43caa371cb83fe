/* chipctl metrics: the current metrics for Prometheus, and their history (T03.2). */
#include "builtin.h"
#include "db.h"
#include "health.h"
#include "job.h"
#include "log.h"
#include "numparse.h"
#include "strbuf.h"
#include "termsafe.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char usage_metrics[] =
	"usage: chipctl metrics [--textfile DIR] [--json]\n"
	"       chipctl metrics history NAME [--since DURATION] [--json]\n"
	"\n"
	"Print the current metrics (queue, chips, circuits, worker, jobs) in the\n"
	"Prometheus text exposition format, every series a gauge with HELP and\n"
	"TYPE lines; or, with --json, as an array of {name, labels, value}.\n"
	"\n"
	"  --textfile DIR    write DIR/chipctl.prom atomically (a temporary file\n"
	"                    renamed over it) for node_exporter's textfile\n"
	"                    collector, instead of stdout\n"
	"  history NAME      the stored snapshots of one metric (metrics-snapshot)\n"
	"  --since DURATION  how far back: N followed by s, m, h or d (default 24h)\n"
	"      --json        JSON instead of text\n"
	"\n"
	"Exit: 0 done, 64 usage, 73 the textfile cannot be written, 75 database\n"
	"unreachable, 78 configuration error, 70 internal error.\n";

static const struct {
	const char *name, *help;
} helps[] = {
	{ "chipctl_alerts_pending", "Alerts waiting in the outbox for delivery." },
	{ "chipctl_chip_trust_score_avg", "Mean trust score of chips in warming, ready, active or degraded." },
	{ "chipctl_chips", "Chips in the pool by lifecycle status." },
	{ "chipctl_chips_available", "Chips the send path may choose now (chipctl_chip_now.sendable)." },
	{ "chipctl_chips_connected", "Active chips connected by their own provider (Evolution or Z-API)." },
	{ "chipctl_chips_permitted", "Active chips that may prospect, follow up or reply (the pool alert's rule)." },
	{ "chipctl_circuit_breakers", "Circuit breakers by kind and state." },
	{ "chipctl_circuit_transitions_last_day", "Breaker transitions in the last 24 hours." },
	{ "chipctl_job_last_exit_code", "Exit code of the job's last run (-1 while running)." },
	{ "chipctl_job_last_run_duration_seconds", "Duration of the job's last run (-1 while running)." },
	{ "chipctl_job_last_run_timestamp_seconds", "Start of the job's last run that was not skipped, Unix time." },
	{ "chipctl_job_running", "1 while the job's last run is still running." },
	{ "chipctl_queue_due_messages", "Pending messages whose due time has come." },
	{ "chipctl_queue_errors_last_hour", "Messages that failed for good in the last hour." },
	{ "chipctl_queue_messages", "Messages in the queue by live status." },
	{ "chipctl_queue_oldest_due_seconds", "Age of the oldest due pending message (0 when none)." },
	{ "chipctl_queue_sent_last_hour", "Messages sent in the last hour." },
	{ "chipctl_send_attempts_last_hour", "Send attempts in the last hour by result." },
	{ "chipctl_send_failures_last_hour", "Failed send attempts in the last hour by whose fault (chip, provider, recipient)." },
	{ "chipctl_worker_heartbeat_age_seconds", "Age of the newest send-worker heartbeat (-1 when none)." },
	{ "chipctl_workers_alive", "Send-workers with a fresh heartbeat." },
};

static const char *help_of(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
		if (!strcmp(helps[i].name, name))
			return helps[i].help;
	return "A chipctl metric.";
}

/* A label value in the exposition format, terminal-safe: termsafe's form
 * (printable UTF-8 as it is; a control byte as the text \x1b, say), then
 * the format's escapes. termsafe already writes a backslash and a newline
 * as the format does (\\ and \n): those pairs pass, and any other
 * backslash of an escape is doubled, so Prometheus reads that escape as
 * text and every other value exactly as it is. */
static void escape_label(struct strbuf *sb, const char *v)
{
	const char *p = tsafe(v);

	for (; *p; p++) {
		if (*p == '\\' && (p[1] == '\\' || p[1] == 'n')) {
			sb_addc(sb, '\\');
			sb_addc(sb, *++p);
		} else if (*p == '\\') {
			sb_add(sb, "\\\\");
		} else if (*p == '"') {
			sb_add(sb, "\\\"");
		} else {
			sb_addc(sb, *p);
		}
	}
}

static void render_labels(struct strbuf *sb, const char *labels_json)
{
	json_object *o = json_tokener_parse(labels_json);
	int first = 1;

	if (o && json_object_is_type(o, json_type_object) &&
	    json_object_object_length(o) > 0) {
		json_object_iter it;
		sb_addc(sb, '{');
		json_object_object_foreachC(o, it) {
			sb_addf(sb, "%s%s=\"", first ? "" : ",", it.key);
			escape_label(sb, json_object_get_string(it.val));
			sb_addc(sb, '"');
			first = 0;
		}
		sb_addc(sb, '}');
	}
	json_object_put(o);
}

static void render_prom(struct strbuf *sb, const PGresult *res)
{
	const char *prev = "";
	int r;

	for (r = 0; r < PQntuples(res); r++) {
		const char *name = PQgetvalue(res, r, 0);
		double v = strtod(PQgetvalue(res, r, 2), NULL);

		if (strcmp(prev, name)) {
			sb_addf(sb, "# HELP %s %s\n# TYPE %s gauge\n", name, help_of(name), name);
			prev = name;
		}
		sb_add(sb, name);
		render_labels(sb, PQgetvalue(res, r, 1));
		sb_addf(sb, " %.15g\n", v);
	}
}

static json_object *rows_json(const PGresult *res, int time_col)
{
	json_object *arr = json_object_new_array();
	int r;

	for (r = 0; r < PQntuples(res); r++) {
		json_object *o = json_object_new_object();
		json_object *labels = json_tokener_parse(PQgetvalue(res, r, 1));

		if (time_col >= 0)
			json_object_object_add(o, "time",
				json_object_new_string(PQgetvalue(res, r, time_col)));
		else
			json_object_object_add(o, "name",
				json_object_new_string(PQgetvalue(res, r, 0)));
		json_object_object_add(o, "labels", labels ? labels : json_object_new_object());
		json_object_object_add(o, "value",
			json_object_new_double(strtod(PQgetvalue(res, r, 2), NULL)));
		json_object_array_add(arr, o);
	}
	return arr;
}

static int write_textfile(const char *dir, const char *text)
{
	char tmp[4096], final[4096];
	FILE *f;
	int ok;

	snprintf(final, sizeof(final), "%s/chipctl.prom", dir);
	snprintf(tmp, sizeof(tmp), "%s/chipctl.prom.%d.tmp", dir, (int)getpid());
	if (!(f = fopen(tmp, "w"))) {
		log_error("cannot write the textfile", "file=%s", tmp, "error=%s", strerror(errno));
		return EX_CANTCREAT;
	}
	ok = fputs(text, f) >= 0;
	ok = fflush(f) == 0 && ok;
	ok = fsync(fileno(f)) == 0 && ok;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, final)) {
		log_error("cannot write the textfile", "file=%s", final, "error=%s", strerror(errno));
		unlink(tmp);
		return EX_CANTCREAT;
	}
	log_debug("textfile written", "file=%s", final);
	return 0;
}

static int current(struct chipctl_ctx *ctx, const char *textfile)
{
	struct strbuf jobs = STRBUF_INIT;
	char hb[16];
	const char *params[2] = { hb, NULL };
	PGresult *res;
	int rc = 0;

	snprintf(hb, sizeof(hb), "%d", ctx->cfg.watchdog_heartbeat_s);
	job_names_array(&jobs);
	params[1] = sb_str(&jobs);
	res = db_query(ctx->db, health_metrics_sql, 2, params);
	sb_free(&jobs);
	if (!res)
		return db_failure_rc(ctx->db);
	if (ctx->json) {
		json_object *arr = rows_json(res, -1);
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
		json_object_put(arr);
	} else {
		struct strbuf sb = STRBUF_INIT;
		render_prom(&sb, res);
		if (textfile)
			rc = write_textfile(textfile, sb_str(&sb));
		else
			fputs(sb_str(&sb), stdout);
		sb_free(&sb);
	}
	PQclear(res);
	return rc;
}

/* "90s", "15m", "24h", "7d" in seconds, or -1. */
static long parse_duration(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	long long n;

	if (len < 2 || num_parse_n(s, len - 1, 0, 100000000L, &n) != NUM_OK)
		return -1;
	switch (s[len - 1]) {
	case 's': return n;
	case 'm': return n * 60;
	case 'h': return n * 3600;
	case 'd': return n * 86400;
	default: return -1;
	}
}

static int history(struct chipctl_ctx *ctx, const char *name, long since)
{
	char secs[24];
	const char *params[2] = { name, secs };
	PGresult *res;
	int r;

	snprintf(secs, sizeof(secs), "%ld", since);
	res = db_query(ctx->db,
		"SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
		"  labels::text, value FROM metrics_snapshots"
		" WHERE name = $1 AND created_at > now() - make_interval(secs => $2::bigint)"
		" ORDER BY created_at, labels::text", 2, params);
	if (!res)
		return db_failure_rc(ctx->db);
	if (ctx->json) {
		json_object *arr = rows_json(res, 0);
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
		json_object_put(arr);
	} else {
		for (r = 0; r < PQntuples(res); r++)
			printf("%s  %.15g  %s\n", PQgetvalue(res, r, 0),
			       strtod(PQgetvalue(res, r, 2), NULL), tsafe(PQgetvalue(res, r, 1)));
	}
	PQclear(res);
	return 0;
}

int cmd_metrics(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = {
		{ "textfile", required_argument, 0, 't' },
		{ "since", required_argument, 0, 's' },
		CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	const char *textfile = NULL, *since_arg = NULL, *name = NULL;
	long since = 86400;
	int c, rc, hist = 0;

	while ((c = cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts)) != -1) {
		if (c == 't')
			textfile = optarg;
		else if (c == 's')
			since_arg = optarg;
	}
	if (ctx->exit_now < 0) {
		if (optind < argc && !strcmp(argv[optind], "history")) {
			hist = 1;
			if (optind + 1 >= argc)
				return cli_usage_error(ctx, "history needs a metric name", NULL);
			name = argv[optind + 1];
			if (optind + 2 < argc)
				return cli_usage_error(ctx, "unexpected argument", argv[optind + 2]);
			if ((rc = cli_check_text(ctx, "NAME", name)) >= 0)
				return rc;
		} else if (optind < argc) {
			return cli_usage_error(ctx, "unexpected argument", argv[optind]);
		}
		if (since_arg && (!hist || (since = parse_duration(since_arg)) < 0))
			return cli_usage_error(ctx, hist ? "bad --since (e.g. 90m, 24h, 7d)" :
					       "--since is for history", since_arg);
		if (textfile && (hist || ctx->json))
			return cli_usage_error(ctx, "--textfile writes the current metrics "
					       "as text, not with history or --json", NULL);
	}
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	return hist ? history(ctx, name, since) : current(ctx, textfile);
}
