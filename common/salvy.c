#include "salvy.h"
#include "config.h"
#include "http.h"
#include "jsonget.h"
#include "strbuf.h"
#include "validate.h"

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
	struct json_object *root = NULL;
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
		/* Salvy's words are only logged and stored: escaped, not refused */
		char code[64], msg[200];

		jget_text(root, "code", code, sizeof(code));
		jget_text(root, "message", msg, sizeof(msg));
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

/* The new account's id and phone from a 2xx answer into out, typed: a
 * string of UTF-8 text without NUL that fits, and a phone number as
 * validate_phone takes it. NULL, or what is wrong with *field: the answer
 * is malformed, and no chip is made of it. */
static const char *bad_account(json_object *root, struct salvy_account *out,
			       const char **field)
{
	const char *id = NULL, *phone = NULL;

	*field = "id";
	if (jget_str(root, "id", &id) != JG_OK)
		return jget_why(root, "id", json_type_string);
	if (!*id)
		return "empty";
	if (strlen(id) >= sizeof(out->id))
		return "longer than 127 bytes";
	*field = "phoneNumber";
	if (jget_str(root, "phoneNumber", &phone) != JG_OK)
		return jget_why(root, "phoneNumber", json_type_string);
	if (validate_phone(phone, out->phone, sizeof(out->phone)))
		return "not a phone number of 10 to 15 digits";
	memcpy(out->id, id, strlen(id) + 1);
	return NULL;
}

enum salvy_rc salvy_create_number(const struct config *cfg, int area_code,
				  const char *name, struct salvy_account *out,
				  char *err, size_t errsz)
{
	struct json_object *body = json_object_new_object(), *root;
	const char *field, *why;
	enum salvy_rc rc;

	memset(out, 0, sizeof(*out));
	json_object_object_add(body, "areaCode", json_object_new_int(area_code));
	json_object_object_add(body, "name", json_object_new_string(name));
	rc = call(cfg, "POST", "/api/v2/virtual-phone-accounts", body, &root, err, errsz);
	json_object_put(body);
	if (rc != SALVY_OK)
		return rc;
	if ((why = bad_account(root, out, &field))) {
		snprintf(err, errsz, "Salvy POST: malformed answer: %s %s", field, why);
		memset(out, 0, sizeof(*out));
		rc = SALVY_TEMP;
	}
	json_object_put(root);
	return rc;
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

