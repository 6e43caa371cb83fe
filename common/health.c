#include "health.h"
#include "config.h"
#include "ctx.h"
#include "db.h"
#include "http.h"
#include "log.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };

const char *health_status_name(enum health_status st)
{
	return status_names[st];
}

double health_round1(double v)
{
	return (double)(long long)(v * 10 + (v < 0 ? -0.5 : 0.5)) / 10;
}

struct json_object *health_json_double(double v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.1f", health_round1(v));
	return json_object_new_double_s(health_round1(v), buf);
}

int health_status_score(enum health_status st)
{
	return st == HEALTH_OK ? 100 : st == HEALTH_WARNING ? 50 : 0;
}

/*
 * Every subquery reads through a partial or time index, so the whole
 * snapshot stays in milliseconds at a million queue rows: the queue's
 * final states are only counted over the last hour.
 */
static const char snapshot_sql[] =
	"SELECT q.pending, q.due, q.oldest_due_s,"
	"  (SELECT count(*) FROM fila_mensagens WHERE status = 'processando'),"
	"  (SELECT count(*) FROM fila_mensagens"
	"   WHERE status = 'enviada' AND enviada_em > now() - interval '1 hour'),"
	"  (SELECT count(*) FROM fila_mensagens"
	"   WHERE status = 'erro' AND updated_at > now() - interval '1 hour'),"
	"  (SELECT avg(latency_ms)::float8 FROM send_attempts"
	"   WHERE created_at > now() - interval '1 hour' AND result = 'ok'),"
	"  w.hb_age_s, w.workers, w.alive,"
	"  b.burst_total, b.burst,"
	"  c.total, c.active, c.available, c.disconnected, c.cooldown,"
	"  k.chip_breakers, k.chip_open, k.chip_half, k.evo, k.zapi,"
	"  (SELECT count(*) FROM circuit_transitions"
	"   WHERE created_at > now() - interval '24 hours'),"
	"  (SELECT count(*) FROM alert_outbox WHERE status = 'pending'),"
	"  (SELECT count(*) FROM alert_outbox WHERE status = 'inhibited'),"
	"  c.connected, p.may_prospect, p.may_followup,"
	"  b.burst_chip, b.burst_provider, b.burst_recipient"
	/* Few relations in FROM: the planner searches join orders over
	 * them, and a dozen single-row subqueries cost 15 ms to plan. */
	" FROM"
	" (SELECT count(*) AS pending,"
	"    count(*) FILTER (WHERE agendar_para <= now()) AS due,"
	"    extract(epoch FROM now() - min(agendar_para)"
	"      FILTER (WHERE agendar_para <= now()))::float8 AS oldest_due_s"
	"  FROM fila_mensagens WHERE status = 'pendente') q,"
	" (SELECT extract(epoch FROM now() - max(last_beat_at))::float8 AS hb_age_s,"
	"    count(*) AS workers,"
	"    count(*) FILTER (WHERE NOT chipctl_worker_dead(last_beat_at, $1::int)) AS alive"
	"  FROM worker_heartbeats) w,"
	" (SELECT coalesce(sum(n), 0) AS burst_total,"
	"    coalesce(string_agg(f || ' ' || result || '=' || n, ', '"
	"      ORDER BY n DESC, f, result), '') AS burst,"
	"    coalesce(sum(n) FILTER (WHERE f = 'chip'), 0) AS burst_chip,"
	"    coalesce(sum(n) FILTER (WHERE f = 'provider'), 0) AS burst_provider,"
	"    coalesce(sum(n) FILTER (WHERE f = 'recipient'), 0) AS burst_recipient"
	"  FROM (SELECT coalesce(fault, 'unclassified') AS f, result, count(*) AS n"
	"        FROM send_attempts"
	"        WHERE created_at > now() - make_interval(secs => $2::int)"
	"          AND result IN ('timeout', 'network', '4xx', '5xx')"
	"        GROUP BY 1, 2) x) b,"
	/* the chips as the send path sees them (006's chipctl_chip_now) */
	" (SELECT count(*) FILTER (WHERE n.status <> 'banned') AS total,"
	"    count(*) FILTER (WHERE n.status = 'active') AS active,"
	"    count(*) FILTER (WHERE n.sendable) AS available,"
	"    count(*) FILTER (WHERE n.status = 'active' AND NOT n.connected) AS disconnected,"
	"    count(*) FILTER (WHERE n.status = 'active' AND n.cooling) AS cooldown,"
	"    count(*) FILTER (WHERE n.status = 'active' AND n.connected) AS connected"
	"  FROM chipctl_chip_now n) c,"
	" chipctl_pool_permissions p,"
	/* every breaker by its effective state (006's chipctl_breakers) */
	" (SELECT count(*) FILTER (WHERE kind = 'chip') AS chip_breakers,"
	"    count(*) FILTER (WHERE kind = 'chip' AND effective_state = 'open') AS chip_open,"
	"    count(*) FILTER (WHERE kind = 'chip' AND effective_state = 'half_open') AS chip_half,"
	"    coalesce(max(CASE effective_state WHEN 'open' THEN 2 WHEN 'half_open' THEN 1"
	"      ELSE 0 END) FILTER (WHERE name = 'provider:evolution'), 0) AS evo,"
	"    coalesce(max(CASE effective_state WHEN 'open' THEN 2 WHEN 'half_open' THEN 1"
	"      ELSE 0 END) FILTER (WHERE name = 'provider:zapi'), 0) AS zapi"
	"  FROM chipctl_breakers) k";

static double dbl_or(const PGresult *res, int c, double def)
{
	const char *v = db_val(res, 0, c);

	return v ? strtod(v, NULL) : def;
}

int health_snapshot(struct chipctl_ctx *ctx, struct health_snapshot *s)
{
	char hb[16], win[16];
	const char *params[2] = { hb, win };
	PGresult *res;

	memset(s, 0, sizeof(*s));
	snprintf(hb, sizeof(hb), "%d", ctx->cfg.watchdog_heartbeat_s);
	snprintf(win, sizeof(win), "%d", ctx->cfg.watchdog_error_burst_window_s);
	res = db_query(ctx->db, snapshot_sql, 2, params);
	if (!res)
		return -1;
	s->pending = db_long(res, 0, 0);
	s->due = db_long(res, 0, 1);
	s->oldest_due_s = dbl_or(res, 2, -1);
	s->processing = db_long(res, 0, 3);
	s->sent_1h = db_long(res, 0, 4);
	s->errors_1h = db_long(res, 0, 5);
	s->mean_ms = dbl_or(res, 6, -1);
	s->heartbeat_age_s = dbl_or(res, 7, -1);
	s->workers = db_long(res, 0, 8);
	s->workers_alive = db_long(res, 0, 9);
	s->burst_total = db_long(res, 0, 10);
	snprintf(s->burst, sizeof(s->burst), "%s", PQgetvalue(res, 0, 11));
	s->chips_total = db_long(res, 0, 12);
	s->chips_active = db_long(res, 0, 13);
	s->chips_available = db_long(res, 0, 14);
	s->chips_disconnected = db_long(res, 0, 15);
	s->chips_cooldown = db_long(res, 0, 16);
	s->chip_breakers = db_long(res, 0, 17);
	s->chip_breakers_open = db_long(res, 0, 18);
	s->chip_breakers_half_open = db_long(res, 0, 19);
	s->evolution_breaker = (int)db_long(res, 0, 20);
	s->zapi_breaker = (int)db_long(res, 0, 21);
	s->transitions_24h = db_long(res, 0, 22);
	s->alerts_pending = db_long(res, 0, 23);
	s->alerts_inhibited = db_long(res, 0, 24);
	s->chips_connected = db_long(res, 0, 25);
	s->chips_may_prospect = db_long(res, 0, 26);
	s->chips_may_followup = db_long(res, 0, 27);
	s->burst_chip = db_long(res, 0, 28);
	s->burst_provider = db_long(res, 0, 29);
	s->burst_recipient = db_long(res, 0, 30);
	PQclear(res);
	return 0;
}

void health_result_init(struct health_result *r, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->status = HEALTH_OK;
	r->json = json_object_new_object();
}

void health_result_free(struct health_result *r)
{
	sb_free(&r->text);
	sb_free(&r->perf);
	json_object_put(r->json);
	r->json = NULL;
}

void health_perf(struct health_result *r, const char *label, double value,
		 const char *uom, const char *warn, const char *crit)
{
	if (r->perf.len)
		sb_addc(&r->perf, ' ');
	if (value > -1e15 && value < 1e15 && value == (double)(long long)value)
		sb_addf(&r->perf, "%s=%.0f%s", label, value, uom ? uom : "");
	else
		sb_addf(&r->perf, "%s=%.1f%s", label, value, uom ? uom : "");
	if (warn || crit)
		sb_addf(&r->perf, ";%s;%s", warn ? warn : "", crit ? crit : "");
}

void health_worse(struct health_result *r, enum health_status st)
{
	if (st > r->status)
		r->status = st;
	r->score = health_status_score(r->status);
}

static void jint(struct health_result *r, const char *k, long v)
{
	json_object_object_add(r->json, k, json_object_new_int64(v));
}

static void jdbl(struct health_result *r, const char *k, double v)
{
	json_object_object_add(r->json, k, v < 0 ? NULL :
			       health_json_double(v));
}

void health_fmt_age(char *buf, size_t n, double s)
{
	if (s < 0)
		snprintf(buf, n, "none");
	else if (s < 120)
		snprintf(buf, n, "%.0fs", s);
	else if (s < 7200)
		snprintf(buf, n, "%.0fm", s / 60);
	else
		snprintf(buf, n, "%.1fh", s / 3600);
}

void health_eval_queue(const struct config *cfg, const struct health_snapshot *s,
		       struct health_result *r)
{
	char w[16], c[16], ew[16], ec[16], age[32];

	health_worse(r, HEALTH_OK);
	if (s->oldest_due_s >= cfg->health_queue_age_critical_s ||
	    s->errors_1h >= cfg->health_queue_errors_critical)
		health_worse(r, HEALTH_CRITICAL);
	else if (s->oldest_due_s >= cfg->health_queue_age_warning_s ||
		 s->errors_1h >= cfg->health_queue_errors_warning)
		health_worse(r, HEALTH_WARNING);
	health_fmt_age(age, sizeof(age), s->oldest_due_s);
	sb_addf(&r->text, "%ld pending (%ld due, oldest due %s), %ld processing, "
		"%ld sent and %ld errors in the last hour", s->pending, s->due, age,
		s->processing, s->sent_1h, s->errors_1h);
	snprintf(w, sizeof(w), "%d", cfg->health_queue_age_warning_s);
	snprintf(c, sizeof(c), "%d", cfg->health_queue_age_critical_s);
	snprintf(ew, sizeof(ew), "%d", cfg->health_queue_errors_warning);
	snprintf(ec, sizeof(ec), "%d", cfg->health_queue_errors_critical);
	health_perf(r, "pending", (double)s->pending, NULL, NULL, NULL);
	health_perf(r, "due", (double)s->due, NULL, NULL, NULL);
	health_perf(r, "processing", (double)s->processing, NULL, NULL, NULL);
	health_perf(r, "sent_1h", (double)s->sent_1h, NULL, NULL, NULL);
	health_perf(r, "errors_1h", (double)s->errors_1h, NULL, ew, ec);
	health_perf(r, "oldest_due", s->oldest_due_s < 0 ? 0 : (double)(long)s->oldest_due_s, "s", w, c);
	health_perf(r, "mean_processing", s->mean_ms < 0 ? 0 : (double)(long)(s->mean_ms + 0.5), "ms", NULL, NULL);
	jint(r, "pending", s->pending);
	jint(r, "due", s->due);
	jint(r, "processing", s->processing);
	jint(r, "sent_last_hour", s->sent_1h);
	jint(r, "errors_last_hour", s->errors_1h);
	jdbl(r, "mean_processing_ms", s->mean_ms);
	jdbl(r, "oldest_due_age_s", s->oldest_due_s);
}

void health_eval_worker(const struct config *cfg, const struct health_snapshot *s,
			struct health_result *r)
{
	char w[16], c[16], age[32];

	health_worse(r, HEALTH_OK);
	if (s->heartbeat_age_s < 0) {
		health_worse(r, HEALTH_CRITICAL);
		sb_addf(&r->text, "no send-worker has ever beaten");
	} else {
		if (s->heartbeat_age_s >= cfg->health_worker_critical_s)
			health_worse(r, HEALTH_CRITICAL);
		else if (s->heartbeat_age_s >= cfg->health_worker_warning_s)
			health_worse(r, HEALTH_WARNING);
		health_fmt_age(age, sizeof(age), s->heartbeat_age_s);
		sb_addf(&r->text, "newest heartbeat %s ago, %ld of %ld workers alive",
			age, s->workers_alive, s->workers);
	}
	snprintf(w, sizeof(w), "%d", cfg->health_worker_warning_s);
	snprintf(c, sizeof(c), "%d", cfg->health_worker_critical_s);
	health_perf(r, "heartbeat_age", s->heartbeat_age_s < 0 ? 0 :
		    (double)(long)s->heartbeat_age_s, "s", w, c);
	health_perf(r, "workers_alive", (double)s->workers_alive, NULL, NULL, NULL);
	jdbl(r, "heartbeat_age_s", s->heartbeat_age_s);
	jint(r, "workers", s->workers);
	jint(r, "workers_alive", s->workers_alive);
}

void health_eval_chips(const struct config *cfg, const struct health_snapshot *s,
		       struct health_result *r)
{
	char w[16];

	health_worse(r, HEALTH_OK);
	/* no chip may prospect or follow up: the pool alert's condition
	 * (chipctl_pool_permissions), as critical as the alert */
	if (s->chips_available == 0 || s->chips_may_prospect == 0 ||
	    s->chips_may_followup == 0)
		health_worse(r, HEALTH_CRITICAL);
	else if (s->chips_available < cfg->health_chips_min_available)
		health_worse(r, HEALTH_WARNING);
	sb_addf(&r->text, "%ld of %ld active chips available (%ld disconnected, "
		"%ld cooling down), %ld chips in the pool", s->chips_available,
		s->chips_active, s->chips_disconnected, s->chips_cooldown,
		s->chips_total);
	if (s->chips_may_prospect == 0 && s->chips_may_followup == 0)
		sb_add(&r->text, "; no chip may prospect or follow up");
	else if (s->chips_may_prospect == 0)
		sb_add(&r->text, "; no chip may prospect");
	else if (s->chips_may_followup == 0)
		sb_add(&r->text, "; no chip may follow up");
	snprintf(w, sizeof(w), "%d:", cfg->health_chips_min_available);
	health_perf(r, "available", (double)s->chips_available, NULL, w, "1:");
	health_perf(r, "active", (double)s->chips_active, NULL, NULL, NULL);
	health_perf(r, "disconnected", (double)s->chips_disconnected, NULL, NULL, NULL);
	health_perf(r, "cooldown", (double)s->chips_cooldown, NULL, NULL, NULL);
	health_perf(r, "pool", (double)s->chips_total, NULL, NULL, NULL);
	health_perf(r, "may_prospect", (double)s->chips_may_prospect, NULL, NULL, "1:");
	health_perf(r, "may_followup", (double)s->chips_may_followup, NULL, NULL, "1:");
	jint(r, "pool", s->chips_total);
	jint(r, "active", s->chips_active);
	jint(r, "available", s->chips_available);
	jint(r, "disconnected", s->chips_disconnected);
	jint(r, "cooldown", s->chips_cooldown);
	jint(r, "circuit_open", s->chip_breakers_open);
	jint(r, "connected", s->chips_connected);
	jint(r, "may_prospect", s->chips_may_prospect);
	jint(r, "may_followup", s->chips_may_followup);
}

static const char *breaker_name(int st)
{
	return st == BREAKER_OPEN ? "open" : st == BREAKER_HALF_OPEN ? "half_open" : "closed";
}

void health_eval_circuits(const struct config *cfg, const struct health_snapshot *s,
			  struct health_result *r)
{
	double pct = s->chip_breakers ? 100.0 * (double)s->chip_breakers_open /
					(double)s->chip_breakers : 0;
	char w[16], c[16];

	health_worse(r, HEALTH_OK);
	if (s->evolution_breaker == BREAKER_OPEN || s->zapi_breaker == BREAKER_OPEN ||
	    (s->chip_breakers_open && pct >= cfg->health_circuits_critical_pct))
		health_worse(r, HEALTH_CRITICAL);
	else if (s->evolution_breaker || s->zapi_breaker ||
		 (s->chip_breakers_open && pct >= cfg->health_circuits_warning_pct))
		health_worse(r, HEALTH_WARNING);
	sb_addf(&r->text, "evolution %s, zapi %s, %ld of %ld chip breakers open "
		"(%ld half open), %ld transitions in 24h",
		breaker_name(s->evolution_breaker), breaker_name(s->zapi_breaker),
		s->chip_breakers_open, s->chip_breakers, s->chip_breakers_half_open,
		s->transitions_24h);
	snprintf(w, sizeof(w), "%d", cfg->health_circuits_warning_pct);
	snprintf(c, sizeof(c), "%d", cfg->health_circuits_critical_pct);
	health_perf(r, "evolution_open", s->evolution_breaker == BREAKER_OPEN, NULL, NULL, "1");
	health_perf(r, "zapi_open", s->zapi_breaker == BREAKER_OPEN, NULL, NULL, "1");
	health_perf(r, "chip_open", (double)s->chip_breakers_open, NULL, NULL, NULL);
	health_perf(r, "chip_open_pct", health_round1(pct), "%", w, c);
	health_perf(r, "transitions_24h", (double)s->transitions_24h, NULL, NULL, NULL);
	json_object_object_add(r->json, "evolution",
			       json_object_new_string(breaker_name(s->evolution_breaker)));
	json_object_object_add(r->json, "zapi",
			       json_object_new_string(breaker_name(s->zapi_breaker)));
	jint(r, "chip_breakers", s->chip_breakers);
	jint(r, "chip_open", s->chip_breakers_open);
	jint(r, "chip_half_open", s->chip_breakers_half_open);
	jint(r, "transitions_24h", s->transitions_24h);
}

int health_probe_evolution(const struct config *cfg, char *why, size_t whysz)
{
	struct http_client *http;
	struct http_response resp;
	struct strbuf url = STRBUF_INIT, hdr = STRBUF_INIT;
	const char *headers[2];
	int ok;

	if (!cfg->evolution_url) {
		snprintf(why, whysz, "evolution.url is not set");
		return -1;
	}
	sb_addf(&url, "%s/instance/fetchInstances", cfg->evolution_url);
	sb_addf(&hdr, "apikey: %s", cfg->evolution_api_key ? cfg->evolution_api_key : "");
	headers[0] = sb_str(&hdr);
	headers[1] = NULL;
	http = http_client_new(cfg->health_evolution_timeout_ms < cfg->evolution_connect_timeout_ms ?
			       cfg->health_evolution_timeout_ms : cfg->evolution_connect_timeout_ms,
			       cfg->health_evolution_timeout_ms,
			       (size_t)cfg->http_max_response_bytes);
	http_request(http, "GET", sb_str(&url), headers, NULL, &resp);
	ok = resp.cls == HTTP_OK;
	if (ok)
		snprintf(why, whysz, "evolution answered %ld in %.0f ms", resp.status,
			 resp.elapsed_ms);
	else
		snprintf(why, whysz, "evolution: %s", resp.error);
	http_response_free(&resp);
	http_client_free(http);
	sb_free(&url);
	sb_free(&hdr);
	return ok;
}
