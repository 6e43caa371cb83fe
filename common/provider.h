/*
 * provider: sending one text through a chip's provider, and what the answer
 * means.
 *
 * Owns the Evolution API v2 sendText request (apikey header, the instance
 * name as an escaped path segment) and the Z-API send-text request
 * (Client-Token header), the parsing of their answers (the message id of a
 * success; Evolution's response.message in all four shapes: a string, an
 * array of strings, nested arrays, an array of OnWhatsAppDto objects), and
 * the WhatsApp meaning of a failure: the recipient is not on WhatsApp,
 * WhatsApp throttled us (rate-overlimit, in a 400 or a 500), the chip's
 * session is closed or its client never started, WhatsApp restricted the
 * chip (a 403), or the key was refused (a 401, or the 403 of Evolution's
 * auth guard, "Missing global api key", which is the server's set-up and
 * never the chip's); and, once, whose fault a failure is (the chip's, the
 * provider's or the recipient's), which the attempt stores and everything
 * downstream reads. Provider error text is mapped to a meaning here and
 * nowhere else. Nothing here touches the database.
 */
#ifndef CHIPCTL_PROVIDER_H
#define CHIPCTL_PROVIDER_H

#include "http.h"

struct config;

enum wa_meaning {
	WA_NONE,
	WA_NOT_ON_WHATSAPP,	/* the recipient's fault: the chip is not punished */
	WA_RATE_LIMIT,		/* counts as a 429 */
	WA_CONNECTION_CLOSED,	/* the chip's session is down, not the server */
	WA_UNAUTHORIZED,	/* 401: configuration, not the chip */
	WA_AUTH_GUARD,		/* 403 from the auth guard: configuration too */
	WA_RESTRICTED,		/* any other 403: WhatsApp restricted the chip */
	WA_CLIENT_NOT_STARTED,	/* the instance's client never started: the chip's */
};

/* Whose fault a failed send is (SPEC section 8, step 3). */
enum fault {
	FAULT_NONE,		/* sent */
	FAULT_CHIP,		/* 403, 429, a 400 but not-on-WhatsApp, Connection Closed */
	FAULT_PROVIDER,		/* timeout, refused connection, other 5xx, 401 */
	FAULT_RECIPIENT,	/* not on WhatsApp */
};

struct send_request {
	const char *provider;		/* "evolution" or "zapi" */
	const char *instance_name;	/* Evolution instance */
	const char *zapi_instance_id;
	const char *zapi_token;
	const char *number;		/* digits */
	const char *text;
};

struct send_result {
	enum http_class cls;
	long status;
	enum wa_meaning meaning;
	double latency_ms;
	long retry_after_s;	/* from a Retry-After header, or -1 */
	enum fault fault;
	int uncertain;		/* a timeout: it may have been delivered */
	char message_id[128];	/* provider's id of the sent message, or "" */
	char error[300];	/* one line: status and the provider's words */
};

/*
 * Send. Fills res and returns res->cls. A 2xx whose body has no message id
 * (garbage, cut off mid-body, larger than the cap) is still a success: the
 * provider accepted the message, and sending it again could deliver it
 * twice; res->error then says so.
 */
enum http_class provider_send(struct http_client *http, const struct config *cfg,
			      const struct send_request *req, struct send_result *res);

/* Flatten Evolution's response.message (any of its four shapes; or
 * Z-API's "error") into one line in buf. Returns 1 when it holds a
 * recipient that is not on WhatsApp, 0 otherwise, -1 when the body is not
 * such an envelope (then buf says how long it was, never what it held). */
int evolution_message_text(const char *body, char *buf, size_t bufsz);

/* The same as "HTTP status: text", and what it means for sending. */
enum wa_meaning evolution_error_meaning(const char *body, long status,
					char *buf, size_t bufsz);

const char *wa_meaning_name(enum wa_meaning m);

/* Did the provider refuse our credentials (a 401, or the auth guard's 403)?
 * That is configuration: it counts against no breaker and no chip. */
int provider_refused_key(const struct send_result *res);

/* Whose fault the answer is, from its class and meaning. */
enum fault provider_fault(const struct send_result *res);
/* "chip", "provider", "recipient", or NULL for FAULT_NONE. */
const char *fault_name(enum fault f);

#endif
