/*
 * report: the pool's week on one page (`chipctl report`).
 *
 * Owns the report's queries and the page they fill: a header (the data's
 * time range, the number of chips and messages, the generating command and
 * version), the pool now (each chip's status, trust and level, connection,
 * breaker, cooldown, recovery phase, sent and errors in 24 h, read through
 * pool.h), the trust history of the worst chips from chip_trust_history
 * over the level bands of the config, with demotions and promotions from
 * chip_status_transitions marked, the pool's level distribution per day,
 * the queue over the window from metrics_snapshots, and the breaker
 * transitions and alerts with how long each held. One self-contained HTML
 * document: inline CSS and SVG (report_svg.h), no script, no external
 * reference; every text from the database is escaped. Read-only.
 */
#ifndef CHIPCTL_REPORT_H
#define CHIPCTL_REPORT_H

struct config;
struct db;
struct strbuf;

struct report_opts {
	int days;		/* the window: the last N days */
	int worst;		/* trust small multiples for this many chips */
	const char *command;	/* the command line that generated it */
	const char *version;
};

/* Write the whole page into out. Returns 0, or -1 after a database error
 * (logged; db_failure_rc() gives the exit code). */
int report_html(struct db *db, const struct config *cfg,
		const struct report_opts *o, struct strbuf *out);

/* The chart sections (report_charts.c), for report_html: t0 and t1 are the
 * window's ends in Unix time. Each returns 0 or -1. */
int report_trust(struct db *db, const struct config *cfg,
		 const struct report_opts *o, double t0, double t1,
		 struct strbuf *out);
int report_queue(struct db *db, const struct report_opts *o, double t0,
		 double t1, struct strbuf *out);

#endif
