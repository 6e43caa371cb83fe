#include "evo_history.h"
#include "config.h"
#include "ctx.h"
#include "db.h"
#include "evolution_find.h"
#include "http.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* The stored answer while it is fresh, else the message to look up: the
 * newest one sent through an Evolution chip in the last 7 days. */
static const char state_sql[] =
	"SELECT (SELECT CASE WHEN h.keeps_messages THEN 1 ELSE 0 END FROM evolution_history h"
	"        WHERE h.checked_at > now() - make_interval(secs => $1::int)),"
	"       m.provider_message_id, m.instance_name"
	" FROM (SELECT 1) one LEFT JOIN LATERAL ("
	"   SELECT f.provider_message_id, c.instance_name FROM fila_mensagens f"
	"   JOIN chips c ON c.id = f.chip_id"
	"   WHERE f.enviada_em > now() - interval '7 days' AND f.status = 'enviada'"
	"     AND f.provider_message_id IS NOT NULL AND c.provider = 'evolution'"
	"     AND c.status <> 'banned'"
	"   ORDER BY f.enviada_em DESC LIMIT 1) m ON true";

static int store(struct chipctl_ctx *ctx, int keeps, const char *detail)
{
	const char *p[2] = { keeps ? "t" : "f", detail };

	if (ctx->dry_run)
		return 0;
	return db_exec(ctx->db,
		"INSERT INTO evolution_history (id, keeps_messages, checked_at, detail)"
		" VALUES (1, $1::boolean, now(), $2) ON CONFLICT (id) DO UPDATE"
		" SET keeps_messages = EXCLUDED.keeps_messages, checked_at = now(),"
		" detail = EXCLUDED.detail", 2, p) < 0 ? -1 : 0;
}

int evo_history_check(struct chipctl_ctx *ctx, struct http_client *http)
{
	const struct config *cfg = &ctx->cfg;
	struct evo_find_request req;
	struct evo_find_query q;
	struct evo_find_result res;
	struct http_response r;
	char age[16], err[200], detail[400], key[128], inst[160];
	const char *p[1] = { age };
	PGresult *st;
	int keeps;

	if (!cfg->evolution_url || !*cfg->evolution_url)
		return -1;
	snprintf(age, sizeof(age), "%d", EVO_HISTORY_MAX_AGE_S);
	if (!(st = db_query(ctx->db, state_sql, 1, p)))
		return -1;
	if (db_val(st, 0, 0)) {
		keeps = PQgetvalue(st, 0, 0)[0] == '1';
		PQclear(st);
		return keeps;
	}
	if (!db_val(st, 0, 1)) {	/* nothing known sent: nothing to look up */
		PQclear(st);
		return -1;
	}
	snprintf(key, sizeof(key), "%s", PQgetvalue(st, 0, 1));
	snprintf(inst, sizeof(inst), "%s", PQgetvalue(st, 0, 2));
	PQclear(st);
	memset(&q, 0, sizeof(q));
	q.key_id = key;
	q.page_size = 1;
	if (evo_find_request_build(&req, cfg->evolution_url, cfg->evolution_api_key, inst,
				   &q, err, sizeof(err)))
		return -1;
	http_client_set_timeout(http, cfg->evolution_timeout_ms);
	http_request(http, "POST", req.url, req.headers, req.body, &r);
	evo_find_request_free(&req);
	evo_find_parse(&r, &res);
	http_response_free(&r);
	if (!res.ok) {
		log_info("cannot tell whether the Evolution server keeps its messages",
			 "instance=%s", inst, "error=%s", res.error);
		evo_find_result_free(&res);
		return -1;
	}
	keeps = res.n > 0;
	evo_find_result_free(&res);
	snprintf(detail, sizeof(detail), keeps ?
		 "message %s sent through %s found by its id" :
		 "message %s sent through %s not found by its id: the server keeps nothing"
		 " (DATABASE_SAVE_DATA_NEW_MESSAGE=false?)", key, inst);
	if (!keeps)
		log_warn("the Evolution server keeps no messages: reconciliation and "
			 "pull-messages are off", "detail=%s", detail);
	if (store(ctx, keeps, detail))
		return -1;
	return keeps;
}
