/* The typed reads of webhook events: see events_read.h. */
#include "events_read.h"
#include "numparse.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void ev_wrong(struct rd *r, const char *path, json_object *o, const char *k, json_type t)
{
	if (!r->bad)
		snprintf(r->err, r->errsz, "%s%s: %s", path, k, jget_why(o, k, t));
	r->bad = 1;
}

/* A string member, or NULL when absent (or wrong: r->bad). */
const char *ev_str(struct rd *r, json_object *o, const char *path, const char *k)
{
	const char *v = NULL;

	if (jget_str(o, k, &v) == JG_WRONG)
		ev_wrong(r, path, o, k, json_type_string);
	return v;
}

/* 1 true, 0 false, -1 absent (or wrong: r->bad) */
int ev_bool(struct rd *r, json_object *o, const char *path, const char *k)
{
	int v = -1;

	if (jget_bool(o, k, &v) == JG_WRONG)
		ev_wrong(r, path, o, k, json_type_boolean);
	return v;
}

json_object *ev_typed(struct rd *r, json_object *o, const char *path, const char *k,
			  json_type t)
{
	json_object *v = NULL;

	if (jget_typed(o, k, t, &v) == JG_WRONG)
		ev_wrong(r, path, o, k, t);
	return v;
}

/* An event's time, in seconds: a JSON integer or a string of digits, in
 * seconds, or (ms) in milliseconds when it is too large to be seconds
 * (Z-API's momment comes either way). Plausible means from WhatsApp's
 * first year to a day past now; anything else makes the event malformed.
 * 0 when absent. */
#define EVENT_TIME_MIN 1230768000LL	/* 2009-01-01 */
#define EVENT_TIME_SLACK 86400LL
long long ev_when(struct rd *r, json_object *o, const char *path, const char *k, int ms)
{
	long long v = 0;

	switch (jget_int_or_digits(o, k, 0, 99999999999999LL, &v)) {
	case JG_ABSENT:
		return 0;
	case JG_WRONG:
		if (!r->bad)
			snprintf(r->err, r->errsz, "%s%s: not a time in seconds%s", path, k,
				 ms ? " or milliseconds" : "");
		r->bad = 1;
		return 0;
	case JG_OK:
		break;
	}
	if (ms && v >= 100000000000LL)
		v /= 1000;
	if (v < EVENT_TIME_MIN || v > r->now + EVENT_TIME_SLACK) {
		if (!r->bad)
			snprintf(r->err, r->errsz, "%s%s: time out of range (%lld)", path, k, v);
		r->bad = 1;
		return 0;
	}
	return v;
}

int ev_copy(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	if (len >= n)
		return -1;
	memcpy(dst, src, len + 1);
	return 0;
}

/* "5511999990001:12@s.whatsapp.net" -> "5511999990001" */
void ev_jid_phone(const char *jid, char *out, size_t n)
{
	size_t k = 0;

	for (; *jid && *jid != '@' && *jid != ':' && k + 1 < n; jid++)
		if (isdigit((unsigned char)*jid))
			out[k++] = *jid;
	out[k] = '\0';
}

int ev_ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

int ev_fail(struct rd *r, const char *why)
{
	if (!r->bad)
		snprintf(r->err, r->errsz, "%s", why);
	r->bad = 1;
	return -1;
}

