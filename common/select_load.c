/*
 * select_load: the pool as a batch sees it (part of select.h): one
 * snapshot per batch from chipctl_pool (the one definition of sendable,
 * with the batch's doctors' affinity), the affinity of a top-up's doctors
 * and the chips' holds as they are now added to it, and how many chips may
 * send now and how many other workers hold (the size of a claim).
 */
#include "select.h"
#include "ctx.h"
#include "db.h"
#include "pgarray.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The pool once per batch: the one definition of sendable, with the
 * batch's doctors' affinity (chipctl_pool). */
static const char pool_sql[] =
	"SELECT id, instance_name, provider, zapi_instance_id, zapi_token, trust_score,"
	"  pode_prospectar, pode_followup, pode_responder, sendable, blocked_by, chip_probe,"
	"  provider_probe, breaker_dirty, hour_used, day_used, room, affinity,"
	"  floor(extract(epoch FROM next_send_at))::bigint"
	" FROM chipctl_pool(p_clientes => $1::text[], p_multi => $2::boolean, p_default => $3,"
	"  p_worker => $4)";

static void copy(char *dst, size_t n, const PGresult *res, int r, int c)
{
	snprintf(dst, n, "%s", PQgetvalue(res, r, c));
}

/* chipctl_pool of msgs' doctors, as this worker sees it. */
static PGresult *pool_query(struct sender *s, const char *sql, const struct outbound *msgs,
			    int n)
{
	const struct config *cfg = &s->ctx->cfg;
	struct strbuf cli = STRBUF_INIT;
	const char *p[4];
	PGresult *res;
	int i;

	for (i = 0; i < n; i++)
		pga_add(&cli, msgs[i].cliente);
	p[0] = pga_end(&cli);
	p[1] = cfg->send_multi_chip ? "t" : "f";
	p[2] = cfg->send_default_chip && *cfg->send_default_chip ? cfg->send_default_chip : NULL;
	p[3] = s->worker_id;
	res = db_query(s->ctx->db, sql, 4, p);
	sb_free(&cli);
	return res;
}

/* How many chips may send now, by the same definition, how many only
 * another worker's hold keeps from it, and whether any message is due
 * (before a claim: its size). */
int select_ready_chips(struct sender *s, int *busy, int *due)
{
	PGresult *res = pool_query(s, "SELECT count(*) FILTER (WHERE sendable AND room > 0),"
				   " count(*) FILTER (WHERE blocked_by = 'busy' AND room > 0),"
				   " EXISTS (SELECT 1 FROM fila_mensagens WHERE status = 'pendente'"
				   "  AND agendar_para <= now())"
				   " FROM chipctl_pool(p_clientes => $1::text[], p_multi => $2::boolean,"
				   " p_default => $3, p_worker => $4)", NULL, 0);
	int n;

	if (!res)
		return -1;
	n = (int)db_long(res, 0, 0);
	if (busy)
		*busy = (int)db_long(res, 0, 1);
	if (due)
		*due = PQgetvalue(res, 0, 2)[0] == 't';
	PQclear(res);
	return n;
}

int select_load(struct sender *s, const struct outbound *msgs, int n, struct pool *pool)
{
	PGresult *res;
	int i;

	memset(pool, 0, sizeof(*pool));
	res = pool_query(s, pool_sql, msgs, n);
	if (!res)
		return -1;
	pool->n = PQntuples(res);
	pool->c = xmalloc(sizeof(*pool->c) * (size_t)(pool->n ? pool->n : 1));
	memset(pool->c, 0, sizeof(*pool->c) * (size_t)(pool->n ? pool->n : 1));
	for (i = 0; i < pool->n; i++) {
		struct pool_chip *c = &pool->c[i];

		copy(c->id, sizeof(c->id), res, i, 0);
		copy(c->instance, sizeof(c->instance), res, i, 1);
		copy(c->provider, sizeof(c->provider), res, i, 2);
		copy(c->zapi_id, sizeof(c->zapi_id), res, i, 3);
		copy(c->zapi_token, sizeof(c->zapi_token), res, i, 4);
		c->trust = strtod(PQgetvalue(res, i, 5), NULL);
		c->perm[PERM_PROSPECT] = PQgetvalue(res, i, 6)[0] == 't';
		c->perm[PERM_FOLLOWUP] = PQgetvalue(res, i, 7)[0] == 't';
		c->perm[PERM_REPLY] = PQgetvalue(res, i, 8)[0] == 't';
		c->sendable = PQgetvalue(res, i, 9)[0] == 't';
		copy(c->blocked_by, sizeof(c->blocked_by), res, i, 10);
		c->chip_probe = PQgetvalue(res, i, 11)[0] == 't';
		c->provider_probe = PQgetvalue(res, i, 12)[0] == 't';
		c->dirty = PQgetvalue(res, i, 13)[0] == 't';
		c->hour_used = (int)db_long(res, i, 14);
		c->day_used = (int)db_long(res, i, 15);
		c->room = (int)db_long(res, i, 16);
		if (db_val(res, i, 17))
			c->affinity = json_tokener_parse(PQgetvalue(res, i, 17));
		c->next_send_at = db_val(res, i, 18) ? db_long(res, i, 18) : 0;
		/* ties between equally used chips are broken differently by
		 * each worker, so workers starting together choose apart */
		c->rank = (unsigned)rand();
	}
	PQclear(res);
	return 0;
}

/* Holds change while a batch runs: a chip another worker took since the
 * snapshot is no longer offered to a top-up (its messages would only
 * bounce at the reservation), and one it let go is offered again. */
static void refresh_hold(struct pool_chip *c, int sendable, int busy)
{
	if (busy) {
		c->sendable = 0;
		snprintf(c->blocked_by, sizeof(c->blocked_by), "busy");
	} else if (sendable && !strcmp(c->blocked_by, "busy")) {
		c->sendable = 1;
		c->blocked_by[0] = '\0';
	}
}

int select_refresh(struct sender *s, struct pool *pool, const struct outbound *msgs, int n)
{
	PGresult *res;
	int i, k;

	res = pool_query(s, "SELECT id, affinity, sendable, blocked_by = 'busy'"
			 " FROM chipctl_pool(p_clientes => $1::text[],"
			 " p_multi => $2::boolean, p_default => $3, p_worker => $4)", msgs, n);
	if (!res)
		return -1;
	for (i = 0; i < PQntuples(res); i++)
		for (k = 0; k < pool->n; k++) {
			struct pool_chip *c = &pool->c[k];

			if (strcmp(c->id, PQgetvalue(res, i, 0)))
				continue;
			refresh_hold(c, PQgetvalue(res, i, 2)[0] == 't',
				     PQgetvalue(res, i, 3)[0] == 't');
			if (!db_val(res, i, 1))
				break;
			/* the batch's earlier doctors keep theirs */
			if (!c->affinity) {
				c->affinity = json_tokener_parse(PQgetvalue(res, i, 1));
			} else {
				json_object *more = json_tokener_parse(PQgetvalue(res, i, 1));

				if (more) {
					json_object_object_foreach(more, key, val)
						json_object_object_add(c->affinity, key,
								       json_object_get(val));
				}
				json_object_put(more);
			}
			break;
		}
	PQclear(res);
	return 0;
}

void select_free(struct pool *pool)
{
	int i;

	for (i = 0; i < pool->n; i++)
		json_object_put(pool->c[i].affinity);
	free(pool->c);
	memset(pool, 0, sizeof(*pool));
}
