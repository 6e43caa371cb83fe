/*
 * evolution_find: asking an Evolution server what it kept
 * (POST /chat/findMessages/{instance}, api-contracts section 11).
 *
 * Owns the request (URL with the instance name as an escaped path segment,
 * the apikey header, the JSON body with its filters), the parsing of the 200
 * answer into typed records, the Brazilian-number rule (the two JID forms
 * of one number, api-contracts section 5), and the one test of whether a
 * record is a given send of ours. Pure: it builds and reads, the caller
 * sends (http_request or http_multi) and decides; nothing here touches the
 * database.
 *
 * Three answers, never two: found, not found, could not look. Any non-200,
 * a timeout, a body that is not the section 11 shape: could not look (never
 * "not sent"). A record with a field of the wrong type is malformed: it is
 * counted, never guessed at, and a lookup that met one cannot say "not
 * found".
 */
#ifndef CHIPCTL_EVOLUTION_FIND_H
#define CHIPCTL_EVOLUTION_FIND_H

#include "http.h"

#include <stddef.h>

/*
 * How far before our send start a record's timestamp may lie and still be
 * our send. The server stamps a message with its own clock when WhatsApp
 * accepted it, after our send started; only a skew between the two hosts'
 * clocks can put it earlier. 60 s covers a badly drifting VM, yet stays
 * below the pacing gap's reach for repeated identical texts to one number
 * over several minutes. The lookup window is widened by the same amount.
 */
#define EVO_FIND_CLOCK_SLACK_S 60

/* Timestamps outside this range are absurd (milliseconds, zero, garbage). */
#define EVO_FIND_TS_MIN 1000000000LL	/* 2001-09-09 */
#define EVO_FIND_TS_MAX 4102444800LL	/* 2100-01-01 */

struct evo_find_query {
	const char *remote_jid;	/* exact key.remoteJid, or NULL */
	int from_me;		/* 1: only our own messages; 0: no filter
				 * (the server ignores fromMe:false anyway) */
	const char *key_id;	/* exact key.id, or NULL */
	long long ts_from;	/* unix seconds; both > 0 or both 0 (the */
	long long ts_to;	/* server filters only when both are given) */
	int page_size;		/* "offset": 1..1000, 0 = 50 */
	int page;		/* from 1; 0 = 1 */
};

/* A ready request: send with method "POST", url, headers, body. */
struct evo_find_request {
	char *url;
	char *body;
	char *apikey_header;
	const char *headers[3];	/* NULL-terminated, for http_request/http_multi_add */
};

/* Best receipt first: PLAYED/READ > DELIVERY_ACK > SERVER_ACK > PENDING > ERROR. */
enum evo_receipt {
	EVO_RECEIPT_NONE,
	EVO_RECEIPT_ERROR,
	EVO_RECEIPT_PENDING,
	EVO_RECEIPT_SERVER_ACK,
	EVO_RECEIPT_DELIVERY_ACK,
	EVO_RECEIPT_READ,
	EVO_RECEIPT_PLAYED,
};

struct evo_record {
	char key_id[128];
	char remote_jid[128];
	int from_me;
	long long timestamp;	/* unix seconds, within EVO_FIND_TS_MIN..MAX */
	char message_type[64];	/* "" when absent */
	char *text;		/* conversation or extendedTextMessage.text; NULL if none */
	enum evo_receipt receipt;	/* the best in MessageUpdate[] */
};

struct evo_find_result {
	int ok;			/* 1: a 200 in the section 11 shape */
	long status;		/* HTTP status, 0 when none was read */
	char error[300];	/* when !ok: why we could not look */
	long total, pages, current_page;
	struct evo_record *records;	/* the well-formed ones, in answer order */
	size_t n;
	size_t n_malformed;
	char malformed_why[160];	/* the first malformed record's fault */
};

/* Build the request for instance on the server at base_url. Returns 0, or
 * -1 with why in err (a query the server would misread: one timestamp of
 * the pair, a page size out of range, a name longer than the key fields). */
int evo_find_request_build(struct evo_find_request *req, const char *base_url,
			   const char *apikey, const char *instance,
			   const struct evo_find_query *q, char *err, size_t errsz);
void evo_find_request_free(struct evo_find_request *req);

/* Read a finished request. Returns 0 when res->ok, -1 (could not look,
 * res->error says why; no provider text beyond the envelope's words). */
int evo_find_parse(const struct http_response *resp, struct evo_find_result *res);
/* The same from a status and a body (tests, replays). */
int evo_find_parse_body(long status, const char *body, size_t len,
			struct evo_find_result *res);
void evo_find_result_free(struct evo_find_result *res);

const char *evo_receipt_name(enum evo_receipt r);

/*
 * The JID forms under which a number's messages may be stored, the form
 * the server stores first: "5531991234567" gives 553191234567@s.whatsapp.net
 * and 5531991234567@s.whatsapp.net (formatBRNumber: 55, DDD >= 31, first
 * subscriber digit >= 7 drops the fifth digit); "553191234567" gives the
 * same two; anything else one form. number: digits, optionally with a
 * "+"; returns the count (1 or 2), or -1 when it is not a number.
 */
int evo_jid_forms(const char *number, char forms[2][64]);

/*
 * The digit forms of the person behind a JID or a number, the stored form
 * first: "553191234567@s.whatsapp.net" gives 553191234567 and
 * 5531991234567 (to match a doctor's number in either form). Returns the
 * count (1 or 2), or -1 for a group, a @lid or anything not a number.
 */
int evo_number_forms(const char *jid_or_number, char forms[2][32]);

/* Is r our send of text to number, started at send_start (unix s)? fromMe,
 * to either JID form, the same text byte for byte, stamped no earlier than
 * send_start - EVO_FIND_CLOCK_SLACK_S. */
int evo_record_is_our_send(const struct evo_record *r, const char *number,
			   const char *text, long long send_start);

enum evo_lookup {
	EVO_FOUND,
	EVO_NOT_FOUND,
	EVO_UNSURE,		/* could not look, a malformed record, or pages unread */
};

/* Decide from one answer; *idx is the matching record when found. Not
 * found only from an ok answer with no malformed record whose last page
 * was read (current_page >= pages). */
enum evo_lookup evo_find_our_send(const struct evo_find_result *res,
				  const char *number, const char *text,
				  long long send_start, size_t *idx);

/* The query for one uncertain send: fromMe, to jid, from send_start minus
 * the slack to now plus the slack. */
void evo_find_query_for_send(struct evo_find_query *q, const char *jid,
			     long long send_start, long long now);

/*
 * Does the server keep messages at all (DATABASE_SAVE_DATA_NEW_MESSAGE)?
 * Ask for one message known sent, by its key.id (evo_find_query_by_id),
 * long enough ago that a late store has happened, and read the answer:
 * 1 it keeps them (found), 0 it keeps nothing (an ok answer without it),
 * -1 could not look (or a malformed record: no verdict).
 */
void evo_find_query_by_id(struct evo_find_query *q, const char *key_id);
int evo_find_keeps_messages(const struct evo_find_result *res, const char *key_id);

#endif
