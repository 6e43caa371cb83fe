/* chipctl guardrail: block or unblock a doctor, every change audited (T06.2, T06.3). */
#include "builtin.h"
#include "db.h"
#include "log.h"
#include "termsafe.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_guardrail[] =
	"usage: chipctl guardrail unblock DOCTOR --reason R [--by WHO] [-n]\n"
	"       chipctl guardrail block DOCTOR --reason R [--by WHO] [-n]\n"
	"       chipctl guardrail list [--json]\n"
	"\n"
	"A blocked doctor's messages are cancelled with FAILED_GUARDRAIL by the\n"
	"send-worker. unblock lifts a block; block sets one; both are recorded in\n"
	"guardrail_bypasses with the reason, the actor (--by, default $USER) and\n"
	"the time. list shows the blocked doctors.\n"
	"\n"
	"Exit: 0 done, 64 usage, 65 the doctor is not blocked (unblock) or is\n"
	"already blocked (block), 75 database unreachable, 78 configuration error.\n";

static int list(struct chipctl_ctx *ctx)
{
	PGresult *res = db_query(ctx->db,
		"SELECT cliente_id, reason, blocked_by,"
		"  to_char(blocked_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF')"
		" FROM guardrail_blocks ORDER BY blocked_at", 0, NULL);
	int r;

	if (!res)
		return db_failure_rc(ctx->db);
	if (ctx->json) {
		json_object *arr = json_object_new_array();
		for (r = 0; r < PQntuples(res); r++) {
			json_object *o = json_object_new_object();
			json_object_object_add(o, "cliente_id", json_object_new_string(PQgetvalue(res, r, 0)));
			json_object_object_add(o, "reason", json_object_new_string(PQgetvalue(res, r, 1)));
			json_object_object_add(o, "blocked_by", json_object_new_string(PQgetvalue(res, r, 2)));
			json_object_object_add(o, "blocked_at", json_object_new_string(PQgetvalue(res, r, 3)));
			json_object_array_add(arr, o);
		}
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
		json_object_put(arr);
	} else {
		for (r = 0; r < PQntuples(res); r++)
			printf("%s  %s  by %s: %s\n", tsafe(PQgetvalue(res, r, 3)), tsafe(PQgetvalue(res, r, 0)),
			       tsafe(PQgetvalue(res, r, 2)), tsafe(PQgetvalue(res, r, 1)));
	}
	PQclear(res);
	return 0;
}

int cmd_guardrail(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = {
		{ "reason", required_argument, 0, 'r' },
		{ "by", required_argument, 0, 'b' },
		CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	const char *sub = NULL, *reason = NULL, *by = getenv("USER"), *doctor;
	const char *p[4];
	PGresult *res;
	int c, rc, changed;

	if (argc > 1 && argv[1][0] != '-') {
		sub = argv[1];
		argc--;
		argv++;
	}
	while ((c = cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts)) != -1) {
		if (c == 'r')
			reason = optarg;
		else if (c == 'b')
			by = optarg;
	}
	if (ctx->exit_now >= 0)
		return ctx->exit_now;
	if (!sub)
		return cli_usage_error(ctx, "missing subcommand (unblock, block or list)", NULL);
	if (strcmp(sub, "unblock") && strcmp(sub, "block") && strcmp(sub, "list"))
		return cli_usage_error(ctx, "unknown subcommand", sub);
	if (!strcmp(sub, "list")) {
		if (optind < argc)
			return cli_usage_error(ctx, "unexpected argument", argv[optind]);
		if ((rc = ctx_start(ctx)) >= 0)
			return rc;
		return list(ctx);
	}
	if (optind != argc - 1 || !*argv[optind])
		return cli_usage_error(ctx, "give exactly one DOCTOR (cliente_id)", NULL);
	if (!reason || !*reason)
		return cli_usage_error(ctx, "a guardrail change needs --reason", NULL);
	doctor = argv[optind];
	if ((rc = cli_check_text(ctx, "DOCTOR", doctor)) >= 0)
		return rc;
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	p[0] = doctor;
	p[1] = reason;
	p[2] = by && *by ? by : "operator";
	p[3] = ctx->dry_run ? "t" : "f";
	/* One statement: the change and its audit row, or neither. */
	res = db_query(ctx->db, !strcmp(sub, "unblock") ?
		"WITH cur AS (SELECT cliente_id, reason FROM guardrail_blocks WHERE cliente_id = $1),"
		" del AS (DELETE FROM guardrail_blocks WHERE cliente_id = $1 AND NOT $4::boolean"
		"   RETURNING reason),"
		" aud AS (INSERT INTO guardrail_bypasses (cliente_id, kind, reason, actor, details)"
		"   SELECT $1, 'unblock', $2, $3, jsonb_build_object('was_blocked_for', reason)"
		"   FROM del)"
		" SELECT count(*) FROM cur" :
		"WITH ins AS (INSERT INTO guardrail_blocks (cliente_id, reason, blocked_by)"
		"   SELECT $1, $2, $3 WHERE NOT $4::boolean"
		"   ON CONFLICT (cliente_id) DO NOTHING RETURNING 1),"
		" aud AS (INSERT INTO guardrail_bypasses (cliente_id, kind, reason, actor)"
		"   SELECT $1, 'block', $2, $3 FROM ins)"
		" SELECT CASE WHEN $4::boolean THEN"
		"   (SELECT count(*) FROM guardrail_blocks WHERE cliente_id = $1) = 0"
		"   ELSE EXISTS (SELECT 1 FROM ins) END::int",
		4, p);
	if (!res)
		return db_failure_rc(ctx->db);
	changed = db_long(res, 0, 0) > 0;
	PQclear(res);
	if (!changed) {
		log_error(!strcmp(sub, "unblock") ? "doctor is not blocked" :
			  "doctor is already blocked", "doctor=%s", doctor);
		return EX_DATAERR;
	}
	log_info(ctx->dry_run ? "would change the doctor's guardrail" :
		 "doctor's guardrail changed", "action=%s", sub, "doctor=%s", doctor,
		 "by=%s", p[2], "reason=%s", reason);
	return 0;
}
