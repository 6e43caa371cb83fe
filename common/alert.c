#include "alert.h"
#include "ctx.h"
#include "db.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "strbuf.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *sev_names[] = { "info", "warning", "critical" };

const char *alert_severity_name(enum alert_severity sev)
{
	return sev_names[sev];
}

static void alert_key(char *buf, size_t n, const char *type, const char *subject)
{
	snprintf(buf, n, "%s%s%s", type, subject ? ":" : "", subject ? subject : "");
}

/* One round trip: the cooldown check and the outbox row. */
static const char raise_sql[] =
	"WITH st AS ("
	"  INSERT INTO alert_state AS s (alert_key, alert_type, subject, active, last_raised_at)"
	"  VALUES ($1, $2, $3, true, now())"
	"  ON CONFLICT (alert_key) DO UPDATE SET active = true, last_raised_at = now()"
	"  WHERE s.last_raised_at IS NULL"
	"     OR s.last_raised_at <= now() - make_interval(secs => $4::int)"
	"  RETURNING 1"
	"), keep_active AS ("
	"  UPDATE alert_state SET active = true"
	"  WHERE alert_key = $1 AND NOT active AND NOT EXISTS (SELECT 1 FROM st)"
	")"
	" INSERT INTO alert_outbox (alert_key, alert_type, subject, severity, text, run_id)"
	" SELECT $1, $2, $3, $5, $6, $7::uuid FROM st RETURNING id";

int alert_raise(struct chipctl_ctx *ctx, const char *type, const char *subject,
		enum alert_severity sev, int cooldown_s, const char *text)
{
	char key[512], cooldown[16];
	const char *params[7];
	PGresult *res;
	int queued;

	alert_key(key, sizeof(key), type, subject);
	if (ctx->dry_run) {
		log_info("would raise alert", "key=%s", key,
			 "severity=%s", sev_names[sev], "text=%s", text);
		return 0;
	}
	snprintf(cooldown, sizeof(cooldown), "%d", cooldown_s);
	params[0] = key;
	params[1] = type;
	params[2] = subject;
	params[3] = cooldown;
	params[4] = sev_names[sev];
	params[5] = text;
	params[6] = ctx->run_id;
	res = db_query(ctx->db, raise_sql, 7, params);
	if (!res)
		return -1;
	queued = PQntuples(res) > 0;
	PQclear(res);
	if (queued)
		log_warn("alert raised", "key=%s", key, "severity=%s",
			 sev_names[sev], "text=%s", text);
	else
		log_info("alert held back by its cooldown", "key=%s", key);
	return queued;
}

int alert_resolve(struct chipctl_ctx *ctx, const char *type,
		  const char *subject, const char *text)
{
	char key[512];
	const char *params[5];
	PGresult *res;
	int queued;

	alert_key(key, sizeof(key), type, subject);
	if (ctx->dry_run)
		return 0;
	params[0] = key;
	params[1] = type;
	params[2] = subject;
	params[3] = text;
	params[4] = ctx->run_id;
	res = db_query(ctx->db,
		"WITH st AS ("
		"  UPDATE alert_state SET active = false, last_resolved_at = now()"
		"  WHERE alert_key = $1 AND active RETURNING 1)"
		" INSERT INTO alert_outbox (alert_key, alert_type, subject, severity, text, run_id, resolved)"
		" SELECT $1, $2, $3, 'info', $4, $5::uuid, true FROM st RETURNING id",
		5, params);
	if (!res)
		return -1;
	queued = PQntuples(res) > 0;
	PQclear(res);
	if (queued)
		log_info("alert resolved", "key=%s", key);
	return queued;
}

static char *slack_body(const char *severity, int resolved, const char *key,
			const char *text)
{
	json_object *o = json_object_new_object();
	struct strbuf sb = STRBUF_INIT;
	char *out;

	if (resolved)
		sb_addf(&sb, "[RESOLVED] chipctl %s: %s", key, text);
	else
		sb_addf(&sb, "[%s] chipctl %s: %s",
			!strcmp(severity, "critical") ? "CRITICAL" :
			!strcmp(severity, "warning") ? "WARNING" : "INFO", key, text);
	json_object_object_add(o, "text", json_object_new_string(sb_str(&sb)));
	out = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	sb_free(&sb);
	return out;
}

static void pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	if (ms > 0)
		nanosleep(&ts, NULL);
}

/* Release the claims this run still holds, so the next run can take them
 * at once instead of waiting for the claim to expire. */
static void release_claims(struct chipctl_ctx *ctx)
{
	const char *params[1] = { ctx->run_id };

	db_exec(ctx->db,
		"UPDATE alert_outbox SET claimed_by = NULL, claimed_until = NULL"
		" WHERE claimed_by = $1::uuid AND status = 'pending'", 1, params);
}

static int mark(struct chipctl_ctx *ctx, const char *id, const char *sql,
		const char *a, const char *b)
{
	const char *params[4] = { id, ctx->run_id, a, b };
	int n = b ? 4 : a ? 3 : 2;

	return db_exec(ctx->db, sql, n, params) < 0 ? -1 : 0;
}

static const char mark_sent_sql[] =
	"UPDATE alert_outbox SET status = 'sent', sent_at = now(),"
	" attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL,"
	" last_error = NULL WHERE id = $1::bigint AND claimed_by = $2::uuid";

static const char mark_failed_sql[] =
	"UPDATE alert_outbox SET attempts = attempts + 1, last_error = $3,"
	" next_attempt_at = now() + make_interval(secs => $4::int),"
	" claimed_by = NULL, claimed_until = NULL"
	" WHERE id = $1::bigint AND claimed_by = $2::uuid";

static const char mark_unrouted_sql[] =
	"UPDATE alert_outbox SET status = 'unrouted', claimed_by = NULL,"
	" claimed_until = NULL, last_error = $3"
	" WHERE id = $1::bigint AND claimed_by = $2::uuid";

int alert_flush(struct chipctl_ctx *ctx)
{
	const struct config *cfg = &ctx->cfg;
	struct http_client *http = NULL;
	char limit[16], claim_s[24];
	const char *params[3];
	PGresult *res;
	int i, n, delivered = 0, stop = 0;

	if (ctx->dry_run)
		return 0;
	/* The claim must outlast the slowest possible delivery run: every
	 * post timing out, with the pause between posts. */
	snprintf(limit, sizeof(limit), "%d", cfg->slack_max_per_run);
	snprintf(claim_s, sizeof(claim_s), "%ld", 60 + (long)cfg->slack_max_per_run *
		 (cfg->slack_min_interval_ms + cfg->slack_timeout_ms + 2000L) / 1000);
	params[0] = ctx->run_id;
	params[1] = limit;
	params[2] = claim_s;
	res = db_query(ctx->db,
		"UPDATE alert_outbox SET claimed_by = $1::uuid,"
		"  claimed_until = now() + make_interval(secs => $3::int)"
		" WHERE id IN (SELECT id FROM alert_outbox"
		"   WHERE status = 'pending' AND next_attempt_at <= now()"
		"     AND (claimed_until IS NULL OR claimed_until < now())"
		"   ORDER BY id LIMIT $2::int FOR UPDATE SKIP LOCKED)"
		" RETURNING id, alert_key, severity, text, resolved",
		3, params);
	if (!res)
		return -1;
	n = PQntuples(res);
	if (n == 0) {
		PQclear(res);
		return 0;
	}
	if (cfg->slack_webhook_url)
		http = http_client_new(2000, cfg->slack_timeout_ms, (size_t)64 * 1024);

	for (i = 0; i < n && !stop; i++) {
		const char *id = PQgetvalue(res, i, 0);
		const char *key = PQgetvalue(res, i, 1);
		const char *sev = PQgetvalue(res, i, 2);
		const char *text = PQgetvalue(res, i, 3);
		int resolved = PQgetvalue(res, i, 4)[0] == 't';
		static const char *const headers[] = {
			"Content-Type: application/json", NULL };
		struct http_response r;
		char *body;

		job_renew_if_due(ctx);	/* a slow Slack must not outlast the lease */
		if (!http) {
			log_warn("alert (no slack.webhook_url configured)",
				 "key=%s", key, "severity=%s", sev, "text=%s", text);
			mark(ctx, id, mark_unrouted_sql, "no slack.webhook_url configured", NULL);
			continue;
		}
		if (delivered > 0)
			pause_ms(cfg->slack_min_interval_ms);
		body = slack_body(sev, resolved, key, text);
		http_request(http, "POST", cfg->slack_webhook_url, headers, body, &r);
		free(body);
		if (r.cls == HTTP_OK) {
			if (mark(ctx, id, mark_sent_sql, NULL, NULL) == 0)
				delivered++;
			log_info("alert delivered", "key=%s", key, "alert=%s", id);
		} else {
			char retry[16], why[300];
			long wait = cfg->slack_retry_s;

			if (r.status == 429 && r.retry_after_s >= 0)
				wait = r.retry_after_s;
			snprintf(retry, sizeof(retry), "%ld", wait);
			snprintf(why, sizeof(why), "%s%s%.100s", r.error,
				 r.len ? ": " : "", r.body);
			mark(ctx, id, mark_failed_sql, why, retry);
			log_warn("alert delivery failed, will retry", "key=%s", key,
				 "alert=%s", id, "class=%s", http_class_name(r.cls),
				 "status=%ld", r.status, "retry_in_s=%ld", wait,
				 "error=%s", why);
			/* Slack is down or throttling us: stop hammering it. */
			stop = 1;
		}
		http_response_free(&r);
	}
	PQclear(res);
	http_client_free(http);
	release_claims(ctx);
	return delivered;
}
