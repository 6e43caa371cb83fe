/* Z-API callbacks (ReceivedCallback, MessageStatusCallback,
 * DisconnectedCallback) into one webhook event: see events.h. */
#include "events_read.h"
#include "validate.h"

#include <stdio.h>
#include <string.h>

/* ---- Z-API ---- */

/* The message's content key names its type; text otherwise. */
static void zapi_media(json_object *root, char *out, size_t n)
{
	static const char *const types[] = { "image", "audio", "video", "document",
		"sticker", "location", "contact" };
	json_object *v;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (jget_typed(root, types[i], json_type_object, &v) == JG_OK) {
			snprintf(out, n, "%s", types[i]);
			return;
		}
	snprintf(out, n, "text");
}

static int zapi_received(json_object *root, struct webhook_event *ev, struct rd *r)
{
	const char *id = ev_str(r, root, "", "messageId"), *phone = ev_str(r, root, "", "phone");
	int from_me = ev_bool(r, root, "", "fromMe") == 1;
	int group = ev_bool(r, root, "", "isGroup"), news = ev_bool(r, root, "", "isNewsletter");

	if (r->bad)
		return -1;
	if (!id || !*id || !phone)
		return ev_fail(r, "ReceivedCallback without messageId and phone");
	if (ev_copy(ev->message_id, sizeof(ev->message_id), id) || strlen(phone) > 200)
		return ev_fail(r, "messageId or phone too long");
	snprintf(ev->key, sizeof(ev->key), "%s|zapi:%s|%s",
		 from_me ? "out" : "zapi.received", ev->instance, id);
	if (group == 1 || news == 1 || ev_ends_with(phone, "-group") ||
	    ev_ends_with(phone, "@g.us")) {
		ev->why = "not a direct message";
		return 0;
	}
	ev_jid_phone(phone, ev->phone, sizeof(ev->phone));
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

static int zapi_status(json_object *root, struct webhook_event *ev, struct rd *r)
{
	json_object *ids = ev_typed(r, root, "", "ids", json_type_array);
	const char *st = ev_str(r, root, "", "status"), *name;
	size_t i, n;

	if (r->bad)
		return -1;
	if (!ids || !st || !*st)
		return ev_fail(r, "MessageStatusCallback without ids and status");
	n = json_object_array_length(ids);
	/* every id is checked, also those past EVENT_MAX_IDS: one bad is a
	 * malformed callback */
	for (i = 0; i < n; i++) {
		const char *id;

		if (jval_str(json_object_array_get_idx(ids, i), &id) != JG_OK) {
			snprintf(r->err, r->errsz, "ids[%zu]: not a string of UTF-8 text "
				 "without NUL", i);
			return -1;
		}
		if (strlen(id) >= sizeof(ev->ids[0]))
			return ev_fail(r, "a message id in ids is too long");
	}
	snprintf(ev->key, sizeof(ev->key), "zapi.status|%s|%.*s", ev->instance,
		 utf8_prefix(st, 31), st);
	if (!(name = zapi_status_name(st))) {
		ev->why = "status not about a message the chip sent";
		return 0;
	}
	snprintf(ev->status, sizeof(ev->status), "%s", name);
	for (i = 0; i < n && ev->nids < EVENT_MAX_IDS; i++) {
		const char *id = json_object_get_string(json_object_array_get_idx(ids, i));

		if (*id)
			memcpy(ev->ids[ev->nids++], id, strlen(id) + 1);
	}
	if (!ev->nids) {
		ev->why = "no message id";
		return 0;
	}
	memcpy(ev->message_id, ev->ids[0], sizeof(ev->message_id));
	ev->kind = EV_RECEIPT;
	return 0;
}

int ev_parse_zapi(json_object *root, const char *type, struct webhook_event *ev,
		      struct rd *r)
{
	const char *inst = ev_str(r, root, "", "instanceId");

	ev->provider = "zapi";
	ev->at = ev_when(r, root, "", "momment", 1);
	if (r->bad)
		return -1;
	if (!inst || !*inst)
		return ev_fail(r, "not a Z-API callback: needs type and instanceId");
	if (ev_copy(ev->event, sizeof(ev->event), type)) {
		ev->why = "callback type not used";
		snprintf(ev->event, sizeof(ev->event), "other");
		return 0;
	}
	if (ev_copy(ev->instance, sizeof(ev->instance), inst))
		return ev_fail(r, "instanceId too long");
	if (!strcmp(type, "ReceivedCallback"))
		return zapi_received(root, ev, r);
	if (!strcmp(type, "MessageStatusCallback"))
		return zapi_status(root, ev, r);
	if (!strcmp(type, "DisconnectedCallback")) {
		snprintf(ev->status, sizeof(ev->status), "close");
		snprintf(ev->key, sizeof(ev->key), "zapi.disconnected|%s|%lld", ev->instance,
			 ev->at);
		ev->kind = EV_CONNECTION;
		return 0;
	}
	ev->why = "callback type not used";
	return 0;
}

