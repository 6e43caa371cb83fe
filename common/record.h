/*
 * record: writing down what happened to each message of a batch (SPEC
 * section 8, step 5).
 *
 * Owns each success, proven the moment its answer arrives without
 * waiting for the database (chipctl_record_sent in libpq's pipeline mode:
 * its successful attempt, with the choice that led to it and the
 * provider's message id, its own transaction), so a worker killed at any
 * moment leaves at most the one message whose HTTP call was in flight
 * sent but unproven; the batch's successes recorded in one round trip
 * (chipctl_record_sent_batch, sql/009, which reads the proofs: the queue
 * rows 'enviada', the interactions, the affinity, the chips' totals, the
 * breakers reset; the stuck-queue rescue calls it too);
 * each failed attempt, with whose fault it was and why (provider.c's
 * classification, stored on the attempt and as the chip's last failure),
 * and for the chip's fault its cooldown (the policy: 429 and
 * rate-overlimit 5 min, 400 30 min, 403 60 min, others 15 min, or longer
 * when Retry-After says so) or, when its session or instance is down or
 * gone, its connection state (what sync-evolution and demotion read), and
 * the restriction alert (chipctl_record_failure);
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

/* The successes of a batch, waiting for the batch's write. */
struct record {
	struct strbuf msgs;	/* their message ids (a PostgreSQL array) */
	struct strbuf resets;	/* breakers to close: 'chip:ID', 'provider:NAME' */
	int count;
};

void record_init(struct record *rec);
void record_free(struct record *rec);

/* Prove one success now (pipelined: no wait) and keep it for the batch's
 * write. 0, or -1 on a database error. */
int record_success(struct sender *s, struct record *rec, const struct outbound *m,
		   const struct pool_chip *c, const struct send_result *r);
/* Record the batch's successes (then empty), after every pipelined proof
 * was read back. 0, or -1 on a database error. */
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
