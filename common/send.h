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
 * single message is a batch of one.
 */
#ifndef CHIPCTL_SEND_H
#define CHIPCTL_SEND_H

#include "claim.h"
#include "outbound.h"

int sender_init(struct sender *s, struct chipctl_ctx *ctx, const char *worker_id);
void sender_free(struct sender *s);

/* Walk a claimed batch to the end: every message ends sent, waiting,
 * rescheduled or final, all recorded. When *stop becomes true, or the
 * batch's time is up (twice send.batch_seconds), what was sent is
 * recorded and the rest goes back at once (s->given_back counts it). Returns 0, or -1 on a
 * database error (unrecorded messages stay 'processando' for the
 * stuck-queue rescue; what was sent is still recorded if possible). */
int sender_process_batch(struct sender *s, struct outbound *msgs, int n,
			 volatile int *stop);

#endif
