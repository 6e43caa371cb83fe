/* chipctl chips: the pool at a glance (T10.2, T05.4). */
#include "builtin.h"
#include "db.h"
#include "lifecycle.h"
#include "log.h"
#include "termsafe.h"
#include "pool.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_chips[] =
	"usage: chipctl chips [--status STATUS] [--json]\n"
	"\n"
	"One line per chip, production first (active, ready, warming, pending,\n"
	"provisioned, degraded, banned), best trust first: instance name, phone,\n"
	"status, trust score and level, connection to its own provider (Evolution,\n"
	"or Z-API for a Z-API chip; for how long it has been down), circuit\n"
	"breaker state (and an operator override), cooldown left, recovery phase,\n"
	"messages sent and errors in the last 24 h. A summary line counts the\n"
	"chips by status; then the pool alerts pool-check raised in the last 24 h\n"
	"(pool_alerts: time, severity, type, text, the counts behind it). Below\n"
	"the table, each chip's last failed send in the last 24 h: whose fault it\n"
	"was blamed on (chip, provider, configuration, message or recipient; only\n"
	"the chip's counts against it), why, and the provider's words. --json adds\n"
	"connected, msgs_enviadas_total, msgs_recebidas_total and last_fault,\n"
	"last_fault_why, last_fault_error, last_fault_min.\n"
	"\n"
	"  --status STATUS  only chips in this status\n"
	"  --json           an array of objects on stdout instead\n"
	"\n"
	"Exit: 0 done, 64 usage (also an unknown status), 75 database\n"
	"unreachable, 78 configuration error or refused credentials, 70 internal\n"
	"error.\n";

/* The pool alerts pool-check raised in the last 24 h, with the counts. */
static const char pool_alerts_sql[] =
	"SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI\"Z\"'), tipo,"
	"  severidade, mensagem, counts::text"
	" FROM pool_alerts WHERE created_at > now() - interval '24 hours'"
	" ORDER BY id DESC LIMIT 10";

static json_object *jstr(const char *v)
{
	return v ? json_object_new_string(v) : NULL;
}

static json_object *jlong(const PGresult *res, int r, int c)
{
	return db_val(res, r, c) ? json_object_new_int64(db_long(res, r, c)) : NULL;
}

static json_object *jbool(const PGresult *res, int r, int c)
{
	return json_object_new_boolean(!strcmp(PQgetvalue(res, r, c), "t"));
}

static void print_json(const PGresult *res)
{
	json_object *arr = json_object_new_array();
	int i;

	for (i = 0; i < PQntuples(res); i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "id", jstr(db_val(res, i, POOL_ID)));
		json_object_object_add(o, "instance_name", jstr(db_val(res, i, POOL_NAME)));
		json_object_object_add(o, "telefone", jstr(db_val(res, i, POOL_PHONE)));
		json_object_object_add(o, "status", jstr(db_val(res, i, POOL_STATUS)));
		json_object_object_add(o, "trust_score",
				       json_object_new_double(atof(PQgetvalue(res, i, POOL_TRUST))));
		json_object_object_add(o, "trust_level", jstr(db_val(res, i, POOL_LEVEL)));
		json_object_object_add(o, "provider", jstr(db_val(res, i, POOL_PROVIDER)));
		json_object_object_add(o, "connected", jbool(res, i, POOL_CONN));
		json_object_object_add(o, "evolution_connected", jbool(res, i, POOL_EVO_CONN));
		json_object_object_add(o, "disconnected_min", jlong(res, i, POOL_DOWN_MIN));
		json_object_object_add(o, "breaker", jstr(db_val(res, i, POOL_BREAKER)));
		json_object_object_add(o, "breaker_override", jstr(db_val(res, i, POOL_OVERRIDE)));
		json_object_object_add(o, "cooldown_min", jlong(res, i, POOL_COOL_MIN));
		json_object_object_add(o, "cooldown_reason", jstr(db_val(res, i, POOL_COOL_REASON)));
		json_object_object_add(o, "recovery_phase", jlong(res, i, POOL_PHASE));
		json_object_object_add(o, "sent_24h", jlong(res, i, POOL_SENT));
		json_object_object_add(o, "errors_24h", jlong(res, i, POOL_ERRORS));
		json_object_object_add(o, "pode_prospectar", jbool(res, i, POOL_PROSP));
		json_object_object_add(o, "pode_followup", jbool(res, i, POOL_FOLLOW));
		json_object_object_add(o, "pode_responder", jbool(res, i, POOL_RESP));
		json_object_object_add(o, "limite_hora", jlong(res, i, POOL_LHORA));
		json_object_object_add(o, "limite_dia", jlong(res, i, POOL_LDIA));
		json_object_object_add(o, "msgs_enviadas_total", jlong(res, i, POOL_SENT_TOTAL));
		json_object_object_add(o, "msgs_recebidas_total", jlong(res, i, POOL_RECV_TOTAL));
		json_object_object_add(o, "last_fault", jstr(db_val(res, i, POOL_LAST_FAULT)));
		json_object_object_add(o, "last_fault_why", jstr(db_val(res, i, POOL_LAST_WHY)));
		json_object_object_add(o, "last_fault_error", jstr(db_val(res, i, POOL_LAST_ERROR)));
		json_object_object_add(o, "last_fault_min", jlong(res, i, POOL_LAST_AGE_MIN));
		json_object_object_add(o, "next_send_in_s", jlong(res, i, POOL_NEXT_S));
		json_object_object_add(o, "held_by", jstr(db_val(res, i, POOL_HELD_BY)));
		json_object_array_add(arr, o);
	}
	puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
	json_object_put(arr);
}

static void print_table(const PGresult *res)
{
	long by[7] = { 0 };
	static const char *const st[] = { "active", "ready", "warming", "pending",
		"provisioned", "degraded", "banned" };
	int i, k;

	printf("%-22s %-14s %-11s %-14s %-16s %-16s %-9s %-5s %7s %6s\n",
	       "INSTANCE", "PHONE", "STATUS", "TRUST", "CONNECTION", "BREAKER",
	       "COOLDOWN", "RECOV", "SENT24H", "ERR24H");
	for (i = 0; i < PQntuples(res); i++) {
		char trust[32], conn[32], brk[48], cool[24], phase[8];

		snprintf(trust, sizeof(trust), "%.0f %s", atof(PQgetvalue(res, i, POOL_TRUST)),
			 PQgetvalue(res, i, POOL_LEVEL));
		pool_connection_text(res, i, conn, sizeof(conn));
		pool_breaker_text(res, i, brk, sizeof(brk));
		if (db_long(res, i, POOL_COOL_MIN) > 0)
			snprintf(cool, sizeof(cool), "%ldm", db_long(res, i, POOL_COOL_MIN));
		else
			snprintf(cool, sizeof(cool), "-");
		snprintf(phase, sizeof(phase), "%s", db_val(res, i, POOL_PHASE) ?
			 PQgetvalue(res, i, POOL_PHASE) : "-");
		printf("%-22s %-14s %-11s %-14s %-16s %-16s %-9s %-5s %7ld %6ld\n",
		       tsafe(PQgetvalue(res, i, POOL_NAME)), tsafe(PQgetvalue(res, i, POOL_PHONE)),
		       tsafe(PQgetvalue(res, i, POOL_STATUS)), tsafe(trust), tsafe(conn),
		       tsafe(brk), cool, tsafe(phase),
		       db_long(res, i, POOL_SENT), db_long(res, i, POOL_ERRORS));
		for (k = 0; k < 7; k++)
			if (!strcmp(PQgetvalue(res, i, POOL_STATUS), st[k]))
				by[k]++;
	}
	printf("%d chips:", PQntuples(res));
	for (k = 0; k < 7; k++)
		printf(" %s %ld%s", st[k], by[k], k < 6 ? "," : "\n");
}

/* The last failed send through each chip in the last 24 h: whose fault it
 * was blamed on, and why (only the chip's counts against it). */
static void print_last_faults(const PGresult *res)
{
	int i, n = 0;

	for (i = 0; i < PQntuples(res); i++) {
		if (!db_val(res, i, POOL_LAST_FAULT) || db_long(res, i, POOL_LAST_AGE_MIN) >= 1440)
			continue;
		if (!n++)
			printf("last failed send in the last 24 h, and whose fault:\n");
		printf("  %-22s %ldm ago  %s: %s (%s)\n", PQgetvalue(res, i, POOL_NAME),
		       db_long(res, i, POOL_LAST_AGE_MIN), PQgetvalue(res, i, POOL_LAST_FAULT),
		       PQgetvalue(res, i, POOL_LAST_WHY), PQgetvalue(res, i, POOL_LAST_ERROR));
	}
}

/* Chips paced (their gap since the last send still runs) or held by a
 * worker's batch (its one send in flight): when each may send next. */
static void print_next_sends(const PGresult *res)
{
	int i, n = 0;

	for (i = 0; i < PQntuples(res); i++) {
		if (!db_val(res, i, POOL_NEXT_S) && !db_val(res, i, POOL_HELD_BY))
			continue;
		if (!n++)
			printf("next send (pacing, one send in flight per chip):\n");
		if (db_val(res, i, POOL_NEXT_S))
			printf("  %-22s in %lds", PQgetvalue(res, i, POOL_NAME),
			       db_long(res, i, POOL_NEXT_S));
		else
			printf("  %-22s now", PQgetvalue(res, i, POOL_NAME));
		if (db_val(res, i, POOL_HELD_BY))
			printf(", held by worker %s", PQgetvalue(res, i, POOL_HELD_BY));
		printf("\n");
	}
}

static void print_pool_alerts(const PGresult *res)
{
	int i;

	printf("pool alerts in the last 24 h:%s\n", PQntuples(res) ? "" : " none");
	for (i = 0; i < PQntuples(res); i++)
		printf("  %s  %-8s %-24s %s  %s\n", tsafe(PQgetvalue(res, i, 0)),
		       tsafe(PQgetvalue(res, i, 2)), tsafe(PQgetvalue(res, i, 1)),
		       tsafe(PQgetvalue(res, i, 3)), tsafe(PQgetvalue(res, i, 4)));
}

int cmd_chips(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = {
		{ "status", required_argument, 0, 's' }, CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	const char *status = NULL;
	const char *params[1];
	PGresult *res;
	int c, rc;

	while ((c = cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts)) != -1)
		if (c == 's')
			status = optarg;
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if (ctx->exit_now < 0 && status && !lifecycle_valid_status(status))
		return cli_usage_error(ctx, "unknown status", status);
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	params[0] = status;
	if (!(res = db_query(ctx->db, pool_list_sql, 1, params)))
		return db_failure_rc(ctx->db);
	if (ctx->json) {
		print_json(res);
		PQclear(res);
		return 0;
	}
	print_table(res);
	print_last_faults(res);
	print_next_sends(res);
	PQclear(res);
	if (!(res = db_query(ctx->db, pool_alerts_sql, 0, NULL)))
		return db_failure_rc(ctx->db);
	print_pool_alerts(res);
	PQclear(res);
	return 0;
}
