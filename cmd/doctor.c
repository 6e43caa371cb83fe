/* chipctl doctor: is this host set up to run chipctl? One line per check. */
#include "builtin.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "migrations.h"
#include "strbuf.h"
#include "termsafe.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_doctor[] =
	"usage: chipctl doctor [--json]\n"
	"\n"
	"Check, one line each, OK, FAIL or SKIP (not configured):\n"
	"  config      the config file and environment load and validate\n"
	"  database    database.url connects\n"
	"  migrations  every migration of this chipctl is applied, none edited\n"
	"  evolution   GET /instance/fetchInstances answers 200 with the API key\n"
	"  slack       the webhook exists (an empty post answers 400, not 404/410)\n"
	"Secrets are never printed.\n"
	"\n"
	"Exit: 0 every check OK or SKIP; 78 the config does not load, or a\n"
	"credential is missing or refused (database, Evolution API key); 75 any\n"
	"other check failed (unreachable); 64 usage.\n";

struct report {
	json_object *checks;
	int failed;
	int misconfigured;	/* failures that are configuration errors */
	int json;
};

/* A failure that no retry will fix: missing or refused credentials. */
static void misconfigured(struct report *r)
{
	r->misconfigured++;
}

static void report(struct report *r, const char *name, const char *state,
		   const char *detail)
{
	char clean[512];

	redact(detail, clean, sizeof(clean));
	if (!strcmp(state, "FAIL"))
		r->failed++;
	if (r->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "check", json_object_new_string(name));
		json_object_object_add(o, "state", json_object_new_string(state));
		json_object_object_add(o, "detail", json_object_new_string(clean));
		json_object_array_add(r->checks, o);
	} else {
		/* a detail may hold a server's words (Slack's body): never raw */
		printf("%-4s  %-10s  %s\n", state, name, tsafe(clean));
	}
}

static void check_database(struct chipctl_ctx *ctx, struct report *r)
{
	int pending, edited, unknown;
	char detail[256];

	char app[64];
	int rc;

	if (!ctx->cfg.database_url) {
		report(r, "database", "FAIL", "database.url is not set (config or DATABASE_URL)");
		report(r, "migrations", "SKIP", "no database");
		misconfigured(r);
		return;
	}
	snprintf(app, sizeof(app), "chipctl/doctor/%.8s", ctx->run_id);
	rc = db_open(&ctx->db, ctx->cfg.database_url, app, ctx->cfg.db_connect_timeout_s);
	if (rc) {
		if (rc == EX_CONFIG)
			misconfigured(r);
		report(r, "database", "FAIL", rc == EX_CONFIG ?
		       "the server refused the credentials or database (see above)" :
		       "cannot connect (see the log line above)");
		report(r, "migrations", "SKIP", "no database");
		return;
	}
	snprintf(detail, sizeof(detail), "connected to %s",
		 PQdb(db_conn(ctx->db)));
	report(r, "database", "OK", detail);
	if (migrations_check(ctx->db, &pending, &edited, &unknown, NULL, 0, NULL)) {
		report(r, "migrations", "FAIL", "cannot read schema_migrations");
		return;
	}
	snprintf(detail, sizeof(detail), "%d pending, %d edited, %d unknown of %d",
		 pending, edited, unknown, nmigrations);
	report(r, "migrations", pending || edited ? "FAIL" : "OK", detail);
}

static void check_evolution(struct chipctl_ctx *ctx, struct report *r)
{
	const struct config *cfg = &ctx->cfg;
	struct http_client *http;
	struct http_response resp;
	struct strbuf url = STRBUF_INIT, hdr = STRBUF_INIT;
	const char *headers[2];
	char detail[400];

	if (!cfg->evolution_url) {
		report(r, "evolution", "SKIP", "evolution.url is not set");
		return;
	}
	if (!cfg->evolution_api_key) {
		report(r, "evolution", "FAIL", "evolution.api_key is not set");
		misconfigured(r);
		return;
	}
	sb_addf(&url, "%s/instance/fetchInstances", cfg->evolution_url);
	sb_addf(&hdr, "apikey: %s", cfg->evolution_api_key);
	headers[0] = sb_str(&hdr);
	headers[1] = NULL;
	http = http_client_new(cfg->evolution_connect_timeout_ms,
			       cfg->evolution_timeout_ms,
			       (size_t)cfg->http_max_response_bytes);
	http_request(http, "GET", sb_str(&url), headers, NULL, &resp);
	if (resp.cls == HTTP_OK)
		snprintf(detail, sizeof(detail), "%s answered %ld in %.0f ms",
			 cfg->evolution_url, resp.status, resp.elapsed_ms);
	else if (resp.status == 401) {
		snprintf(detail, sizeof(detail), "%s refused the API key (401)",
			 cfg->evolution_url);
		misconfigured(r);
	}
	else
		snprintf(detail, sizeof(detail), "%s: %s (%s)", cfg->evolution_url,
			 resp.error, http_class_name(resp.cls));
	report(r, "evolution", resp.cls == HTTP_OK ? "OK" : "FAIL", detail);
	http_response_free(&resp);
	http_client_free(http);
	sb_free(&url);
	sb_free(&hdr);
}

static void check_slack(struct chipctl_ctx *ctx, struct report *r)
{
	const struct config *cfg = &ctx->cfg;
	static const char *const headers[] = { "Content-Type: application/json", NULL };
	struct http_client *http;
	struct http_response resp;
	char detail[300];
	int ok;

	if (!cfg->slack_webhook_url) {
		report(r, "slack", "SKIP", "slack.webhook_url is not set: alerts go to the log");
		return;
	}
	http = http_client_new(2000, cfg->slack_timeout_ms, (size_t)64 * 1024);
	/* An empty payload posts nothing: a live webhook answers 400
	 * no_text/invalid_payload, a dead one 404 no_service or 410. */
	http_request(http, "POST", cfg->slack_webhook_url, headers, "{}", &resp);
	ok = resp.status == 400 || resp.status == 200;
	if (ok)
		snprintf(detail, sizeof(detail), "webhook answered (%ld) in %.0f ms",
			 resp.status, resp.elapsed_ms);
	else
		snprintf(detail, sizeof(detail), "webhook: %s%s%.60s", resp.error,
			 resp.len ? ": " : "", resp.body);
	report(r, "slack", ok ? "OK" : "FAIL", detail);
	http_response_free(&resp);
	http_client_free(http);
}

int cmd_doctor(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = { CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	struct report r = { NULL, 0, 0, 0 };
	int rc;

	while (cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts) != -1)
		;
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	r.json = ctx->json;
	if (r.json)
		r.checks = json_object_new_array();
	rc = ctx_start(ctx);
	if (rc == EX_CONFIG) {
		report(&r, "config", "FAIL", "the configuration does not load (see above)");
	} else if (rc >= 0) {
		json_object_put(r.checks);
		return rc;
	} else {
		report(&r, "config", "OK", ctx->cfg.path ? ctx->cfg.path :
		       "no config file; defaults and environment");
		check_database(ctx, &r);
		check_evolution(ctx, &r);
		check_slack(ctx, &r);
	}
	if (r.json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "ok", json_object_new_boolean(r.failed == 0));
		json_object_object_add(o, "checks", r.checks);
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	}
	if (rc == EX_CONFIG || r.misconfigured)
		return EX_CONFIG;
	return r.failed ? EX_TEMPFAIL : 0;
}
