#include "flight.h"
#include "claim.h"
#include "ctx.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "pgarray.h"
#include "prove.h"
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
	char *lane;		/* per chip: it had a message in this round */
	int waiting;
	int lanes;		/* chips that had a message in this round */
	int flying[2];		/* in flight, by provider (select_provider_index) */
	int drained;		/* a top-up found nothing more (or no room) */
};

/* Queue msgs[from..n) that were given a chip. */
static void queues_add(struct queues *q, struct outbound *msgs, int from, int n)
{
	int i, k;

	q->next = xrealloc(q->next, sizeof(int) * (size_t)(n + 1));
	for (i = from; i < n; i++) {
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
		if (!q->lane[k]) {
			q->lane[k] = 1;
			q->lanes++;
		}
	}
}

static void queues_build(struct queues *q, const struct pool *pool, struct outbound *msgs,
			 int n)
{
	int k;

	memset(q, 0, sizeof(*q));
	q->head = xmalloc(sizeof(int) * (size_t)(pool->n + 1));
	q->tail = xmalloc(sizeof(int) * (size_t)(pool->n + 1));
	q->busy = xmalloc((size_t)pool->n + 1);
	q->lane = xmalloc((size_t)pool->n + 1);
	for (k = 0; k < pool->n; k++) {
		q->head[k] = q->tail[k] = -1;
		q->busy[k] = q->lane[k] = 0;
	}
	queues_add(q, msgs, 0, n);
}

static void queues_free(struct queues *q)
{
	free(q->head);
	free(q->tail);
	free(q->next);
	free(q->busy);
	free(q->lane);
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

/* The rescue took m back (this worker was paused past its heartbeat): not
 * this worker's to send any more. */
static void lost(struct sender *s, struct pool *pool, struct outbound *m)
{
	m->pr.walk = WALK_DONE;
	s->st.lost_claim++;
	log_warn("message no longer claimed by this worker: not sent", "message=%ld", m->id,
		 "chip=%s", pool->c[m->pr.chip].instance);
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

/* Commit the starts of the round's sends in one statement, before any of
 * them leaves. A message whose claim was taken back meanwhile does not
 * start: it is not this worker's any more. */
static int commit_starts(struct sender *s, struct pool *pool, struct outbound *msgs, int n)
{
	struct strbuf ids = STRBUF_INIT, chips = STRBUF_INIT;
	char gap[16], jitter[16];
	const char *p[5];
	PGresult *res;
	int i, r, any = 0;

	for (i = 0; i < n; i++) {
		if (msgs[i].pr.walk != WALK_ASSIGNED)
			continue;
		pga_addl(&ids, msgs[i].id);
		pga_add(&chips, pool->c[msgs[i].pr.chip].id);
		any++;
	}
	if (!any)
		return 0;
	p[0] = pga_end(&ids);
	p[1] = pga_end(&chips);
	p[2] = s->worker_id;
	snprintf(gap, sizeof(gap), "%d", s->ctx->cfg.send_chip_gap_s);
	snprintf(jitter, sizeof(jitter), "%d", s->ctx->cfg.send_chip_gap_jitter_s);
	p[3] = gap;
	p[4] = jitter;
	res = db_query(s->ctx->db, "SELECT id, started FROM chipctl_sends_start("
		       "p_msgs => $1::bigint[], p_chips => $2::uuid[], p_worker => $3,"
		       " p_gap_s => $4::int, p_jitter_s => $5::int)", 5, p);
	sb_free(&ids);
	sb_free(&chips);
	if (!res)
		return -1;
	for (r = 0; r < PQntuples(res); r++) {
		long id = db_long(res, r, 0);

		if (PQgetvalue(res, r, 1)[0] == 't')
			continue;
		for (i = 0; i < n; i++)
			if (msgs[i].id == id)
				lost(s, pool, &msgs[i]);
	}
	PQclear(res);
	return 0;
}

/* Every third of watchdog.heartbeat_s while a round goes on: the worker's
 * heartbeat, and the messages still waiting for their chip checked against
 * the queue. A worker paused past its heartbeat (SIGSTOP, a frozen VM)
 * finds the claims the rescue took back, and sends nothing more of them. */
static int still_ours(struct sender *s, struct pool *pool, struct outbound *msgs, int n)
{
	struct strbuf ids = STRBUF_INIT;
	const char *p[2];
	PGresult *res;
	int i, r, any = 0;

	if (mono_now() - s->beat_at < s->ctx->cfg.watchdog_heartbeat_s / 3.0)
		return 0;
	if (claim_heartbeat(s) < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (msgs[i].pr.walk == WALK_ASSIGNED) {
			pga_addl(&ids, msgs[i].id);
			any++;
		}
	if (!any) {
		sb_free(&ids);
		return 0;
	}
	p[0] = pga_end(&ids);
	p[1] = s->worker_id;
	res = db_query(s->ctx->db, "SELECT id FROM fila_mensagens WHERE id = ANY ($1::bigint[])"
		       " AND status = 'processando' AND worker_id = $2", 2, p);
	sb_free(&ids);
	if (!res)
		return -1;
	for (i = 0; i < n; i++) {
		if (msgs[i].pr.walk != WALK_ASSIGNED)
			continue;
		for (r = 0; r < PQntuples(res); r++)
			if (db_long(res, r, 0) == msgs[i].id)
				break;
		if (r == PQntuples(res))
			lost(s, pool, &msgs[i]);
	}
	PQclear(res);
	return 0;
}

/* Let m's request leave (its start was committed). */
static void launch(struct sender *s, struct pool *pool, struct queues *q, struct outbound *m)
{
	struct pool_chip *c = &pool->c[m->pr.chip];
	struct send_request req;
	struct provider_call call;

	send_request_of(&req, c, m, provider_typing_ms(&s->ctx->cfg, m->conteudo));
	provider_call_build(&s->ctx->cfg, &req, &call);
	c->unused--;
	m->pr.sends++;
	m->pr.launched = mono_now();
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

/* Take the next message of idle chip k for this turn: 1 when one was
 * taken, 0 when its queue is empty or the turn is full. */
static int take(struct sender *s, struct pool *pool, struct queues *q, struct outbound *msgs,
		int k, int over, int room, int *count)
{
	while (!q->busy[k] && q->head[k] >= 0) {
		struct outbound *m;

		if (*count >= room)	/* at most max_in_flight: next turn */
			return 0;
		m = &msgs[dequeue(q, k)];
		if (m->pr.walk != WALK_ASSIGNED)	/* lost meanwhile */
			continue;
		/* the batch is over, or its chip or provider failed since it
		 * was chosen: back for another chip or claim */
		if (over || !select_usable(s, pool, &pool->c[k])) {
			select_unassign(m);
			continue;
		}
		q->busy[k] = 1;
		q->flying[select_provider_index(pool->c[k].provider)]++;
		(*count)++;
		launch(s, pool, q, m);
		return 1;
	}
	return 0;
}

/* Let the next message of every idle chip leave (while the batch goes on,
 * up to send.max_in_flight in flight). A provider not heard from yet gets
 * one send at a time: the batch's first message waiting for it. */
static void start_turn(struct sender *s, struct pool *pool, struct queues *q,
		       struct outbound *msgs, volatile int *stop)
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
		/* one cheap status call may prove it; else its first send
		 * goes alone */
		if (first >= 0 && !prove_provider(s, &pool->c[first]))
			take(s, pool, q, msgs, first, over, room, &count);
	}
	for (k = 0; k < pool->n && q->waiting > 0; k++) {
		pi = select_provider_index(pool->c[k].provider);
		if (over || s->proven[pi])
			take(s, pool, q, msgs, k, over, room, &count);
	}
}

/* Chips running short of messages (less than one each left waiting)
 * while they send back to back and the batch is young: more messages
 * claimed into it (sender_topup), their starts committed, queued: each
 * chip about a second's sends at the answers' pace (at least two), up to
 * the batch's room. 0, or -1 on a database error. */
static int top_up(struct sender *s, struct pool *pool, struct queues *q,
		  struct outbound *msgs, int *n, int quiet, volatile int *stop)
{
	int from = *n, got;
	/* about a second of sends per chip at the answers' pace (two before
	 * any answer): enough that chips never run dry between top-ups, few
	 * enough that no chip of this worker is left with a long queue when
	 * the queue runs out and other workers' chips are idle */
	double depth = s->rtt > 0 ? 1.0 / s->rtt : 2;
	long want = (long)(q->lanes * (depth < 2 ? 2 : depth)) - q->waiting;

	if (want < q->lanes)
		want = q->lanes;

	/* (while answers pour in, their chips' next sends leave first: the
	 * top-up waits for a quiet turn, or for the queue to run dry) */
	if (q->drained || q->waiting >= q->lanes || (!quiet && q->waiting > 0) ||
	    *n >= s->batch_cap ||
	    s->ctx->cfg.send_chip_gap_s > 0 || sender_batch_over(s, stop) ||
	    mono_now() >= s->deadline - s->ctx->cfg.send_batch_seconds)
		return 0;
	if ((got = sender_topup(s, pool, msgs, n, want)) < 0)
		return -1;
	if (got < want)
		q->drained = 1;
	if (got == 0)
		return 0;
	s->st.topped_up += got;
	if (commit_starts(s, pool, msgs + from, got) < 0)
		return -1;
	queues_add(q, msgs, from, *n);
	return 0;
}

int flight_round(struct sender *s, struct pool *pool, struct record *rec,
		 struct outbound *msgs, int *np, volatile int *stop, struct strbuf *urgent)
{
	struct queues q;
	int rc = 0, n = *np, answers = 0;

	if (commit_starts(s, pool, msgs, n) < 0)
		return -1;
	queues_build(&q, pool, msgs, n);
	for (;;) {
		struct http_response resp;
		void *tag;
		int flying;

		if (rc == 0 && still_ours(s, pool, msgs, n) < 0)
			rc = -1;
		if (rc == 0) {
			start_turn(s, pool, &q, msgs, stop);
			if (top_up(s, pool, &q, msgs, np, answers == 0, stop) < 0)
				rc = -1;
			else if (*np != n)	/* the new ones may leave at once */
				start_turn(s, pool, &q, msgs, stop);
			n = *np;
		}
		if (rc != 0)	/* start nothing more; await what flies */
			while (q.waiting > 0)
				for (int k = 0; k < pool->n; k++)
					if (q.head[k] >= 0) {
						struct outbound *m = &msgs[dequeue(&q, k)];
						if (m->pr.walk == WALK_ASSIGNED)
							select_unassign(m);
					}
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
		answers = 0;
		while (http_multi_next(s->multi, &tag, &resp) == 1) {
			struct outbound *m = tag;
			struct pool_chip *c = &pool->c[m->pr.chip];
			struct send_request req;
			struct send_result r;

			answers++;
			s->rtt = s->rtt > 0 ? 0.8 * s->rtt + 0.2 * (mono_now() - m->pr.launched) :
					      mono_now() - m->pr.launched;
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
		/* the successes written while the sends go on; a write's
		 * answer read when it is in (or by the next statement) */
		if (rc == 0 && record_due(rec) && record_flush_async(s, rec) < 0)
			rc = -1;
		if (rc == 0 && db_pipeline_read(s->ctx->db, 0) < 0)
			rc = -1;
	}
	queues_free(&q);
	return rc;
}
