/* Unit tests of the webhook event parsing in common/trust.c. */
#include "tap.h"
#include "trust.h"

static struct trust_event ev;
static char err[256];

static int parse(const char *line)
{
	err[0] = '\0';
	return trust_parse_event(line, strlen(line), &ev, err, sizeof(err));
}

int main(void)
{
	ok(parse("{\"event\":\"messages.upsert\",\"instance\":\"chip01\",\"data\":{\"key\":"
		 "{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"fromMe\":false,\"id\":\"AB1\"},"
		 "\"messageType\":\"conversation\"}}") == 0, "inbound message parses");
	ok(ev.kind == TEV_INBOUND, "inbound message is TEV_INBOUND");
	is_str(ev.phone, "5511999990001", "sender phone from remoteJid");
	is_str(ev.instance, "chip01", "instance");
	is_str(ev.media, "text", "conversation is text");
	is_str(ev.key, "messages.upsert|chip01|AB1", "identity by message id");

	parse("{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{\"key\":"
	      "{\"remoteJid\":\"13718@lid\",\"remoteJidAlt\":\"5511988887777:3@s.whatsapp.net\","
	      "\"addressingMode\":\"lid\",\"fromMe\":false,\"id\":\"X\"},\"messageType\":\"imageMessage\"}}");
	ok(ev.kind == TEV_INBOUND, "lid message with remoteJidAlt is inbound");
	is_str(ev.phone, "5511988887777", "lid: phone from remoteJidAlt, device suffix dropped");
	is_str(ev.media, "image", "imageMessage is image");

	parse("{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{\"key\":"
	      "{\"remoteJid\":\"13718@lid\",\"fromMe\":false,\"id\":\"X\"}}}");
	ok(ev.kind == TEV_IGNORED && ev.why, "lid without remoteJidAlt is skipped");

	parse("{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{\"key\":"
	      "{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"fromMe\":true,\"id\":\"X\"}}}");
	ok(ev.kind == TEV_IGNORED, "a message from the chip itself is skipped");

	parse("{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{\"key\":"
	      "{\"remoteJid\":\"1203630@g.us\",\"id\":\"X\"}}}");
	ok(ev.kind == TEV_IGNORED, "a group message is skipped");

	parse("{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{\"key\":"
	      "{\"remoteJid\":\"5511999990001@s.whatsapp.net\",\"id\":\"\"},\"messageTimestamp\":17}}");
	is_str(ev.key, "messages.upsert|c|5511999990001@s.whatsapp.net|17",
	       "no message id: identity by sender and timestamp");

	ok(parse("{\"event\":\"messages.update\",\"instance\":\"c\",\"data\":{\"keyId\":\"K1\","
		 "\"fromMe\":true,\"status\":\"DELIVERY_ACK\"}}") == 0 && ev.kind == TEV_RECEIPT,
	   "receipt parses");
	is_str(ev.message_id, "K1", "receipt message id");
	is_str(ev.key, "messages.update|c|K1|DELIVERY_ACK", "receipt identity includes the status");
	parse("{\"event\":\"messages.update\",\"instance\":\"c\",\"data\":{\"keyId\":\"K1\","
	      "\"fromMe\":false,\"status\":\"READ\"}}");
	ok(ev.kind == TEV_IGNORED, "receipt of an inbound message is skipped");
	ok(parse("{\"event\":\"messages.update\",\"instance\":\"c\",\"data\":{\"fromMe\":true}}") == -1,
	   "receipt without keyId is malformed");

	parse("{\"event\":\"connection.update\",\"instance\":\"c\",\"data\":{\"state\":\"close\","
	      "\"statusReason\":403}}");
	ok(ev.kind == TEV_CONNECTION && ev.critical && !strcmp(ev.critical, "block"),
	   "close 403 is a block");
	parse("{\"event\":\"connection.update\",\"instance\":\"c\",\"data\":{\"state\":\"close\","
	      "\"statusReason\":401}}");
	ok(ev.critical && !strcmp(ev.critical, "ban"), "close 401 is a ban signal");
	parse("{\"event\":\"connection.update\",\"instance\":\"c\",\"data\":{\"state\":\"close\","
	      "\"statusReason\":428}}");
	ok(ev.kind == TEV_CONNECTION && !ev.critical, "close 428 is not critical");
	parse("{\"event\":\"connection.update\",\"instance\":\"c\",\"data\":{\"state\":\"open\","
	      "\"statusReason\":200}}");
	ok(!ev.critical && !strcmp(ev.status, "open"), "open");

	ok(parse("{\"event\":\"qrcode.updated\",\"instance\":\"c\",\"data\":{}}") == 0 &&
	   ev.kind == TEV_IGNORED, "other event types are skipped, not malformed");

	ok(parse("{\"event\":") == -1 && strstr(err, "invalid JSON"), "truncated JSON: %s", err);
	ok(parse("[1]") == -1, "an array is malformed");
	ok(parse("{\"event\":\"messages.upsert\",\"data\":{}}") == -1, "no instance is malformed");
	ok(parse("{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{}} x") == -1 &&
	   strstr(err, "trailing"), "trailing data is malformed");
	ok(parse("{\"event\":\"messages.upsert\",\"instance\":\"c\",\"data\":{}}") == -1,
	   "upsert without key is malformed");
	ok(parse("{\"event\":\"connection.update\",\"instance\":\"c\",\"data\":{\"state\":7}}") == -1,
	   "connection.update with a non-string state is malformed");
	return done_testing();
}
