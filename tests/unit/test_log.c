/* Unit tests of common/log.c: redaction and line formats. */
#include "log.h"
#include "tap.h"

#include <stdlib.h>
#include <unistd.h>

/* Capture what log_msg writes to stderr. */
static char captured[8192];

static void capture_begin(FILE **saved, char *path)
{
	int fd = mkstemp(path);

	close(fd);
	*saved = stderr;
	stderr = fopen(path, "w+");
}

static const char *capture_end(FILE *saved, const char *path)
{
	size_t n;

	fflush(stderr);
	rewind(stderr);
	n = fread(captured, 1, sizeof(captured) - 1, stderr);
	captured[n] = '\0';
	fclose(stderr);
	stderr = saved;
	unlink(path);
	return captured;
}

int main(void)
{
	char out[512], path[64];
	FILE *saved;
	const char *line;

	redact("postgresql://chipctl:s3cretpw@db.example:5432/app", out, sizeof(out));
	is_str(out, "postgresql://chipctl:[REDACTED]@db.example:5432/app",
	       "password in a URL is redacted");
	redact("postgresql://chipctl@db.example/app", out, sizeof(out));
	is_str(out, "postgresql://chipctl@db.example/app", "a URL without password is kept");
	redact("host=db password=abc123 user=x", out, sizeof(out));
	is_str(out, "host=db password=[REDACTED] user=x", "conninfo password is redacted");
	redact("post to https://hooks.slack.com/services/T01/B02/xyz failed", out, sizeof(out));
	is_str(out, "post to https://hooks.slack.com/services/[REDACTED] failed",
	       "slack webhook path is redacted");
	log_add_secret("APIKEY-123456");
	log_add_secret("abc");	/* too short to register */
	redact("apikey: APIKEY-123456, again APIKEY-123456; abc", out, sizeof(out));
	is_str(out, "apikey: [REDACTED], again [REDACTED]; abc",
	       "registered secrets are redacted everywhere, short ones ignored");
	log_add_secret("APIKEY-123456-LONGER");
	redact("k=APIKEY-123456-LONGER", out, sizeof(out));
	is_str(out, "k=[REDACTED]", "the longer of two overlapping secrets is removed whole");

	strcpy(path, "/tmp/chipctl-logtest-XXXXXX");
	log_set_context("unit", "run-1");
	log_set_format("logfmt");
	capture_begin(&saved, path);
	log_info("hello world", "count=%d", 42, "name=%s", "a b\"c", "ratio=%.2f", 0.5,
		 "big=%lld", 1234567890123LL, "size=%zu", (size_t)7, "empty=%s", "");
	line = capture_end(saved, path);
	ok(strstr(line, " level=info cmd=unit run=run-1 msg=\"hello world\" count=42"
		  " name=\"a b\\\"c\" ratio=0.50 big=1234567890123 size=7 empty=\"\"\n") != NULL,
	   "logfmt line has level, cmd, run, quoted values");
	if (!strstr(line, "count=42"))
		printf("# line: %s", line);

	log_set_format("json");
	strcpy(path, "/tmp/chipctl-logtest-XXXXXX");
	capture_begin(&saved, path);
	log_warn("with secret APIKEY-123456", "n=%d", 3, "s=%s", "x\ny");
	line = capture_end(saved, path);
	ok(strstr(line, "\"level\":\"warn\"") && strstr(line, "\"run\":\"run-1\"") &&
	   strstr(line, "\"n\":3") && strstr(line, "\"s\":\"x\\ny\"") &&
	   strstr(line, "[REDACTED]") && !strstr(line, "APIKEY-123456"),
	   "json line has typed fields and redacted secrets");

	log_set_level(LOG_WARN);
	strcpy(path, "/tmp/chipctl-logtest-XXXXXX");
	capture_begin(&saved, path);
	log_info("dropped");
	line = capture_end(saved, path);
	is_str(line, "", "lines below the level are dropped");

	ok(log_set_format("xml") == -1, "an unknown format is refused");
	log_clear_secrets();
	return done_testing();
}
