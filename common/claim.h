/*
 * claim: the first step of the send path, and the worker's liveness.
 *
 * Owns claiming due messages (FOR UPDATE SKIP LOCKED in a CTE, so the
 * batch size holds and no two workers ever hold one; each comes with the
 * chips that already refused it: a message fails FAILED_ALL_CHIPS only
 * when that many distinct chips refused it), giving
 * claimed messages back, and the worker's heartbeat row.
 */
#ifndef CHIPCTL_CLAIM_H
#define CHIPCTL_CLAIM_H

#include "outbound.h"

/* Upsert this worker's heartbeat row. 0 or -1. */
int claim_heartbeat(struct sender *s);

/* Claim up to send.batch_size (and at most at_most, when > 0) due
 * messages. Returns how many (0..), or -1 on a database error. *out is an
 * array to free with claim_free. */
int claim_batch(struct sender *s, struct outbound **out, long at_most);
void claim_free(struct outbound *msgs, int n);

#endif
