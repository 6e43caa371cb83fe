/*
 * evo_history: does the Evolution server keep the messages it sends?
 *
 * Owns the one check (api-contracts section 11, "When it knows nothing"):
 * look up, by its key.id, the newest message chipctl knows was sent through
 * an Evolution chip; found means the server keeps messages, an answer that
 * holds nothing means it does not (DATABASE_SAVE_DATA_NEW_MESSAGE=false),
 * and then findMessages can tell nothing: reconciliation and pull-messages
 * are off. The result is kept in the evolution_history row (read by `health
 * evolution`). The send path's reconciliation (trusting a stored answer
 * for an hour) and pull-messages (asking every run) share it; the SQL it
 * reads and writes is sql/functions/12_pull.sql's.
 */
#ifndef CHIPCTL_EVO_HISTORY_H
#define CHIPCTL_EVO_HISTORY_H

struct chipctl_ctx;
struct http_client;

/* How long the send path trusts a stored answer before asking again. */
#define EVO_HISTORY_MAX_AGE_S 3600

/*
 * Ask (or, with max_age_s > 0, read a stored answer younger than that):
 * one findMessages by the id of the newest message known sent through an
 * Evolution chip at least a minute ago (chipctl_evolution_probe), the answer
 * kept in evolution_history (chipctl_evolution_keeps; not with dry_run).
 * 1: the server keeps messages; 0: it keeps nothing (a warning logged);
 * -1: not known (nothing to look up, or the server could not be asked);
 * -2: a database error.
 */
int evo_history_check(struct chipctl_ctx *ctx, struct http_client *http, int max_age_s);

#endif
