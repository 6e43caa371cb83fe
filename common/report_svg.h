/*
 * report_svg: the HTML and SVG pieces `chipctl report` writes.
 *
 * Owns escaping text for HTML, the colour of each trust level, time and
 * duration formats (UTC), and the charts: a frame over a time window with
 * its axes, horizontal bands, lines with their points, bars and markers.
 * Every drawn data element carries a class a test can count: "pt" (one per
 * data point), "bar" (one per bar), "band", "promote" and "demote" (one per
 * level change), with data-series naming what it belongs to. Charts are
 * plain SVG: no script, no external reference. Nothing here touches the
 * database.
 */
#ifndef CHIPCTL_REPORT_SVG_H
#define CHIPCTL_REPORT_SVG_H

#include <stddef.h>

struct strbuf;

struct chart {
	struct strbuf *sb;
	int w, h;		/* the SVG's size in px */
	int ml, mr, mt, mb;	/* margins left, right, top, bottom */
	double x0, x1;		/* the window, Unix time */
	double y0, y1;		/* the value range */
};

/* Append s to sb with & < > " ' escaped, isolated (U+2068 ... U+2069) when
 * it is not all ASCII, so right-to-left text or an override inside cannot
 * reorder what follows. NULL appends nothing. */
void html_esc(struct strbuf *sb, const char *s);

/* A name (instance, breaker, subject) as html_esc does, cut to
 * REPORT_NAME_MAX characters with an ellipsis: a 10 kB name must not push
 * a table off the page. */
#define REPORT_NAME_MAX 48
void html_name(struct strbuf *sb, const char *s);

/* The fill colour of a trust level (verde, amarelo, ...); grey if unknown. */
const char *level_colour(const char *level);

/* "2026-01-23 14:05" (UTC) */
void fmt_time(double epoch, char *buf, size_t n);
/* "3d 4h", "2h 15m", "12m", "40s" */
void fmt_duration(double secs, char *buf, size_t n);

/* Open an <svg> of w x h px over [x0, x1] x [y0, y1]; label is its title
 * (escaped here). */
void chart_begin(struct chart *c, struct strbuf *sb, int w, int h, double x0,
		 double x1, double y0, double y1, const char *label);
/* The time axis (days, or hours for a window under two days) and a value
 * axis with about n ticks; compact draws only the outer value ticks. */
void chart_axes(struct chart *c, int n, int compact);
void chart_end(struct chart *c);

/* A horizontal band [ylo, yhi) across the plot. */
void chart_band(struct chart *c, double ylo, double yhi, const char *fill,
		const char *name);
/* A line through n points, each also drawn as a circle class "pt". */
void chart_line(struct chart *c, const double *xs, const double *ys, int n,
		const char *colour, const char *series);
/* A bar over [xa, xb] from ya to yb, class "bar"; tip is its tooltip. */
void chart_bar(struct chart *c, double xa, double xb, double ya, double yb,
	       const char *fill, const char *series, const char *tip);
/* A triangle at (x, y): up for a promotion, down for a demotion. */
void chart_marker(struct chart *c, double x, double y, int up, const char *tip);
/* A legend entry drawn in HTML: a colour swatch and a name. */
void legend_item(struct strbuf *sb, const char *colour, const char *name);

#endif
