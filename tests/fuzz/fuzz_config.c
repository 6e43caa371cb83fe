/* libFuzzer target: a config file as config_load reads it (common/config.c). */
#include "config.h"
#include "log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct config cfg;
	FILE *f;

	log_set_level(LOG_QUIET);
	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/chipctl-fuzz-config-%d", (int)getpid());
	f = fopen(path, "w");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if (config_load(&cfg, path, 0) == 0)
		config_free(&cfg);
	unlink(path);
	log_clear_secrets();
	return 0;
}
