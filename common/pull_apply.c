/*
 * pull_apply: a page of a chip's Evolution history as one statement, and
 * whether the server keeps messages at all (see pull.h).
 *
 * A record becomes what a webhook event of it would be (the JID and the
 * messageType read by events.c, as ingest reads them): a message from
 * someone else ('in'), a message the chip sent ('out') and, for a message
 * the chip sent, its best receipt ('receipt'). What each means is decided
 * in SQL (chipctl_apply_traffic), once for ingest and pull alike.
 */
#include "pull.h"
#include "ctx.h"
#include "db.h"
#include "events.h"
#include "log.h"
#include "pgarray.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char apply_sql[] =
	"SELECT replies, answered, outbound, own, claimed, receipts, duplicates"
	" FROM chipctl_pull_apply(p_chip_id => $1::uuid, p_kinds => $2::text[],"
	" p_phones => $3::text[], p_message_ids => $4::text[], p_media => $5::text[],"
	" p_statuses => $6::text[], p_at => $7::timestamptz[],"
	" p_read_to => $8::timestamptz, p_run_id => $9::uuid)";

struct page_arrays {
	struct strbuf kinds, phones, ids, media, statuses, at;
};

static void iso_utc(long long t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void add_row(struct page_arrays *a, const char *kind, const char *phone,
		    const char *id, const char *media, const char *status, const char *at)
{
	pga_add(&a->kinds, kind);
	pga_add(&a->phones, phone);
	pga_add(&a->ids, id);
	pga_add(&a->media, media);
	pga_add(&a->statuses, status);
	pga_add(&a->at, at);
}

/* The page's records as the arrays of chipctl_pull_apply. */
static void build(const struct evo_find_result *res, struct page_arrays *a,
		  struct pull_counts *n)
{
	char phone[64], media[32], at[32];
	size_t i;

	for (i = 0; i < res->n; i++) {
		const struct evo_record *r = &res->records[i];

		if (event_jid_phone(r->remote_jid, phone, sizeof(phone))) {
			n->skipped++;
			continue;
		}
		event_media_type(r->message_type, media, sizeof(media));
		iso_utc(r->timestamp, at, sizeof(at));
		add_row(a, r->from_me ? "out" : "in", phone, r->key_id, media, NULL, at);
		if (r->from_me && r->receipt != EVO_RECEIPT_NONE)
			add_row(a, "receipt", phone, r->key_id, media,
				evo_receipt_name(r->receipt), at);
	}
}

int pull_apply_page(struct chipctl_ctx *ctx, const char *chip_id,
		    const struct evo_find_result *res, long long read_to,
		    struct pull_counts *n)
{
	struct page_arrays a;
	char read_to_s[32];
	const char *params[9];
	PGresult *r;

	memset(&a, 0, sizeof(a));
	n->records += (long)res->n;
	build(res, &a, n);
	if (read_to > 0)
		iso_utc(read_to, read_to_s, sizeof(read_to_s));
	params[0] = chip_id;
	params[1] = pga_end(&a.kinds);
	params[2] = pga_end(&a.phones);
	params[3] = pga_end(&a.ids);
	params[4] = pga_end(&a.media);
	params[5] = pga_end(&a.statuses);
	params[6] = pga_end(&a.at);
	params[7] = read_to > 0 ? read_to_s : NULL;
	params[8] = ctx->run_id;
	r = NULL;
	if (!ctx->dry_run || !db_begin(ctx->db)) {
		r = db_query(ctx->db, apply_sql, 9, params);
		if (ctx->dry_run)
			db_rollback(ctx->db);
	}
	sb_free(&a.kinds);
	sb_free(&a.phones);
	sb_free(&a.ids);
	sb_free(&a.media);
	sb_free(&a.statuses);
	sb_free(&a.at);
	if (!r)
		return -1;
	n->replies += db_long(r, 0, 0);
	n->answered += db_long(r, 0, 1);
	n->outbound += db_long(r, 0, 2);
	n->own += db_long(r, 0, 3);
	n->claimed += db_long(r, 0, 4);
	n->receipts += db_long(r, 0, 5);
	n->duplicates += db_long(r, 0, 6);
	PQclear(r);
	return 0;
}
