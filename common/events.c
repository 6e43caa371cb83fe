#include "events.h"
#include "jsonget.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

const char *event_kind_name(enum event_kind k)
{
	switch (k) {
	case EV_INBOUND:    return "inbound";
	case EV_OUTBOUND:   return "outbound";
	case EV_RECEIPT:    return "receipt";
	case EV_CONNECTION: return "connection";
	case EV_IGNORED:    break;
	}
	return "ignored";
}

static json_object *jtyped(json_object *o, const char *k, json_type t)
{
	json_object *v = jget(o, k);

	return v && json_object_is_type(v, t) ? v : NULL;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v = jtyped(o, k, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

/* 1 true, 0 false, -1 absent or not a boolean */
static int jbool(json_object *o, const char *k)
{
	json_object *v = jtyped(o, k, json_type_boolean);

	return v ? json_object_get_boolean(v) : -1;
}

/* A number or a string, as text (Z-API's momment, Evolution's timestamps). */
static const char *jscalar(json_object *o, const char *k)
{
	json_object *v = jget(o, k);

	if (v && (json_object_is_type(v, json_type_int) ||
		  json_object_is_type(v, json_type_double) ||
		  json_object_is_type(v, json_type_string)))
		return json_object_get_string(v);
	return "";
}

static int copy(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	if (len >= n)
		return -1;
	memcpy(dst, src, len + 1);
	return 0;
}

/* "5511999990001:12@s.whatsapp.net" -> "5511999990001" */
static void jid_phone(const char *jid, char *out, size_t n)
{
	size_t k = 0;

	for (; *jid && *jid != '@' && *jid != ':' && k + 1 < n; jid++)
		if (isdigit((unsigned char)*jid))
			out[k++] = *jid;
	out[k] = '\0';
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* conversation / extendedTextMessage -> text; imageMessage -> image */
static void media_of(const char *type, char *out, size_t n)
{
	size_t k = 0;

	if (!type || !*type || !strcmp(type, "conversation") ||
	    !strcmp(type, "extendedTextMessage")) {
		snprintf(out, n, "text");
		return;
	}
	for (; *type && k + 1 < n; type++)
		out[k++] = (char)tolower((unsigned char)*type);
	out[k] = '\0';
	if (ends_with(out, "message"))
		out[strlen(out) - 7] = '\0';
	if (!*out)
		snprintf(out, n, "text");
}

static int fail(char *err, size_t errsz, const char *why)
{
	snprintf(err, errsz, "%s", why);
	return -1;
}

/* ---- Evolution ---- */

/* messages.upsert (inbound, or fromMe: sent from the phone) and
 * send.message (sent through the API): the same data shape. */
static int parse_message(json_object *data, struct webhook_event *ev, int api_send,
			 char *err, size_t errsz)
{
	json_object *key = jtyped(data, "key", json_type_object);
	const char *jid, *alt, *mode, *id;
	int from_me;

	if (!key || !(jid = jstr(key, "remoteJid"))) {
		snprintf(err, errsz, "%s without data.key.remoteJid", ev->event);
		return -1;
	}
	id = jstr(key, "id");
	if (id && copy(ev->message_id, sizeof(ev->message_id), id))
		return fail(err, errsz, "data.key.id too long");
	if (strlen(jid) > 200)
		return fail(err, errsz, "data.key.remoteJid too long");
	from_me = api_send || jbool(key, "fromMe") == 1;
	/* Both events of one sent message share a key: applied once. */
	if (id && *id)
		snprintf(ev->key, sizeof(ev->key), "%s|%s|%s",
			 from_me ? "out" : "messages.upsert", ev->instance, id);
	else
		snprintf(ev->key, sizeof(ev->key), "%s|%s|%s|%.40s", ev->event,
			 ev->instance, jid, jscalar(data, "messageTimestamp"));
	if (ends_with(jid, "@g.us") || ends_with(jid, "@broadcast") ||
	    ends_with(jid, "@newsletter") || !strcmp(jid, "status@broadcast")) {
		ev->why = "not a direct message";
		return 0;
	}
	/* Baileys 7 LID addressing: the phone is in remoteJidAlt, as the
	 * server itself maps it. */
	alt = jstr(key, "remoteJidAlt");
	mode = jstr(key, "addressingMode");
	if ((mode && !strcmp(mode, "lid")) || ends_with(jid, "@lid")) {
		if (!alt || ends_with(alt, "@lid")) {
			ev->why = "lid address without remoteJidAlt";
			return 0;
		}
		jid = alt;
	}
	jid_phone(jid, ev->phone, sizeof(ev->phone));
	if (strlen(ev->phone) < 8) {
		ev->why = from_me ? "no recipient phone number" : "no sender phone number";
		ev->phone[0] = '\0';
		return 0;
	}
	media_of(jstr(data, "messageType"), ev->media, sizeof(ev->media));
	ev->kind = from_me ? EV_OUTBOUND : EV_INBOUND;
	return 0;
}

static int parse_update(json_object *data, struct webhook_event *ev, char *err, size_t errsz)
{
	json_object *key = jtyped(data, "key", json_type_object);
	const char *id = jstr(data, "keyId"), *st = jstr(data, "status");
	int from_me = jbool(data, "fromMe");

	if (!id && key)
		id = jstr(key, "id");
	if (from_me < 0 && key)
		from_me = jbool(key, "fromMe");
	if (!id || !*id || !st || !*st)
		return fail(err, errsz, "messages.update without data.keyId and data.status");
	if (copy(ev->message_id, sizeof(ev->message_id), id) ||
	    copy(ev->status, sizeof(ev->status), st))
		return fail(err, errsz, "data.keyId or data.status too long");
	snprintf(ev->key, sizeof(ev->key), "messages.update|%s|%s|%s", ev->instance, id, st);
	if (from_me == 0) {
		ev->why = "receipt of a message the chip received";
		return 0;
	}
	memcpy(ev->ids[0], ev->message_id, sizeof(ev->ids[0]));
	ev->nids = 1;
	ev->kind = EV_RECEIPT;
	return 0;
}

static int parse_connection(json_object *root, json_object *data, struct webhook_event *ev,
			    char *err, size_t errsz)
{
	const char *st = jstr(data, "state"), *when = jstr(root, "date_time");
	json_object *reason = jget(data, "statusReason");

	if (!st || !*st)
		return fail(err, errsz, "connection.update without data.state");
	if (copy(ev->status, sizeof(ev->status), st))
		return fail(err, errsz, "data.state too long");
	if (reason && (json_object_is_type(reason, json_type_int) ||
		       json_object_is_type(reason, json_type_string)))
		ev->reason = json_object_get_int(reason);
	/* A close for good: 401 logged out (what a ban looks like from the
	 * client), 403 forbidden (a block), 402 and 406 likewise final. */
	if (!strcmp(st, "close")) {
		if (ev->reason == 403)
			ev->critical = "block";
		else if (ev->reason == 401 || ev->reason == 402 || ev->reason == 406)
			ev->critical = "ban";
	}
	snprintf(ev->key, sizeof(ev->key), "connection.update|%s|%s|%d|%.64s", ev->instance,
		 st, ev->reason, when ? when : "");
	ev->kind = EV_CONNECTION;
	return 0;
}

static int parse_evolution(json_object *root, const char *event, struct webhook_event *ev,
			   char *err, size_t errsz)
{
	const char *inst = jstr(root, "instance");
	json_object *data = jtyped(root, "data", json_type_object);

	ev->provider = "evolution";
	if (!inst || !*inst || !data)
		return fail(err, errsz, "not a webhook event: needs event, instance and data");
	if (copy(ev->event, sizeof(ev->event), event)) {
		ev->why = "event type not used";
		snprintf(ev->event, sizeof(ev->event), "other");
		return 0;
	}
	if (copy(ev->instance, sizeof(ev->instance), inst))
		return fail(err, errsz, "instance name too long");
	if (!strcmp(event, "messages.upsert"))
		return parse_message(data, ev, 0, err, errsz);
	if (!strcmp(event, "send.message"))
		return parse_message(data, ev, 1, err, errsz);
	if (!strcmp(event, "messages.update"))
		return parse_update(data, ev, err, errsz);
	if (!strcmp(event, "connection.update"))
		return parse_connection(root, data, ev, err, errsz);
	ev->why = "event type not used";
	return 0;
}

/* ---- Z-API ---- */

/* The message's content key names its type; text otherwise. */
static void zapi_media(json_object *root, char *out, size_t n)
{
	static const char *const types[] = { "image", "audio", "video", "document",
		"sticker", "location", "contact" };
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (jtyped(root, types[i], json_type_object)) {
			snprintf(out, n, "%s", types[i]);
			return;
		}
	snprintf(out, n, "text");
}

static int zapi_received(json_object *root, struct webhook_event *ev, char *err, size_t errsz)
{
	const char *id = jstr(root, "messageId"), *phone = jstr(root, "phone");
	int from_me = jbool(root, "fromMe") == 1;

	if (!id || !*id || !phone)
		return fail(err, errsz, "ReceivedCallback without messageId and phone");
	if (copy(ev->message_id, sizeof(ev->message_id), id) || strlen(phone) > 200)
		return fail(err, errsz, "messageId or phone too long");
	snprintf(ev->key, sizeof(ev->key), "%s|zapi:%s|%s",
		 from_me ? "out" : "zapi.received", ev->instance, id);
	if (jbool(root, "isGroup") == 1 || jbool(root, "isNewsletter") == 1 ||
	    ends_with(phone, "-group") || ends_with(phone, "@g.us")) {
		ev->why = "not a direct message";
		return 0;
	}
	jid_phone(phone, ev->phone, sizeof(ev->phone));
	if (strlen(ev->phone) < 8) {
		ev->why = "no phone number";
		ev->phone[0] = '\0';
		return 0;
	}
	zapi_media(root, ev->media, sizeof(ev->media));
	ev->kind = from_me ? EV_OUTBOUND : EV_INBOUND;
	return 0;
}

/* Z-API's statuses in Evolution's names: SENT is the server's ack,
 * RECEIVED the delivery. READ_BY_ME is the chip reading a message. */
static const char *zapi_status_name(const char *st)
{
	static const char *const map[][2] = { { "SENT", "SERVER_ACK" },
		{ "RECEIVED", "DELIVERY_ACK" }, { "READ", "READ" }, { "PLAYED", "PLAYED" } };
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(st, map[i][0]))
			return map[i][1];
	return NULL;
}

static int zapi_status(json_object *root, struct webhook_event *ev, char *err, size_t errsz)
{
	json_object *ids = jtyped(root, "ids", json_type_array);
	const char *st = jstr(root, "status"), *name;
	size_t i, n;

	if (!ids || !st || !*st)
		return fail(err, errsz, "MessageStatusCallback without ids and status");
	n = json_object_array_length(ids);
	snprintf(ev->key, sizeof(ev->key), "zapi.status|%s|%.31s", ev->instance, st);
	if (!(name = zapi_status_name(st))) {
		ev->why = "status not about a message the chip sent";
		return 0;
	}
	snprintf(ev->status, sizeof(ev->status), "%s", name);
	for (i = 0; i < n && ev->nids < EVENT_MAX_IDS; i++) {
		const char *id = json_object_get_string(json_object_array_get_idx(ids, i));

		if (!json_object_is_type(json_object_array_get_idx(ids, i), json_type_string) ||
		    !*id)
			continue;
		if (copy(ev->ids[ev->nids], sizeof(ev->ids[0]), id))
			return fail(err, errsz, "a message id in ids is too long");
		ev->nids++;
	}
	if (!ev->nids) {
		ev->why = "no message id";
		return 0;
	}
	memcpy(ev->message_id, ev->ids[0], sizeof(ev->message_id));
	ev->kind = EV_RECEIPT;
	return 0;
}

static int parse_zapi(json_object *root, const char *type, struct webhook_event *ev,
		      char *err, size_t errsz)
{
	const char *inst = jstr(root, "instanceId");

	ev->provider = "zapi";
	if (!inst || !*inst)
		return fail(err, errsz, "not a Z-API callback: needs type and instanceId");
	if (copy(ev->event, sizeof(ev->event), type)) {
		ev->why = "callback type not used";
		snprintf(ev->event, sizeof(ev->event), "other");
		return 0;
	}
	if (copy(ev->instance, sizeof(ev->instance), inst))
		return fail(err, errsz, "instanceId too long");
	if (!strcmp(type, "ReceivedCallback"))
		return zapi_received(root, ev, err, errsz);
	if (!strcmp(type, "MessageStatusCallback"))
		return zapi_status(root, ev, err, errsz);
	if (!strcmp(type, "DisconnectedCallback")) {
		snprintf(ev->status, sizeof(ev->status), "close");
		snprintf(ev->key, sizeof(ev->key), "zapi.disconnected|%s|%.40s", ev->instance,
			 jscalar(root, "momment"));
		ev->kind = EV_CONNECTION;
		return 0;
	}
	ev->why = "callback type not used";
	return 0;
}

void event_receipt_key(const struct webhook_event *ev, int i, char *buf, size_t n)
{
	if (!strcmp(ev->provider, "zapi"))
		snprintf(buf, n, "%.300s|%.180s", ev->key, ev->ids[i]);
	else
		snprintf(buf, n, "%s", ev->key);
}

int event_parse(const char *line, size_t len, struct webhook_event *ev,
		char *err, size_t errsz)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *root;
	enum json_tokener_error jerr;
	const char *event, *type;
	size_t end;
	int rc = -1;

	memset(ev, 0, sizeof(*ev));
	ev->kind = EV_IGNORED;
	ev->provider = "evolution";
	root = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (!root) {
		snprintf(err, errsz, "invalid JSON at offset %zu: %s", end,
			 jerr == json_tokener_continue ? "unexpected end of input" :
			 json_tokener_error_desc(jerr));
		goto out;
	}
	for (; end < len; end++)
		if (!isspace((unsigned char)line[end])) {
			snprintf(err, errsz, "trailing data at offset %zu", end);
			goto out;
		}
	if (!json_object_is_type(root, json_type_object)) {
		fail(err, errsz, "not a JSON object");
		goto out;
	}
	event = jstr(root, "event");
	type = jstr(root, "type");
	if (event)
		rc = parse_evolution(root, event, ev, err, errsz);
	else if (type)
		rc = parse_zapi(root, type, ev, err, errsz);
	else
		fail(err, errsz, "not a webhook event: needs event, instance and data "
		     "(Evolution) or type and instanceId (Z-API)");
	if (rc == 0 && ev->kind == EV_IGNORED && !ev->why)
		ev->why = "nothing to apply";
out:
	json_object_put(root);
	json_tokener_free(tok);
	return rc;
}

/* ---- shared with pull-messages (issue 20): the same reading of a JID and
 * a messageType as a webhook's ---- */

int event_jid_phone(const char *jid, char *out, size_t n)
{
	out[0] = '\0';
	if (!jid || ends_with(jid, "@g.us") || ends_with(jid, "@broadcast") ||
	    ends_with(jid, "@newsletter") || ends_with(jid, "@lid"))
		return -1;
	jid_phone(jid, out, n);
	if (strlen(out) < 8) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

void event_media_type(const char *message_type, char *out, size_t n)
{
	media_of(message_type, out, n);
}
