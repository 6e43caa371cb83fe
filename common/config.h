/*
 * config: every setting chipctl has, in one table.
 *
 * Owns reading the libconfig file (/etc/chipctl/chipctl.conf, --config or
 * CHIPCTL_CONFIG), the environment overrides Railway sets (DATABASE_URL,
 * EVOLUTION_API_URL, ...), the default of every threshold in the spec,
 * validation with file:line in each error, and registering secret values
 * with the log so they are scrubbed from every line. The same table drives
 * `chipctl --list-settings`, which the tests compare with chipctl.conf(5)
 * and the sample config so neither can drift from the code.
 */
#ifndef CHIPCTL_CONFIG_H
#define CHIPCTL_CONFIG_H

#include <stdio.h>

#define CHIPCTL_DEFAULT_CONFIG "/etc/chipctl/chipctl.conf"

struct config {
	char *path;		/* the file read, or NULL when none was */
	int secrets_in_file;	/* a secret setting came from the file */

	char *database_url;
	int db_connect_timeout_s;

	char *log_format;
	char *log_level;

	char *evolution_url;
	char *evolution_api_key;
	int evolution_timeout_ms;
	int evolution_connect_timeout_ms;

	char *zapi_url;
	char *zapi_client_token;
	int zapi_timeout_ms;

	char *slack_webhook_url;
	int slack_timeout_ms;
	int slack_min_interval_ms;
	int slack_max_per_run;
	int slack_retry_s;

	char *salvy_url;
	char *salvy_api_key;

	int http_max_response_bytes;

	int queue_stuck_minutes;
	int queue_expire_hours;
	int queue_max_tentativas;

	int alerts_cooldown_s;
	int jobs_lease_s;

	/* issue 6: observability */
	int jobs_grace_s;
	int jobs_sync_evolution_interval_s;
	int jobs_trust_update_interval_s;
	int jobs_reset_stuck_queue_interval_s;
	int jobs_reset_stuck_queue_expire_interval_s;
	int jobs_pool_check_interval_s;
	int jobs_watchdog_interval_s;
	int jobs_metrics_snapshot_interval_s;
	int jobs_pull_messages_interval_s;
	int watchdog_backlog_messages;
	int watchdog_backlog_minutes;
	int watchdog_backlog_cooldown_s;
	int watchdog_error_burst_count;
	int watchdog_error_burst_window_s;
	int watchdog_error_burst_cooldown_s;
	int watchdog_heartbeat_s;
	int watchdog_heartbeat_cooldown_s;
	int watchdog_job_cooldown_s;
	int watchdog_recent_runs;
	int health_queue_age_warning_s;
	int health_queue_age_critical_s;
	int health_queue_errors_warning;
	int health_queue_errors_critical;
	int health_worker_warning_s;
	int health_worker_critical_s;
	int health_chips_min_available;
	int health_circuits_warning_pct;
	int health_circuits_critical_pct;
	int health_evolution_timeout_ms;
	int metrics_retention_days;
	char *ping_sync_evolution_url;
	char *ping_trust_update_url;
	char *ping_reset_stuck_queue_url;
	char *ping_reset_stuck_queue_expire_url;
	char *ping_pool_check_url;
	char *ping_watchdog_url;
	char *ping_metrics_snapshot_url;
	char *ping_pull_messages_url;
	int ping_timeout_ms;

	/* issue 4: lifecycle */
	char *sync_method;
	int sync_parallel;
	int pull_overlap_s;
	int pull_first_days;
	int pull_max_in_flight;
	int pull_max_pages;
	int pull_page_size;
	int sync_max_response_bytes;
	int sync_disconnected_alert_pct;
	int sync_alert_cooldown_s;
	int pool_min_active;
	int pool_min_ready;
	int pool_min_warming;
	int pool_alert_cooldown_s;
	int pool_demote_trust_below;
	int pool_demote_errors_24h;
	int pool_demote_disconnected_min;
	int pool_demote_block_rate_permille;
	int pool_recover_after_min;
	int pool_graduate_days;
	int pool_graduate_trust;
	int pool_migration_recent_hours;
	int pool_continuity_delay_hours;
	char *pool_continuity_text;
	int salvy_area_code;
	int salvy_max_per_day;
	int salvy_timeout_ms;

	/* issue 3: send-worker */
	int send_batch_size;
	int send_batch_seconds;
	int send_max_chips;
	int send_idle_ms;
	int send_backoff_base_s;
	int send_backoff_max_s;
	int send_multi_chip;
	char *send_default_chip;
	int send_wait_backoff_s;
	int send_wait_backoff_max_s;
	int send_fallback_trust_prospeccao;
	int send_fallback_trust_followup;
	int send_fallback_trust_resposta;
	int send_chip_gap_s;
	int send_chip_gap_jitter_s;
	int send_typing_ms_per_char;
	int send_typing_min_ms;
	int send_typing_max_ms;
	int send_max_in_flight;
	int send_lookup_max_wait_s;
	int cooldown_429_s;
	int cooldown_400_s;
	int cooldown_403_s;
	int cooldown_other_s;
	int guardrail_max_per_day;
	int guardrail_campaign_weight;
	int guardrail_contact_cap_7d;
	int guardrail_jitter_s;
	char *guardrail_timezone;
	int breaker_chip_failures;
	int breaker_provider_failures;
	int breaker_timeouts;
	int breaker_provider_timeout_chips;
	int breaker_backoff_s;
	int breaker_backoff_max_s;
	int breaker_probe_lease_s;

	/* issue 5: trust */
	int trust_base;
	int trust_weight_age;
	int trust_age_full_days;
	int trust_weight_delivery;
	int trust_delivery_pivot_pct;
	int trust_weight_response;
	int trust_response_target_pct;
	int trust_weight_bidirectional;
	int trust_bidirectional_full;
	int trust_weight_media;
	int trust_media_full;
	int trust_error_penalty;
	int trust_weight_errors;
	int trust_weight_clean_days;
	int trust_clean_days_full;
	int trust_weight_block;
	int trust_block_full_pct;
	int trust_phase_warming;
	int trust_phase_ready;
	int trust_phase_active;
	int trust_phase_degraded;
	int trust_window_days;
	int trust_min_sample;
	int trust_level_verde;
	int trust_level_amarelo;
	int trust_level_laranja;
	int trust_level_vermelho;
	int trust_perm_prospect;
	int trust_perm_followup;
	int trust_perm_reply;
	int trust_alert_cooldown_s;
	int trust_failure_alert_pct;
	int trust_history_days;
};

/*
 * Load defaults, then the file, then the environment, then validate.
 * path NULL means CHIPCTL_CONFIG or the default file, which may be absent;
 * an explicit path must exist. A file holding secrets that group or others
 * can read gets a warning, or with strict is refused. Returns 0, or -1
 * after logging one error that names the file and line (the caller exits
 * 78).
 */
int config_load(struct config *cfg, const char *path, int strict);
void config_free(struct config *cfg);
/* The longer of the two providers' request timeouts (ms): a send's bound
 * whichever provider it goes to. */
long config_send_timeout_ms(const struct config *cfg);

/* One line per setting: name, type, default, environment variable. */
void config_list_settings(FILE *out);

/*
 * A setting by its name, for tables elsewhere that name settings (the job
 * table): the integer (0 and *out set) or the string (NULL when unset or
 * not a string setting). config_int returns -1 for a name that is not an
 * integer setting. config_default gives the default as text ("-": none),
 * or NULL for an unknown name.
 */
int config_int(const struct config *cfg, const char *name, int *out);
const char *config_str(const struct config *cfg, const char *name);
const char *config_default(const char *name, char *buf, size_t n);

#endif
