#include "send.h"
#include "alert.h"
#include "ctx.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "provider.h"
#include "strbuf.h"
#include "trust.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- claim, heartbeat, release ------------------------------------------ */

static const char claim_sql[] =
	"WITH c AS ("
	"  SELECT id FROM fila_mensagens"
	"  WHERE status = 'pendente' AND agendar_para <= now()"
	"  ORDER BY prioridade, agendar_para, id"
	"  LIMIT $1::int FOR UPDATE SKIP LOCKED)"
	" UPDATE fila_mensagens f SET status = 'processando', processando_desde = now(),"
	"   worker_id = $2, updated_at = now()"
	" WHERE f.id = ANY (ARRAY (SELECT id FROM c))"
	" RETURNING f.id, f.cliente_id, f.telefone, f.conteudo, f.tipo, f.tentativas,"
	"   f.max_tentativas, f.correlation_id,"
	"   CASE WHEN f.outcome_reason_code = 'UNCERTAIN_TIMEOUT' THEN f.chip_id END";

int sender_init(struct sender *s, struct chipctl_ctx *ctx, const char *worker_id)
{
	const struct config *cfg = &ctx->cfg;
	long timeout = cfg->evolution_timeout_ms > cfg->zapi_timeout_ms ?
		       cfg->evolution_timeout_ms : cfg->zapi_timeout_ms;

	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	snprintf(s->worker_id, sizeof(s->worker_id), "%s", worker_id);
	s->http = http_client_new(cfg->evolution_connect_timeout_ms, timeout,
				  (size_t)cfg->http_max_response_bytes);
	return s->http ? 0 : -1;
}

void sender_free(struct sender *s)
{
	http_client_free(s->http);
	s->http = NULL;
}

int sender_heartbeat(struct sender *s)
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

int sender_claim(struct sender *s, struct outbound **out, long at_most)
{
	char limit[16];
	const char *p[2] = { limit, s->worker_id };
	PGresult *res;
	long want = s->ctx->cfg.send_batch_size;
	int i, n;

	*out = NULL;
	if (at_most > 0 && at_most < want)
		want = at_most;
	snprintf(limit, sizeof(limit), "%ld", want);
	res = db_query(s->ctx->db, claim_sql, 2, p);
	if (!res)
		return -1;
	n = PQntuples(res);
	if (n > 0) {
		*out = xmalloc(sizeof(**out) * (size_t)n);
		memset(*out, 0, sizeof(**out) * (size_t)n);
	}
	for (i = 0; i < n; i++) {
		struct outbound *m = &(*out)[i];
		m->id = db_long(res, i, 0);
		m->cliente = xstrdup(PQgetvalue(res, i, 1));
		m->telefone = xstrdup(PQgetvalue(res, i, 2));
		m->conteudo = xstrdup(PQgetvalue(res, i, 3));
		snprintf(m->tipo, sizeof(m->tipo), "%s", PQgetvalue(res, i, 4));
		m->tentativas = (int)db_long(res, i, 5);
		m->max_tentativas = (int)db_long(res, i, 6);
		snprintf(m->correlation_id, sizeof(m->correlation_id), "%s",
			 PQgetvalue(res, i, 7));
		snprintf(m->uncertain_chip, sizeof(m->uncertain_chip), "%s",
			 PQgetvalue(res, i, 8));
	}
	PQclear(res);
	return n;
}

void sender_free_batch(struct outbound *msgs, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		free(msgs[i].cliente);
		free(msgs[i].telefone);
		free(msgs[i].conteudo);
	}
	free(msgs);
}

int sender_release(struct sender *s, struct outbound *msgs, int n)
{
	struct strbuf ids = STRBUF_INIT;
	const char *p[2];
	int i;
	long rc;

	if (n <= 0)
		return 0;
	for (i = 0; i < n; i++)
		sb_addf(&ids, "%s%ld", i ? "," : "{", msgs[i].id);
	sb_addc(&ids, '}');
	p[0] = sb_str(&ids);
	p[1] = s->worker_id;
	rc = db_exec(s->ctx->db,
		"UPDATE fila_mensagens SET status = 'pendente', processando_desde = NULL,"
		"  worker_id = NULL, updated_at = now()"
		" WHERE id = ANY ($1::bigint[]) AND status = 'processando' AND worker_id = $2",
		2, p);
	sb_free(&ids);
	if (rc > 0)
		log_info("released claimed messages", "count=%ld", rc);
	return rc < 0 ? -1 : 0;
}

/* ---- guardrails ----------------------------------------------------------- */

enum guard { GUARD_OK, GUARD_BLOCKED, GUARD_OVER, GUARD_ERROR };

static const char guard_sql[] =
	"SELECT blocked, reserved, until, dia FROM chipctl_guardrail_reserve($1, $2::int,"
	" $3::int, $4::int, $5, $6::int)";

static int weight_of(const struct sender *s, const struct outbound *m)
{
	return !strcmp(m->tipo, "campanha") ? s->ctx->cfg.guardrail_campaign_weight : 1;
}

/* Reserve the message's weight for its doctor today. Replies are exempt: a
 * doctor who wrote to us gets an answer. day receives the reserved day. */
static enum guard guardrail_reserve(struct sender *s, const struct outbound *m,
				    char *day, size_t daysz, char *until, size_t untilsz,
				    char *why, size_t whysz)
{
	const struct config *cfg = &s->ctx->cfg;
	char w[8], max[8], cap[8], jitter[16];
	const char *p[6];
	PGresult *res;
	enum guard g;

	day[0] = until[0] = why[0] = '\0';
	if (!strcmp(m->tipo, "resposta"))
		return GUARD_OK;
	snprintf(w, sizeof(w), "%d", weight_of(s, m));
	snprintf(max, sizeof(max), "%d", cfg->guardrail_max_per_day);
	snprintf(cap, sizeof(cap), "%d", cfg->guardrail_contact_cap_7d);
	snprintf(jitter, sizeof(jitter), "%d", cfg->guardrail_jitter_s > 0 ?
		 rand() % (cfg->guardrail_jitter_s + 1) : 0);
	p[0] = m->cliente;
	p[1] = w;
	p[2] = max;
	p[3] = cap;
	p[4] = cfg->guardrail_timezone;
	p[5] = jitter;
	res = db_query(s->ctx->db, guard_sql, 6, p);
	if (!res)
		return GUARD_ERROR;
	if (db_val(res, 0, 0)) {
		snprintf(why, whysz, "%s", db_val(res, 0, 0));
		g = GUARD_BLOCKED;
	} else if (PQgetvalue(res, 0, 1)[0] == 't') {
		snprintf(day, daysz, "%s", PQgetvalue(res, 0, 3));
		g = GUARD_OK;
	} else {
		snprintf(until, untilsz, "%s", PQgetvalue(res, 0, 2));
		g = GUARD_OVER;
	}
	PQclear(res);
	return g;
}

/* ---- chip selection ------------------------------------------------------- */

struct choice {
	char id[40];
	char instance[160];
	char provider[16];
	char zapi_id[160];
	char zapi_token[256];
	double trust;
	int normal;		/* passed the normal threshold and permission */
	int chip_probe;		/* chip breaker open and due: needs the probe */
	int provider_probe;
	int needs_reset;	/* a breaker is not clean: a success resets it */
	int candidates;
	int normal_candidates;
	int threshold;
};

static const char select_sql[] =
	"SELECT id, instance_name, provider, zapi_instance_id, zapi_token, trust_score,"
	"  normal, cprobe, pprobe, needs_reset, candidates, normal_candidates"
	" FROM chipctl_select_chip($1, $2, $3::uuid[], $4::numeric, $5::numeric,"
	"  $6::boolean, $7, $8, $9::text[])";

static void thresholds(const struct config *cfg, const char *tipo, int *normal,
		       int *fallback)
{
	if (!strcmp(tipo, "prospeccao") || !strcmp(tipo, "campanha")) {
		*normal = cfg->send_min_trust_prospeccao;
		*fallback = cfg->send_fallback_trust_prospeccao;
	} else if (!strcmp(tipo, "followup")) {
		*normal = cfg->send_min_trust_followup;
		*fallback = cfg->send_fallback_trust_followup;
	} else {
		*normal = cfg->send_min_trust_resposta;
		*fallback = cfg->send_fallback_trust_resposta;
	}
}

/* 1 chosen, 0 none, -1 database error. */
static int select_chip(struct sender *s, const struct outbound *m, const char *tried,
		       const char *skip_providers, struct choice *ch)
{
	const struct config *cfg = &s->ctx->cfg;
	char normal[8], fallback[8];
	const char *p[9];
	PGresult *res;
	int n, fb;

	thresholds(cfg, m->tipo, &n, &fb);
	snprintf(normal, sizeof(normal), "%d", n);
	snprintf(fallback, sizeof(fallback), "%d", fb);
	p[0] = m->cliente;
	p[1] = m->tipo;
	p[2] = tried;
	p[3] = normal;
	p[4] = fallback;
	p[5] = cfg->send_multi_chip ? "t" : "f";
	p[6] = cfg->send_default_chip;
	p[7] = m->uncertain_chip;
	p[8] = skip_providers;
	res = db_query(s->ctx->db, select_sql, 9, p);
	if (!res)
		return -1;
	memset(ch, 0, sizeof(*ch));
	if (PQntuples(res) == 0) {
		PQclear(res);
		ch->threshold = n;
		return 0;
	}
	snprintf(ch->id, sizeof(ch->id), "%s", PQgetvalue(res, 0, 0));
	snprintf(ch->instance, sizeof(ch->instance), "%s", PQgetvalue(res, 0, 1));
	snprintf(ch->provider, sizeof(ch->provider), "%s", PQgetvalue(res, 0, 2));
	snprintf(ch->zapi_id, sizeof(ch->zapi_id), "%s", PQgetvalue(res, 0, 3));
	snprintf(ch->zapi_token, sizeof(ch->zapi_token), "%s", PQgetvalue(res, 0, 4));
	ch->trust = atof(PQgetvalue(res, 0, 5));
	ch->normal = PQgetvalue(res, 0, 6)[0] == 't';
	ch->chip_probe = PQgetvalue(res, 0, 7)[0] == 't';
	ch->provider_probe = PQgetvalue(res, 0, 8)[0] == 't';
	ch->needs_reset = PQgetvalue(res, 0, 9)[0] == 't';
	ch->candidates = (int)db_long(res, 0, 10);
	ch->normal_candidates = (int)db_long(res, 0, 11);
	ch->threshold = ch->normal ? n : fb;
	PQclear(res);
	return 1;
}

/* Why no chip could take the message: breakers, or nothing eligible. */
static const char *no_chip_outcome(struct sender *s, const char *tried)
{
	const char *p[1] = { tried };
	PGresult *res = db_query(s->ctx->db,
		"SELECT count(*) FILTER (WHERE cb.state IN ('open', 'half_open')"
		"    OR pb.state IN ('open', 'half_open')), count(*)"
		" FROM chips c"
		" LEFT JOIN circuit_breakers cb ON cb.name = 'chip:' || c.id"
		" LEFT JOIN circuit_breakers pb ON pb.name = 'provider:' || c.provider"
		" WHERE c.status = 'active' AND NOT (c.id = ANY ($1::uuid[]))", 1, p);
	const char *outcome = "FAILED_NO_CHIP";

	if (res && db_long(res, 0, 1) > 0 && db_long(res, 0, 0) == db_long(res, 0, 1))
		outcome = "FAILED_CIRCUIT_OPEN";
	PQclear(res);
	return outcome;
}

/* ---- breakers ------------------------------------------------------------- */

static int take_probe(struct sender *s, const char *name)
{
	char lease[16];
	const char *p[4] = { name, s->worker_id, lease, s->ctx->run_id };
	PGresult *res;
	int won;

	snprintf(lease, sizeof(lease), "%d", s->ctx->cfg.breaker_probe_lease_s);
	res = db_query(s->ctx->db,
		       "SELECT chipctl_breaker_probe($1, $2, $3::int, $4::uuid)", 4, p);
	if (!res)
		return -1;
	won = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (won)
		log_info("breaker half-open: this worker sends the probe", "breaker=%s", name);
	return won;
}

/* A failure through one breaker; raises the alert when it opens. */
static int breaker_failure(struct sender *s, const char *kind, const char *chip_id,
			   const char *provider, const char *instance, int counted,
			   int timeout, const char *why, long retry_after)
{
	const struct config *cfg = &s->ctx->cfg;
	char name[80], c[4], t[4], thr[16], tthr[16], base[16], max[16], ra[16];
	const char *p[13];
	PGresult *res;
	int chip = !strcmp(kind, "chip");

	snprintf(name, sizeof(name), "%s:%s", kind, chip ? chip_id : provider);
	snprintf(c, sizeof(c), "%d", counted);
	snprintf(t, sizeof(t), "%d", timeout);
	snprintf(thr, sizeof(thr), "%d", chip ? cfg->breaker_chip_failures :
		 cfg->breaker_provider_failures);
	snprintf(tthr, sizeof(tthr), "%d", cfg->breaker_timeouts);
	snprintf(base, sizeof(base), "%d", cfg->breaker_backoff_s);
	snprintf(max, sizeof(max), "%d", cfg->breaker_backoff_max_s);
	snprintf(ra, sizeof(ra), "%ld", retry_after > 0 ? retry_after : 0);
	p[0] = name;
	p[1] = kind;
	p[2] = chip ? chip_id : NULL;
	p[3] = c;
	p[4] = t;
	p[5] = why;
	p[6] = s->worker_id;
	p[7] = thr;
	p[8] = tthr;
	p[9] = base;
	p[10] = max;
	p[11] = ra;
	p[12] = s->ctx->run_id;
	res = db_query(s->ctx->db,
		"SELECT from_state, to_state FROM chipctl_breaker_failure($1, $2, $3::uuid,"
		" $4::int, $5::int, $6, $7, $8::int, $9::int, $10::int, $11::int, $12::int,"
		" $13::uuid)", 13, p);
	if (!res)
		return -1;
	if (strcmp(PQgetvalue(res, 0, 0), "open") && !strcmp(PQgetvalue(res, 0, 1), "open")) {
		char text[512];
		log_warn("circuit breaker opened", "breaker=%s", name, "why=%s", why);
		if (chip) {
			snprintf(text, sizeof(text), "chip %s: circuit breaker opened (%s)",
				 instance, why);
			alert_raise(s->ctx, "chip_circuit_open", instance, ALERT_WARNING,
				    cfg->alerts_cooldown_s, text);
		} else {
			snprintf(text, sizeof(text), "provider %s: circuit breaker opened, "
				 "no request is sent through it until a probe succeeds (%s)",
				 provider, why);
			alert_raise(s->ctx, "provider_outage", provider, ALERT_CRITICAL,
				    cfg->alerts_cooldown_s, text);
		}
	}
	PQclear(res);
	return 0;
}

/* ---- recording ------------------------------------------------------------ */

static const char success_sql[] =
	"SELECT chipctl_record_success($1::bigint, $2, $3::uuid, $4, $5::int, $6::int,"
	" $7::int, $8, $9::uuid, $10::uuid, $11, $12, $13::int, $14::int, $15, $16, $17,"
	" $18::boolean, $19::int)";

static int record_success(struct sender *s, const struct outbound *m, const struct choice *ch,
			  const struct send_result *r, int attempt)
{
	char id[24], att[8], status[8], lat[16], cand[8], thr[8];
	char base[16];
	const char *p[19];
	PGresult *res;
	int recorded;

	snprintf(id, sizeof(id), "%ld", m->id);
	snprintf(att, sizeof(att), "%d", attempt);
	snprintf(status, sizeof(status), "%ld", r->status);
	snprintf(lat, sizeof(lat), "%d", (int)r->latency_ms);
	snprintf(cand, sizeof(cand), "%d", ch->candidates);
	snprintf(thr, sizeof(thr), "%d", ch->threshold);
	p[0] = id;
	p[1] = s->worker_id;
	p[2] = ch->id;
	p[3] = ch->provider;
	p[4] = att;
	p[5] = status;
	p[6] = lat;
	p[7] = r->message_id;
	p[8] = m->correlation_id;
	p[9] = s->ctx->run_id;
	p[10] = m->tipo;
	p[11] = !s->ctx->cfg.send_multi_chip ? "single" :
		!ch->normal ? "fallback" : "normal";
	p[12] = cand;
	p[13] = thr;
	p[14] = r->error;
	p[15] = m->cliente;
	p[16] = m->telefone;
	p[17] = ch->needs_reset ? "t" : "f";
	snprintf(base, sizeof(base), "%d", s->ctx->cfg.breaker_backoff_s);
	p[18] = base;
	res = db_query(s->ctx->db, success_sql, 19, p);
	if (!res)
		return -1;
	recorded = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!recorded) {
		s->st.not_recorded++;
		log_warn("message sent, but it was no longer claimed by this worker: "
			 "its state is left as the rescue set it", "message=%ld", m->id,
			 "chip=%s", ch->instance);
	}
	if (r->error[0])
		log_warn("provider accepted the message with an unreadable answer",
			 "message=%ld", m->id, "chip=%s", ch->instance, "detail=%s", r->error);
	log_debug("message sent", "message=%ld", m->id, "chip=%s", ch->instance,
		  "provider=%s", ch->provider, "attempt=%d", attempt,
		  "latency_ms=%.1f", r->latency_ms, "correlation=%s", m->correlation_id);
	s->st.sent++;
	if (!ch->normal && s->ctx->cfg.send_multi_chip)
		s->st.fallback++;
	return 0;
}

/* Whose fault a failure is. */
enum fault { FAULT_NONE, FAULT_CHIP, FAULT_PROVIDER, FAULT_RECIPIENT, FAULT_CONFIG,
	     FAULT_UNCERTAIN };

static enum fault fault_of(const struct send_result *r)
{
	switch (r->cls) {
	case HTTP_OK:
		return FAULT_NONE;
	case HTTP_TIMEOUT:
		return FAULT_UNCERTAIN;
	case HTTP_NETWORK:
		return FAULT_PROVIDER;
	case HTTP_4XX:
		if (r->meaning == WA_UNAUTHORIZED || r->meaning == WA_AUTH_GUARD)
			return FAULT_CONFIG;
		if (r->meaning == WA_NOT_ON_WHATSAPP)
			return FAULT_RECIPIENT;
		return FAULT_CHIP;
	case HTTP_5XX:
		if (r->meaning == WA_CONNECTION_CLOSED || r->meaning == WA_RATE_LIMIT ||
		    strstr(r->error, "Cannot read properties"))
			return FAULT_CHIP;
		return FAULT_PROVIDER;
	}
	return FAULT_PROVIDER;
}

static int cooldown_for(const struct config *cfg, const struct send_result *r,
			long retry_after)
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
	return retry_after > cd ? (int)retry_after : cd;
}

static const char failure_sql[] =
	"SELECT chipctl_record_failure($1::bigint, $2::uuid, $3, $4::int, $5::int, $6::int,"
	" $7, $8::boolean, $9, $10::uuid, $11, $12::uuid, $13, $14, $15::int, $16::int,"
	" $17::boolean, $18::boolean, $19::int)";

/* Record one failed attempt: the attempt, the chip's counters and cooldown
 * (when the chip is at fault), the breakers. */
static int record_failure(struct sender *s, const struct outbound *m, const struct choice *ch,
			  const struct send_result *r, int attempt, enum fault f,
			  long retry_after)
{
	const struct config *cfg = &s->ctx->cfg;
	char id[24], att[8], status[8], lat[16], cand[8], thr[8], cd[16];
	const char *p[19];
	int secs = cooldown_for(cfg, r, retry_after);

	snprintf(id, sizeof(id), "%ld", m->id);
	snprintf(att, sizeof(att), "%d", attempt);
	snprintf(status, sizeof(status), "%ld", r->status);
	snprintf(lat, sizeof(lat), "%d", (int)r->latency_ms);
	snprintf(cand, sizeof(cand), "%d", ch->candidates);
	snprintf(thr, sizeof(thr), "%d", ch->threshold);
	snprintf(cd, sizeof(cd), "%d", secs);
	p[0] = id;
	p[1] = ch->id;
	p[2] = ch->provider;
	p[3] = att;
	p[4] = status;
	p[5] = lat;
	p[6] = http_class_name(r->cls);
	p[7] = f == FAULT_UNCERTAIN ? "t" : "f";
	p[8] = r->error;
	p[9] = m->correlation_id;
	p[10] = s->worker_id;
	p[11] = s->ctx->run_id;
	p[12] = m->tipo;
	p[13] = !cfg->send_multi_chip ? "single" : !ch->normal ? "fallback" : "normal";
	p[14] = cand;
	p[15] = thr;
	p[16] = f == FAULT_CHIP ? "t" : "f";
	p[17] = r->meaning == WA_CONNECTION_CLOSED ? "t" : "f";
	p[18] = cd;
	if (db_exec(s->ctx->db, failure_sql, 19, p) < 0)
		return -1;

	if (f == FAULT_CHIP) {
		char text[512];

		log_warn(r->meaning == WA_CONNECTION_CLOSED ?
			 "chip session closed: marked disconnected" : "chip cooled off",
			 "chip=%s", ch->instance, "cooldown_s=%d", secs, "error=%s", r->error);
		if (r->meaning == WA_RESTRICTED || r->meaning == WA_RATE_LIMIT) {
			snprintf(text, sizeof(text), "chip %s restricted by WhatsApp (%s): "
				 "cooled off for %d s, traffic moves to other chips",
				 ch->instance, r->error, secs);
			alert_raise(s->ctx, "chip_restricted", ch->instance, ALERT_WARNING,
				    cfg->alerts_cooldown_s, text);
		}
		if (r->meaning == WA_RESTRICTED) {
			/* A critical event (T07.4): the chip's trust now, not in
			 * 15 minutes; an alert if it falls to vermelho or critico. */
			struct trust_run run;
			memset(&run, 0, sizeof(run));
			if (trust_recalc(s->ctx, ch->id, "send: 403", &run))
				log_warn("urgent trust recomputation failed", "chip=%s",
					 ch->instance);
		}
		if (breaker_failure(s, "chip", ch->id, ch->provider, ch->instance, 1, 0,
				    r->error, retry_after))
			return -1;
	} else if (f == FAULT_PROVIDER) {
		if (breaker_failure(s, "provider", ch->id, ch->provider, ch->instance, 1, 0,
				    r->error, retry_after))
			return -1;
	} else if (f == FAULT_UNCERTAIN) {
		/* Timeouts do not count, but a run of them opens the breaker. */
		if (breaker_failure(s, "chip", ch->id, ch->provider, ch->instance, 0, 1,
				    r->error, 0) ||
		    breaker_failure(s, "provider", ch->id, ch->provider, ch->instance, 0, 1,
				    r->error, 0))
			return -1;
	}
	return 0;
}

/* The message leaves this worker without being sent: back to 'pendente'
 * (at next_at, or in next_in_s), or to a final state; a guardrail
 * reservation is released. Written only while this worker holds it. */
struct unsent {
	const char *status;		/* pendente, erro or cancelada */
	const char *outcome;		/* NULL while pendente */
	const char *reason_code;
	const char *error;
	long next_in_s;
	const char *next_at;		/* absolute time, or NULL */
	int count_attempt;		/* tentativas + 1? */
	const char *uncertain_chip;	/* retry on this chip */
	const char *release_day;	/* guardrail day to release, or NULL */
};

static int finish_unsent(struct sender *s, const struct outbound *m, const struct unsent *u)
{
	char id[24], next[24], cnt[4], w[8];
	const char *p[13];
	PGresult *res;
	int recorded;

	snprintf(id, sizeof(id), "%ld", m->id);
	snprintf(next, sizeof(next), "%ld", u->next_in_s);
	snprintf(cnt, sizeof(cnt), "%d", u->count_attempt);
	snprintf(w, sizeof(w), "%d", weight_of(s, m));
	p[0] = id;
	p[1] = s->worker_id;
	p[2] = u->status;
	p[3] = u->outcome;
	p[4] = u->reason_code;
	p[5] = u->error;
	p[6] = next;
	p[7] = u->next_at;
	p[8] = cnt;
	p[9] = u->uncertain_chip && *u->uncertain_chip ? u->uncertain_chip : NULL;
	p[10] = m->cliente;
	p[11] = u->release_day && *u->release_day ? u->release_day : NULL;
	p[12] = w;
	res = db_query(s->ctx->db,
		"WITH msg AS ("
		"  UPDATE fila_mensagens SET status = $3, outcome = $4, outcome_reason_code = $5,"
		"    ultimo_erro = $6, tentativas = tentativas + $9::int,"
		"    agendar_para = CASE WHEN $3 = 'pendente'"
		"      THEN coalesce($8::timestamptz, now() + make_interval(secs => $7::int))"
		"      ELSE agendar_para END,"
		"    chip_id = coalesce($10::uuid, chip_id),"
		"    processando_desde = NULL, worker_id = NULL, updated_at = now()"
		"  WHERE id = $1::bigint AND status = 'processando' AND worker_id = $2"
		"  RETURNING id"
		"), rel AS ("
		"  UPDATE guardrail_counters SET used = greatest(used - $13::int, 0)"
		"  WHERE cliente_id = $11 AND dia = $12::date AND $12 IS NOT NULL"
		"  RETURNING 1"
		")"
		" SELECT (SELECT count(*) FROM msg), (SELECT count(*) FROM rel)", 13, p);
	if (!res)
		return -1;
	recorded = db_long(res, 0, 0) == 1;
	PQclear(res);
	if (!recorded) {
		s->st.not_recorded++;
		log_warn("message no longer claimed by this worker: result not written",
			 "message=%ld", m->id);
	}
	return 0;
}

/* Exponential backoff with +-20% jitter: base * 2^tentativas, capped. */
static long backoff_s(const struct config *cfg, int tentativas)
{
	double b = cfg->send_backoff_base_s;
	int i;

	for (i = 0; i < tentativas && b < cfg->send_backoff_max_s; i++)
		b *= 2;
	if (b > cfg->send_backoff_max_s)
		b = cfg->send_backoff_max_s;
	b *= 0.8 + 0.4 * ((double)rand() / RAND_MAX);
	return (long)(b < 1 ? 1 : b);
}

/* Add an element to a PostgreSQL array literal that starts as "{}". */
static void add_id(struct strbuf *set, const char *id)
{
	set->buf[--set->len] = '\0';	/* drop the closing brace */
	if (set->len > 1)
		sb_addc(set, ',');
	sb_add(set, id);
	sb_addc(set, '}');
}

/* ---- one message ---------------------------------------------------------- */

/* Where a message stands on its way through the chips. */
struct progress {
	struct strbuf tried;	/* chips tried, as a PostgreSQL uuid[] literal */
	struct strbuf skip;	/* providers to leave out, as a text[] literal */
	int attempt;		/* chips actually sent through */
	int loops;
	int chips_failed;
	char day[16];		/* the guardrail day reserved, to release */
	char last_error[300];
};

static void progress_init(struct progress *pr, const char *day)
{
	memset(pr, 0, sizeof(*pr));
	sb_add(&pr->tried, "{}");
	sb_add(&pr->skip, "{}");
	snprintf(pr->day, sizeof(pr->day), "%s", day ? day : "");
}

static void progress_free(struct progress *pr)
{
	sb_free(&pr->tried);
	sb_free(&pr->skip);
}

/* Apply the guardrail verdict. Returns 1 when the message is finished
 * (cancelled or rescheduled), 0 to go on and send, -1 on a database error. */
static int apply_guard(struct sender *s, const struct outbound *m, enum guard g,
		       const char *why, const char *until)
{
	struct unsent u;

	memset(&u, 0, sizeof(u));
	if (g == GUARD_BLOCKED) {
		u.status = "cancelada";
		u.outcome = "FAILED_GUARDRAIL";
		u.reason_code = "DOCTOR_BLOCKED";
		u.error = why;
		log_info("message cancelled: doctor blocked", "message=%ld", m->id,
			 "reason=%s", why);
		s->st.cancelled++;
		return finish_unsent(s, m, &u) ? -1 : 1;
	}
	if (g == GUARD_OVER) {
		u.status = "pendente";
		u.reason_code = "RATE_LIMIT_DOCTOR";
		u.error = "doctor's daily or 7-day limit reached: rescheduled";
		u.next_at = until;
		log_info("message rescheduled: doctor's limit reached", "message=%ld", m->id,
			 "until=%s", until);
		s->st.rescheduled++;
		return finish_unsent(s, m, &u) ? -1 : 1;
	}
	return 0;
}

/* After a failed attempt (already recorded): 1 when the message is
 * finished (invalid number, uncertain), 0 to try the next chip. */
static int after_failure(struct sender *s, const struct outbound *m, struct progress *pr,
			 const struct choice *ch, const struct send_result *r, enum fault f)
{
	const struct config *cfg = &s->ctx->cfg;
	struct unsent u;

	memset(&u, 0, sizeof(u));
	snprintf(pr->last_error, sizeof(pr->last_error), "%s via %s", r->error, ch->instance);
	add_id(&pr->tried, ch->id);
	if (f == FAULT_RECIPIENT) {
		u.status = "erro";
		u.outcome = "FAILED_INVALID_NUMBER";
		u.reason_code = "NOT_ON_WHATSAPP";
		u.error = r->error;
		u.count_attempt = 1;
		u.release_day = pr->day;
		s->st.invalid++;
		return finish_unsent(s, m, &u) ? -1 : 1;
	}
	if (f == FAULT_UNCERTAIN) {
		/* It may have been delivered: never at once on another chip;
		 * later, on the same one. */
		u.status = "pendente";
		u.reason_code = "UNCERTAIN_TIMEOUT";
		u.error = pr->last_error;
		u.next_in_s = backoff_s(cfg, m->tentativas);
		u.count_attempt = 1;
		u.uncertain_chip = ch->id;
		u.release_day = pr->day;
		s->st.uncertain++;
		if (m->tentativas + 1 >= m->max_tentativas) {
			u.status = "erro";
			u.outcome = "FAILED_MAX_ATTEMPTS";
		}
		return finish_unsent(s, m, &u) ? -1 : 1;
	}
	if (f == FAULT_CONFIG) {
		char text[400];
		if (!strcmp(ch->provider, "zapi"))
			s->unauthorized_zapi = 1;
		else
			s->unauthorized_evolution = 1;
		snprintf(text, sizeof(text), "%s refused chipctl's credentials (%s): "
			 "sending through %s is stopped until the key is fixed; "
			 "messages wait in the queue", ch->provider, r->error, ch->provider);
		alert_raise(s->ctx, "provider_auth", ch->provider, ALERT_CRITICAL,
			    cfg->alerts_cooldown_s, text);
		pr->attempt--;	/* not the chip's failure */
		return 0;
	}
	pr->chips_failed++;
	return 0;
}

/* One send through a chosen chip, and its recording when it failed.
 * Returns 1 sent (the caller records it), 0 failed and recorded (see
 * *f), -1 database error. */
static int send_via(struct sender *s, const struct outbound *m, const struct choice *ch,
		    struct send_result *r, enum fault *f, int attempt)
{
	struct send_request req;

	memset(&req, 0, sizeof(req));
	req.provider = ch->provider;
	req.instance_name = ch->instance;
	req.zapi_instance_id = ch->zapi_id;
	req.zapi_token = ch->zapi_token;
	req.number = m->telefone;
	req.text = m->conteudo;
	provider_send(s->http, &s->ctx->cfg, &req, r);
	*f = fault_of(r);
	if (*f == FAULT_NONE)
		return 1;
	log_info("send attempt failed", "message=%ld", m->id, "chip=%s", ch->instance,
		 "provider=%s", ch->provider, "class=%s", http_class_name(r->cls),
		 "status=%ld", r->status, "meaning=%s", wa_meaning_name(r->meaning),
		 "error=%s", r->error);
	return record_failure(s, m, ch, r, attempt, *f, r->retry_after_s) ? -1 : 0;
}

/* Probe leases for a chosen chip whose breakers are half-open candidates.
 * 1 go, 0 skip this choice (another worker probes), -1 database error. */
static int take_probes(struct sender *s, struct progress *pr, const struct choice *ch)
{
	char name[64];
	int won;

	if (ch->provider_probe) {
		snprintf(name, sizeof(name), "provider:%s", ch->provider);
		if ((won = take_probe(s, name)) <= 0) {
			if (won == 0)
				add_id(&pr->skip, ch->provider);
			return won;
		}
	}
	if (ch->chip_probe) {
		snprintf(name, sizeof(name), "chip:%s", ch->id);
		if ((won = take_probe(s, name)) <= 0) {
			if (won == 0)
				add_id(&pr->tried, ch->id);
			return won;
		}
	}
	return 1;
}

/* The message could not be sent: back to the queue with backoff, or failed
 * for good with its outcome and an alert. */
static int give_up(struct sender *s, const struct outbound *m, struct progress *pr)
{
	const struct config *cfg = &s->ctx->cfg;
	int config_only = !pr->chips_failed && (s->unauthorized_evolution ||
						s->unauthorized_zapi);
	const char *outcome = pr->chips_failed ? "FAILED_ALL_CHIPS" :
			      config_only ? "FAILED_PROVIDER" :
			      no_chip_outcome(s, sb_str(&pr->tried));
	struct unsent u;
	char text[512];

	memset(&u, 0, sizeof(u));
	if (!pr->chips_failed) {
		char idbuf[24];
		const char *p[4] = { idbuf, m->tipo, pr->last_error, s->worker_id };

		snprintf(pr->last_error, sizeof(pr->last_error), "%s",
			 config_only ? "provider refused the credentials (401, or its auth guard's 403)" :
			 !strcmp(outcome, "FAILED_CIRCUIT_OPEN") ?
			 "no chip available: circuit breakers open" :
			 "no chip available for this message type");
		snprintf(idbuf, sizeof(idbuf), "%ld", m->id);
		if (db_exec(s->ctx->db,
			    "INSERT INTO chip_selection_log (message_id, tipo, chip_id, mode,"
			    " candidates, threshold, reason, worker_id)"
			    " VALUES ($1::bigint, $2, NULL, 'none', 0, 0, $3, $4)", 4, p) < 0)
			return -1;
	}
	u.status = "pendente";
	u.reason_code = pr->chips_failed ? "ALL_CHIPS_FAILED" : "NO_CHIP";
	u.error = pr->last_error;
	u.next_in_s = backoff_s(cfg, m->tentativas);
	u.count_attempt = config_only ? 0 : 1;	/* a refused key is not the message's */
	u.release_day = pr->day;
	if (!config_only && m->tentativas + 1 >= m->max_tentativas) {
		u.status = "erro";
		u.outcome = outcome;
		s->st.failed++;
		snprintf(text, sizeof(text), "message %ld to %s failed for good with %s "
			 "after %d attempt(s): %s", m->id, m->cliente, outcome,
			 m->tentativas + 1, pr->last_error);
		alert_raise(s->ctx, "message_failed", NULL, ALERT_CRITICAL,
			    cfg->alerts_cooldown_s, text);
		log_warn("message failed", "message=%ld", m->id, "outcome=%s", outcome,
			 "error=%s", pr->last_error);
	} else {
		s->st.rescheduled++;
		log_info("message rescheduled", "message=%ld", m->id,
			 "in_s=%ld", u.next_in_s, "error=%s", pr->last_error);
	}
	return finish_unsent(s, m, &u);
}

/* Try chips one by one (select, probe, send) until one takes the message,
 * it is finished otherwise, or the chips run out. */
static int continue_message(struct sender *s, const struct outbound *m, struct progress *pr)
{
	const struct config *cfg = &s->ctx->cfg;

	while (pr->attempt < cfg->send_max_chips && pr->loops++ < cfg->send_max_chips + 10) {
		struct choice ch;
		struct send_result r;
		enum fault f;
		int sel, rc;

		if (s->unauthorized_evolution)
			add_id(&pr->skip, "evolution");
		if (s->unauthorized_zapi)
			add_id(&pr->skip, "zapi");
		sel = select_chip(s, m, sb_str(&pr->tried), sb_str(&pr->skip), &ch);
		if (sel <= 0) {
			if (sel < 0)
				return -1;
			break;
		}
		if ((rc = take_probes(s, pr, &ch)) <= 0) {
			if (rc < 0)
				return -1;
			continue;
		}
		pr->attempt++;
		rc = send_via(s, m, &ch, &r, &f, pr->attempt);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return record_success(s, m, &ch, &r, pr->attempt);
		if ((rc = after_failure(s, m, pr, &ch, &r, f)) != 0)
			return rc < 0 ? -1 : 0;
	}
	return give_up(s, m, pr);
}

int sender_process(struct sender *s, struct outbound *m)
{
	char day[16], until[64], why[256];
	struct progress pr;
	enum guard g;
	int rc;

	g = guardrail_reserve(s, m, day, sizeof(day), until, sizeof(until), why, sizeof(why));
	if (g == GUARD_ERROR)
		return -1;
	if ((rc = apply_guard(s, m, g, why, until)) != 0)
		return rc < 0 ? -1 : 0;
	progress_init(&pr, day);
	rc = continue_message(s, m, &pr);
	progress_free(&pr);
	return rc < 0 ? -1 : 0;
}

/* ---- a whole batch ----------------------------------------------------------- */

/* Arrays for the batch functions, as PostgreSQL array literals. */
static void arr_add(struct strbuf *a, const char *v)
{
	const char *p;

	sb_addc(a, a->len ? ',' : '{');
	if (!v) {
		sb_add(a, "NULL");
		return;
	}
	sb_addc(a, '"');
	for (p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			sb_addc(a, '\\');
		sb_addc(a, *p);
	}
	sb_addc(a, '"');
}

static void arr_addl(struct strbuf *a, long v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%ld", v);
	arr_add(a, buf);
}

static const char *arr_end(struct strbuf *a)
{
	if (!a->len)
		sb_addc(a, '{');
	sb_addc(a, '}');
	return sb_str(a);
}

struct batch_item {
	struct progress pr;
	enum guard g;
	char until[64];
	char why[256];
	int has_choice;
	struct choice ch;
	int done;
};

enum { S_MSG, S_CHIP, S_PROV, S_ATT, S_STATUS, S_LAT, S_PMID, S_CORR, S_TIPO, S_MODE,
       S_CAND, S_THR, S_NOTE, S_CLI, S_TEL, S_RESET, S_N };

static void success_add(struct sender *s, struct strbuf *a, const struct outbound *m,
			const struct choice *ch, const struct send_result *r, int attempt)
{
	arr_addl(&a[S_MSG], m->id);
	arr_add(&a[S_CHIP], ch->id);
	arr_add(&a[S_PROV], ch->provider);
	arr_addl(&a[S_ATT], attempt);
	arr_addl(&a[S_STATUS], r->status);
	arr_addl(&a[S_LAT], (long)r->latency_ms);
	arr_add(&a[S_PMID], r->message_id);
	arr_add(&a[S_CORR], m->correlation_id);
	arr_add(&a[S_TIPO], m->tipo);
	arr_add(&a[S_MODE], !s->ctx->cfg.send_multi_chip ? "single" :
			    !ch->normal ? "fallback" : "normal");
	arr_addl(&a[S_CAND], ch->candidates);
	arr_addl(&a[S_THR], ch->threshold);
	arr_add(&a[S_NOTE], r->error);
	arr_add(&a[S_CLI], m->cliente);
	arr_add(&a[S_TEL], m->telefone);
	arr_add(&a[S_RESET], ch->needs_reset ? "t" : "f");
	s->st.sent++;
	if (!ch->normal && s->ctx->cfg.send_multi_chip)
		s->st.fallback++;
	if (r->error[0])
		log_warn("provider accepted the message with an unreadable answer",
			 "message=%ld", m->id, "chip=%s", ch->instance, "detail=%s", r->error);
	log_debug("message sent", "message=%ld", m->id, "chip=%s", ch->instance,
		  "provider=%s", ch->provider, "latency_ms=%.1f", r->latency_ms,
		  "correlation=%s", m->correlation_id);
}

static int success_flush(struct sender *s, struct strbuf *a, int count)
{
	char base[16];
	const char *p[S_N + 3];
	PGresult *res;
	int i;

	if (count == 0)
		return 0;
	for (i = 0; i < S_N; i++)
		p[i] = arr_end(&a[i]);
	snprintf(base, sizeof(base), "%d", s->ctx->cfg.breaker_backoff_s);
	p[S_N] = s->worker_id;
	p[S_N + 1] = s->ctx->run_id;
	p[S_N + 2] = base;
	res = db_query(s->ctx->db,
		"SELECT * FROM chipctl_record_success_batch($1::bigint[], $2::uuid[], $3::text[],"
		" $4::int[], $5::int[], $6::int[], $7::text[], $8::uuid[], $9::text[], $10::text[],"
		" $11::int[], $12::int[], $13::text[], $14::text[], $15::text[], $16::boolean[],"
		" $17, $18::uuid, $19::int)", S_N + 3, p);
	if (!res)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		s->st.not_recorded++;
		log_warn("message sent, but it was no longer claimed by this worker: "
			 "its state is left as the rescue set it", "message=%s",
			 PQgetvalue(res, i, 0));
	}
	PQclear(res);
	return 0;
}

/* Guardrails for the whole batch in one round trip. */
static int batch_guard(struct sender *s, struct outbound *msgs, int n, struct batch_item *it)
{
	const struct config *cfg = &s->ctx->cfg;
	struct strbuf cli = STRBUF_INIT, w = STRBUF_INIT, ex = STRBUF_INIT, jit = STRBUF_INIT;
	char max[8], cap[8];
	const char *p[7];
	PGresult *res;
	int i;

	for (i = 0; i < n; i++) {
		arr_add(&cli, msgs[i].cliente);
		arr_addl(&w, weight_of(s, &msgs[i]));
		arr_add(&ex, strcmp(msgs[i].tipo, "resposta") ? "f" : "t");
		arr_addl(&jit, cfg->guardrail_jitter_s > 0 ?
			 rand() % (cfg->guardrail_jitter_s + 1) : 0);
	}
	snprintf(max, sizeof(max), "%d", cfg->guardrail_max_per_day);
	snprintf(cap, sizeof(cap), "%d", cfg->guardrail_contact_cap_7d);
	p[0] = arr_end(&cli);
	p[1] = arr_end(&w);
	p[2] = arr_end(&ex);
	p[3] = max;
	p[4] = cap;
	p[5] = cfg->guardrail_timezone;
	p[6] = arr_end(&jit);
	res = db_query(s->ctx->db,
		"SELECT idx, blocked, reserved, until, dia FROM chipctl_guardrail_reserve_batch("
		"$1::text[], $2::int[], $3::boolean[], $4::int, $5::int, $6, $7::int[])", 7, p);
	sb_free(&cli);
	sb_free(&w);
	sb_free(&ex);
	sb_free(&jit);
	if (!res)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		int k = (int)db_long(res, i, 0) - 1;
		struct batch_item *b;

		if (k < 0 || k >= n)
			continue;
		b = &it[k];
		if (db_val(res, i, 1)) {
			b->g = GUARD_BLOCKED;
			snprintf(b->why, sizeof(b->why), "%s", db_val(res, i, 1));
		} else if (PQgetvalue(res, i, 2)[0] == 't') {
			b->g = GUARD_OK;
			snprintf(b->pr.day, sizeof(b->pr.day), "%s", PQgetvalue(res, i, 4));
		} else {
			b->g = GUARD_OVER;
			snprintf(b->until, sizeof(b->until), "%s", PQgetvalue(res, i, 3));
		}
	}
	PQclear(res);
	return 0;
}

/* First choices for every message the guardrails let through, in one round trip. */
static int batch_select(struct sender *s, struct outbound *msgs, int n, struct batch_item *it)
{
	const struct config *cfg = &s->ctx->cfg;
	struct strbuf cli = STRBUF_INIT, tip = STRBUF_INIT, nor = STRBUF_INIT,
		      fb = STRBUF_INIT, pre = STRBUF_INIT, skip = STRBUF_INIT;
	int map[1000], i, k = 0, nn, fbv;
	const char *p[8];
	PGresult *res;

	for (i = 0; i < n && k < 1000; i++) {
		if (it[i].g != GUARD_OK)
			continue;
		map[k++] = i;
		thresholds(cfg, msgs[i].tipo, &nn, &fbv);
		arr_add(&cli, msgs[i].cliente);
		arr_add(&tip, msgs[i].tipo);
		arr_addl(&nor, nn);
		arr_addl(&fb, fbv);
		arr_add(&pre, msgs[i].uncertain_chip);
		it[i].ch.threshold = nn;
	}
	if (k == 0) {
		sb_free(&cli); sb_free(&tip); sb_free(&nor); sb_free(&fb); sb_free(&pre);
		return 0;
	}
	sb_add(&skip, "{}");
	if (s->unauthorized_evolution)
		add_id(&skip, "evolution");
	if (s->unauthorized_zapi)
		add_id(&skip, "zapi");
	p[0] = arr_end(&cli);
	p[1] = arr_end(&tip);
	p[2] = arr_end(&nor);
	p[3] = arr_end(&fb);
	p[4] = arr_end(&pre);
	p[5] = cfg->send_multi_chip ? "t" : "f";
	p[6] = cfg->send_default_chip;
	p[7] = sb_str(&skip);
	res = db_query(s->ctx->db,
		"SELECT idx, id, instance_name, provider, zapi_instance_id, zapi_token,"
		"  trust_score, normal, cprobe, pprobe, needs_reset, candidates, normal_candidates"
		" FROM chipctl_select_chips($1::text[], $2::text[], $3::numeric[], $4::numeric[],"
		"  $5::text[], $6::boolean, $7, $8::text[])", 8, p);
	sb_free(&cli); sb_free(&tip); sb_free(&nor); sb_free(&fb); sb_free(&pre);
	sb_free(&skip);
	if (!res)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		int j = (int)db_long(res, i, 0) - 1;
		struct choice *ch;
		int fbv2;

		if (j < 0 || j >= k)
			continue;
		ch = &it[map[j]].ch;
		it[map[j]].has_choice = 1;
		snprintf(ch->id, sizeof(ch->id), "%s", PQgetvalue(res, i, 1));
		snprintf(ch->instance, sizeof(ch->instance), "%s", PQgetvalue(res, i, 2));
		snprintf(ch->provider, sizeof(ch->provider), "%s", PQgetvalue(res, i, 3));
		snprintf(ch->zapi_id, sizeof(ch->zapi_id), "%s", PQgetvalue(res, i, 4));
		snprintf(ch->zapi_token, sizeof(ch->zapi_token), "%s", PQgetvalue(res, i, 5));
		ch->trust = atof(PQgetvalue(res, i, 6));
		ch->normal = PQgetvalue(res, i, 7)[0] == 't';
		ch->chip_probe = PQgetvalue(res, i, 8)[0] == 't';
		ch->provider_probe = PQgetvalue(res, i, 9)[0] == 't';
		ch->needs_reset = PQgetvalue(res, i, 10)[0] == 't';
		ch->candidates = (int)db_long(res, i, 11);
		ch->normal_candidates = (int)db_long(res, i, 12);
		if (!ch->normal) {
			thresholds(cfg, msgs[map[j]].tipo, &nn, &fbv2);
			ch->threshold = fbv2;
		}
	}
	PQclear(res);
	return 0;
}

int sender_process_batch(struct sender *s, struct outbound *msgs, int n, int *processed,
			 volatile int *stop)
{
	struct strbuf a[S_N], failed = STRBUF_INIT;
	struct batch_item *it = xmalloc(sizeof(*it) * (size_t)(n > 0 ? n : 1));
	int i, rc = 0, sent = 0;

	*processed = 0;
	for (i = 0; i < S_N; i++)
		memset(&a[i], 0, sizeof(a[i]));
	for (i = 0; i < n; i++) {
		memset(&it[i], 0, sizeof(it[i]));
		progress_init(&it[i].pr, NULL);
		it[i].g = GUARD_ERROR;
	}
	if (batch_guard(s, msgs, n, it) || batch_select(s, msgs, n, it)) {
		rc = -1;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct batch_item *b = &it[i];
		struct send_result r;
		enum fault f;
		int got;

		if (stop && *stop)
			break;
		*processed = i + 1;
		if (b->g != GUARD_OK) {
			if (b->g == GUARD_ERROR || apply_guard(s, &msgs[i], b->g, b->why, b->until) < 0) {
				rc = -1;
				break;
			}
			continue;
		}
		/* No first choice, a breaker to probe, or a choice made before
		 * its chip or provider failed in this batch (it may be cooling
		 * off or open now): the one-by-one path chooses afresh. */
		if (!b->has_choice || b->ch.chip_probe || b->ch.provider_probe ||
		    strstr(sb_str(&failed), b->ch.id) || strstr(sb_str(&failed), b->ch.provider) ||
		    (s->unauthorized_evolution && !strcmp(b->ch.provider, "evolution")) ||
		    (s->unauthorized_zapi && !strcmp(b->ch.provider, "zapi"))) {
			if (continue_message(s, &msgs[i], &b->pr) < 0) {
				rc = -1;
				break;
			}
			continue;
		}
		b->pr.attempt = 1;
		b->pr.loops = 1;
		got = send_via(s, &msgs[i], &b->ch, &r, &f, 1);
		if (got < 0) {
			rc = -1;
			break;
		}
		if (got == 1) {
			success_add(s, a, &msgs[i], &b->ch, &r, 1);
			sent++;
			continue;
		}
		sb_addf(&failed, " %s %s", b->ch.id,
			f == FAULT_PROVIDER || f == FAULT_UNCERTAIN ? b->ch.provider : "");
		got = after_failure(s, &msgs[i], &b->pr, &b->ch, &r, f);
		if (got < 0 || (got == 0 && continue_message(s, &msgs[i], &b->pr) < 0)) {
			rc = -1;
			break;
		}
	}
out:
	/* Record what was sent even when something else failed: a sent
	 * message left 'processando' would be sent again after the rescue. */
	if (success_flush(s, a, sent) < 0)
		rc = -1;
	for (i = 0; i < S_N; i++)
		sb_free(&a[i]);
	sb_free(&failed);
	for (i = 0; i < n; i++)
		progress_free(&it[i].pr);
	free(it);
	return rc;
}
