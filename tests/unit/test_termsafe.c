/* Unit tests of common/termsafe.c: what a table prints of a stored value. */
#include "tap.h"
#include "termsafe.h"

int main(void)
{
	char small[8];
	int i;

	is_str(tsafe("chip01"), "chip01", "plain text as it is");
	is_str(tsafe("Jos\xc3\xa9 \xf0\x9f\x98\x80"), "Jos\xc3\xa9 \xf0\x9f\x98\x80",
	       "UTF-8 letters and emoji as they are");
	is_str(tsafe("a\x1b[2J\x07\rFAKE\nline"), "a\\x1b[2J\\x07\\rFAKE\\nline",
	       "ESC, BEL, CR and LF escaped: no sequence, no fake line");
	is_str(tsafe("t\tb\\s"), "t\\tb\\\\s", "tab and backslash escaped");
	is_str(tsafe("x\x7fy"), "x\\x7fy", "DEL escaped");
	is_str(tsafe("\xc2\x9b" "31m"), "\\u009b31m", "C1 CSI escaped");
	is_str(tsafe("abc\xe2\x80\xae" "def"), "abc\\u202edef", "right-to-left override escaped");
	is_str(tsafe("\xe2\x81\xa6x\xe2\x81\xa9"), "\\u2066x\\u2069", "bidi isolates escaped");
	is_str(tsafe("bad\xff\xc3"), "bad\\xff\\xc3", "bytes that are not UTF-8 as \\xNN");
	is_str(tsafe(NULL), "", "NULL is empty");
	is_str(tsafe_buf("ab\x1b", small, sizeof(small)), "ab\\x1b", "into a buffer");
	is_str(tsafe_buf("abcd\x1b", small, sizeof(small)), "abcd", "cut at a whole escape");
	{
		const char *first = tsafe("first");
		for (i = 0; i < TSAFE_SLOTS - 1; i++)
			tsafe("other");
		is_str(first, "first", "a result lives through TSAFE_SLOTS - 1 more calls");
	}
	return done_testing();
}
