#include "reconcile.h"
#include "ctx.h"
#include "db.h"
#include "evo_history.h"
#include "evolution_find.h"
#include "http.h"
#include "log.h"
#include "pgarray.h"
#include "provider.h"
#include "record.h"
#include "send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One lookup in flight: message i of the batch, JID form f. */
struct lookup {
	int i;
	int form;
};

/* Per message: what its lookups said. */
struct verdict {
	int asked, answered;
	enum evo_lookup worst;		/* EVO_NOT_FOUND until one is unsure */
	int found;
	char key_id[128];
};

/* Forget the uncertain send of m: it is sent again, no attempt spent; what
 * that send held is given back (ids collected in back). */
static void send_again(struct sender *s, struct outbound *m, struct strbuf *back,
		       const char *why, int possible_duplicate)
{
	if (possible_duplicate)
		log_warn("uncertain send sent again: possible duplicate", "message=%ld", m->id,
			 "chip=%s", m->envio_instance, "why=%s", why);
	else
		log_info("uncertain send not found: sent again", "message=%ld", m->id,
			 "chip=%s", m->envio_instance);
	pga_addl(back, m->id);
	m->envio_chip[0] = '\0';
	s->st.resent++;
}

/* The lookup keeps failing: the message waits for its next claim, keeping
 * its uncertain send, no attempt spent. */
static void wait_for_lookup(struct sender *s, struct outbound *m, const char *why)
{
	struct finish *f = &m->pr.fin;
	long wait = s->ctx->cfg.send_wait_backoff_s;

	m->pr.walk = WALK_FINISH;
	f->status = "pendente";
	f->reason = "WAIT_RECONCILE";
	f->waits = 1;
	f->next_in_s = wait;
	snprintf(f->uncertain_chip, sizeof(f->uncertain_chip), "%s", m->envio_chip);
	snprintf(m->pr.last_error, sizeof(m->pr.last_error),
		 "cannot ask %s whether an earlier send went out: %s", m->envio_instance, why);
	s->st.waited++;
	log_info("uncertain send waits for its lookup", "message=%ld", m->id,
		 "chip=%s", m->envio_instance, "error=%s", why);
}

static void found(struct sender *s, struct record *rec, struct outbound *m,
		  const char *key_id)
{
	struct send_result r;
	char note[200];

	memset(&r, 0, sizeof(r));
	r.status = 200;
	snprintf(r.message_id, sizeof(r.message_id), "%s", key_id);
	snprintf(note, sizeof(note), "found by reconciliation (findMessages on %s)",
		 m->envio_instance);
	m->pr.walk = WALK_SENT;
	record_sent(s, rec, m, m->envio_chip, m->envio_provider, 0, &r, note);
	s->st.reconciled++;
	log_info("uncertain send found sent: recorded, not sent again", "message=%ld", m->id,
		 "chip=%s", m->envio_instance, "provider_message_id=%s", key_id);
}

/* Queue the lookups of m (one per JID form of its number). 0, or -1 when
 * its number has no JID form (then it is sent again). */
static int ask(struct sender *s, struct outbound *msgs, int i, struct verdict *v,
	       struct lookup *lk, long long now)
{
	const struct config *cfg = &s->ctx->cfg;
	struct outbound *m = &msgs[i];
	char forms[2][64], err[200];
	int f, nf = evo_jid_forms(m->telefone, forms);

	if (nf < 0)
		return -1;
	for (f = 0; f < nf; f++) {
		struct evo_find_query q;
		struct evo_find_request req;

		evo_find_query_for_send(&q, forms[f], m->envio_start, now);
		if (evo_find_request_build(&req, cfg->evolution_url, cfg->evolution_api_key,
					   m->envio_instance, &q, err, sizeof(err)))
			return -1;
		lk[2 * i + f].i = i;
		lk[2 * i + f].form = f;
		if (http_multi_add(s->multi, "POST", req.url, req.headers, req.body,
				   cfg->evolution_timeout_ms, &lk[2 * i + f]) == 0)
			v[i].asked++;
		evo_find_request_free(&req);
	}
	return v[i].asked ? 0 : -1;
}

static void answer(struct sender *s, struct outbound *msgs, struct verdict *v,
		   const struct lookup *l, struct http_response *resp)
{
	struct outbound *m = &msgs[l->i];
	struct evo_find_result res;
	size_t idx = 0;
	enum evo_lookup e;

	evo_find_parse(resp, &res);
	e = evo_find_our_send(&res, m->telefone, m->conteudo, m->envio_start, &idx);
	v[l->i].answered++;
	if (e == EVO_FOUND && !v[l->i].found) {
		v[l->i].found = 1;
		snprintf(v[l->i].key_id, sizeof(v[l->i].key_id), "%s", res.records[idx].key_id);
	} else if (e == EVO_UNSURE) {
		v[l->i].worst = EVO_UNSURE;
		snprintf(m->pr.last_error, sizeof(m->pr.last_error), "%s",
			 res.ok ? "an answer that cannot say" : res.error);
	}
	(void)s;
	evo_find_result_free(&res);
}

static int give_back(struct sender *s, struct strbuf *back)
{
	const char *p[1];
	long rc;

	if (!back->len)
		return 0;
	p[0] = pga_end(back);
	rc = db_exec(s->ctx->db, "SELECT chipctl_give_back(p_msgs => $1::bigint[])", 1, p);
	return rc < 0 ? -1 : 0;
}

int reconcile_batch(struct sender *s, struct record *rec, struct outbound *msgs, int n)
{
	const struct config *cfg = &s->ctx->cfg;
	struct strbuf back = STRBUF_INIT;
	struct verdict *v;
	struct lookup *lk;
	long long now = (long long)time(NULL);
	int i, asked = 0, rc;

	for (i = 0; i < n; i++)
		if (msgs[i].envio_chip[0] && msgs[i].pr.walk == WALK_SELECT)
			break;
	if (i == n)
		return 0;
	v = xmalloc(sizeof(*v) * (size_t)n);
	lk = xmalloc(sizeof(*lk) * 2 * (size_t)n);
	memset(v, 0, sizeof(*v) * (size_t)n);
	if (s->evo_keeps < 0 && (s->evo_keeps = evo_history_check(s->ctx, s->http,
							EVO_HISTORY_MAX_AGE_S)) == -2) {
		s->evo_keeps = -1;
		free(v);
		free(lk);
		sb_free(&back);
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct outbound *m = &msgs[i];

		v[i].worst = EVO_NOT_FOUND;
		if (!m->envio_chip[0] || m->pr.walk != WALK_SELECT)
			continue;
		if (strcmp(m->envio_provider, "evolution"))
			send_again(s, m, &back, "Z-API offers no lookup of what it sent", 1);
		else if (s->evo_keeps == 0)
			send_again(s, m, &back, "the Evolution server keeps no messages", 1);
		else if (ask(s, msgs, i, v, lk, now) == 0)
			asked++;
		else
			send_again(s, m, &back, "its number cannot be looked up", 1);
	}
	while (http_multi_in_flight(s->multi) > 0) {
		struct http_response resp;
		void *tag;

		if (http_multi_wait(s->multi, 100) < 0) {
			sender_multi_reset(s);	/* what was asked is lost: unsure */
			break;
		}
		while (http_multi_next(s->multi, &tag, &resp) == 1) {
			answer(s, msgs, v, tag, &resp);
			http_response_free(&resp);
		}
	}
	for (i = 0; i < n; i++) {
		struct outbound *m = &msgs[i];

		if (!v[i].asked)
			continue;
		if (v[i].found)
			found(s, rec, m, v[i].key_id);
		else if (v[i].answered == v[i].asked && v[i].worst == EVO_NOT_FOUND)
			send_again(s, m, &back, "", 0);
		else if (now - m->envio_start >= cfg->send_lookup_max_wait_s)
			send_again(s, m, &back, m->pr.last_error[0] ? m->pr.last_error :
				   "the lookup keeps failing", 1);
		else
			wait_for_lookup(s, m, m->pr.last_error[0] ? m->pr.last_error :
					"no answer");
	}
	free(v);
	free(lk);
	rc = give_back(s, &back);
	sb_free(&back);
	return rc < 0 ? -1 : asked;
}
