/* libFuzzer target: Evolution's and Z-API's error bodies (common/provider.c). */
#include "provider.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 400, 401, 403, 404, 429, 500, 502 };
	char *body = malloc(size + 1), buf[300], text[64];
	struct send_result r;
	long status = size ? statuses[data[0] % 7] : 400;

	memcpy(body, data, size);
	body[size] = '\0';
	evolution_error_meaning(body, status, buf, sizeof(buf));
	evolution_message_text(body, text, sizeof(text));
	/* the whole classification, scrubbing included */
	provider_classify(status >= 500 ? HTTP_5XX : HTTP_4XX, status, body, NULL, "tok-1234", &r);
	free(body);
	return 0;
}
