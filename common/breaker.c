#include "breaker.h"
#include "alert.h"
#include "ctx.h"
#include "db.h"
#include "log.h"
#include "provider.h"

#include <stdio.h>
#include <string.h>

/* The alert when the provider's breaker opens says how much waits. */
static long waiting(struct sender *s)
{
	PGresult *res = db_query(s->ctx->db,
		"SELECT count(*) FROM fila_mensagens WHERE status IN ('pendente', 'processando')",
		0, NULL);
	long n = res ? db_long(res, 0, 0) : -1;

	PQclear(res);
	return n;
}

static void opened(struct sender *s, int chip, const char *name, const char *provider,
		   const char *instance, const char *why)
{
	const struct config *cfg = &s->ctx->cfg;
	char text[600];

	log_warn("circuit breaker opened", "breaker=%s", name, "why=%s", why);
	if (chip) {
		snprintf(text, sizeof(text), "chip %s: circuit breaker opened (%s)", instance, why);
		alert_raise(s->ctx, "chip_circuit_open", instance, ALERT_WARNING,
			    cfg->alerts_cooldown_s, text);
		return;
	}
	snprintf(text, sizeof(text), "provider %s: circuit breaker opened, no request is sent "
		 "through it until a probe succeeds (%s); %ld message(s) wait in the queue "
		 "without spending attempts and go out when it answers again", provider, why,
		 waiting(s));
	alert_raise(s->ctx, "provider_outage", provider, ALERT_CRITICAL, cfg->alerts_cooldown_s,
		    text);
}

/* One failure counted against one breaker. timeout_chip: for a timeout
 * counted against the provider, the chip it happened on (the provider's
 * breaker opens only when its run of timeouts spans
 * breaker.provider_timeout_chips distinct chips). */
static int failure(struct sender *s, int chip, const char *chip_id, const char *provider,
		   const char *instance, int counted, int timeout, const char *why,
		   long retry_after, const char *timeout_chip)
{
	const struct config *cfg = &s->ctx->cfg;
	char name[80], c[4], t[4], thr[16], tthr[16], base[16], max[16], ra[16], tch[16];
	const char *p[15];
	PGresult *res;
	int rc;

	snprintf(name, sizeof(name), "%s:%s", chip ? "chip" : "provider",
		 chip ? chip_id : provider);
	snprintf(c, sizeof(c), "%d", counted);
	snprintf(t, sizeof(t), "%d", timeout);
	snprintf(thr, sizeof(thr), "%d", chip ? cfg->breaker_chip_failures :
		 cfg->breaker_provider_failures);
	snprintf(tthr, sizeof(tthr), "%d", cfg->breaker_timeouts);
	snprintf(base, sizeof(base), "%d", cfg->breaker_backoff_s);
	snprintf(max, sizeof(max), "%d", cfg->breaker_backoff_max_s);
	snprintf(ra, sizeof(ra), "%ld", retry_after > 0 ? retry_after : 0);
	snprintf(tch, sizeof(tch), "%d", cfg->breaker_provider_timeout_chips);
	p[0] = name;
	p[1] = chip ? "chip" : "provider";
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
	p[13] = timeout_chip;
	p[14] = timeout_chip ? tch : NULL;	/* a chip's breaker: its own run */
	res = db_query(s->ctx->db,
		"SELECT from_state, to_state FROM chipctl_breaker_failure(p_name => $1,"
		" p_kind => $2, p_chip_id => $3::uuid, p_counted => $4::int, p_timeout => $5::int,"
		" p_why => $6, p_worker => $7, p_fail_threshold => $8::int,"
		" p_timeout_threshold => $9::int, p_base_backoff => $10::int,"
		" p_max_backoff => $11::int, p_retry_after => $12::int, p_run_id => $13::uuid,"
		" p_timeout_chip => $14::uuid, p_timeout_chips => $15::int)",
		15, p);
	if (!res)
		return -1;
	rc = strcmp(PQgetvalue(res, 0, 0), "open") && !strcmp(PQgetvalue(res, 0, 1), "open");
	PQclear(res);
	if (rc)
		opened(s, chip, name, provider, instance, why);
	return rc ? (chip ? BREAKER_CHIP_OPENED : BREAKER_PROVIDER_OPENED) : 0;
}

int breaker_after_failure(struct sender *s, const char *chip_id, const char *provider,
			  const char *instance, const struct send_result *r)
{
	if (r->uncertain) {
		/* A run on this chip alone is the chip's; the provider's only
		 * when the run spans several chips (a hung provider). */
		int c = failure(s, 1, chip_id, provider, instance, 0, 1, r->error, 0, NULL);
		int p = c < 0 ? -1 : failure(s, 0, chip_id, provider, instance, 0, 1, r->error,
					     0, chip_id);

		return c < 0 || p < 0 ? -1 : c | p;
	}
	switch (r->fault) {
	case FAULT_CHIP:
		return failure(s, 1, chip_id, provider, instance, 1, 0, r->error,
			       r->retry_after_s, NULL);
	case FAULT_PROVIDER:
		return failure(s, 0, chip_id, provider, instance, 1, 0, r->error,
			       r->retry_after_s, NULL);
	case FAULT_CONFIG:	/* our set-up, not the provider's health */
	case FAULT_MESSAGE:	/* the message's, no one's breaker */
	case FAULT_RECIPIENT:
	case FAULT_NONE:
		break;
	}
	return 0;
}
