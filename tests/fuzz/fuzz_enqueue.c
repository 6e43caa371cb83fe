/* libFuzzer target: the values `queue enqueue` takes (common/validate.c). */
#include "validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), phone[32];

	memcpy(s, data, size);
	s[size] = '\0';
	validate_phone(s, phone, sizeof(phone));
	validate_text((const char *)data, size);
	free(s);
	return 0;
}
