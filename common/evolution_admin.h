/*
 * evolution_admin: the Evolution API calls that manage instances, as
 * opposed to sending (common/provider.h).
 *
 * Owns GET /instance/fetchInstances (the whole fleet in one call; v2 rows
 * and the v1 {"instance": {...}} shape both understood), bounded-parallel
 * GET /instance/connectionState/{name} through the libcurl multi
 * interface (for servers where fetchInstances lags or is too heavy), and
 * POST /instance/create. Every answer is checked: HTTP status, a JSON body
 * of the expected type (json_tokener errors name the offset), every field
 * read of its type (a string is UTF-8 text without NUL: jsonget), and
 * Evolution's error envelope flattened to one line whatever the shape of
 * response.message (its words escaped, never refused). One field of the
 * wrong type, a NUL or bytes that are not UTF-8 make the answer malformed
 * (EVO_TEMP, err naming the field): none of it is returned, so the caller
 * writes nothing. Nothing here touches the database.
 */
#ifndef CHIPCTL_EVOLUTION_ADMIN_H
#define CHIPCTL_EVOLUTION_ADMIN_H

#include <stddef.h>

struct config;

enum evo_rc {
	EVO_OK,
	EVO_TEMP,	/* timeout, network, 5xx, garbage: try again later */
	EVO_AUTH,	/* 401: the key was refused */
	EVO_REJECTED,	/* another 4xx */
	EVO_EXISTS,	/* create: the name is already in use */
};

struct evo_instance {
	char *name;
	char *state;		/* open, close, connecting, refused; NULL: missing
				 * on the server; "" when it gave no state */
	char *owner_jid;	/* NULL when not given */
	char *profile_name;
	char *number;
};

struct evo_instances {
	struct evo_instance *v;
	size_t n;
};

/* Every instance the server has. Fills out (free with
 * evo_instances_free); on failure err says why in one line. */
enum evo_rc evo_fetch_instances(const struct config *cfg,
				struct evo_instances *out, char *err, size_t errsz);

/* connectionState of each name, at most `parallel` in flight. out->v[i]
 * is names[i]; a 404 leaves its state NULL (missing). Any other failure
 * fails the whole call. */
enum evo_rc evo_connection_states(const struct config *cfg,
				  const char *const *names, size_t n,
				  int parallel, struct evo_instances *out,
				  char *err, size_t errsz);

/* Create instance `name` (Baileys, QR code), with the phone number when
 * given. */
enum evo_rc evo_create_instance(const struct config *cfg, const char *name,
				 const char *number, char *err, size_t errsz);

void evo_instances_free(struct evo_instances *l);

/* Flatten Evolution's error body (response.message in any of its four
 * shapes) into buf; "" when the body is not an envelope. */
void evo_error_text(const char *body, char *buf, size_t bufsz);

const char *evo_rc_name(enum evo_rc rc);

#endif
