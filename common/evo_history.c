#include "evo_history.h"
#include "config.h"
#include "ctx.h"
#include "db.h"
#include "evolution_find.h"
#include "http.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* The stored answer when it is younger than $1 seconds. */
static const char fresh_sql[] =
	"SELECT keeps_messages FROM evolution_history"
	" WHERE id = 1 AND checked_at > now() - make_interval(secs => $1::int)";

/* The message to look up: sent at least a minute ago (the server stores a
 * send when it completes), through an Evolution chip. */
static const char probe_sql[] =
	"SELECT instance_name, provider_message_id"
	" FROM chipctl_evolution_probe(p_min_age_s => 60)";

static const char keeps_sql[] =
	"SELECT chipctl_evolution_keeps(p_keeps => $1::boolean, p_detail => $2)";

int evo_history_check(struct chipctl_ctx *ctx, struct http_client *http, int max_age_s)
{
	const struct config *cfg = &ctx->cfg;
	struct evo_find_request req;
	struct evo_find_query q;
	struct evo_find_result res;
	struct http_response r;
	char age[16], err[200], detail[400], key[128], inst[160];
	const char *p[2] = { age, NULL };
	PGresult *st;
	int keeps;

	if (!cfg->evolution_url || !*cfg->evolution_url)
		return -1;
	if (max_age_s > 0) {
		snprintf(age, sizeof(age), "%d", max_age_s);
		if (!(st = db_query(ctx->db, fresh_sql, 1, p)))
			return -2;
		keeps = PQntuples(st) ? PQgetvalue(st, 0, 0)[0] == 't' : -1;
		PQclear(st);
		if (keeps >= 0)
			return keeps;
	}
	if (!(st = db_query(ctx->db, probe_sql, 0, NULL)))
		return -2;
	if (PQntuples(st) == 0) {	/* nothing known sent: nothing to look up */
		PQclear(st);
		return -1;
	}
	snprintf(inst, sizeof(inst), "%s", PQgetvalue(st, 0, 0));
	snprintf(key, sizeof(key), "%s", PQgetvalue(st, 0, 1));
	PQclear(st);
	memset(&q, 0, sizeof(q));
	q.key_id = key;
	q.from_me = 1;
	q.page_size = 1;
	if (evo_find_request_build(&req, cfg->evolution_url, cfg->evolution_api_key, inst,
				   &q, err, sizeof(err))) {
		log_warn("cannot ask whether Evolution keeps messages", "error=%s", err);
		return -1;
	}
	http_client_set_timeout(http, cfg->evolution_timeout_ms);
	http_request(http, "POST", req.url, req.headers, req.body, &r);
	evo_find_request_free(&req);
	evo_find_parse(&r, &res);
	http_response_free(&r);
	keeps = !res.ok || res.n_malformed ? -1 : res.total > 0;
	if (keeps < 0)
		log_warn("cannot ask whether Evolution keeps messages", "error=%s", res.error,
			 "instance=%s", inst);
	evo_find_result_free(&res);
	if (keeps < 0)
		return -1;
	snprintf(detail, sizeof(detail), keeps ?
		 "message %s sent through %s was found by its id" :
		 "message %s sent through %s was not found by its id: the server keeps "
		 "no messages (DATABASE_SAVE_DATA_NEW_MESSAGE=false?)", key, inst);
	if (!keeps)
		log_warn("the Evolution server keeps no messages: reconciliation and "
			 "pull-messages are off", "detail=%s", detail);
	if (ctx->dry_run)
		return keeps;
	p[0] = keeps ? "true" : "false";
	p[1] = detail;
	if (!(st = db_query(ctx->db, keeps_sql, 2, p)))
		return -2;
	PQclear(st);
	return keeps;
}
