#include "send.h"
#include "alert.h"
#include "breaker.h"
#include "ctx.h"
#include "flight.h"
#include "guard.h"
#include "http.h"
#include "log.h"
#include "provider.h"
#include "reconcile.h"
#include "record.h"
#include "select.h"
#include "trust.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sender_init(struct sender *s, struct chipctl_ctx *ctx, const char *worker_id)
{
	const struct config *cfg = &ctx->cfg;
	long timeout = config_send_timeout_ms(cfg);

	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	snprintf(s->worker_id, sizeof(s->worker_id), "%s", worker_id);
	s->evo_keeps = -1;
	s->http = http_client_new(cfg->evolution_connect_timeout_ms, timeout,
				  (size_t)cfg->http_max_response_bytes);
	return s->http && sender_multi_reset(s) == 0 ? 0 : -1;
}

int sender_multi_reset(struct sender *s)
{
	const struct config *cfg = &s->ctx->cfg;

	http_multi_free(s->multi);
	s->multi = http_multi_new(cfg->evolution_connect_timeout_ms,
				  (size_t)cfg->http_max_response_bytes, cfg->send_max_in_flight, 0);
	return s->multi ? 0 : -1;
}

void sender_free(struct sender *s)
{
	http_client_free(s->http);
	http_multi_free(s->multi);
	s->http = NULL;
	s->multi = NULL;
}

/* base * 2^n, capped, with +-20 % jitter. */
static long backoff_s(int base, int max, int n)
{
	double b = base;
	int i;

	for (i = 0; i < n && b < max; i++)
		b *= 2;
	if (b > max)
		b = max;
	b *= 0.8 + 0.4 * ((double)rand() / RAND_MAX);
	return (long)(b < 1 ? 1 : b);
}

/* No chip takes the message in this batch. Refused by chips, it backs off
 * (send.backoff_*), spending an attempt for each chip that had not refused
 * it before; otherwise it waits for capacity, spending nothing
 * (send.wait_backoff_*). */
static void leave_unsent(struct sender *s, const struct pool *pool, struct outbound *m)
{
	const struct config *cfg = &s->ctx->cfg;
	struct finish *f = &m->pr.fin;

	m->pr.walk = WALK_FINISH;
	f->status = "pendente";
	f->reason = select_wait_reason(s, pool, m);
	f->spent = m->pr.spent;
	f->final_outcome = "FAILED_ALL_CHIPS";
	if (!m->pr.last_error[0])
		snprintf(m->pr.last_error, sizeof(m->pr.last_error),
			 "no chip can take it now (%s)", f->reason);
	if (m->pr.refusals) {
		f->next_in_s = backoff_s(cfg->send_backoff_base_s, cfg->send_backoff_max_s,
					 m->tentativas);
		s->st.rescheduled++;
	} else if (!strcmp(f->reason, "WAIT_PACING")) {
		/* only the chips' pace holds it: due again when the first of
		 * them may send, or at once when another worker holds them (an
		 * attempt is not a wait: no esperas) */
		f->next_in_s = select_pacing_wait(pool);
		s->st.waited++;
		s->paced++;
	} else {
		f->waits = 1;
		f->next_in_s = backoff_s(cfg->send_wait_backoff_s, cfg->send_wait_backoff_max_s,
					 m->esperas);
		s->st.waited++;
	}
	log_info(m->pr.refusals ? "message rescheduled" : "message waits for a chip",
		 "message=%ld", m->id, "reason=%s", f->reason, "in_s=%ld", f->next_in_s,
		 "error=%s", m->pr.last_error);
}

/* Stopping: an unsent message goes back at once. */
static void leave_now(struct outbound *m)
{
	m->pr.walk = WALK_FINISH;
	m->pr.fin.status = "pendente";
	m->pr.fin.spent = m->pr.spent;
	m->pr.fin.final_outcome = "FAILED_ALL_CHIPS";
}

static void unauthorized(struct sender *s, const char *provider, const char *why)
{
	char text[700];

	if (!strcmp(provider, "zapi"))
		s->unauthorized_zapi = 1;
	else
		s->unauthorized_evolution = 1;
	snprintf(text, sizeof(text), "%s refused chipctl's configuration (%s): sending through "
		 "%s is stopped until it is fixed; messages wait in the queue, no chip is "
		 "blamed", provider, why, provider);
	alert_raise(s->ctx, "provider_auth", provider, ALERT_CRITICAL,
		    s->ctx->cfg.alerts_cooldown_s, text);
}

/* An uncertain send: m waits, keeping its chip and start (no attempt
 * spent), for its next claim to look it up. */
static void uncertain(struct sender *s, struct outbound *m, const char *chip_id)
{
	struct finish *f = &m->pr.fin;

	m->pr.walk = WALK_FINISH;
	f->status = "pendente";
	f->reason = "UNCERTAIN_TIMEOUT";
	f->waits = 1;
	f->next_in_s = backoff_s(s->ctx->cfg.send_wait_backoff_s,
				 s->ctx->cfg.send_wait_backoff_max_s, m->esperas);
	snprintf(f->uncertain_chip, sizeof(f->uncertain_chip), "%s", chip_id);
	s->st.uncertain++;
}

void send_lost(struct sender *s, struct pool *pool, struct outbound *m)
{
	snprintf(m->pr.last_error, sizeof(m->pr.last_error),
		 "the HTTP client failed while the send was in flight");
	uncertain(s, m, pool->c[m->pr.chip].id);
	m->pr.chip = -1;
}

/* What follows a failed send, by whose fault it was. chip_out: the chip
 * can no longer send (cooled off, session down); opened: the breakers the
 * failure opened (BREAKER_*_OPENED). */
static void after_failure(struct sender *s, struct pool *pool, struct outbound *m,
			  struct pool_chip *c, const struct send_result *r, int chip_out,
			  int opened, struct strbuf *urgent)
{
	struct finish *f = &m->pr.fin;

	snprintf(m->pr.last_error, sizeof(m->pr.last_error), "%s via %s", r->error, c->instance);
	m->pr.chip = -1;
	if (m->pr.tried.len)
		sb_addc(&m->pr.tried, ',');
	sb_add(&m->pr.tried, c->id);
	if (opened & BREAKER_CHIP_OPENED)
		c->bad = 1;
	if (opened & BREAKER_PROVIDER_OPENED)
		pool->down[select_provider_index(c->provider)] = 1;
	if (r->uncertain) {
		/* It may have been delivered: never on another chip now. It
		 * keeps its chip and start, and its next claim asks the
		 * provider (reconcile) before anything is sent again. (The
		 * chip stays in use: a run of timeouts opens its breaker.) */
		uncertain(s, m, c->id);
	} else if (fault_outcome(r->fault)) {
		/* the recipient's or the message's: final, no chip pays */
		m->pr.walk = WALK_FINISH;
		f->status = "erro";
		f->outcome = fault_outcome(r->fault);
		f->reason = fault_reason_code(r->fault);
		s->st.invalid++;
	} else if (r->fault == FAULT_CHIP) {
		/* Refused: the next chip. Only a chip that never refused it
		 * before spends an attempt; a probe's refusal spends none. */
		if (chip_out)
			c->bad = 1;
		m->pr.refusals++;
		if (!m->pr.probe && !strstr(sb_str(&m->refused), c->id)) {
			m->pr.spent++;
			if (m->refused.len)
				sb_addc(&m->refused, ',');
			sb_add(&m->refused, c->id);
		}
		if (r->meaning == WA_RESTRICTED && !strstr(sb_str(urgent), c->id))
			sb_addf(urgent, "%s%s", urgent->len ? "," : "", c->id);
		m->pr.walk = WALK_SELECT;
	} else {
		/* The provider's fault: no attempt spent; another chip may take
		 * it (the other provider's, once this one's breaker is open). */
		if (provider_refused_key(r)) {
			char why[sizeof(r->error) + 100];

			snprintf(why, sizeof(why), "%s: %s", r->why, r->error);
			unauthorized(s, c->provider, why);
			m->pr.wait_hint = "WAIT_PROVIDER_AUTH";
		} else {
			m->pr.wait_hint = "WAIT_PROVIDER_DOWN";
		}
		m->pr.walk = WALK_SELECT;
	}
	m->pr.probe = 0;
	if (m->pr.walk == WALK_SELECT && m->pr.sends >= s->ctx->cfg.send_max_chips)
		leave_unsent(s, pool, m);
}

/* A probe went through: written at once, which closes its breakers for
 * every worker, and the rest of the batch may use the chip (and its
 * provider) again. */
static int probe_passed(struct sender *s, struct pool *pool, struct record *rec,
			struct pool_chip *c)
{
	int k;

	if (record_flush(s, rec) < 0)
		return -1;
	if (c->provider_probe)
		for (k = 0; k < pool->n; k++)
			if (!strcmp(pool->c[k].provider, c->provider))
				pool->c[k].provider_probe = 0;
	pool->probe_taken[select_provider_index(c->provider)] = 0;
	c->chip_probe = c->probe_taken = c->dirty = 0;
	return 0;
}

int send_answer(struct sender *s, struct pool *pool, struct record *rec,
		struct outbound *m, const struct send_result *r, struct strbuf *urgent)
{
	struct pool_chip *c = &pool->c[m->pr.chip];
	int out, opened;

	if (r->fault == FAULT_NONE) {
		m->pr.walk = WALK_SENT;
		if (record_success(s, rec, m, c, r) < 0)
			return -1;
		if (m->pr.probe)
			return probe_passed(s, pool, rec, c);
		return 0;
	}
	log_info("send attempt failed", "message=%ld", m->id, "chip=%s", c->instance,
		 "provider=%s", c->provider, "class=%s", http_class_name(r->cls),
		 "status=%ld", r->status, "meaning=%s", wa_meaning_name(r->meaning),
		 "fault=%s", fault_name(r->fault), "why=%s", r->why, "error=%s", r->error);
	if ((out = record_failure(s, m, c, r)) < 0 ||
	    (opened = breaker_after_failure(s, c->id, c->provider, c->instance, r)) < 0)
		return -1;
	after_failure(s, pool, m, c, r, out, opened, urgent);
	return 0;
}

int sender_batch_over(const struct sender *s, volatile int *stop)
{
	return (stop && *stop) || mono_now() >= s->deadline;
}

/* The messages whose chip another worker took at reservation leave the
 * batch now, due at once, for a worker that holds a free chip: piled onto
 * the chips this batch holds they would wait behind its sends. */
static int bounce(struct sender *s, struct pool *pool, struct outbound *msgs, int n)
{
	int i, count = 0;

	for (i = 0; i < n; i++)
		if (msgs[i].pr.bounced && msgs[i].pr.walk == WALK_SELECT) {
			leave_unsent(s, pool, &msgs[i]);
			count++;
		}
	return count ? record_finish(s, msgs, n) : 0;
}

/* One round: a chip for every message that needs one, the sends reserved,
 * then all of them in flight at once (flight). Returns how many were
 * assigned, or -1. */
static int round_of(struct sender *s, struct pool *pool, struct record *rec,
		    struct outbound *msgs, int *n, volatile int *stop, struct strbuf *urgent)
{
	int assigned = select_assign(s, pool, msgs, *n, 1);

	if (assigned == 0)
		return 0;
	if (select_reserve(s, pool, msgs, *n) < 0 || bounce(s, pool, msgs, *n) < 0 ||
	    flight_round(s, pool, rec, msgs, n, stop, urgent) < 0)
		return -1;
	return assigned;
}

int sender_topup(struct sender *s, struct pool *pool, struct outbound *msgs, int *n,
		 long want)
{
	struct outbound *more = msgs + *n;
	int got = claim_more(s, msgs, *n, want);

	if (got <= 0)
		return got;
	*n += got;
	/* the walk of a batch's opening, for these alone (no uncertain send
	 * among them: nothing to look up) */
	if (guard_batch(s, more, got) < 0 || select_refresh(s, pool, more, got) < 0)
		return -1;
	if (select_assign(s, pool, more, got, 0) > 0 &&
	    (select_reserve(s, pool, more, got) < 0 || bounce(s, pool, more, got) < 0))
		return -1;
	return got;
}

/* A 403 is a critical event (T07.4): the chip's trust now, not in 15 minutes. */
static void urgent_trust(struct sender *s, const char *ids)
{
	char id[40];

	while (*ids) {
		size_t k = strcspn(ids, ",");
		struct trust_run run;

		snprintf(id, sizeof(id), "%.*s", (int)k, ids);
		memset(&run, 0, sizeof(run));
		if (trust_recalc(s->ctx, id, "send: 403", &run))
			log_warn("urgent trust recomputation failed", "chip=%s", id);
		ids += k + (ids[k] == ',');
	}
}

int sender_process_batch(struct sender *s, struct outbound *msgs, int *np,
			 volatile int *stop)
{
	int n = *np;
	struct strbuf urgent = STRBUF_INIT;
	struct record rec;
	struct pool pool;
	int i, round, rc = 0;
	double t0 = mono_now(), t_ready, t_sent;

	s->deadline = mono_now() + 2.0 * s->ctx->cfg.send_batch_seconds;
	s->given_back = 0;
	s->reached = 0;
	s->paced = 0;
	record_init(&rec);
	/* uncertain sends first: found ones are sent, the others are decided
	 * before the guard counts them */
	if (reconcile_batch(s, &rec, msgs, n) < 0 || guard_batch(s, msgs, n) < 0 ||
	    select_load(s, msgs, n, &pool) < 0) {
		record_flush(s, &rec);
		record_free(&rec);
		return -1;
	}
	t_ready = mono_now();
	for (round = 0; round < s->ctx->cfg.send_max_chips + 3; round++) {
		if (sender_batch_over(s, stop))
			break;
		rc = round_of(s, &pool, &rec, msgs, np, stop, &urgent);
		n = *np;
		if (rc <= 0)
			break;
	}
	rc = rc < 0 ? -1 : 0;
	s->crowded = select_crowded(&pool);
	t_sent = mono_now();
	for (i = 0; i < n; i++) {
		struct outbound *m = &msgs[i];

		if (m->pr.sends > 0 || m->pr.walk == WALK_SENT)
			s->reached++;
		if (m->pr.walk == WALK_ASSIGNED)
			select_unassign(m);
		if (m->pr.walk == WALK_SELECT) {
			if (sender_batch_over(s, stop)) {
				leave_now(m);
				s->given_back++;
			} else {
				leave_unsent(s, &pool, m);
			}
		}
	}
	if (s->given_back && !(stop && *stop))
		log_info("batch deadline passed: the rest goes back to the queue",
			 "given_back=%d", s->given_back, "of=%d", n,
			 "batch_seconds=%d", s->ctx->cfg.send_batch_seconds);
	/* What was sent is written even after an error: a sent message left
	 * 'processando' would be sent again after the rescue. */
	if (record_flush(s, &rec) < 0)
		rc = -1;
	/* chips that send back to back stay this worker's while it claims
	 * again at once (the queue not dry): no other worker takes them up
	 * in between only to find the messages gone */
	if (rc == 0 && (record_finish(s, msgs, n) < 0 ||
			select_release(s, &pool, s->ctx->cfg.send_chip_gap_s == 0 && s->reached > 0 &&
					   !s->queue_dry &&
					   !(stop && *stop) && !s->given_back) < 0))
		rc = -1;
	if (rc == 0 && urgent.len)
		urgent_trust(s, sb_str(&urgent));
	log_debug("batch walked", "messages=%d", n, "rounds=%d", round,
		  "prepare_ms=%.1f", (t_ready - t0) * 1000, "send_ms=%.1f", (t_sent - t_ready) * 1000,
		  "record_ms=%.1f", (mono_now() - t_sent) * 1000);
	sb_free(&urgent);
	record_free(&rec);
	select_free(&pool);
	return rc;
}
