/* Unit tests of common/http.c that need no server: escaping, class names,
 * the Retry-After header. */
#include "http.h"
#include "http_priv.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* The Retry-After a header line leaves in a sink (-1: none). */
static long retry_after(const char *line)
{
	struct http_sink s = { STRBUF_INIT, 0, 0, -1 };
	char *copy = strdup(line);	/* curl's data is not NUL-terminated: no reliance */

	http_on_header(copy, 1, strlen(line), &s);
	free(copy);
	return s.retry_after;
}

static const struct { const char *line; long want; const char *name; } ra[] = {
	{ "Retry-After: 120\r\n", 120, "seconds" },
	{ "retry-after:7\r\n", 7, "no space, lower case" },
	{ "RETRY-AFTER: 0\r\n", 0, "zero" },
	{ "Retry-After:   30 \t\r\n", 30, "spaces around" },
	{ "Retry-After: 2147483647\r\n", 2147483647L, "the largest int" },
	{ "Retry-After: 2147483648\r\n", -1, "past int: none, never clamped" },
	{ "Retry-After: 99999999999999999999999\r\n", -1, "past 64 bits" },
	{ "Retry-After: -5\r\n", -1, "negative" },
	{ "Retry-After: +5\r\n", -1, "a sign" },
	{ "Retry-After: 0x10\r\n", -1, "hex" },
	{ "Retry-After: 12abc\r\n", -1, "trailing garbage" },
	{ "Retry-After: 1 2\r\n", -1, "two numbers" },
	{ "Retry-After: Wed, 21 Oct 2026 07:28:00 GMT\r\n", -1, "an HTTP date" },
	{ "Retry-After: \r\n", -1, "empty" },
	{ "Retry-After-Ms: 5\r\n", -1, "another header" },
	{ "X-Retry-After: 5\r\n", -1, "another header's suffix" },
};

int main(void)
{
	char *s;

	s = http_path_escape("chip01");
	is_str(s, "chip01", "plain instance names are unchanged");
	free(s);
	s = http_path_escape("../admin");
	is_str(s, "%2E%2E%2Fadmin", "dot-dot and slash cannot leave the path segment");
	free(s);
	s = http_path_escape("chip 01?x=1#y");
	is_str(s, "chip%2001%3Fx%3D1%23y", "space, query and fragment are escaped");
	free(s);
	s = http_path_escape("médico.v2");
	is_str(s, "m%C3%A9dico.v2", "non-ASCII is percent-encoded, inner dots kept");
	free(s);
	is_str(http_class_name(HTTP_TIMEOUT), "timeout", "class names");
	is_str(http_class_name(HTTP_5XX), "5xx", "class names for 5xx");
	for (size_t i = 0; i < sizeof(ra) / sizeof(ra[0]); i++)
		ok(retry_after(ra[i].line) == ra[i].want, "Retry-After: %s", ra[i].name);
	return done_testing();
}
