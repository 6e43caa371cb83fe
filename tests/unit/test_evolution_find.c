/* Unit tests of common/evolution_find.c and evolution_match.c: the request,
 * the answers of api-contracts section 11 and the section 2 envelopes, the
 * JID forms of a Brazilian number and the "our send" matcher. */
#include "evolution_find.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define T0 1733306400LL	/* 2024-12-04T10:00:00Z */

/* One record, with room to break any field. */
#define REC(key, ts, msg, ups) \
	"{\"id\":\"clx1\",\"key\":" key ",\"pushName\":\"Você\",\"messageType\":\"conversation\"," \
	"\"message\":" msg ",\"messageTimestamp\":" ts ",\"instanceId\":\"i\",\"source\":\"android\"," \
	"\"contextInfo\":null,\"MessageUpdate\":" ups "}"
#define KEY_OK "{\"id\":\"3EB0A\",\"fromMe\":true,\"remoteJid\":\"553191234567@s.whatsapp.net\"}"
#define MSG_OK "{\"conversation\":\"Olá!\"}"
#define PAGE(total, pages, cur, recs) \
	"{\"messages\":{\"total\":" total ",\"pages\":" pages ",\"currentPage\":" cur \
	",\"records\":[" recs "]}}"

struct parse_case {
	const char *name;
	long status;
	const char *body;
	int ok;			/* the answer could be read */
	size_t n, malformed;
	const char *error;	/* substring of res.error, or of malformed_why */
};

static const struct parse_case cases[] = {
	{ "a well-formed record", 200,
	  PAGE("1", "1", "1", REC(KEY_OK, "1733306400", MSG_OK, "[{\"status\":\"DELIVERY_ACK\"}]")),
	  1, 1, 0, NULL },
	{ "nothing kept: total 0", 200, PAGE("0", "0", "1", ""), 1, 0, 0, NULL },
	{ "fromMe as the string \"true\" is malformed, not true", 200,
	  PAGE("1", "1", "1", REC("{\"id\":\"a\",\"fromMe\":\"true\",\"remoteJid\":\"x\"}",
				  "1733306400", MSG_OK, "[]")), 1, 0, 1, "fromMe" },
	{ "a timestamp in milliseconds is absurd", 200,
	  PAGE("1", "1", "1", REC(KEY_OK, "1733306400000", MSG_OK, "[]")), 1, 0, 1, "out of range" },
	{ "a timestamp string (v1 style) is malformed", 200,
	  PAGE("1", "1", "1", REC(KEY_OK, "\"1733306400\"", MSG_OK, "[]")), 1, 0, 1, "messageTimestamp" },
	{ "a timestamp with a fraction is malformed", 200,
	  PAGE("1", "1", "1", REC(KEY_OK, "1733306400.5", MSG_OK, "[]")), 1, 0, 1, "messageTimestamp" },
	{ "conversation as a number is malformed", 200,
	  PAGE("1", "1", "1", REC(KEY_OK, "1733306400", "{\"conversation\":5}", "[]")), 1, 0, 1, "text" },
	{ "text with an embedded NUL is malformed", 200,
	  PAGE("1", "1", "1", REC(KEY_OK, "1733306400", "{\"conversation\":\"a\\u0000b\"}", "[]")),
	  1, 0, 1, "text" },
	{ "a key id with a NUL inside is malformed, not cut", 200,
	  PAGE("1", "1", "1", REC("{\"id\":\"3EB0A\\u0000x\",\"fromMe\":true,\"remoteJid\":\"x\"}",
				  "1733306400", MSG_OK, "[]")), 1, 0, 1, "key" },
	{ "a key id that is not UTF-8 is malformed", 200,
	  PAGE("1", "1", "1", REC("{\"id\":\"3EB0\xff\",\"fromMe\":true,\"remoteJid\":\"x\"}",
				  "1733306400", MSG_OK, "[]")), 1, 0, 1, "key" },
	{ "MessageUpdate not an array", 200,
	  PAGE("1", "1", "1", REC(KEY_OK, "1733306400", MSG_OK, "{\"status\":\"READ\"}")),
	  1, 0, 1, "MessageUpdate" },
	{ "a receipt status that is not a string", 200,
	  PAGE("1", "1", "1", REC(KEY_OK, "1733306400", MSG_OK, "[{\"status\":3}]")),
	  1, 0, 1, "MessageUpdate" },
	{ "key missing", 200, PAGE("1", "1", "1", "{\"messageTimestamp\":1733306400}"), 1, 0, 1, "key" },
	{ "a record that is a string", 200, PAGE("2", "1", "1", "\"x\"," REC(KEY_OK, "1733306400", MSG_OK, "null")),
	  1, 1, 1, "record 0" },
	{ "media: no text, still a record", 200,
	  PAGE("1", "1", "1", REC(KEY_OK, "1733306400", "{\"imageMessage\":{}}", "[]")), 1, 1, 0, NULL },
	{ "records not an array", 200,
	  "{\"messages\":{\"total\":1,\"pages\":1,\"currentPage\":1,\"records\":{}}}", 0, 0, 0, "records" },
	{ "total as a string", 200,
	  "{\"messages\":{\"total\":\"1\",\"pages\":1,\"currentPage\":1,\"records\":[]}}", 0, 0, 0, "total" },
	{ "no messages object (a v1 array answer)", 200, "[]", 0, 0, 0, "messages" },
	{ "garbage", 200, "<html>oops", 0, 0, 0, "not JSON" },
	{ "cut off mid-body", 200, "{\"messages\":{\"total\":1", 0, 0, 0, "not JSON" },
	{ "bytes after the JSON", 200, PAGE("0", "0", "1", "") "x", 0, 0, 0, "after" },
	{ "too deep", 200, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	  0, 0, 0, "not JSON" },
	{ "unknown instance: 404 is could not look", 404,
	  "{\"status\":404,\"error\":\"Not Found\",\"response\":{\"message\":[\"The \\\"chip01\\\" instance does not exist\"]}}",
	  0, 0, 0, "HTTP 404: The \"chip01\" instance does not exist" },
	{ "bad key: 401 (string message)", 401,
	  "{\"status\":401,\"error\":\"Unauthorized\",\"response\":{\"message\":\"Unauthorized\"}}",
	  0, 0, 0, "HTTP 401: Unauthorized" },
	{ "500 Connection Closed (array)", 500,
	  "{\"status\":500,\"error\":\"Internal Server Error\",\"response\":{\"message\":[\"Error: Connection Closed\"]}}",
	  0, 0, 0, "HTTP 500: Error: Connection Closed" },
	{ "a 201 is not the findMessages answer", 201, PAGE("0", "0", "1", ""), 0, 0, 0, "HTTP 201" },
	{ "an empty 502", 502, "", 0, 0, 0, "HTTP 502" },
};

static void parse_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *c = &cases[i];
		struct evo_find_result res;
		int rc = evo_find_parse_body(c->status, c->body, strlen(c->body), &res);
		const char *where = c->ok ? res.malformed_why : res.error;

		ok((rc == 0) == c->ok && res.ok == c->ok && res.n == c->n &&
		   res.n_malformed == c->malformed &&
		   (!c->error || strstr(where, c->error)),
		   "%s (ok=%d n=%zu malformed=%zu: %s)", c->name, res.ok, res.n,
		   res.n_malformed, where);
		evo_find_result_free(&res);
	}
}

static void record_fields(void)
{
	struct evo_find_result res;
	const char *body = PAGE("3", "2", "1",
		REC(KEY_OK, "1733306400", MSG_OK,
		    "[{\"status\":\"SERVER_ACK\"},{\"status\":\"READ\"},{\"status\":\"DELIVERY_ACK\"}]") ","
		REC("{\"id\":\"B2\",\"fromMe\":false,\"remoteJid\":\"5511988887777@s.whatsapp.net\"}",
		    "1733306500", "{\"extendedTextMessage\":{\"text\":\"oi doutor\"}}",
		    "[{\"status\":\"ERROR\"},{\"status\":\"WHATEVER\"}]"));

	ok(evo_find_parse_body(200, body, strlen(body), &res) == 0 && res.n == 2,
	   "two records read");
	is_str(res.records[0].key_id, "3EB0A", "key.id");
	is_str(res.records[0].remote_jid, "553191234567@s.whatsapp.net", "key.remoteJid");
	ok(res.records[0].from_me == 1 && res.records[1].from_me == 0, "fromMe both ways");
	ok(res.records[0].timestamp == T0, "messageTimestamp in seconds");
	is_str(res.records[0].text, "Olá!", "text from message.conversation");
	is_str(res.records[1].text, "oi doutor", "text from extendedTextMessage.text");
	is_str(res.records[0].message_type, "conversation", "messageType");
	ok(res.records[0].receipt == EVO_RECEIPT_READ, "best receipt: READ over DELIVERY_ACK");
	ok(res.records[1].receipt == EVO_RECEIPT_ERROR, "an unknown status proves nothing");
	ok(res.total == 3 && res.pages == 2 && res.current_page == 1, "total, pages, currentPage");
	ok(evo_find_our_send(&res, "5531991234567", "Olá!", T0, NULL) == EVO_FOUND,
	   "found on page 1 of 2");
	ok(evo_find_our_send(&res, "5531991234567", "outro", T0, NULL) == EVO_UNSURE,
	   "not on page 1 of 2: unsure, page 2 unread");
	evo_find_result_free(&res);
}

static void request(void)
{
	struct evo_find_request req;
	struct evo_find_query q;
	char err[200];

	evo_find_query_for_send(&q, "553191234567@s.whatsapp.net", T0, T0 + 30);
	ok(evo_find_request_build(&req, "http://evo:8080", "k3y", "chip 01/../x", &q,
				  err, sizeof(err)) == 0, "request built");
	is_str(req.url, "http://evo:8080/chat/findMessages/chip%2001%2F%2E%2E%2Fx",
	       "the instance name is one escaped path segment");
	is_str(req.headers[0], "apikey: k3y", "apikey header");
	is_str(req.headers[1], "Content-Type: application/json", "JSON content type");
	ok(req.headers[2] == NULL, "headers NULL-terminated");
	is_str(req.body, "{\"where\":{\"key\":{\"remoteJid\":\"553191234567@s.whatsapp.net\","
	       "\"fromMe\":true},\"messageTimestamp\":{\"gte\":\"2024-12-04T09:59:00Z\","
	       "\"lte\":\"2024-12-04T10:01:30Z\"}},\"offset\":50,\"page\":1}",
	       "body: jid, fromMe, the window widened by the slack, page size, page");
	evo_find_request_free(&req);

	memset(&q, 0, sizeof(q));
	q.key_id = "3EB0\"A";
	ok(evo_find_request_build(&req, "http://e", "k", "c", &q, err, sizeof(err)) == 0, "by id");
	is_str(req.body, "{\"where\":{\"key\":{\"id\":\"3EB0\\\"A\"}},\"offset\":50,\"page\":1}",
	       "fromMe false is left out; the id is JSON-escaped; no timestamp pair");
	evo_find_request_free(&req);

	q.ts_from = T0;
	ok(evo_find_request_build(&req, "http://e", "k", "c", &q, err, sizeof(err)) < 0 &&
	   strstr(err, "both"), "one end of the timestamp pair is refused");
	q.ts_to = T0 - 1;
	ok(evo_find_request_build(&req, "http://e", "k", "c", &q, err, sizeof(err)) < 0,
	   "reversed ends refused");
	q.ts_from = q.ts_to = 0;
	q.page_size = 5000;
	ok(evo_find_request_build(&req, "http://e", "k", "c", &q, err, sizeof(err)) < 0,
	   "a page size over 1000 refused");
}

struct jid_case {
	const char *number;
	int n;
	const char *first, *second;
};

static const struct jid_case jids[] = {
	{ "5531991234567", 2, "553191234567@s.whatsapp.net", "5531991234567@s.whatsapp.net" },
	{ "+5531991234567", 2, "553191234567@s.whatsapp.net", "5531991234567@s.whatsapp.net" },
	{ "553191234567", 2, "553191234567@s.whatsapp.net", "5531991234567@s.whatsapp.net" },
	{ "5511991234567", 1, "5511991234567@s.whatsapp.net", "" },	/* DDD 11 < 31 keeps its 9 */
	{ "5531961234567", 1, "5531961234567@s.whatsapp.net", "" },	/* subscriber digit 6 < 7 */
	{ "553131234567", 1, "553131234567@s.whatsapp.net", "" },	/* a landline */
	{ "5521999999999", 1, "5521999999999@s.whatsapp.net", "" },	/* DDD 21 */
	{ "5585987654321", 2, "558587654321@s.whatsapp.net", "5585987654321@s.whatsapp.net" },
	{ "14155550123", 1, "14155550123@s.whatsapp.net", "" },
	{ "", -1, NULL, NULL },
	{ "55 31 99123", -1, NULL, NULL },
	{ "5531991234567@s.whatsapp.net", -1, NULL, NULL },
};

static void jid_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(jids) / sizeof(jids[0]); i++) {
		char f[2][64];
		int n = evo_jid_forms(jids[i].number, f);

		ok(n == jids[i].n && (n < 0 || (!strcmp(f[0], jids[i].first) &&
						(n < 2 || !strcmp(f[1], jids[i].second)))),
		   "JID forms of '%s': %d%s%s%s%s", jids[i].number, n,
		   n > 0 ? " " : "", n > 0 ? f[0] : "", n > 1 ? " " : "", n > 1 ? f[1] : "");
	}
}

static void number_forms(void)
{
	char f[2][32];

	ok(evo_number_forms("553191234567@s.whatsapp.net", f) == 2 &&
	   !strcmp(f[0], "553191234567") && !strcmp(f[1], "5531991234567"),
	   "a stored short JID gives both numbers (%s %s)", f[0], f[1]);
	ok(evo_number_forms("5511987654321@s.whatsapp.net", f) == 1 &&
	   !strcmp(f[0], "5511987654321") && f[1][0] == '\0', "a JID with one form");
	ok(evo_number_forms("5531991234567", f) == 2 && !strcmp(f[0], "553191234567"),
	   "a bare number too");
	ok(evo_number_forms("120363025246125486@g.us", f) == -1, "a group has no number");
	ok(evo_number_forms("83842157310076@lid", f) == -1, "a @lid has no number");
	ok(evo_number_forms("abc@s.whatsapp.net", f) == -1, "not digits");
}

static void keeps_messages(void)
{
	struct evo_find_query q;
	struct evo_find_request req;
	struct evo_find_result res;
	char err[100];
	const char *found = PAGE("1", "1", "1", REC(KEY_OK, "1733306400", MSG_OK, "[]"));
	const char *none = PAGE("0", "0", "1", "");

	evo_find_query_by_id(&q, "3EB0A");
	ok(evo_find_request_build(&req, "http://e", "k", "c", &q, err, sizeof(err)) == 0, "probe built");
	is_str(req.body, "{\"where\":{\"key\":{\"id\":\"3EB0A\"}},\"offset\":1,\"page\":1}",
	       "the probe asks for one message by key.id");
	evo_find_request_free(&req);
	evo_find_parse_body(200, found, strlen(found), &res);
	ok(evo_find_keeps_messages(&res, "3EB0A") == 1, "found: the server keeps messages");
	evo_find_result_free(&res);
	evo_find_parse_body(200, none, strlen(none), &res);
	ok(evo_find_keeps_messages(&res, "3EB0A") == 0, "total 0 for a message known sent: keeps nothing");
	evo_find_result_free(&res);
	evo_find_parse_body(500, "", 0, &res);
	ok(evo_find_keeps_messages(&res, "3EB0A") == -1, "could not look: no verdict");
	evo_find_result_free(&res);
}

static void matcher(void)
{
	struct evo_record r;
	struct evo_find_result res;

	memset(&r, 0, sizeof(r));
	strcpy(r.remote_jid, "553191234567@s.whatsapp.net");
	r.from_me = 1;
	r.timestamp = T0 + 2;
	r.text = (char *)"Olá!";
	ok(evo_record_is_our_send(&r, "5531991234567", "Olá!", T0), "stored short, sent long");
	ok(evo_record_is_our_send(&r, "553191234567", "Olá!", T0), "stored short, sent short");
	ok(!evo_record_is_our_send(&r, "5531991234567", "Olá", T0), "a different text");
	ok(!evo_record_is_our_send(&r, "5531991234568", "Olá!", T0), "another number");
	r.timestamp = T0 - EVO_FIND_CLOCK_SLACK_S;
	ok(evo_record_is_our_send(&r, "5531991234567", "Olá!", T0), "within the clock slack");
	r.timestamp--;
	ok(!evo_record_is_our_send(&r, "5531991234567", "Olá!", T0), "before the slack: an older send");
	r.timestamp = T0;
	r.from_me = 0;
	ok(!evo_record_is_our_send(&r, "5531991234567", "Olá!", T0), "an inbound reply is not ours");
	r.from_me = 1;
	r.text = NULL;
	ok(!evo_record_is_our_send(&r, "5531991234567", "Olá!", T0), "no text never matches");

	memset(&res, 0, sizeof(res));
	ok(evo_find_our_send(&res, "5531991234567", "x", T0, NULL) == EVO_UNSURE,
	   "could not look: unsure, never not found");
	res.ok = 1;
	res.current_page = 1;
	ok(evo_find_our_send(&res, "5531991234567", "x", T0, NULL) == EVO_NOT_FOUND,
	   "an empty, complete answer: not found");
	res.n_malformed = 1;
	ok(evo_find_our_send(&res, "5531991234567", "x", T0, NULL) == EVO_UNSURE,
	   "a malformed record might have been ours: unsure");
}

static void transport(void)
{
	struct http_response resp;
	struct evo_find_result res;

	memset(&resp, 0, sizeof(resp));
	resp.cls = HTTP_TIMEOUT;
	strcpy(resp.error, "timed out after 5000 ms");
	ok(evo_find_parse(&resp, &res) < 0 && strstr(res.error, "timeout: timed out"),
	   "a timeout is could not look: %s", res.error);
	resp.cls = HTTP_OK;
	resp.status = 200;
	resp.body = (char *)PAGE("0", "0", "1", "");
	resp.len = strlen(resp.body);
	ok(evo_find_parse(&resp, &res) == 0 && res.ok, "a 200 through http_response");
	evo_find_result_free(&res);
	is_str(evo_receipt_name(EVO_RECEIPT_DELIVERY_ACK), "DELIVERY_ACK", "receipt names");
}

int main(void)
{
	parse_table();
	record_fields();
	request();
	jid_table();
	number_forms();
	keeps_messages();
	matcher();
	transport();
	return done_testing();
}
