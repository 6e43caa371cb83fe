/*
 * send: one worker's walk of a claimed batch (SPEC section 8), step by
 * step: claim (claim) -> guard (guard) -> select, limits and probes
 * reserved (select) -> send and classify (provider) -> record (record) ->
 * breaker (breaker).
 *
 * Owns only the order of the steps and what happens between them: failing
 * over to the next chip (up to send.max_chips_per_message chips per
 * message), moving the batch's other messages off a chip or provider that
 * just failed, and deciding how a message that was not sent leaves: a
 * message waits for capacity (no chip can take it now, or the provider
 * failed) without spending an attempt, with a short capped backoff; only
 * chips that refused it spend its attempts, with the longer backoff; a
 * single message is a batch of one. While chips send back to back (no
 * pacing gap) and the batch is younger than send.batch_seconds, a batch
 * whose chips run short of messages is topped up in flight, so a batch
 * does not end (and its chips wait for the next) more than once per
 * send.batch_seconds.
 */
#ifndef CHIPCTL_SEND_H
#define CHIPCTL_SEND_H

#include "claim.h"
#include "outbound.h"

struct pool;
struct record;
struct send_result;

int sender_init(struct sender *s, struct chipctl_ctx *ctx, const char *worker_id);
void sender_free(struct sender *s);
/* A new s->multi (after libcurl failed: what it held is lost). 0 or -1. */
int sender_multi_reset(struct sender *s);

/* Is the batch in hand over (a signal, or twice send.batch_seconds)? */
int sender_batch_over(const struct sender *s, volatile int *stop);

/* The walk after one answer (flight hands each on as it arrives): a
 * success kept for the batch's write (a probe's written at once, closing
 * its breakers), a failure recorded at once with whose fault it was, the
 * breakers told, and the message failed over, finished or left waiting.
 * 0, or -1 on a database error. */
int send_answer(struct sender *s, struct pool *pool, struct record *rec,
		struct outbound *m, const struct send_result *r, struct strbuf *urgent);
/* The send of m was in flight when the HTTP client failed: uncertain. */
void send_lost(struct sender *s, struct pool *pool, struct outbound *m);

/* Walk a claimed batch to the end: every message ends sent, waiting,
 * rescheduled or final, all recorded. When *stop becomes true, or the
 * batch's time is up (twice send.batch_seconds), what was sent is
 * recorded and the rest goes back at once (s->given_back counts it). Returns 0, or -1 on a
 * database error (unrecorded messages stay 'processando' for the
 * stuck-queue rescue; what was sent is still recorded if possible). */
int sender_process_batch(struct sender *s, struct outbound *msgs, int *n,
			 volatile int *stop);

/* A top-up of the batch in hand while its sends fly (flight asks, when
 * its chips are running out of messages): up to want more claimed into
 * msgs[*n..] (claim_more), guarded, given chips and reserved as a batch's
 * opening does; *n grows by what was claimed. Returns how many (0: none
 * due, or no room), or -1 on a database error. */
int sender_topup(struct sender *s, struct pool *pool, struct outbound *msgs, int *n,
		 long want);

#endif
