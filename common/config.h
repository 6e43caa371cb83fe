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
};

/*
 * Load defaults, then the file, then the environment, then validate.
 * path NULL means CHIPCTL_CONFIG or the default file, which may be absent;
 * an explicit path must exist. Returns 0, or -1 after logging one error
 * that names the file and line (the caller exits 78).
 */
int config_load(struct config *cfg, const char *path);
void config_free(struct config *cfg);

/* One line per setting: name, type, default, environment variable. */
void config_list_settings(FILE *out);

#endif
