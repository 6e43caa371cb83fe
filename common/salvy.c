#include "salvy.h"
#include "config.h"
#include "http.h"
#include "strbuf.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int salvy_configured(const struct config *cfg)
{
	return cfg->salvy_api_key && *cfg->salvy_api_key && cfg->salvy_url &&
	       *cfg->salvy_url;
}

/* One Salvy request; the parsed JSON object of a 2xx goes to *out. */
static enum salvy_rc call(const struct config *cfg, const char *method,
			  const char *path, struct json_object *body,
			  struct json_object **out, char *err, size_t errsz)
{
	struct http_client *c = http_client_new(cfg->evolution_connect_timeout_ms,
						cfg->salvy_timeout_ms,
						(size_t)cfg->http_max_response_bytes);
	struct http_response resp;
	struct strbuf url = STRBUF_INIT, auth = STRBUF_INIT;
	const char *headers[3];
	struct json_object *root = NULL, *v;
	enum salvy_rc rc;

	if (out)
		*out = NULL;
	if (!c) {
		snprintf(err, errsz, "cannot create an HTTP client");
		return SALVY_TEMP;
	}
	sb_addf(&url, "%s%s", cfg->salvy_url, path);
	sb_addf(&auth, "Authorization: Bearer %s", cfg->salvy_api_key);
	headers[0] = sb_str(&auth);
	headers[1] = "Content-Type: application/json";
	headers[2] = NULL;
	http_request(c, method, sb_str(&url), headers,
		     body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN)
			  : NULL, &resp);
	root = json_tokener_parse(resp.body);
	if (resp.cls == HTTP_OK) {
		rc = SALVY_OK;
		if (!root || !json_object_is_type(root, json_type_object)) {
			snprintf(err, errsz, "Salvy %s %s: answer is not a JSON object",
				 method, path);
			rc = SALVY_TEMP;
		}
	} else {
		const char *code = "", *msg = "";
		if (root && json_object_is_type(root, json_type_object)) {
			if (json_object_object_get_ex(root, "code", &v) &&
			    json_object_is_type(v, json_type_string))
				code = json_object_get_string(v);
			if (json_object_object_get_ex(root, "message", &v) &&
			    json_object_is_type(v, json_type_string))
				msg = json_object_get_string(v);
		}
		if (resp.status)
			snprintf(err, errsz, "Salvy %s: HTTP %ld%s%s%s%s", method,
				 resp.status, *code ? " " : "", code, *msg ? ": " : "", msg);
		else
			snprintf(err, errsz, "Salvy %s: %s", method, resp.error);
		rc = resp.status == 401 ? SALVY_AUTH :
		     resp.cls == HTTP_4XX ? SALVY_REJECTED : SALVY_TEMP;
	}
	if (rc == SALVY_OK && out) {
		*out = root;
		root = NULL;
	}
	json_object_put(root);
	http_response_free(&resp);
	http_client_free(c);
	sb_free(&url);
	sb_free(&auth);
	return rc;
}

enum salvy_rc salvy_create_number(const struct config *cfg, int area_code,
				  const char *name, struct salvy_account *out,
				  char *err, size_t errsz)
{
	struct json_object *body = json_object_new_object(), *root, *v;
	enum salvy_rc rc;
	const char *p;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	json_object_object_add(body, "areaCode", json_object_new_int(area_code));
	json_object_object_add(body, "name", json_object_new_string(name));
	rc = call(cfg, "POST", "/api/v2/virtual-phone-accounts", body, &root, err, errsz);
	json_object_put(body);
	if (rc != SALVY_OK)
		return rc;
	if (json_object_object_get_ex(root, "id", &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(out->id, sizeof(out->id), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(root, "phoneNumber", &v) &&
	    json_object_is_type(v, json_type_string))
		for (p = json_object_get_string(v); *p && n + 1 < sizeof(out->phone); p++)
			if (*p >= '0' && *p <= '9')
				out->phone[n++] = *p;
	out->phone[n] = '\0';
	json_object_put(root);
	if (!out->id[0] || n < 10) {
		snprintf(err, errsz, "Salvy POST: answer without an id or a phone number");
		return SALVY_TEMP;
	}
	return SALVY_OK;
}

enum salvy_rc salvy_cancel_number(const struct config *cfg, const char *id,
				  const char *reason, char *err, size_t errsz)
{
	struct json_object *body = json_object_new_object();
	struct strbuf path = STRBUF_INIT;
	char *esc = http_path_escape(id);
	enum salvy_rc rc;

	json_object_object_add(body, "reason", json_object_new_string(reason));
	sb_addf(&path, "/api/v2/virtual-phone-accounts/%s", esc);
	rc = call(cfg, "DELETE", sb_str(&path), body, NULL, err, errsz);
	json_object_put(body);
	sb_free(&path);
	free(esc);
	return rc;
}

