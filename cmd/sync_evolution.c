/* chipctl sync-evolution: the connection state of every chip from its
 * provider: Evolution's instances, and Z-API's status of each Z-API chip
 * (T11.2, T03.7, T05.2). */
#include "alert.h"
#include "builtin.h"
#include "db.h"
#include "evolution_admin.h"
#include "job.h"
#include "lifecycle.h"
#include "log.h"
#include "strbuf.h"
#include "http.h"
#include "zapi.h"

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
	"Then each chip of provider zapi (not provisioned, not banned) is asked\n"
	"for its GET /instances/ID/token/TOKEN/status (zapi.url, Client-Token\n"
	"zapi.client_token): zapi_connected from \"connected\", and\n"
	"desconectado_desde as above. A Z-API chip without an instance id and\n"
	"token, or whose instance Z-API does not know, counts as disconnected; one\n"
	"whose status could not be read is left as it was.\n"
	"\n"
	"  -n, --dry-run  ask the server and count; change nothing\n"
	"      --json     print the counts as JSON on stdout\n"
	"\n"
	"Exit: 0 done (also when another run holds the lease), 64 usage, 75\n"
	"Evolution or the database unreachable, the key refused, a timeout or an\n"
	"answer that is not what the API documents, or an empty instance list\n"
	"while there are chips to sync (nothing is changed then), or a Z-API\n"
	"status that could not be read (the other chips are synced),\n"
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

static int sync_run(struct chipctl_ctx *ctx, json_object *o)
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
	json_object_object_add(o, "chips", json_object_new_int64(total));
	json_object_object_add(o, "connected", json_object_new_int64(conn));
	json_object_object_add(o, "disconnected", json_object_new_int64(disc));
	json_object_object_add(o, "missing", json_object_new_int64(missing));
	json_object_object_add(o, "newly_disconnected", json_object_new_int64(down));
	json_object_object_add(o, "reconnected", json_object_new_int64(up));
	json_object_object_add(o, "changed", json_object_new_int64(changed));
	json_object_object_add(o, "unknown_instances", json_object_new_int64(unknown));
	PQclear(res);
	return 0;
}

/* ---- Z-API ---- */

static const char zapi_chips_sql[] =
	"SELECT id, instance_name, zapi_instance_id, zapi_token FROM chips"
	" WHERE provider = 'zapi' AND status NOT IN ('provisioned', 'banned')"
	" ORDER BY instance_name";

/* The statuses read, one JSON parameter; only rows that change are written. */
static const char zapi_sync_sql[] =
	"WITH z AS ("
	"  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, c boolean)"
	"), upd AS ("
	"  UPDATE chips ch SET zapi_connected = z.c,"
	"    desconectado_desde = CASE WHEN z.c THEN NULL"
	"                         ELSE coalesce(ch.desconectado_desde, now()) END,"
	"    updated_at = now()"
	"  FROM z WHERE ch.id = z.id AND $2::bool AND ("
	"    ch.zapi_connected IS DISTINCT FROM z.c"
	"    OR (z.c AND ch.desconectado_desde IS NOT NULL)"
	"    OR (NOT z.c AND ch.desconectado_desde IS NULL))"
	"  RETURNING ch.id"
	")"
	" SELECT count(*) FILTER (WHERE z.c), count(*) FILTER (WHERE NOT z.c),"
	"   count(*) FILTER (WHERE ch.zapi_connected AND NOT z.c),"
	"   count(*) FILTER (WHERE NOT ch.zapi_connected AND z.c),"
	"   (SELECT count(*) FROM upd)"
	" FROM z JOIN chips ch ON ch.id = z.id";

struct zapi_counts {
	long chips, connected, disconnected, missing, failed, down, up, changed;
};

static void zapi_add(json_object *arr, const char *id, int connected)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "c", json_object_new_boolean(connected));
	json_object_array_add(arr, o);
}

/* Read every Z-API chip's status; store what was read. Returns 0, or an
 * exit code (75 when some status could not be read). */
static int sync_zapi(struct chipctl_ctx *ctx, struct zapi_counts *z)
{
	struct http_client *http;
	json_object *arr;
	const char *params[2];
	PGresult *res;
	char err[512] = "";
	int i, rc = 0;

	memset(z, 0, sizeof(*z));
	if (!(res = db_query(ctx->db, zapi_chips_sql, 0, NULL)))
		return db_failure_rc(ctx->db);
	z->chips = PQntuples(res);
	if (!z->chips) {
		PQclear(res);
		return 0;
	}
	http = http_client_new(ctx->cfg.evolution_connect_timeout_ms, ctx->cfg.zapi_timeout_ms,
			       (size_t)ctx->cfg.http_max_response_bytes);
	arr = json_object_new_array();
	for (i = 0; i < z->chips; i++) {
		const char *id = PQgetvalue(res, i, 0), *name = PQgetvalue(res, i, 1);
		int connected = 0;
		enum zapi_rc zr = ZAPI_MISSING;

		if (!*PQgetvalue(res, i, 2) || !*PQgetvalue(res, i, 3)) {
			log_warn("Z-API chip without an instance id and token: disconnected",
				 "chip=%s", name);
		} else if (!http) {
			zr = ZAPI_TEMP;
			snprintf(err, sizeof(err), "cannot create an HTTP client");
		} else {
			zr = zapi_status(http, &ctx->cfg, PQgetvalue(res, i, 2),
					 PQgetvalue(res, i, 3), &connected, err, sizeof(err));
		}
		if (zr == ZAPI_OK || zr == ZAPI_MISSING) {
			z->missing += zr == ZAPI_MISSING;
			zapi_add(arr, id, connected);
			continue;
		}
		z->failed++;
		log_error("cannot read the Z-API status; the chip is left as it was",
			  "chip=%s", name, "error=%s", err, "kind=%s", zapi_rc_name(zr));
		if (zr == ZAPI_AUTH) {	/* the account's token: every chip would fail */
			z->failed += z->chips - i - 1;
			break;
		}
	}
	http_client_free(http);
	PQclear(res);
	params[0] = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN);
	params[1] = ctx->dry_run ? "false" : "true";
	res = db_query(ctx->db, zapi_sync_sql, 2, params);
	json_object_put(arr);
	if (!res)
		return db_failure_rc(ctx->db);
	z->connected = db_long(res, 0, 0);
	z->disconnected = db_long(res, 0, 1);
	z->down = db_long(res, 0, 2);
	z->up = db_long(res, 0, 3);
	z->changed = db_long(res, 0, 4);
	PQclear(res);
	log_info(ctx->dry_run ? "would sync Z-API state" : "synced Z-API state",
		 "chips=%ld", z->chips, "connected=%ld", z->connected,
		 "disconnected=%ld", z->disconnected, "missing=%ld", z->missing,
		 "failed=%ld", z->failed, "newly_disconnected=%ld", z->down,
		 "reconnected=%ld", z->up, "changed=%ld", z->changed);
	job_count(ctx, "zapi_chips", z->chips);
	job_count(ctx, "zapi_disconnected", z->disconnected);
	if (z->failed) {
		job_set_error(ctx, err);
		rc = EX_TEMPFAIL;
	}
	return rc;
}

int cmd_sync_evolution(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = { CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	struct zapi_counts z;
	json_object *o;
	int rc, zrc;

	while (cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts) != -1)
		;
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	o = json_object_new_object();
	json_object_object_add(o, "dry_run", json_object_new_boolean(ctx->dry_run));
	if (!ctx->cfg.evolution_url || !*ctx->cfg.evolution_url ||
	    !ctx->cfg.evolution_api_key || !*ctx->cfg.evolution_api_key) {
		log_error("evolution.url and evolution.api_key must be set "
			  "(EVOLUTION_API_URL, EVOLUTION_API_KEY)");
		job_set_error(ctx, "Evolution is not configured");
		rc = EX_CONFIG;
	} else {
		rc = sync_run(ctx, o);
	}
	/* Z-API's chips are synced whatever happened to Evolution's. */
	zrc = sync_zapi(ctx, &z);
	if (ctx->json && !rc) {
		json_object *zo = json_object_new_object();
		json_object_object_add(zo, "chips", json_object_new_int64(z.chips));
		json_object_object_add(zo, "connected", json_object_new_int64(z.connected));
		json_object_object_add(zo, "disconnected", json_object_new_int64(z.disconnected));
		json_object_object_add(zo, "missing", json_object_new_int64(z.missing));
		json_object_object_add(zo, "failed", json_object_new_int64(z.failed));
		json_object_object_add(zo, "changed", json_object_new_int64(z.changed));
		json_object_object_add(o, "zapi", zo);
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	}
	json_object_put(o);
	return rc ? rc : zrc;
}
