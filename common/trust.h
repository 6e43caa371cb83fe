/*
 * trust: the chip trust score (SPEC 7, issue 5) seen from C.
 *
 * Owns running the recomputation (the formula lives in SQL, in
 * chip_trust_recalcular() of sql/004_trust.sql, set-based; this module
 * passes it the trust.* weights of the config as JSON), the alerts a
 * recomputation raises (a chip falling to vermelho or critico) and `chip
 * explain`. The webhook events that feed it are parsed in common/events.h.
 */
#ifndef CHIPCTL_TRUST_H
#define CHIPCTL_TRUST_H

struct chipctl_ctx;
struct config;

/* The trust.* settings as the JSON object chip_trust_recalcular() takes.
 * The caller frees it. */
char *trust_config_json(const struct config *cfg);

struct trust_run {
	long chips;		/* chips recomputed or attempted */
	long updated;
	long failed;
	long level_changes;
	long alerts;
	long by_level[5];	/* verde amarelo laranja vermelho critico */
};

/*
 * Recompute the trust of one chip (chip_id, a uuid) or, with NULL, of every
 * chip in warming, ready, active or degraded, in one statement. If that
 * statement fails, each chip is retried alone so one bad chip does not stop
 * the rest; failures are logged and counted. A chip whose level falls to
 * vermelho or critico raises a "trust_low" alert (its subject the instance
 * name); one that climbs back resolves it. In a dry run the work is done
 * inside a transaction that is rolled back. motivo goes to the history.
 * Returns 0, or an exit code: 75/78 when the database is gone, 70 when some
 * chips failed.
 */
int trust_recalc(struct chipctl_ctx *ctx, const char *chip_id,
		 const char *motivo, struct trust_run *run);

/*
 * `chipctl chip explain CHIP`: print how the chip's stored score was
 * reached, factor by factor with the inputs, adding up exactly to the
 * stored score; JSON on stdout with ctx->json. CHIP is the chip's uuid,
 * instance_name or telefone. Returns 0, 65 for an unknown chip, or a
 * database exit code.
 */
int trust_explain(struct chipctl_ctx *ctx, const char *chip_ref);

#endif
