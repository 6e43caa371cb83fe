/*
 * provider: sending one text through a chip's provider, and what the answer
 * means.
 *
 * Owns the Evolution API v2 sendText request (apikey header, the instance
 * name as an escaped path segment) and the Z-API send-text request
 * (Client-Token header), the parsing of their answers (the message id of a
 * success; Evolution's response.message in all four shapes: a string, an
 * array of strings, nested arrays, an array of OnWhatsAppDto objects), and
 * the one home of "whose fault" (SPEC section 8, step 3): every answer
 * shape of api-contracts sections 2, 5 and 8 mapped to a meaning, a side
 * and the reason, by one rule: a fault is the chip's only if another chip
 * would not get the same answer (provider_fault.c). Provider error text
 * is mapped to a meaning there and nowhere else, and scrubbed of every
 * configured secret (log.c's redact, plus the chip's own Z-API token)
 * before anyone can store or alert it. Nothing here touches the database.
 */
#ifndef CHIPCTL_PROVIDER_H
#define CHIPCTL_PROVIDER_H

#include "http.h"

struct config;

enum wa_meaning {
	WA_NONE,		/* nothing special: the class decides (a 4xx is the chip's) */
	WA_NOT_ON_WHATSAPP,	/* the recipient's fault: the chip is not punished */
	WA_RATE_LIMIT,		/* counts as a 429 */
	WA_CONNECTION_CLOSED,	/* the chip's session is down, not the server */
	WA_UNAUTHORIZED,	/* 401: the account's key, not the chip */
	WA_AUTH_GUARD,		/* 403 from the auth guard: configuration too */
	WA_RESTRICTED,		/* any other 403: WhatsApp restricted the chip */
	WA_CLIENT_NOT_STARTED,	/* the instance's client never started: the chip's */
	WA_ACCOUNT_TOKEN,	/* Z-API "not allowed": the account's Client-Token */
	WA_NO_ROUTE,		/* 404 "Cannot POST ...", 405, 415: a wrong URL */
	WA_SCHEMA,		/* the server's schema refuses our body for any chip */
	WA_BAD_CONTENT,		/* "Text is required", "Invalid format": the message's */
	WA_INSTANCE_GONE,	/* 404 "instance does not exist": the chip's */
};

/* Whose fault a failed send is (SPEC section 8, step 3): would another
 * chip get the same answer? */
enum fault {
	FAULT_NONE,		/* sent */
	FAULT_CHIP,		/* only this chip gets it: 403, 429, a Baileys 400,
				 * its session or instance down or gone */
	FAULT_PROVIDER,		/* the server: timeout, refused connection, other 5xx */
	FAULT_CONFIG,		/* chipctl's set-up: credentials, URL, API version */
	FAULT_MESSAGE,		/* the message's content: fails at once, no chip pays */
	FAULT_RECIPIENT,	/* not on WhatsApp */
};

struct send_request {
	const char *provider;		/* "evolution" or "zapi" */
	const char *instance_name;	/* Evolution instance */
	const char *zapi_instance_id;
	const char *zapi_token;
	const char *number;		/* digits */
	const char *text;
	int typing_ms;			/* "typing..." first (provider_typing_ms), 0: none */
};

/* One send as a ready HTTP request (for http_request or http_multi_add). */
struct provider_call {
	char *url;
	char *body;
	char *auth;
	const char *headers[3];	/* NULL-terminated, pointing into the call */
	long timeout_ms;	/* the provider's timeout plus the typing time */
};

struct send_result {
	enum http_class cls;
	long status;
	enum wa_meaning meaning;
	double latency_ms;
	long retry_after_s;	/* from a Retry-After header, or -1 */
	enum fault fault;
	const char *why;	/* why that side, in a few words (static), or "" */
	int uncertain;		/* no answer to a request that left (a timeout, a cut
				 * connection): it may have been delivered */
	char message_id[128];	/* provider's id of the sent message, or "" */
	char error[300];	/* one line: status and the provider's words */
};

/* How long the provider shows "typing..." before a text (SPEC section 8):
 * send.typing_ms_per_char per character, clamped to send.typing_min_ms and
 * send.typing_max_ms; 0 when typing is off. */
int provider_typing_ms(const struct config *cfg, const char *text);

/* The request of a send (typing included: Evolution's delay in ms, Z-API's
 * delayTyping in whole seconds 1 to 15), and what its answer means (r may
 * be changed: a 2xx cut off mid-body is a success). */
void provider_call_build(const struct config *cfg, const struct send_request *req,
			 struct provider_call *call);
void provider_call_free(struct provider_call *call);
void provider_result(const struct send_request *req, struct http_response *r,
		     struct send_result *res);

/*
 * Send (build, one blocking request, result). Fills res and returns res->cls. A 2xx whose body has no message id
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

/* The same as "HTTP status: text", and what it means for sending (Evolution's
 * and Z-API's error bodies alike). */
enum wa_meaning evolution_error_meaning(const char *body, long status,
					char *buf, size_t bufsz);

const char *wa_meaning_name(enum wa_meaning m);

/* A provider's body as JSON (depth-bounded), or NULL when it is not JSON;
 * the caller puts it. */
struct json_object *provider_json(const char *body);

/*
 * Classify a failed answer (cls other than HTTP_OK; status and body as
 * received, body may be NULL): fills res's cls, status, meaning, fault,
 * why, uncertain and error (one line, scrubbed of every configured secret
 * and of secret, the chip's own token, when not NULL). provider_send calls
 * it for every failure; exposed so every shape can be tested without HTTP.
 * transport_error: curl's words for a timeout or network error.
 */
void provider_classify(enum http_class cls, long status, const char *body,
		       const char *transport_error, const char *secret,
		       struct send_result *res);

/* Did the provider refuse chipctl's set-up (credentials, a route that does
 * not exist, a body its schema refuses)? That is configuration: it counts
 * against no breaker and no chip, raises provider_auth, and messages wait. */
int provider_refused_key(const struct send_result *res);

/* Is the chip's session or instance down or gone (Connection Closed,
 * client never started, instance does not exist)? Recorded as its
 * connection state, which sync and demotion read, not as a cooldown. */
int provider_chip_disconnected(const struct send_result *res);

/* Whose fault the answer is, from its class and meaning. */
enum fault provider_fault(const struct send_result *res);
/* "chip", "provider", "configuration", "message", "recipient", or NULL
 * for FAULT_NONE: the values of send_attempts.fault. */
const char *fault_name(enum fault f);
/* The final outcome of a failure that ends the message at once
 * (FAILED_INVALID_NUMBER, FAILED_INVALID_MESSAGE) and its reason code, or
 * NULL when another chip or a later try may still take it. */
const char *fault_outcome(enum fault f);
const char *fault_reason_code(enum fault f);

#endif
