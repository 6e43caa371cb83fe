/*
 * health_evolution: the `health evolution` check (see health.h): whether
 * the Evolution server answers, lets requests through its breaker, and
 * keeps the messages it sends (evolution_history, written by pull-messages
 * and the send path's reconciliation through chipctl_evolution_keeps).
 */
#include "health.h"
#include "ctx.h"
#include "db.h"

#include <json-c/json.h>
#include <string.h>

static const char keeps_sql[] =
	"SELECT keeps_messages, checked_at::text, detail FROM evolution_history WHERE id = 1";

void health_eval_evolution(struct chipctl_ctx *ctx, const struct health_snapshot *s,
			   int db_ok, struct health_result *r)
{
	char why[300];
	int probe = health_probe_evolution(&ctx->cfg, why, sizeof(why));
	PGresult *res;

	if (probe < 0) {	/* not configured */
		r->status = HEALTH_UNKNOWN;
		r->score = 0;
		sb_reset(&r->text);
		sb_add(&r->text, why);
		return;
	}
	health_worse(r, HEALTH_OK);
	sb_add(&r->text, why);
	json_object_object_add(r->json, "reachable", json_object_new_boolean(probe > 0));
	if (probe == 0)
		health_worse(r, HEALTH_CRITICAL);
	if (s && s->evolution_breaker != BREAKER_CLOSED) {
		int open = s->evolution_breaker == BREAKER_OPEN;

		sb_addf(&r->text, ", breaker %s", open ? "open" : "half open");
		health_worse(r, open ? HEALTH_CRITICAL : HEALTH_WARNING);
	}
	if (!db_ok || !(res = db_query(ctx->db, keeps_sql, 0, NULL)))
		return;
	if (PQntuples(res) == 1) {
		int keeps = !strcmp(PQgetvalue(res, 0, 0), "t");

		json_object_object_add(r->json, "keeps_messages", json_object_new_boolean(keeps));
		json_object_object_add(r->json, "checked_at",
				       json_object_new_string(PQgetvalue(res, 0, 1)));
		json_object_object_add(r->json, "detail",
				       json_object_new_string(PQgetvalue(res, 0, 2)));
		if (!keeps) {
			sb_add(&r->text, ", keeps no messages (DATABASE_SAVE_DATA_NEW_MESSAGE"
			       "=false?): pull and reconciliation are off");
			health_worse(r, HEALTH_WARNING);
		}
	}
	PQclear(res);
}
