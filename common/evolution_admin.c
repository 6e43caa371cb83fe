#include "evolution_admin.h"
#include "provider.h"
#include "config.h"
#include "http.h"
#include "jsonget.h"
#include "strbuf.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *evo_rc_name(enum evo_rc rc)
{
	switch (rc) {
	case EVO_OK:       return "ok";
	case EVO_TEMP:     return "temporary";
	case EVO_AUTH:     return "unauthorized";
	case EVO_REJECTED: return "rejected";
	case EVO_EXISTS:   return "exists";
	}
	return "unknown";
}

void evo_error_text(const char *body, char *buf, size_t bufsz)
{
	/* The same envelope as sendText's errors: one parser for both. */
	if (evolution_message_text(body ? body : "", buf, bufsz) < 0)
		buf[0] = '\0';
}

/* Turn a finished request into a result code and a one-line reason. */
static enum evo_rc classify(const struct http_response *resp, const char *what,
			    char *err, size_t errsz)
{
	char msg[200];

	if (resp->cls == HTTP_OK)
		return EVO_OK;
	if (resp->status >= 400) {
		evo_error_text(resp->body, msg, sizeof(msg));
		snprintf(err, errsz, "%s: HTTP %ld%s%s", what, resp->status,
			 msg[0] ? ": " : "", msg);
	} else {
		snprintf(err, errsz, "%s: %s", what, resp->error);
	}
	if (resp->status == 401)
		return EVO_AUTH;
	if (resp->cls == HTTP_4XX)
		return EVO_REJECTED;
	return EVO_TEMP;
}

/* Parse a whole body as JSON of the wanted type; NULL with err filled. */
static struct json_object *parse_body(const char *body, size_t len,
				      enum json_type want, const char *what,
				      char *err, size_t errsz)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;
	enum json_tokener_error je;

	o = json_tokener_parse_ex(tok, body, (int)len);
	je = json_tokener_get_error(tok);
	if (!o || je != json_tokener_success) {
		snprintf(err, errsz, "%s: invalid JSON at offset %zu: %s", what,
			 json_tokener_get_parse_end(tok),
			 je == json_tokener_continue ? "unexpected end of input" :
			 json_tokener_error_desc(je));
		json_object_put(o);
		o = NULL;
	} else if (json_tokener_get_parse_end(tok) < len &&
		   strspn(body + json_tokener_get_parse_end(tok), " \t\r\n") !=
		   len - json_tokener_get_parse_end(tok)) {
		snprintf(err, errsz, "%s: trailing data after JSON at offset %zu",
			 what, json_tokener_get_parse_end(tok));
		json_object_put(o);
		o = NULL;
	} else if (!json_object_is_type(o, want)) {
		snprintf(err, errsz, "%s: expected a JSON %s, got %s", what,
			 json_type_to_name(want),
			 json_type_to_name(json_object_get_type(o)));
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* String member key of o into *out (NULL when absent or null). A value
 * that is there but no text (another type, a NUL inside, bytes that are
 * not UTF-8) makes the answer malformed: -1, with err naming the field
 * (what, then the member's path), and nothing of the answer is used. A
 * name cut at a NUL would be another chip's. */
static int get_str(struct json_object *o, const char *key, char **out,
		   const char *what, const char *path, char *err, size_t errsz)
{
	const char *s;

	*out = NULL;
	switch (jget_str(o, key, &s)) {
	case JG_ABSENT:
		return 0;
	case JG_OK:
		*out = xstrdup(s);
		return 0;
	case JG_WRONG:
		break;
	}
	snprintf(err, errsz, "%s: malformed answer: %s%s %s", what, path, key,
		 jget_why(o, key, json_type_string));
	return -1;
}

static struct http_client *client(const struct config *cfg, size_t max_body)
{
	return http_client_new(cfg->evolution_connect_timeout_ms,
			       cfg->evolution_timeout_ms, max_body);
}

static char *auth_header(const struct config *cfg)
{
	struct strbuf sb = STRBUF_INIT;

	sb_addf(&sb, "apikey: %s", cfg->evolution_api_key ? cfg->evolution_api_key : "");
	return sb_detach(&sb);
}

static void instance_free(struct evo_instance *d)
{
	free(d->name);
	free(d->state);
	free(d->owner_jid);
	free(d->profile_name);
	free(d->number);
	memset(d, 0, sizeof(*d));
}

/* Row i of fetchInstances: v2 is the Prisma Instance row; v1 wraps
 * {instanceName, status, owner, profileName} in "instance". Returns 0
 * taken, 1 skipped (no instance name), -1 malformed (err says where). */
static int take_row(struct json_object *row, size_t i, struct evo_instance *out,
		    char *err, size_t errsz)
{
	struct json_object *inner;
	char what[64];
	int bad;

	memset(out, 0, sizeof(*out));
	snprintf(what, sizeof(what), "fetchInstances: row %zu", i + 1);
	if (!json_object_is_type(row, json_type_object)) {
		snprintf(err, errsz, "%s: malformed answer: not an object", what);
		return -1;
	}
	if (jget_typed(row, "instance", json_type_object, &inner) == JG_OK)
		bad = get_str(inner, "instanceName", &out->name, what, "instance.", err, errsz) ||
		      get_str(inner, "status", &out->state, what, "instance.", err, errsz) ||
		      get_str(inner, "owner", &out->owner_jid, what, "instance.", err, errsz) ||
		      get_str(inner, "profileName", &out->profile_name, what, "instance.",
			      err, errsz);
	else
		bad = get_str(row, "name", &out->name, what, "", err, errsz) ||
		      get_str(row, "connectionStatus", &out->state, what, "", err, errsz) ||
		      get_str(row, "ownerJid", &out->owner_jid, what, "", err, errsz) ||
		      get_str(row, "profileName", &out->profile_name, what, "", err, errsz) ||
		      get_str(row, "number", &out->number, what, "", err, errsz);
	if (bad || !out->name) {
		instance_free(out);
		return bad ? -1 : 1;
	}
	if (!out->state)
		out->state = xstrdup("");
	return 0;
}

enum evo_rc evo_fetch_instances(const struct config *cfg,
				struct evo_instances *out, char *err, size_t errsz)
{
	struct http_client *c = client(cfg, (size_t)cfg->sync_max_response_bytes);
	struct http_response resp;
	struct strbuf url = STRBUF_INIT;
	char *hdr = auth_header(cfg);
	const char *headers[2] = { hdr, NULL };
	struct json_object *root;
	enum evo_rc rc;
	size_t i, n;

	memset(out, 0, sizeof(*out));
	if (!c) {
		snprintf(err, errsz, "cannot create an HTTP client");
		free(hdr);
		return EVO_TEMP;
	}
	sb_addf(&url, "%s/instance/fetchInstances", cfg->evolution_url);
	http_request(c, "GET", sb_str(&url), headers, NULL, &resp);
	rc = classify(&resp, "fetchInstances", err, errsz);
	if (rc == EVO_OK) {
		root = parse_body(resp.body, resp.len, json_type_array,
				  "fetchInstances", err, errsz);
		if (!root) {
			rc = EVO_TEMP;
		} else {
			n = json_object_array_length(root);
			out->v = xmalloc((n ? n : 1) * sizeof(*out->v));
			for (i = 0; rc == EVO_OK && i < n; i++) {
				int t = take_row(json_object_array_get_idx(root, i), i,
						 &out->v[out->n], err, errsz);
				if (t < 0) {	/* one bad field: none of it is believed */
					rc = EVO_TEMP;
					evo_instances_free(out);
				}
				out->n += t == 0;
			}
			if (rc == EVO_OK && n && !out->n) {
				snprintf(err, errsz, "fetchInstances: %zu rows, none "
					 "with an instance name", n);
				rc = EVO_TEMP;
				evo_instances_free(out);
			}
			json_object_put(root);
		}
	}
	http_response_free(&resp);
	http_client_free(c);
	sb_free(&url);
	free(hdr);
	return rc;
}

/* Read one finished connectionState answer into out->v[idx]. */
static enum evo_rc state_done(struct http_response *r, const char *name,
			      struct evo_instance *d, char *err, size_t errsz)
{
	struct json_object *root, *inst;
	char what[160];
	enum evo_rc rc;

	snprintf(what, sizeof(what), "connectionState '%s'", name);
	if (r->cls == HTTP_TIMEOUT || r->cls == HTTP_NETWORK) {
		snprintf(err, errsz, "%s: %s", what, r->error);
		return EVO_TEMP;
	}
	d->name = xstrdup(name);
	if (r->status == 404)	/* the instance does not exist: missing */
		return EVO_OK;
	if ((rc = classify(r, what, err, errsz)) != EVO_OK)
		return rc;
	root = parse_body(r->body, r->len, json_type_object, what, err, errsz);
	if (!root)
		return EVO_TEMP;
	if (!json_object_object_get_ex(root, "instance", &inst) ||
	    !json_object_is_type(inst, json_type_object)) {
		snprintf(err, errsz, "%s: no \"instance\" object", what);
		json_object_put(root);
		return EVO_TEMP;
	}
	rc = get_str(inst, "state", &d->state, what, "instance.", err, errsz) ? EVO_TEMP : EVO_OK;
	if (rc == EVO_OK && !d->state)	/* known but not loaded in memory */
		d->state = xstrdup("");
	json_object_put(root);
	return rc;
}

static void state_add(struct http_multi *m, const struct config *cfg,
		      const char *const *headers, const char *name, size_t idx)
{
	struct strbuf url = STRBUF_INIT;
	char *esc = http_path_escape(name);

	sb_addf(&url, "%s/instance/connectionState/%s", cfg->evolution_url, esc);
	free(esc);
	http_multi_add(m, "GET", sb_str(&url), headers, NULL,
		       (long)cfg->evolution_timeout_ms, (void *)idx);
	sb_free(&url);
}

enum evo_rc evo_connection_states(const struct config *cfg,
				  const char *const *names, size_t n,
				  int parallel, struct evo_instances *out,
				  char *err, size_t errsz)
{
	struct http_multi *m;
	char *hdr = auth_header(cfg);
	const char *headers[2] = { hdr, NULL };
	size_t next = 0;
	enum evo_rc rc = EVO_OK;

	memset(out, 0, sizeof(*out));
	out->v = xmalloc((n ? n : 1) * sizeof(*out->v));
	memset(out->v, 0, (n ? n : 1) * sizeof(*out->v));
	out->n = n;
	m = http_multi_new((long)cfg->evolution_connect_timeout_ms,
			   (size_t)cfg->http_max_response_bytes,
			   parallel > 0 ? parallel : 1, 0);
	if (!m) {
		snprintf(err, errsz, "cannot start HTTP requests");
		free(hdr);
		evo_instances_free(out);
		return EVO_TEMP;
	}
	/* Queue them all: the multi handle runs `parallel` at a time. */
	for (next = 0; next < n; next++)
		state_add(m, cfg, headers, names[next], next);
	while (rc == EVO_OK && http_multi_in_flight(m) > 0) {
		struct http_response r;
		void *tag;

		if (http_multi_wait(m, 200) < 0) {
			snprintf(err, errsz, "connectionState: HTTP transfer failed");
			rc = EVO_TEMP;
			break;
		}
		while (rc == EVO_OK && http_multi_next(m, &tag, &r)) {
			size_t idx = (size_t)tag;

			rc = state_done(&r, names[idx], &out->v[idx], err, errsz);
			http_response_free(&r);
		}
	}
	http_multi_free(m);	/* one failure fails the call: the rest are aborted */
	free(hdr);
	if (rc != EVO_OK)
		evo_instances_free(out);
	return rc;
}

enum evo_rc evo_create_instance(const struct config *cfg, const char *name,
				const char *number, char *err, size_t errsz)
{
	struct http_client *c = client(cfg, (size_t)cfg->http_max_response_bytes);
	struct http_response resp;
	struct strbuf url = STRBUF_INIT;
	char *hdr = auth_header(cfg);
	const char *headers[3] = { hdr, "Content-Type: application/json", NULL };
	struct json_object *body = json_object_new_object(), *root;
	enum evo_rc rc;

	if (!c) {
		snprintf(err, errsz, "cannot create an HTTP client");
		free(hdr);
		json_object_put(body);
		return EVO_TEMP;
	}
	json_object_object_add(body, "instanceName", json_object_new_string(name));
	if (number && *number)
		json_object_object_add(body, "number", json_object_new_string(number));
	json_object_object_add(body, "qrcode", json_object_new_boolean(1));
	json_object_object_add(body, "integration",
			       json_object_new_string("WHATSAPP-BAILEYS"));
	sb_addf(&url, "%s/instance/create", cfg->evolution_url);
	http_request(c, "POST", sb_str(&url), headers,
		     json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN), &resp);
	rc = classify(&resp, "instance/create", err, errsz);
	if (rc == EVO_REJECTED && resp.status == 403 && strstr(resp.body, "already in use"))
		rc = EVO_EXISTS;
	if (rc == EVO_OK) {
		root = parse_body(resp.body, resp.len, json_type_object,
				  "instance/create", err, errsz);
		if (!root)
			rc = EVO_TEMP;
		json_object_put(root);
	}
	http_response_free(&resp);
	http_client_free(c);
	sb_free(&url);
	free(hdr);
	json_object_put(body);
	return rc;
}

void evo_instances_free(struct evo_instances *l)
{
	size_t i;

	for (i = 0; l->v && i < l->n; i++)
		instance_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
