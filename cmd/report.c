/* chipctl report: the pool's week on one page, an HTML file (issue 12). */
#include "builtin.h"
#include "db.h"
#include "log.h"
#include "numparse.h"
#include "report.h"
#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	"               renamed over it) instead of stdout; FILE must be a\n"
	"               regular file, a new one, or a symbolic link to a regular\n"
	"               file (written through, the link kept): a directory, a\n"
	"               device, a FIFO or a dangling link is refused (73)\n"
	"  --days N     the window, 1 to 30 days (default 7)\n"
	"\n"
	"Exit: 0 done, 64 usage, 73 the file cannot be written (or is not a\n"
	"regular file), 74 standard output cannot be written, 75 database\n"
	"unreachable, 78 configuration error or refused credentials, 70 internal\n"
	"error.\n";

/* The file the page may be written to: path itself when it is a regular
 * file or does not exist yet, the file a symbolic link names when that is
 * a regular file (the link is kept). Anything else is refused: renaming
 * over a device, a FIFO or a socket would replace it (as root, /dev/full
 * became a regular file), a directory cannot be replaced, and a dangling
 * link says the operator meant a file that is not there. Returns the
 * target (to free) or NULL after logging why. */
static char *report_target(const char *path)
{
	struct stat st;
	const char *why;
	char *real;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return xstrdup(path);	/* a new file */
		why = strerror(errno);
	} else if (S_ISREG(st.st_mode)) {
		return xstrdup(path);
	} else if (S_ISLNK(st.st_mode)) {
		if (stat(path, &st) != 0)
			why = "a symbolic link to nothing";
		else if (!S_ISREG(st.st_mode))
			why = "a symbolic link to something that is not a regular file";
		else if ((real = realpath(path, NULL)))
			return real;
		else
			why = strerror(errno);
	} else {
		why = S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO" :
			S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" :
			"not a regular file";
	}
	log_error("cannot write the report: the path is not a regular file", "file=%s", path,
		  "error=%s", why);
	return NULL;
}

static int write_file(const char *path, const struct strbuf *page)
{
	struct strbuf tmp = STRBUF_INIT;
	char *target = report_target(path);
	FILE *f = NULL;
	int fd = -1, ok;

	if (!target)
		return EX_CANTCREAT;
	/* a fresh temporary file beside the target (never through a link
	 * someone left at that name), renamed over it once complete */
	sb_addf(&tmp, "%s.%d.tmp", target, (int)getpid());
	fd = open(sb_str(&tmp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		log_error("cannot write the report", "file=%s", sb_str(&tmp),
			  "error=%s", strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(sb_str(&tmp));
		}
		sb_free(&tmp);
		free(target);
		return EX_CANTCREAT;
	}
	ok = fwrite(page->buf, 1, page->len, f) == page->len;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(sb_str(&tmp), target)) {
		log_error("cannot write the report", "file=%s", path, "error=%s", strerror(errno));
		unlink(sb_str(&tmp));
		sb_free(&tmp);
		free(target);
		return EX_CANTCREAT;
	}
	sb_free(&tmp);
	free(target);
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
		/* a write error is found when stdout is flushed at the end: 74 */
		fwrite(page.buf, 1, page.len, stdout);
		rc = 0;
	}
	sb_free(&page);
	sb_free(&cmdline);
	return rc;
}
