/*
 * alert: alerts through an outbox, delivered to Slack.
 *
 * Owns raising an alert (a row in alert_outbox, written in the same round
 * trip that checks the cooldown of its key in alert_state: a key is the
 * alert type plus its subject, so chip B's alert is not swallowed by chip
 * A's), resolving one (a "resolved" notice when an active key clears), and
 * delivery: rows are claimed with a conditional update (two runs never post
 * the same row), posted to the Slack incoming webhook at most one per
 * slack.min_interval_ms, marked sent on any 2xx. A failed post leaves the
 * row pending for a later run (429 honours Retry-After), so nothing is lost.
 * With no webhook configured, alerts are written to the log and marked
 * 'unrouted'.
 */
#ifndef CHIPCTL_ALERT_H
#define CHIPCTL_ALERT_H

struct chipctl_ctx;

enum alert_severity { ALERT_INFO, ALERT_WARNING, ALERT_CRITICAL };

/*
 * Queue an alert unless its key (type + subject) was raised within
 * cooldown_s seconds. subject may be NULL. Returns 1 when queued, 0 when
 * held back by the cooldown (or a dry run), -1 on a database error.
 */
int alert_raise(struct chipctl_ctx *ctx, const char *type, const char *subject,
		enum alert_severity sev, int cooldown_s, const char *text);

/* When the key is active, mark it clear and queue a resolved notice.
 * Returns 1 when a notice was queued, 0 when the key was not active. */
int alert_resolve(struct chipctl_ctx *ctx, const char *type,
		  const char *subject, const char *text);

/* Deliver due pending alerts, at most slack.max_per_run. Returns the
 * number delivered, or -1 on a database error. Slack failures are not
 * errors of the run: the rows wait for the next one. */
int alert_flush(struct chipctl_ctx *ctx);

const char *alert_severity_name(enum alert_severity sev);

#endif
