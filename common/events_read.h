/*
 * events_read: the typed reads the webhook event parsers share (internal to
 * events.c and events_zapi.c). A field of the wrong type is remembered, with
 * its path, as the reason the event is malformed; the first one wins.
 */
#ifndef CHIPCTL_EVENTS_READ_H
#define CHIPCTL_EVENTS_READ_H

#include "events.h"
#include "jsonget.h"

struct rd {
	char *err;
	size_t errsz;
	int bad;
	long long now;
};

/* Remember that member k of o (at path) is not of type t. */
void ev_wrong(struct rd *r, const char *path, json_object *o, const char *k, json_type t);
/* A string member (UTF-8, no NUL), or NULL when absent (or wrong: r->bad). */
const char *ev_str(struct rd *r, json_object *o, const char *path, const char *k);
/* A boolean member: 1 true, 0 false, -1 absent (or wrong: r->bad). */
int ev_bool(struct rd *r, json_object *o, const char *path, const char *k);
/* A member of type t, or NULL when absent (or wrong: r->bad). */
json_object *ev_typed(struct rd *r, json_object *o, const char *path, const char *k,
		      json_type t);
/* An event's time in seconds (ms: it may come in milliseconds), plausible
 * at r->now, or 0 when absent (or wrong: r->bad). */
long long ev_when(struct rd *r, json_object *o, const char *path, const char *k, int ms);
/* Set the reason (if none yet) and return -1. */
int ev_fail(struct rd *r, const char *why);

/* Copy src into dst[n]: -1 when it does not fit. */
int ev_copy(char *dst, size_t n, const char *src);
/* "5511999990001:12@s.whatsapp.net" -> "5511999990001" */
void ev_jid_phone(const char *jid, char *out, size_t n);
int ev_ends_with(const char *s, const char *suffix);

/* A Z-API callback (events_zapi.c). */
int ev_parse_zapi(json_object *root, const char *type, struct webhook_event *ev,
		  struct rd *r);

#endif
