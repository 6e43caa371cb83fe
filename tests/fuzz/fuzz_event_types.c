/*
 * libFuzzer target: a valid webhook event with one field replaced by any
 * JSON value. The first byte picks the event and field, the rest is the
 * value. Whenever the value is of the wrong type for the field (a string
 * for a boolean, a fraction or a number past its range for an integer, a
 * string with a NUL inside or not UTF-8), or a time out of range, the
 * event must be malformed: event_parse returns -1 and nothing is applied.
 * The judge below is written apart from common/jsonget.c on purpose.
 */
#include "events.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1796400000LL	/* 2026-12-04 */

enum kind { BOOL, STR, TIME_S, TIME_MS, REASON };

static const struct {
	enum kind kind;
	const char *line;	/* '$' is the value */
} cases[] = {
	{ BOOL, "{\"event\":\"messages.upsert\",\"instance\":\"chip01\",\"data\":{\"key\":{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"fromMe\":$,\"id\":\"T1\"}}}" },
	{ STR, "{\"event\":\"messages.upsert\",\"instance\":$,\"data\":{\"key\":{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"id\":\"T1\"}}}" },
	{ STR, "{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{\"key\":{\"remoteJid\":$,\"id\":\"T1\"}}}" },
	{ STR, "{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{\"key\":{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"id\":$}}}" },
	{ STR, "{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{\"key\":{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"id\":\"T1\"},\"messageType\":$}}" },
	{ TIME_S, "{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{\"key\":{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"id\":\"T1\"},\"messageTimestamp\":$}}" },
	{ BOOL, "{\"event\":\"messages.update\",\"instance\":\"c\",\"data\":{\"keyId\":\"K1\",\"fromMe\":$,\"status\":\"READ\"}}" },
	{ STR, "{\"event\":\"messages.update\",\"instance\":\"c\",\"data\":{\"keyId\":$,\"fromMe\":true,\"status\":\"READ\"}}" },
	{ STR, "{\"event\":\"messages.update\",\"instance\":\"c\",\"data\":{\"keyId\":\"K1\",\"fromMe\":true,\"status\":$}}" },
	{ REASON, "{\"event\":\"connection.update\",\"instance\":\"c\",\"data\":{\"state\":\"close\",\"statusReason\":$}}" },
	{ STR, "{\"event\":\"connection.update\",\"instance\":\"c\",\"data\":{\"state\":$,\"statusReason\":401}}" },
	{ BOOL, "{\"type\":\"ReceivedCallback\",\"instanceId\":\"Z1\",\"messageId\":\"M9\",\"phone\":\"5511999990002\",\"fromMe\":$}" },
	{ BOOL, "{\"type\":\"ReceivedCallback\",\"instanceId\":\"Z1\",\"messageId\":\"M9\",\"phone\":\"5511999990002\",\"isGroup\":$}" },
	{ STR, "{\"type\":\"ReceivedCallback\",\"instanceId\":$,\"messageId\":\"M9\",\"phone\":\"5511999990002\"}" },
	{ STR, "{\"type\":\"ReceivedCallback\",\"instanceId\":\"Z1\",\"messageId\":\"M9\",\"phone\":$}" },
	{ TIME_MS, "{\"type\":\"ReceivedCallback\",\"instanceId\":\"Z1\",\"messageId\":\"M9\",\"phone\":\"5511999990002\",\"momment\":$}" },
	{ TIME_MS, "{\"type\":\"DisconnectedCallback\",\"instanceId\":\"Z1\",\"momment\":$}" },
	{ STR, "{\"type\":\"MessageStatusCallback\",\"instanceId\":\"Z1\",\"status\":\"READ\",\"ids\":[\"A1\",$]}" },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* Well-formed UTF-8 (RFC 3629), no NUL: an oracle apart from validate.c. */
static int utf8_ok(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i], len, k;
		unsigned long cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
		if (!len || i + len > n)
			return 0;
		cp = c & (0x7fu >> len);
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/* Seconds from a time value, or -1 when it is no whole number in range. */
static long long seconds(json_object *v, int ms)
{
	long long s;

	if (json_object_is_type(v, json_type_int)) {
		int64_t n = json_object_get_int64(v);
		if (n < 0 || n > 99999999999999LL)
			return -1;
		s = n;
	} else if (json_object_is_type(v, json_type_string)) {
		const char *t = json_object_get_string(v);
		char *end;
		unsigned long long u;
		size_t i, len = (size_t)json_object_get_string_len(v);

		if (!len || strlen(t) != len)
			return -1;
		for (i = 0; i < len; i++)
			if (t[i] < '0' || t[i] > '9')
				return -1;
		errno = 0;
		u = strtoull(t, &end, 10);
		if (errno || u > 99999999999999ULL)
			return -1;
		s = (long long)u;
	} else {
		return -1;
	}
	if (ms && s >= 100000000000LL)
		s /= 1000;
	return s;
}

/* 1 when v cannot be read as a field of this kind. */
static int wrong(enum kind kind, json_object *v)
{
	long long s;

	switch (kind) {
	case BOOL:
		return !json_object_is_type(v, json_type_boolean);
	case STR:
		return !json_object_is_type(v, json_type_string) ||
			!utf8_ok((const unsigned char *)json_object_get_string(v),
				 (size_t)json_object_get_string_len(v));
	case REASON:
		return !json_object_is_type(v, json_type_int) ||
			json_object_get_int64(v) < 0 || json_object_get_int64(v) > 999;
	case TIME_S:
	case TIME_MS:
		s = seconds(v, kind == TIME_MS);
		return s < 1230768000LL || s > NOW + 86400;
	}
	return 0;
}

/* The one JSON value in s (len bytes), or NULL: parsed inside [ ] so that
 * a bare number ends, and so that "1,2" or "true}" are not one value. */
static json_object *one_value(const char *s, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *arr, *v = NULL;
	char *buf = malloc(len + 2);

	buf[0] = '[';
	memcpy(buf + 1, s, len);
	buf[len + 1] = ']';
	arr = json_tokener_parse_ex(tok, buf, (int)len + 2);
	if (arr && json_tokener_get_parse_end(tok) == len + 2 &&
	    json_object_is_type(arr, json_type_array) && json_object_array_length(arr) == 1 &&
	    (v = json_object_array_get_idx(arr, 0)))
		json_object_get(v);
	json_object_put(arr);
	json_tokener_free(tok);
	free(buf);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct webhook_event ev;
	json_object *v;
	char err[256], *line;
	const char *at, *tmpl;
	size_t c, before;
	int rc;

	if (size < 2 || size > 4096)
		return 0;
	c = data[0] % NCASES;
	if (!(v = one_value((const char *)data + 1, size - 1)))
		return 0;	/* not one JSON value, or null: nothing to judge */
	tmpl = cases[c].line;
	at = strchr(tmpl, '$');
	before = (size_t)(at - tmpl);
	line = malloc(strlen(tmpl) + size);
	memcpy(line, tmpl, before);
	memcpy(line + before, data + 1, size - 1);
	memcpy(line + before + size - 1, at + 1, strlen(at + 1) + 1);
	rc = event_parse(line, strlen(tmpl) - 1 + size - 1, NOW, &ev, err, sizeof(err));
	if (wrong(cases[c].kind, v) && (rc != -1 || ev.kind != EV_IGNORED)) {
		fprintf(stderr, "accepted a wrong %d: %s\n", cases[c].kind, line);
		abort();
	}
	json_object_put(v);
	free(line);
	return 0;
}
