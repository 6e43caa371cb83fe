/*
 * evolution_find: the findMessages request and the reading of its answer
 * (see evolution_find.h). The JID forms and the matcher are in
 * evolution_match.c.
 */
#include "evolution_find.h"
#include "provider.h"
#include "jsonget.h"
#include "strbuf.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int iso8601(long long t, char *buf, size_t sz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm))
		return -1;
	return strftime(buf, sz, "%Y-%m-%dT%H:%M:%SZ", &tm) ? 0 : -1;
}

int evo_find_request_build(struct evo_find_request *req, const char *base_url,
			   const char *apikey, const char *instance,
			   const struct evo_find_query *q, char *err, size_t errsz)
{
	json_object *root, *where, *key;
	struct strbuf sb = STRBUF_INIT;
	char *esc;
	int size = q->page_size ? q->page_size : 50;
	int page = q->page ? q->page : 1;

	memset(req, 0, sizeof(*req));
	if ((q->ts_from > 0) != (q->ts_to > 0) || q->ts_from < 0 || q->ts_to < 0) {
		snprintf(err, errsz, "a timestamp filter needs both ends");
		return -1;
	}
	if (q->ts_from > q->ts_to) {
		snprintf(err, errsz, "timestamp filter ends are reversed");
		return -1;
	}
	if (size < 1 || size > 1000 || page < 1) {
		snprintf(err, errsz, "page size %d or page %d out of range", size, page);
		return -1;
	}
	if (!instance || !*instance) {
		snprintf(err, errsz, "no instance name");
		return -1;
	}
	root = json_object_new_object();
	where = json_object_new_object();
	key = json_object_new_object();
	if (q->remote_jid)
		json_object_object_add(key, "remoteJid", json_object_new_string(q->remote_jid));
	if (q->from_me)	/* false filters nothing on the server: not sent */
		json_object_object_add(key, "fromMe", json_object_new_boolean(1));
	if (q->key_id)
		json_object_object_add(key, "id", json_object_new_string(q->key_id));
	if (json_object_object_length(key) > 0)
		json_object_object_add(where, "key", key);
	else
		json_object_put(key);
	if (q->ts_from > 0) {
		char from[32], to[32];
		json_object *ts = json_object_new_object();

		if (iso8601(q->ts_from, from, sizeof(from)) < 0 ||
		    iso8601(q->ts_to, to, sizeof(to)) < 0) {
			json_object_put(ts);
			json_object_put(where);
			json_object_put(root);
			snprintf(err, errsz, "timestamp out of range");
			return -1;
		}
		json_object_object_add(ts, "gte", json_object_new_string(from));
		json_object_object_add(ts, "lte", json_object_new_string(to));
		json_object_object_add(where, "messageTimestamp", ts);
	}
	json_object_object_add(root, "where", where);
	json_object_object_add(root, "offset", json_object_new_int(size));
	json_object_object_add(root, "page", json_object_new_int(page));
	req->body = xstrdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);

	esc = http_path_escape(instance);
	sb_addf(&sb, "%s/chat/findMessages/%s", base_url ? base_url : "", esc);
	free(esc);
	req->url = sb_detach(&sb);
	sb_addf(&sb, "apikey: %s", apikey ? apikey : "");
	req->apikey_header = sb_detach(&sb);
	req->headers[0] = req->apikey_header;
	req->headers[1] = "Content-Type: application/json";
	req->headers[2] = NULL;
	return 0;
}

void evo_find_request_free(struct evo_find_request *req)
{
	free(req->url);
	free(req->body);
	free(req->apikey_header);
	memset(req, 0, sizeof(*req));
}

const char *evo_receipt_name(enum evo_receipt r)
{
	switch (r) {
	case EVO_RECEIPT_NONE:         return "none";
	case EVO_RECEIPT_ERROR:        return "ERROR";
	case EVO_RECEIPT_PENDING:      return "PENDING";
	case EVO_RECEIPT_SERVER_ACK:   return "SERVER_ACK";
	case EVO_RECEIPT_DELIVERY_ACK: return "DELIVERY_ACK";
	case EVO_RECEIPT_READ:         return "READ";
	case EVO_RECEIPT_PLAYED:       return "PLAYED";
	}
	return "?";
}

static enum evo_receipt receipt_of(const char *s)
{
	enum evo_receipt r;

	for (r = EVO_RECEIPT_ERROR; r <= EVO_RECEIPT_PLAYED; r++)
		if (!strcmp(s, evo_receipt_name(r)))
			return r;
	return EVO_RECEIPT_NONE;	/* a status we do not know proves nothing */
}

/* Member k of o when present and not null: 1 and *v; 0 when absent or
 * null. Type checks are the caller's. */
static int member(json_object *o, const char *k, json_object **v)
{
	return json_object_object_get_ex(o, k, v) && *v != NULL;
}

/* A string member copied into buf; -1 when it has another type, an
 * embedded NUL, bytes that are not UTF-8 (jval_str), or does not fit. */
static int str_member(json_object *o, const char *k, char *buf, size_t sz,
		      int required)
{
	json_object *v;
	const char *s;

	buf[0] = '\0';
	if (!member(o, k, &v))
		return required ? -1 : 0;
	if (jval_str(v, &s) != JG_OK || strlen(s) >= sz)
		return -1;
	memcpy(buf, s, strlen(s) + 1);
	return 0;
}

static int read_text(json_object *rec, char **text)
{
	json_object *msg, *v, *ext;

	*text = NULL;
	if (!member(rec, "message", &msg))
		return 0;
	if (!json_object_is_type(msg, json_type_object))
		return -1;
	if (member(msg, "conversation", &v)) {
		if (!json_object_is_type(v, json_type_string))
			return -1;
	} else if (member(msg, "extendedTextMessage", &ext)) {
		if (!json_object_is_type(ext, json_type_object))
			return -1;
		if (!member(ext, "text", &v))
			return 0;
		if (!json_object_is_type(v, json_type_string))
			return -1;
	} else {
		return 0;	/* media and the like: no text */
	}
	if ((size_t)json_object_get_string_len(v) != strlen(json_object_get_string(v)))
		return -1;	/* an embedded NUL would cut the comparison short */
	*text = xstrdup(json_object_get_string(v));
	return 0;
}

static int read_receipts(json_object *rec, enum evo_receipt *best)
{
	json_object *ups, *u, *st;
	size_t i, n;

	*best = EVO_RECEIPT_NONE;
	if (!member(rec, "MessageUpdate", &ups))
		return 0;
	if (!json_object_is_type(ups, json_type_array))
		return -1;
	n = json_object_array_length(ups);
	for (i = 0; i < n; i++) {
		enum evo_receipt r;

		u = json_object_array_get_idx(ups, i);
		if (!u || !json_object_is_type(u, json_type_object) ||
		    !member(u, "status", &st) || !json_object_is_type(st, json_type_string))
			return -1;
		r = receipt_of(json_object_get_string(st));
		if (r > *best)
			*best = r;
	}
	return 0;
}

/* One record; NULL on success, else what is wrong with it. */
static const char *read_record(json_object *rec, struct evo_record *r)
{
	json_object *key, *v;
	int64_t ts;

	memset(r, 0, sizeof(*r));
	if (!json_object_is_type(rec, json_type_object))
		return "record is not an object";
	if (!member(rec, "key", &key) || !json_object_is_type(key, json_type_object))
		return "key missing or not an object";
	if (str_member(key, "id", r->key_id, sizeof(r->key_id), 1) < 0)
		return "key.id missing or not a string";
	if (str_member(key, "remoteJid", r->remote_jid, sizeof(r->remote_jid), 1) < 0)
		return "key.remoteJid missing or not a string";
	if (!member(key, "fromMe", &v) || !json_object_is_type(v, json_type_boolean))
		return "key.fromMe missing or not a boolean";
	r->from_me = json_object_get_boolean(v);
	if (!member(rec, "messageTimestamp", &v) || !json_object_is_type(v, json_type_int))
		return "messageTimestamp missing or not an integer";
	ts = json_object_get_int64(v);
	if (ts < EVO_FIND_TS_MIN || ts > EVO_FIND_TS_MAX)
		return "messageTimestamp out of range";
	r->timestamp = (long long)ts;
	if (str_member(rec, "messageType", r->message_type, sizeof(r->message_type), 0) < 0)
		return "messageType not a string";
	if (read_receipts(rec, &r->receipt) < 0)
		return "MessageUpdate not an array of {status: string}";
	if (read_text(rec, &r->text) < 0)
		return "message text not a string";
	return NULL;
}

static int int_member(json_object *o, const char *k, long *out)
{
	json_object *v;
	int64_t x;

	if (!member(o, k, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	x = json_object_get_int64(v);
	if (x < 0 || x > 1000000000)
		return -1;
	*out = (long)x;
	return 0;
}

static int could_not_look(struct evo_find_result *res, const char *fmt, const char *what)
{
	snprintf(res->error, sizeof(res->error), fmt, what);
	res->ok = 0;
	return -1;
}

static int read_page(json_object *root, struct evo_find_result *res)
{
	json_object *msgs, *recs;
	size_t i, n;

	if (!json_object_is_type(root, json_type_object) || !member(root, "messages", &msgs) ||
	    !json_object_is_type(msgs, json_type_object))
		return could_not_look(res, "findMessages answer has no %s object", "messages");
	if (int_member(msgs, "total", &res->total) < 0 ||
	    int_member(msgs, "pages", &res->pages) < 0 ||
	    int_member(msgs, "currentPage", &res->current_page) < 0)
		return could_not_look(res, "findMessages answer: %s not integers",
				      "total, pages or currentPage");
	if (!member(msgs, "records", &recs) || !json_object_is_type(recs, json_type_array))
		return could_not_look(res, "findMessages answer has no %s array", "records");
	n = json_object_array_length(recs);
	res->records = xmalloc(sizeof(*res->records) * (n ? n : 1));
	for (i = 0; i < n; i++) {
		const char *why = read_record(json_object_array_get_idx(recs, i),
					      &res->records[res->n]);

		if (!why) {
			res->n++;
			continue;
		}
		free(res->records[res->n].text);
		if (!res->n_malformed++)
			snprintf(res->malformed_why, sizeof(res->malformed_why),
				 "record %zu: %s", i, why);
	}
	res->ok = 1;
	return 0;
}

int evo_find_parse_body(long status, const char *body, size_t len,
			struct evo_find_result *res)
{
	json_tokener *tok;
	json_object *root;
	int rc;

	memset(res, 0, sizeof(*res));
	res->status = status;
	if (!body)
		body = "";
	if (status != 200) {
		char text[256];

		if (evolution_message_text(body, text, sizeof(text)) < 0)
			text[0] = '\0';
		snprintf(res->error, sizeof(res->error), "findMessages HTTP %ld%s%s", status,
			 text[0] ? ": " : "", text);
		return -1;
	}
	if (len > (size_t)0x7fffffff || strlen(body) != len)
		return could_not_look(res, "findMessages answer %s", "holds a NUL byte");
	tok = json_tokener_new_ex(32);
	if (!tok)
		return could_not_look(res, "%s", "out of memory");
	root = json_tokener_parse_ex(tok, body, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success || !root) {
		snprintf(res->error, sizeof(res->error),
			 "findMessages answer is not JSON (%s at offset %zu of %zu bytes)",
			 json_tokener_error_desc(json_tokener_get_error(tok)),
			 json_tokener_get_parse_end(tok), len);
		json_object_put(root);
		json_tokener_free(tok);
		return -1;
	}
	rc = (int)json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	while ((size_t)rc < len && strchr(" \t\r\n", body[rc]))
		rc++;
	if ((size_t)rc != len) {
		json_object_put(root);
		return could_not_look(res, "findMessages answer %s",
				      "has bytes after its JSON");
	}
	rc = read_page(root, res);
	json_object_put(root);
	return rc;
}

int evo_find_parse(const struct http_response *resp, struct evo_find_result *res)
{
	if (resp->cls == HTTP_TIMEOUT || resp->cls == HTTP_NETWORK || resp->status == 0) {
		memset(res, 0, sizeof(*res));
		res->status = resp->status;
		snprintf(res->error, sizeof(res->error), "findMessages %s: %s",
			 http_class_name(resp->cls), resp->error);
		return -1;
	}
	return evo_find_parse_body(resp->status, resp->body, resp->len, res);
}

void evo_find_result_free(struct evo_find_result *res)
{
	size_t i;

	for (i = 0; i < res->n; i++)
		free(res->records[i].text);
	free(res->records);
	res->records = NULL;
	res->n = 0;
}
