/*
 * flight: the sends of a batch's round, many in flight from one loop (SPEC
 * section 8: one worker keeps every chip that may send busy at once).
 *
 * Owns when each assigned send starts and how its answer comes back: at
 * most one send in flight per chip (a chip's next message starts when its
 * previous answer is in; other workers never get a chip this worker holds,
 * chipctl_reserve_chips), at most send.max_in_flight at once, the starts of
 * the round committed together before any request leaves
 * (chipctl_sends_start: a message whose claim was taken back does not
 * start), the worker's heartbeat every third of watchdog.heartbeat_s while
 * the round goes on, with the waiting messages checked against the queue
 * (a worker paused past its heartbeat sends nothing more from the claim it
 * lost), every
 * request driven by one wait (http_multi, never blocked by one slow chip),
 * the batch's successes written as they accumulate (record_due), and each
 * answer handed as it arrives to send_answer (classify, record, breaker,
 * fail over). When the batch is over (its deadline, a signal) nothing more
 * starts and what is in flight is awaited. Nothing here decides what an
 * answer means.
 */
#ifndef CHIPCTL_FLIGHT_H
#define CHIPCTL_FLIGHT_H

#include "outbound.h"

struct pool;
struct record;

/* Send every message in WALK_ASSIGNED, topping the batch up (sender_topup,
 * *n grows) while its chips run short of messages and may send back to
 * back, until send.batch_seconds. Returns 0, or -1 on a database
 * error (what is in flight is still awaited and handed on). */
int flight_round(struct sender *s, struct pool *pool, struct record *rec,
		 struct outbound *msgs, int *n, volatile int *stop, struct strbuf *urgent);

#endif
