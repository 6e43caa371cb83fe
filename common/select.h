/*
 * select: choosing a chip for each message of a batch (SPEC section 8,
 * step 2; T11.6, T09.2, T05.7, T11.5, T10.1).
 *
 * Owns the choice, made in the worker over one snapshot of the pool per
 * batch (the chipctl_chip_now view: the one definition of a sendable chip),
 * and the reservation of the chosen chips' hourly and daily room, of any
 * breaker probe, of the chip's pacing gap and of its hold (one send in
 * flight fleet-wide), in one round trip (chipctl_reserve_chips): the
 * database grants what is still free, so no number of workers can take a
 * chip past its limits, start two of its sends at once or within its gap.
 * The order of preference: a chip that has not refused the message before, then normal
 * mode (the chip's permission for the message type)
 * before fallback mode (trust at the type's fallback threshold), the
 * doctor's chip by affinity (responses weigh three times a message), the
 * least used today and this hour, the highest trust. Reserved sends that do
 * not happen are given back. When no chip can take a message, it says why.
 */
#ifndef CHIPCTL_SELECT_H
#define CHIPCTL_SELECT_H

#include "outbound.h"

struct json_object;

struct pool_chip {
	char id[40];
	char instance[160];
	char provider[16];
	char zapi_id[160];
	char zapi_token[256];
	double trust;
	int perm[3];		/* by enum chip_permission */
	int sendable;
	char blocked_by[16];	/* why not, when not sendable */
	int chip_probe;		/* its breaker is due a probe: one send only */
	int provider_probe;	/* its provider's breaker is due a probe */
	int dirty;		/* a success must close and reset its breakers */
	long long next_send_at;	/* its pacing gap runs until then (unix s), or 0 */
	unsigned rank;		/* this worker's tie-break between equal chips */
	int room_taken;		/* its reservation was refused: another worker
				 * holds it, or took its room, since the snapshot */
	int hour_used, day_used;
	int room;		/* sends it may still take */
	int bad;		/* failed in this batch: no more sends through it */
	int probe_taken;
	int assigned;		/* in the round being reserved */
	int held;		/* this batch holds it (a reservation granted) */
	int unused;		/* reserved and not started (counted by the database as
				 * the chip's held_room, given back at the end) */
	struct json_object *affinity;	/* cliente_id -> score, for this batch */
};

struct pool {
	struct pool_chip *c;
	int n;
	int probe_taken[2];	/* a provider probe went out (evolution, zapi) */
	int down[2];		/* a provider failed in this batch */
};

/* The provider's index in pool->probe_taken and pool->down. */
int select_provider_index(const char *provider);

/* How many chips may send now (sendable, with room, not paced, not held
 * by another worker): 0.., or -1 on a database error; *busy (when not
 * NULL): how many with room only another worker's hold keeps; *due (when
 * not NULL): whether a message is due (pendente, its time reached). */
int select_ready_chips(struct sender *s, int *busy, int *due);

/* A top-up's doctors: their affinity added to the pool, and every chip's
 * hold as it is now (a chip another worker took is no longer offered; one
 * let go is again). The rest of the snapshot, and what this batch
 * reserved, stay. 0 or -1. */
int select_refresh(struct sender *s, struct pool *pool, const struct outbound *msgs, int n);

/* Read the active chips once for the batch. 0, or -1 on a database error. */
int select_load(struct sender *s, const struct outbound *msgs, int n, struct pool *pool);
void select_free(struct pool *pool);

/* May chip c still send in this batch (it has not failed, nor has its
 * provider, and the provider's credentials were not refused)? */
int select_usable(const struct sender *s, const struct pool *pool, const struct pool_chip *c);

/* Choose a chip for every message in WALK_SELECT that can have one (they
 * become WALK_ASSIGNED). When fair, while other workers hold chips, no
 * chip takes more than the messages over every chip that sends (the rest
 * leave the batch for the workers that hold the others: bounced); a
 * top-up, sized for this batch's own chips, is not. Returns how many were
 * assigned. */
int select_assign(struct sender *s, struct pool *pool, struct outbound *msgs, int n, int fair);

/* Reserve the assigned sends (and probes); a message whose chip granted
 * less goes back to WALK_SELECT. 0, or -1 on a database error. */
int select_reserve(struct sender *s, struct pool *pool, struct outbound *msgs, int n);

/* The message's reserved send will not happen (its chip or provider failed
 * since, or the worker stops): back to WALK_SELECT; the chip keeps the send
 * in ->unused, and select_release gives it back. */
void select_unassign(struct outbound *m);

/* The batch is over: give back every reserved send that did not start, and
 * free this worker's chips for the others (chipctl_release_hold), but,
 * when keep, the chips this batch reserved: held on for its next batch
 * (s->keeping). pool may be NULL when no batch is in hand: then every hold
 * is let go. 0 or -1. */
int select_release(struct sender *s, struct pool *pool, int keep);

/* Did the batch meet other workers' holds (a chip busy in its snapshot or
 * refused at its reservation)? 1 or 0. */
int select_crowded(const struct pool *pool);

/* Seconds until the first chip whose pacing gap runs may send again; 0
 * when a chip is held by another worker (free when its batch ends). */
long select_pacing_wait(const struct pool *pool);

/* The outcome_reason_code of a message that no chip can take now. */
const char *select_wait_reason(const struct sender *s, const struct pool *pool,
			       const struct outbound *m);

#endif
