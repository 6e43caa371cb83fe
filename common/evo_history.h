/*
 * evo_history: does the Evolution server keep the messages it sends?
 *
 * Owns the one check (api-contracts section 11, "When it knows nothing"):
 * look up, by its key.id, the newest message chipctl knows was sent through
 * an Evolution chip; found means the server keeps messages, an answer that
 * holds nothing means it does not (DATABASE_SAVE_DATA_NEW_MESSAGE=false),
 * and then findMessages can tell nothing: reconciliation and pull-messages
 * are off. The result is kept in the evolution_history row (read by `health
 * evolution`) and trusted for a while before it is asked again. The send
 * path's reconciliation and pull-messages share it.
 */
#ifndef CHIPCTL_EVO_HISTORY_H
#define CHIPCTL_EVO_HISTORY_H

struct chipctl_ctx;
struct http_client;

/* How long a stored answer is trusted before the server is asked again. */
#define EVO_HISTORY_MAX_AGE_S 3600

/*
 * 1: the server keeps messages; 0: it keeps nothing (logged once as a
 * warning, with the row written); -1: not known (no message known sent to
 * look up, or the server could not be asked: nothing is written). With
 * dry_run nothing is written either.
 */
int evo_history_check(struct chipctl_ctx *ctx, struct http_client *http);

#endif
