/* Unit tests of common/provider.c: Evolution's response.message in its four
 * shapes, and what each failure means. */
#include "provider.h"
#include "tap.h"

#include <string.h>

static enum wa_meaning meaning(const char *body, long status, char *buf)
{
	return evolution_error_meaning(body, status, buf, 300);
}

int main(void)
{
	char buf[300];

	ok(meaning("{\"status\":401,\"error\":\"Unauthorized\",\"response\":{\"message\":\"Unauthorized\"}}",
		   401, buf) == WA_UNAUTHORIZED, "401 string message: unauthorized");
	is_str(buf, "HTTP 401: Unauthorized", "string shape flattened");

	ok(meaning("{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":[\"Error: rate-overlimit\"]}}",
		   400, buf) == WA_RATE_LIMIT, "array of strings: rate-overlimit in a 400");
	ok(meaning("{\"status\":500,\"error\":\"Internal Server Error\",\"response\":{\"message\":[\"Error: rate-overlimit\"]}}",
		   500, buf) == WA_RATE_LIMIT, "rate-overlimit in a 500 counts as a 429 too");

	ok(meaning("{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":[[\"instance requires property \\\"text\\\"\"]]}}",
		   400, buf) == WA_NONE, "nested arrays: a validation error means nothing special");
	is_str(buf, "HTTP 400: instance requires property \"text\"", "nested arrays flattened");

	ok(meaning("{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":[{\"jid\":\"5511999999999@s.whatsapp.net\",\"exists\":false,\"number\":\"5511999999999\"}]}}",
		   400, buf) == WA_NOT_ON_WHATSAPP, "array of objects with exists:false: not on WhatsApp");
	is_str(buf, "HTTP 400: not on WhatsApp: 5511999999999", "the number is named");
	ok(meaning("{\"status\":400,\"response\":{\"message\":[{\"jid\":\"x\",\"exists\":true,\"number\":\"1\"}]}}",
		   400, buf) == WA_NONE, "exists:true is not the recipient's fault");

	ok(meaning("{\"status\":500,\"error\":\"Internal Server Error\",\"response\":{\"message\":\"Connection Closed\"}}",
		   500, buf) == WA_CONNECTION_CLOSED, "500 Connection Closed (string): the chip's session");
	ok(meaning("{\"status\":500,\"error\":\"Internal Server Error\",\"response\":{\"message\":[\"Error: Connection Closed\"]}}",
		   500, buf) == WA_CONNECTION_CLOSED, "500 Connection Closed (array) too");
	ok(meaning("{\"status\":400,\"response\":{\"message\":[\"Error: Connection Closed\"]}}",
		   400, buf) == WA_NONE, "a 400 saying Connection Closed is not a closed session");

	/* A 403 is the chip's restriction, unless it is Evolution's auth
	 * guard (the server has no global key): that is the set-up's fault. */
	ok(meaning("{\"status\":403,\"error\":\"Forbidden\",\"response\":{\"message\":[\"Error: forbidden\"]}}",
		   403, buf) == WA_RESTRICTED, "403 from WhatsApp: the chip is restricted");
	is_str(buf, "HTTP 403: Error: forbidden", "the restriction's words");
	ok(meaning("{\"status\":403,\"error\":\"Forbidden\",\"response\":{\"message\":[\"Missing global api key\",\"The global api key must be set\"]}}",
		   403, buf) == WA_AUTH_GUARD, "403 Missing global api key: the auth guard, not the chip");
	is_str(buf, "HTTP 403: Missing global api key; The global api key must be set",
	       "the auth guard's words");
	ok(meaning("<html>403</html>", 403, buf) == WA_RESTRICTED,
	   "an unreadable 403 still counts as a restriction");
	is_str(wa_meaning_name(WA_AUTH_GUARD), "auth_guard", "meaning names");
	is_str(wa_meaning_name(WA_RESTRICTED), "restricted", "meaning names");

	ok(meaning("<html>oops", 502, buf) == WA_NONE, "garbage: no meaning");
	ok(strstr(buf, "unreadable body (10 bytes)") != NULL, "garbage is described, not echoed");
	ok(meaning("{\"response\":{\"message\":[[[[[[[[[[[[[[[[[[[[\"deep\"]]]]]]]]]]]]]]]]]]]}}", 400, buf) == WA_NONE,
	   "nesting deeper than the parser allows is rejected, not a crash");
	ok(meaning("{\"error\":\"To continue sending a message, you must subscribe to this instance again\"}",
		   400, buf) == WA_NONE && strstr(buf, "subscribe"), "Z-API error shape read");
	ok(meaning("", 500, buf) == WA_NONE, "an empty body");
	return done_testing();
}
