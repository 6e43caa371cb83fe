#include "select.h"
#include "ctx.h"
#include "db.h"
#include "log.h"
#include "pgarray.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int select_provider_index(const char *provider)
{
	return !strcmp(provider, "zapi");
}

static int affinity(const struct pool_chip *c, const char *cliente)
{
	json_object *v;

	return c->affinity && json_object_object_get_ex(c->affinity, cliente, &v) ?
	       json_object_get_int(v) : 0;
}

static int provider_usable(const struct sender *s, const struct pool *pool,
			   const struct pool_chip *c)
{
	int k = select_provider_index(c->provider);

	if (pool->down[k] || (k ? s->unauthorized_zapi : s->unauthorized_evolution))
		return 0;
	return !(c->provider_probe && pool->probe_taken[k]);
}

int select_usable(const struct sender *s, const struct pool *pool, const struct pool_chip *c)
{
	int k = select_provider_index(c->provider);

	return !c->bad && !pool->down[k] &&
	       !(k ? s->unauthorized_zapi : s->unauthorized_evolution);
}

/* May message m go to chip c now? *normal: by permission, not fallback. */
static int eligible(const struct sender *s, const struct pool *pool, const struct pool_chip *c,
		    const struct outbound *m, int *normal)
{
	if (!c->sendable || c->bad || c->room <= 0 || !provider_usable(s, pool, c) ||
	    (c->chip_probe && c->probe_taken) || strstr(sb_str(&m->pr.tried), c->id))
		return 0;
	*normal = c->perm[m->type.permission];
	return *normal || c->trust >= m->type.fallback_trust;
}

/* Is a better than b for m? */
static int better(const struct pool_chip *a, int an, const struct pool_chip *b, int bn,
		  const struct outbound *m)
{
	int ar = !strstr(sb_str(&m->refused), a->id), br = !strstr(sb_str(&m->refused), b->id);
	int aa, ba;

	if (ar != br)
		return ar;
	if (an != bn)
		return an;
	aa = affinity(a, m->cliente);
	ba = affinity(b, m->cliente);
	if (aa != ba)
		return aa > ba;
	if (a->day_used != b->day_used)
		return a->day_used < b->day_used;
	if (a->hour_used != b->hour_used)
		return a->hour_used < b->hour_used;
	if (a->trust != b->trust)
		return a->trust > b->trust;
	if (a->rank != b->rank)
		return a->rank < b->rank;
	return strcmp(a->instance, b->instance) < 0;
}

/* While other workers hold chips, a batch takes no more per chip than
 * its fair share (its messages over every chip that sends: its own and
 * theirs); else, or when not fair, no bound. */
static int share_per_chip(const struct pool *pool, const struct outbound *msgs, int n,
			  int fair)
{
	int i, k, lanes = 0, busy = 0, todo = 0;

	for (k = 0; k < pool->n; k++) {
		busy += !strcmp(pool->c[k].blocked_by, "busy");
		lanes += pool->c[k].sendable || !strcmp(pool->c[k].blocked_by, "busy");
	}
	for (i = 0; i < n; i++)
		todo += msgs[i].pr.walk == WALK_SELECT && !msgs[i].pr.bounced;
	return fair && busy && lanes ? (todo + lanes - 1) / lanes : n + 1;
}

int select_assign(struct sender *s, struct pool *pool, struct outbound *msgs, int n, int fair)
{
	int i, j, assigned = 0, share = share_per_chip(pool, msgs, n, fair);

	for (i = 0; i < n; i++) {
		struct outbound *m = &msgs[i];
		struct pool_chip *c;
		int best = -1, best_normal = 0, cands = 0, normal, shared = 0;

		if (m->pr.walk != WALK_SELECT || m->pr.bounced)
			continue;
		for (j = 0; j < pool->n; j++) {
			if (!eligible(s, pool, &pool->c[j], m, &normal))
				continue;
			if (pool->c[j].assigned >= share) {
				shared = 1;
				continue;
			}
			cands++;
			if (best < 0 || better(&pool->c[j], normal, &pool->c[best], best_normal, m)) {
				best = j;
				best_normal = normal;
			}
		}
		if (best < 0) {
			/* its chips have their share: it leaves the batch at
			 * once for a worker whose chips are free (bounce) */
			if (shared) {
				m->pr.bounced = 1;
				m->pr.wait_hint = "WAIT_PACING";
			}
			continue;
		}
		c = &pool->c[best];
		c->room--;
		c->hour_used++;
		c->day_used++;
		c->assigned++;
		m->pr.probe = c->chip_probe || c->provider_probe;
		if (c->chip_probe)
			c->probe_taken = 1;
		if (c->provider_probe)
			pool->probe_taken[select_provider_index(c->provider)] = 1;
		m->pr.walk = WALK_ASSIGNED;
		m->pr.chip = best;
		m->pr.normal = best_normal;
		m->pr.candidates = cands;
		m->pr.threshold = best_normal ? m->type.normal_trust : m->type.fallback_trust;
		assigned++;
	}
	return assigned;
}

void select_unassign(struct outbound *m)
{
	m->pr.walk = WALK_SELECT;
	m->pr.chip = -1;
	m->pr.probe = 0;
}

/* Take back the last `count` messages assigned to chip k in this round. */
static void take_back(struct outbound *msgs, int n, int k, int count)
{
	int i;

	for (i = n - 1; i >= 0 && count > 0; i--) {
		if (msgs[i].pr.walk == WALK_ASSIGNED && msgs[i].pr.chip == k) {
			select_unassign(&msgs[i]);
			msgs[i].pr.bounced = 1;
			count--;
		}
	}
}

int select_reserve(struct sender *s, struct pool *pool, struct outbound *msgs, int n)
{
	struct strbuf chips = STRBUF_INIT, wants = STRBUF_INIT, cp = STRBUF_INIT,
		      pp = STRBUF_INIT;
	const struct config *cfg = &s->ctx->cfg;
	char lease[16], gap[16], jitter[16], hold[16];
	const char *p[10];
	PGresult *res;
	int i, k, any = 0;

	for (k = 0; k < pool->n; k++) {
		struct pool_chip *c = &pool->c[k];

		if (!c->assigned)
			continue;
		any = 1;
		pga_add(&chips, c->id);
		pga_addl(&wants, c->assigned);
		pga_addb(&cp, c->chip_probe);
		pga_addb(&pp, c->provider_probe);
	}
	if (!any)
		return 0;
	snprintf(lease, sizeof(lease), "%d", cfg->breaker_probe_lease_s);
	snprintf(gap, sizeof(gap), "%d", cfg->send_chip_gap_s);
	snprintf(jitter, sizeof(jitter), "%d", cfg->send_chip_gap_jitter_s);
	/* the batch's longest life: its deadline, then a send in flight with
	 * its typing; past it the hold is a dead worker's */
	snprintf(hold, sizeof(hold), "%ld", 2L * cfg->send_batch_seconds + 5 +
		 config_send_timeout_ms(cfg) / 1000 + cfg->send_typing_max_ms / 1000);
	p[0] = pga_end(&chips);
	p[1] = pga_end(&wants);
	p[2] = pga_end(&cp);
	p[3] = pga_end(&pp);
	p[4] = s->worker_id;
	p[5] = s->ctx->run_id;
	p[6] = lease;
	p[7] = gap;
	p[8] = jitter;
	p[9] = hold;
	res = db_query(s->ctx->db,
		"SELECT chip_id, granted FROM chipctl_reserve_chips(p_chips => $1::uuid[],"
		" p_wants => $2::int[], p_chip_probes => $3::boolean[],"
		" p_provider_probes => $4::boolean[], p_worker => $5, p_run => $6::uuid,"
		" p_probe_lease_s => $7::int, p_gap_s => $8::int, p_jitter_s => $9::int,"
		" p_hold_s => $10::int)", 10, p);
	sb_free(&chips);
	sb_free(&wants);
	sb_free(&cp);
	sb_free(&pp);
	if (!res)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		int granted = (int)db_long(res, i, 1);

		for (k = 0; k < pool->n; k++) {
			struct pool_chip *c = &pool->c[k];

			if (!c->assigned || strcmp(c->id, PQgetvalue(res, i, 0)))
				continue;
			if (granted < c->assigned) {
				if (c->chip_probe || c->provider_probe)
					log_info("breaker probe taken by another worker",
						 "chip=%s", c->instance);
				else
					log_debug("chip's room taken by other workers", "chip=%s",
						  c->instance, "wanted=%d", c->assigned,
						  "granted=%d", granted);
				take_back(msgs, n, k, c->assigned - granted);
				c->room = 0;
				c->room_taken = 1;
				if (c->chip_probe || c->provider_probe)
					c->bad = 1;
			}
			c->unused += granted;
			c->held |= granted > 0;
			c->assigned = 0;
		}
	}
	PQclear(res);
	return 0;
}


int select_release(struct sender *s, struct pool *pool, int keep)
{
	struct strbuf kept = STRBUF_INIT;
	char gap[16];
	const char *p[3] = { s->worker_id, gap, NULL };
	int k, rc;

	for (k = 0; pool && k < pool->n; k++) {
		pool->c[k].unused = 0;
		if (keep && pool->c[k].held)
			pga_add(&kept, pool->c[k].id);
	}
	s->keeping = kept.len > 0;
	if (s->keeping) {
		p[2] = pga_end(&kept);
		log_debug("the batch's chips are kept for the next claim");
	}
	snprintf(gap, sizeof(gap), "%d", s->ctx->cfg.send_chip_gap_s);
	rc = db_exec(s->ctx->db, "SELECT chipctl_release_hold(p_worker => $1,"
		     " p_gap_s => $2::int, p_keep => $3::uuid[])", 3, p) < 0 ? -1 : 0;
	sb_free(&kept);
	return rc;
}

/* How far a chip got towards taking m: the further, the truer the reason. */
enum stage { ST_NONE, ST_DISCONNECTED, ST_COOLDOWN, ST_CIRCUIT, ST_AUTH, ST_LIMIT,
	     ST_PACING, ST_PERMISSION };

static enum stage stage_of(const struct sender *s, const struct pool *pool,
			   const struct pool_chip *c, const struct outbound *m)
{
	int normal;

	if (!c->sendable)
		return !strcmp(c->blocked_by, "disconnected") ? ST_DISCONNECTED :
		       !strcmp(c->blocked_by, "cooldown") ? ST_COOLDOWN :
		       !strcmp(c->blocked_by, "circuit_open") ? ST_CIRCUIT :
		       !strcmp(c->blocked_by, "limit") ? ST_LIMIT :
		       /* its gap since its last send runs, or another worker
			* has its one send in flight */
		       !strcmp(c->blocked_by, "pacing") || !strcmp(c->blocked_by, "busy") ?
		       ST_PACING : ST_NONE;
	if (c->room_taken)	/* another worker took it between snapshot and grant */
		return ST_PACING;
	if (c->bad)
		return ST_COOLDOWN;
	/* its provider refused chipctl's configuration this cycle */
	if (select_provider_index(c->provider) ? s->unauthorized_zapi : s->unauthorized_evolution)
		return ST_AUTH;
	if (!provider_usable(s, pool, c) || (c->chip_probe && c->probe_taken))
		return ST_CIRCUIT;
	if (c->room <= 0)
		return ST_LIMIT;
	return eligible(s, pool, c, m, &normal) ? ST_LIMIT : ST_PERMISSION;
}

/* Another worker holds chip c, or took it between snapshot and grant. */
static int select_crowded_chip(const struct pool_chip *c)
{
	return !strcmp(c->blocked_by, "busy") || c->room_taken;
}

int select_crowded(const struct pool *pool)
{
	int k;

	for (k = 0; k < pool->n; k++)
		if (select_crowded_chip(&pool->c[k]))
			return 1;
	return 0;
}

long select_pacing_wait(const struct pool *pool)
{
	long long now = (long long)time(NULL), first = 0;
	int k;

	for (k = 0; k < pool->n; k++) {
		if (select_crowded_chip(&pool->c[k]))
			return 0;	/* free as soon as its holder's batch ends */
		if (pool->c[k].next_send_at > now &&
		    (!first || pool->c[k].next_send_at < first))
			first = pool->c[k].next_send_at;
	}
	return first > now ? (long)(first - now) : 0;
}

const char *select_wait_reason(const struct sender *s, const struct pool *pool,
			       const struct outbound *m)
{
	static const char *const reason[] = { "WAIT_NO_CHIP", "WAIT_DISCONNECTED",
		"WAIT_COOLDOWN", "WAIT_CIRCUIT_OPEN", "WAIT_PROVIDER_AUTH", "WAIT_LIMIT",
		"WAIT_PACING", "WAIT_NO_PERMISSION" };
	enum stage best = ST_NONE;
	int k;

	if (m->pr.refusals)
		return "ALL_CHIPS_FAILED";
	if (m->pr.wait_hint)
		return m->pr.wait_hint;
	for (k = 0; k < pool->n; k++) {
		enum stage st;

		if (strstr(sb_str(&m->pr.tried), pool->c[k].id))
			continue;
		st = stage_of(s, pool, &pool->c[k], m);
		if (st > best)
			best = st;
	}
	return reason[best];
}
