/*
 * salvy: virtual numbers from Salvy, and turning them into chips.
 *
 * Owns the Salvy API v2 client (Bearer key; POST and DELETE
 * /api/v2/virtual-phone-accounts; errors {"code","message"} reported in
 * one line) and provisioning: a new number becomes a chip in
 * 'provisioned' (through common/lifecycle.h), then its Evolution instance
 * is created and the chip moves to 'pending' awaiting its QR scan. The
 * daily bound (salvy.max_per_day over the last 24 h) is enforced here, so
 * pool-check and `chipctl provision` cannot exceed it together.
 */
#ifndef CHIPCTL_SALVY_H
#define CHIPCTL_SALVY_H

#include <stddef.h>

struct chipctl_ctx;
struct config;

enum salvy_rc { SALVY_OK, SALVY_TEMP, SALVY_AUTH, SALVY_REJECTED };

struct salvy_account {
	char id[128];
	char phone[32];		/* digits only */
};

/* Is Salvy configured (salvy.api_key set)? */
int salvy_configured(const struct config *cfg);

enum salvy_rc salvy_create_number(const struct config *cfg, int area_code,
				  const char *name, struct salvy_account *out,
				  char *err, size_t errsz);

/* reason: unnecessary, whatsapp-ban, technical-issues or company-canceled */
enum salvy_rc salvy_cancel_number(const struct config *cfg, const char *id,
				  const char *reason, char *err, size_t errsz);

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
int salvy_provision(struct chipctl_ctx *ctx, int area_code, int count,
		    const char *reason, const char *actor,
		    struct provision_result *res);

/* Create the Evolution instance of each 'provisioned' chip (a retry after
 * a failed create) and move it to 'pending'. Returns the number moved, or
 * -1 on a database error. */
int salvy_create_instances(struct chipctl_ctx *ctx, const char *actor);

/* Cancel (reason whatsapp-ban) the Salvy numbers of banned chips not yet
 * cancelled. Returns the number cancelled, or -1 on a database error. */
int salvy_cancel_banned(struct chipctl_ctx *ctx, const char *only_chip_id);

#endif
