#include "validate.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Digits only, 10 to 15 of them; separators people type are dropped. */
int validate_phone(const char *in, char *out, size_t outsz)
{
	size_t n = 0;
	const char *p;

	for (p = in; *p; p++) {
		if (isdigit((unsigned char)*p)) {
			if (n + 1 >= outsz)
				return -1;
			out[n++] = *p;
		} else if (!strchr("+ .-()", *p)) {
			return -1;
		}
	}
	out[n] = '\0';
	return n >= 10 && n <= 15 ? 0 : -1;
}

/* Length of the well-formed UTF-8 sequence at p (before end), or 0: no
 * overlong forms, no surrogates, nothing past U+10FFFF (RFC 3629 table). */
size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (*p < 0x80)
		return 1;
	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2;
	else if (*p >= 0xe0 && *p <= 0xef)
		n = 3;
	else if (*p >= 0xf0 && *p <= 0xf4)
		n = 4;
	else
		return 0;
	if (*p == 0xe0)
		lo = 0xa0;
	else if (*p == 0xed)
		hi = 0x9f;
	else if (*p == 0xf0)
		lo = 0x90;
	else if (*p == 0xf4)
		hi = 0x8f;
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

int validate_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	size_t n;

	while (p < end) {
		if (!*p || !(n = utf8_seq(p, end)))
			return 0;
		p += n;
	}
	return 1;
}

/* Well-formed UTF-8 without NUL or other control characters but \n \t \r. */
int validate_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	if (!validate_utf8(s, len))
		return 0;
	for (; p < end; p++)
		if ((*p < 0x20 && *p != '\n' && *p != '\t' && *p != '\r') || *p == 0x7f)
			return 0;
	return 1;
}


/* Length of the white space character at p (JavaScript's trim() set), or 0. */
static size_t space_len(const unsigned char *p, const unsigned char *end)
{
	size_t left = (size_t)(end - p);

	if (strchr(" \t\n\r\v\f", *p) && *p)
		return 1;
	if (left >= 2 && p[0] == 0xc2 && p[1] == 0xa0)
		return 2;				/* U+00A0 */
	if (left >= 3 && p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80)
		return 3;				/* U+1680 */
	if (left >= 3 && p[0] == 0xe2 && p[1] == 0x80 &&
	    (p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf))
		return 3;				/* U+2000-200A, 2028, 2029, 202F */
	if (left >= 3 && p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)
		return 3;				/* U+205F */
	if (left >= 3 && p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)
		return 3;				/* U+3000 */
	if (left >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		return 3;				/* U+FEFF */
	return 0;
}

const char *validate_message_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	size_t n;

	if (len > VALIDATE_TEXT_MAX)
		return "longer than 10000 bytes";
	if (!validate_text(s, len))
		return "not UTF-8 text";
	while (p < end && (n = space_len(p, end)) > 0)
		p += n;
	return p == end ? "blank: nothing but white space" : NULL;
}

int utf8_prefix(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return (int)n;
	/* back off the continuation bytes of a sequence cut at max */
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return (int)max;
}

char *utf8_scrub(const char *s, size_t len, char *out, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	size_t k = 0, seq;

	if (!n)
		return out;
	while (p < end) {
		seq = *p ? utf8_seq(p, end) : 0;
		if (seq) {
			if (k + seq >= n)
				break;
			memcpy(out + k, p, seq);
			k += seq;
			p += seq;
		} else {
			if (k + 4 >= n)
				break;
			snprintf(out + k, 5, "\\x%02x", *p++);
			k += 4;
		}
	}
	out[k] = '\0';
	return out;
}
