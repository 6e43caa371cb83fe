/* Unit tests of common/http.c that need no server: escaping, class names. */
#include "http.h"
#include "tap.h"

#include <stdlib.h>

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
	return done_testing();
}
