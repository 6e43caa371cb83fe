/*
 * log: the one logging module.
 *
 * Owns every line chipctl writes to stderr: one record per line, logfmt by
 * default or JSON lines, a level, the command and the run id on every line,
 * and the scrubbing of secrets (registered values, passwords in URLs) from
 * the finished line, so no caller can leak one by accident.
 *
 * Attributes are pairs of a "key=%conv" spec and one argument, ended by the
 * NULL the macros add: log_info("requeued", "count=%d", n, "job=%s", name).
 * Supported conversions: d i u x with l, ll or z; s; c; f g e; with flags,
 * width and precision.
 */
#ifndef CHIPCTL_LOG_H
#define CHIPCTL_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_QUIET };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* 0 on success, -1 for a name other than "logfmt" or "json". */
int log_set_format(const char *name);
void log_set_context(const char *cmd, const char *run_id);

/* Register a secret: every later line has it replaced by [REDACTED]. Values
 * shorter than 4 characters are ignored (they would mangle ordinary text). */
void log_add_secret(const char *secret);
void log_clear_secrets(void);

/* Copy in to out with registered secrets, URL passwords and Slack webhook
 * paths replaced. Always NUL-terminates; truncates to outsz. */
void redact(const char *in, char *out, size_t outsz);

void log_msg(enum log_level level, const char *msg, ...)
	__attribute__((sentinel));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__, (char *)NULL)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__, (char *)NULL)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__, (char *)NULL)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__, (char *)NULL)

#endif
