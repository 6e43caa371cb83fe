/*
 * salvy: the Salvy API v2 client (virtual numbers).
 *
 * Owns the requests (Bearer key; POST and DELETE
 * /api/v2/virtual-phone-accounts) and their answers: the new number's id
 * and phone, read by their types (a string of UTF-8 text without NUL, a
 * phone number of 10 to 15 digits; anything else is a malformed answer,
 * SALVY_TEMP with the field named, and no number), or Salvy's errors
 * {"code","message"} in one line, escaped. Nothing here touches the
 * database: common/provision.h turns numbers into chips.
 */
#ifndef CHIPCTL_SALVY_H
#define CHIPCTL_SALVY_H

#include <stddef.h>

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

#endif
