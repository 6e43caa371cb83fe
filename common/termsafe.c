#include "termsafe.h"
#include "strbuf.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at p (0: not one, utf8_seq)
 * and its code point. */
static size_t seq(const unsigned char *p, const unsigned char *end, unsigned long *cp)
{
	size_t n = utf8_seq(p, end), i;

	if (n <= 1) {
		*cp = *p;
		return n;
	}
	*cp = *p & (0x7fu >> n);
	for (i = 1; i < n; i++)
		*cp = (*cp << 6) | (p[i] & 0x3f);
	return n;
}

static int bidi_or_c1(unsigned long cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
		(cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* The escaped form of the character at p into out[16]; returns its length
 * in s (the escape itself is NUL-terminated in out). */
static size_t one(const unsigned char *p, const unsigned char *end, char *out)
{
	unsigned long cp;
	size_t n = seq(p, end, &cp);

	if (!n) {
		snprintf(out, 16, "\\x%02x", *p);
		return 1;
	}
	if (cp == '\n' || cp == '\r' || cp == '\t' || cp == '\\')
		snprintf(out, 16, "\\%c", cp == '\n' ? 'n' : cp == '\r' ? 'r' :
			 cp == '\t' ? 't' : '\\');
	else if (cp < 0x20 || cp == 0x7f)
		snprintf(out, 16, "\\x%02lx", cp);
	else if (bidi_or_c1(cp))
		snprintf(out, 16, "\\u%04lx", cp);
	else {
		memcpy(out, p, n);
		out[n] = '\0';
	}
	return n;
}

char *tsafe_buf(const char *s, char *buf, size_t n)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	const unsigned char *end = p + strlen((const char *)p);
	size_t k = 0;
	char e[16];

	if (!n)
		return buf;
	while (*p) {
		size_t used = one(p, end, e), len = strlen(e);

		if (k + len >= n)
			break;
		memcpy(buf + k, e, len);
		k += len;
		p += used;
	}
	buf[k] = '\0';
	return buf;
}

const char *tsafe(const char *s)
{
	static struct strbuf slots[TSAFE_SLOTS];
	static unsigned next;
	struct strbuf *sb = &slots[next++ % TSAFE_SLOTS];
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	const unsigned char *end = p + strlen((const char *)p);
	char e[16];

	sb_reset(sb);
	while (*p) {
		p += one(p, end, e);
		sb_add(sb, e);
	}
	return sb_str(sb);
}
