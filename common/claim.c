#include "claim.h"
#include "ctx.h"
#include "db.h"
#include "log.h"
#include "select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char claim_sql[] =
	"WITH c AS ("
	"  SELECT id FROM fila_mensagens"
	"  WHERE status = 'pendente' AND agendar_para <= now()"
	/* a top-up takes no uncertain send: those are looked up first,
	 * when a batch opens (reconcile) */
	"    AND ($3::boolean OR envio_chip_id IS NULL)"
	"  ORDER BY prioridade, agendar_para, id"
	"  LIMIT $1::int FOR UPDATE SKIP LOCKED)"
	" UPDATE fila_mensagens f SET status = 'processando', processando_desde = now(),"
	"   worker_id = $2, updated_at = now()"
	" WHERE f.id = ANY (ARRAY (SELECT id FROM c))"
	" RETURNING f.id, f.cliente_id, f.telefone, f.conteudo, f.tipo, f.tentativas,"
	"   f.max_tentativas, f.correlation_id, f.envio_chip_id,"
	"   f.esperas,"
	"   (SELECT string_agg(DISTINCT a.chip_id::text, ',') FROM send_attempts a"
	"    WHERE a.message_id = f.id AND a.fault = 'chip'),"
	"   (SELECT k.instance_name FROM chips k WHERE k.id = f.envio_chip_id),"
	"   (SELECT k.provider FROM chips k WHERE k.id = f.envio_chip_id),"
	"   floor(extract(epoch FROM f.envio_iniciado_em))::bigint";

int claim_heartbeat(struct sender *s)
{
	char host[256] = "", pid[16], sent[24], failed[24];
	const char *p[6];

	gethostname(host, sizeof(host) - 1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	snprintf(sent, sizeof(sent), "%ld", s->st.sent);
	snprintf(failed, sizeof(failed), "%ld", s->st.failed);
	p[0] = s->worker_id;
	p[1] = host;
	p[2] = pid;
	p[3] = s->ctx->run_id;
	p[4] = sent;
	p[5] = failed;
	s->beat_at = mono_now();
	return db_exec(s->ctx->db,
		"INSERT INTO worker_heartbeats AS h (worker_id, host, pid, run_id,"
		"  messages_sent, messages_failed)"
		" VALUES ($1, $2, $3::int, $4::uuid, $5::bigint, $6::bigint)"
		" ON CONFLICT (worker_id) DO UPDATE SET last_beat_at = now(),"
		"  host = EXCLUDED.host, pid = EXCLUDED.pid, run_id = EXCLUDED.run_id,"
		"  messages_sent = EXCLUDED.messages_sent,"
		"  messages_failed = EXCLUDED.messages_failed,"
		"  started_at = CASE WHEN h.run_id IS DISTINCT FROM EXCLUDED.run_id"
		"               THEN now() ELSE h.started_at END",
		6, p) < 0 ? -1 : 0;
}

/* A worker's first claim, before it knows its rate: the size batches had
 * before they were paced, or one message per chip that may send now when
 * there are more (claim_plan). */
static int first_claim(const struct config *cfg)
{
	return cfg->send_batch_size < 50 ? cfg->send_batch_size : 50;
}

void claim_first(struct sender *s, int ready_chips)
{
	int want = first_claim(&s->ctx->cfg);

	if (ready_chips > want)
		want = ready_chips;
	if (want > s->ctx->cfg.send_batch_size)
		want = s->ctx->cfg.send_batch_size;
	s->pace = want;
}

void claim_share(struct sender *s, int ready, int busy)
{
	long want = (long)s->pace * ready / (ready + busy > 0 ? ready + busy : 1);

	s->claim_cap = busy > 0 ? (want > ready ? want : ready) : 0;
}

int claim_plan(struct sender *s)
{
	int busy = 0, due = 0, ready;

	s->claim_cap = 0;
	if (s->pace > 0 && !s->crowded)
		return 0;
	if ((ready = select_ready_chips(s, &busy, &due)) < 0)
		return -1;
	if (ready == 0 && busy > 0 && due) {
		log_debug("every chip with room is held by another worker: nothing claimed",
			  "busy=%d", busy);
		return 1;
	}
	if (ready == 0)
		return 0;
	if (s->pace <= 0)
		claim_first(s, ready);
	else
		claim_share(s, ready, busy);
	return 0;
}

/* Claim up to want due messages into dst (room for want). */
static int claim_into(struct sender *s, struct outbound *dst, long want, int uncertain_too)
{
	char limit[16];
	const char *p[3] = { limit, s->worker_id, uncertain_too ? "t" : "f" };
	PGresult *res;
	int i, n;

	snprintf(limit, sizeof(limit), "%ld", want);
	res = db_query(s->ctx->db, claim_sql, 3, p);
	if (!res)
		return -1;
	n = PQntuples(res);
	s->queue_dry = n < want;
	log_debug(uncertain_too ? "batch claimed" : "batch topped up", "asked=%ld", want,
		  "claimed=%d", n);
	for (i = 0; i < n; i++) {
		struct outbound *m = &dst[i];

		memset(m, 0, sizeof(*m));
		m->id = db_long(res, i, 0);
		m->cliente = xstrdup(PQgetvalue(res, i, 1));
		m->telefone = xstrdup(PQgetvalue(res, i, 2));
		m->conteudo = xstrdup(PQgetvalue(res, i, 3));
		snprintf(m->tipo, sizeof(m->tipo), "%s", PQgetvalue(res, i, 4));
		m->type = msgtype_of(&s->ctx->cfg, m->tipo);
		m->tentativas = (int)db_long(res, i, 5);
		m->max_tentativas = (int)db_long(res, i, 6);
		snprintf(m->correlation_id, sizeof(m->correlation_id), "%s",
			 PQgetvalue(res, i, 7));
		snprintf(m->envio_chip, sizeof(m->envio_chip), "%s", PQgetvalue(res, i, 8));
		snprintf(m->envio_instance, sizeof(m->envio_instance), "%s",
			 PQgetvalue(res, i, 11));
		snprintf(m->envio_provider, sizeof(m->envio_provider), "%s",
			 PQgetvalue(res, i, 12));
		m->envio_start = db_long(res, i, 13);
		m->esperas = (int)db_long(res, i, 9);
		m->pr.chip = -1;
		sb_add(&m->refused, PQgetvalue(res, i, 10));
	}
	PQclear(res);
	return n;
}

int claim_batch(struct sender *s, struct outbound **out, long at_most)
{
	const struct config *cfg = &s->ctx->cfg;
	long want = s->pace, cap;
	int n;

	*out = NULL;
	s->batch_cap = 0;
	if (want <= 0)
		want = first_claim(cfg);
	if (s->claim_cap > 0 && s->claim_cap < want)
		want = s->claim_cap;
	if (at_most > 0 && at_most < want)
		want = at_most;
	/* room for top-ups (claim_more) up to send.batch_size, when chips
	 * send back to back (no pacing gap) */
	cap = want;
	if (cfg->send_chip_gap_s == 0 && cfg->send_batch_size > cap)
		cap = cfg->send_batch_size;
	*out = xmalloc(sizeof(**out) * (size_t)cap);
	n = claim_into(s, *out, want, 1);
	if (n <= 0) {
		free(*out);
		*out = NULL;
		return n;
	}
	s->batch_cap = (int)cap;
	s->claim_left = at_most > 0 ? at_most - n : -1;
	return n;
}

int claim_more(struct sender *s, struct outbound *msgs, int n, long want)
{
	int got;

	if (want > s->batch_cap - n)
		want = s->batch_cap - n;
	if (s->claim_left >= 0 && want > s->claim_left)
		want = s->claim_left;
	if (want <= 0)
		return 0;
	got = claim_into(s, msgs + n, want, 0);
	if (got > 0 && s->claim_left >= 0)
		s->claim_left -= got;
	return got;
}

void claim_free(struct outbound *msgs, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		free(msgs[i].cliente);
		free(msgs[i].telefone);
		free(msgs[i].conteudo);
		sb_free(&msgs[i].pr.tried);
		sb_free(&msgs[i].refused);
	}
	free(msgs);
}

void claim_pace(struct sender *s, int handled, double seconds)
{
	const struct config *cfg = &s->ctx->cfg;
	double want, cur = s->pace > 0 ? s->pace : first_claim(cfg);

	if (handled > cur)	/* topped up in flight: what it carried, not its claim */
		cur = handled;

	if (handled <= 0)	/* all given back: no rate, but too many */
		want = cur / 4;
	else
		want = handled / (seconds > 0.001 ? seconds : 0.001) * cfg->send_batch_seconds;
	if (want > 16 * cur)
		want = 16 * cur;
	if (want > cfg->send_batch_size)
		want = cfg->send_batch_size;
	s->pace = want < 1 ? 1 : (int)(want + 0.5);
}
