/*
 * numparse: the one parser of integers that come from outside (command-line
 * arguments, the config file's environment overrides, a conninfo's port,
 * HTTP headers, JSON read as text). Nothing else in chipctl calls strtol on
 * outside text.
 *
 * The syntax is strict: an optional '-', then one or more ASCII decimal
 * digits, and nothing else — no spaces, no '+', no hex or octal prefix, no
 * trailing bytes. A value outside [lo, hi] is refused, never clamped, so an
 * id past bigint is an error and not 9223372036854775807. Pure: no I/O.
 */
#ifndef CHIPCTL_NUMPARSE_H
#define CHIPCTL_NUMPARSE_H

#include <stddef.h>

enum num_status {
	NUM_OK = 0,
	NUM_EMPTY,	/* NULL or "" */
	NUM_SYNTAX,	/* not an optional '-' then decimal digits */
	NUM_RANGE,	/* well formed, outside [lo, hi] (or past 64 bits) */
};

/* Parse the len bytes at s. Returns NUM_OK with *out set, or why not (*out
 * is then untouched). */
enum num_status num_parse_n(const char *s, size_t len, long long lo, long long hi,
			    long long *out);

/* The same over a NUL-terminated string. */
enum num_status num_parse(const char *s, long long lo, long long hi, long long *out);

/* The same into an int or a long; lo and hi bound the result. */
enum num_status num_parse_int(const char *s, int lo, int hi, int *out);
enum num_status num_parse_long(const char *s, long lo, long hi, long *out);

/* "an integer from LO to HI" and the like, into buf, for error messages:
 * says what was wrong with s and what is allowed. Returns buf. */
const char *num_explain(enum num_status st, long long lo, long long hi, char *buf, size_t n);

#endif
