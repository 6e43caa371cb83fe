#include "flight.h"
#include "ctx.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "pgarray.h"
#include "provider.h"
#include "record.h"
#include "select.h"
#include "send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The round's queues: the messages waiting for each chip, in batch order. */
struct queues {
	int *head, *tail;	/* per chip: first and last waiting message, or -1 */
	int *next;		/* per message: the next one for the same chip */
	char *busy;		/* per chip: its one send is in flight */
	int waiting;
	int flying[2];		/* in flight, by provider (select_provider_index) */
};

static void queues_build(struct queues *q, const struct pool *pool, struct outbound *msgs,
			 int n)
{
	int i, k;

	q->head = xmalloc(sizeof(int) * (size_t)(pool->n + 1));
	q->tail = xmalloc(sizeof(int) * (size_t)(pool->n + 1));
	q->busy = xmalloc((size_t)pool->n + 1);
	q->next = xmalloc(sizeof(int) * (size_t)(n + 1));
	q->waiting = 0;
	q->flying[0] = q->flying[1] = 0;
	for (k = 0; k < pool->n; k++) {
		q->head[k] = q->tail[k] = -1;
		q->busy[k] = 0;
	}
	for (i = 0; i < n; i++) {
		q->next[i] = -1;
		if (msgs[i].pr.walk != WALK_ASSIGNED)
			continue;
		k = msgs[i].pr.chip;
		if (q->tail[k] < 0)
			q->head[k] = i;
		else
			q->next[q->tail[k]] = i;
		q->tail[k] = i;
		q->waiting++;
	}
}

static void queues_free(struct queues *q)
{
	free(q->head);
	free(q->tail);
	free(q->next);
	free(q->busy);
}

static int dequeue(struct queues *q, int k)
{
	int i = q->head[k];

	if (i >= 0) {
		q->head[k] = q->next[i];
		if (q->head[k] < 0)
			q->tail[k] = -1;
		q->waiting--;
	}
	return i;
}

static void send_request_of(struct send_request *req, const struct pool_chip *c,
			    const struct outbound *m, int typing_ms)
{
	memset(req, 0, sizeof(*req));
	req->provider = c->provider;
	req->instance_name = c->instance;
	req->zapi_instance_id = c->zapi_id;
	req->zapi_token = c->zapi_token;
	req->number = m->telefone;
	req->text = m->conteudo;
	req->typing_ms = typing_ms;
}

/* Commit the starts of this turn (one statement), then let the started
 * requests leave. A message whose claim was taken back does not start. */
static int start(struct sender *s, struct pool *pool, struct queues *q,
		 struct outbound *msgs, const int *idx, int k)
{
	struct strbuf ids = STRBUF_INIT, chips = STRBUF_INIT;
	const char *p[3];
	PGresult *res;
	int j, r;

	for (j = 0; j < k; j++) {
		pga_addl(&ids, msgs[idx[j]].id);
		pga_add(&chips, pool->c[msgs[idx[j]].pr.chip].id);
	}
	p[0] = pga_end(&ids);
	p[1] = pga_end(&chips);
	p[2] = s->worker_id;
	res = db_query(s->ctx->db, "SELECT id, started FROM chipctl_sends_start("
		       "p_msgs => $1::bigint[], p_chips => $2::uuid[], p_worker => $3)", 3, p);
	sb_free(&ids);
	sb_free(&chips);
	if (!res)
		return -1;
	for (r = 0; r < PQntuples(res); r++) {
		struct outbound *m = &msgs[idx[r]];
		struct pool_chip *c = &pool->c[m->pr.chip];
		struct send_request req;
		struct provider_call call;

		if (PQgetvalue(res, r, 1)[0] != 't') {
			/* the rescue took it back: not ours to send any more */
			q->busy[m->pr.chip] = 0;
			q->flying[select_provider_index(c->provider)]--;
			m->pr.walk = WALK_DONE;
			s->st.lost_claim++;
			log_warn("message no longer claimed by this worker: not sent",
				 "message=%ld", m->id, "chip=%s", c->instance);
			continue;
		}
		send_request_of(&req, c, m, provider_typing_ms(&s->ctx->cfg, m->conteudo));
		provider_call_build(&s->ctx->cfg, &req, &call);
		c->unused--;
		m->pr.sends++;
		m->pr.walk = WALK_FLYING;
		if (http_multi_add(s->multi, "POST", call.url, call.headers, call.body,
				   call.timeout_ms, m)) {
			/* libcurl refused the handle: nothing left, it waits */
			m->pr.walk = WALK_SELECT;
			c->bad = 1;
			q->busy[m->pr.chip] = 0;
			q->flying[select_provider_index(c->provider)]--;
		}
		provider_call_free(&call);
	}
	PQclear(res);
	return 0;
}

/* Take the next message of idle chip k for this turn: 1 when one was
 * taken, 0 when its queue is empty or the turn is full. */
static int take(struct sender *s, struct pool *pool, struct queues *q, struct outbound *msgs,
		int k, int over, int room, int *idx, int *count)
{
	while (!q->busy[k] && q->head[k] >= 0) {
		struct outbound *m;

		if (*count >= room)	/* at most max_in_flight: next turn */
			return 0;
		m = &msgs[dequeue(q, k)];
		/* the batch is over, or its chip or provider failed since it
		 * was chosen: back for another chip or claim */
		if (over || !select_usable(s, pool, &pool->c[k])) {
			select_unassign(m);
			continue;
		}
		q->busy[k] = 1;
		q->flying[select_provider_index(pool->c[k].provider)]++;
		idx[(*count)++] = (int)(m - msgs);
		return 1;
	}
	return 0;
}

/* Take the next message of every idle chip (while the batch goes on, up to
 * send.max_in_flight in flight), and start them. A provider not heard from
 * yet gets one send at a time: the batch's first message waiting for it. */
static int start_turn(struct sender *s, struct pool *pool, struct queues *q,
		      struct outbound *msgs, volatile int *stop, int *idx)
{
	int k, pi, count = 0, room = s->ctx->cfg.send_max_in_flight - http_multi_in_flight(s->multi);
	int over = sender_batch_over(s, stop);

	for (pi = 0; pi < 2 && !over; pi++) {
		int first = -1;

		if (s->proven[pi] || q->flying[pi] > 0)
			continue;
		for (k = 0; k < pool->n; k++)
			if (select_provider_index(pool->c[k].provider) == pi && !q->busy[k] &&
			    q->head[k] >= 0 && (first < 0 || q->head[k] < q->head[first]))
				first = k;
		if (first >= 0)
			take(s, pool, q, msgs, first, over, room, idx, &count);
	}
	for (k = 0; k < pool->n && q->waiting > 0; k++) {
		pi = select_provider_index(pool->c[k].provider);
		if (over || s->proven[pi])
			take(s, pool, q, msgs, k, over, room, idx, &count);
	}
	return count ? start(s, pool, q, msgs, idx, count) : 0;
}

int flight_round(struct sender *s, struct pool *pool, struct record *rec,
		 struct outbound *msgs, int n, volatile int *stop, struct strbuf *urgent)
{
	struct queues q;
	int *idx = xmalloc(sizeof(int) * (size_t)(n + 1));
	int rc = 0;

	queues_build(&q, pool, msgs, n);
	for (;;) {
		struct http_response resp;
		void *tag;
		int flying;

		if (rc == 0 && start_turn(s, pool, &q, msgs, stop, idx) < 0)
			rc = -1;
		if (rc < 0)	/* start nothing more; await what flies */
			while (q.waiting > 0)
				for (int k = 0; k < pool->n; k++)
					if (q.head[k] >= 0)
						select_unassign(&msgs[dequeue(&q, k)]);
		flying = http_multi_in_flight(s->multi);
		if (flying == 0 && q.waiting == 0)
			break;
		s->st.flying_sum += flying;
		s->st.flying_turns++;
		if (http_multi_wait(s->multi, rec->count ? 20 : 200) < 0) {
			/* libcurl failed: what was in flight is uncertain */
			for (int i = 0; i < n; i++)
				if (msgs[i].pr.walk == WALK_FLYING)
					send_lost(s, pool, &msgs[i]);
			sender_multi_reset(s);
			continue;
		}
		while (http_multi_next(s->multi, &tag, &resp) == 1) {
			struct outbound *m = tag;
			struct pool_chip *c = &pool->c[m->pr.chip];
			struct send_request req;
			struct send_result r;

			q.busy[m->pr.chip] = 0;
			q.flying[select_provider_index(c->provider)]--;
			send_request_of(&req, c, m, 0);
			provider_result(&req, &resp, &r);
			http_response_free(&resp);
			if (r.fault != FAULT_PROVIDER && r.fault != FAULT_CONFIG)
				s->proven[select_provider_index(c->provider)] = 1;
			if (send_answer(s, pool, rec, m, &r, urgent) < 0)
				rc = -1;
		}
		if (rc == 0 && record_due(rec) && record_flush(s, rec) < 0)
			rc = -1;
	}
	queues_free(&q);
	free(idx);
	return rc;
}
