/* chipctl watchdog: alerts nobody else raises (T01.5, T01.6, T03.3, T03.6). */
#include "alert.h"
#include "builtin.h"
#include "db.h"
#include "health.h"
#include "job.h"
#include "log.h"
#include "pgarray.h"
#include "strbuf.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

const char usage_watchdog[] =
	"usage: chipctl watchdog [-n|--dry-run] [--json]\n"
	"\n"
	"A job run, every minute. Raises, through the alert outbox:\n"
	"  queue_backlog     more than watchdog.backlog_messages (50) due pending\n"
	"                    messages, the oldest due for over watchdog.backlog_minutes\n"
	"                    (30); cooldown watchdog.backlog_cooldown_s (3600)\n"
	"  send_error_burst  more than watchdog.error_burst_count (10) send errors in\n"
	"                    watchdog.error_burst_window_s (300), by whose fault\n"
	"                    (send_attempts.fault) and result; cooldown\n"
	"                    watchdog.error_burst_cooldown_s (1800)\n"
	"  worker_down       no send-worker heartbeat in watchdog.heartbeat_s (120)\n"
	"                    while messages are due\n"
	"  job_down:JOB      a watched job of the job table (chipctl --list-jobs)\n"
	"                    without a successful run for more than twice its\n"
	"                    interval (jobs.*_interval_s), counted from its last\n"
	"                    success, or from the first migration if it never\n"
	"                    succeeded\n"
	"  job_failing:JOB   more than half of its last watchdog.recent_runs failed\n"
	"  provider_outage:P the provider's breaker is open\n"
	"and a resolved notice when a condition clears. Per-chip alerts explained\n"
	"by a provider outage are held back meanwhile, and released when it ends\n"
	"if still active. Delivers every alert waiting in the outbox.\n"
	"\n"
	"  -n, --dry-run  say what would be raised; raise, resolve, deliver nothing\n"
	"      --json     print what fired as JSON on stdout\n"
	"\n"
	"Exit: 0 done (also when another run holds the lease), 64 usage, 75\n"
	"database unreachable, 78 configuration error, 70 internal error.\n";

/* The alert types the watchdog owns: it resolves those that stop firing. */
static const char owned_types[] =
	"{queue_backlog,send_error_burst,worker_down,job_down,job_failing,provider_outage}";

struct fired {
	json_object *list;
	struct strbuf keys;	/* text[] literal of the firing keys */
	int n, raised;
};

static int fire(struct chipctl_ctx *ctx, struct fired *f, const char *type,
		const char *subject, enum alert_severity sev, int cooldown,
		const char *text)
{
	json_object *o = json_object_new_object();
	char key[256];
	int rc;

	snprintf(key, sizeof(key), "%s%s%s", type, subject ? ":" : "", subject ? subject : "");
	pga_add(&f->keys, key);
	f->n++;
	rc = alert_raise(ctx, type, subject, sev, cooldown, text);
	if (rc > 0)
		f->raised++;
	json_object_object_add(o, "key", json_object_new_string(key));
	json_object_object_add(o, "severity", json_object_new_string(alert_severity_name(sev)));
	json_object_object_add(o, "text", json_object_new_string(text));
	json_object_object_add(o, "raised", json_object_new_boolean(rc > 0));
	json_object_array_add(f->list, o);
	return rc < 0 ? -1 : 0;
}

static void fmt_age(char *buf, size_t n, double s)
{
	if (s < 0)
		snprintf(buf, n, "never");
	else if (s < 600)
		snprintf(buf, n, "%.0f s ago", s);
	else if (s < 7200)
		snprintf(buf, n, "%.0f min ago", s / 60);
	else
		snprintf(buf, n, "%.1f h ago", s / 3600);
}

static int check_conditions(struct chipctl_ctx *ctx, const struct health_snapshot *s,
			    const struct health_job *jobs, int njobs, struct fired *f)
{
	const struct config *cfg = &ctx->cfg;
	char text[600], hb[32];
	int i;

	fmt_age(hb, sizeof(hb), s->heartbeat_age_s);
	if (s->due > cfg->watchdog_backlog_messages &&
	    s->oldest_due_s > cfg->watchdog_backlog_minutes * 60.0) {
		snprintf(text, sizeof(text), "queue backlog: %ld due pending messages, "
			 "the oldest due %.0f min ago (%ld processing, newest worker "
			 "heartbeat %s)", s->due, s->oldest_due_s / 60, s->processing, hb);
		if (fire(ctx, f, "queue_backlog", NULL, ALERT_CRITICAL,
			 cfg->watchdog_backlog_cooldown_s, text))
			return -1;
	}
	if (s->burst_total > cfg->watchdog_error_burst_count) {
		snprintf(text, sizeof(text), "%ld send errors in the last %d s (the "
			 "provider's fault %ld, the chips' %ld, the recipients' %ld): %s",
			 s->burst_total, cfg->watchdog_error_burst_window_s,
			 s->burst_provider, s->burst_chip, s->burst_recipient, s->burst);
		if (fire(ctx, f, "send_error_burst", NULL, ALERT_WARNING,
			 cfg->watchdog_error_burst_cooldown_s, text))
			return -1;
	}
	/* alive: not dead by chipctl_worker_dead, the rescue's rule too */
	if (s->due > 0 && s->workers_alive == 0) {
		snprintf(text, sizeof(text), "no send-worker heartbeat in the last %d s "
			 "(newest %s) while %ld messages are due", cfg->watchdog_heartbeat_s,
			 hb, s->due);
		if (fire(ctx, f, "worker_down", NULL, ALERT_CRITICAL,
			 cfg->watchdog_heartbeat_cooldown_s, text))
			return -1;
	}
	for (i = 0; i < njobs; i++) {
		const struct health_job *j = &jobs[i];
		char age[32];

		if (j->down && j->succeeded) {
			char last[32];

			fmt_age(age, sizeof(age), j->success_age_s);
			fmt_age(last, sizeof(last), j->age_s);
			snprintf(text, sizeof(text), "job %s is down: its last successful "
				 "run started %s (last run %s, status %s), more than twice "
				 "its interval of %d s; newest worker heartbeat %s", j->name,
				 age, last, j->last_status, j->interval_s, hb);
		} else if (j->down) {
			fmt_age(age, sizeof(age), j->installed_s);
			snprintf(text, sizeof(text), "job %s is down: no successful run "
				 "since chipctl was installed %s (last run: %s), more than "
				 "twice its interval of %d s; is it scheduled (crontab, "
				 "timers, Railway)? newest worker heartbeat %s", j->name,
				 age, j->last_status, j->interval_s, hb);
		}
		if (j->down) {
			if (fire(ctx, f, "job_down", j->name, ALERT_CRITICAL,
				 cfg->watchdog_job_cooldown_s, text))
				return -1;
		}
		if (j->failing) {
			snprintf(text, sizeof(text), "job %s is failing: %ld of its last %ld "
				 "runs failed (last exit code %d)", j->name, j->failed,
				 j->recent, j->last_exit);
			if (fire(ctx, f, "job_failing", j->name, ALERT_WARNING,
				 cfg->watchdog_job_cooldown_s, text))
				return -1;
		}
	}
	if (s->evolution_breaker == BREAKER_OPEN &&
	    fire(ctx, f, "provider_outage", "evolution", ALERT_CRITICAL,
		 cfg->alerts_cooldown_s, "the Evolution breaker is open: no chip on "
		 "Evolution sends; per-chip alerts are held back until it closes"))
		return -1;
	if (s->zapi_breaker == BREAKER_OPEN &&
	    fire(ctx, f, "provider_outage", "zapi", ALERT_CRITICAL,
		 cfg->alerts_cooldown_s, "the Z-API breaker is open: no chip on "
		 "Z-API sends; per-chip alerts are held back until it closes"))
		return -1;
	return 0;
}

/* One statement: every active key of the watchdog's types that did not
 * fire this run is cleared, with a resolved notice each. */
static const char resolve_sql[] =
	"WITH st AS ("
	"  UPDATE alert_state SET active = false, last_resolved_at = now()"
	"  WHERE alert_type = ANY ($1::text[]) AND active"
	"    AND alert_key <> ALL ($2::text[])"
	"  RETURNING alert_key, alert_type, subject)"
	" INSERT INTO alert_outbox (alert_key, alert_type, subject, severity, text,"
	"   run_id, resolved)"
	" SELECT alert_key, alert_type, subject, 'info',"
	"   CASE alert_type"
	"     WHEN 'queue_backlog' THEN 'the queue backlog cleared'"
	"     WHEN 'send_error_burst' THEN 'send errors are back below the threshold'"
	"     WHEN 'worker_down' THEN 'a send-worker heartbeat is fresh again (or nothing is due)'"
	"     WHEN 'job_down' THEN 'job ' || subject || ' runs again'"
	"     WHEN 'job_failing' THEN 'job ' || subject || ' succeeds again'"
	"     ELSE 'the ' || coalesce(subject, '') || ' breaker closed' END,"
	"   $3::uuid, true FROM st RETURNING alert_key";

static const char resolve_dry_sql[] =
	"SELECT alert_key FROM alert_state WHERE alert_type = ANY ($1::text[])"
	"  AND active AND alert_key <> ALL ($2::text[])";

/*
 * When an outage is over, the newest held-back alert of each key that is
 * still active goes out; the others stay 'inhibited', marked dropped.
 */
static const char release_sql[] =
	"WITH over AS ("
	"  SELECT 'provider_outage:' || p AS src"
	"  FROM unnest(ARRAY['evolution', 'zapi']) AS p WHERE NOT chipctl_provider_outage(p)"
	"), held AS ("
	"  SELECT o.id, coalesce(s.active, false)"
	"      AND o.id = max(o.id) OVER (PARTITION BY o.alert_key) AS send"
	"  FROM alert_outbox o LEFT JOIN alert_state s ON s.alert_key = o.alert_key"
	"  WHERE o.status = 'inhibited' AND NOT o.resolved"
	"    AND o.inhibited_by IN (SELECT src FROM over)"
	"), upd AS ("
	"  UPDATE alert_outbox o SET"
	"    status = CASE WHEN h.send THEN 'pending' ELSE 'inhibited' END,"
	"    next_attempt_at = now(),"
	"    inhibited_by = CASE WHEN h.send THEN o.inhibited_by"
	"                        ELSE 'dropped after ' || o.inhibited_by END"
	"  FROM held h WHERE o.id = h.id RETURNING h.send"
	")"
	" SELECT count(*) FILTER (WHERE send), count(*) FILTER (WHERE NOT send) FROM upd";

int cmd_watchdog(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = { CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	struct health_snapshot snap;
	struct health_job jobs[HEALTH_MAX_JOBS];
	struct fired f = { NULL, STRBUF_INIT, 0, 0 };
	const char *params[3];
	PGresult *res = NULL;
	long resolved = 0, released = 0, dropped = 0;
	int c, rc, njobs;

	while (cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts) != -1)
		;
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	if (health_snapshot(ctx, &snap) ||
	    (njobs = health_jobs(ctx, jobs, HEALTH_MAX_JOBS)) < 0)
		return db_failure_rc(ctx->db);

	f.list = json_object_new_array();
	rc = check_conditions(ctx, &snap, jobs, njobs, &f);
	pga_end(&f.keys);
	if (rc)
		goto db_fail;

	params[0] = owned_types;
	params[1] = sb_str(&f.keys);
	params[2] = ctx->run_id;
	res = db_query(ctx->db, ctx->dry_run ? resolve_dry_sql : resolve_sql,
		       ctx->dry_run ? 2 : 3, params);
	if (!res)
		goto db_fail;
	resolved = PQntuples(res);
	for (c = 0; c < PQntuples(res); c++)
		log_info(ctx->dry_run ? "would resolve alert" : "alert resolved",
			 "key=%s", PQgetvalue(res, c, 0));
	PQclear(res);

	if (!ctx->dry_run) {
		res = db_query(ctx->db, release_sql, 0, NULL);
		if (!res)
			goto db_fail;
		released = db_long(res, 0, 0);
		dropped = db_long(res, 0, 1);
		PQclear(res);
		if (released || dropped)
			log_info("provider outage over: held-back alerts handled",
				 "released=%ld", released, "dropped=%ld", dropped);
	}
	log_info(ctx->dry_run ? "watchdog checked (dry run)" : "watchdog checked",
		 "firing=%d", f.n, "raised=%d", f.raised, "resolved=%ld", resolved,
		 "due=%ld", snap.due, "burst=%ld", snap.burst_total,
		 "inhibited=%ld", snap.alerts_inhibited);
	job_count(ctx, "firing", f.n);
	job_count(ctx, "alerts_raised", f.raised);
	job_count(ctx, "alerts_resolved", resolved);
	job_count(ctx, "alerts_released", released);
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "dry_run", json_object_new_boolean(ctx->dry_run));
		json_object_object_add(o, "firing", json_object_get(f.list));
		json_object_object_add(o, "resolved", json_object_new_int64(resolved));
		json_object_object_add(o, "released", json_object_new_int64(released));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	}
	json_object_put(f.list);
	sb_free(&f.keys);
	return 0;
db_fail:
	json_object_put(f.list);
	sb_free(&f.keys);
	return db_failure_rc(ctx->db);
}
