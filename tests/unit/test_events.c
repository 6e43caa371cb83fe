/* Unit tests of the webhook event parsing in common/events.c. */
#include "tap.h"
#include "events.h"

/* 2026-12-04: a fixed now, for the plausibility of timestamps */
#define NOW 1796400000LL

static struct webhook_event ev;
static char err[256];

static int parse(const char *line)
{
	err[0] = '\0';
	return event_parse(line, strlen(line), NOW, &ev, err, sizeof(err));
}

#define UPSERT(key, data) "{\"event\":\"messages.upsert\",\"instance\":\"chip01\",\"data\":{\"key\":" \
	"{\"remoteJid\":\"5511999990001@s.whatsapp.net\"," key "\"id\":\"T1\"}" data "}}"

/* A field of the wrong type, a NUL inside a string, text that is not UTF-8
 * or a time out of range: malformed, with the field named, never a guess. */
static void typed_reads(void)
{
	static const struct { const char *line, *field, *name; } bad[] = {
		{ UPSERT("\"fromMe\":\"true\",", ""), "data.key.fromMe", "fromMe the string \"true\"" },
		{ UPSERT("\"fromMe\":1,", ""), "data.key.fromMe", "fromMe the number 1" },
		{ UPSERT("\"fromMe\":false,", ",\"messageTimestamp\":true"),
		  "data.messageTimestamp", "a boolean timestamp" },
		{ UPSERT("", ",\"messageTimestamp\":1773027345.5"),
		  "data.messageTimestamp", "a fractional timestamp" },
		{ UPSERT("", ",\"messageTimestamp\":\"17730x\""),
		  "data.messageTimestamp", "a timestamp string with garbage" },
		{ UPSERT("", ",\"messageTimestamp\":0"), "data.messageTimestamp", "timestamp 0" },
		{ UPSERT("", ",\"messageTimestamp\":-1773027345"),
		  "data.messageTimestamp", "a negative timestamp" },
		{ UPSERT("", ",\"messageTimestamp\":32503680000"),
		  "data.messageTimestamp", "a timestamp in the year 3000" },
		{ UPSERT("", ",\"messageTimestamp\":99999999999999999999999"),
		  "data.messageTimestamp", "a timestamp past 64 bits" },
		{ UPSERT("", ",\"messageTimestamp\":1796500000"),
		  "data.messageTimestamp", "a timestamp more than a day past now" },
		{ UPSERT("", ",\"messageType\":7"), "data.messageType", "a number for messageType" },
		{ "{\"event\":\"messages.upsert\",\"instance\":\"chip01\\u0000x\",\"data\":{\"key\":"
		  "{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"id\":\"T1\"}}}",
		  "instance: a string with a NUL", "an instance with a NUL inside" },
		{ "{\"event\":\"messages.upsert\",\"instance\":\"chip\xff\",\"data\":{\"key\":"
		  "{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"id\":\"T1\"}}}",
		  "instance: not UTF-8", "an instance that is not UTF-8" },
		{ "{\"event\":\"messages.upsert\",\"instance\":[\"chip01\"],\"data\":{}}",
		  "instance: not a string", "an array for instance" },
		{ "{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":\"x\"}",
		  "data: not an object", "a string for data" },
		{ UPSERT("", ",\"key\":1"), "data.key", "key twice, the last a number" },
		{ "{\"event\":\"messages.update\",\"instance\":\"c\",\"data\":{\"keyId\":\"K1\","
		  "\"fromMe\":\"false\",\"status\":\"READ\"}}", "data.fromMe", "receipt fromMe a string" },
		{ "{\"event\":\"connection.update\",\"instance\":\"c\",\"data\":{\"state\":\"close\","
		  "\"statusReason\":\"401\"}}", "data.statusReason", "statusReason a string" },
		{ "{\"event\":\"connection.update\",\"instance\":\"c\",\"data\":{\"state\":\"close\","
		  "\"statusReason\":4294967697}}", "data.statusReason", "statusReason 2^32 + 401" },
		{ "{\"type\":\"ReceivedCallback\",\"instanceId\":\"Z1\",\"messageId\":\"M9\","
		  "\"phone\":\"5511999990002\",\"fromMe\":\"true\"}", "fromMe", "Z-API fromMe a string" },
		{ "{\"type\":\"ReceivedCallback\",\"instanceId\":\"Z1\",\"messageId\":\"M9\","
		  "\"phone\":\"5511999990002\",\"isGroup\":\"false\"}", "isGroup", "isGroup a string" },
		{ "{\"type\":\"ReceivedCallback\",\"instanceId\":\"Z1\",\"messageId\":\"M9\","
		  "\"phone\":\"5511999990002\",\"momment\":-5}", "momment", "a negative momment" },
		{ "{\"type\":\"DisconnectedCallback\",\"instanceId\":\"Z1\",\"momment\":\"soon\"}",
		  "momment", "a momment that is no number" },
		{ "{\"type\":\"MessageStatusCallback\",\"instanceId\":\"Z1\",\"status\":\"READ\","
		  "\"ids\":[\"A1\",7]}", "ids[1]", "a number among the ids" },
		{ "{\"type\":\"MessageStatusCallback\",\"instanceId\":\"Z1\",\"status\":\"READ\","
		  "\"ids\":[\"A1\",\"A\\u0000B\"]}", "ids[1]", "an id with a NUL inside" },
		{ "{\"type\":7,\"instanceId\":\"Z1\"}", "type", "a number for the type" },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i].line);
		ok(rc == -1 && ev.kind == EV_IGNORED && strstr(err, bad[i].field),
		   "malformed: %s (%s)", bad[i].name, err);
	}
	ok(parse(UPSERT("\"fromMe\":false,", ",\"messageTimestamp\":\"1773027345\"")) == 0 &&
	   ev.kind == EV_INBOUND && ev.at == 1773027345, "a timestamp as a string of digits (v1)");
	ok(parse(UPSERT("\"fromMe\":null,", ",\"messageTimestamp\":1773027345")) == 0 &&
	   ev.kind == EV_INBOUND && ev.at == 1773027345, "null is absent; the time is read");
	ok(parse(UPSERT("", "")) == 0 && ev.at == 0, "no timestamp: at is 0");
	ok(parse("{\"event\":\"messages.upsert\",\"instance\":\"chip\\ud800\",\"data\":{\"key\":"
		 "{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"id\":\"T1\"}}}") == 0 &&
	   !strcmp(ev.instance, "chip\xef\xbf\xbd"),
	   "a lone surrogate is json-c's U+FFFD, valid text (%s)", ev.instance);
	ok(parse("{\"type\":\"DisconnectedCallback\",\"instanceId\":\"Z1\","
		 "\"momment\":1580163342000}") == 0 && ev.at == 1580163342,
	   "momment in milliseconds");
	ok(parse("{\"type\":\"DisconnectedCallback\",\"instanceId\":\"Z1\","
		 "\"momment\":1580163342}") == 0 && ev.at == 1580163342, "momment in seconds");
	ok(parse(UPSERT("", ",\"messageType\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
			"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
			"\"")) == 0 && strlen(ev.media) == 30,
	   "a long UTF-8 media type is cut between characters");
}

int main(void)
{
	ok(parse("{\"event\":\"messages.upsert\",\"instance\":\"chip01\",\"data\":{\"key\":"
		 "{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"fromMe\":false,\"id\":\"AB1\"},"
		 "\"messageType\":\"conversation\"}}") == 0, "inbound message parses");
	ok(ev.kind == EV_INBOUND, "inbound message is EV_INBOUND");
	is_str(ev.phone, "5511999990001", "sender phone from remoteJid");
	is_str(ev.instance, "chip01", "instance");
	is_str(ev.media, "text", "conversation is text");
	is_str(ev.key, "messages.upsert|chip01|AB1", "identity by message id");

	parse("{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{\"key\":"
	      "{\"remoteJid\":\"13718@lid\",\"remoteJidAlt\":\"5511988887777:3@s.whatsapp.net\","
	      "\"addressingMode\":\"lid\",\"fromMe\":false,\"id\":\"X\"},\"messageType\":\"imageMessage\"}}");
	ok(ev.kind == EV_INBOUND, "lid message with remoteJidAlt is inbound");
	is_str(ev.phone, "5511988887777", "lid: phone from remoteJidAlt, device suffix dropped");
	is_str(ev.media, "image", "imageMessage is image");

	parse("{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{\"key\":"
	      "{\"remoteJid\":\"13718@lid\",\"fromMe\":false,\"id\":\"X\"}}}");
	ok(ev.kind == EV_IGNORED && ev.why, "lid without remoteJidAlt is skipped");

	parse("{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{\"key\":"
	      "{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"fromMe\":true,\"id\":\"X\"}}}");
	ok(ev.kind == EV_OUTBOUND, "a message the chip sent from the phone is outbound");
	is_str(ev.phone, "5511999990001", "outbound: the recipient from remoteJid");
	is_str(ev.key, "out|c|X", "outbound identity: the message id");
	parse("{\"event\":\"send.message\",\"instance\":\"c\",\"data\":{\"key\":"
	      "{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"fromMe\":true,\"id\":\"X\"},"
	      "\"messageType\":\"audioMessage\"}}");
	ok(ev.kind == EV_OUTBOUND && !strcmp(ev.media, "audio"), "send.message is outbound");
	is_str(ev.key, "out|c|X", "send.message and the fromMe upsert share one identity");
	parse("{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{\"key\":"
	      "{\"remoteJid\":\"1203630@g.us\",\"fromMe\":true,\"id\":\"G\"}}}");
	ok(ev.kind == EV_IGNORED, "a group message the chip sent is skipped");

	parse("{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{\"key\":"
	      "{\"remoteJid\":\"1203630@g.us\",\"id\":\"X\"}}}");
	ok(ev.kind == EV_IGNORED, "a group message is skipped");

	parse("{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{\"key\":"
	      "{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"id\":\"\"},\"messageTimestamp\":1773027345}}");
	is_str(ev.key, "messages.upsert|c|5511999990001@s.whatsapp.net|1773027345",
	       "no message id: identity by sender and timestamp");

	ok(parse("{\"event\":\"messages.update\",\"instance\":\"c\",\"data\":{\"keyId\":\"K1\","
		 "\"fromMe\":true,\"status\":\"DELIVERY_ACK\"}}") == 0 && ev.kind == EV_RECEIPT,
	   "receipt parses");
	is_str(ev.message_id, "K1", "receipt message id");
	is_str(ev.key, "messages.update|c|K1|DELIVERY_ACK", "receipt identity includes the status");
	parse("{\"event\":\"messages.update\",\"instance\":\"c\",\"data\":{\"keyId\":\"K1\","
	      "\"fromMe\":false,\"status\":\"READ\"}}");
	ok(ev.kind == EV_IGNORED, "receipt of an inbound message is skipped");
	ok(parse("{\"event\":\"messages.update\",\"instance\":\"c\",\"data\":{\"fromMe\":true}}") == -1,
	   "receipt without keyId is malformed");

	parse("{\"event\":\"connection.update\",\"instance\":\"c\",\"data\":{\"state\":\"close\","
	      "\"statusReason\":403}}");
	ok(ev.kind == EV_CONNECTION && ev.critical && !strcmp(ev.critical, "block"),
	   "close 403 is a block");
	parse("{\"event\":\"connection.update\",\"instance\":\"c\",\"data\":{\"state\":\"close\","
	      "\"statusReason\":401}}");
	ok(ev.critical && !strcmp(ev.critical, "ban"), "close 401 is a ban signal");
	parse("{\"event\":\"connection.update\",\"instance\":\"c\",\"data\":{\"state\":\"close\","
	      "\"statusReason\":428}}");
	ok(ev.kind == EV_CONNECTION && !ev.critical, "close 428 is not critical");
	parse("{\"event\":\"connection.update\",\"instance\":\"c\",\"data\":{\"state\":\"open\","
	      "\"statusReason\":200}}");
	ok(!ev.critical && !strcmp(ev.status, "open"), "open");

	ok(parse("{\"event\":\"qrcode.updated\",\"instance\":\"c\",\"data\":{}}") == 0 &&
	   ev.kind == EV_IGNORED, "other event types are skipped, not malformed");

	ok(parse("{\"event\":") == -1 && strstr(err, "invalid JSON"), "truncated JSON: %s", err);
	ok(parse("[1]") == -1, "an array is malformed");
	ok(parse("{\"event\":\"messages.upsert\",\"data\":{}}") == -1, "no instance is malformed");
	ok(parse("{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{}} x") == -1 &&
	   strstr(err, "trailing"), "trailing data is malformed");
	ok(parse("{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{}}") == -1,
	   "upsert without key is malformed");
	ok(parse("{\"event\":\"connection.update\",\"instance\":\"c\",\"data\":{\"state\":7}}") == -1,
	   "connection.update with a non-string state is malformed");

	/* Z-API callbacks (api-contracts.md section 8) */
	ok(parse("{\"type\":\"ReceivedCallback\",\"instanceId\":\"Z1\",\"messageId\":\"M9\","
		 "\"phone\":\"5511999990002\",\"fromMe\":false,\"momment\":1580163342000,"
		 "\"status\":\"RECEIVED\",\"isGroup\":false,\"text\":{\"message\":\"oi\"}}") == 0 &&
	   ev.kind == EV_INBOUND, "Z-API ReceivedCallback is inbound");
	ok(!strcmp(ev.provider, "zapi") && !strcmp(ev.instance, "Z1") &&
	   !strcmp(ev.phone, "5511999990002") && !strcmp(ev.media, "text"),
	   "Z-API: provider, instance id, phone, media");
	parse("{\"type\":\"ReceivedCallback\",\"instanceId\":\"Z1\",\"messageId\":\"M8\","
	      "\"phone\":\"5511999990002\",\"fromMe\":true,\"image\":{\"imageUrl\":\"x\"}}");
	ok(ev.kind == EV_OUTBOUND && !strcmp(ev.media, "image"), "Z-API fromMe is outbound, image");
	parse("{\"type\":\"ReceivedCallback\",\"instanceId\":\"Z1\",\"messageId\":\"M7\","
	      "\"phone\":\"120363-group\",\"isGroup\":true}");
	ok(ev.kind == EV_IGNORED, "Z-API group message is skipped");
	ok(parse("{\"type\":\"MessageStatusCallback\",\"instanceId\":\"Z1\",\"status\":\"RECEIVED\","
		 "\"ids\":[\"A1\",\"A2\"],\"phone\":\"5511999990002\",\"momment\":1580163342}") == 0 &&
	   ev.kind == EV_RECEIPT && ev.nids == 2 && !strcmp(ev.status, "DELIVERY_ACK"),
	   "Z-API RECEIVED of two ids is a delivery receipt of each");
	{
		char k[600];
		event_receipt_key(&ev, 1, k, sizeof(k));
		is_str(k, "zapi.status|Z1|RECEIVED|A2", "one identity per id");
	}
	parse("{\"type\":\"MessageStatusCallback\",\"instanceId\":\"Z1\",\"status\":\"READ_BY_ME\","
	      "\"ids\":[\"A1\"]}");
	ok(ev.kind == EV_IGNORED, "READ_BY_ME is skipped");
	ok(parse("{\"momment\":1580163342,\"error\":\"Device has been disconnected\","
		 "\"disconnected\":true,\"type\":\"DisconnectedCallback\",\"instanceId\":\"Z1\"}") == 0 &&
	   ev.kind == EV_CONNECTION && !strcmp(ev.status, "close"),
	   "Z-API DisconnectedCallback closes the connection");
	ok(parse("{\"type\":\"ReceivedCallback\",\"phone\":\"1\"}") == -1,
	   "Z-API callback without instanceId is malformed");
	ok(parse("{\"type\":\"MessageStatusCallback\",\"instanceId\":\"Z1\"}") == -1,
	   "status callback without ids is malformed");
	ok(parse("{\"type\":\"PresenceChatCallback\",\"instanceId\":\"Z1\"}") == 0 &&
	   ev.kind == EV_IGNORED, "other Z-API callbacks are skipped");
	typed_reads();
	{	/* the readings pull-messages shares (issue 20) */
		char p[64], m[32];
		ok(event_jid_phone("5511999990001:12@s.whatsapp.net", p, sizeof(p)) == 0 &&
		   !strcmp(p, "5511999990001"), "a JID's phone, device suffix dropped");
		ok(event_jid_phone("120363@g.us", p, sizeof(p)) == -1 && !*p, "a group has no phone");
		ok(event_jid_phone("13718@lid", p, sizeof(p)) == -1, "a LID address has no phone");
		ok(event_jid_phone("status@broadcast", p, sizeof(p)) == -1, "a broadcast has none");
		ok(event_jid_phone("123@s.whatsapp.net", p, sizeof(p)) == -1, "too short a number");
		event_media_type("extendedTextMessage", m, sizeof(m));
		is_str(m, "text", "extendedTextMessage is text");
		event_media_type("audioMessage", m, sizeof(m));
		is_str(m, "audio", "audioMessage is audio");
		event_media_type("", m, sizeof(m));
		is_str(m, "text", "no type is text");
	}
	return done_testing();
}
