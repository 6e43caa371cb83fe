/* Unit tests of the webhook event parsing in common/events.c. */
#include "tap.h"
#include "events.h"

static struct webhook_event ev;
static char err[256];

static int parse(const char *line)
{
	err[0] = '\0';
	return event_parse(line, strlen(line), &ev, err, sizeof(err));
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
	      "{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"id\":\"\"},\"messageTimestamp\":17}}");
	is_str(ev.key, "messages.upsert|c|5511999990001@s.whatsapp.net|17",
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
		 "\"ids\":[\"A1\",\"A2\"],\"phone\":\"5511999990002\",\"momment\":1}") == 0 &&
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
