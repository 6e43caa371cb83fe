/* libFuzzer target: one webhook event line as `chipctl ingest` parses it.
 * Besides not crashing: an event that parses carries only UTF-8 text and a
 * plausible time, and one that does not is never something to apply
 * (ingest writes only for a parsed event of a kind other than ignored). */
#include "events.h"
#include "validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1796400000LL	/* 2026-12-04 */

static void text(const char *s)
{
	if (!validate_utf8(s, strlen(s)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct webhook_event ev;
	char err[256];
	int i;

	if (event_parse((const char *)data, size, NOW, &ev, err, sizeof(err)) != 0) {
		if (ev.kind != EV_IGNORED)
			abort();
		return 0;
	}
	text(ev.event);
	text(ev.instance);
	text(ev.key);
	text(ev.phone);
	text(ev.message_id);
	text(ev.media);
	text(ev.status);
	for (i = 0; i < ev.nids; i++)
		text(ev.ids[i]);
	if (ev.at && (ev.at < 1230768000LL || ev.at > NOW + 86400))
		abort();
	for (i = 0; i < ev.nids; i++) {
		char key[640];
		event_receipt_key(&ev, i, key, sizeof(key));
		text(key);
	}
	return 0;
}
