#include "config.h"
#include "config_table.h"
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

#define NSETTINGS nsettings

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

long config_send_timeout_ms(const struct config *cfg)
{
	return cfg->evolution_timeout_ms > cfg->zapi_timeout_ms ? cfg->evolution_timeout_ms :
								   cfg->zapi_timeout_ms;
}
