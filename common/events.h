/*
 * events: the webhook events `chipctl ingest` applies, parsed.
 *
 * Owns reading one JSON line from either provider into one meaning: an
 * Evolution envelope ({"event","instance","data"}: messages.upsert,
 * send.message, messages.update, connection.update) or a Z-API callback
 * ({"type","instanceId",...}: ReceivedCallback, MessageStatusCallback,
 * DisconnectedCallback). Pure: no database, no policy; the unit tests and a
 * fuzz target cover it. What an event does to a chip is decided in SQL
 * (chipctl_ingest_event in sql/functions/08_events.sql).
 */
#ifndef CHIPCTL_EVENTS_H
#define CHIPCTL_EVENTS_H

#include <stddef.h>

enum event_kind {
	EV_IGNORED,	/* valid, but nothing to apply (why says so) */
	EV_INBOUND,	/* a message to the chip: a response */
	EV_OUTBOUND,	/* a message the chip sent (fromMe, send.message) */
	EV_RECEIPT,	/* a receipt of messages the chip sent */
	EV_CONNECTION,	/* the chip's connection opened or closed */
};

#define EVENT_MAX_IDS 16

struct webhook_event {
	enum event_kind kind;
	const char *provider;	/* "evolution" or "zapi" */
	char event[32];		/* Evolution's event, or Z-API's type */
	char instance[128];	/* Evolution instance name, or Z-API instance id */
	char key[512];		/* identity: the same event gives the same key */
	char phone[32];		/* inbound: the sender; outbound: the recipient */
	char message_id[128];	/* the message; a receipt's first id */
	char ids[EVENT_MAX_IDS][128];	/* a receipt's ids (Z-API sends several) */
	int nids;
	char media[32];		/* text, image, audio, ... */
	char status[32];	/* receipt status (Evolution's names), or
				 * connection state (open, close, ...) */
	int reason;		/* connection statusReason, or 0 */
	long long at;		/* when (Unix seconds): messageTimestamp or Z-API's
				 * momment, plausible; 0 when the event says not */
	const char *critical;	/* "block", "ban" or NULL */
	const char *why;	/* EV_IGNORED: why */
};

/*
 * Parse one line (len bytes, not necessarily NUL-terminated) at time now
 * (Unix seconds). Returns 0 with ev filled, or -1 with a reason in err
 * when the line is malformed: not JSON, not an object, neither an
 * Evolution envelope nor a Z-API callback, an event of a known type
 * without the fields it needs, or a field of the wrong type (the string
 * "true" for a boolean, a number past its range, a string with a NUL
 * inside or not UTF-8: the field's path is in err), or a timestamp that
 * is not plausible (before 2009, or more than a day past now). A malformed
 * event is never guessed at: nothing of it is applied.
 */
int event_parse(const char *line, size_t len, long long now, struct webhook_event *ev,
		char *err, size_t errsz);

/* The identity of receipt i of ev (one row per message id). */
void event_receipt_key(const struct webhook_event *ev, int i, char *buf, size_t n);

/* The phone number of a direct chat's JID, as a webhook's is read
 * ("5511999990001:12@s.whatsapp.net" -> "5511999990001"). Returns 0, or -1
 * (out empty) for a group, broadcast, newsletter or LID address, or a JID
 * without a number: not a direct message. Used by pull-messages too. */
int event_jid_phone(const char *jid, char *out, size_t n);

/* Evolution's messageType as a media type, as a webhook's is read:
 * conversation or extendedTextMessage -> "text", imageMessage -> "image". */
void event_media_type(const char *message_type, char *out, size_t n);

/* "inbound", "outbound", "receipt", "connection" or "ignored". */
const char *event_kind_name(enum event_kind k);

#endif
