#include "numparse.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

enum num_status num_parse_n(const char *s, size_t len, long long lo, long long hi,
			    long long *out)
{
	unsigned long long mag = 0, limit;
	size_t i = 0;
	int neg = 0;

	if (!s || !len)
		return NUM_EMPTY;
	if (s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == len)
		return NUM_SYNTAX;
	/* the magnitude of LLONG_MIN is one more than LLONG_MAX's */
	limit = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	for (; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return NUM_SYNTAX;
		d = (unsigned)(s[i] - '0');
		if (mag > (limit - d) / 10) {
			/* keep checking the syntax: "9...9x" is bad syntax */
			for (i++; i < len; i++)
				if (s[i] < '0' || s[i] > '9')
					return NUM_SYNTAX;
			return NUM_RANGE;
		}
		mag = mag * 10 + d;
	}
	{
		long long v;

		if (neg)
			v = mag == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)mag;
		else
			v = (long long)mag;
		if (v < lo || v > hi)
			return NUM_RANGE;
		*out = v;
	}
	return NUM_OK;
}

enum num_status num_parse(const char *s, long long lo, long long hi, long long *out)
{
	return num_parse_n(s, s ? strlen(s) : 0, lo, hi, out);
}

enum num_status num_parse_int(const char *s, int lo, int hi, int *out)
{
	long long v;
	enum num_status st = num_parse(s, lo, hi, &v);

	if (st == NUM_OK)
		*out = (int)v;
	return st;
}

enum num_status num_parse_long(const char *s, long lo, long hi, long *out)
{
	long long v;
	enum num_status st = num_parse(s, lo, hi, &v);

	if (st == NUM_OK)
		*out = (long)v;
	return st;
}

const char *num_explain(enum num_status st, long long lo, long long hi, char *buf, size_t n)
{
	const char *what = st == NUM_EMPTY ? "empty" :
		st == NUM_SYNTAX ? "not a decimal integer" :
		st == NUM_RANGE ? "out of range" : "valid";

	snprintf(buf, n, "%s: an integer from %lld to %lld", what, lo, hi);
	return buf;
}
