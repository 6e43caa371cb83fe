/*
 * lifecycle: the one place that changes a chip's status.
 *
 * Owns writing chips.status together with its chip_status_transitions row
 * (from, to, reason, actor, run id) in the same statement, and the side
 * effects a status implies: 'degraded' stamps demovido_em/demovido_motivo
 * and ends any recovery; leaving 'degraded' for 'ready' or 'active' starts
 * recovery at phase 1 (T10.3: a degraded chip returns to service only
 * through recovery); 'warming' stamps warming_started_at; 'banned' is
 * final and is never left. Moves are set-based: the caller gives the SQL
 * that selects the chips, the helper moves them all in one round trip.
 * The send-worker, trust-update and every command here call this.
 *
 * Also owns the rules that decide those moves in a pool-check pass
 * (T11.1, T10.3, T11.4): demotion and recovery, both read from the one SQL
 * definition of a chip's demotion reason (chipctl_demotion_reason in
 * sql/008_lifecycle_truth.sql, the pool.demote_* settings its thresholds),
 * graduation, promotion, the recovery phases, and, through handover.h,
 * the migration of the conversations of degraded and banned chips.
 */
#ifndef CHIPCTL_LIFECYCLE_H
#define CHIPCTL_LIFECYCLE_H

#include <libpq-fe.h>
#include <stddef.h>

struct chipctl_ctx;

/* Result columns of lifecycle_move. */
enum { LC_ID, LC_INSTANCE, LC_FROM, LC_TO, LC_REASON };

/*
 * Move the chips that cand_sql selects to status `to`. cand_sql returns
 * two columns, (id uuid, reason text), and may use $1..$nparams. A chip
 * already in `to`, or banned, is left alone. Returns the moved chips
 * (columns LC_*; PQclear it), or NULL after a database error. In a dry
 * run nothing is written and the result lists what would move.
 */
PGresult *lifecycle_move(struct chipctl_ctx *ctx, const char *cand_sql,
			 int nparams, const char *const *params,
			 const char *to, const char *actor);

/* One chip by id: returns 1 when it moved, 0 when it did not (already
 * there, or banned), -1 on a database error. */
int lifecycle_set_status(struct chipctl_ctx *ctx, const char *chip_id,
			 const char *to, const char *reason, const char *actor);

/* A new chip in 'provisioned' (a Salvy number) with its first transition
 * row. Fills id_out[37]. Returns 0, or -1 on a database error. */
int lifecycle_create_chip(struct chipctl_ctx *ctx, const char *telefone,
			  const char *instance_name, const char *salvy_id,
			  const char *reason, const char *actor, char *id_out);

/* "job:NAME" for a cron job, the actor of its transitions. */
void lifecycle_job_actor(const struct chipctl_ctx *ctx, char *buf, size_t n);

/* What one pool pass changed (or, in a dry run, would change). */
struct lifecycle_pass {
	long demoted, recovered, graduated, promoted;
	long recovery_advanced, recovery_completed;
	long conversations_found, conversations_migrated, continuity_scheduled;
};

/*
 * One pool pass, in this order: demote each active chip that has a
 * demotion reason (one chip_demoted alert each), return degraded chips that
 * have none (after pool.recover_after_min, connected, not cooling off) to
 * ready through recovery, graduate warming chips, promote ready ones to
 * pool.min_active, advance recovery phases, migrate the conversations of
 * degraded and banned chips. A failed step does not stop the others.
 * Returns 0, or the exit code of the first database failure.
 */
int lifecycle_pool_pass(struct chipctl_ctx *ctx, const char *actor,
			struct lifecycle_pass *out);

/* Why chip chip_id (a uuid) should be demoted now, by the config's
 * thresholds, into buf: returns 1 with a reason, 0 with none (buf ""), -1
 * on a database error. */
int lifecycle_demotion_reason(struct chipctl_ctx *ctx, const char *chip_id,
			      char *buf, size_t n);

/* Is s one of the seven chip statuses? */
int lifecycle_valid_status(const char *s);

#endif
