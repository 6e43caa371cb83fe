#include "config.h"
#include "log.h"
#include "numparse.h"
#include "strbuf.h"

#include <errno.h>
#include <libconfig.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum cfg_type { T_STR, T_INT };

#define SECRET 1u
#define URL    2u	/* must be http:// or https:// */

#define CONNINFO 4u	/* a libpq conninfo string or URI */

struct setting {
	const char *name;
	enum cfg_type type;
	size_t off;
	const char *env;
	const char *def_str;
	long def_int, min, max;
	unsigned flags;
	const char *choices;	/* "a|b|c": the only values allowed */
};

#define S(name, field, env, def, fl) \
	{ name, T_STR, offsetof(struct config, field), env, def, 0, 0, 0, fl, NULL }
#define E(name, field, env, def, choices) \
	{ name, T_STR, offsetof(struct config, field), env, def, 0, 0, 0, 0, choices }
#define I(name, field, env, def, lo, hi) \
	{ name, T_INT, offsetof(struct config, field), env, NULL, def, lo, hi, 0, NULL }

static const struct setting settings[] = {
	S("database.url", database_url, "DATABASE_URL", NULL, SECRET | CONNINFO),
	I("database.connect_timeout", db_connect_timeout_s, NULL, 5, 1, 300),
	E("log.format", log_format, "CHIPCTL_LOG_FORMAT", "logfmt", "logfmt|json"),
	E("log.level", log_level, "CHIPCTL_LOG_LEVEL", "info", "debug|info|warn|error"),
	S("evolution.url", evolution_url, "EVOLUTION_API_URL", NULL, URL),
	S("evolution.api_key", evolution_api_key, "EVOLUTION_API_KEY", NULL, SECRET),
	I("evolution.timeout_ms", evolution_timeout_ms, NULL, 15000, 100, 600000),
	I("evolution.connect_timeout_ms", evolution_connect_timeout_ms, NULL, 3000, 50, 60000),
	S("zapi.url", zapi_url, "ZAPI_API_URL", "https://api.z-api.io", URL),
	S("zapi.client_token", zapi_client_token, "ZAPI_CLIENT_TOKEN", NULL, SECRET),
	I("zapi.timeout_ms", zapi_timeout_ms, NULL, 15000, 100, 600000),
	S("slack.webhook_url", slack_webhook_url, "SLACK_WEBHOOK_URL", NULL, SECRET | URL),
	I("slack.timeout_ms", slack_timeout_ms, NULL, 5000, 100, 60000),
	I("slack.min_interval_ms", slack_min_interval_ms, NULL, 1000, 0, 60000),
	I("slack.max_per_run", slack_max_per_run, NULL, 20, 1, 1000),
	I("slack.retry_s", slack_retry_s, NULL, 60, 1, 86400),
	S("salvy.url", salvy_url, "SALVY_API_URL", "https://api.salvy.com.br", URL),
	S("salvy.api_key", salvy_api_key, "SALVY_API_KEY", NULL, SECRET),
	I("http.max_response_bytes", http_max_response_bytes, NULL, 1048576, 1024, 268435456),
	I("queue.stuck_minutes", queue_stuck_minutes, NULL, 60, 1, 10080),
	I("queue.expire_hours", queue_expire_hours, NULL, 24, 1, 8760),
	I("queue.max_tentativas", queue_max_tentativas, NULL, 3, 1, 100),
	I("alerts.cooldown_s", alerts_cooldown_s, NULL, 1800, 0, 604800),
	I("jobs.lease_s", jobs_lease_s, NULL, 300, 1, 86400),
	/* issue 6: observability */
	I("jobs.grace_s", jobs_grace_s, NULL, 60, 0, 86400),
	I("jobs.sync_evolution_interval_s", jobs_sync_evolution_interval_s, NULL, 120, 0, 604800),
	I("jobs.trust_update_interval_s", jobs_trust_update_interval_s, NULL, 900, 0, 604800),
	I("jobs.reset_stuck_queue_interval_s", jobs_reset_stuck_queue_interval_s, NULL, 60, 0, 604800),
	I("jobs.reset_stuck_queue_expire_interval_s", jobs_reset_stuck_queue_expire_interval_s,
	  NULL, 86400, 0, 604800),
	I("jobs.pool_check_interval_s", jobs_pool_check_interval_s, NULL, 60, 0, 604800),
	I("jobs.watchdog_interval_s", jobs_watchdog_interval_s, NULL, 60, 0, 604800),
	I("jobs.metrics_snapshot_interval_s", jobs_metrics_snapshot_interval_s, NULL, 300, 0, 604800),
	I("jobs.pull_messages_interval_s", jobs_pull_messages_interval_s, NULL, 300, 0, 604800),
	I("watchdog.backlog_messages", watchdog_backlog_messages, NULL, 50, 0, 100000000),
	I("watchdog.backlog_minutes", watchdog_backlog_minutes, NULL, 30, 0, 100000),
	I("watchdog.backlog_cooldown_s", watchdog_backlog_cooldown_s, NULL, 3600, 0, 604800),
	I("watchdog.error_burst_count", watchdog_error_burst_count, NULL, 10, 0, 100000000),
	I("watchdog.error_burst_window_s", watchdog_error_burst_window_s, NULL, 300, 1, 86400),
	I("watchdog.error_burst_cooldown_s", watchdog_error_burst_cooldown_s, NULL, 1800, 0, 604800),
	I("watchdog.heartbeat_s", watchdog_heartbeat_s, NULL, 120, 1, 86400),
	I("watchdog.heartbeat_cooldown_s", watchdog_heartbeat_cooldown_s, NULL, 1800, 0, 604800),
	I("watchdog.job_cooldown_s", watchdog_job_cooldown_s, NULL, 3600, 0, 604800),
	I("watchdog.recent_runs", watchdog_recent_runs, NULL, 10, 2, 1000),
	I("health.queue_age_warning_s", health_queue_age_warning_s, NULL, 600, 1, 604800),
	I("health.queue_age_critical_s", health_queue_age_critical_s, NULL, 1800, 1, 604800),
	I("health.queue_errors_warning", health_queue_errors_warning, NULL, 10, 1, 100000000),
	I("health.queue_errors_critical", health_queue_errors_critical, NULL, 50, 1, 100000000),
	I("health.worker_warning_s", health_worker_warning_s, NULL, 60, 1, 86400),
	I("health.worker_critical_s", health_worker_critical_s, NULL, 120, 1, 86400),
	I("health.chips_min_available", health_chips_min_available, NULL, 3, 0, 100000),
	I("health.circuits_warning_pct", health_circuits_warning_pct, NULL, 10, 0, 100),
	I("health.circuits_critical_pct", health_circuits_critical_pct, NULL, 50, 0, 100),
	I("health.evolution_timeout_ms", health_evolution_timeout_ms, NULL, 3000, 100, 60000),
	I("metrics.retention_days", metrics_retention_days, NULL, 7, 1, 3650),
	S("ping.sync_evolution_url", ping_sync_evolution_url, NULL, NULL, SECRET | URL),
	S("ping.trust_update_url", ping_trust_update_url, NULL, NULL, SECRET | URL),
	S("ping.reset_stuck_queue_url", ping_reset_stuck_queue_url, NULL, NULL, SECRET | URL),
	S("ping.reset_stuck_queue_expire_url", ping_reset_stuck_queue_expire_url, NULL, NULL,
	  SECRET | URL),
	S("ping.pool_check_url", ping_pool_check_url, NULL, NULL, SECRET | URL),
	S("ping.watchdog_url", ping_watchdog_url, NULL, NULL, SECRET | URL),
	S("ping.metrics_snapshot_url", ping_metrics_snapshot_url, NULL, NULL, SECRET | URL),
	S("ping.pull_messages_url", ping_pull_messages_url, NULL, NULL, SECRET | URL),
	I("ping.timeout_ms", ping_timeout_ms, NULL, 2000, 100, 60000),
	/* issue 4: lifecycle */
	E("sync.method", sync_method, NULL, "fetch_instances",
	  "fetch_instances|connection_state"),
	I("sync.parallel", sync_parallel, NULL, 8, 1, 64),
	I("pull.overlap_s", pull_overlap_s, NULL, 600, 0, 86400),
	I("pull.first_days", pull_first_days, NULL, 30, 1, 365),
	I("pull.max_in_flight", pull_max_in_flight, NULL, 32, 1, 1024),
	I("pull.max_pages", pull_max_pages, NULL, 20, 1, 10000),
	I("pull.page_size", pull_page_size, NULL, 100, 1, 1000),
	I("sync.max_response_bytes", sync_max_response_bytes, NULL, 16777216, 1024,
	  268435456),
	I("sync.disconnected_alert_pct", sync_disconnected_alert_pct, NULL, 30, 0, 100),
	I("sync.alert_cooldown_s", sync_alert_cooldown_s, NULL, 1800, 0, 604800),
	I("pool.min_active", pool_min_active, NULL, 5, 0, 10000),
	I("pool.min_ready", pool_min_ready, NULL, 2, 0, 10000),
	I("pool.min_warming", pool_min_warming, NULL, 2, 0, 10000),
	I("pool.alert_cooldown_s", pool_alert_cooldown_s, NULL, 1800, 0, 604800),
	I("pool.demote_trust_below", pool_demote_trust_below, NULL, 40, 0, 100),
	I("pool.demote_errors_24h", pool_demote_errors_24h, NULL, 10, 0, 1000000),
	I("pool.demote_disconnected_min", pool_demote_disconnected_min, NULL, 30, 1, 100000),
	I("pool.demote_block_rate_permille", pool_demote_block_rate_permille, NULL, 20, 0, 1000),
	I("pool.recover_after_min", pool_recover_after_min, NULL, 60, 0, 100000),
	I("pool.graduate_days", pool_graduate_days, NULL, 21, 0, 365),
	I("pool.graduate_trust", pool_graduate_trust, NULL, 85, 0, 100),
	I("pool.migration_recent_hours", pool_migration_recent_hours, NULL, 48, 0, 8760),
	I("pool.continuity_delay_hours", pool_continuity_delay_hours, NULL, 24, 0, 8760),
	S("pool.continuity_text", pool_continuity_text, NULL,
	  "Oi! Estou continuando nossa conversa por este numero.", 0),
	I("salvy.area_code", salvy_area_code, NULL, 11, 11, 99),
	I("salvy.max_per_day", salvy_max_per_day, NULL, 5, 0, 1000),
	I("salvy.timeout_ms", salvy_timeout_ms, NULL, 15000, 100, 600000),
	/* issue 3: send-worker */
	I("send.batch_size", send_batch_size, NULL, 1000, 1, 1000),
	I("send.batch_seconds", send_batch_seconds, NULL, 10, 1, 60),
	I("send.max_chips_per_message", send_max_chips, NULL, 3, 1, 20),
	I("send.idle_ms", send_idle_ms, NULL, 1000, 10, 60000),
	I("send.backoff_base_s", send_backoff_base_s, NULL, 60, 1, 86400),
	I("send.backoff_max_s", send_backoff_max_s, NULL, 3600, 1, 604800),
	I("send.multi_chip", send_multi_chip, "CHIPCTL_MULTI_CHIP", 1, 0, 1),
	S("send.default_chip", send_default_chip, NULL, NULL, 0),
	I("send.wait_backoff_s", send_wait_backoff_s, NULL, 30, 1, 3600),
	I("send.wait_backoff_max_s", send_wait_backoff_max_s, NULL, 300, 1, 86400),
	I("send.fallback_trust_prospeccao", send_fallback_trust_prospeccao, NULL, 60, 0, 100),
	I("send.fallback_trust_followup", send_fallback_trust_followup, NULL, 40, 0, 100),
	I("send.fallback_trust_resposta", send_fallback_trust_resposta, NULL, 20, 0, 100),
	/* issue 19: a chip sends like a person, the worker at the fleet's speed */
	I("send.chip_gap_s", send_chip_gap_s, "CHIPCTL_CHIP_GAP_S", 20, 0, 3600),
	I("send.chip_gap_jitter_s", send_chip_gap_jitter_s, "CHIPCTL_CHIP_GAP_JITTER_S", 20, 0, 3600),
	I("send.typing_ms_per_char", send_typing_ms_per_char, "CHIPCTL_TYPING_MS_PER_CHAR", 40, 0, 1000),
	I("send.typing_min_ms", send_typing_min_ms, NULL, 1000, 0, 15000),
	I("send.typing_max_ms", send_typing_max_ms, NULL, 8000, 0, 15000),
	I("send.max_in_flight", send_max_in_flight, NULL, 256, 1, 4096),
	I("send.lookup_max_wait_s", send_lookup_max_wait_s, NULL, 600, 0, 86400),
	I("cooldown.rate_limit_s", cooldown_429_s, NULL, 300, 0, 86400),
	I("cooldown.bad_request_s", cooldown_400_s, NULL, 1800, 0, 86400),
	I("cooldown.forbidden_s", cooldown_403_s, NULL, 3600, 0, 86400),
	I("cooldown.other_s", cooldown_other_s, NULL, 900, 0, 86400),
	I("guardrail.max_per_day", guardrail_max_per_day, NULL, 3, 1, 100),
	I("guardrail.campaign_weight", guardrail_campaign_weight, NULL, 2, 1, 10),
	I("guardrail.contact_cap_7d", guardrail_contact_cap_7d, NULL, 10, 0, 1000),
	I("guardrail.jitter_s", guardrail_jitter_s, NULL, 1800, 0, 86400),
	S("guardrail.timezone", guardrail_timezone, NULL, "America/Sao_Paulo", 0),
	I("breaker.chip_failures", breaker_chip_failures, NULL, 3, 1, 100),
	I("breaker.provider_failures", breaker_provider_failures, NULL, 5, 1, 1000),
	I("breaker.timeouts", breaker_timeouts, NULL, 5, 1, 1000),
	I("breaker.provider_timeout_chips", breaker_provider_timeout_chips, NULL, 3, 1, 1000),
	I("breaker.backoff_s", breaker_backoff_s, NULL, 60, 1, 86400),
	I("breaker.backoff_max_s", breaker_backoff_max_s, NULL, 600, 1, 86400),
	I("breaker.probe_lease_s", breaker_probe_lease_s, NULL, 60, 1, 3600),
	/* issue 5: trust */
	I("trust.base", trust_base, NULL, 50, 0, 100),
	I("trust.weight_age", trust_weight_age, NULL, 10, 0, 100),
	I("trust.age_full_days", trust_age_full_days, NULL, 30, 1, 3650),
	I("trust.weight_delivery", trust_weight_delivery, NULL, 15, 0, 100),
	I("trust.delivery_pivot_pct", trust_delivery_pivot_pct, NULL, 90, 0, 99),
	I("trust.weight_response", trust_weight_response, NULL, 10, 0, 100),
	I("trust.response_target_pct", trust_response_target_pct, NULL, 15, 1, 100),
	I("trust.weight_bidirectional", trust_weight_bidirectional, NULL, 10, 0, 100),
	I("trust.bidirectional_full", trust_bidirectional_full, NULL, 20, 1, 100000),
	I("trust.weight_media", trust_weight_media, NULL, 5, 0, 100),
	I("trust.media_full", trust_media_full, NULL, 3, 1, 20),
	I("trust.error_penalty", trust_error_penalty, NULL, 3, 0, 100),
	I("trust.weight_errors", trust_weight_errors, NULL, 15, 0, 100),
	I("trust.weight_clean_days", trust_weight_clean_days, NULL, 5, 0, 100),
	I("trust.clean_days_full", trust_clean_days_full, NULL, 7, 1, 365),
	I("trust.weight_block", trust_weight_block, NULL, 20, 0, 100),
	I("trust.block_full_pct", trust_block_full_pct, NULL, 2, 1, 100),
	I("trust.phase_warming", trust_phase_warming, NULL, 0, -100, 100),
	I("trust.phase_ready", trust_phase_ready, NULL, 5, -100, 100),
	I("trust.phase_active", trust_phase_active, NULL, 5, -100, 100),
	I("trust.phase_degraded", trust_phase_degraded, NULL, -10, -100, 100),
	I("trust.window_days", trust_window_days, NULL, 7, 1, 90),
	I("trust.min_sample", trust_min_sample, NULL, 10, 1, 100000),
	I("trust.level_verde", trust_level_verde, NULL, 80, 0, 100),
	I("trust.level_amarelo", trust_level_amarelo, NULL, 60, 0, 100),
	I("trust.level_laranja", trust_level_laranja, NULL, 40, 0, 100),
	I("trust.level_vermelho", trust_level_vermelho, NULL, 20, 0, 100),
	I("trust.perm_prospect", trust_perm_prospect, NULL, 80, 0, 100),
	I("trust.perm_followup", trust_perm_followup, NULL, 60, 0, 100),
	I("trust.perm_reply", trust_perm_reply, NULL, 40, 0, 100),
	I("trust.alert_cooldown_s", trust_alert_cooldown_s, NULL, 3600, 0, 604800),
	I("trust.failure_alert_pct", trust_failure_alert_pct, NULL, 50, 0, 100),
	I("trust.history_days", trust_history_days, NULL, 14, 1, 3650),
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static char **str_field(struct config *cfg, const struct setting *s)
{
	return (char **)((char *)cfg + s->off);
}

static int *int_field(struct config *cfg, const struct setting *s)
{
	return (int *)((char *)cfg + s->off);
}

static const struct setting *find_setting(const char *name)
{
	size_t i;

	for (i = 0; i < NSETTINGS; i++)
		if (!strcmp(settings[i].name, name))
			return &settings[i];
	return NULL;
}

static void set_str(char **field, const char *v)
{
	free(*field);
	*field = v ? xstrdup(v) : NULL;
}

static int in_choices(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *p = choices;

	while (p) {
		if (!strncmp(p, v, n) && (p[n] == '|' || p[n] == '\0'))
			return 1;
		p = strchr(p, '|');
		if (p)
			p++;
	}
	return 0;
}

/* A conninfo's port: a comma-separated list (one per host) of 1 to 65535,
 * or empty. libpq would refuse anything else only when connecting, as if
 * the server were unreachable; it is a configuration error. */
static const char *conninfo_ports(const PQconninfoOption *opts)
{
	const PQconninfoOption *o;

	for (o = opts; o->keyword; o++) {
		const char *p = o->val, *comma;
		long long port;

		if (strcmp(o->keyword, "port") || !p || !*p)
			continue;
		for (;; p = comma + 1) {
			size_t len = (comma = strchr(p, ',')) ? (size_t)(comma - p) : strlen(p);
			if (len && num_parse_n(p, len, 1, 65535, &port) != NUM_OK)
				return "the port is not a number from 1 to 65535";
			if (!comma)
				break;
		}
	}
	return NULL;
}

/* Why v is not a valid value of s, or NULL when it is. */
static const char *check_str(const struct setting *s, const char *v)
{
	if (s->choices && !in_choices(s->choices, v))
		return "not one of the allowed values";
	if ((s->flags & URL) && *v && strncmp(v, "http://", 7) &&
	    strncmp(v, "https://", 8))
		return "not an http:// or https:// URL";
	if (s->flags & CONNINFO) {
		char *err = NULL;
		PQconninfoOption *opts = PQconninfoParse(v, &err);
		const char *why;

		PQfreemem(err);
		if (!opts)
			return "not a valid libpq conninfo string or URI";
		why = conninfo_ports(opts);
		PQconninfoFree(opts);
		if (why)
			return why;
	}
	return NULL;
}

/* Store a string setting; URLs lose trailing slashes so paths join cleanly. */
static void store_str(struct config *cfg, const struct setting *s, const char *v)
{
	char **field = str_field(cfg, s);
	size_t n;

	set_str(field, v);
	if ((s->flags & URL) && *field)
		for (n = strlen(*field); n > 0 && (*field)[n - 1] == '/'; n--)
			(*field)[n - 1] = '\0';
}

/* Settings that existed once: a file that still sets one keeps working
 * (with a warning naming what took its place), not a configuration error. */
static const char *retired(const char *path)
{
	static const char *const names[][2] = {
		{ "send.min_trust_prospeccao", "trust.perm_prospect" },
		{ "send.min_trust_followup", "trust.perm_followup" },
		{ "send.min_trust_resposta", "trust.perm_reply" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(path, names[i][0]))
			return names[i][1];
	return NULL;
}

/* Every scalar in the file must be a known setting: a typo in a threshold
 * name must not silently leave the default in force. */
static int check_known(config_setting_t *group, const char *file)
{
	int i, n = config_setting_length(group);

	for (i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		char path[256];
		config_setting_t *p;
		const char *parts[8];
		int depth = 0, j;

		if (config_setting_is_group(s)) {
			if (check_known(s, file))
				return -1;
			continue;
		}
		for (p = s; p && config_setting_name(p) && depth < 8;
		     p = config_setting_parent(p))
			parts[depth++] = config_setting_name(p);
		path[0] = '\0';
		for (j = depth - 1; j >= 0; j--) {
			strncat(path, parts[j], sizeof(path) - strlen(path) - 1);
			if (j)
				strncat(path, ".", sizeof(path) - strlen(path) - 1);
		}
		if (retired(path)) {
			log_warn("config setting retired: ignored", "file=%s", file, "line=%d",
				 (int)config_setting_source_line(s), "setting=%s", path,
				 "instead=%s", retired(path));
			continue;
		}
		if (!find_setting(path)) {
			log_error("config error", "file=%s", file, "line=%d",
				  (int)config_setting_source_line(s),
				  "error=%s", "unknown setting", "setting=%s", path);
			return -1;
		}
	}
	return 0;
}

static int read_file(struct config *cfg, const char *file)
{
	config_t lc;
	struct stat st;
	size_t i;
	int rc = -1;

	config_init(&lc);
	if (!stat(file, &st) && S_ISDIR(st.st_mode)) {
		log_error("cannot read config file", "file=%s", file,
			  "error=%s", strerror(EISDIR));
		goto out;
	}
	errno = 0;
	if (!config_read_file(&lc, file)) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			log_error("cannot read config file", "file=%s", file,
				  "error=%s", strerror(errno));
		else
			log_error("config error", "file=%s",
				  config_error_file(&lc) ? config_error_file(&lc) : file,
				  "line=%d", config_error_line(&lc),
				  "error=%s", config_error_text(&lc));
		goto out;
	}
	if (check_known(config_root_setting(&lc), file))
		goto out;
	for (i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		config_setting_t *cs = config_lookup(&lc, s->name);
		int line;

		if (!cs)
			continue;
		line = (int)config_setting_source_line(cs);
		if (s->type == T_STR) {
			const char *v = config_setting_get_string(cs);
			const char *why = v ? check_str(s, v) : "expected a string";
			if (why) {
				log_error("config error", "file=%s", file,
					  "line=%d", line, "error=%s", why,
					  "setting=%s", s->name,
					  "allowed=%s", s->choices ? s->choices : "-");
				goto out;
			}
			store_str(cfg, s, v);
			if ((s->flags & SECRET) && *v)
				cfg->secrets_in_file = 1;
		} else {
			int t = config_setting_type(cs);
			long long v;
			if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
				log_error("config error", "file=%s", file,
					  "line=%d", line, "error=%s",
					  "expected an integer", "setting=%s", s->name);
				goto out;
			}
			v = config_setting_get_int64(cs);
			if (v < s->min || v > s->max) {
				log_error("config error", "file=%s", file,
					  "line=%d", line, "error=%s",
					  "value out of range", "setting=%s", s->name,
					  "min=%ld", s->min, "max=%ld", s->max);
				goto out;
			}
			*int_field(cfg, s) = (int)v;
		}
	}
	rc = 0;
out:
	config_destroy(&lc);
	return rc;
}

static int apply_env(struct config *cfg)
{
	size_t i;

	for (i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		const char *v = s->env ? getenv(s->env) : NULL;

		if (!v || !*v)
			continue;
		if (s->type == T_STR) {
			const char *why = check_str(s, v);
			if (why) {
				log_error("config error", "env=%s", s->env,
					  "error=%s", why, "setting=%s", s->name,
					  "allowed=%s", s->choices ? s->choices : "-");
				return -1;
			}
			store_str(cfg, s, v);
		} else {
			long n;
			char why[96];
			enum num_status st = num_parse_long(v, s->min, s->max, &n);
			if (st != NUM_OK) {
				log_error("config error", "env=%s", s->env, "error=%s",
					  num_explain(st, s->min, s->max, why, sizeof(why)),
					  "setting=%s", s->name);
				return -1;
			}
			*int_field(cfg, s) = (int)n;
		}
	}
	return 0;
}

static void register_secrets(struct config *cfg)
{
	size_t i;

	for (i = 0; i < NSETTINGS; i++)
		if ((settings[i].flags & SECRET) && settings[i].type == T_STR)
			log_add_secret(*str_field(cfg, &settings[i]));
	if (cfg->database_url) {
		PQconninfoOption *opts = PQconninfoParse(cfg->database_url, NULL), *o;

		for (o = opts; o && o->keyword; o++)
			if (!strcmp(o->keyword, "password") && o->val)
				log_add_secret(o->val);
		PQconninfoFree(opts);
	}
}

/* A file that holds secrets must not be readable by group or others:
 * a warning, or with strict a configuration error. */
static int check_mode(const struct config *cfg, const char *path, int strict)
{
	struct stat st;
	char mode[8];

	if (!cfg->secrets_in_file || stat(path, &st) != 0 || !(st.st_mode & 0044))
		return 0;
	snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 07777));
	if (strict) {
		log_error("config file holds secrets and is readable by others "
			  "(refused with --strict): chmod 600 it", "file=%s", path,
			  "mode=%s", mode);
		return -1;
	}
	log_warn("config file holds secrets and is readable by others: chmod 600 it",
		 "file=%s", path, "mode=%s", mode);
	return 0;
}

int config_load(struct config *cfg, const char *path, int strict)
{
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < NSETTINGS; i++) {
		if (settings[i].type == T_STR)
			set_str(str_field(cfg, &settings[i]), settings[i].def_str);
		else
			*int_field(cfg, &settings[i]) = (int)settings[i].def_int;
	}
	if (!path || !*path)
		path = getenv("CHIPCTL_CONFIG");
	if (!path || !*path)
		path = access(CHIPCTL_DEFAULT_CONFIG, F_OK) == 0 ?
			CHIPCTL_DEFAULT_CONFIG : NULL;
	if (path) {
		cfg->path = xstrdup(path);
		if (read_file(cfg, path) || check_mode(cfg, path, strict))
			goto fail;
	}
	if (apply_env(cfg))
		goto fail;
	register_secrets(cfg);
	return 0;
fail:
	config_free(cfg);
	return -1;
}

void config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < NSETTINGS; i++)
		if (settings[i].type == T_STR)
			set_str(str_field(cfg, &settings[i]), NULL);
	free(cfg->path);
	cfg->path = NULL;
}

void config_list_settings(FILE *out)
{
	size_t i;

	for (i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];

		if (s->type == T_STR)
			fprintf(out, "%s\tstring\t%s\t%s\n", s->name,
				s->def_str ? s->def_str : "-",
				s->env ? s->env : "-");
		else
			fprintf(out, "%s\tinteger\t%ld\t%s\n", s->name,
				s->def_int, s->env ? s->env : "-");
	}
}

int config_int(const struct config *cfg, const char *name, int *out)
{
	const struct setting *s = find_setting(name);

	if (!s || s->type != T_INT)
		return -1;
	*out = *(const int *)((const char *)cfg + s->off);
	return 0;
}

const char *config_str(const struct config *cfg, const char *name)
{
	const struct setting *s = find_setting(name);

	if (!s || s->type != T_STR)
		return NULL;
	return *(char *const *)((const char *)cfg + s->off);
}

const char *config_default(const char *name, char *buf, size_t n)
{
	const struct setting *s = find_setting(name);

	if (!s)
		return NULL;
	if (s->type == T_STR)
		snprintf(buf, n, "%s", s->def_str ? s->def_str : "-");
	else
		snprintf(buf, n, "%ld", s->def_int);
	return buf;
}
