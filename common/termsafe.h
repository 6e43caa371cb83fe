/*
 * termsafe: text from outside (instance names, reasons, alert texts, a
 * doctor's id) made safe to print on a terminal, the way --json already
 * escapes it. Owns the rule of what a table may print raw: printable UTF-8.
 * Everything else is shown escaped, so a stored value can never move the
 * cursor, ring the bell, start an escape sequence, overwrite a line (CR),
 * start a fake one (LF) or reverse the text after it:
 *   \n \r \t \\        as such
 *   other C0, DEL      \xNN
 *   C1 (U+0080-009F), the bidirectional controls (U+061C, U+200E-200F,
 *   U+202A-202E, U+2066-2069)
 *                      \uNNNN
 *   bytes that are not UTF-8
 *                      \xNN
 * Nothing here touches the database.
 */
#ifndef CHIPCTL_TERMSAFE_H
#define CHIPCTL_TERMSAFE_H

#include <stddef.h>

/* s escaped (NULL gives ""). The result lives in one of TSAFE_SLOTS
 * rotating buffers: valid until that many more calls, enough for the
 * fields of one printf. */
#define TSAFE_SLOTS 32
const char *tsafe(const char *s);

/* The same into buf[n] (cut at a whole escape or character when it does
 * not fit). Returns buf. */
char *tsafe_buf(const char *s, char *buf, size_t n);

#endif
