#include "config.h"
#include "log.h"
#include "strbuf.h"

#include <errno.h>
#include <libconfig.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
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

		PQfreemem(err);
		if (!opts)
			return "not a valid libpq conninfo string or URI";
		PQconninfoFree(opts);
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
	size_t i;
	int rc = -1;

	config_init(&lc);
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
			char *end;
			long n = strtol(v, &end, 10);
			if (*end || n < s->min || n > s->max) {
				log_error("config error", "env=%s", s->env,
					  "error=%s", "not an integer in range",
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

int config_load(struct config *cfg, const char *path)
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
		if (read_file(cfg, path))
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
