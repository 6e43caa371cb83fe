/*
 * reconcile: the way back for an uncertain send (SPEC section 8, "Exactly
 * once with the provider"; ARCHITECTURE: reconcile -> record, never a blind
 * resend).
 *
 * A claimed message that carries an earlier send whose answer was never
 * recorded (its chip and start were committed before it left: the worker
 * died, the request timed out, the connection was cut) is asked of that
 * chip's Evolution server before anything else happens to it: a fromMe
 * message to that number, in either JID form of a Brazilian number, with
 * that text, since the send started (POST /chat/findMessages, all lookups
 * of a batch in flight at once). Found: recorded sent with the provider's
 * id, never sent again. Not found: sent again, no attempt spent. Could not
 * look: it waits (WAIT_RECONCILE, no attempt spent) and is asked again on
 * its next claim; after send.lookup_max_wait_s since the send started it is
 * sent again, logged as a possible duplicate. Z-API offers no lookup, and a
 * server that keeps nothing (evo_history) cannot answer: those are sent
 * again at once, logged the same way. Owns only that decision; the
 * provider client asks, record writes.
 */
#ifndef CHIPCTL_RECONCILE_H
#define CHIPCTL_RECONCILE_H

#include "outbound.h"

struct record;

/*
 * Settle every uncertain send of the batch: a message found sent becomes
 * WALK_SENT (kept in rec for the next write), one that waits WALK_FINISH,
 * one to send again stays WALK_SELECT with its uncertain send forgotten
 * (and what that send held given back). Returns how many were looked up,
 * or -1 on a database error.
 */
int reconcile_batch(struct sender *s, struct record *rec, struct outbound *msgs, int n);

#endif
