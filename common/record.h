/*
 * record: writing down what happened to each message of a batch (SPEC
 * section 8, step 5).
 *
 * Owns each success, written the moment its answer arrives without
 * waiting for the database (chipctl_record_sent in libpq's pipeline mode:
 * the message 'enviada' and its attempt, with the choice that led to it),
 * so a worker killed at any moment leaves at most the one message whose
 * HTTP call was in flight sent but unrecorded; what the batch's successes
 * add up to, in one round trip (chipctl_record_success_batch: the
 * interactions, the affinity, the chips' totals, the breakers reset);
 * each failed attempt, with whose fault it was, and for the chip's fault
 * its cooldown (the policy: 429 and rate-overlimit 5 min, 400 30 min, 403
 * 60 min, others 15 min, or longer when Retry-After says so) or its
 * session marked down, and the restriction alert (chipctl_record_failure);
 * and the messages that leave unsent, in one round trip
 * (chipctl_finish_batch: waiting, backing off, or final). Results are
 * written only while the message is still claimed by this worker. Whether
 * attempts are used up, and whether a message has expired, is decided by
 * the SQL definitions (006), not here.
 */
#ifndef CHIPCTL_RECORD_H
#define CHIPCTL_RECORD_H

#include "outbound.h"

struct pool_chip;
struct send_result;

enum { REC_MSG, REC_CHIP, REC_PROV, REC_PMID, REC_TIPO, REC_CLI, REC_TEL, REC_RESET,
       REC_N };

/* The successes of a batch, their totals waiting to be written. */
struct record {
	struct strbuf a[REC_N];
	int count;
};

void record_init(struct record *rec);
void record_free(struct record *rec);

/* Write one success now (pipelined: no wait) and keep it for the batch's
 * totals. 0, or -1 on a database error. */
int record_success(struct sender *s, struct record *rec, const struct outbound *m,
		   const struct pool_chip *c, const struct send_result *r);
/* Write the batch's totals (then empty), after every pipelined success was
 * read back. 0, or -1 on a database error. */
int record_flush(struct sender *s, struct record *rec);

/* Write one failed attempt. Returns 1 when the chip can no longer send
 * (cooled off, or its session marked down), 0 when it still can, -1 on a
 * database error. */
int record_failure(struct sender *s, const struct outbound *m, const struct pool_chip *c,
		   const struct send_result *r);

/* Write every message in WALK_FINISH (they become WALK_DONE), and raise
 * the alert of each that failed for good. 0, or -1 on a database error. */
int record_finish(struct sender *s, struct outbound *msgs, int n);

#endif
