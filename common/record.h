/*
 * record: writing down what happened to each message of a batch (SPEC
 * section 8, step 5).
 *
 * Owns the batch's successes, kept as their answers arrive and written
 * together (chipctl_record_sends: their attempts, then the queue rows
 * 'enviada', the interactions, the affinity, the chips' totals, the
 * breakers reset), every RECORD_FLUSH_S or RECORD_FLUSH_COUNT successes
 * while the sends go on (sent without waiting: libpq's pipeline mode) and
 * at the batch's end: no commit per message, and no send waits for one. A worker killed before a
 * flush leaves its sends uncertain (their chip and start were committed
 * before they left: chipctl_sends_start), and whoever takes those messages
 * next asks the provider (reconcile), so none is sent twice. Also each
 * failed attempt, with whose fault it was, and for the chip's fault its
 * cooldown (the policy: 429 and rate-overlimit 5 min, 400 30 min, 403 60
 * min, others 15 min, or longer when Retry-After says so) or its session
 * marked down, and the restriction alert (chipctl_record_failure); and the
 * messages that leave unsent, in one round trip (chipctl_finish_batch:
 * waiting, backing off, or final; an uncertain one keeps its chip and
 * start). Results are written only while the message is still claimed by
 * this worker. Whether attempts are used up, and whether a message has
 * expired, is decided by the SQL definitions, not here.
 */
#ifndef CHIPCTL_RECORD_H
#define CHIPCTL_RECORD_H

#include "outbound.h"

struct pool_chip;
struct send_result;

/* Successes are written together at most this long after the first, or
 * once this many wait. */
#define RECORD_FLUSH_S 0.2
#define RECORD_FLUSH_COUNT 200
#define RECORD_ARRAYS 10

/* The successes of a batch, waiting for their write. */
struct record {
	struct strbuf a[RECORD_ARRAYS];	/* the arrays of chipctl_record_sends */
	struct strbuf resets;	/* breakers to close: 'chip:ID', 'provider:NAME' */
	int count;
	double since;		/* mono_now() of the oldest waiting */
};

void record_init(struct record *rec);
void record_free(struct record *rec);

/* Keep one success for the next write: message m sent through chip_id of
 * provider (dirty: its breakers must be closed), the answer r; note, when
 * not NULL, is stored as the attempt's text instead of r's. */
void record_sent(struct sender *s, struct record *rec, const struct outbound *m,
		 const char *chip_id, const char *provider, int dirty,
		 const struct send_result *r, const char *note);
/* The same for a chip of the batch's pool. Returns 0. */
int record_success(struct sender *s, struct record *rec, const struct outbound *m,
		   const struct pool_chip *c, const struct send_result *r);
/* Is it time to write the waiting successes? */
int record_due(const struct record *rec);
/* Write the waiting successes (then empty). 0, or -1 on a database error. */
int record_flush(struct sender *s, struct record *rec);
/* The same without waiting for the server (libpq pipeline mode, the
 * statement its own transaction): the sends go on while it runs. Its
 * answer is read by the next statement on the connection, or by
 * db_pipeline_read; an error there is the flush's. 0, or -1. */
int record_flush_async(struct sender *s, struct record *rec);

/* Write one failed attempt. Returns 1 when the chip can no longer send
 * (cooled off, or its session marked down), 0 when it still can, -1 on a
 * database error. */
int record_failure(struct sender *s, const struct outbound *m, const struct pool_chip *c,
		   const struct send_result *r);

/* Write every message in WALK_FINISH (they become WALK_DONE), and raise
 * the alert of each that failed for good. 0, or -1 on a database error. */
int record_finish(struct sender *s, struct outbound *msgs, int n);

#endif
