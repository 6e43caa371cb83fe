/* chipctl chips: the pool at a glance (T10.2, T05.4). */
#include "builtin.h"
#include "db.h"
#include "lifecycle.h"
#include "log.h"

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
	"(pool_alerts: time, severity, type, text, the counts behind it). --json\n"
	"adds connected, msgs_enviadas_total and msgs_recebidas_total.\n"
	"\n"
	"  --status STATUS  only chips in this status\n"
	"  --json           an array of objects on stdout instead\n"
	"\n"
	"Exit: 0 done, 64 usage (also an unknown status), 75 database\n"
	"unreachable, 78 configuration error or refused credentials, 70 internal\n"
	"error.\n";

static const char list_sql[] =
	"SELECT c.id, c.instance_name, c.telefone, c.status, c.trust_score,"
	"  c.trust_level, c.provider, c.evolution_connected,"
	"  (extract(epoch FROM now() - c.desconectado_desde) / 60)::bigint,"
	"  coalesce(b.state, 'closed'), b.override,"
	"  greatest(0, ceil(extract(epoch FROM greatest(c.cooldown_until,"
	"    c.connection_cooldown_until) - now()) / 60))::bigint,"
	"  c.cooldown_reason, c.recovery_phase,"
	"  (SELECT count(*) FROM fila_mensagens f WHERE f.chip_id = c.id"
	"     AND f.enviada_em > now() - interval '24 hours'),"
	"  c.erros_ultimas_24h, c.pode_prospectar, c.pode_followup, c.pode_responder,"
	"  c.limite_hora, c.limite_dia,"
	"  chipctl_chip_connected(c.provider, c.evolution_connected, c.zapi_connected),"
	"  c.msgs_enviadas_total, c.msgs_recebidas_total"
	" FROM chips c LEFT JOIN circuit_breakers b ON b.name = 'chip:' || c.id"
	" WHERE $1::text IS NULL OR c.status = $1"
	" ORDER BY array_position(ARRAY['active','ready','warming','pending',"
	"   'provisioned','degraded','banned'], c.status), c.trust_score DESC,"
	"   c.instance_name";

enum { C_ID, C_NAME, C_PHONE, C_STATUS, C_TRUST, C_LEVEL, C_PROVIDER, C_CONN,
       C_DOWN_MIN, C_BREAKER, C_OVERRIDE, C_COOL_MIN, C_COOL_REASON, C_PHASE,
       C_SENT, C_ERRORS, C_PROSP, C_FOLLOW, C_RESP, C_LHORA, C_LDIA, C_CONNECTED,
       C_SENT_TOTAL, C_RECV_TOTAL };

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
		json_object_object_add(o, "id", jstr(db_val(res, i, C_ID)));
		json_object_object_add(o, "instance_name", jstr(db_val(res, i, C_NAME)));
		json_object_object_add(o, "telefone", jstr(db_val(res, i, C_PHONE)));
		json_object_object_add(o, "status", jstr(db_val(res, i, C_STATUS)));
		json_object_object_add(o, "trust_score",
				       json_object_new_double(atof(PQgetvalue(res, i, C_TRUST))));
		json_object_object_add(o, "trust_level", jstr(db_val(res, i, C_LEVEL)));
		json_object_object_add(o, "provider", jstr(db_val(res, i, C_PROVIDER)));
		json_object_object_add(o, "connected", jbool(res, i, C_CONNECTED));
		json_object_object_add(o, "evolution_connected", jbool(res, i, C_CONN));
		json_object_object_add(o, "disconnected_min", jlong(res, i, C_DOWN_MIN));
		json_object_object_add(o, "breaker", jstr(db_val(res, i, C_BREAKER)));
		json_object_object_add(o, "breaker_override", jstr(db_val(res, i, C_OVERRIDE)));
		json_object_object_add(o, "cooldown_min", jlong(res, i, C_COOL_MIN));
		json_object_object_add(o, "cooldown_reason", jstr(db_val(res, i, C_COOL_REASON)));
		json_object_object_add(o, "recovery_phase", jlong(res, i, C_PHASE));
		json_object_object_add(o, "sent_24h", jlong(res, i, C_SENT));
		json_object_object_add(o, "errors_24h", jlong(res, i, C_ERRORS));
		json_object_object_add(o, "pode_prospectar", jbool(res, i, C_PROSP));
		json_object_object_add(o, "pode_followup", jbool(res, i, C_FOLLOW));
		json_object_object_add(o, "pode_responder", jbool(res, i, C_RESP));
		json_object_object_add(o, "limite_hora", jlong(res, i, C_LHORA));
		json_object_object_add(o, "limite_dia", jlong(res, i, C_LDIA));
		json_object_object_add(o, "msgs_enviadas_total", jlong(res, i, C_SENT_TOTAL));
		json_object_object_add(o, "msgs_recebidas_total", jlong(res, i, C_RECV_TOTAL));
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
		const char *prov;

		snprintf(trust, sizeof(trust), "%.0f %s", atof(PQgetvalue(res, i, C_TRUST)),
			 PQgetvalue(res, i, C_LEVEL));
		/* connected by the chip's own provider; Z-API chips say so */
		prov = strcmp(PQgetvalue(res, i, C_PROVIDER), "evolution") ? "zapi " : "";
		if (!strcmp(PQgetvalue(res, i, C_CONNECTED), "t"))
			snprintf(conn, sizeof(conn), "%sconnected", prov);
		else if (db_val(res, i, C_DOWN_MIN))
			snprintf(conn, sizeof(conn), "%sdown %ldm", prov,
				 db_long(res, i, C_DOWN_MIN));
		else
			snprintf(conn, sizeof(conn), "%sdisconnected", prov);
		snprintf(brk, sizeof(brk), "%s%s%s", PQgetvalue(res, i, C_BREAKER),
			 db_val(res, i, C_OVERRIDE) ? "/" : "",
			 db_val(res, i, C_OVERRIDE) ? PQgetvalue(res, i, C_OVERRIDE) : "");
		if (db_long(res, i, C_COOL_MIN) > 0)
			snprintf(cool, sizeof(cool), "%ldm", db_long(res, i, C_COOL_MIN));
		else
			snprintf(cool, sizeof(cool), "-");
		snprintf(phase, sizeof(phase), "%s", db_val(res, i, C_PHASE) ?
			 PQgetvalue(res, i, C_PHASE) : "-");
		printf("%-22s %-14s %-11s %-14s %-16s %-16s %-9s %-5s %7ld %6ld\n",
		       PQgetvalue(res, i, C_NAME), PQgetvalue(res, i, C_PHONE),
		       PQgetvalue(res, i, C_STATUS), trust, conn, brk, cool, phase,
		       db_long(res, i, C_SENT), db_long(res, i, C_ERRORS));
		for (k = 0; k < 7; k++)
			if (!strcmp(PQgetvalue(res, i, C_STATUS), st[k]))
				by[k]++;
	}
	printf("%d chips:", PQntuples(res));
	for (k = 0; k < 7; k++)
		printf(" %s %ld%s", st[k], by[k], k < 6 ? "," : "\n");
}

static void print_pool_alerts(const PGresult *res)
{
	int i;

	printf("pool alerts in the last 24 h:%s\n", PQntuples(res) ? "" : " none");
	for (i = 0; i < PQntuples(res); i++)
		printf("  %s  %-8s %-24s %s  %s\n", PQgetvalue(res, i, 0),
		       PQgetvalue(res, i, 2), PQgetvalue(res, i, 1), PQgetvalue(res, i, 3),
		       PQgetvalue(res, i, 4));
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
	if (!(res = db_query(ctx->db, list_sql, 1, params)))
		return db_failure_rc(ctx->db);
	if (ctx->json) {
		print_json(res);
		PQclear(res);
		return 0;
	}
	print_table(res);
	PQclear(res);
	if (!(res = db_query(ctx->db, pool_alerts_sql, 0, NULL)))
		return db_failure_rc(ctx->db);
	print_pool_alerts(res);
	PQclear(res);
	return 0;
}
