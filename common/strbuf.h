/*
 * strbuf: a growable NUL-terminated string.
 *
 * Owns nothing beyond its own buffer. Allocation failure aborts: chipctl is
 * a short-lived cron program and has no useful way to go on without memory.
 */
#ifndef CHIPCTL_STRBUF_H
#define CHIPCTL_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
};

#define STRBUF_INIT { NULL, 0, 0 }

void sb_add(struct strbuf *sb, const char *s);
void sb_addn(struct strbuf *sb, const char *s, size_t n);
void sb_addc(struct strbuf *sb, char c);
void sb_addf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sb_reset(struct strbuf *sb);
/* The contents, never NULL ("" for an empty buffer). */
const char *sb_str(const struct strbuf *sb);
/* Hand the buffer to the caller (never NULL) and reset sb. */
char *sb_detach(struct strbuf *sb);
void sb_free(struct strbuf *sb);

/* Allocation helpers that abort on failure. */
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
