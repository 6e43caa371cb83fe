/* Unit tests of common/validate.c's text checks: UTF-8 as PostgreSQL takes
 * it, and cutting text without splitting a character. */
#include "tap.h"
#include "validate.h"

#include <string.h>

static const struct { const char *s; size_t len; int utf8; const char *name; } rows[] = {
	{ "chip01", 6, 1, "ASCII" },
	{ "", 0, 1, "empty" },
	{ "Jos\xc3\xa9", 5, 1, "two-byte e acute" },
	{ "\xe2\x80\xae", 3, 1, "U+202E (valid text; escaped on output)" },
	{ "\xf0\x9f\x98\x80", 4, 1, "an emoji" },
	{ "\xf4\x8f\xbf\xbf", 4, 1, "U+10FFFF" },
	{ "a\0b", 3, 0, "a NUL inside" },
	{ "\xff", 1, 0, "0xff" },
	{ "\xc3", 1, 0, "a truncated sequence" },
	{ "\xc0\xaf", 2, 0, "an overlong slash" },
	{ "\xe0\x80\xaf", 3, 0, "an overlong three-byte slash" },
	{ "\xed\xa0\x80", 3, 0, "a surrogate (U+D800)" },
	{ "\xf4\x90\x80\x80", 4, 0, "past U+10FFFF" },
	{ "\xf0\x80\x80\xaf", 4, 0, "an overlong four-byte" },
	{ "\xe9", 1, 0, "Latin-1 e acute" },
	{ "\x80", 1, 0, "a lone continuation byte" },
};

/* utf8_scrub: text kept, what PostgreSQL would refuse shown as \xNN. */
static void scrub(void)
{
	static const struct { const char *s; size_t len, n; const char *want, *name; } sc[] = {
		{ "Connection Closed", 17, 64, "Connection Closed", "plain text unchanged" },
		{ "Jos\xc3\xa9 \xe2\x80\xae", 9, 64, "Jos\xc3\xa9 \xe2\x80\xae", "UTF-8 kept as it is" },
		{ "Instance not found\0x", 20, 64, "Instance not found\\x00x", "a NUL inside escaped, the rest kept" },
		{ "caf\xe9!", 5, 64, "caf\\xe9!", "Latin-1 escaped" },
		{ "\xed\xa0\x80", 3, 64, "\\xed\\xa0\\x80", "a surrogate: each byte escaped" },
		{ "ab\xc3", 3, 64, "ab\\xc3", "a sequence cut at the end escaped" },
		{ "abc\xc3\xa9", 5, 5, "abc", "cut before a character that does not fit" },
		{ "abc\xff", 4, 7, "abc", "cut before an escape that does not fit" },
		{ "abc\xff", 4, 8, "abc\\xff", "an escape that just fits" },
		{ "", 0, 1, "", "empty" },
	};
	char out[64];
	size_t i;

	for (i = 0; i < sizeof(sc) / sizeof(sc[0]); i++) {
		utf8_scrub(sc[i].s, sc[i].len, out, sc[i].n);
		is_str(out, sc[i].want, sc[i].name);
		ok(validate_utf8(out, strlen(out)), "scrub: %s: UTF-8 without NUL", sc[i].name);
	}
}

int main(void)
{
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		ok(validate_utf8(rows[i].s, rows[i].len) == rows[i].utf8, "utf8: %s", rows[i].name);
	ok(validate_text("a\tb\n", 4), "text: tab and newline");
	ok(!validate_text("a\x1b[31m", 6), "text: ESC refused");
	ok(!validate_text("a\x7f", 2), "text: DEL refused");
	ok(utf8_prefix("abc", 10) == 3, "prefix: short text whole");
	ok(utf8_prefix("ab\xc3\xa9", 3) == 2, "prefix: a cut e acute backs off");
	ok(utf8_prefix("ab\xc3\xa9", 4) == 4, "prefix: exact fit");
	ok(utf8_prefix("\xf0\x9f\x98\x80x", 3) == 0, "prefix: a cut emoji backs off whole");
	scrub();
	return done_testing();
}
