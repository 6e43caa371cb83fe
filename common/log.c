#include "log.h"
#include "strbuf.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define MAX_SECRETS 32

static enum log_level min_level = LOG_INFO;
static int json_format;
static char ctx_cmd[64] = "chipctl";
static char ctx_run[64];
static char *secrets[MAX_SECRETS];
static int nsecrets;

static const char *level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level level)
{
	min_level = level;
}

enum log_level log_get_level(void)
{
	return min_level;
}

int log_set_format(const char *name)
{
	if (!strcmp(name, "logfmt"))
		json_format = 0;
	else if (!strcmp(name, "json"))
		json_format = 1;
	else
		return -1;
	return 0;
}

void log_set_context(const char *cmd, const char *run_id)
{
	snprintf(ctx_cmd, sizeof(ctx_cmd), "%s", cmd ? cmd : "chipctl");
	snprintf(ctx_run, sizeof(ctx_run), "%s", run_id ? run_id : "");
}

void log_add_secret(const char *secret)
{
	int i;

	if (!secret || strlen(secret) < 4 || nsecrets == MAX_SECRETS)
		return;
	for (i = 0; i < nsecrets; i++)
		if (!strcmp(secrets[i], secret))
			return;
	secrets[nsecrets++] = xstrdup(secret);
}

void log_clear_secrets(void)
{
	while (nsecrets > 0)
		free(secrets[--nsecrets]);
}

/* Replace every occurrence of each registered secret, longest first so a
 * secret that contains another is removed whole. */
static void scrub_secrets(struct strbuf *sb)
{
	int order[MAX_SECRETS] = { 0 }, i, j;

	for (i = 0; i < nsecrets; i++)
		order[i] = i;
	for (i = 1; i < nsecrets; i++)
		for (j = i; j > 0 && strlen(secrets[order[j]]) >
				     strlen(secrets[order[j - 1]]); j--) {
			int t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (i = 0; i < nsecrets; i++) {
		const char *s = secrets[order[i]];
		size_t slen = strlen(s);
		struct strbuf out = STRBUF_INIT;
		const char *p = sb_str(sb), *hit;
		int found = 0;

		while ((hit = strstr(p, s))) {
			sb_addn(&out, p, (size_t)(hit - p));
			sb_add(&out, "[REDACTED]");
			p = hit + slen;
			found = 1;
		}
		if (found) {
			sb_add(&out, p);
			sb_free(sb);
			*sb = out;
		} else {
			sb_free(&out);
		}
	}
}

/* scheme://user:PASSWORD@host → scheme://user:[REDACTED]@host, and
 * hooks.slack.com/services/T/B/X → hooks.slack.com/services/[REDACTED]. */
static void scrub_patterns(struct strbuf *sb)
{
	struct strbuf out = STRBUF_INIT;
	const char *p = sb_str(sb);

	while (*p) {
		const char *sep = strstr(p, "://");
		const char *slack = strstr(p, "/services/");
		const char *next = sep;

		if (slack && (!next || slack < next)) {
			const char *end = slack + strlen("/services/");
			sb_addn(&out, p, (size_t)(end - p));
			if (*end && !strchr(" \"'\\", *end))
				sb_add(&out, "[REDACTED]");
			while (*end && !strchr(" \"'\\,}", *end))
				end++;
			p = end;
			continue;
		}
		if (!next) {
			sb_add(&out, p);
			break;
		}
		{
			const char *auth = next + 3, *q = auth, *colon = NULL;
			while (*q && !strchr("/@ \"'?#", *q)) {
				if (*q == ':' && !colon)
					colon = q;
				q++;
			}
			if (*q == '@' && colon) {
				sb_addn(&out, p, (size_t)(colon + 1 - p));
				sb_add(&out, "[REDACTED]");
				p = q;
			} else {
				sb_addn(&out, p, (size_t)(auth - p));
				p = auth;
			}
		}
	}
	sb_free(sb);
	*sb = out;
}

/* libpq conninfo strings spell the password as password=... */
static void scrub_conninfo(struct strbuf *sb)
{
	struct strbuf out = STRBUF_INIT;
	const char *p = sb_str(sb), *hit;

	while ((hit = strstr(p, "password="))) {
		const char *v = hit + strlen("password=");
		sb_addn(&out, p, (size_t)(v - p));
		sb_add(&out, "[REDACTED]");
		if (*v == '\'') {
			v++;
			while (*v && *v != '\'')
				v += (*v == '\\' && v[1]) ? 2 : 1;
			if (*v)
				v++;
		} else {
			while (*v && !strchr(" &\"", *v))
				v++;
		}
		p = v;
	}
	sb_add(&out, p);
	sb_free(sb);
	*sb = out;
}

static void scrub(struct strbuf *sb)
{
	scrub_secrets(sb);
	scrub_patterns(sb);
	scrub_conninfo(sb);
}

void redact(const char *in, char *out, size_t outsz)
{
	struct strbuf sb = STRBUF_INIT;

	if (!outsz)
		return;
	sb_add(&sb, in ? in : "");
	scrub(&sb);
	snprintf(out, outsz, "%s", sb_str(&sb));
	sb_free(&sb);
}

/* Format one "%..." conversion with its argument. Returns 1 when the value
 * is numeric (so JSON output can emit a number), 0 for text, -1 for a spec
 * this module does not support. */
static int format_one(struct strbuf *val, const char *conv, va_list *ap)
{
	char spec[32];
	const char *p = conv + 1;
	int lng = 0, size = 0;
	size_t n;

	while (*p && strchr("-+ #0123456789.", *p))
		p++;
	if (*p == 'l') {
		lng++;
		p++;
		if (*p == 'l') {
			lng++;
			p++;
		}
	} else if (*p == 'z') {
		size = 1;
		p++;
	}
	n = (size_t)(p - conv) + 1;
	if (n >= sizeof(spec))
		return -1;
	memcpy(spec, conv, n);
	spec[n] = '\0';
	switch (*p) {
	case 'd':
	case 'i':
		if (size)
			sb_addf(val, spec, va_arg(*ap, long));
		else if (lng == 2)
			sb_addf(val, spec, va_arg(*ap, long long));
		else if (lng == 1)
			sb_addf(val, spec, va_arg(*ap, long));
		else
			sb_addf(val, spec, va_arg(*ap, int));
		return 1;
	case 'u':
	case 'x':
		if (size)
			sb_addf(val, spec, va_arg(*ap, size_t));
		else if (lng == 2)
			sb_addf(val, spec, va_arg(*ap, unsigned long long));
		else if (lng == 1)
			sb_addf(val, spec, va_arg(*ap, unsigned long));
		else
			sb_addf(val, spec, va_arg(*ap, unsigned));
		return *p == 'u';
	case 'f':
	case 'g':
	case 'e':
		sb_addf(val, spec, va_arg(*ap, double));
		return 1;
	case 'c':
		sb_addf(val, spec, va_arg(*ap, int));
		return 0;
	case 's': {
		const char *s = va_arg(*ap, const char *);
		sb_addf(val, spec, s ? s : "");
		return 0;
	}
	}
	return -1;
}

static void logfmt_value(struct strbuf *sb, const char *v)
{
	const char *p;
	int quote = (*v == '\0');

	for (p = v; *p && !quote; p++)
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '=' ||
		    *p == '\\' || *p == 0x7f)
			quote = 1;
	if (!quote) {
		sb_add(sb, v);
		return;
	}
	sb_addc(sb, '"');
	for (p = v; *p; p++) {
		switch (*p) {
		case '"':  sb_add(sb, "\\\""); break;
		case '\\': sb_add(sb, "\\\\"); break;
		case '\n': sb_add(sb, "\\n"); break;
		case '\r': sb_add(sb, "\\r"); break;
		case '\t': sb_add(sb, "\\t"); break;
		default:
			/* no control byte reaches a terminal raw */
			if ((unsigned char)*p < ' ' || *p == 0x7f)
				sb_addf(sb, "\\x%02x", (unsigned char)*p);
			else
				sb_addc(sb, *p);
		}
	}
	sb_addc(sb, '"');
}

static void timestamp(char *buf, size_t n)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000));
}

void log_msg(enum log_level level, const char *msg, ...)
{
	struct strbuf line = STRBUF_INIT;
	json_object *obj = NULL;
	const char *spec;
	char ts[40];
	va_list ap;

	if (level < min_level || level >= LOG_QUIET)
		return;
	timestamp(ts, sizeof(ts));
	if (json_format) {
		obj = json_object_new_object();
		json_object_object_add(obj, "ts", json_object_new_string(ts));
		json_object_object_add(obj, "level",
				       json_object_new_string(level_names[level]));
		json_object_object_add(obj, "cmd", json_object_new_string(ctx_cmd));
		if (*ctx_run)
			json_object_object_add(obj, "run",
					       json_object_new_string(ctx_run));
		json_object_object_add(obj, "msg", json_object_new_string(msg));
	} else {
		sb_addf(&line, "ts=%s level=%s cmd=%s", ts, level_names[level],
			ctx_cmd);
		if (*ctx_run)
			sb_addf(&line, " run=%s", ctx_run);
		sb_add(&line, " msg=");
		logfmt_value(&line, msg);
	}

	va_start(ap, msg);
	while ((spec = va_arg(ap, const char *))) {
		const char *eq = strchr(spec, '=');
		struct strbuf key = STRBUF_INIT, val = STRBUF_INIT;
		int numeric;

		if (!eq || eq[1] != '%') /* a caller bug: stop, do not guess */
			break;
		sb_addn(&key, spec, (size_t)(eq - spec));
		numeric = format_one(&val, eq + 1, &ap);
		if (numeric < 0) {
			sb_free(&key);
			sb_free(&val);
			break;
		}
		if (obj) {
			json_object *jv = NULL;
			if (numeric) {
				/* a number this process formatted (%d, %ld, %.1f):
				 * re-read as a JSON number, no outside text */
				char *end;
				double d = strtod(sb_str(&val), &end);
				if (*end == '\0' && val.len)
					jv = strchr(sb_str(&val), '.') ?
						json_object_new_double(d) :
						json_object_new_int64(strtoll(sb_str(&val), NULL, 10));
			}
			if (!jv)
				jv = json_object_new_string(sb_str(&val));
			json_object_object_add(obj, sb_str(&key), jv);
		} else {
			sb_addc(&line, ' ');
			sb_add(&line, sb_str(&key));
			sb_addc(&line, '=');
			logfmt_value(&line, sb_str(&val));
		}
		sb_free(&key);
		sb_free(&val);
	}
	va_end(ap);

	if (obj) {
		sb_add(&line, json_object_to_json_string_ext(obj,
				JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(obj);
	}
	scrub(&line);
	sb_addc(&line, '\n');
	fwrite(line.buf, 1, line.len, stderr);
	fflush(stderr);
	sb_free(&line);
}
