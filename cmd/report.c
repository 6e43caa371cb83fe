/* chipctl report: the pool's week on one page, an HTML file (issue 12). */
#include "builtin.h"
#include "db.h"
#include "log.h"
#include "numparse.h"
#include "report.h"
#include "strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CHIPCTL_VERSION
#define CHIPCTL_VERSION "0.0.0"
#endif

const char usage_report[] =
	"usage: chipctl report [--html FILE] [--days N]\n"
	"\n"
	"Write the pool's last N days as one self-contained HTML page: the pool\n"
	"now (status, trust and level, connection, breaker, cooldown, recovery\n"
	"phase, sent and errors in 24 h), the trust history of the 20 chips with\n"
	"the lowest trust over the level bands, with demotions and promotions\n"
	"marked, the pool's trust levels per day, the queue from\n"
	"metrics_snapshots (due, processing, sent and errors per hour, the oldest\n"
	"due message's wait), and breaker transitions and alerts with how long\n"
	"each held. Inline CSS and SVG: no script, no network; it opens from\n"
	"disk in any browser.\n"
	"\n"
	"  --html FILE  write the page to FILE (atomically: a temporary file\n"
	"               renamed over it) instead of stdout\n"
	"  --days N     the window, 1 to 30 days (default 7)\n"
	"\n"
	"Exit: 0 done, 64 usage, 73 the file cannot be written, 75 database\n"
	"unreachable, 78 configuration error or refused credentials, 70 internal\n"
	"error.\n";

static int write_file(const char *path, const struct strbuf *page)
{
	struct strbuf tmp = STRBUF_INIT;
	FILE *f;
	int ok;

	sb_addf(&tmp, "%s.%d.tmp", path, (int)getpid());
	if (!(f = fopen(sb_str(&tmp), "w"))) {
		log_error("cannot write the report", "file=%s", sb_str(&tmp),
			  "error=%s", strerror(errno));
		sb_free(&tmp);
		return EX_CANTCREAT;
	}
	ok = fwrite(page->buf, 1, page->len, f) == page->len;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(sb_str(&tmp), path)) {
		log_error("cannot write the report", "file=%s", path, "error=%s", strerror(errno));
		unlink(sb_str(&tmp));
		sb_free(&tmp);
		return EX_CANTCREAT;
	}
	sb_free(&tmp);
	log_info("report written", "file=%s", path, "bytes=%zu", page->len);
	return 0;
}

int cmd_report(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = {
		{ "html", required_argument, 0, 'H' },
		{ "days", required_argument, 0, 'd' },
		CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	struct strbuf page = STRBUF_INIT, cmdline = STRBUF_INIT;
	struct report_opts o = { 7, 20, NULL, CHIPCTL_VERSION };
	const char *html = NULL, *days = NULL;
	int c, i, rc;

	while ((c = cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts)) != -1) {
		if (c == 'H')
			html = optarg;
		else if (c == 'd')
			days = optarg;
	}
	if (ctx->exit_now < 0) {
		if (optind < argc)
			return cli_usage_error(ctx, "unexpected argument", argv[optind]);
		if (days) {
			if (num_parse_int(days, 1, 30, &o.days) != NUM_OK)
				return cli_usage_error(ctx, "--days must be 1 to 30", days);
		}
		if (html && !*html)
			return cli_usage_error(ctx, "--html needs a file name", NULL);
	}
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	sb_add(&cmdline, "chipctl");
	for (i = 0; i < argc; i++)
		sb_addf(&cmdline, " %s", argv[i]);
	o.command = sb_str(&cmdline);
	if (report_html(ctx->db, &ctx->cfg, &o, &page)) {
		rc = db_failure_rc(ctx->db);
	} else if (html) {
		rc = write_file(html, &page);
	} else {
		rc = fwrite(page.buf, 1, page.len, stdout) == page.len ? 0 : EX_IOERR;
	}
	sb_free(&page);
	sb_free(&cmdline);
	return rc;
}
