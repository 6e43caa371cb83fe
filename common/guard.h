/*
 * guard: the doctor's guardrails (SPEC section 8, step 1; T04, T06).
 *
 * Owns reserving each message's weight against its doctor's daily limit
 * and 7-day cap for a whole batch in one round trip (a conditional upsert
 * in chipctl_guardrail_reserve, so concurrent workers cannot overshoot):
 * a blocked doctor's message is cancelled FAILED_GUARDRAIL, an over-limit
 * one is rescheduled, with jitter, to when it is allowed, never dropped.
 * The share reserved is recorded on the message (reserva_dia, reserva_peso)
 * by the same call, and a message that already holds today's is not
 * counted again: whoever takes it back unsent gives it back once
 * (chipctl_give_back).
 * Weights and exemptions come from the message-type table (msgtype).
 * Before any of that, a text no provider would take (blank, longer than
 * 10000 bytes, not UTF-8: validate_message_text) ends the message
 * FAILED_INVALID_MESSAGE at once: its own fault, no chip spent on it.
 */
#ifndef CHIPCTL_GUARD_H
#define CHIPCTL_GUARD_H

#include "outbound.h"

/* Decide every message of the batch: the ones held back or refused get
 * their finish (WALK_FINISH); one the rescue took back meanwhile is
 * WALK_DONE; the others keep WALK_SELECT with pr.day set to the day
 * reserved. 0, or -1 on a database error. */
int guard_batch(struct sender *s, struct outbound *msgs, int n);

#endif
