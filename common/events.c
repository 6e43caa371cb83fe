#include "events.h"
#include "events_read.h"
#include "validate.h"

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

/* conversation / extendedTextMessage -> text; imageMessage -> image */
static void media_of(const char *type, char *out, size_t n)
{
	size_t k = 0, keep;

	if (!type || !*type || !strcmp(type, "conversation") ||
	    !strcmp(type, "extendedTextMessage")) {
		snprintf(out, n, "text");
		return;
	}
	keep = (size_t)utf8_prefix(type, n - 1);	/* text: no sequence cut */
	for (; k < keep; type++)
		out[k++] = (char)tolower((unsigned char)*type);
	out[k] = '\0';
	if (ev_ends_with(out, "message"))
		out[strlen(out) - 7] = '\0';
	if (!*out)
		snprintf(out, n, "text");
}

/* ---- Evolution ---- */

/* messages.upsert (inbound, or fromMe: sent from the phone) and
 * send.message (sent through the API): the same data shape. */
static int parse_message(json_object *data, struct webhook_event *ev, int api_send,
			 struct rd *r)
{
	json_object *key = ev_typed(r, data, "data.", "key", json_type_object);
	const char *jid = ev_str(r, key, "data.key.", "remoteJid");
	const char *id = ev_str(r, key, "data.key.", "id");
	const char *alt = ev_str(r, key, "data.key.", "remoteJidAlt");
	const char *mode = ev_str(r, key, "data.key.", "addressingMode");
	const char *type = ev_str(r, data, "data.", "messageType");
	int from_me = ev_bool(r, key, "data.key.", "fromMe");

	ev->at = ev_when(r, data, "data.", "messageTimestamp", 0);
	if (r->bad)
		return -1;
	if (!key || !jid) {
		snprintf(r->err, r->errsz, "%s without data.key.remoteJid", ev->event);
		return -1;
	}
	if (id && ev_copy(ev->message_id, sizeof(ev->message_id), id))
		return ev_fail(r, "data.key.id too long");
	if (strlen(jid) > 200)
		return ev_fail(r, "data.key.remoteJid too long");
	from_me = api_send || from_me == 1;
	/* Both events of one sent message share a key: applied once. */
	if (id && *id)
		snprintf(ev->key, sizeof(ev->key), "%s|%s|%s",
			 from_me ? "out" : "messages.upsert", ev->instance, id);
	else
		snprintf(ev->key, sizeof(ev->key), "%s|%s|%s|%lld", ev->event,
			 ev->instance, jid, ev->at);
	if (ev_ends_with(jid, "@g.us") || ev_ends_with(jid, "@broadcast") ||
	    ev_ends_with(jid, "@newsletter") || !strcmp(jid, "status@broadcast")) {
		ev->why = "not a direct message";
		return 0;
	}
	/* Baileys 7 LID addressing: the phone is in remoteJidAlt, as the
	 * server itself maps it. */
	if ((mode && !strcmp(mode, "lid")) || ev_ends_with(jid, "@lid")) {
		if (!alt || ev_ends_with(alt, "@lid")) {
			ev->why = "lid address without remoteJidAlt";
			return 0;
		}
		jid = alt;
	}
	ev_jid_phone(jid, ev->phone, sizeof(ev->phone));
	if (strlen(ev->phone) < 8) {
		ev->why = from_me ? "no recipient phone number" : "no sender phone number";
		ev->phone[0] = '\0';
		return 0;
	}
	media_of(type, ev->media, sizeof(ev->media));
	ev->kind = from_me ? EV_OUTBOUND : EV_INBOUND;
	return 0;
}

static int parse_update(json_object *data, struct webhook_event *ev, struct rd *r)
{
	json_object *key = ev_typed(r, data, "data.", "key", json_type_object);
	const char *id = ev_str(r, data, "data.", "keyId"), *st = ev_str(r, data, "data.", "status");
	const char *key_id = ev_str(r, key, "data.key.", "id");
	int from_me = ev_bool(r, data, "data.", "fromMe");
	int key_from_me = ev_bool(r, key, "data.key.", "fromMe");

	ev->at = ev_when(r, data, "data.", "messageTimestamp", 0);
	if (r->bad)
		return -1;
	if (!id)
		id = key_id;
	if (from_me < 0)
		from_me = key_from_me;
	if (!id || !*id || !st || !*st)
		return ev_fail(r, "messages.update without data.keyId and data.status");
	if (ev_copy(ev->message_id, sizeof(ev->message_id), id) ||
	    ev_copy(ev->status, sizeof(ev->status), st))
		return ev_fail(r, "data.keyId or data.status too long");
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
			    struct rd *r)
{
	const char *st = ev_str(r, data, "data.", "state"), *at = ev_str(r, root, "", "date_time");
	long long reason = 0;

	if (jget_int(data, "statusReason", 0, 999, &reason) == JG_WRONG)
		ev_wrong(r, "data.", data, "statusReason", json_type_int);
	if (r->bad)
		return -1;
	if (!st || !*st)
		return ev_fail(r, "connection.update without data.state");
	if (ev_copy(ev->status, sizeof(ev->status), st))
		return ev_fail(r, "data.state too long");
	ev->reason = (int)reason;
	/* A close for good: 401 logged out (what a ban looks like from the
	 * client), 403 forbidden (a block), 402 and 406 likewise final. */
	if (!strcmp(st, "close")) {
		if (ev->reason == 403)
			ev->critical = "block";
		else if (ev->reason == 401 || ev->reason == 402 || ev->reason == 406)
			ev->critical = "ban";
	}
	if (!at)
		at = "";
	snprintf(ev->key, sizeof(ev->key), "connection.update|%s|%s|%d|%.*s", ev->instance,
		 st, ev->reason, utf8_prefix(at, 64), at);
	ev->kind = EV_CONNECTION;
	return 0;
}

static int parse_evolution(json_object *root, const char *event, struct webhook_event *ev,
			   struct rd *r)
{
	const char *inst = ev_str(r, root, "", "instance");
	json_object *data = ev_typed(r, root, "", "data", json_type_object);

	ev->provider = "evolution";
	if (r->bad)
		return -1;
	if (!inst || !*inst || !data)
		return ev_fail(r, "not a webhook event: needs event, instance and data");
	if (ev_copy(ev->event, sizeof(ev->event), event)) {
		ev->why = "event type not used";
		snprintf(ev->event, sizeof(ev->event), "other");
		return 0;
	}
	if (ev_copy(ev->instance, sizeof(ev->instance), inst))
		return ev_fail(r, "instance name too long");
	if (!strcmp(event, "messages.upsert"))
		return parse_message(data, ev, 0, r);
	if (!strcmp(event, "send.message"))
		return parse_message(data, ev, 1, r);
	if (!strcmp(event, "messages.update"))
		return parse_update(data, ev, r);
	if (!strcmp(event, "connection.update"))
		return parse_connection(root, data, ev, r);
	ev->why = "event type not used";
	return 0;
}

void event_receipt_key(const struct webhook_event *ev, int i, char *buf, size_t n)
{
	if (!strcmp(ev->provider, "zapi"))
		snprintf(buf, n, "%.*s|%.*s", utf8_prefix(ev->key, 300), ev->key,
			 utf8_prefix(ev->ids[i], 180), ev->ids[i]);
	else
		snprintf(buf, n, "%s", ev->key);
}

int event_parse(const char *line, size_t len, long long now, struct webhook_event *ev,
		char *err, size_t errsz)
{
	struct json_tokener *tok = json_tokener_new();
	struct rd r = { err, errsz, 0, now };
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
		ev_fail(&r, "not a JSON object");
		goto out;
	}
	event = ev_str(&r, root, "", "event");
	type = ev_str(&r, root, "", "type");
	if (r.bad)
		goto out;
	if (event)
		rc = parse_evolution(root, event, ev, &r);
	else if (type)
		rc = ev_parse_zapi(root, type, ev, &r);
	else
		ev_fail(&r, "not a webhook event: needs event, instance and data "
		     "(Evolution) or type and instanceId (Z-API)");
	if (rc == 0 && ev->kind == EV_IGNORED && !ev->why)
		ev->why = "nothing to apply";
out:
	if (rc)
		ev->kind = EV_IGNORED;
	json_object_put(root);
	json_tokener_free(tok);
	return rc;
}

/* ---- shared with pull-messages (issue 20): the same reading of a JID and
 * a messageType as a webhook's ---- */

int event_jid_phone(const char *jid, char *out, size_t n)
{
	out[0] = '\0';
	if (!jid || ev_ends_with(jid, "@g.us") || ev_ends_with(jid, "@broadcast") ||
	    ev_ends_with(jid, "@newsletter") || ev_ends_with(jid, "@lid"))
		return -1;
	ev_jid_phone(jid, out, n);
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
