#include "zapi.h"
#include "config.h"
#include "http.h"
#include "jsonget.h"
#include "strbuf.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *zapi_rc_name(enum zapi_rc rc)
{
	switch (rc) {
	case ZAPI_OK:       return "ok";
	case ZAPI_TEMP:     return "temporary";
	case ZAPI_AUTH:     return "unauthorized";
	case ZAPI_MISSING:  return "missing";
	case ZAPI_REJECTED: return "rejected";
	}
	return "unknown";
}

/* The whole body as a JSON object, or NULL. */
static json_object *parse_object(const char *body, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o = json_tokener_parse_ex(tok, body, (int)len);

	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  strspn(body + json_tokener_get_parse_end(tok), " \t\r\n") !=
		  len - json_tokener_get_parse_end(tok) ||
		  !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* Z-API's {"error": "..."}, at most n - 1 bytes of it: only logged and
 * stored, so a NUL or bytes that are not UTF-8 are escaped, not refused. */
static void error_text(json_object *o, char *buf, size_t n)
{
	jget_text(o, "error", buf, n);
}

enum zapi_rc zapi_status(struct http_client *http, const struct config *cfg,
			 const char *instance_id, const char *token, int *connected,
			 char *err, size_t errsz)
{
	struct strbuf url = STRBUF_INIT, auth = STRBUF_INIT;
	char *id = http_path_escape(instance_id ? instance_id : "");
	char *tok = http_path_escape(token ? token : "");
	const char *headers[2];
	struct http_response r;
	json_object *root;
	char msg[128];
	enum zapi_rc rc;

	*connected = 0;
	sb_addf(&url, "%s/instances/%s/token/%s/status", cfg->zapi_url, id, tok);
	sb_addf(&auth, "Client-Token: %s", cfg->zapi_client_token ? cfg->zapi_client_token : "");
	free(id);
	free(tok);
	headers[0] = sb_str(&auth);
	headers[1] = NULL;
	http_client_set_timeout(http, cfg->zapi_timeout_ms);
	http_request(http, "GET", sb_str(&url), headers, NULL, &r);
	sb_free(&url);
	sb_free(&auth);
	root = parse_object(r.body, r.len);
	error_text(root, msg, sizeof(msg));
	if (r.cls == HTTP_OK) {
		/* a boolean, never the string "true" or a number: anything else is
		 * a malformed answer, and the chip is left as it was */
		if (root && jget_bool(root, "connected", connected) == JG_OK) {
			rc = ZAPI_OK;
		} else {
			snprintf(err, errsz, "Z-API status '%s': malformed answer (HTTP %ld, "
				 "%zu bytes): connected %s", instance_id, r.status, r.len,
				 root ? jget_why(root, "connected", json_type_boolean) :
				 "absent: not a JSON object");
			rc = ZAPI_TEMP;
		}
	} else if (r.cls == HTTP_4XX) {
		snprintf(err, errsz, "Z-API status '%s': HTTP %ld%s%s", instance_id, r.status,
			 msg[0] ? ": " : "", msg);
		if (strstr(msg, "Instance not found"))
			rc = ZAPI_MISSING;
		else if (r.status == 401 || r.status == 403 || strstr(msg, "not allowed"))
			rc = ZAPI_AUTH;
		else
			rc = ZAPI_REJECTED;
	} else {
		if (r.status)
			snprintf(err, errsz, "Z-API status '%s': HTTP %ld%s%s", instance_id,
				 r.status, msg[0] ? ": " : "", msg);
		else
			snprintf(err, errsz, "Z-API status '%s': %s", instance_id, r.error);
		rc = ZAPI_TEMP;
	}
	json_object_put(root);
	http_response_free(&r);
	return rc;
}
