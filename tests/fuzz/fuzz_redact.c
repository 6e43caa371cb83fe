/* libFuzzer target: the scrubbing of secrets from log lines (common/log.c). */
#include "log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), out[512];

	memcpy(in, data, size);
	in[size] = '\0';
	if (!getenv("CHIPCTL_FUZZ_NO_SECRET"))
		log_add_secret("s3cr3t-key");
	redact(in, out, sizeof(out));
	free(in);
	return 0;
}
