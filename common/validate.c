#include "validate.h"

#include <ctype.h>
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

/* Well-formed UTF-8 without NUL or other control characters but \n \t \r. */
int validate_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		int extra;
		if (*p < 0x80) {
			if (*p < 0x20 && *p != '\n' && *p != '\t' && *p != '\r')
				return 0;
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0 && *p >= 0xc2)
			extra = 1;
		else if ((*p & 0xf0) == 0xe0)
			extra = 2;
		else if ((*p & 0xf8) == 0xf0 && *p <= 0xf4)
			extra = 3;
		else
			return 0;
		if (end - p <= extra)
			return 0;
		for (p++; extra > 0; extra--, p++)
			if ((*p & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

