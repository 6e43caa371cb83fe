/* Unit tests of common/provider.c: Evolution's response.message in its four
 * shapes, and whose fault every answer shape of api-contracts sections 2, 5
 * and 8 is (table-driven: one row per shape), with its stored text scrubbed
 * of secrets. */
#include "log.h"
#include "provider.h"
#include "tap.h"
#include "validate.h"

#include <string.h>

static enum wa_meaning meaning(const char *body, long status, char *buf)
{
	return evolution_error_meaning(body, status, buf, 300);
}

/* One answer: what the provider sent, and what it must mean. */
static const struct shape {
	const char *what;		/* the shape, as api-contracts names it */
	enum http_class cls;
	long status;
	const char *body;
	enum wa_meaning meaning;
	enum fault fault;
} shapes[] = {
	/* section 2 and 5: Evolution's error envelope */
	{ "2: apikey missing or wrong (401, string message)", HTTP_4XX, 401,
	  "{\"status\":401,\"error\":\"Unauthorized\",\"response\":{\"message\":\"Unauthorized\"}}",
	  WA_UNAUTHORIZED, FAULT_CONFIG },
	{ "1: auth guard 403, the server has no global key", HTTP_4XX, 403,
	  "{\"status\":403,\"error\":\"Forbidden\",\"response\":{\"message\":[\"Missing global api key\","
	  "\"The global api key must be set\"]}}", WA_AUTH_GUARD, FAULT_CONFIG },
	{ "2: instance name unknown (404 does not exist)", HTTP_4XX, 404,
	  "{\"status\":404,\"error\":\"Not Found\",\"response\":{\"message\":[\"The \\\"chip01\\\" "
	  "instance does not exist\"]}}", WA_INSTANCE_GONE, FAULT_CHIP },
	{ "2: route that does not exist (404 Cannot POST)", HTTP_4XX, 404,
	  "{\"status\":404,\"error\":\"Not Found\",\"response\":{\"message\":[\"Cannot POST "
	  "/api/message/sendText/chip01\"]}}", WA_NO_ROUTE, FAULT_CONFIG },
	{ "2: a 404 that is not Evolution's envelope (another server)", HTTP_4XX, 404,
	  "<html><body>404 Not Found</body></html>", WA_NO_ROUTE, FAULT_CONFIG },
	{ "5: v1 body sent to v2 (schema, nested array)", HTTP_4XX, 400,
	  "{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":[[\"instance requires "
	  "property \\\"text\\\"\"]]}}", WA_SCHEMA, FAULT_CONFIG },
	{ "5: v2 body sent to v1 (schema)", HTTP_4XX, 400,
	  "{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":[\"instance requires "
	  "property \\\"textMessage\\\"\"]}}", WA_SCHEMA, FAULT_CONFIG },
	{ "2: malformed JSON body (body-parser)", HTTP_4XX, 400,
	  "{\"status\":400,\"error\":\"Internal Server Error\",\"response\":{\"message\":\"Unexpected "
	  "token } in JSON at position 12\"}}", WA_SCHEMA, FAULT_CONFIG },
	{ "2: number not a string (Invalid format)", HTTP_4XX, 400,
	  "{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":[[\"Invalid format\"]]}}",
	  WA_BAD_CONTENT, FAULT_MESSAGE },
	{ "2: text empty or white space (Text is required)", HTTP_4XX, 400,
	  "{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":[\"Text is required\"]}}",
	  WA_BAD_CONTENT, FAULT_MESSAGE },
	{ "2: recipient not on WhatsApp (array of objects)", HTTP_4XX, 400,
	  "{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":[{\"jid\":"
	  "\"5511999999999@s.whatsapp.net\",\"exists\":false,\"number\":\"5511999999999\"}]}}",
	  WA_NOT_ON_WHATSAPP, FAULT_RECIPIENT },
	{ "5: not on WhatsApp, LID shape seen in the wild", HTTP_4XX, 400,
	  "{\"status\":400,\"response\":{\"message\":[{\"exists\":false,\"jid\":\"83842157310076@lid\","
	  "\"name\":\"my name\",\"number\":\"83842157310076@lid\"}]}}",
	  WA_NOT_ON_WHATSAPP, FAULT_RECIPIENT },
	{ "2: Baileys failure inside the try (400 Error: ...)", HTTP_4XX, 400,
	  "{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":[\"Error: not-acceptable\"]}}",
	  WA_NONE, FAULT_CHIP },
	{ "7: rate-overlimit in a 400", HTTP_4XX, 400,
	  "{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":[\"Error: rate-overlimit\"]}}",
	  WA_RATE_LIMIT, FAULT_CHIP },
	{ "7: rate-overlimit in a 500", HTTP_5XX, 500,
	  "{\"status\":500,\"error\":\"Internal Server Error\",\"response\":{\"message\":[\"Error: "
	  "rate-overlimit\"]}}", WA_RATE_LIMIT, FAULT_CHIP },
	{ "a plain 429", HTTP_4XX, 429, "", WA_RATE_LIMIT, FAULT_CHIP },
	{ "403 from WhatsApp: the chip is restricted", HTTP_4XX, 403,
	  "{\"status\":403,\"error\":\"Forbidden\",\"response\":{\"message\":[\"Error: forbidden\"]}}",
	  WA_RESTRICTED, FAULT_CHIP },
	{ "2: socket closed, raw Error (500, string)", HTTP_5XX, 500,
	  "{\"status\":500,\"error\":\"Internal Server Error\",\"response\":{\"message\":\"Connection Closed\"}}",
	  WA_CONNECTION_CLOSED, FAULT_CHIP },
	{ "2: socket closed, wrapped (500, array)", HTTP_5XX, 500,
	  "{\"status\":500,\"error\":\"Internal Server Error\",\"response\":{\"message\":[\"Error: "
	  "Connection Closed\"]}}", WA_CONNECTION_CLOSED, FAULT_CHIP },
	{ "2: client never started (Cannot read properties)", HTTP_5XX, 500,
	  "{\"status\":500,\"error\":\"Internal Server Error\",\"response\":{\"message\":\"Cannot read "
	  "properties of undefined (reading 'textMessage')\"}}", WA_CLIENT_NOT_STARTED, FAULT_CHIP },
	{ "any other 5xx: the server's", HTTP_5XX, 502, "<html>Bad Gateway</html>",
	  WA_NONE, FAULT_PROVIDER },
	{ "a 500 with the envelope and other words", HTTP_5XX, 500,
	  "{\"status\":500,\"error\":\"Internal Server Error\",\"response\":{\"message\":\"Internal Server Error\"}}",
	  WA_NONE, FAULT_PROVIDER },
	{ "timeout: the provider's, uncertain", HTTP_TIMEOUT, 0, NULL, WA_NONE, FAULT_PROVIDER },
	{ "refused connection: the provider's", HTTP_NETWORK, 0, NULL, WA_NONE, FAULT_PROVIDER },
	/* section 8: Z-API */
	{ "8: Client-Token missing or wrong (null not allowed, 400)", HTTP_4XX, 400,
	  "{\"error\":\"null not allowed\"}", WA_ACCOUNT_TOKEN, FAULT_CONFIG },
	{ "8: Client-Token not allowed, with a 403", HTTP_4XX, 403,
	  "{\"error\":\"null not allowed\"}", WA_ACCOUNT_TOKEN, FAULT_CONFIG },
	{ "8: wrong method (405)", HTTP_4XX, 405, "", WA_NO_ROUTE, FAULT_CONFIG },
	{ "8: missing Content-Type (415)", HTTP_4XX, 415, "", WA_NO_ROUTE, FAULT_CONFIG },
	{ "8: instance id and token mismatch (Instance not found, 400)", HTTP_4XX, 400,
	  "{\"error\":\"Instance not found\"}", WA_INSTANCE_GONE, FAULT_CHIP },
	{ "8: the same with a 404", HTTP_4XX, 404,
	  "{\"error\":\"Instance not found\"}", WA_INSTANCE_GONE, FAULT_CHIP },
	{ "8: expired subscription of this instance", HTTP_4XX, 400,
	  "{\"error\":\"To continue sending a message, you must subscribe to this instance again\"}",
	  WA_NONE, FAULT_CHIP },
};

static void table(void)
{
	size_t i;

	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		const struct shape *t = &shapes[i];
		struct send_result r;

		memset(&r, 0, sizeof(r));
		provider_classify(t->cls, t->status, t->body, "Operation timed out", NULL, &r);
		ok(r.meaning == t->meaning && r.fault == t->fault && r.why && *r.why,
		   "%s: %s, %s (%s)", t->what, wa_meaning_name(t->meaning),
		   fault_name(t->fault), r.why ? r.why : "no why");
		if (r.meaning != t->meaning || r.fault != t->fault)
			printf("#   got %s, %s\n", wa_meaning_name(r.meaning), fault_name(r.fault));
		ok(provider_fault(&r) == r.fault, "%s: provider_fault agrees", t->what);
	}
}

/* What each side does downstream. */
static void sides(void)
{
	struct send_result r;

	memset(&r, 0, sizeof(r));
	provider_classify(HTTP_TIMEOUT, 0, NULL, "timed out", NULL, &r);
	ok(r.uncertain, "a timeout is uncertain");
	provider_classify(HTTP_4XX, 400, "{\"error\":\"null not allowed\"}", NULL, NULL, &r);
	ok(provider_refused_key(&r) && !r.uncertain, "Z-API not allowed: chipctl's set-up");
	ok(!fault_outcome(r.fault), "configuration: the message waits");
	provider_classify(HTTP_4XX, 404, "{\"response\":{\"message\":[\"Cannot POST /x\"]}}",
			  NULL, NULL, &r);
	ok(provider_refused_key(&r), "a route that does not exist: set-up too");
	provider_classify(HTTP_4XX, 400, "{\"response\":{\"message\":[\"Text is required\"]}}",
			  NULL, NULL, &r);
	is_str(fault_outcome(r.fault), "FAILED_INVALID_MESSAGE", "the message's: final at once");
	is_str(fault_reason_code(r.fault), "INVALID_MESSAGE", "with its reason code");
	ok(!provider_refused_key(&r), "the message's fault is not the set-up's");
	provider_classify(HTTP_4XX, 404, "{\"response\":{\"message\":[\"The \\\"c\\\" instance "
			  "does not exist\"]}}", NULL, NULL, &r);
	ok(provider_chip_disconnected(&r), "instance gone: recorded as its connection state");
	provider_classify(HTTP_5XX, 500, "{\"response\":{\"message\":\"Cannot read properties of "
			  "undefined\"}}", NULL, NULL, &r);
	ok(provider_chip_disconnected(&r), "client never started: its connection state");
	provider_classify(HTTP_4XX, 403, "{\"response\":{\"message\":[\"Error: forbidden\"]}}",
			  NULL, NULL, &r);
	ok(!provider_chip_disconnected(&r), "a restriction is a cooldown, not a disconnection");
	is_str(fault_name(FAULT_CONFIG), "configuration", "fault names: configuration");
	is_str(fault_name(FAULT_MESSAGE), "message", "fault names: message");
	is_str(fault_outcome(FAULT_RECIPIENT), "FAILED_INVALID_NUMBER", "recipient: invalid number");
	ok(fault_name(FAULT_NONE) == NULL, "no fault: no name");
}

/* Provider text is stored and alerted: no configured secret, no chip token. */
static void scrubbed(void)
{
	struct send_result r;

	log_add_secret("evo-SECRET-key-123");
	memset(&r, 0, sizeof(r));
	provider_classify(HTTP_4XX, 401, "{\"status\":401,\"response\":{\"message\":\"bad apikey "
			  "evo-SECRET-key-123\"}}", NULL, NULL, &r);
	ok(!strstr(r.error, "evo-SECRET-key-123") && strstr(r.error, "[REDACTED]"),
	   "a configured secret echoed by the provider is redacted: %s", r.error);
	provider_classify(HTTP_4XX, 400, "{\"error\":\"token zapi-chip-tok-9 is invalid\"}",
			  NULL, "zapi-chip-tok-9", &r);
	ok(!strstr(r.error, "zapi-chip-tok-9") && strstr(r.error, "[REDACTED]"),
	   "the chip's own Z-API token is redacted: %s", r.error);
	provider_classify(HTTP_NETWORK, 0, NULL,
			  "Failed to connect to https://hooks.slack.com/services/T0/B0/XyZsecret",
			  NULL, &r);
	ok(!strstr(r.error, "XyZsecret"), "a webhook URL in curl's words is redacted: %s", r.error);
	log_clear_secrets();
}

static void shapes_of_message(void)
{
	char buf[300];

	ok(meaning("{\"status\":401,\"error\":\"Unauthorized\",\"response\":{\"message\":\"Unauthorized\"}}",
		   401, buf) == WA_UNAUTHORIZED, "401 string message: unauthorized");
	is_str(buf, "HTTP 401: Unauthorized", "string shape flattened");
	meaning("{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":[[\"instance requires "
		"property \\\"text\\\"\"]]}}", 400, buf);
	is_str(buf, "HTTP 400: instance requires property \"text\"", "nested arrays flattened");
	meaning("{\"status\":400,\"response\":{\"message\":[{\"jid\":\"x\",\"exists\":false,"
		"\"number\":\"5511999999999\"}]}}", 400, buf);
	is_str(buf, "HTTP 400: not on WhatsApp: 5511999999999", "the number is named");
	ok(meaning("{\"status\":400,\"response\":{\"message\":[{\"jid\":\"x\",\"exists\":true,\"number\":\"1\"}]}}",
		   400, buf) == WA_NONE, "exists:true is not the recipient's fault");
	ok(meaning("{\"status\":400,\"response\":{\"message\":[\"Error: Connection Closed\"]}}",
		   400, buf) == WA_NONE, "a 400 saying Connection Closed is not a closed session");
	meaning("{\"status\":403,\"response\":{\"message\":[\"Missing global api key\",\"The global "
		"api key must be set\"]}}", 403, buf);
	is_str(buf, "HTTP 403: Missing global api key; The global api key must be set",
	       "the auth guard's words");
	ok(meaning("<html>403</html>", 403, buf) == WA_RESTRICTED,
	   "an unreadable 403 still counts as a restriction");
	is_str(wa_meaning_name(WA_AUTH_GUARD), "auth_guard", "meaning names");
	is_str(wa_meaning_name(WA_INSTANCE_GONE), "instance_gone", "meaning names");
	ok(meaning("<html>oops", 502, buf) == WA_NONE, "garbage: no meaning");
	ok(strstr(buf, "unreadable body (10 bytes)") != NULL, "garbage is described, not echoed");
	ok(meaning("{\"response\":{\"message\":[[[[[[[[[[[[[[[[[[[[\"deep\"]]]]]]]]]]]]]]]]]]]}}", 400, buf) == WA_NONE,
	   "nesting deeper than the parser allows is rejected, not a crash");
	ok(meaning("", 500, buf) == WA_NONE, "an empty body");
	ok(meaning(NULL, 500, buf) == WA_NONE, "no body at all");
}

/* What the guard and queue enqueue refuse before any send. */
static void texts(void)
{
	char big[VALIDATE_TEXT_MAX + 2];

	is_str(validate_message_text("   ", 3), "blank: nothing but white space", "spaces only: blank");
	is_str(validate_message_text("", 0), "blank: nothing but white space", "empty: blank");
	is_str(validate_message_text(" \t\r\n", 4), "blank: nothing but white space", "ASCII white space: blank");
	is_str(validate_message_text("\xc2\xa0\xe3\x80\x80\xe2\x80\x83", 8), "blank: nothing but white space",
	       "Unicode spaces (NBSP, ideographic, em): blank, as JavaScript's trim() sees it");
	ok(validate_message_text(" oi ", 4) == NULL, "text with spaces around: fine");
	ok(validate_message_text("\xc2\xa0x", 3) == NULL, "NBSP then a letter: fine");
	memset(big, 'a', sizeof(big));
	ok(validate_message_text(big, VALIDATE_TEXT_MAX) == NULL, "10000 bytes: fine");
	is_str(validate_message_text(big, VALIDATE_TEXT_MAX + 1), "longer than 10000 bytes",
	       "10001 bytes: too long");
	is_str(validate_message_text("a\xff", 2), "not UTF-8 text", "broken UTF-8 refused");
}

/* A hostile answer: its words are stored, so whatever they hold comes out
 * as UTF-8 text without NUL (escaped, not cut short); an id that is not
 * text is no id. */
static void hostile(void)
{
	struct send_request req = { "evolution", "chip01", NULL, NULL, "5511999990001", "oi", 0 };
	struct send_result r;
	struct http_response resp;
	char buf[300], big[2048];
	size_t i;

	ok(evolution_message_text("{\"response\":{\"message\":[\"Connection Closed\\u0000x\","
				  "\"caf\xe9\"]}}", buf, sizeof(buf)) == 0 &&
	   !strcmp(buf, "Connection Closed\\x00x; caf\\xe9"),
	   "a NUL and a Latin-1 byte in response.message: escaped, kept: %s", buf);
	memset(&r, 0, sizeof(r));
	provider_classify(HTTP_5XX, 500, "{\"response\":{\"message\":\"Connection Closed\\u0000\xff\"}}",
			  NULL, NULL, &r);
	ok(r.meaning == WA_CONNECTION_CLOSED && validate_utf8(r.error, strlen(r.error)),
	   "still read for its meaning, stored as text: %s", r.error);
	provider_classify(HTTP_4XX, 400, "{\"error\":\"Instance not found\\u0000\"}", NULL, NULL, &r);
	ok(r.meaning == WA_INSTANCE_GONE && strstr(r.error, "Instance not found\\x00"),
	   "Z-API's error with a NUL: read whole, escaped: %s", r.error);
	meaning("{\"response\":{\"message\":[{\"exists\":false,\"number\":\"55\\u0000\xc0\"}]}}", 400, buf);
	is_str(buf, "HTTP 400: not on WhatsApp: 55\\x00\\xc0", "a hostile number escaped");
	strcpy(big, "{\"response\":{\"message\":\"");
	for (i = 0; i < 600; i++)
		strcat(big, "\xc3\xa9");
	strcat(big, "\"}}");
	provider_classify(HTTP_4XX, 400, big, NULL, NULL, &r);
	ok(validate_utf8(r.error, strlen(r.error)), "a long accented message cut at a whole character");
	static const char *const ids[] = {
		"{\"key\":{\"id\":\"AB\\u0000CD\"}}", "{\"key\":{\"id\":\"AB\xff\"}}",
		"{\"key\":{\"id\":5}}", "{\"key\":{\"id\":\"\"}}",
	};
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		memset(&resp, 0, sizeof(resp));
		resp.cls = HTTP_OK;
		resp.status = 201;
		resp.body = (char *)ids[i];
		resp.len = strlen(ids[i]);
		provider_result(&req, &resp, &r);
		ok(r.cls == HTTP_OK && !r.message_id[0] && strstr(r.error, "no message id"),
		   "a 201 whose key.id is not text: sent, without an id (%s)", ids[i]);
	}
	resp.body = (char *)"{\"key\":{\"id\":\"3EB0\xc3\xa9\"}}";
	resp.len = strlen(resp.body);
	provider_result(&req, &resp, &r);
	is_str(r.message_id, "3EB0\xc3\xa9", "a UTF-8 id is taken");
}

int main(void)
{
	table();
	sides();
	scrubbed();
	shapes_of_message();
	texts();
	hostile();
	return done_testing();
}
