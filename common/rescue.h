/*
 * rescue: taking messages back from workers that will not finish them
 * (SPEC section 8, its last paragraphs; T01.1, T01.2; issues 19 and 23).
 *
 * Owns reset-stuck-queue's work: one call of chipctl_rescue (sql/functions/
 * 11_rescue.sql, where "a worker is dead" and "give back what a message
 * holds" live) that takes back a dead worker's claims at once and any claim
 * older than queue.stuck_minutes, records proven sends, keeps uncertain
 * sends for the provider's lookup, gives back the doctors' quota and the
 * chips' room they held, and frees dead workers' chip holds; the log line,
 * the run's counts and the alert for messages that used their attempts up;
 * and the daily expiry of old pending messages. A dry run does the same in
 * a transaction it rolls back: the counts are the real decision, nothing
 * is written.
 */
#ifndef CHIPCTL_RESCUE_H
#define CHIPCTL_RESCUE_H

struct chipctl_ctx;

struct rescue_counts {
	long recorded_sent;	/* proven sent: recorded 'enviada' */
	long uncertain;		/* a send started, never answered: back, kept for the lookup */
	long requeued;		/* by the 60-minute rule: back with tentativas + 1 */
	long requeued_dead;	/* a dead worker's claim: back, no attempt spent */
	long failed;		/* the 60-minute rule used the attempts up: 'erro' */
	long given_back;	/* messages that gave their reservations back */
	long chips_released;	/* dead workers' chip holds freed */
	long room_given_back;	/* sends of chip room those holds gave back */
	char failed_ids[128];	/* the first ids of the failed ones */
	char dead_workers[256];	/* the dead workers whose claims were taken back */
};

/* Take back what is stuck or held by a dead worker. 0, or -1 after a
 * database error (db_failure_rc says which exit code). */
int rescue_stuck(struct chipctl_ctx *ctx, struct rescue_counts *out);

/* Cancel pending messages past queue.expire_hours since their first due
 * time (FAILED_EXPIRED). 0, or -1 after a database error. */
int rescue_expire(struct chipctl_ctx *ctx, long *expired);

#endif
