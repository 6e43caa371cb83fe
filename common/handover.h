/*
 * handover: the conversations of degraded and banned chips move to active
 * chips (T11.4).
 *
 * Owns the migration: each active conversation of a degraded or banned chip
 * goes to the doctor's best connected active chip by affinity, otherwise
 * round-robin over the connected active chips by trust; the affinity moves
 * with it; a conversation with an interaction in the last
 * pool.migration_recent_hours gets a continuity message
 * (pool.continuity_text, pool.continuity_delay_hours later) through its new
 * chip; each move is audited in chip_migrations. One statement, rows taken
 * with SKIP LOCKED. Called by the lifecycle's pool pass (lifecycle.h).
 */
#ifndef CHIPCTL_HANDOVER_H
#define CHIPCTL_HANDOVER_H

struct chipctl_ctx;

/* What one migration found and did (in a dry run: would do). */
struct handover {
	long found;		/* conversations of degraded and banned chips */
	long migrated;		/* moved to another chip */
	long continuity;	/* continuity messages scheduled */
};

/* Migrate (in a dry run, count) the conversations. 0, or the exit code of a
 * database error. */
int handover_conversations(struct chipctl_ctx *ctx, struct handover *out);

#endif
