/*
 * pull: each Evolution chip's traffic read from its server (findMessages,
 * api-contracts section 11) and applied by the rules ingest uses (issue 20).
 *
 * Owns the walk of one run: which chips (chipctl_pull_chips: Evolution
 * chips with an instance, banned and provisioned ones excepted; Z-API keeps
 * no history), each chip's window (its cursor less pull.overlap_s, up to
 * the run's start; a chip never read pull.first_days back), its pages read
 * one after the other while many chips are read at once (http_multi,
 * pull.max_in_flight), at most pull.max_pages per chip, each page applied in
 * one statement (chipctl_pull_apply, sql/functions/12_pull.sql) with the
 * cursor moved by the chip's last page in the same transaction. A chip whose
 * instance is missing, refused or slow is logged and counted; its cursor
 * stays and the run goes on.
 *
 * pull.c drives the requests; pull_apply.c turns a page into the statement
 * and checks, once per run, whether the server keeps messages at all.
 */
#ifndef CHIPCTL_PULL_H
#define CHIPCTL_PULL_H

#include "evolution_find.h"

struct chipctl_ctx;

struct pull_counts {
	long chips;		/* chips to read */
	long read;		/* chips whose window was read to its end */
	long pages;
	long records;		/* records received (well-formed) */
	long replies;		/* messages from others applied */
	long answered;		/* messages of the chip they answered */
	long outbound;		/* messages sent outside chipctl, applied */
	long own;		/* chipctl's own sends, already counted */
	long claimed;		/* sends the application reported, completed */
	long receipts;		/* receipts that changed something */
	long duplicates;	/* already applied (by ingest or an earlier pull) */
	long skipped;		/* not a direct chat (groups, broadcasts, LID) */
	long malformed;
	long failures;		/* chips that could not be read */
	int keeps_messages;	/* 1 yes, 0 no (nothing pulled), -1 unknown */
};

/*
 * One run. chip: only that chip (id, instance name or phone), or NULL.
 * Returns 0, or an exit code: 65 no such chip, 75 the database failed or
 * every chip failed, 78 Evolution is not configured.
 */
int pull_run(struct chipctl_ctx *ctx, const char *chip, struct pull_counts *n);

/* ---- pull_apply.c ---- */

/*
 * Apply one page of chip_id's history: every well-formed record of res,
 * dated by its messageTimestamp. read_to (unix seconds, 0: none) moves the
 * cursor in the same statement. A dry run applies it in a transaction
 * rolled back. Returns 0, or -1 on a database failure.
 */
int pull_apply_page(struct chipctl_ctx *ctx, const char *chip_id,
		    const struct evo_find_result *res, long long read_to,
		    struct pull_counts *n);


#endif
