/*
 * health: what the health checks, the watchdog and the metrics measure.
 *
 * Owns reading the state of the system in few round trips (one for the
 * queue, the worker heartbeats, recent send errors, the chips and the
 * breakers; one for the cron jobs of the job table), and judging it: each check gives a
 * status in the monitoring-plugin convention (0 OK, 1 WARNING, 2 CRITICAL,
 * 3 UNKNOWN), a one-line summary, performance data and a JSON object. The
 * thresholds are settings (health.*, jobs.*). What a chip, a breaker or a
 * permission is comes from the SQL that defines it once (006's
 * chipctl_chip_now and chipctl_breakers, 007's chipctl_pool_permissions).
 * The watchdog alerts on the same numbers and metrics exports them, so the
 * three never disagree on what "late" or "available" means. health_evolution.c
 * judges the Evolution server: reachable, its breaker, and whether it keeps
 * the messages it sends.
 */
#ifndef CHIPCTL_HEALTH_H
#define CHIPCTL_HEALTH_H

#include "strbuf.h"

struct chipctl_ctx;
struct config;
struct json_object;

enum health_status {
	HEALTH_OK = 0,
	HEALTH_WARNING = 1,
	HEALTH_CRITICAL = 2,
	HEALTH_UNKNOWN = 3,
};

/* Breaker states as read: none or closed, half open, open (or forced). */
enum { BREAKER_CLOSED = 0, BREAKER_HALF_OPEN = 1, BREAKER_OPEN = 2 };

struct health_snapshot {
	long pending, due, processing, sent_1h, errors_1h;
	double oldest_due_s;		/* -1: nothing due */
	double mean_ms;			/* -1: no successful attempt in the hour */
	double heartbeat_age_s;		/* -1: no worker ever beat */
	long workers, workers_alive;
	long burst_total;		/* send errors in watchdog.error_burst_window_s */
	char burst[256];		/* by fault and result: "provider 5xx=7, chip 4xx=4" */
	long burst_chip, burst_provider, burst_recipient;	/* by send_attempts.fault */
	long chips_total, chips_active;
	long chips_available;		/* chipctl_chip_now.sendable */
	long chips_disconnected, chips_cooldown, chips_connected;
	long chips_may_prospect, chips_may_followup;	/* chipctl_pool_permissions */
	long chip_breakers, chip_breakers_open, chip_breakers_half_open;
	int evolution_breaker, zapi_breaker;	/* BREAKER_* */
	long transitions_24h;
	long alerts_pending, alerts_inhibited;
};

/* One round trip. Returns 0, or -1 (the database error is logged). */
int health_snapshot(struct chipctl_ctx *ctx, struct health_snapshot *s);

struct health_job {
	char name[48];
	int interval_s;
	int ran;			/* 0: no run that was not skipped */
	double age_s;			/* since the last run that was not skipped started */
	int succeeded;			/* 0: no successful run */
	double success_age_s;		/* since the last successful run started, -1: none */
	double quiet_s;			/* without a success: since the last one, else
					 * since chipctl was installed (0: the job asking) */
	double installed_s;		/* since the first migration, -1 unknown */
	char last_status[16];
	int last_exit;			/* -1 when unknown */
	double last_duration_s;		/* -1 while running */
	long recent, failed;		/* of the last watchdog.recent_runs finished runs */
	int late, down, failing;
};

#define HEALTH_MAX_JOBS 16

/*
 * The watched jobs of the job table (common/job.c) with their intervals
 * from the config (interval 0: not watched), one round trip. A job is late
 * past interval + jobs.grace_s and down past twice its interval without a
 * successful run, counted from its last success or, when it never
 * succeeded, from chipctl's installation (the first migration). Returns
 * the number filled, or -1.
 */
int health_jobs(struct chipctl_ctx *ctx, struct health_job *jobs, int max);

struct health_result {
	const char *name;
	enum health_status status;
	struct strbuf text;		/* the summary, without the status */
	struct strbuf perf;		/* performance data */
	struct json_object *json;	/* details, owned */
	int score;			/* 0-100, as a component of `health score` */
};

void health_result_init(struct health_result *r, const char *name);
/* Raise r's status to st if st is worse; the score follows. */
void health_worse(struct health_result *r, enum health_status st);
/* An age for a summary: "45s", "12m", "3.0h", or "none" when negative. */
void health_fmt_age(char *buf, size_t n, double s);
void health_result_free(struct health_result *r);
/* Append one performance datum: label=value[uom];warn;crit */
void health_perf(struct health_result *r, const char *label, double value,
		 const char *uom, const char *warn, const char *crit);

void health_eval_queue(const struct config *cfg, const struct health_snapshot *s,
		       struct health_result *r);
void health_eval_worker(const struct config *cfg, const struct health_snapshot *s,
			struct health_result *r);
void health_eval_chips(const struct config *cfg, const struct health_snapshot *s,
		       struct health_result *r);
void health_eval_circuits(const struct config *cfg, const struct health_snapshot *s,
			  struct health_result *r);
/*
 * Evolution (health_evolution.c): the server answers (CRITICAL when not),
 * its breaker (from s, may be NULL: CRITICAL open, WARNING half open), and
 * whether it keeps the messages it sends (evolution_history, when db_ok:
 * WARNING when not, since pull-messages and reconciliation are then off).
 * UNKNOWN without evolution.url.
 */
void health_eval_evolution(struct chipctl_ctx *ctx, const struct health_snapshot *s,
			   int db_ok, struct health_result *r);
void health_eval_jobs(const struct config *cfg, const struct health_job *jobs,
		      int n, struct health_result *r);

/*
 * Probe Evolution (GET /instance/fetchInstances with the API key, bounded
 * by health.evolution_timeout_ms). Returns 1 reachable (2xx), 0 not, -1
 * not configured; why gets a line for the summary.
 */
int health_probe_evolution(const struct config *cfg, char *why, size_t whysz);

const char *health_status_name(enum health_status st);
/* v rounded to one decimal (no libm). */
double health_round1(double v);
/* A JSON number printed with one decimal. */
struct json_object *health_json_double(double v);
/* The score of a check's status: OK 100, WARNING 50, else 0. */
int health_status_score(enum health_status st);

/*
 * The current metrics as rows (name text, labels jsonb as text, value
 * float8), ordered by name: the query metrics prints and metrics-snapshot
 * stores. Takes $1 = worker heartbeat age limit in seconds, $2 = the job
 * names (job_names_array).
 */
extern const char health_metrics_sql[];

#endif
