/*
 * provision: new numbers become chips (T11.3).
 *
 * Owns provisioning and writes what it implies: a Salvy number (through the
 * HTTP client common/salvy.h) becomes a chip in 'provisioned' (through
 * common/lifecycle.h), its Evolution instance is created (through
 * common/evolution_admin.h) and the chip moves to 'pending' awaiting its QR
 * scan; each request is a provisioning_requests row; the Salvy numbers of
 * banned chips are cancelled (reason whatsapp-ban). The daily bound
 * (salvy.max_per_day over the last 24 h) is enforced here, so pool-check
 * and `chipctl provision` cannot exceed it together.
 */
#ifndef CHIPCTL_PROVISION_H
#define CHIPCTL_PROVISION_H

struct chipctl_ctx;

struct provision_result {
	int requested;
	int allowed;		/* after the daily bound */
	int numbers;		/* new Salvy numbers, each now a chip */
	int pending;		/* of those, with an Evolution instance */
	int failed;		/* 1 when Salvy failed (the loop stops there) */
	int rc;			/* exit code to report: 0, 75, 78, or a db code */
	char error[512];
};

/*
 * Provision up to `count` numbers in `area_code`, within the daily bound,
 * and record it as a provisioning_requests row. Returns 0 when the
 * database calls worked (see res for what happened), -1 on a database
 * error. In a dry run only the bound is computed.
 */
int provision_numbers(struct chipctl_ctx *ctx, int area_code, int count,
		      const char *reason, const char *actor,
		      struct provision_result *res);

/* Create the Evolution instance of each 'provisioned' chip (a retry after
 * a failed create) and move it to 'pending'. Returns the number moved, or
 * -1 on a database error. */
int provision_create_instances(struct chipctl_ctx *ctx, const char *actor);

/* Cancel (reason whatsapp-ban) the Salvy numbers of banned chips not yet
 * cancelled (only chip only_chip_id when not NULL). Returns the number
 * cancelled, or -1 on a database error. */
int provision_cancel_banned(struct chipctl_ctx *ctx, const char *only_chip_id);

/* What pool-check's provisioning step did. */
struct provision_pass {
	long instances_created, salvy_cancelled;
	long need;		/* numbers the pool cannot find in its pipeline */
	int salvy_ran;		/* Salvy was asked for numbers */
	long provisioned, provisioned_pending;
};

/*
 * pool-check's step: retry failed instance creations, cancel banned chips'
 * numbers, and when the pipeline (ready, warming, pending, provisioned)
 * cannot cover the deficit of active chips below pool.min_active: keep an
 * open provisioning request and alert (Salvy not configured), or provision
 * the numbers (alerting when fewer came). Returns 0, or an exit code: a
 * database failure's, 75 or 78 when Salvy failed.
 */
int provision_for_pool(struct chipctl_ctx *ctx, const char *actor, long active,
		       long pipeline, struct provision_pass *out);

#endif
