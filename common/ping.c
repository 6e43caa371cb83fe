#include "ping.h"
#include "config.h"
#include "ctx.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "strbuf.h"

#include <stdio.h>
#include <string.h>

static const char *url_of(const struct chipctl_ctx *ctx)
{
	const struct job_def *j = job_of(ctx);

	if (!ctx->job_active || !ctx->cfg_loaded || !j)
		return NULL;
	return job_ping_url(j, &ctx->cfg);
}

static void ping(struct chipctl_ctx *ctx, const char *base, const char *suffix,
		 const char *body)
{
	static const char *const headers[] = { "Content-Type: text/plain", NULL };
	struct http_client *http;
	struct http_response resp;
	struct strbuf url = STRBUF_INIT;

	sb_addf(&url, "%s/%s", base, suffix);
	http = http_client_new(ctx->cfg.ping_timeout_ms, ctx->cfg.ping_timeout_ms, 4096);
	http_request(http, "POST", sb_str(&url), headers, body, &resp);
	if (resp.cls != HTTP_OK)
		log_warn("dead man's switch ping failed", "job=%s", job_run_name(ctx),
			 "ping=%s", suffix, "class=%s", http_class_name(resp.cls),
			 "status=%ld", resp.status, "error=%s", resp.error);
	else
		log_debug("dead man's switch pinged", "job=%s", job_run_name(ctx),
			  "ping=%s", suffix);
	http_response_free(&resp);
	http_client_free(http);
	sb_free(&url);
}

void ping_start(struct chipctl_ctx *ctx)
{
	const char *url = url_of(ctx);

	if (url)
		ping(ctx, url, "start", ctx->run_id);
}

void ping_finish(struct chipctl_ctx *ctx, int rc)
{
	const char *url = url_of(ctx);
	char code[16], body[600];

	if (!url)
		return;
	snprintf(code, sizeof(code), "%d", rc);
	snprintf(body, sizeof(body), "run %s exit %d%s%s", ctx->run_id, rc,
		 rc ? ": " : "", ctx->job_error[0] ? ctx->job_error :
		 rc ? "the run failed (see the log of this run id)" : "");
	ping(ctx, url, code, body);
}
