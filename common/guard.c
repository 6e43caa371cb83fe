#include "guard.h"
#include "ctx.h"
#include "db.h"
#include "log.h"
#include "pgarray.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void held_back(struct sender *s, struct outbound *m, const char *until)
{
	struct finish *f = &m->pr.fin;

	m->pr.walk = WALK_FINISH;
	f->status = "pendente";
	f->reason = "RATE_LIMIT_DOCTOR";
	snprintf(f->next_at, sizeof(f->next_at), "%s", until);
	snprintf(m->pr.last_error, sizeof(m->pr.last_error),
		 "doctor's daily or 7-day limit reached: rescheduled");
	log_info("message rescheduled: doctor's limit reached", "message=%ld", m->id,
		 "until=%s", until);
	s->st.rescheduled++;
}

static void blocked(struct sender *s, struct outbound *m, const char *why)
{
	struct finish *f = &m->pr.fin;

	m->pr.walk = WALK_FINISH;
	f->status = "cancelada";
	f->outcome = "FAILED_GUARDRAIL";
	f->reason = "DOCTOR_BLOCKED";
	snprintf(m->pr.last_error, sizeof(m->pr.last_error), "%s", why);
	log_info("message cancelled: doctor blocked", "message=%ld", m->id, "reason=%s", why);
	s->st.cancelled++;
}

/* A text no provider would take (blank, too long, not UTF-8): the
 * message's own fault, final at once, before any chip is spent on it. */
static int refused_text(struct sender *s, struct outbound *m)
{
	const char *why = validate_message_text(m->conteudo ? m->conteudo : "",
						 m->conteudo ? strlen(m->conteudo) : 0);
	struct finish *f = &m->pr.fin;

	if (!why)
		return 0;
	m->pr.walk = WALK_FINISH;
	f->status = "erro";
	f->outcome = "FAILED_INVALID_MESSAGE";
	f->reason = "INVALID_MESSAGE";
	snprintf(m->pr.last_error, sizeof(m->pr.last_error),
		 "text refused before sending (%s): no provider would take it", why);
	log_warn("message refused before sending: its text", "message=%ld", m->id,
		 "why=%s", why);
	s->st.invalid++;
	return 1;
}

/* The rescue took the message back before the guard saw it (this worker
 * was paused past its heartbeat): nothing more is done with it here. */
static void taken_back(struct sender *s, struct outbound *m)
{
	m->pr.walk = WALK_DONE;
	s->st.not_recorded++;
	log_warn("message no longer claimed by this worker: not sent", "message=%ld", m->id);
}

int guard_batch(struct sender *s, struct outbound *msgs, int n)
{
	const struct config *cfg = &s->ctx->cfg;
	struct strbuf ids = STRBUF_INIT, cli = STRBUF_INIT, w = STRBUF_INIT, ex = STRBUF_INIT,
		      jit = STRBUF_INIT;
	char max[8], cap[8];
	const char *p[9];
	PGresult *res;
	int i, k, guarded = 0, *idx = xmalloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
	int kept = 0;

	for (i = 0; i < n; i++) {
		/* settled already (found sent, or waiting for its lookup) */
		if (msgs[i].pr.walk != WALK_SELECT || refused_text(s, &msgs[i]))
			continue;
		idx[kept++] = i;	/* the arrays' element kept is message i */
		pga_addl(&ids, msgs[i].id);
		pga_add(&cli, msgs[i].cliente);
		pga_addl(&w, msgs[i].type.weight);
		pga_addb(&ex, msgs[i].type.guardrail_exempt);
		pga_addl(&jit, cfg->guardrail_jitter_s > 0 ?
			 rand() % (cfg->guardrail_jitter_s + 1) : 0);
		guarded += !msgs[i].type.guardrail_exempt;
	}
	res = NULL;
	if (guarded) {
		snprintf(max, sizeof(max), "%d", cfg->guardrail_max_per_day);
		snprintf(cap, sizeof(cap), "%d", cfg->guardrail_contact_cap_7d);
		p[0] = pga_end(&cli);
		p[1] = pga_end(&w);
		p[2] = pga_end(&ex);
		p[3] = max;
		p[4] = cap;
		p[5] = cfg->guardrail_timezone;
		p[6] = pga_end(&jit);
		p[7] = pga_end(&ids);
		p[8] = s->worker_id;
		res = db_query(s->ctx->db,
			"SELECT idx, blocked, reserved, until, dia FROM chipctl_guardrail_reserve_batch("
			"p_msgs => $8::bigint[], p_clientes => $1::text[], p_weights => $2::int[],"
			" p_exempt => $3::boolean[], p_max => $4::int, p_cap => $5::int, p_tz => $6,"
			" p_jitter_s => $7::int[], p_worker => $9)",
			9, p);
	}
	sb_free(&ids);
	sb_free(&cli);
	sb_free(&w);
	sb_free(&ex);
	sb_free(&jit);
	if (guarded && !res) {
		free(idx);
		return -1;
	}
	for (i = 0; res && i < PQntuples(res); i++) {
		k = (int)db_long(res, i, 0) - 1;
		if (k < 0 || k >= kept)
			continue;
		k = idx[k];
		if (db_val(res, i, 1))
			blocked(s, &msgs[k], db_val(res, i, 1));
		else if (PQgetvalue(res, i, 2)[0] != 't' && !db_val(res, i, 3))
			taken_back(s, &msgs[k]);
		else if (PQgetvalue(res, i, 2)[0] != 't')
			held_back(s, &msgs[k], PQgetvalue(res, i, 3));
		else
			snprintf(msgs[k].pr.day, sizeof(msgs[k].pr.day), "%s",
				 PQgetvalue(res, i, 4));
	}
	PQclear(res);
	free(idx);
	return 0;
}
