/* chipctl sync-evolution: the connection state of every Evolution chip
 * from the server (T11.2, T03.7, T05.2). */
#include "alert.h"
#include "builtin.h"
#include "db.h"
#include "evolution_admin.h"
#include "job.h"
#include "lifecycle.h"
#include "log.h"
#include "strbuf.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_sync_evolution[] =
	"usage: chipctl sync-evolution [-n|--dry-run] [--json]\n"
	"\n"
	"Ask Evolution for the state of every instance (one fetchInstances call,\n"
	"or with sync.method = \"connection_state\" one connectionState call per\n"
	"chip, sync.parallel at a time) and store it on each chip of provider\n"
	"evolution that has an instance (not provisioned, not banned), matched by\n"
	"instance name: evolution_connected; desconectado_desde, set at the first\n"
	"miss and kept while the chip stays disconnected, cleared on reconnection;\n"
	"owner_jid, profile_name and the number the server reports. An instance\n"
	"missing on the server counts as disconnected. A pending chip whose\n"
	"instance is open (its QR code was scanned) moves to warming. When more\n"
	"than sync.disconnected_alert_pct (30) % of the chips are disconnected, a\n"
	"critical alert is raised (sync.alert_cooldown_s).\n"
	"\n"
	"  -n, --dry-run  ask the server and count; change nothing\n"
	"      --json     print the counts as JSON on stdout\n"
	"\n"
	"Exit: 0 done (also when another run holds the lease), 64 usage, 75\n"
	"Evolution or the database unreachable, the key refused, a timeout or an\n"
	"answer that is not what the API documents, or an empty instance list\n"
	"while there are chips to sync (nothing is changed then),\n"
	"78 configuration error (evolution.url and evolution.api_key are needed),\n"
	"70 internal error.\n";

/*
 * One round trip: the server's view goes in as one JSON parameter, every
 * chip that differs from it is updated, and the counts come back. Rows that
 * already agree are not written (no dead tuples every two minutes).
 */
static const char sync_sql[] =
	"WITH srv AS ("
	"  SELECT DISTINCT ON (n) * FROM jsonb_to_recordset($1::jsonb)"
	"    AS x(n text, s text, o text, p text, u text)"
	"), ch AS ("
	"  SELECT c.id, c.instance_name, c.status, c.evolution_connected AS was,"
	"         s.n IS NOT NULL AS found, coalesce(s.s = 'open', false) AS conn,"
	"         s.o, s.p, s.u"
	"  FROM chips c LEFT JOIN srv s ON s.n = c.instance_name"
	"  WHERE c.provider = 'evolution' AND c.status NOT IN ('provisioned', 'banned')"
	"), upd AS ("
	"  UPDATE chips c SET evolution_connected = ch.conn,"
	"    desconectado_desde = CASE WHEN ch.conn THEN NULL"
	"                         ELSE coalesce(c.desconectado_desde, now()) END,"
	"    owner_jid = coalesce(ch.o, c.owner_jid),"
	"    profile_name = coalesce(ch.p, c.profile_name),"
	"    evolution_number = coalesce(ch.u, c.evolution_number),"
	"    updated_at = now()"
	"  FROM ch WHERE c.id = ch.id AND $2::bool AND ("
	"    c.evolution_connected IS DISTINCT FROM ch.conn"
	"    OR (ch.conn AND c.desconectado_desde IS NOT NULL)"
	"    OR (NOT ch.conn AND c.desconectado_desde IS NULL)"
	"    OR (ch.o IS NOT NULL AND ch.o IS DISTINCT FROM c.owner_jid)"
	"    OR (ch.p IS NOT NULL AND ch.p IS DISTINCT FROM c.profile_name)"
	"    OR (ch.u IS NOT NULL AND ch.u IS DISTINCT FROM c.evolution_number))"
	"  RETURNING c.id"
	")"
	" SELECT count(*),"
	"   count(*) FILTER (WHERE conn),"
	"   count(*) FILTER (WHERE NOT conn),"
	"   count(*) FILTER (WHERE NOT found),"
	"   count(*) FILTER (WHERE was AND NOT conn),"
	"   count(*) FILTER (WHERE NOT was AND conn),"
	"   (SELECT count(*) FROM upd),"
	"   (SELECT count(*) FROM srv WHERE NOT EXISTS"
	"      (SELECT 1 FROM chips c WHERE c.instance_name = srv.n)),"
	"   coalesce(array_to_string((array_agg(instance_name ORDER BY instance_name)"
	"      FILTER (WHERE NOT conn))[1:10], ', '), '')"
	" FROM ch";

/* A pending chip whose instance is open: its QR code was scanned. */
static const char scanned_sql[] =
	"SELECT c.id, 'qr_scanned' FROM chips c"
	" JOIN jsonb_to_recordset($1::jsonb) AS x(n text, s text) ON x.n = c.instance_name"
	" WHERE c.status = 'pending' AND c.provider = 'evolution' AND x.s = 'open'";

static const char names_sql[] =
	"SELECT instance_name FROM chips"
	" WHERE provider = 'evolution' AND status NOT IN ('provisioned', 'banned')"
	" ORDER BY instance_name";

static void add_str(json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

/* The server's view as the JSON parameter of sync_sql. */
static char *server_json(const struct evo_instances *l)
{
	json_object *arr = json_object_new_array();
	char *s;
	size_t i;

	for (i = 0; i < l->n; i++) {
		json_object *o;
		if (!l->v[i].state)	/* 404: missing on the server */
			continue;
		o = json_object_new_object();
		add_str(o, "n", l->v[i].name);
		add_str(o, "s", l->v[i].state);
		add_str(o, "o", l->v[i].owner_jid);
		add_str(o, "p", l->v[i].profile_name);
		add_str(o, "u", l->v[i].number);
		json_object_array_add(arr, o);
	}
	s = xstrdup(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
	json_object_put(arr);
	return s;
}

static int ask_server(struct chipctl_ctx *ctx, struct evo_instances *l,
		      char *err, size_t errsz)
{
	PGresult *res;
	const char **names;
	enum evo_rc rc;
	int i, n;

	if (!strcmp(ctx->cfg.sync_method, "fetch_instances"))
		return evo_fetch_instances(&ctx->cfg, l, err, errsz) == EVO_OK ? 0 : -1;
	if (!(res = db_query(ctx->db, names_sql, 0, NULL)))
		return -2;
	n = PQntuples(res);
	names = xmalloc((size_t)(n ? n : 1) * sizeof(*names));
	for (i = 0; i < n; i++)
		names[i] = PQgetvalue(res, i, 0);
	rc = evo_connection_states(&ctx->cfg, names, (size_t)n,
				   ctx->cfg.sync_parallel, l, err, errsz);
	free(names);
	PQclear(res);
	return rc == EVO_OK ? 0 : -1;
}

static int sync_run(struct chipctl_ctx *ctx)
{
	struct evo_instances l;
	char err[512], text[700], actor[64];
	const char *params[2];
	char *js;
	PGresult *res;
	long total, conn, disc, missing, down, up, changed, unknown;
	int rc;

	rc = ask_server(ctx, &l, err, sizeof(err));
	job_renew_if_due(ctx);	/* the calls may have outlasted part of the lease */
	if (rc == -2)
		return db_failure_rc(ctx->db);
	if (rc) {
		log_error("cannot sync with Evolution, nothing changed", "error=%s", err,
			  "method=%s", ctx->cfg.sync_method);
		job_set_error(ctx, err);
		return EX_TEMPFAIL;
	}
	/* An empty list from fetchInstances while we have chips is far more
	 * likely a server whose DATABASE_CONNECTION_CLIENT_NAME changed than
	 * a fleet deleted at once; believing it would mark every chip
	 * disconnected, and pool-check would demote them all 30 min later. */
	if (l.n == 0 && !strcmp(ctx->cfg.sync_method, "fetch_instances")) {
		if (!(res = db_query(ctx->db, names_sql, 0, NULL)))
			return db_failure_rc(ctx->db);
		rc = PQntuples(res);
		PQclear(res);
		if (rc > 0) {
			log_error("cannot sync with Evolution, nothing changed", "error=%s",
				  "fetchInstances listed no instance at all (check the "
				  "server's DATABASE_CONNECTION_CLIENT_NAME)", "chips=%d", rc);
			job_set_error(ctx, "fetchInstances listed no instance at all");
			evo_instances_free(&l);
			return EX_TEMPFAIL;
		}
	}
	js = server_json(&l);
	params[0] = js;
	params[1] = ctx->dry_run ? "false" : "true";
	if (db_begin(ctx->db)) {
		free(js);
		evo_instances_free(&l);
		return db_failure_rc(ctx->db);
	}
	res = db_query(ctx->db, sync_sql, 2, params);
	if (res) {
		PGresult *moved;
		lifecycle_job_actor(ctx, actor, sizeof(actor));
		moved = lifecycle_move(ctx, scanned_sql, 1, params, "warming", actor);
		if (moved) {
			job_count(ctx, "qr_scanned", PQntuples(moved));
			PQclear(moved);
		} else {
			PQclear(res);
			res = NULL;
		}
	}
	free(js);
	evo_instances_free(&l);
	if (!res || db_commit(ctx->db)) {
		PQclear(res);
		db_rollback(ctx->db);
		return db_failure_rc(ctx->db);
	}
	total = db_long(res, 0, 0);
	conn = db_long(res, 0, 1);
	disc = db_long(res, 0, 2);
	missing = db_long(res, 0, 3);
	down = db_long(res, 0, 4);
	up = db_long(res, 0, 5);
	changed = db_long(res, 0, 6);
	unknown = db_long(res, 0, 7);
	log_info(ctx->dry_run ? "would sync Evolution state" : "synced Evolution state",
		 "chips=%ld", total, "connected=%ld", conn, "disconnected=%ld", disc,
		 "missing=%ld", missing, "newly_disconnected=%ld", down,
		 "reconnected=%ld", up, "changed=%ld", changed,
		 "unknown_instances=%ld", unknown);
	job_count(ctx, "chips", total);
	job_count(ctx, "connected", conn);
	job_count(ctx, "disconnected", disc);
	job_count(ctx, "missing", missing);
	job_count(ctx, "changed", changed);
	if (total > 0 && disc * 100 > (long)ctx->cfg.sync_disconnected_alert_pct * total) {
		snprintf(text, sizeof(text), "%ld/%ld Evolution instances disconnected "
			 "(%ld missing on the server): %s%s", disc, total, missing,
			 PQgetvalue(res, 0, 8), disc > 10 ? ", ..." : "");
		if (alert_raise(ctx, "evolution_disconnected", NULL, ALERT_CRITICAL,
				ctx->cfg.sync_alert_cooldown_s, text) < 0) {
			PQclear(res);
			return db_failure_rc(ctx->db);
		}
	} else if (!ctx->dry_run) {
		alert_resolve(ctx, "evolution_disconnected", NULL,
			      "Evolution instances are connected again");
	}
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "dry_run", json_object_new_boolean(ctx->dry_run));
		json_object_object_add(o, "chips", json_object_new_int64(total));
		json_object_object_add(o, "connected", json_object_new_int64(conn));
		json_object_object_add(o, "disconnected", json_object_new_int64(disc));
		json_object_object_add(o, "missing", json_object_new_int64(missing));
		json_object_object_add(o, "newly_disconnected", json_object_new_int64(down));
		json_object_object_add(o, "reconnected", json_object_new_int64(up));
		json_object_object_add(o, "changed", json_object_new_int64(changed));
		json_object_object_add(o, "unknown_instances", json_object_new_int64(unknown));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	}
	PQclear(res);
	return 0;
}

int cmd_sync_evolution(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = { CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	int rc;

	while (cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts) != -1)
		;
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	if (!ctx->cfg.evolution_url || !*ctx->cfg.evolution_url ||
	    !ctx->cfg.evolution_api_key || !*ctx->cfg.evolution_api_key) {
		log_error("evolution.url and evolution.api_key must be set "
			  "(EVOLUTION_API_URL, EVOLUTION_API_KEY)");
		job_set_error(ctx, "Evolution is not configured");
		return EX_CONFIG;
	}
	return sync_run(ctx);
}
