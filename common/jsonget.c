#include "jsonget.h"
#include "numparse.h"
#include "validate.h"

#include <stdint.h>
#include <string.h>

json_object *jget(json_object *o, const char *k)
{
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, k, &v))
		return NULL;
	return v;
}

enum jg_status jval_str(json_object *v, const char **out)
{
	const char *s;
	int len;

	if (!v || !json_object_is_type(v, json_type_string))
		return JG_WRONG;
	s = json_object_get_string(v);
	len = json_object_get_string_len(v);
	if (len < 0 || strlen(s) != (size_t)len || !validate_utf8(s, (size_t)len))
		return JG_WRONG;
	*out = s;
	return JG_OK;
}

enum jg_status jget_str(json_object *o, const char *k, const char **out)
{
	json_object *v = jget(o, k);

	return v ? jval_str(v, out) : JG_ABSENT;
}

enum jg_status jget_bool(json_object *o, const char *k, int *out)
{
	json_object *v = jget(o, k);

	if (!v)
		return JG_ABSENT;
	if (!json_object_is_type(v, json_type_boolean))
		return JG_WRONG;
	*out = json_object_get_boolean(v) ? 1 : 0;
	return JG_OK;
}

/* json-c clamps an integer past 64 bits to the nearest end (INT64_MIN,
 * INT64_MAX or UINT64_MAX): the ends themselves are refused, so a range
 * must lie strictly inside int64 for a clamped value never to pass. */
static enum jg_status int_value(json_object *v, long long lo, long long hi, long long *out)
{
	int64_t n = json_object_get_int64(v);

	if (n == INT64_MAX || n == INT64_MIN || n < lo || n > hi)
		return JG_WRONG;
	*out = (long long)n;
	return JG_OK;
}

enum jg_status jget_int(json_object *o, const char *k, long long lo, long long hi,
			long long *out)
{
	json_object *v = jget(o, k);

	if (!v)
		return JG_ABSENT;
	if (!json_object_is_type(v, json_type_int))
		return JG_WRONG;
	return int_value(v, lo, hi, out);
}

enum jg_status jget_int_or_digits(json_object *o, const char *k, long long lo,
				  long long hi, long long *out)
{
	json_object *v = jget(o, k);
	const char *s;

	if (!v)
		return JG_ABSENT;
	if (json_object_is_type(v, json_type_int))
		return int_value(v, lo, hi, out);
	if (json_object_is_type(v, json_type_string) && jval_str(v, &s) == JG_OK &&
	    num_parse(s, lo, hi, out) == NUM_OK)
		return JG_OK;
	return JG_WRONG;
}

enum jg_status jget_typed(json_object *o, const char *k, json_type t, json_object **out)
{
	json_object *v = jget(o, k);

	if (!v)
		return JG_ABSENT;
	if (!json_object_is_type(v, t))
		return JG_WRONG;
	*out = v;
	return JG_OK;
}

const char *jget_why(json_object *o, const char *k, json_type want)
{
	json_object *v = jget(o, k);
	const char *s;

	if (!v)
		return "absent";
	if (!json_object_is_type(v, want))
		switch (want) {
		case json_type_boolean: return "not a boolean";
		case json_type_int: return "not an integer";
		case json_type_string: return "not a string";
		case json_type_object: return "not an object";
		case json_type_array: return "not an array";
		default: return "of the wrong type";
		}
	if (want == json_type_string && jval_str(v, &s) != JG_OK)
		return strlen(json_object_get_string(v)) !=
			(size_t)json_object_get_string_len(v) ?
			"a string with a NUL inside" : "not UTF-8 text";
	if (want == json_type_int)
		return "out of range";
	return "not valid";
}

enum jg_status jval_text(json_object *v, char *buf, size_t n)
{
	if (n)
		buf[0] = '\0';
	if (!v)
		return JG_ABSENT;
	if (!json_object_is_type(v, json_type_string))
		return JG_WRONG;
	utf8_scrub(json_object_get_string(v), (size_t)json_object_get_string_len(v), buf, n);
	return JG_OK;
}

enum jg_status jget_text(json_object *o, const char *k, char *buf, size_t n)
{
	return jval_text(jget(o, k), buf, n);
}
