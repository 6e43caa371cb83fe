/*
 * validate: checks of values that come from outside (operators' command
 * lines, the application's rows), kept apart so they can be fuzzed.
 */
#ifndef CHIPCTL_VALIDATE_H
#define CHIPCTL_VALIDATE_H

#include <stddef.h>

/* A phone number: digits only into out, 10 to 15 of them; the separators
 * people type ("+", spaces, dots, dashes, parentheses) are dropped. Returns
 * 0, or -1 for anything else (out is then not meaningful). */
int validate_phone(const char *in, char *out, size_t outsz);

/* Well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF: what PostgreSQL accepts) without NUL. Returns 1 when s (len
 * bytes) is such text, 0 otherwise. Every string from outside passes it
 * before it reaches SQL. */
int validate_utf8(const char *s, size_t len);

/* Length of the well-formed UTF-8 sequence at p (before end), or 0: no
 * overlong forms, no surrogates, nothing past U+10FFFF. The one definition
 * of well-formed UTF-8, read by validate_utf8 and termsafe. */
size_t utf8_seq(const unsigned char *p, const unsigned char *end);

/* Well-formed UTF-8 without NUL or control characters other than \n \t
 * \r. Returns 1 when s (len bytes) is such text, 0 otherwise. */
int validate_text(const char *s, size_t len);

/* The most bytes a message's text may have (queue enqueue, the guard). */
#define VALIDATE_TEXT_MAX 10000

/* A message's text as a provider would take it: NULL when fine, else why
 * not ("blank: nothing but white space", "longer than 10000 bytes", "not
 * UTF-8 text"). Blank is
 * what Evolution's "Text is required" refuses: nothing but white space
 * (ASCII, and the Unicode spaces JavaScript's trim() drops). */
const char *validate_message_text(const char *s, size_t len);

/* How many bytes of s to keep so that at most max are kept and no UTF-8
 * sequence is cut: for "%.*s" of text that goes to SQL. */
int utf8_prefix(const char *s, size_t max);

/* s (len bytes, NULs included) into out[n] as text PostgreSQL takes: NUL
 * and every byte that is not part of well-formed UTF-8 written as \xNN,
 * the rest as it is; cut at a whole character or escape when it does not
 * fit. For text from outside that is only logged or stored, a provider's
 * error message say: kept and shown, where a value it means would be
 * refused. Returns out. */
char *utf8_scrub(const char *s, size_t len, char *out, size_t n);

#endif
