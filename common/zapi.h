/*
 * zapi: the Z-API calls that read an instance, as opposed to sending
 * (common/provider.h).
 *
 * Owns GET /instances/{id}/token/{token}/status (Client-Token header):
 * whether the instance is connected. The answer is checked: HTTP status, a
 * JSON object with a boolean "connected" (the string "true" or a number is
 * a malformed answer, ZAPI_TEMP), and Z-API's {"error": ...} body in one
 * line, a NUL or bytes that are not UTF-8 in it escaped. The instance
 * token is part of the path and never appears in an error. Nothing here touches the database: sync-evolution stores what
 * this returns.
 */
#ifndef CHIPCTL_ZAPI_H
#define CHIPCTL_ZAPI_H

#include <stddef.h>

struct config;
struct http_client;

enum zapi_rc {
	ZAPI_OK,
	ZAPI_TEMP,	/* timeout, network, 5xx, garbage: try again later */
	ZAPI_AUTH,	/* the Client-Token was refused or is missing */
	ZAPI_MISSING,	/* "Instance not found": the id and token match nothing */
	ZAPI_REJECTED,	/* another 4xx */
};

/* The status of one instance through http (its timeouts are set here).
 * On ZAPI_OK *connected is 0 or 1; otherwise err says why in one line. */
enum zapi_rc zapi_status(struct http_client *http, const struct config *cfg,
			 const char *instance_id, const char *token, int *connected,
			 char *err, size_t errsz);

const char *zapi_rc_name(enum zapi_rc rc);

#endif
