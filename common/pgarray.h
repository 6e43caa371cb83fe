/*
 * pgarray: PostgreSQL array literals ("{...}") for array parameters of
 * parameterised queries.
 *
 * Owns the quoting of elements (every element double-quoted, '"' and '\'
 * escaped, NULL as an unquoted NULL), so a value is always data, never
 * syntax. Builds on strbuf; nothing here touches the database.
 */
#ifndef CHIPCTL_PGARRAY_H
#define CHIPCTL_PGARRAY_H

#include "strbuf.h"

/* Append one element (NULL: SQL NULL). */
void pga_add(struct strbuf *a, const char *v);
void pga_addl(struct strbuf *a, long v);
/* "t" or "f". */
void pga_addb(struct strbuf *a, int v);
/* Close the literal and return it ("{}" when nothing was added). Add
 * nothing after this. */
const char *pga_end(struct strbuf *a);

#endif
