/* chipctl alerts: the alert outbox at a glance; deliver now; raise by hand. */
#include "alert.h"
#include "builtin.h"
#include "db.h"
#include "log.h"
#include "termsafe.h"
#include "numparse.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_alerts[] =
	"usage: chipctl alerts [list] [--all] [--json]\n"
	"       chipctl alerts flush [-n]\n"
	"       chipctl alerts raise --type TYPE [--subject S] [--severity SEV]\n"
	"                            [--cooldown SECONDS] --text TEXT [-n]\n"
	"\n"
	"list   alerts waiting for delivery (with --all: the last 100 of any state)\n"
	"flush  deliver waiting alerts to Slack now (every job run also does)\n"
	"raise  queue an alert by hand, e.g. to test the Slack webhook; it obeys the\n"
	"       cooldown of its key TYPE:SUBJECT (default alerts.cooldown_s).\n"
	"       SEV: info, warning (default) or critical.\n"
	"\n"
	"-n, --dry-run: raise and flush write and post nothing.\n"
	"\n"
	"Exit: 0 done, 64 usage, 75 database unreachable, 78 configuration error,\n"
	"70 internal error.\n";

static int list(struct chipctl_ctx *ctx, int all)
{
	const char *params[1] = { all ? "t" : "f" };
	PGresult *res = db_query(ctx->db,
		"SELECT id, created_at, alert_key, severity, status, attempts,"
		"  coalesce(last_error, ''), text FROM alert_outbox"
		" WHERE $1::boolean OR status = 'pending' ORDER BY id DESC LIMIT 100",
		1, params);
	int r;

	if (!res)
		return db_failure_rc(ctx->db);
	if (ctx->json) {
		json_object *arr = json_object_new_array();
		for (r = 0; r < PQntuples(res); r++) {
			json_object *o = json_object_new_object();
			static const char *keys[] = { "id", "created_at", "key", "severity",
						      "status", "attempts", "last_error", "text" };
			int c;
			for (c = 0; c < 8; c++)
				json_object_object_add(o, keys[c], c == 0 || c == 5 ?
					json_object_new_int64(db_long(res, r, c)) :
					json_object_new_string(PQgetvalue(res, r, c)));
			json_object_array_add(arr, o);
		}
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
		json_object_put(arr);
	} else {
		for (r = 0; r < PQntuples(res); r++)
			printf("%s  %.19s  %-8s  %-8s  %s  %s\n", tsafe(PQgetvalue(res, r, 0)),
			       tsafe(PQgetvalue(res, r, 1)), tsafe(PQgetvalue(res, r, 3)),
			       tsafe(PQgetvalue(res, r, 4)), tsafe(PQgetvalue(res, r, 2)),
			       tsafe(PQgetvalue(res, r, 7)));
	}
	PQclear(res);
	return 0;
}

int cmd_alerts(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = {
		{ "all", no_argument, 0, 'a' },
		{ "type", required_argument, 0, 't' },
		{ "subject", required_argument, 0, 's' },
		{ "severity", required_argument, 0, 'S' },
		{ "cooldown", required_argument, 0, 'C' },
		{ "text", required_argument, 0, 'x' },
		CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	const char *sub = "list", *type = NULL, *subject = NULL, *text = NULL;
	const char *sev_s = "warning";
	int c, rc, all = 0, cooldown = -1;
	enum alert_severity sev;

	if (argc > 1 && argv[1][0] != '-') {
		sub = argv[1];
		argc--;
		argv++;
	}
	while ((c = cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 't': type = optarg; break;
		case 's': subject = optarg; break;
		case 'S': sev_s = optarg; break;
		case 'x': text = optarg; break;
		case 'C': {
			if (num_parse_int(optarg, 0, 604800, &cooldown) != NUM_OK)
				return cli_usage_error(ctx, "--cooldown takes 0 to 604800 seconds:", optarg);
			break;
		}
		}
	}
	if (ctx->exit_now >= 0)
		return ctx->exit_now;
	if (strcmp(sub, "list") && strcmp(sub, "flush") && strcmp(sub, "raise"))
		return cli_usage_error(ctx, "unknown subcommand", sub);
	if (optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if (!strcmp(sev_s, "info"))
		sev = ALERT_INFO;
	else if (!strcmp(sev_s, "warning"))
		sev = ALERT_WARNING;
	else if (!strcmp(sev_s, "critical"))
		sev = ALERT_CRITICAL;
	else
		return cli_usage_error(ctx, "--severity is info, warning or critical:", sev_s);
	if (!strcmp(sub, "raise") && (!type || !*type || !text || !*text))
		return cli_usage_error(ctx, "raise needs --type and --text", NULL);
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;

	if (!strcmp(sub, "list"))
		return list(ctx, all);
	if (!strcmp(sub, "raise")) {
		rc = alert_raise(ctx, type, subject, sev,
				 cooldown >= 0 ? cooldown : ctx->cfg.alerts_cooldown_s, text);
		if (rc < 0)
			return db_failure_rc(ctx->db);
		printf("%s\n", ctx->dry_run ? "would be queued unless in its cooldown" :
		       rc ? "queued" : "held back by cooldown");
	}
	rc = alert_flush(ctx);
	if (rc < 0)
		return db_failure_rc(ctx->db);
	log_info("alerts delivered", "count=%d", rc);
	return 0;
}
