/* chipctl report: the page, its header, the pool now, breakers and alerts.
 * See report.h; the charts are in report_charts.c. */
#include "report.h"
#include "config.h"
#include "db.h"
#include "pool.h"
#include "report_svg.h"
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW "now() - make_interval(days => $1::int)"

static const char header_sql[] =
	"SELECT extract(epoch FROM now())::float8, extract(epoch FROM " WINDOW ")::float8,"
	"  (SELECT count(*) FROM fila_mensagens WHERE created_at > " WINDOW "),"
	"  (SELECT count(*) FROM fila_mensagens),"
	"  (SELECT count(*) FROM fila_mensagens WHERE status = 'enviada' AND enviada_em > " WINDOW "),"
	"  extract(epoch FROM least("
	"    (SELECT min(created_at) FROM metrics_snapshots WHERE created_at > " WINDOW "),"
	"    (SELECT min(created_at) FROM chip_trust_history WHERE created_at > " WINDOW "),"
	"    (SELECT min(created_at) FROM circuit_transitions WHERE created_at > " WINDOW "),"
	"    (SELECT min(created_at) FROM alert_outbox WHERE created_at > " WINDOW ")))::float8,"
	"  extract(epoch FROM greatest("
	"    (SELECT max(created_at) FROM metrics_snapshots WHERE created_at > " WINDOW "),"
	"    (SELECT max(created_at) FROM chip_trust_history WHERE created_at > " WINDOW "),"
	"    (SELECT max(created_at) FROM circuit_transitions WHERE created_at > " WINDOW "),"
	"    (SELECT max(created_at) FROM alert_outbox WHERE created_at > " WINDOW ")))::float8";

/* Every transition of the window, and how long the state it entered held
 * (until the breaker's next transition, or until now). */
static const char transitions_sql[] =
	"SELECT coalesce(c.instance_name, t.breaker), t.from_state, t.to_state, t.reason,"
	"  t.actor, extract(epoch FROM t.created_at)::float8,"
	"  extract(epoch FROM coalesce(lead(t.created_at) OVER w, now()) - t.created_at)::float8,"
	"  lead(t.created_at) OVER w IS NULL, count(*) OVER ()"
	" FROM circuit_transitions t"
	" LEFT JOIN circuit_breakers b ON b.name = t.breaker"
	" LEFT JOIN chips c ON c.id = b.chip_id"
	" WHERE t.created_at > " WINDOW
	" WINDOW w AS (PARTITION BY t.breaker ORDER BY t.created_at, t.id)"
	" ORDER BY t.created_at DESC, t.id DESC LIMIT 500";

/* The breakers not closed now, by their effective state (006). */
static const char breakers_now_sql[] =
	"SELECT coalesce(c.instance_name, b.name), b.effective_state, b.override,"
	"  extract(epoch FROM now() - b.opened_at)::float8"
	" FROM chipctl_breakers b LEFT JOIN chips c ON c.id = b.chip_id"
	" WHERE b.effective_state <> 'closed'"
	" ORDER BY b.kind DESC, 1";

/* Alerts raised in the window, each with its first resolved notice. */
static const char alerts_sql[] =
	"SELECT a.alert_type, coalesce(a.subject, ''), a.severity, a.text,"
	"  extract(epoch FROM a.created_at)::float8, extract(epoch FROM r.created_at)::float8,"
	"  coalesce(s.active, false), count(*) OVER ()"
	" FROM alert_outbox a"
	" LEFT JOIN LATERAL (SELECT x.created_at FROM alert_outbox x"
	"   WHERE x.alert_key = a.alert_key AND x.resolved AND x.created_at >= a.created_at"
	"   ORDER BY x.created_at LIMIT 1) r ON true"
	" LEFT JOIN alert_state s ON s.alert_key = a.alert_key"
	" WHERE NOT a.resolved AND a.created_at > " WINDOW
	" ORDER BY a.created_at DESC, a.id DESC LIMIT 500";

static const char css[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:0 24px 40px;color:#212121;background:#fafafa}"
	"h1{margin:16px 0 4px}h2{margin:28px 0 6px;border-bottom:1px solid #ddd}"
	"header p{margin:2px 0;color:#424242}code{background:#eee;padding:1px 4px}"
	"nav a{margin-right:12px}.note{color:#616161;margin:4px 0 10px}"
	"table{border-collapse:collapse;background:#fff;font-size:13px}"
	"th,td{border:1px solid #e0e0e0;padding:2px 8px;text-align:left;white-space:nowrap}"
	"td.num{text-align:right}td.wrap{white-space:normal;max-width:520px;"
	"overflow-wrap:anywhere}figcaption b,td.name{unicode-bidi:isolate}"
	".lv{color:#fff;padding:0 6px;border-radius:3px}"
	".grid{display:flex;flex-wrap:wrap;gap:8px}figure{margin:6px 0;background:#fff;"
	"border:1px solid #e0e0e0;padding:4px}figcaption{font-size:12px;color:#424242}"
	".small{width:300px}svg text{font-size:10px;fill:#616161}"
	".axis line{stroke:#9e9e9e}.grid line,line.grid{stroke:#eee}"
	".legend{font-size:12px}.key{margin-right:12px}.key i{display:inline-block;"
	"width:10px;height:10px;margin-right:4px}.crit{color:#c62828;font-weight:bold}"
	".warn{color:#ef6c00}\n";

static void td(struct strbuf *out, const char *cls, const char *text)
{
	sb_add(out, cls ? "<td class=\"" : "<td>");
	if (cls) {
		sb_add(out, cls);
		sb_add(out, "\">");
	}
	if (cls && !strcmp(cls, "name"))
		html_name(out, text);
	else
		html_esc(out, text);
	sb_add(out, "</td>");
}

static void header(struct strbuf *out, const struct report_opts *o, const PGresult *h,
		   const PGresult *pool)
{
	static const char *const st[] = { "active", "ready", "warming", "pending",
		"provisioned", "degraded", "banned" };
	char now[32], from[32], d0[32], d1[32];
	long by[7] = { 0 };
	int r, k;

	for (r = 0; r < PQntuples(pool); r++)
		for (k = 0; k < 7; k++)
			if (!strcmp(PQgetvalue(pool, r, POOL_STATUS), st[k]))
				by[k]++;
	fmt_time(strtod(PQgetvalue(h, 0, 0), NULL), now, sizeof(now));
	fmt_time(strtod(PQgetvalue(h, 0, 1), NULL), from, sizeof(from));
	if (o->days == 7)
		sb_add(out, "<header><h1>chipctl: the pool's week</h1>");
	else
		sb_addf(out, "<header><h1>chipctl: the pool's last %d days</h1>", o->days);
	sb_addf(out, "<p>Window <b>%s</b> to <b>%s</b> UTC. ", from, now);
	if (db_val(h, 0, 5)) {
		fmt_time(strtod(PQgetvalue(h, 0, 5), NULL), d0, sizeof(d0));
		fmt_time(strtod(PQgetvalue(h, 0, 6), NULL), d1, sizeof(d1));
		sb_addf(out, "Data from %s to %s UTC.</p>", d0, d1);
	} else {
		sb_add(out, "No history recorded in the window yet.</p>");
	}
	sb_addf(out, "<p><b>%d chips</b>:", PQntuples(pool));
	for (k = 0; k < 7; k++)
		sb_addf(out, " %s %ld%s", st[k], by[k], k < 6 ? "," : ".");
	sb_addf(out, " <b>%s messages</b> enqueued in the window (%s sent), %s in the queue"
		" table.</p>", PQgetvalue(h, 0, 2), PQgetvalue(h, 0, 4), PQgetvalue(h, 0, 3));
	sb_add(out, "<p>Generated by <code>");
	html_esc(out, o->command);
	sb_add(out, "</code>, chipctl ");
	html_esc(out, o->version);
	sb_addf(out, ", at %s UTC.</p></header>\n<nav><a href=\"#pool\">Pool now</a>"
		"<a href=\"#trust\">Trust history</a><a href=\"#queue\">Queue</a>"
		"<a href=\"#breakers\">Breakers</a><a href=\"#alerts\">Alerts</a></nav>\n", now);
}

static void pool_table(struct strbuf *out, const PGresult *res)
{
	int r;

	sb_add(out, "<section id=\"pool\"><h2>The pool now</h2><table class=\"pool\"><tr>"
	       "<th>instance</th><th>phone</th><th>status</th><th>trust</th><th>connection</th>"
	       "<th>breaker</th><th>cooldown</th><th>recovery</th><th>sent 24h</th>"
	       "<th>errors 24h</th></tr>");
	for (r = 0; r < PQntuples(res); r++) {
		char conn[32], brk[48], cool[24];

		pool_connection_text(res, r, conn, sizeof(conn));
		pool_breaker_text(res, r, brk, sizeof(brk));
		if (db_long(res, r, POOL_COOL_MIN) > 0)
			snprintf(cool, sizeof(cool), "%ldm", db_long(res, r, POOL_COOL_MIN));
		else
			snprintf(cool, sizeof(cool), "-");
		sb_add(out, "<tr class=\"chip\">");
		td(out, "name", PQgetvalue(res, r, POOL_NAME));
		td(out, "name", PQgetvalue(res, r, POOL_PHONE));
		td(out, NULL, PQgetvalue(res, r, POOL_STATUS));
		sb_addf(out, "<td><span class=\"lv\" style=\"background:%s\">%.0f ",
			level_colour(PQgetvalue(res, r, POOL_LEVEL)),
			strtod(PQgetvalue(res, r, POOL_TRUST), NULL));
		html_esc(out, PQgetvalue(res, r, POOL_LEVEL));
		sb_add(out, "</span></td>");
		td(out, strcmp(conn, "connected") && strcmp(conn, "zapi") ? "warn" : NULL, conn);
		td(out, strncmp(brk, "closed", 6) ? "crit" : NULL, brk);
		td(out, NULL, cool);
		td(out, NULL, db_val(res, r, POOL_PHASE) ? PQgetvalue(res, r, POOL_PHASE) : "-");
		td(out, "num", PQgetvalue(res, r, POOL_SENT));
		td(out, "num", PQgetvalue(res, r, POOL_ERRORS));
		sb_add(out, "</tr>");
	}
	sb_add(out, "</table></section>\n");
}

static void breakers(struct strbuf *out, const PGresult *now, const PGresult *tr)
{
	int r;

	sb_add(out, "<section id=\"breakers\"><h2>Circuit breakers</h2>");
	if (!PQntuples(now))
		sb_add(out, "<p>Every breaker is closed now.</p>");
	for (r = 0; r < PQntuples(now); r++) {
		char held[32] = "?";
		if (db_val(now, r, 3))
			fmt_duration(strtod(PQgetvalue(now, r, 3), NULL), held, sizeof(held));
		sb_add(out, "<p class=\"crit\">");
		html_name(out, PQgetvalue(now, r, 0));
		sb_add(out, " is ");
		html_esc(out, PQgetvalue(now, r, 1));
		if (db_val(now, r, 2)) {
			sb_add(out, " (");
			html_esc(out, PQgetvalue(now, r, 2));
			sb_add(out, ")");
		}
		sb_addf(out, ", opened %s ago.</p>", held);
	}
	sb_addf(out, "<p class=\"note\">%s transitions in the window%s; each state held until"
		" the breaker's next transition.</p>",
		PQntuples(tr) ? PQgetvalue(tr, 0, 8) : "No",
		PQntuples(tr) >= 500 ? " (the latest 500 shown)" : "");
	if (PQntuples(tr))
		sb_add(out, "<table class=\"transitions\"><tr><th>when (UTC)</th><th>breaker</th>"
		       "<th>from</th><th>to</th><th>held</th><th>reason</th><th>actor</th></tr>");
	for (r = 0; r < PQntuples(tr); r++) {
		char when[32], dur[32], held[48];
		fmt_time(strtod(PQgetvalue(tr, r, 5), NULL), when, sizeof(when));
		fmt_duration(strtod(PQgetvalue(tr, r, 6), NULL), dur, sizeof(dur));
		snprintf(held, sizeof(held), "%s%s", dur,
			 !strcmp(PQgetvalue(tr, r, 7), "t") ? " (still)" : "");
		sb_add(out, "<tr class=\"transition\">");
		td(out, NULL, when);
		td(out, "name", PQgetvalue(tr, r, 0));
		td(out, NULL, PQgetvalue(tr, r, 1));
		td(out, strcmp(PQgetvalue(tr, r, 2), "closed") ? "crit" : NULL, PQgetvalue(tr, r, 2));
		td(out, NULL, held);
		td(out, "wrap", PQgetvalue(tr, r, 3));
		td(out, NULL, PQgetvalue(tr, r, 4));
		sb_add(out, "</tr>");
	}
	sb_add(out, PQntuples(tr) ? "</table></section>\n" : "</section>\n");
}

static void alerts(struct strbuf *out, const PGresult *res, double now)
{
	int r;

	sb_addf(out, "<section id=\"alerts\"><h2>Alerts</h2><p class=\"note\">%s alerts raised"
		" in the window%s; held: until its resolved notice.</p>",
		PQntuples(res) ? PQgetvalue(res, 0, 7) : "No",
		PQntuples(res) >= 500 ? " (the latest 500 shown)" : "");
	if (PQntuples(res))
		sb_add(out, "<table class=\"alerts\"><tr><th>raised (UTC)</th><th>severity</th>"
		       "<th>type</th><th>subject</th><th>held</th><th>text</th></tr>");
	for (r = 0; r < PQntuples(res); r++) {
		double raised = strtod(PQgetvalue(res, r, 4), NULL);
		char when[32], held[48];

		fmt_time(raised, when, sizeof(when));
		if (db_val(res, r, 5)) {
			fmt_duration(strtod(PQgetvalue(res, r, 5), NULL) - raised, held, sizeof(held));
		} else if (!strcmp(PQgetvalue(res, r, 6), "t")) {
			char dur[32];
			fmt_duration(now - raised, dur, sizeof(dur));
			snprintf(held, sizeof(held), "%s (active)", dur);
		} else {
			snprintf(held, sizeof(held), "-");
		}
		sb_add(out, "<tr class=\"alert\">");
		td(out, NULL, when);
		td(out, !strcmp(PQgetvalue(res, r, 2), "critical") ? "crit" :
		   !strcmp(PQgetvalue(res, r, 2), "warning") ? "warn" : NULL, PQgetvalue(res, r, 2));
		td(out, NULL, PQgetvalue(res, r, 0));
		td(out, "name", PQgetvalue(res, r, 1));
		td(out, NULL, held);
		td(out, "wrap", PQgetvalue(res, r, 3));
		sb_add(out, "</tr>");
	}
	sb_add(out, PQntuples(res) ? "</table></section>\n" : "</section>\n");
}

int report_html(struct db *db, const struct config *cfg, const struct report_opts *o,
		struct strbuf *out)
{
	char days[16];
	const char *p[1] = { days };
	PGresult *h = NULL, *pool = NULL, *brk = NULL, *tr = NULL, *al = NULL;
	double t0, t1;
	int rc = -1;

	snprintf(days, sizeof(days), "%d", o->days);
	/* One snapshot for the whole page, so its sections agree; and no JIT:
	 * every query here is a few index scans, which JIT compiling would
	 * only slow down (by half a second at 1,000 chips). */
	if (db_begin(db))
		return -1;
	if (db_exec(db, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL) < 0 ||
	    db_exec(db, "SET LOCAL jit = off", 0, NULL) < 0 ||
	    !(h = db_query(db, header_sql, 1, p)) ||
	    !(pool = db_query(db, pool_list_sql, 1, (const char *const[]){ NULL })) ||
	    !(brk = db_query(db, breakers_now_sql, 0, NULL)) ||
	    !(tr = db_query(db, transitions_sql, 1, p)) ||
	    !(al = db_query(db, alerts_sql, 1, p)))
		goto out;
	t1 = strtod(PQgetvalue(h, 0, 0), NULL);
	t0 = strtod(PQgetvalue(h, 0, 1), NULL);
	sb_add(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';"
	       " style-src 'unsafe-inline'\"><title>chipctl report</title><style>");
	sb_add(out, css);
	sb_add(out, "</style></head><body>\n");
	header(out, o, h, pool);
	pool_table(out, pool);
	if (report_trust(db, cfg, o, t0, t1, out) || report_queue(db, o, t0, t1, out))
		goto out;
	breakers(out, brk, tr);
	alerts(out, al, t1);
	sb_add(out, "</body></html>\n");
	rc = db_commit(db);
out:
	if (rc)
		db_rollback(db);
	PQclear(h);
	PQclear(pool);
	PQclear(brk);
	PQclear(tr);
	PQclear(al);
	return rc;
}
