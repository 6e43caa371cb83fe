#include "salvy.h"
#include "config.h"
#include "ctx.h"
#include "db.h"
#include "evolution_admin.h"
#include "http.h"
#include "lifecycle.h"
#include "log.h"
#include "strbuf.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int salvy_configured(const struct config *cfg)
{
	return cfg->salvy_api_key && *cfg->salvy_api_key && cfg->salvy_url &&
	       *cfg->salvy_url;
}

static int evolution_configured(const struct config *cfg)
{
	return cfg->evolution_url && *cfg->evolution_url &&
	       cfg->evolution_api_key && *cfg->evolution_api_key;
}

/* One Salvy request; the parsed JSON object of a 2xx goes to *out. */
static enum salvy_rc call(const struct config *cfg, const char *method,
			  const char *path, struct json_object *body,
			  struct json_object **out, char *err, size_t errsz)
{
	struct http_client *c = http_client_new(cfg->evolution_connect_timeout_ms,
						cfg->salvy_timeout_ms,
						(size_t)cfg->http_max_response_bytes);
	struct http_response resp;
	struct strbuf url = STRBUF_INIT, auth = STRBUF_INIT;
	const char *headers[3];
	struct json_object *root = NULL, *v;
	enum salvy_rc rc;

	if (out)
		*out = NULL;
	if (!c) {
		snprintf(err, errsz, "cannot create an HTTP client");
		return SALVY_TEMP;
	}
	sb_addf(&url, "%s%s", cfg->salvy_url, path);
	sb_addf(&auth, "Authorization: Bearer %s", cfg->salvy_api_key);
	headers[0] = sb_str(&auth);
	headers[1] = "Content-Type: application/json";
	headers[2] = NULL;
	http_request(c, method, sb_str(&url), headers,
		     body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN)
			  : NULL, &resp);
	root = json_tokener_parse(resp.body);
	if (resp.cls == HTTP_OK) {
		rc = SALVY_OK;
		if (!root || !json_object_is_type(root, json_type_object)) {
			snprintf(err, errsz, "Salvy %s %s: answer is not a JSON object",
				 method, path);
			rc = SALVY_TEMP;
		}
	} else {
		const char *code = "", *msg = "";
		if (root && json_object_is_type(root, json_type_object)) {
			if (json_object_object_get_ex(root, "code", &v) &&
			    json_object_is_type(v, json_type_string))
				code = json_object_get_string(v);
			if (json_object_object_get_ex(root, "message", &v) &&
			    json_object_is_type(v, json_type_string))
				msg = json_object_get_string(v);
		}
		if (resp.status)
			snprintf(err, errsz, "Salvy %s: HTTP %ld%s%s%s%s", method,
				 resp.status, *code ? " " : "", code, *msg ? ": " : "", msg);
		else
			snprintf(err, errsz, "Salvy %s: %s", method, resp.error);
		rc = resp.status == 401 ? SALVY_AUTH :
		     resp.cls == HTTP_4XX ? SALVY_REJECTED : SALVY_TEMP;
	}
	if (rc == SALVY_OK && out) {
		*out = root;
		root = NULL;
	}
	json_object_put(root);
	http_response_free(&resp);
	http_client_free(c);
	sb_free(&url);
	sb_free(&auth);
	return rc;
}

enum salvy_rc salvy_create_number(const struct config *cfg, int area_code,
				  const char *name, struct salvy_account *out,
				  char *err, size_t errsz)
{
	struct json_object *body = json_object_new_object(), *root, *v;
	enum salvy_rc rc;
	const char *p;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	json_object_object_add(body, "areaCode", json_object_new_int(area_code));
	json_object_object_add(body, "name", json_object_new_string(name));
	rc = call(cfg, "POST", "/api/v2/virtual-phone-accounts", body, &root, err, errsz);
	json_object_put(body);
	if (rc != SALVY_OK)
		return rc;
	if (json_object_object_get_ex(root, "id", &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(out->id, sizeof(out->id), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(root, "phoneNumber", &v) &&
	    json_object_is_type(v, json_type_string))
		for (p = json_object_get_string(v); *p && n + 1 < sizeof(out->phone); p++)
			if (*p >= '0' && *p <= '9')
				out->phone[n++] = *p;
	out->phone[n] = '\0';
	json_object_put(root);
	if (!out->id[0] || n < 10) {
		snprintf(err, errsz, "Salvy POST: answer without an id or a phone number");
		return SALVY_TEMP;
	}
	return SALVY_OK;
}

enum salvy_rc salvy_cancel_number(const struct config *cfg, const char *id,
				  const char *reason, char *err, size_t errsz)
{
	struct json_object *body = json_object_new_object();
	struct strbuf path = STRBUF_INIT;
	char *esc = http_path_escape(id);
	enum salvy_rc rc;

	json_object_object_add(body, "reason", json_object_new_string(reason));
	sb_addf(&path, "/api/v2/virtual-phone-accounts/%s", esc);
	rc = call(cfg, "DELETE", sb_str(&path), body, NULL, err, errsz);
	json_object_put(body);
	sb_free(&path);
	free(esc);
	return rc;
}

static const char used_today_sql[] =
	"SELECT count(*) FROM chips WHERE salvy_account_id IS NOT NULL"
	" AND provisioned_at > now() - interval '1 day'";

static const char request_sql[] =
	"INSERT INTO provisioning_requests (requested, provisioned, area_code, status,"
	"  reason, actor, error, run_id)"
	" VALUES ($1::int, $2::int, $3::int, $4, $5, $6, nullif($7, ''), $8::uuid)";

/* Create the instance of one provisioned chip and move it to pending. */
static int create_instance(struct chipctl_ctx *ctx, const char *id,
			   const char *name, const char *phone, const char *actor)
{
	char err[512];
	enum evo_rc rc = evo_create_instance(&ctx->cfg, name, phone, err, sizeof(err));

	if (rc != EVO_OK && rc != EVO_EXISTS) {
		log_warn("cannot create the Evolution instance; the chip stays "
			 "provisioned and pool-check retries", "chip=%s", name,
			 "error=%s", err);
		return 0;
	}
	return lifecycle_set_status(ctx, id, "pending",
				    rc == EVO_EXISTS ? "instance_exists" : "instance_created",
				    actor);
}

int salvy_provision(struct chipctl_ctx *ctx, int area_code, int count,
		    const char *reason, const char *actor,
		    struct provision_result *res)
{
	PGresult *r;
	char sreq[16], sprov[16], sarea[16], name[96], chip_id[37], inst[64];
	const char *status, *params[8];
	int i, used;

	memset(res, 0, sizeof(*res));
	res->requested = count;
	if (!(r = db_query(ctx->db, used_today_sql, 0, NULL)))
		return -1;
	used = (int)db_long(r, 0, 0);
	PQclear(r);
	res->allowed = ctx->cfg.salvy_max_per_day - used;
	if (res->allowed < 0)
		res->allowed = 0;
	if (res->allowed > count)
		res->allowed = count;
	if (res->allowed < count)
		snprintf(res->error, sizeof(res->error),
			 "daily bound: %d of salvy.max_per_day %d used in the last 24 h",
			 used, ctx->cfg.salvy_max_per_day);
	if (ctx->dry_run) {
		log_info("would provision numbers", "requested=%d", count,
			 "allowed=%d", res->allowed, "area_code=%d", area_code);
		return 0;
	}
	for (i = 0; i < res->allowed; i++) {
		struct salvy_account acc;
		enum salvy_rc src;

		snprintf(name, sizeof(name), "chipctl %.8s #%d", ctx->run_id, i + 1);
		src = salvy_create_number(&ctx->cfg, area_code, name, &acc,
					  res->error, sizeof(res->error));
		if (src != SALVY_OK) {
			log_error("Salvy did not provision a number", "error=%s",
				  res->error, "area_code=%d", area_code);
			res->failed = 1;
			res->rc = src == SALVY_REJECTED ? EX_DATAERR :
				  src == SALVY_AUTH ? EX_CONFIG : EX_TEMPFAIL;
			break;
		}
		snprintf(inst, sizeof(inst), "chip-%s", acc.phone);
		if (lifecycle_create_chip(ctx, acc.phone, inst, acc.id, reason, actor,
					  chip_id))
			return -1;
		res->numbers++;
		log_info("provisioned a number", "chip=%s", inst, "area_code=%d",
			 area_code, "salvy_id=%s", acc.id);
		if (evolution_configured(&ctx->cfg)) {
			int moved = create_instance(ctx, chip_id, inst, acc.phone, actor);
			if (moved < 0)
				return -1;
			res->pending += moved;
		}
	}
	status = res->numbers == count ? "fulfilled" :
		 res->numbers > 0 ? "partial" : "failed";
	snprintf(sreq, sizeof(sreq), "%d", count);
	snprintf(sprov, sizeof(sprov), "%d", res->numbers);
	snprintf(sarea, sizeof(sarea), "%d", area_code);
	params[0] = sreq;
	params[1] = sprov;
	params[2] = sarea;
	params[3] = status;
	params[4] = reason;
	params[5] = actor;
	params[6] = res->error;
	params[7] = ctx->run_id;
	if (db_exec(ctx->db, request_sql, 8, params) < 0)
		return -1;
	return 0;
}

int salvy_create_instances(struct chipctl_ctx *ctx, const char *actor)
{
	PGresult *r;
	int i, n = 0, moved;

	if (!evolution_configured(&ctx->cfg) || ctx->dry_run)
		return 0;
	r = db_query(ctx->db, "SELECT id, instance_name, telefone FROM chips"
		     " WHERE status = 'provisioned' AND provider = 'evolution'"
		     " ORDER BY created_at LIMIT 50", 0, NULL);
	if (!r)
		return -1;
	for (i = 0; i < PQntuples(r); i++) {
		moved = create_instance(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
					PQgetvalue(r, i, 2), actor);
		if (moved < 0) {
			PQclear(r);
			return -1;
		}
		n += moved;
	}
	PQclear(r);
	return n;
}

int salvy_cancel_banned(struct chipctl_ctx *ctx, const char *only_chip_id)
{
	const char *params[1] = { only_chip_id };
	PGresult *r;
	char err[512];
	int i, n = 0;

	if (!salvy_configured(&ctx->cfg) || ctx->dry_run)
		return 0;
	r = db_query(ctx->db, "SELECT id, instance_name, salvy_account_id FROM chips"
		     " WHERE status = 'banned' AND salvy_account_id IS NOT NULL"
		     "   AND salvy_canceled_at IS NULL"
		     "   AND ($1::uuid IS NULL OR id = $1::uuid)", 1, params);
	if (!r)
		return -1;
	for (i = 0; i < PQntuples(r); i++) {
		const char *p[1] = { PQgetvalue(r, i, 0) };
		enum salvy_rc rc = salvy_cancel_number(&ctx->cfg, PQgetvalue(r, i, 2),
						       "whatsapp-ban", err, sizeof(err));
		if (rc != SALVY_OK) {
			log_warn("cannot cancel the Salvy number of a banned chip; "
				 "pool-check retries", "chip=%s", PQgetvalue(r, i, 1),
				 "error=%s", err);
			continue;
		}
		if (db_exec(ctx->db, "UPDATE chips SET salvy_canceled_at = now(),"
			    " updated_at = now() WHERE id = $1", 1, p) < 0) {
			PQclear(r);
			return -1;
		}
		log_info("cancelled the Salvy number of a banned chip",
			 "chip=%s", PQgetvalue(r, i, 1), "reason=%s", "whatsapp-ban");
		n++;
	}
	PQclear(r);
	return n;
}
