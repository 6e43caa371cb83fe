/* libFuzzer target: one webhook event line as `chipctl ingest` parses it. */
#include "events.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct webhook_event ev;
	char err[256];

	event_parse((const char *)data, size, &ev, err, sizeof(err));
	return 0;
}
