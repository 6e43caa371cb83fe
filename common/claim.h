/*
 * claim: the first step of the send path, and the worker's liveness.
 *
 * Owns claiming due messages (FOR UPDATE SKIP LOCKED in a CTE, so the
 * batch size holds and no two workers ever hold one; each comes with the
 * chips that already refused it: a message fails FAILED_ALL_CHIPS only
 * when that many distinct chips refused it), giving
 * claimed messages back, the worker's heartbeat row, and the size of each
 * claim: batches are sized by time (claim_pace), so a fast provider gets
 * large batches (the per-batch round trips spread over many messages) and
 * a slow one small ones (a claim is never held long); and no larger than
 * the chips free now can send, nothing while other workers hold them all
 * (claim_plan): a message claimed only to be given back costs two writes.
 */
#ifndef CHIPCTL_CLAIM_H
#define CHIPCTL_CLAIM_H

#include "outbound.h"

/* Upsert this worker's heartbeat row. 0 or -1. */
int claim_heartbeat(struct sender *s);

/* Claim up to the paced size (and at most at_most, when > 0) due
 * messages. Returns how many (0..), or -1 on a database error. *out is an
 * array to free with claim_free. */
int claim_batch(struct sender *s, struct outbound **out, long at_most);
/* A top-up of the batch in hand: up to want more due messages claimed into
 * msgs[n..], within the batch's room (s->batch_cap, send.batch_size when
 * chips send back to back, else none) and claim_batch's at_most; never an
 * uncertain send (those wait for a batch's opening lookup). Returns how
 * many (0..), or -1 on a database error. */
int claim_more(struct sender *s, struct outbound *msgs, int n, long want);
void claim_free(struct outbound *msgs, int n);

/* Before a claim, its size from the chips that may send now (one pool
 * query, only for a worker's first claim and after a batch that met other
 * workers' holds: s->crowded). The first claim takes one message per ready
 * chip, at least 50 (or send.batch_size, when smaller), at most
 * send.batch_size; a crowded worker's claim takes the share of its pace
 * that the chips free now are of every chip with room (the messages for
 * the held ones would only bounce back to the queue). Returns 0 to claim,
 * 1 when messages are due and every chip with room is held by another
 * worker (claim nothing: they are sending; wait until one is let go), -1
 * on a database error. */
int claim_plan(struct sender *s);
/* claim_plan's sizes: the first claim from ready_chips; a crowded
 * worker's share (s->claim_cap, 0 for none) of its pace from the chips
 * ready now and those busy with other workers. */
void claim_first(struct sender *s, int ready_chips);
void claim_share(struct sender *s, int ready, int busy);

/* Size the next claim from the batch just walked: handled messages in
 * seconds. Without claim_first the first claim takes 50 (or
 * send.batch_size, when smaller);
 * each next one what this worker handles in send.batch_seconds at that
 * rate, at most sixteen times the one before (or than the batch carried,
 * when top-ups made it larger) and at most send.batch_size, at
 * least one; a quarter of the one before when the batch handled none (it
 * gave everything back at its deadline). */
void claim_pace(struct sender *s, int handled, double seconds);

#endif
