/*
 * jsonget: reading a member of a JSON document that may be absent, null, or
 * not an object at all (webhook bodies, the trust explanation, a message's
 * story): the one lookup the readers of json-c documents share.
 *
 * Also owns the typed reads of documents from outside (webhook events,
 * providers' answers): a boolean is a JSON boolean, never the string
 * "true"; an integer is a JSON integer in the caller's range, never
 * clamped; a string is a JSON string of UTF-8 text with no NUL inside
 * (json-c keeps "\u0000" in the value and a C reader would cut it there).
 * Anything else is JG_WRONG, for the caller to refuse: a wrong-typed field
 * is never guessed at. Text only shown or stored (an error message) is
 * read with jget_text instead: escaped, never refused.
 */
#ifndef CHIPCTL_JSONGET_H
#define CHIPCTL_JSONGET_H

#include <json-c/json.h>
#include <stddef.h>

/* Member k of o, or NULL when o is not an object, k is absent or null. */
json_object *jget(json_object *o, const char *k);

enum jg_status {
	JG_ABSENT = 0,	/* o is not an object, k is absent or null */
	JG_OK = 1,	/* *out set */
	JG_WRONG = -1,	/* present with the wrong type, out of range, a NUL or not UTF-8 */
};

enum jg_status jget_str(json_object *o, const char *k, const char **out);
enum jg_status jget_bool(json_object *o, const char *k, int *out);
enum jg_status jget_int(json_object *o, const char *k, long long lo, long long hi,
			long long *out);
/* An integer given as a JSON integer or as a string of decimal digits (some
 * providers send timestamps either way), through the one number parser. */
enum jg_status jget_int_or_digits(json_object *o, const char *k, long long lo,
				  long long hi, long long *out);
/* A member of type t (an object or an array, say) as it is. */
enum jg_status jget_typed(json_object *o, const char *k, json_type t, json_object **out);

/* The checks of one string value (an array element, say): JG_OK with *out,
 * or JG_WRONG. */
enum jg_status jval_str(json_object *v, const char **out);

/* What kind of wrong value v is, for an error message: "not a string",
 * "a string with a NUL inside", ... */
const char *jget_why(json_object *o, const char *k, json_type want);

/* A string that is only shown, logged or stored (a provider's error
 * message), never acted on: copied into buf[n] whatever it holds, a NUL or
 * bytes that are not UTF-8 escaped (utf8_scrub), so it can neither be cut
 * short nor fail the statement that stores it. JG_OK with buf set, or
 * JG_ABSENT / JG_WRONG (not a string) with buf "". */
enum jg_status jval_text(json_object *v, char *buf, size_t n);
enum jg_status jget_text(json_object *o, const char *k, char *buf, size_t n);

#endif
