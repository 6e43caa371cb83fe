/*
 * provider_fault: the one home of "whose fault" (provider.h): what a
 * provider's error answer means, which side it is (a fault is the chip's
 * only if another chip would not get the same answer), why, and its text
 * scrubbed of secrets before anyone stores or alerts it.
 */
#include "provider.h"
#include "jsonget.h"
#include "log.h"
#include "strbuf.h"
#include "validate.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *wa_meaning_name(enum wa_meaning m)
{
	switch (m) {
	case WA_NONE:              return "none";
	case WA_NOT_ON_WHATSAPP:   return "not_on_whatsapp";
	case WA_RATE_LIMIT:        return "rate_limit";
	case WA_CONNECTION_CLOSED: return "connection_closed";
	case WA_UNAUTHORIZED:      return "unauthorized";
	case WA_AUTH_GUARD:        return "auth_guard";
	case WA_RESTRICTED:        return "restricted";
	case WA_CLIENT_NOT_STARTED: return "client_not_started";
	case WA_ACCOUNT_TOKEN:     return "account_token";
	case WA_NO_ROUTE:          return "no_route";
	case WA_SCHEMA:            return "schema";
	case WA_BAD_CONTENT:       return "bad_content";
	case WA_INSTANCE_GONE:     return "instance_gone";
	}
	return "?";
}

json_object *provider_json(const char *body)
{
	json_tokener *tok = json_tokener_new_ex(16);
	json_object *o;

	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, body, (int)strlen(body));
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* Walk response.message: strings are appended, objects inspected for
 * exists:false, arrays descended (depth-bounded by the tokener). The
 * provider's words are only shown and stored: a NUL or bytes that are not
 * UTF-8 are escaped (jval_text), never a cut text or a failed statement. */
static void flatten(json_object *m, struct strbuf *sb, int *not_on_wa)
{
	char text[512];
	size_t i, n;

	switch (json_object_get_type(m)) {
	case json_type_string:
		if (sb->len)
			sb_add(sb, "; ");
		jval_text(m, text, sizeof(text));
		sb_add(sb, text);
		break;
	case json_type_array:
		n = json_object_array_length(m);
		for (i = 0; i < n; i++)
			flatten(json_object_array_get_idx(m, i), sb, not_on_wa);
		break;
	case json_type_object: {
		int exists = 1;

		if (jget_bool(m, "exists", &exists) == JG_OK && !exists) {
			*not_on_wa = 1;
			if (sb->len)
				sb_add(sb, "; ");
			sb_add(sb, "not on WhatsApp: ");
			sb_add(sb, jget_text(m, "number", text, sizeof(text)) == JG_OK ? text : "?");
		}
		break;
	}
	default:
		break;
	}
}

int evolution_message_text(const char *body, char *buf, size_t bufsz)
{
	struct strbuf sb = STRBUF_INIT;
	json_object *root = provider_json(body), *resp, *msg;
	char text[512];
	int not_on_wa = 0, rc;

	if (root && json_object_is_type(root, json_type_object) &&
	    json_object_object_get_ex(root, "response", &resp) &&
	    json_object_is_type(resp, json_type_object) &&
	    json_object_object_get_ex(resp, "message", &msg)) {
		flatten(msg, &sb, &not_on_wa);
		rc = not_on_wa;
	} else if (root && json_object_is_type(root, json_type_object) &&
		   jget_text(root, "error", text, sizeof(text)) == JG_OK) {
		sb_add(&sb, text);	/* Z-API shape */
		rc = 0;
	} else {
		sb_addf(&sb, "unreadable body (%zu bytes)", strlen(body));
		rc = -1;
	}
	json_object_put(root);
	/* cut at a whole character: the text is stored */
	snprintf(buf, bufsz, "%.*s", utf8_prefix(sb_str(&sb), bufsz ? bufsz - 1 : 0), sb_str(&sb));
	sb_free(&sb);
	return rc;
}

/*
 * What an error answer means. The order matters: the account's credentials
 * first (a Z-API "not allowed" may come with any status), then WhatsApp's
 * words about the chip, then the route and the body, which are the same
 * for every chip.
 */
enum wa_meaning evolution_error_meaning(const char *body, long status,
					char *buf, size_t bufsz)
{
	char text[256];
	int rc = evolution_message_text(body ? body : "", text, sizeof(text));
	enum wa_meaning m = WA_NONE;

	if (status == 401)
		m = WA_UNAUTHORIZED;
	else if (rc == 0 && strcasestr(text, "not allowed"))
		m = WA_ACCOUNT_TOKEN;	/* Z-API: {"error":"null not allowed"} */
	else if (status == 403 && strcasestr(text, "global api key"))
		m = WA_AUTH_GUARD;	/* auth.guard.ts: the server has no key set */
	else if (status == 403)
		m = WA_RESTRICTED;
	else if (rc == 1 && status == 400)
		m = WA_NOT_ON_WHATSAPP;
	else if (strstr(text, "rate-overlimit"))
		m = WA_RATE_LIMIT;
	else if ((status == 404 && strstr(text, "instance does not exist")) ||
		 (status < 500 && strstr(text, "Instance not found")))
		m = WA_INSTANCE_GONE;	/* Z-API: this chip's id and token pair */
	else if ((status == 404 && (rc < 0 || strstr(text, "Cannot POST") ||
				    strstr(text, "Cannot GET"))) ||
		 status == 405 || status == 415)
		m = WA_NO_ROUTE;	/* main.ts's handler for a route it lacks, or not Evolution */
	else if (status == 400 && (strstr(text, "Text is required") ||
				   strstr(text, "Invalid format")))
		m = WA_BAD_CONTENT;
	else if (status == 400 && (strstr(text, "requires property") ||
				   strstr(text, "is not of a type") ||
				   strstr(text, "in JSON at position")))
		m = WA_SCHEMA;		/* a v1 server given a v2 body, or the reverse */
	else if (status >= 500 && strstr(text, "Connection Closed"))
		m = WA_CONNECTION_CLOSED;
	else if (status >= 500 && strstr(text, "Cannot read properties"))
		m = WA_CLIENT_NOT_STARTED;
	snprintf(buf, bufsz, "HTTP %ld: %s", status, text);
	return m;
}

int provider_refused_key(const struct send_result *r)
{
	return r->fault == FAULT_CONFIG;
}

int provider_chip_disconnected(const struct send_result *r)
{
	return r->meaning == WA_CONNECTION_CLOSED || r->meaning == WA_CLIENT_NOT_STARTED ||
	       r->meaning == WA_INSTANCE_GONE;
}

/* The side of each meaning, and why: would another chip get the same? */
static const struct {
	enum wa_meaning m;
	enum fault f;
	const char *why;
} sides[] = {
	{ WA_NOT_ON_WHATSAPP, FAULT_RECIPIENT, "the recipient is not on WhatsApp" },
	{ WA_RATE_LIMIT, FAULT_CHIP, "WhatsApp throttles this chip (rate-overlimit)" },
	{ WA_CONNECTION_CLOSED, FAULT_CHIP, "this chip's WhatsApp session is closed" },
	{ WA_UNAUTHORIZED, FAULT_CONFIG,
	  "the provider refused chipctl's API key: every chip gets the same answer" },
	{ WA_AUTH_GUARD, FAULT_CONFIG,
	  "Evolution's auth guard: the server has no global API key set" },
	{ WA_RESTRICTED, FAULT_CHIP, "WhatsApp restricted this chip (403)" },
	{ WA_CLIENT_NOT_STARTED, FAULT_CHIP, "this chip's instance was never started" },
	{ WA_ACCOUNT_TOKEN, FAULT_CONFIG,
	  "Z-API refused the account's Client-Token (zapi.client_token)" },
	{ WA_NO_ROUTE, FAULT_CONFIG,
	  "no such route on the server: a wrong evolution.url or zapi.url" },
	{ WA_SCHEMA, FAULT_CONFIG,
	  "the server's schema refuses chipctl's request: an API version mismatch" },
	{ WA_BAD_CONTENT, FAULT_MESSAGE,
	  "the server refuses the message's content: no chip can send it" },
	{ WA_INSTANCE_GONE, FAULT_CHIP, "this chip's instance does not exist on the server" },
};

static enum fault side_of(const struct send_result *r, const char **why)
{
	size_t i;

	switch (r->cls) {
	case HTTP_OK:
		*why = "";
		return FAULT_NONE;
	case HTTP_TIMEOUT:
		*why = "no answer in time: the chip's if it repeats on this chip alone, "
		       "the provider's if timeouts span several chips";
		return FAULT_PROVIDER;
	case HTTP_NETWORK:
		*why = "the provider could not be reached: every chip gets the same";
		return FAULT_PROVIDER;
	case HTTP_4XX:
	case HTTP_5XX:
		break;
	}
	for (i = 0; i < sizeof(sides) / sizeof(sides[0]); i++)
		if (sides[i].m == r->meaning) {
			*why = sides[i].why;
			return sides[i].f;
		}
	if (r->cls == HTTP_4XX) {
		*why = "refused for this chip only (a WhatsApp error on its session)";
		return FAULT_CHIP;
	}
	*why = "the provider's server failed: every chip gets the same";
	return FAULT_PROVIDER;
}

enum fault provider_fault(const struct send_result *r)
{
	const char *why;

	return side_of(r, &why);
}

const char *fault_name(enum fault f)
{
	switch (f) {
	case FAULT_NONE:      return NULL;
	case FAULT_CHIP:      return "chip";
	case FAULT_PROVIDER:  return "provider";
	case FAULT_CONFIG:    return "configuration";
	case FAULT_MESSAGE:   return "message";
	case FAULT_RECIPIENT: return "recipient";
	}
	return NULL;
}

const char *fault_outcome(enum fault f)
{
	return f == FAULT_RECIPIENT ? "FAILED_INVALID_NUMBER" :
	       f == FAULT_MESSAGE ? "FAILED_INVALID_MESSAGE" : NULL;
}

const char *fault_reason_code(enum fault f)
{
	return f == FAULT_RECIPIENT ? "NOT_ON_WHATSAPP" :
	       f == FAULT_MESSAGE ? "INVALID_MESSAGE" : NULL;
}

/* Replace every occurrence of secret in buf by [REDACTED]. */
static void scrub_literal(char *buf, size_t bufsz, const char *secret)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p = buf, *hit;
	size_t n;

	if (!secret || (n = strlen(secret)) < 4 || !strstr(buf, secret))
		return;
	while ((hit = strstr(p, secret))) {
		sb_addn(&sb, p, (size_t)(hit - p));
		sb_add(&sb, "[REDACTED]");
		p = hit + n;
	}
	sb_add(&sb, p);
	snprintf(buf, bufsz, "%s", sb_str(&sb));
	sb_free(&sb);
}

void provider_classify(enum http_class cls, long status, const char *body,
		       const char *transport_error, const char *secret,
		       struct send_result *res)
{
	char raw[sizeof(res->error)];

	res->cls = cls;
	res->status = status;
	res->meaning = WA_NONE;
	if (cls == HTTP_4XX || cls == HTTP_5XX) {
		res->meaning = evolution_error_meaning(body, status, raw, sizeof(raw));
		if (status == 429 && res->meaning == WA_NONE)
			res->meaning = WA_RATE_LIMIT;
	} else {
		snprintf(raw, sizeof(raw), "%s", transport_error ? transport_error : "");
	}
	res->fault = side_of(res, &res->why);
	res->uncertain = cls == HTTP_TIMEOUT;
	/* Provider text is stored and alerted: the same scrubber as the logs,
	 * and the chip's own token, which is no configured setting; then text
	 * PostgreSQL takes, whatever a cut above left at the end. */
	redact(raw, res->error, sizeof(res->error));
	scrub_literal(res->error, sizeof(res->error), secret);
	utf8_scrub(res->error, strlen(res->error), raw, sizeof(raw));
	memcpy(res->error, raw, sizeof(res->error));
}
