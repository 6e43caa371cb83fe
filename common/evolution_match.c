/*
 * evolution_match: the two JID forms of a Brazilian number and whether a
 * stored record is one of our sends (see evolution_find.h). The rule
 * follows the server's formatBRNumber (createJid.ts), which drops the
 * fifth digit of a 13-digit 55 DD N XXXXXXXX when DDD >= 31 and the first
 * subscriber digit is >= 7.
 */
#include "evolution_find.h"

#include <stdio.h>
#include <string.h>

static const char jid_suffix[] = "@s.whatsapp.net";

static int all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

/* DDD >= 31 and subscriber digit >= 7: a mobile the server stores short. */
static int br_mobile(const char *d, char subscriber_first)
{
	int ddd = (d[2] - '0') * 10 + (d[3] - '0');

	return d[0] == '5' && d[1] == '5' && ddd >= 31 && subscriber_first >= '7';
}

int evo_jid_forms(const char *number, char forms[2][64])
{
	char d[32];
	size_t n;

	if (!number)
		return -1;
	if (*number == '+')
		number++;
	n = strlen(number);
	if (n >= sizeof(d) - 1 || !all_digits(number, n))
		return -1;
	memcpy(d, number, n + 1);
	if (n == 13 && br_mobile(d, d[5])) {
		/* 55 DD N XXXXXXXX: stored as 55 DD XXXXXXXX */
		snprintf(forms[0], 64, "%.4s%s%s", d, d + 5, jid_suffix);
		snprintf(forms[1], 64, "%s%s", d, jid_suffix);
		return 2;
	}
	if (n == 12 && br_mobile(d, d[4])) {
		/* 55 DD XXXXXXXX: also sent as 55 DD 9 XXXXXXXX */
		snprintf(forms[0], 64, "%s%s", d, jid_suffix);
		snprintf(forms[1], 64, "%.4s9%s%s", d, d + 4, jid_suffix);
		return 2;
	}
	snprintf(forms[0], 64, "%s%s", d, jid_suffix);
	forms[1][0] = '\0';
	return 1;
}

int evo_number_forms(const char *jid_or_number, char forms[2][32])
{
	char digits[32], jids[2][64];
	const char *at = strchr(jid_or_number ? jid_or_number : "", '@');
	size_t len;
	int i, n;

	if (!jid_or_number)
		return -1;
	if (at && strcmp(at, jid_suffix))
		return -1;	/* a group, a @lid, a broadcast: no phone number */
	len = at ? (size_t)(at - jid_or_number) : strlen(jid_or_number);
	if (len >= sizeof(digits))
		return -1;
	memcpy(digits, jid_or_number, len);
	digits[len] = '\0';
	n = evo_jid_forms(digits, jids);
	for (i = 0; i < n; i++) {
		size_t dl = strlen(jids[i]) - (sizeof(jid_suffix) - 1);

		memcpy(forms[i], jids[i], dl);
		forms[i][dl] = '\0';
	}
	if (n == 1)
		forms[1][0] = '\0';
	return n;
}

int evo_record_is_our_send(const struct evo_record *r, const char *number,
			   const char *text, long long send_start)
{
	char forms[2][64];
	int i, n = evo_jid_forms(number, forms);

	if (n < 0 || !r->from_me || !r->text || !text || strcmp(r->text, text))
		return 0;
	if (r->timestamp < send_start - EVO_FIND_CLOCK_SLACK_S)
		return 0;
	for (i = 0; i < n; i++)
		if (!strcmp(r->remote_jid, forms[i]))
			return 1;
	return 0;
}

enum evo_lookup evo_find_our_send(const struct evo_find_result *res,
				  const char *number, const char *text,
				  long long send_start, size_t *idx)
{
	size_t i;

	if (!res->ok)
		return EVO_UNSURE;
	for (i = 0; i < res->n; i++) {
		if (evo_record_is_our_send(&res->records[i], number, text, send_start)) {
			if (idx)
				*idx = i;
			return EVO_FOUND;
		}
	}
	if (res->n_malformed > 0 || res->current_page < res->pages)
		return EVO_UNSURE;
	return EVO_NOT_FOUND;
}

void evo_find_query_for_send(struct evo_find_query *q, const char *jid,
			     long long send_start, long long now)
{
	memset(q, 0, sizeof(*q));
	q->remote_jid = jid;
	q->from_me = 1;
	q->ts_from = send_start - EVO_FIND_CLOCK_SLACK_S;
	q->ts_to = (now > send_start ? now : send_start) + EVO_FIND_CLOCK_SLACK_S;
	q->page_size = 50;
	q->page = 1;
}

void evo_find_query_by_id(struct evo_find_query *q, const char *key_id)
{
	memset(q, 0, sizeof(*q));
	q->key_id = key_id;
	q->page_size = 1;
	q->page = 1;
}

int evo_find_keeps_messages(const struct evo_find_result *res, const char *key_id)
{
	size_t i;

	if (!res->ok)
		return -1;
	for (i = 0; i < res->n; i++)
		if (!strcmp(res->records[i].key_id, key_id))
			return 1;
	return res->n_malformed ? -1 : 0;
}
