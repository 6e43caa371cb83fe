/* libFuzzer target: one webhook event line as `chipctl ingest` parses it. */
#include "trust.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trust_event ev;
	char err[256];

	trust_parse_event((const char *)data, size, &ev, err, sizeof(err));
	return 0;
}
