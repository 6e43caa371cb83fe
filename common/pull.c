/*
 * pull: the walk of one pull-messages run (see pull.h). Many chips are read
 * at once, one request in flight per chip, its pages one after the other:
 *
 *   page 1            tells how many pages the window has (newest first)
 *   pages 2..P        when P <= pull.max_pages; the last one moves the
 *                     cursor to the run's start (every record up to it read)
 *   pages P, P-1, ... when P > pull.max_pages: the oldest pages, as many as
 *                     allowed; the last one read moves the cursor to just
 *                     before its newest record, and the next run goes on
 *                     from there
 *
 * Pages applied before a failure stay applied and the cursor stays: the
 * next run reads them again and they count once (by id).
 */
#include "pull.h"
#include "evo_history.h"
#include "ctx.h"
#include "db.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "strbuf.h"

#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

static const char chips_sql[] =
	"SELECT chip_id, instance_name, read_from, never_read"
	" FROM chipctl_pull_chips(p_overlap_s => $1::int, p_first_days => $2::int,"
	" p_chip => $3)";

struct chip {
	const char *id, *instance;
	long long from, to;	/* the window, unix seconds */
	int page;		/* the page in flight */
	int pages;		/* from page 1's answer */
	int read;		/* pages read so far */
	int backward;		/* reading the oldest pages, P down */
};

struct walk {
	struct chipctl_ctx *ctx;
	struct http_multi *m;
	struct pull_counts *n;
	int db_failed;
};

/* Queue chip c's page c->page. Returns 0, or -1 (the chip failed). */
static int ask(struct walk *w, struct chip *c)
{
	struct evo_find_query q;
	struct evo_find_request req;
	char err[300];
	int rc;

	memset(&q, 0, sizeof(q));
	q.ts_from = c->from;
	q.ts_to = c->to;
	q.page_size = w->ctx->cfg.pull_page_size;
	q.page = c->page;
	if (evo_find_request_build(&req, w->ctx->cfg.evolution_url,
				   w->ctx->cfg.evolution_api_key, c->instance, &q,
				   err, sizeof(err))) {
		log_warn("cannot read the chip's history; its cursor stays", "chip=%s",
			 c->instance, "error=%s", err);
		w->n->failures++;
		return -1;
	}
	rc = http_multi_add(w->m, "POST", req.url, req.headers, req.body,
			    w->ctx->cfg.evolution_timeout_ms, c);
	evo_find_request_free(&req);
	if (rc) {
		log_warn("cannot read the chip's history; its cursor stays", "chip=%s",
			 c->instance, "error=%s", "libcurl refused the request");
		w->n->failures++;
	}
	return rc;
}

static long long newest(const struct evo_find_result *res)
{
	long long t = 0;
	size_t i;

	for (i = 0; i < res->n; i++)
		if (res->records[i].timestamp > t)
			t = res->records[i].timestamp;
	return t;
}

/*
 * Decide what follows page c->page of chip c, whose answer is res: the
 * next page to ask for (set in c->page, returns 1), or the end (returns 0)
 * with *read_to the cursor's new place (0: it stays).
 */
static int next_page(struct walk *w, struct chip *c, const struct evo_find_result *res,
		     long long *read_to)
{
	int max = w->ctx->cfg.pull_max_pages;

	*read_to = 0;
	c->read++;
	if (c->page == 1) {
		c->pages = (int)(res->pages > 1 ? (res->pages > 1000000 ? 1000000 : res->pages) : 1);
		if (c->pages > max) {
			c->backward = 1;
			if (max == 1) {
				log_warn("the chip's history has more pages than pull.max_pages "
					 "allows; its cursor stays", "chip=%s", c->instance,
					 "pages=%d", c->pages, "max_pages=%d", max);
				return 0;
			}
			log_info("reading the chip's oldest pages first", "chip=%s", c->instance,
				 "pages=%d", c->pages, "max_pages=%d", max);
			c->page = c->pages;
			return 1;
		}
	}
	if (!c->backward) {
		if (c->page < c->pages) {
			c->page++;
			return 1;
		}
		*read_to = c->to;
		return 0;
	}
	if (c->page <= 2) {	/* pages 1 and P..2: all of them */
		*read_to = c->to;
		return 0;
	}
	if (c->read < max) {
		c->page--;
		return 1;
	}
	/* every record older than this page's newest was read */
	if (newest(res) > c->from)
		*read_to = newest(res) - 1;
	return 0;
}

/* One finished request of chip c. */
static void on_answer(struct walk *w, struct chip *c, const struct http_response *resp)
{
	struct evo_find_result res;
	long long read_to;
	size_t bad;
	int more;

	w->n->pages++;
	if (evo_find_parse(resp, &res)) {
		log_warn("cannot read the chip's history; its cursor stays", "chip=%s",
			 c->instance, "status=%ld", res.status, "error=%s", res.error);
		w->n->failures++;
		return;
	}
	more = next_page(w, c, &res, &read_to);
	bad = res.n_malformed;
	if (bad) {
		log_warn("malformed records in the chip's history; its cursor stays",
			 "chip=%s", c->instance, "malformed=%zu", res.n_malformed,
			 "why=%s", res.malformed_why);
		w->n->malformed += (long)res.n_malformed;
		more = 0;
		read_to = 0;
	}
	if (pull_apply_page(w->ctx, c->id, &res, read_to, w->n)) {
		w->db_failed = 1;
		evo_find_result_free(&res);
		return;
	}
	evo_find_result_free(&res);
	if (bad) {
		w->n->failures++;
		return;
	}
	if (more) {
		ask(w, c);
		return;
	}
	if (read_to == c->to)	/* the window read to its end */
		w->n->read++;
}

/* Read every chip of rows; returns 0, or an exit code. */
static int walk(struct chipctl_ctx *ctx, PGresult *rows, struct pull_counts *n)
{
	struct walk w = { ctx, NULL, n, 0 };
	struct chip *chips;
	long long now = (long long)time(NULL);
	int i, k;

	w.m = http_multi_new(ctx->cfg.evolution_connect_timeout_ms,
			     (size_t)ctx->cfg.http_max_response_bytes,
			     ctx->cfg.pull_max_in_flight, 0);
	if (!w.m) {
		log_error("cannot make an HTTP multi handle");
		return EX_SOFTWARE;
	}
	chips = xmalloc((size_t)(n->chips ? n->chips : 1) * sizeof(*chips));
	for (i = 0; i < n->chips; i++) {
		struct chip *c = &chips[i];

		memset(c, 0, sizeof(*c));
		c->id = PQgetvalue(rows, i, 0);
		c->instance = PQgetvalue(rows, i, 1);
		c->from = atoll(PQgetvalue(rows, i, 2));
		c->to = now;
		c->page = 1;
		if (c->from >= c->to)
			c->from = c->to - 1;
		ask(&w, c);
	}
	while (!w.db_failed && http_multi_in_flight(w.m) > 0) {
		void *tag;
		struct http_response resp;

		if (http_multi_wait(w.m, 1000) < 0)
			break;
		while (!w.db_failed && http_multi_next(w.m, &tag, &resp) == 1) {
			on_answer(&w, tag, &resp);
			http_response_free(&resp);
		}
		if (job_renew_if_due(ctx)) {
			log_error("lost the job lease: another run may have started; stopping");
			http_multi_free(w.m);
			free(chips);
			return EX_TEMPFAIL;
		}
	}
	k = http_multi_in_flight(w.m);
	http_multi_free(w.m);
	free(chips);
	if (w.db_failed)
		return db_failure_rc(ctx->db);
	if (k > 0) {
		log_error("the HTTP loop failed; the chips left unread keep their cursors",
			  "unread=%d", k);
		n->failures += k;
	}
	return 0;
}

int pull_run(struct chipctl_ctx *ctx, const char *chip, struct pull_counts *n)
{
	struct http_client *http;
	char overlap[16], first[16];
	const char *params[3];
	PGresult *rows;
	int rc;

	memset(n, 0, sizeof(*n));
	n->keeps_messages = -1;
	if (!ctx->cfg.evolution_url || !*ctx->cfg.evolution_url ||
	    !ctx->cfg.evolution_api_key || !*ctx->cfg.evolution_api_key) {
		log_error("evolution.url and evolution.api_key must be set "
			  "(EVOLUTION_API_URL, EVOLUTION_API_KEY)");
		job_set_error(ctx, "Evolution is not configured");
		return EX_CONFIG;
	}
	snprintf(overlap, sizeof(overlap), "%d", ctx->cfg.pull_overlap_s);
	snprintf(first, sizeof(first), "%d", ctx->cfg.pull_first_days);
	params[0] = overlap;
	params[1] = first;
	params[2] = chip;
	if (!(rows = db_query(ctx->db, chips_sql, 3, params)))
		return db_failure_rc(ctx->db);
	n->chips = PQntuples(rows);
	if (chip && n->chips == 0) {
		log_error("no Evolution chip to read by that name (banned, provisioned, "
			  "Z-API and unknown chips have no history to read)", "chip=%s", chip);
		PQclear(rows);
		return EX_DATAERR;
	}
	http = http_client_new(ctx->cfg.evolution_connect_timeout_ms,
			       ctx->cfg.evolution_timeout_ms,
			       (size_t)ctx->cfg.http_max_response_bytes);
	n->keeps_messages = http ? evo_history_check(ctx, http, 0) : -1;
	http_client_free(http);
	if (n->keeps_messages == -2) {
		PQclear(rows);
		return db_failure_rc(ctx->db);
	}
	if (n->keeps_messages == 0) {
		/* said once for the run, never once per chip */
		log_warn("Evolution keeps no messages (DATABASE_SAVE_DATA_NEW_MESSAGE=false?): "
			 "pull and reconciliation are off; no chip was read",
			 "chips=%ld", n->chips);
		PQclear(rows);
		return 0;
	}
	rc = n->chips ? walk(ctx, rows, n) : 0;
	PQclear(rows);
	if (rc)
		return rc;
	if (n->chips > 0 && n->failures >= n->chips) {
		job_set_error(ctx, "no chip's history could be read");
		return EX_TEMPFAIL;
	}
	return 0;
}
