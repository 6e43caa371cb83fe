#include "provider.h"
#include "config.h"
#include "jsonget.h"
#include "strbuf.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The id of the sent message: Evolution key.id, Z-API messageId; a string
 * of UTF-8 text without NUL (jsonget), else none: the message was still
 * accepted, and an id cut at a NUL would name another message. */
static int success_id(const char *provider, const char *body, char *out, size_t n)
{
	json_object *root = provider_json(body), *key, *id = NULL;
	const char *s;
	int ok = 0;

	if (root && json_object_is_type(root, json_type_object)) {
		if (!strcmp(provider, "zapi"))
			json_object_object_get_ex(root, "messageId", &id);
		else if (json_object_object_get_ex(root, "key", &key) &&
			 json_object_is_type(key, json_type_object))
			json_object_object_get_ex(key, "id", &id);
		if (id && jval_str(id, &s) == JG_OK && *s && strlen(s) < n) {
			snprintf(out, n, "%s", s);
			ok = 1;
		}
	}
	json_object_put(root);
	return ok;
}

int provider_typing_ms(const struct config *cfg, const char *text)
{
	long chars = 0, ms;
	const unsigned char *p;

	if (cfg->send_typing_ms_per_char <= 0)
		return 0;
	for (p = (const unsigned char *)text; *p; p++)
		chars += (*p & 0xC0) != 0x80;	/* characters, not bytes */
	ms = chars * cfg->send_typing_ms_per_char;
	if (ms < cfg->send_typing_min_ms)
		ms = cfg->send_typing_min_ms;
	if (ms > cfg->send_typing_max_ms)
		ms = cfg->send_typing_max_ms;
	return (int)ms;
}

void provider_call_build(const struct config *cfg, const struct send_request *req,
			 struct provider_call *call)
{
	struct strbuf url = STRBUF_INIT, auth = STRBUF_INIT;
	json_object *body = json_object_new_object();
	int zapi = !strcmp(req->provider, "zapi");

	memset(call, 0, sizeof(*call));
	if (zapi) {
		char *id = http_path_escape(req->zapi_instance_id ? req->zapi_instance_id : "");
		char *tok = http_path_escape(req->zapi_token ? req->zapi_token : "");
		sb_addf(&url, "%s/instances/%s/token/%s/send-text", cfg->zapi_url, id, tok);
		free(id);
		free(tok);
		sb_addf(&auth, "Client-Token: %s", cfg->zapi_client_token ? cfg->zapi_client_token : "");
		json_object_object_add(body, "phone", json_object_new_string(req->number));
		json_object_object_add(body, "message", json_object_new_string(req->text));
		/* Z-API takes whole seconds, 1 to 15 */
		if (req->typing_ms > 0)
			json_object_object_add(body, "delayTyping", json_object_new_int(
				req->typing_ms < 1000 ? 1 : req->typing_ms > 15000 ? 15 :
				(req->typing_ms + 500) / 1000));
		call->timeout_ms = cfg->zapi_timeout_ms;
	} else {
		char *inst = http_path_escape(req->instance_name);
		sb_addf(&url, "%s/message/sendText/%s", cfg->evolution_url ? cfg->evolution_url : "", inst);
		free(inst);
		sb_addf(&auth, "apikey: %s", cfg->evolution_api_key ? cfg->evolution_api_key : "");
		json_object_object_add(body, "number", json_object_new_string(req->number));
		json_object_object_add(body, "text", json_object_new_string(req->text));
		/* the server holds the answer this long, showing "typing..." */
		if (req->typing_ms > 0)
			json_object_object_add(body, "delay", json_object_new_int(req->typing_ms));
		call->timeout_ms = cfg->evolution_timeout_ms;
	}
	call->timeout_ms += req->typing_ms > 0 ? req->typing_ms : 0;
	call->url = sb_detach(&url);
	call->auth = sb_detach(&auth);
	call->body = xstrdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
	call->headers[0] = "Content-Type: application/json";
	call->headers[1] = call->auth;
	call->headers[2] = NULL;
	json_object_put(body);
}

void provider_call_free(struct provider_call *call)
{
	free(call->url);
	free(call->auth);
	free(call->body);
	memset(call, 0, sizeof(*call));
}

void provider_result(const struct send_request *req, struct http_response *r,
		     struct send_result *res)
{
	int zapi = !strcmp(req->provider, "zapi");

	memset(res, 0, sizeof(*res));
	/* A 2xx status line whose body then broke off, or ran past the size
	 * cap, is still the provider accepting the message. */
	if (r->cls == HTTP_NETWORK && r->status >= 200 && r->status < 300) {
		r->cls = HTTP_OK;
		free(r->body);
		r->body = xstrdup("");
		r->len = 0;
	}
	res->latency_ms = r->elapsed_ms;
	res->retry_after_s = r->retry_after_s;
	if (r->cls == HTTP_OK) {
		res->cls = r->cls;
		res->status = r->status;
		res->why = "";
		/* The provider accepted the message: an unreadable body does
		 * not make it unsent, and sending it again could double it. */
		if (!success_id(req->provider, r->body, res->message_id, sizeof(res->message_id)))
			snprintf(res->error, sizeof(res->error),
				 "HTTP %ld with no message id in the body (%zu bytes)",
				 r->status, r->len);
	} else {
		provider_classify(r->cls, r->status, r->body, r->error,
				  zapi ? req->zapi_token : NULL, res);
		/* no answer to a request that left: it may have been sent */
		res->uncertain = (r->cls == HTTP_TIMEOUT || r->cls == HTTP_NETWORK) &&
				 r->request_sent && (r->status == 0 || r->status < 300);
	}
}

enum http_class provider_send(struct http_client *http, const struct config *cfg,
			      const struct send_request *req, struct send_result *res)
{
	struct provider_call call;
	struct http_response r;

	provider_call_build(cfg, req, &call);
	http_client_set_timeout(http, call.timeout_ms);
	http_request(http, "POST", call.url, call.headers, call.body, &r);
	provider_call_free(&call);
	provider_result(req, &r, res);
	http_response_free(&r);
	return res->cls;
}
