/* Table-driven tests of the one number parser (common/numparse.c): every
 * boundary of each type, one past each, signs, spaces, hex, empty. */
#include "tap.h"
#include "numparse.h"

#include <limits.h>

struct row {
	const char *in;
	long long lo, hi;
	enum num_status want;
	long long value;
};

#define I64 LLONG_MIN, LLONG_MAX
#define I32 INT_MIN, INT_MAX

static const struct row rows[] = {
	/* 64 bits: the boundaries and one past */
	{ "9223372036854775807", I64, NUM_OK, LLONG_MAX },
	{ "9223372036854775808", I64, NUM_RANGE, 0 },
	{ "-9223372036854775808", I64, NUM_OK, LLONG_MIN },
	{ "-9223372036854775809", I64, NUM_RANGE, 0 },
	{ "99999999999999999999999999", I64, NUM_RANGE, 0 },
	{ "18446744073709551616", I64, NUM_RANGE, 0 },
	{ "18446744073709551615", I64, NUM_RANGE, 0 },
	/* 32 bits */
	{ "2147483647", I32, NUM_OK, INT_MAX },
	{ "2147483648", I32, NUM_RANGE, 0 },
	{ "-2147483648", I32, NUM_OK, INT_MIN },
	{ "-2147483649", I32, NUM_RANGE, 0 },
	/* a message id: 1 to bigint's max */
	{ "1", 1, LLONG_MAX, NUM_OK, 1 },
	{ "0", 1, LLONG_MAX, NUM_RANGE, 0 },
	{ "-1", 1, LLONG_MAX, NUM_RANGE, 0 },
	{ "9223372036854775807", 1, LLONG_MAX, NUM_OK, LLONG_MAX },
	{ "9223372036854775808", 1, LLONG_MAX, NUM_RANGE, 0 },
	/* a setting's own range */
	{ "30", 1, 30, NUM_OK, 30 },
	{ "31", 1, 30, NUM_RANGE, 0 },
	{ "0", 0, 65535, NUM_OK, 0 },
	{ "65535", 0, 65535, NUM_OK, 65535 },
	{ "65536", 0, 65535, NUM_RANGE, 0 },
	{ "-0", 0, 10, NUM_OK, 0 },
	{ "007", 0, 10, NUM_OK, 7 },
	/* signs */
	{ "+1", I64, NUM_SYNTAX, 0 },
	{ "-", I64, NUM_SYNTAX, 0 },
	{ "--1", I64, NUM_SYNTAX, 0 },
	{ "+", I64, NUM_SYNTAX, 0 },
	{ "1-", I64, NUM_SYNTAX, 0 },
	/* spaces */
	{ " 1", I64, NUM_SYNTAX, 0 },
	{ "1 ", I64, NUM_SYNTAX, 0 },
	{ "\t1", I64, NUM_SYNTAX, 0 },
	{ "1\n", I64, NUM_SYNTAX, 0 },
	{ " ", I64, NUM_SYNTAX, 0 },
	/* hex, octal, floats, garbage */
	{ "0x10", I64, NUM_SYNTAX, 0 },
	{ "0X1f", I64, NUM_SYNTAX, 0 },
	{ "1e3", I64, NUM_SYNTAX, 0 },
	{ "1.0", I64, NUM_SYNTAX, 0 },
	{ "12abc", I64, NUM_SYNTAX, 0 },
	{ "abc", I64, NUM_SYNTAX, 0 },
	{ "99999999999999999999x", I64, NUM_SYNTAX, 0 },
	{ "\xd9\xa3", I64, NUM_SYNTAX, 0 },	/* Arabic-Indic three */
	/* empty */
	{ "", I64, NUM_EMPTY, 0 },
	{ NULL, I64, NUM_EMPTY, 0 },
};

int main(void)
{
	size_t i;
	char buf[128];
	long long v;
	int iv;
	long lv;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		enum num_status st;

		v = 12345;
		st = num_parse(r->in, r->lo, r->hi, &v);
		ok(st == r->want && (st != NUM_OK || v == r->value) &&
		   (st == NUM_OK || v == 12345),
		   "'%s' in [%lld, %lld]: status %d (want %d), value %lld",
		   r->in ? r->in : "(null)", r->lo, r->hi, st, r->want, v);
	}
	/* a length bounds the text: the NUL inside is not an end */
	ok(num_parse_n("12\0003", 4, I64, &v) == NUM_SYNTAX, "an embedded NUL is bad syntax");
	ok(num_parse_n("1234", 2, I64, &v) == NUM_OK && v == 12, "len bounds the text");
	ok(num_parse_n("1234", 0, I64, &v) == NUM_EMPTY, "len 0 is empty");
	/* the int and long wrappers */
	ok(num_parse_int("2147483647", INT_MIN, INT_MAX, &iv) == NUM_OK && iv == INT_MAX,
	   "int: INT_MAX");
	ok(num_parse_int("4294967297", INT_MIN, INT_MAX, &iv) == NUM_RANGE,
	   "int: 2^32 + 1 refused, not wrapped to 1");
	ok(num_parse_long("-5", -10, 10, &lv) == NUM_OK && lv == -5, "long: -5");
	is_str(num_explain(NUM_RANGE, 1, 30, buf, sizeof(buf)),
	       "out of range: an integer from 1 to 30", "explain: out of range");
	is_str(num_explain(NUM_SYNTAX, 0, 9, buf, sizeof(buf)),
	       "not a decimal integer: an integer from 0 to 9", "explain: syntax");
	return done_testing();
}
