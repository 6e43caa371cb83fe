/* The chart sections of `chipctl report`: trust history, the pool's level
 * distribution, the queue. See report.h. */
#include "report.h"
#include "config.h"
#include "db.h"
#include "report_svg.h"
#include "strbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const levels[] = { "verde", "amarelo", "laranja", "vermelho", "critico" };

/* The worst chips now: lowest trust first, banned ones left out (final). */
#define WORST_CTE \
	"WITH w AS (SELECT id, instance_name, trust_score, trust_level, status," \
	"  row_number() OVER (ORDER BY trust_score, instance_name, id) AS rank" \
	"  FROM chips WHERE status <> 'banned'" \
	"  ORDER BY trust_score, instance_name, id LIMIT $2::int) "

static const char history_sql[] = WORST_CTE
	"SELECT w.rank, w.instance_name, w.trust_score, w.trust_level, w.status,"
	"  extract(epoch FROM h.created_at)::float8, h.trust_score"
	" FROM w LEFT JOIN LATERAL (SELECT x.created_at, x.trust_score, x.id"
	"   FROM chip_trust_history x WHERE x.chip_id = w.id"
	"   AND x.created_at > now() - make_interval(days => $1::int)"
	"   ORDER BY x.created_at, x.id OFFSET 0) h ON true"	/* an index scan per chip */
	" ORDER BY w.rank, h.created_at, h.id";

/* Demotions (to degraded or banned) and promotions (to active). */
static const char marks_sql[] = WORST_CTE
	"SELECT w.rank, extract(epoch FROM t.created_at)::float8,"
	"  t.to_status IN ('degraded', 'banned'), coalesce(t.from_status, '?'),"
	"  t.to_status, t.reason"
	" FROM w JOIN chip_status_transitions t ON t.chip_id = w.id"
	" WHERE t.created_at > now() - make_interval(days => $1::int)"
	"   AND t.to_status IN ('degraded', 'banned', 'active')"
	" ORDER BY w.rank, t.created_at, t.id";

/* Each chip's last level of each day, counted by level: one index probe
 * per chip and day, not a sort of the whole window's history. */
static const char distribution_sql[] =
	"SELECT extract(epoch FROM d.d)::float8, h.trust_level, count(*)"
	" FROM unnest(ARRAY(SELECT generate_series(date_trunc('day',"
	"   now() - make_interval(days => $1::int), 'UTC'), now(), interval '1 day'))) AS d(d)"
	" CROSS JOIN chips c"
	" CROSS JOIN LATERAL (SELECT x.trust_level FROM chip_trust_history x"
	"   WHERE x.chip_id = c.id"
	"   AND x.created_at >= greatest(d.d, now() - make_interval(days => $1::int))"
	"   AND x.created_at < d.d + interval '1 day'"
	"   ORDER BY x.created_at DESC LIMIT 1) h"
	" GROUP BY 1, 2 ORDER BY 1, 2";

static void bands(struct chart *c, const struct config *cfg)
{
	double cut[6] = { 0, cfg->trust_level_vermelho, cfg->trust_level_laranja,
			  cfg->trust_level_amarelo, cfg->trust_level_verde, 100 };
	int i;

	for (i = 0; i < 5; i++)
		chart_band(c, cut[i], cut[i + 1], level_colour(levels[4 - i]), levels[4 - i]);
}

static void one_chip(struct strbuf *out, const struct config *cfg, const PGresult *h,
		     int from, int to, const PGresult *mk, double t0, double t1)
{
	int n = 0, r, rank = atoi(PQgetvalue(h, from, 0));
	double *xs = xmalloc(sizeof(double) * (size_t)(to - from));
	double *ys = xmalloc(sizeof(double) * (size_t)(to - from));
	struct chart c;

	for (r = from; r < to; r++)
		if (db_val(h, r, 5)) {
			xs[n] = strtod(PQgetvalue(h, r, 5), NULL);
			ys[n++] = strtod(PQgetvalue(h, r, 6), NULL);
		}
	sb_addf(out, "<figure class=\"small\" data-rank=\"%d\"><figcaption><b>", rank);
	html_name(out, PQgetvalue(h, from, 1));
	sb_addf(out, "</b> <span class=\"lv\" style=\"background:%s\">%.0f ",
		level_colour(PQgetvalue(h, from, 3)), strtod(PQgetvalue(h, from, 2), NULL));
	html_esc(out, PQgetvalue(h, from, 3));
	sb_add(out, "</span> ");
	html_esc(out, PQgetvalue(h, from, 4));
	sb_addf(out, " &middot; %d points</figcaption>", n);
	chart_begin(&c, out, 300, 120, t0, t1, 0, 100, PQgetvalue(h, from, 1));
	bands(&c, cfg);
	chart_axes(&c, 2, 1);
	chart_line(&c, xs, ys, n, "#263238", "trust");
	for (r = 0; r < PQntuples(mk); r++) {
		char tip[512], when[32];
		if (atoi(PQgetvalue(mk, r, 0)) != rank)
			continue;
		fmt_time(strtod(PQgetvalue(mk, r, 1), NULL), when, sizeof(when));
		snprintf(tip, sizeof(tip), "%s %s -> %s: %s", when, PQgetvalue(mk, r, 3),
			 PQgetvalue(mk, r, 4), PQgetvalue(mk, r, 5));
		chart_marker(&c, strtod(PQgetvalue(mk, r, 1), NULL), 100,
			     strcmp(PQgetvalue(mk, r, 2), "t") != 0, tip);
	}
	chart_end(&c);
	sb_add(out, "</figure>");
	free(xs);
	free(ys);
}

static void distribution(struct strbuf *out, const PGresult *res, double t0, double t1)
{
	double top = 1, day = 86400;
	struct chart c;
	int r, i;

	/* the tallest day sets the scale */
	for (r = 0; r < PQntuples(res); ) {
		double d = strtod(PQgetvalue(res, r, 0), NULL), sum = 0;
		for (; r < PQntuples(res) && strtod(PQgetvalue(res, r, 0), NULL) == d; r++)
			sum += strtod(PQgetvalue(res, r, 2), NULL);
		if (sum > top)
			top = sum;
	}
	sb_add(out, "<figure class=\"wide\"><figcaption>Chips by trust level, each chip's"
	       " last level of the day</figcaption>");
	chart_begin(&c, out, 920, 200, floor(t0 / day) * day, t1 + day, 0, top,
		    "chips by trust level per day");
	chart_axes(&c, 4, 0);
	for (r = 0; r < PQntuples(res); ) {
		double d = strtod(PQgetvalue(res, r, 0), NULL), base = 0;
		int end = r;
		while (end < PQntuples(res) && strtod(PQgetvalue(res, end, 0), NULL) == d)
			end++;
		for (i = 0; i < 5; i++) {	/* stacked verde at the bottom */
			int k;
			for (k = r; k < end; k++) {
				char tip[96], series[32], when[32];
				double v;
				if (strcmp(PQgetvalue(res, k, 1), levels[i]))
					continue;
				v = strtod(PQgetvalue(res, k, 2), NULL);
				fmt_time(d, when, sizeof(when));
				snprintf(tip, sizeof(tip), "%.10s: %.0f %s", when, v, levels[i]);
				snprintf(series, sizeof(series), "dist-%s", levels[i]);
				chart_bar(&c, d + day * 0.1, d + day * 0.9, base, base + v,
					  level_colour(levels[i]), series, tip);
				base += v;
			}
		}
		r = end;
	}
	chart_end(&c);
	sb_add(out, "<div class=\"legend\">");
	for (i = 0; i < 5; i++)
		legend_item(out, level_colour(levels[i]), levels[i]);
	sb_add(out, "</div></figure>");
}

int report_trust(struct db *db, const struct config *cfg, const struct report_opts *o,
		 double t0, double t1, struct strbuf *out)
{
	char days[16], worst[16];
	const char *p[2] = { days, worst };
	PGresult *h, *mk, *dist;
	int r, from;

	snprintf(days, sizeof(days), "%d", o->days);
	snprintf(worst, sizeof(worst), "%d", o->worst);
	if (!(h = db_query(db, history_sql, 2, p)))
		return -1;
	if (!(mk = db_query(db, marks_sql, 2, p))) {
		PQclear(h);
		return -1;
	}
	if (!(dist = db_query(db, distribution_sql, 1, p))) {
		PQclear(h);
		PQclear(mk);
		return -1;
	}
	sb_addf(out, "<section id=\"trust\"><h2>Trust history</h2><p class=\"note\">The %d"
		" chips with the lowest trust now (banned ones left out), over the level"
		" bands %d/%d/%d/%d; &#9650; a promotion to active, &#9660; a demotion"
		" (degraded or banned).</p><div class=\"grid\">", o->worst,
		cfg->trust_level_verde, cfg->trust_level_amarelo, cfg->trust_level_laranja,
		cfg->trust_level_vermelho);
	for (r = 0; r < PQntuples(h); ) {
		from = r;
		while (r < PQntuples(h) && !strcmp(PQgetvalue(h, r, 0), PQgetvalue(h, from, 0)))
			r++;
		one_chip(out, cfg, h, from, r, mk, t0, t1);
	}
	if (!PQntuples(h))
		sb_add(out, "<p>No chips.</p>");
	sb_add(out, "</div>");
	distribution(out, dist, t0, t1);
	sb_add(out, "</section>\n");
	PQclear(h);
	PQclear(mk);
	PQclear(dist);
	return 0;
}

/* due, processing and the oldest due age: one row per snapshot; sent and
 * errors in the last hour: the last snapshot of each hour, which counts
 * that hour. */
static const char queue_sql[] =
	"SELECT CASE WHEN name = 'chipctl_queue_messages' THEN 'processing'"
	"   WHEN name = 'chipctl_queue_due_messages' THEN 'due' ELSE 'oldest' END,"
	"  extract(epoch FROM created_at)::float8, value"
	" FROM metrics_snapshots"
	" WHERE created_at > now() - make_interval(days => $1::int)"
	"   AND (name IN ('chipctl_queue_due_messages', 'chipctl_queue_oldest_due_seconds')"
	"     OR (name = 'chipctl_queue_messages' AND labels->>'status' = 'processando'))"
	" UNION ALL "
	"SELECT * FROM (SELECT DISTINCT ON (name, date_trunc('hour', created_at))"
	"   CASE WHEN name = 'chipctl_queue_sent_last_hour' THEN 'sent' ELSE 'errors' END,"
	"   extract(epoch FROM date_trunc('hour', created_at))::float8, value"
	" FROM metrics_snapshots"
	" WHERE created_at > now() - make_interval(days => $1::int)"
	"   AND name IN ('chipctl_queue_sent_last_hour', 'chipctl_queue_errors_last_hour')"
	" ORDER BY name, date_trunc('hour', created_at), created_at DESC) x"
	" ORDER BY 1, 2";

struct series { const char *name; int from, to; double max; };

static void find_series(const PGresult *res, struct series *s)
{
	int r;

	s->from = s->to = 0;
	s->max = 0;
	for (r = 0; r < PQntuples(res) && strcmp(PQgetvalue(res, r, 0), s->name); r++)
		;
	s->from = r;
	for (; r < PQntuples(res) && !strcmp(PQgetvalue(res, r, 0), s->name); r++) {
		double v = strtod(PQgetvalue(res, r, 2), NULL);
		if (v > s->max)
			s->max = v;
	}
	s->to = r;
}

static void line_of(struct chart *c, const PGresult *res, const struct series *s,
		    double scale, const char *colour)
{
	int n = s->to - s->from, i;
	double *xs = xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
	double *ys = xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1));

	for (i = 0; i < n; i++) {
		xs[i] = strtod(PQgetvalue(res, s->from + i, 1), NULL);
		ys[i] = strtod(PQgetvalue(res, s->from + i, 2), NULL) / scale;
	}
	chart_line(c, xs, ys, n, colour, s->name);
	free(xs);
	free(ys);
}

/* One bar per hour of the series, over [hour + a, hour + b] seconds. */
static void bars_of(struct chart *c, const PGresult *res, const struct series *s,
		    double a, double b, const char *colour)
{
	int r;

	for (r = s->from; r < s->to; r++) {
		double h = strtod(PQgetvalue(res, r, 1), NULL);
		double v = strtod(PQgetvalue(res, r, 2), NULL);
		char tip[64], when[32];

		fmt_time(h, when, sizeof(when));
		snprintf(tip, sizeof(tip), "%s: %.0f %s", when, v, s->name);
		chart_bar(c, h + a, h + b, 0, v, colour, s->name, tip);
	}
}

int report_queue(struct db *db, const struct report_opts *o, double t0, double t1,
		 struct strbuf *out)
{
	char days[16];
	const char *p[1] = { days };
	struct series due = { "due", 0, 0, 0 }, proc = { "processing", 0, 0, 0 },
		oldest = { "oldest", 0, 0, 0 }, sent = { "sent", 0, 0, 0 },
		errs = { "errors", 0, 0, 0 };
	struct chart c;
	PGresult *res;

	snprintf(days, sizeof(days), "%d", o->days);
	if (!(res = db_query(db, queue_sql, 1, p)))
		return -1;
	find_series(res, &due);
	find_series(res, &proc);
	find_series(res, &oldest);
	find_series(res, &sent);
	find_series(res, &errs);
	sb_addf(out, "<section id=\"queue\"><h2>The queue</h2><p class=\"note\">From"
		" metrics_snapshots (metrics-snapshot, every 5 min): %d snapshots.</p>",
		due.to - due.from);
	sb_add(out, "<figure class=\"wide\"><figcaption>Due and processing messages</figcaption>");
	chart_begin(&c, out, 920, 180, t0, t1, 0, due.max > proc.max ? due.max : proc.max,
		    "due and processing messages");
	chart_axes(&c, 4, 0);
	line_of(&c, res, &due, 1, "#1565c0");
	line_of(&c, res, &proc, 1, "#8e24aa");
	chart_end(&c);
	sb_add(out, "<div class=\"legend\">");
	legend_item(out, "#1565c0", "due (pendente, due time reached)");
	legend_item(out, "#8e24aa", "processing");
	sb_add(out, "</div></figure>");

	sb_add(out, "<figure class=\"wide\"><figcaption>Sent and failed for good, per hour</figcaption>");
	chart_begin(&c, out, 920, 180, t0, t1 + 3600, 0,
		    sent.max > errs.max ? sent.max : errs.max, "sent and errors per hour");
	chart_axes(&c, 4, 0);
	bars_of(&c, res, &sent, 60, 1770, "#2e7d32");
	bars_of(&c, res, &errs, 1830, 3540, "#c62828");
	chart_end(&c);
	sb_add(out, "<div class=\"legend\">");
	legend_item(out, "#2e7d32", "sent");
	legend_item(out, "#c62828", "errors (erro)");
	sb_add(out, "</div></figure>");

	sb_add(out, "<figure class=\"wide\"><figcaption>Oldest due message's wait, minutes</figcaption>");
	chart_begin(&c, out, 920, 150, t0, t1, 0, oldest.max / 60, "oldest due age");
	chart_axes(&c, 3, 0);
	line_of(&c, res, &oldest, 60, "#ef6c00");
	chart_end(&c);
	sb_add(out, "</figure></section>\n");
	PQclear(res);
	return 0;
}
