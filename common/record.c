#include "record.h"
#include "alert.h"
#include "ctx.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "pgarray.h"
#include "provider.h"
#include "select.h"

#include <stdio.h>
#include <string.h>

/* The arrays of chipctl_record_sends, in its order. */
enum { R_MSG, R_CHIP, R_ATTEMPT, R_STATUS, R_LATENCY, R_PMSG, R_NOTE, R_MODE, R_CAND,
       R_THR };

void record_init(struct record *rec)
{
	memset(rec, 0, sizeof(*rec));
}

void record_free(struct record *rec)
{
	int j;

	for (j = 0; j < RECORD_ARRAYS; j++)
		sb_free(&rec->a[j]);
	sb_free(&rec->resets);
	rec->count = 0;
}

static const char *mode_of(const struct sender *s, const struct outbound *m)
{
	return !s->ctx->cfg.send_multi_chip ? "single" : m->pr.normal ? "normal" : "fallback";
}

/* A breaker key of chipctl_breaker_success, once in the batch's list. */
static void reset_key(struct strbuf *keys, const char *kind, const char *name)
{
	char key[80];

	snprintf(key, sizeof(key), "%s:%s", kind, name);
	if (!strstr(sb_str(keys), key))
		pga_add(keys, key);
}

void record_sent(struct sender *s, struct record *rec, const struct outbound *m,
		 const char *chip_id, const char *provider, int dirty,
		 const struct send_result *r, const char *note)
{
	if (rec->count == 0)
		rec->since = mono_now();
	pga_addl(&rec->a[R_MSG], m->id);
	pga_add(&rec->a[R_CHIP], chip_id);
	pga_addl(&rec->a[R_ATTEMPT], m->pr.sends);
	pga_addl(&rec->a[R_STATUS], r->status);
	pga_addl(&rec->a[R_LATENCY], (long)r->latency_ms);
	pga_add(&rec->a[R_PMSG], r->message_id);
	pga_add(&rec->a[R_NOTE], note ? note : r->error);
	pga_add(&rec->a[R_MODE], mode_of(s, m));
	pga_addl(&rec->a[R_CAND], m->pr.candidates);
	pga_addl(&rec->a[R_THR], m->pr.threshold);
	if (dirty) {
		reset_key(&rec->resets, "chip", chip_id);
		reset_key(&rec->resets, "provider", provider);
	}
	rec->count++;
	s->st.sent++;
	if (!m->pr.normal && s->ctx->cfg.send_multi_chip)
		s->st.fallback++;
	if (r->error[0])
		log_warn("provider accepted the message with an unreadable answer",
			 "message=%ld", m->id, "chip=%s", chip_id, "detail=%s", r->error);
	log_debug("message sent", "message=%ld", m->id, "chip=%s", chip_id,
		  "provider=%s", provider, "latency_ms=%.1f", r->latency_ms,
		  "correlation=%s", m->correlation_id);
}

int record_success(struct sender *s, struct record *rec, const struct outbound *m,
		   const struct pool_chip *c, const struct send_result *r)
{
	record_sent(s, rec, m, c->id, c->provider, c->dirty, r, NULL);
	return 0;
}

int record_due(const struct record *rec)
{
	return rec->count >= RECORD_FLUSH_COUNT ||
	       (rec->count > 0 && mono_now() - rec->since >= RECORD_FLUSH_S);
}

static const char record_sql[] =
	"SELECT id, recorded FROM chipctl_record_sends(p_msgs => $1::bigint[],"
	" p_chips => $2::uuid[], p_attempts => $3::int[], p_status => $4::int[],"
	" p_latency => $5::int[], p_provider_msgs => $6::text[], p_notes => $7::text[],"
	" p_modes => $8::text[], p_candidates => $9::int[], p_thresholds => $10::int[],"
	" p_worker => $11, p_run => $12::uuid, p_base_backoff => $13::int,"
	" p_reset_keys => $14::text[])";

/* The statement's parameters, from the waiting successes. */
static void params_of(struct sender *s, struct record *rec, const char **p, char *base,
		      size_t basesz)
{
	int j;

	snprintf(base, basesz, "%d", s->ctx->cfg.breaker_backoff_s);
	for (j = 0; j < RECORD_ARRAYS; j++)
		p[j] = pga_end(&rec->a[j]);
	p[RECORD_ARRAYS] = s->worker_id;
	p[RECORD_ARRAYS + 1] = s->ctx->run_id;
	p[RECORD_ARRAYS + 2] = base;
	p[RECORD_ARRAYS + 3] = rec->resets.len ? pga_end(&rec->resets) : NULL;
}

/* What the write said of each message: a sent message the rescue took
 * back meanwhile is left as the rescue set it. */
static void recorded(void *arg, const PGresult *res)
{
	struct sender *s = arg;
	int i;

	for (i = 0; i < PQntuples(res); i++) {
		if (PQgetvalue(res, i, 1)[0] == 't')
			continue;
		s->st.not_recorded++;
		log_warn("message sent, but it was no longer claimed by this worker: "
			 "its state is left as the rescue set it", "message=%s",
			 PQgetvalue(res, i, 0));
	}
}

int record_flush(struct sender *s, struct record *rec)
{
	char base[16];
	const char *p[RECORD_ARRAYS + 4];
	PGresult *res;

	if (rec->count == 0)
		return 0;
	params_of(s, rec, p, base, sizeof(base));
	res = db_query(s->ctx->db, record_sql, RECORD_ARRAYS + 4, p);
	record_free(rec);
	if (!res)
		return -1;
	recorded(s, res);
	PQclear(res);
	return 0;
}

int record_flush_async(struct sender *s, struct record *rec)
{
	char base[16];
	const char *p[RECORD_ARRAYS + 4];
	int rc;

	if (rec->count == 0)
		return 0;
	params_of(s, rec, p, base, sizeof(base));
	rc = db_pipeline_enter(s->ctx->db, recorded, s) < 0 ||
	     db_pipeline_send(s->ctx->db, record_sql, RECORD_ARRAYS + 4, p) < 0 ? -1 : 0;
	record_free(rec);
	return rc;
}

/* How long a chip's own fault cools it off. */
static int cooldown_for(const struct config *cfg, const struct send_result *r)
{
	int cd;

	if (r->meaning == WA_RATE_LIMIT)
		cd = cfg->cooldown_429_s;
	else if (r->status == 400)
		cd = cfg->cooldown_400_s;
	else if (r->meaning == WA_RESTRICTED)
		cd = cfg->cooldown_403_s;
	else
		cd = cfg->cooldown_other_s;
	return r->retry_after_s > cd ? (int)r->retry_after_s : cd;
}

int record_failure(struct sender *s, const struct outbound *m, const struct pool_chip *c,
		   const struct send_result *r)
{
	const struct config *cfg = &s->ctx->cfg;
	char id[24], att[8], status[8], lat[16], cand[8], thr[8], cd[16];
	const char *p[20];
	int secs = cooldown_for(cfg, r);
	int closed = provider_chip_disconnected(r);

	snprintf(id, sizeof(id), "%ld", m->id);
	snprintf(att, sizeof(att), "%d", m->pr.sends);
	snprintf(status, sizeof(status), "%ld", r->status);
	snprintf(lat, sizeof(lat), "%d", (int)r->latency_ms);
	snprintf(cand, sizeof(cand), "%d", m->pr.candidates);
	snprintf(thr, sizeof(thr), "%d", m->pr.threshold);
	snprintf(cd, sizeof(cd), "%d", secs);
	p[0] = id;
	p[1] = c->id;
	p[2] = c->provider;
	p[3] = att;
	p[4] = status;
	p[5] = lat;
	p[6] = http_class_name(r->cls);
	p[7] = fault_name(r->fault);
	p[8] = r->uncertain ? "t" : "f";
	p[9] = r->error;
	p[10] = m->correlation_id;
	p[11] = s->worker_id;
	p[12] = s->ctx->run_id;
	p[13] = m->tipo;
	p[14] = mode_of(s, m);
	p[15] = cand;
	p[16] = thr;
	p[17] = closed ? "t" : "f";
	p[18] = cd;
	p[19] = r->why;
	if (db_exec(s->ctx->db,
		    "SELECT chipctl_record_failure(p_msg => $1::bigint, p_chip => $2::uuid,"
		    " p_provider => $3, p_attempt => $4::int, p_status => $5::int,"
		    " p_latency => $6::int, p_result => $7, p_fault => $8,"
		    " p_uncertain => $9::boolean, p_error => $10, p_correlation => $11::uuid,"
		    " p_worker => $12, p_run => $13::uuid, p_tipo => $14, p_mode => $15,"
		    " p_candidates => $16::int, p_threshold => $17::int,"
		    " p_disconnected => $18::boolean, p_cooldown_s => $19::int,"
		    " p_blame => $20)", 20, p) < 0)
		return -1;
	if (r->fault != FAULT_CHIP || r->uncertain)
		return 0;
	if (r->meaning == WA_RESTRICTED || r->meaning == WA_RATE_LIMIT) {
		char text[512];

		snprintf(text, sizeof(text), "chip %s restricted by WhatsApp (%s): cooled off for "
			 "%d s, traffic moves to other chips", c->instance, r->error, secs);
		alert_raise(s->ctx, "chip_restricted", c->instance, ALERT_WARNING,
			    cfg->alerts_cooldown_s, text);
	}
	if (!closed && secs <= 0)
		return 0;	/* cooldowns configured off: its breaker decides */
	log_warn(closed ? "chip session or instance down: marked disconnected" : "chip cooled off",
		 "chip=%s", c->instance, "cooldown_s=%d", closed ? 0 : secs, "error=%s", r->error,
		 "why=%s", r->why);
	return 1;
}

/* The arrays of chipctl_finish_batch, in its order. */
enum { F_MSG, F_STATUS, F_OUTCOME, F_FINAL, F_REASON, F_ERROR, F_NEXT_IN, F_NEXT_AT,
       F_SPENT, F_WAITS, F_UCHIP, F_CLI, F_DAY, F_WEIGHT, F_N };

static void finished(struct sender *s, const struct outbound *m, const char *status,
		     const char *outcome)
{
	char text[600];

	if (!strcmp(status, "pendente"))
		return;
	if (!strcmp(status, "erro") && outcome && strcmp(outcome, "FAILED_INVALID_NUMBER")) {
		s->st.failed++;
		snprintf(text, sizeof(text), "message %ld to %s failed for good with %s: %s",
			 m->id, m->cliente, outcome, m->pr.last_error);
		alert_raise(s->ctx, "message_failed", NULL, ALERT_CRITICAL,
			    s->ctx->cfg.alerts_cooldown_s, text);
		log_warn("message failed", "message=%ld", m->id, "outcome=%s", outcome,
			 "error=%s", m->pr.last_error);
	} else if (outcome && !strcmp(outcome, "FAILED_EXPIRED")) {
		s->st.cancelled++;
		log_warn("message expired waiting for a chip", "message=%ld", m->id,
			 "error=%s", m->pr.last_error);
	}
}

int record_finish(struct sender *s, struct outbound *msgs, int n)
{
	struct strbuf a[F_N];
	const char *p[F_N + 2];
	char hours[16];
	PGresult *res;
	int i, j, count = 0;

	memset(a, 0, sizeof(a));
	for (i = 0; i < n; i++) {
		const struct outbound *m = &msgs[i];
		const struct finish *f = &m->pr.fin;

		if (m->pr.walk != WALK_FINISH)
			continue;
		count++;
		pga_addl(&a[F_MSG], m->id);
		pga_add(&a[F_STATUS], f->status);
		pga_add(&a[F_OUTCOME], f->outcome);
		pga_add(&a[F_FINAL], f->final_outcome);
		pga_add(&a[F_REASON], f->reason);
		pga_add(&a[F_ERROR], m->pr.last_error[0] ? m->pr.last_error : NULL);
		pga_addl(&a[F_NEXT_IN], f->next_in_s);
		pga_add(&a[F_NEXT_AT], f->next_at[0] ? f->next_at : NULL);
		pga_addl(&a[F_SPENT], f->spent);
		pga_addb(&a[F_WAITS], f->waits);
		pga_add(&a[F_UCHIP], f->uncertain_chip[0] ? f->uncertain_chip : NULL);
		pga_add(&a[F_CLI], m->cliente);
		pga_add(&a[F_DAY], m->pr.day[0] ? m->pr.day : NULL);
		pga_addl(&a[F_WEIGHT], m->type.weight);
	}
	if (!count)
		return 0;
	for (j = 0; j < F_N; j++)
		p[j] = pga_end(&a[j]);
	snprintf(hours, sizeof(hours), "%d", s->ctx->cfg.queue_expire_hours);
	p[F_N] = s->worker_id;
	p[F_N + 1] = hours;
	res = db_query(s->ctx->db,
		"SELECT id, recorded, status, outcome FROM chipctl_finish_batch("
		"p_msgs => $1::bigint[], p_status => $2::text[], p_outcomes => $3::text[],"
		" p_final_outcomes => $4::text[], p_reasons => $5::text[], p_errors => $6::text[],"
		" p_next_in_s => $7::int[], p_next_at => $8::timestamptz[], p_spent => $9::int[],"
		" p_waits => $10::boolean[], p_uncertain_chips => $11::uuid[],"
		" p_clientes => $12::text[], p_release_days => $13::date[],"
		" p_weights => $14::int[], p_worker => $15, p_expire_hours => $16::int)",
		F_N + 2, p);
	for (j = 0; j < F_N; j++)
		sb_free(&a[j]);
	if (!res)
		return -1;
	for (j = 0; j < PQntuples(res); j++) {
		long id = db_long(res, j, 0);

		for (i = 0; i < n; i++) {
			struct outbound *m = &msgs[i];

			if (m->id != id || m->pr.walk != WALK_FINISH)
				continue;
			m->pr.walk = WALK_DONE;
			if (PQgetvalue(res, j, 1)[0] != 't') {
				s->st.not_recorded++;
				log_warn("message no longer claimed by this worker: result not "
					 "written", "message=%ld", id);
				break;
			}
			finished(s, m, PQgetvalue(res, j, 2), db_val(res, j, 3));
			break;
		}
	}
	PQclear(res);
	return 0;
}
