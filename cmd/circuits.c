/* chipctl circuits: every breaker and its last transitions; operator overrides (T02.5). */
#include "builtin.h"
#include "db.h"
#include "log.h"
#include "termsafe.h"
#include "numparse.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_circuits[] =
	"usage: chipctl circuits [--hours N] [--json]\n"
	"       chipctl circuits open|close|reset NAME --reason R [--by WHO] [-n]\n"
	"\n"
	"Without a subcommand: the state of every circuit breaker (one per provider,\n"
	"'provider:evolution' and 'provider:zapi', and one per chip, 'chip:UUID')\n"
	"and its transitions over the last N hours (default 24).\n"
	"\n"
	"open   force the breaker open: nothing is sent through it until reset\n"
	"close  disable it: it stays closed whatever fails (until reset)\n"
	"reset  clear any override, close it and zero its counters and backoff\n"
	"NAME is provider:evolution, evolution, zapi, chip:UUID, a chip's UUID,\n"
	"instance name or phone. Each change is a circuit_transitions row with\n"
	"the reason and the actor (--by, default $USER).\n"
	"\n"
	"Exit: 0 done, 64 usage, 65 unknown breaker, 75 database unreachable,\n"
	"78 configuration error.\n";

static int show(struct chipctl_ctx *ctx, const char *hours)
{
	const char *p[1] = { hours };
	PGresult *b, *t;
	int r;

	b = db_query(ctx->db,
		"SELECT cb.name, coalesce(c.instance_name, ''), cb.state,"
		"  coalesce(cb.override, ''), cb.consecutive_failures, cb.consecutive_timeouts,"
		"  cb.backoff_s, coalesce(to_char(cb.retry_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), ''),"
		"  coalesce(cb.probe_holder, ''), coalesce(cb.last_failure, '')"
		" FROM circuit_breakers cb LEFT JOIN chips c ON c.id = cb.chip_id"
		" ORDER BY cb.kind DESC, cb.name", 0, NULL);
	if (!b)
		return db_failure_rc(ctx->db);
	t = db_query(ctx->db,
		"SELECT to_char(t.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), t.breaker,"
		"  coalesce(c.instance_name, ''), t.from_state, t.to_state, t.reason, t.actor"
		" FROM circuit_transitions t"
		" LEFT JOIN chips c ON t.breaker = 'chip:' || c.id::text"
		" WHERE t.created_at > now() - make_interval(hours => $1::int)"
		" ORDER BY t.id", 1, p);
	if (!t) {
		PQclear(b);
		return db_failure_rc(ctx->db);
	}
	if (ctx->json) {
		json_object *o = json_object_new_object(), *arr = json_object_new_array(),
			    *tr = json_object_new_array();
		static const char *bk[] = { "name", "chip", "state", "override", "failures",
					    "timeouts", "backoff_s", "retry_at", "probe_holder",
					    "last_failure" };
		static const char *tk[] = { "at", "breaker", "chip", "from", "to", "reason",
					    "actor" };
		int c;
		for (r = 0; r < PQntuples(b); r++) {
			json_object *e = json_object_new_object();
			for (c = 0; c < 10; c++)
				json_object_object_add(e, bk[c], c >= 4 && c <= 6 ?
					json_object_new_int64(db_long(b, r, c)) :
					json_object_new_string(PQgetvalue(b, r, c)));
			json_object_array_add(arr, e);
		}
		for (r = 0; r < PQntuples(t); r++) {
			json_object *e = json_object_new_object();
			for (c = 0; c < 7; c++)
				json_object_object_add(e, tk[c], json_object_new_string(PQgetvalue(t, r, c)));
			json_object_array_add(tr, e);
		}
		json_object_object_add(o, "breakers", arr);
		json_object_object_add(o, "transitions", tr);
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		printf("%-44s %-16s %-9s %-11s %4s %4s %6s  %s\n", "BREAKER", "CHIP", "STATE",
		       "OVERRIDE", "FAIL", "TMO", "BACKOF", "RETRY AT");
		for (r = 0; r < PQntuples(b); r++)
			printf("%-44s %-16s %-9s %-11s %4s %4s %6s  %s\n",
			       tsafe(PQgetvalue(b, r, 0)),
			       tsafe(PQgetvalue(b, r, 1)), tsafe(PQgetvalue(b, r, 2)),
			       *PQgetvalue(b, r, 3) ? tsafe(PQgetvalue(b, r, 3)) : "-",
			       tsafe(PQgetvalue(b, r, 4)), tsafe(PQgetvalue(b, r, 5)),
			       tsafe(PQgetvalue(b, r, 6)),
			       *PQgetvalue(b, r, 7) ? tsafe(PQgetvalue(b, r, 7)) : "-");
		printf("\ntransitions in the last %s h: %d\n", hours, PQntuples(t));
		for (r = 0; r < PQntuples(t); r++)
			printf("%s  %s%s%s  %s -> %s  %s (%s)\n", tsafe(PQgetvalue(t, r, 0)),
			       tsafe(PQgetvalue(t, r, 1)), *PQgetvalue(t, r, 2) ? " " : "",
			       tsafe(PQgetvalue(t, r, 2)), tsafe(PQgetvalue(t, r, 3)),
			       tsafe(PQgetvalue(t, r, 4)),
			       tsafe(PQgetvalue(t, r, 5)), tsafe(PQgetvalue(t, r, 6)));
	}
	PQclear(b);
	PQclear(t);
	return 0;
}

/* One statement: resolve NAME, apply the override, write the transition. */
static const char override_sql[] =
	"WITH target AS ("
	"  SELECT name, kind, chip_id FROM ("
	"    SELECT 'provider:' || p AS name, 'provider' AS kind, NULL::uuid AS chip_id"
	"    FROM unnest(ARRAY['evolution', 'zapi']) p"
	"    WHERE $1 IN (p, 'provider:' || p)"
	"    UNION ALL"
	"    SELECT 'chip:' || c.id, 'chip', c.id FROM chips c"
	"    WHERE $1 IN (c.id::text, 'chip:' || c.id::text, c.instance_name, c.telefone)"
	"  ) x LIMIT 2"
	"), old AS ("
	"  SELECT b.name, b.state FROM circuit_breakers b JOIN target USING (name)"
	"), up AS ("
	"  INSERT INTO circuit_breakers AS b (name, kind, chip_id, state, override,"
	"    opened_at, prev_state)"
	"  SELECT name, kind, chip_id, CASE $2 WHEN 'open' THEN 'open' ELSE 'closed' END,"
	"    CASE $2 WHEN 'open' THEN 'forced_open' WHEN 'close' THEN 'disabled' END,"
	"    CASE WHEN $2 = 'open' THEN now() END, 'closed'"
	"  FROM target WHERE (SELECT count(*) FROM target) = 1 AND NOT $5::boolean"
	"  ON CONFLICT (name) DO UPDATE SET prev_state = b.state,"
	"    state = EXCLUDED.state, override = EXCLUDED.override,"
	"    consecutive_failures = CASE WHEN $2 = 'open' THEN b.consecutive_failures ELSE 0 END,"
	"    consecutive_timeouts = CASE WHEN $2 = 'open' THEN b.consecutive_timeouts ELSE 0 END,"
	"    backoff_s = CASE WHEN $2 = 'reset' THEN $6::int ELSE b.backoff_s END,"
	"    opened_at = coalesce(EXCLUDED.opened_at, b.opened_at),"
	"    retry_at = NULL, probe_holder = NULL, probe_until = NULL,"
	"    version = b.version + 1, updated_at = now()"
	"  RETURNING b.name"
	"), tr AS ("
	"  INSERT INTO circuit_transitions (breaker, from_state, to_state, reason, actor, run_id)"
	"  SELECT t.name, coalesce(o.state, 'closed'),"
	"    CASE $2 WHEN 'open' THEN 'open' ELSE 'closed' END,"
	"    'operator ' || $2 || ': ' || $3, $4, $7::uuid"
	"  FROM target t LEFT JOIN old o USING (name)"
	"  WHERE (SELECT count(*) FROM target) = 1 AND NOT $5::boolean"
	")"
	" SELECT (SELECT count(*) FROM target), (SELECT min(name) FROM target),"
	"   coalesce((SELECT state FROM old), 'closed')";

static int override(struct chipctl_ctx *ctx, const char *action, const char *name,
		    const char *reason, const char *by)
{
	char base[16];
	const char *p[7];
	PGresult *res;
	long n;

	snprintf(base, sizeof(base), "%d", ctx->cfg.breaker_backoff_s);
	p[0] = name;
	p[1] = action;
	p[2] = reason;
	p[3] = by;
	p[4] = ctx->dry_run ? "t" : "f";
	p[5] = base;
	p[6] = ctx->run_id;
	res = db_query(ctx->db, override_sql, 7, p);
	if (!res)
		return db_failure_rc(ctx->db);
	n = db_long(res, 0, 0);
	if (n != 1) {
		log_error(n ? "breaker name is ambiguous" : "unknown breaker", "name=%s", name);
		PQclear(res);
		return EX_DATAERR;
	}
	log_info(ctx->dry_run ? "would change breaker" : "breaker changed by an operator",
		 "breaker=%s", PQgetvalue(res, 0, 1), "action=%s", action,
		 "was=%s", PQgetvalue(res, 0, 2), "by=%s", by, "reason=%s", reason);
	printf("%s %s\n", tsafe(PQgetvalue(res, 0, 1)), !strcmp(action, "open") ? "forced open" :
	       !strcmp(action, "close") ? "disabled (stays closed)" : "reset");
	PQclear(res);
	return 0;
}

int cmd_circuits(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = {
		{ "hours", required_argument, 0, 'H' },
		{ "reason", required_argument, 0, 'r' },
		{ "by", required_argument, 0, 'b' },
		CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	const char *sub = NULL, *reason = NULL, *by = getenv("USER"), *hours = "24";
	int c, rc;

	if (argc > 1 && argv[1][0] != '-') {
		sub = argv[1];
		argc--;
		argv++;
	}
	while ((c = cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts)) != -1) {
		switch (c) {
		case 'H': {
			int h;
			if (num_parse_int(optarg, 1, 8760, &h) != NUM_OK)
				return cli_usage_error(ctx, "--hours takes 1 to 8760:", optarg);
			hours = optarg;
			break;
		}
		case 'r': reason = optarg; break;
		case 'b': by = optarg; break;
		}
	}
	if (ctx->exit_now >= 0)
		return ctx->exit_now;
	if (sub && strcmp(sub, "open") && strcmp(sub, "close") && strcmp(sub, "reset"))
		return cli_usage_error(ctx, "unknown subcommand", sub);
	if (sub && optind != argc - 1)
		return cli_usage_error(ctx, "give exactly one breaker NAME", NULL);
	if (!sub && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if (sub && (!reason || !*reason))
		return cli_usage_error(ctx, "a manual change needs --reason", NULL);
	if (sub && (rc = cli_check_text(ctx, "NAME", argv[optind])) >= 0)
		return rc;
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	if (!sub)
		return show(ctx, hours);
	return override(ctx, sub, argv[optind], reason, by && *by ? by : "operator");
}
