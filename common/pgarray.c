#include "pgarray.h"

#include <stdio.h>

void pga_add(struct strbuf *a, const char *v)
{
	const char *p;

	sb_addc(a, a->len ? ',' : '{');
	if (!v) {
		sb_add(a, "NULL");
		return;
	}
	sb_addc(a, '"');
	for (p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			sb_addc(a, '\\');
		sb_addc(a, *p);
	}
	sb_addc(a, '"');
}

void pga_addl(struct strbuf *a, long v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%ld", v);
	pga_add(a, buf);
}

void pga_addb(struct strbuf *a, int v)
{
	pga_add(a, v ? "t" : "f");
}

const char *pga_end(struct strbuf *a)
{
	if (!a->len)
		sb_addc(a, '{');
	sb_addc(a, '}');
	return sb_str(a);
}
