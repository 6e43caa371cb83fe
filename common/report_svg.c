#include "report_svg.h"
#include "strbuf.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void esc(struct strbuf *sb, const char *s, size_t n)
{
	for (; s && n && *s; s++, n--) {
		switch (*s) {
		case '&': sb_add(sb, "&amp;"); break;
		case '<': sb_add(sb, "&lt;"); break;
		case '>': sb_add(sb, "&gt;"); break;
		case '"': sb_add(sb, "&quot;"); break;
		case '\'': sb_add(sb, "&#39;"); break;
		default: sb_addc(sb, *s); break;
		}
	}
}

static int ascii(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* Text that is not all ASCII may hold right-to-left letters or overrides
 * (U+202E): it goes between U+2068 FSI and U+2069 PDI, the isolates of
 * plain text, which work in HTML, in SVG <text> and in tooltips alike, so
 * nothing in it can reorder what follows. */
#define FSI "\xe2\x81\xa8"
#define PDI "\xe2\x81\xa9"

void html_esc(struct strbuf *sb, const char *s)
{
	int iso = !ascii(s);

	if (iso)
		sb_add(sb, FSI);
	esc(sb, s, (size_t)-1);
	if (iso)
		sb_add(sb, PDI);
}

void html_name(struct strbuf *sb, const char *s)
{
	size_t n = 0, chars = 0;
	int iso = !ascii(s);

	for (; s && s[n] && chars <= REPORT_NAME_MAX; n++)
		if (((unsigned char)s[n] & 0xc0) != 0x80)
			chars++;
	if (iso)
		sb_add(sb, FSI);
	if (chars > REPORT_NAME_MAX) {
		/* n is one past the first byte of character REPORT_NAME_MAX + 1 */
		esc(sb, s, n - 1);
		sb_add(sb, "\xe2\x80\xa6");	/* … */
	} else {
		esc(sb, s, (size_t)-1);
	}
	if (iso)
		sb_add(sb, PDI);
}

const char *level_colour(const char *level)
{
	static const struct { const char *name, *colour; } lv[] = {
		{ "verde", "#2e7d32" }, { "amarelo", "#f2b705" }, { "laranja", "#ef6c00" },
		{ "vermelho", "#c62828" }, { "critico", "#4a148c" },
	};
	size_t i;

	for (i = 0; level && i < sizeof(lv) / sizeof(lv[0]); i++)
		if (!strcmp(level, lv[i].name))
			return lv[i].colour;
	return "#9e9e9e";
}

void fmt_time(double epoch, char *buf, size_t n)
{
	time_t t = (time_t)epoch;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M", &tm);
}

void fmt_duration(double secs, char *buf, size_t n)
{
	long s = secs < 0 ? 0 : (long)(secs + 0.5);

	if (s >= 86400)
		snprintf(buf, n, "%ldd %ldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, n, "%ldh %ldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, n, "%ldm", s / 60);
	else
		snprintf(buf, n, "%lds", s);
}

static double cx(const struct chart *c, double x)
{
	double span = c->x1 > c->x0 ? c->x1 - c->x0 : 1;
	return c->ml + (x - c->x0) / span * (c->w - c->ml - c->mr);
}

static double cy(const struct chart *c, double y)
{
	double span = c->y1 > c->y0 ? c->y1 - c->y0 : 1;
	double v = y < c->y0 ? c->y0 : y > c->y1 ? c->y1 : y;
	return c->h - c->mb - (v - c->y0) / span * (c->h - c->mt - c->mb);
}

void chart_begin(struct chart *c, struct strbuf *sb, int w, int h, double x0,
		 double x1, double y0, double y1, const char *label)
{
	c->sb = sb;
	c->w = w;
	c->h = h;
	c->ml = 38;
	c->mr = 8;
	c->mt = 8;
	c->mb = 18;
	c->x0 = x0;
	c->x1 = x1;
	c->y0 = y0;
	c->y1 = y1 > y0 ? y1 : y0 + 1;
	sb_addf(sb, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
		" viewBox=\"0 0 %d %d\" role=\"img\"><title>", w, h, w, h);
	html_esc(sb, label);
	sb_add(sb, "</title>");
}

/* 1, 2 or 5 times a power of ten, at least raw. */
static double nice_step(double raw)
{
	double p = pow(10, floor(log10(raw > 0 ? raw : 1)));
	double m = raw / p;

	return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static void time_label(const struct chart *c, double t, int hourly, double x,
		       const char *anchor)
{
	char lab[32];
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(lab, sizeof(lab), hourly ? "%H:%M" : "%d %b", &tm);
	sb_addf(c->sb, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">%s</text>",
		x, c->h - 4, anchor, lab);
}

void chart_axes(struct chart *c, int n, int compact)
{
	struct strbuf *sb = c->sb;
	int hourly = c->x1 - c->x0 < 2 * 86400;
	double step;
	long i, first, last;

	sb_addf(sb, "<g class=\"axis\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>",
		c->ml, c->h - c->mb, c->w - c->mr, c->h - c->mb);
	if (compact) {
		sb_addf(sb, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.15g</text>",
			c->ml - 3, cy(c, c->y1) + 4, c->y1);
		sb_addf(sb, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.15g</text>",
			c->ml - 3, cy(c, c->y0), c->y0);
	} else {
		step = nice_step((c->y1 - c->y0) / (n > 0 ? n : 4));
		first = (long)ceil(c->y0 / step);
		last = (long)floor(c->y1 / step + 0.001);
		for (i = first; i <= last; i++) {
			double v = (double)i * step;
			sb_addf(sb, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
				"<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.15g</text>",
				c->ml, cy(c, v), c->w - c->mr, cy(c, v), c->ml - 3, cy(c, v) + 3, v);
		}
	}
	step = hourly ? 3 * 3600 : 86400;
	if (!hourly && c->x1 - c->x0 > 10 * 86400)
		step = 7 * 86400;
	first = (long)ceil(c->x0 / step);
	last = (long)floor(c->x1 / step);
	for (i = first; i <= last; i++)
		sb_addf(sb, "<line class=\"tick\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>",
			cx(c, (double)i * step), c->h - c->mb, cx(c, (double)i * step),
			c->h - c->mb + 3);
	if (compact) {		/* a small chart: only its two ends are named */
		time_label(c, c->x0, hourly, c->ml, "start");
		time_label(c, c->x1, hourly, c->w - c->mr, "end");
	} else {
		for (i = first; i <= last; i++)
			time_label(c, (double)i * step, hourly, cx(c, (double)i * step), "middle");
	}
	sb_add(sb, "</g>");
}

void chart_end(struct chart *c)
{
	sb_add(c->sb, "</svg>");
}

void chart_band(struct chart *c, double ylo, double yhi, const char *fill,
		const char *name)
{
	sb_addf(c->sb, "<rect class=\"band\" data-series=\"%s\" x=\"%d\" y=\"%.1f\""
		" width=\"%d\" height=\"%.1f\" fill=\"%s\" fill-opacity=\"0.13\"/>",
		name, c->ml, cy(c, yhi), c->w - c->ml - c->mr, cy(c, ylo) - cy(c, yhi), fill);
}

void chart_line(struct chart *c, const double *xs, const double *ys, int n,
		const char *colour, const char *series)
{
	int i;

	if (n <= 0)
		return;
	sb_addf(c->sb, "<polyline class=\"line\" data-series=\"%s\" fill=\"none\""
		" stroke=\"%s\" stroke-width=\"1.5\" points=\"", series, colour);
	for (i = 0; i < n; i++)
		sb_addf(c->sb, "%s%.1f,%.1f", i ? " " : "", cx(c, xs[i]), cy(c, ys[i]));
	sb_add(c->sb, "\"/>");
	for (i = 0; i < n; i++)
		sb_addf(c->sb, "<circle class=\"pt\" data-series=\"%s\" cx=\"%.1f\" cy=\"%.1f\""
			" r=\"1.8\" fill=\"%s\"/>", series, cx(c, xs[i]), cy(c, ys[i]), colour);
}

void chart_bar(struct chart *c, double xa, double xb, double ya, double yb,
	       const char *fill, const char *series, const char *tip)
{
	double x = cx(c, xa), w = cx(c, xb) - x, top = cy(c, yb), bot = cy(c, ya);

	sb_addf(c->sb, "<rect class=\"bar\" data-series=\"%s\" x=\"%.1f\" y=\"%.1f\""
		" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>", series, x, top,
		w > 0.5 ? w : 0.5, bot - top, fill);
	html_esc(c->sb, tip);
	sb_add(c->sb, "</title></rect>");
}

void chart_marker(struct chart *c, double x, double y, int up, const char *tip)
{
	double px = cx(c, x), py = cy(c, y);

	if (up)
		sb_addf(c->sb, "<path class=\"promote\" d=\"M%.1f %.1fl4 7h-8z\" fill=\"#1b5e20\">",
			px, py - 9);
	else
		sb_addf(c->sb, "<path class=\"demote\" d=\"M%.1f %.1fl4 -7h-8z\" fill=\"#b71c1c\">",
			px, py + 9);
	sb_add(c->sb, "<title>");
	html_esc(c->sb, tip);
	sb_add(c->sb, "</title></path>");
}

void legend_item(struct strbuf *sb, const char *colour, const char *name)
{
	sb_addf(sb, "<span class=\"key\"><i style=\"background:%s\"></i>", colour);
	html_esc(sb, name);
	sb_add(sb, "</span>");
}
