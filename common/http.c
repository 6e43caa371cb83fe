#include "http.h"
#include "http_priv.h"
#include "numparse.h"
#include "strbuf.h"

#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_client {
	CURL *easy;
	long connect_ms, total_ms;
	size_t max_body;
};

int http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

struct http_client *http_client_new(long connect_timeout_ms,
				    long total_timeout_ms, size_t max_body)
{
	struct http_client *c = xmalloc(sizeof(*c));

	c->easy = curl_easy_init();
	if (!c->easy) {
		free(c);
		return NULL;
	}
	c->connect_ms = connect_timeout_ms;
	c->total_ms = total_timeout_ms;
	c->max_body = max_body;
	return c;
}

void http_client_set_timeout(struct http_client *c, long total_timeout_ms)
{
	c->total_ms = total_timeout_ms;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->easy);
	free(c);
}

size_t http_on_body(char *data, size_t size, size_t n, void *arg)
{
	struct http_sink *s = arg;
	size_t len = size * n;

	if (s->sb.len + len > s->max) {
		s->overflow = 1;
		return 0;	/* aborts the transfer: CURLE_WRITE_ERROR */
	}
	sb_addn(&s->sb, data, len);
	return len;
}

size_t http_on_header(char *data, size_t size, size_t n, void *arg)
{
	struct http_sink *s = arg;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	/* The seconds form only, through the one number parser: an HTTP date,
	 * a sign, trailing bytes or a value past int (the breaker stores it as
	 * one) are no Retry-After at all, never a clamped one. */
	if (len > sizeof(name) && !strncasecmp(data, name, sizeof(name) - 1)) {
		const char *v = data + sizeof(name) - 1, *end = data + len;
		long long secs;

		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
				   end[-1] == '\n'))
			end--;
		if (num_parse_n(v, (size_t)(end - v), 0, INT_MAX, &secs) == NUM_OK)
			s->retry_after = (long)secs;
	}
	return len;
}

struct curl_slist *http_setup_easy(CURL *e, const char *method, const char *url,
				   const char *const *headers, const char *body,
				   long connect_ms, long total_ms,
				   struct http_sink *sink, char *errbuf)
{
	struct curl_slist *hl = NULL;
	int i;

	curl_easy_reset(e);
	for (i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	/* An empty Expect: keeps curl from waiting a second for 100-continue. */
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
	if (body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else if (!strcmp(method, "GET")) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, sink);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, sink);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "chipctl");
	return hl;
}

enum http_class http_finish(CURL *e, CURLcode rc, struct http_sink *sink,
			    const char *errbuf, long total_ms,
			    struct http_response *resp)
{
	double total = 0;
	long request_bytes = 0;

	memset(resp, 0, sizeof(*resp));
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &request_bytes);
	resp->request_sent = request_bytes > 0;
	curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &total);
	resp->elapsed_ms = total * 1000.0;
	resp->retry_after_s = sink->retry_after;
	resp->len = sink->sb.len;
	resp->body = sb_detach(&sink->sb);

	if (rc == CURLE_OPERATION_TIMEDOUT) {
		resp->cls = HTTP_TIMEOUT;
		snprintf(resp->error, sizeof(resp->error), "timed out after %ld ms",
			 total_ms);
	} else if (sink->overflow) {
		resp->cls = HTTP_NETWORK;
		snprintf(resp->error, sizeof(resp->error),
			 "response body larger than %zu bytes", sink->max);
	} else if (rc != CURLE_OK) {
		resp->cls = HTTP_NETWORK;
		snprintf(resp->error, sizeof(resp->error), "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else if (resp->status >= 200 && resp->status < 300) {
		resp->cls = HTTP_OK;
	} else if (resp->status >= 400 && resp->status < 500) {
		resp->cls = HTTP_4XX;
		snprintf(resp->error, sizeof(resp->error), "HTTP %ld", resp->status);
	} else if (resp->status >= 500) {
		resp->cls = HTTP_5XX;
		snprintf(resp->error, sizeof(resp->error), "HTTP %ld", resp->status);
	} else {
		resp->cls = HTTP_NETWORK;
		snprintf(resp->error, sizeof(resp->error),
			 "unexpected HTTP status %ld", resp->status);
	}
	return resp->cls;
}

enum http_class http_request(struct http_client *c, const char *method,
			     const char *url, const char *const *headers,
			     const char *body, struct http_response *resp)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct http_sink sink = { STRBUF_INIT, c->max_body, 0, -1 };
	struct curl_slist *hl;
	CURLcode rc;

	hl = http_setup_easy(c->easy, method, url, headers, body, c->connect_ms,
			     c->total_ms, &sink, errbuf);
	rc = curl_easy_perform(c->easy);
	curl_slist_free_all(hl);
	return http_finish(c->easy, rc, &sink, errbuf, c->total_ms, resp);
}

void http_response_free(struct http_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

const char *http_class_name(enum http_class cls)
{
	switch (cls) {
	case HTTP_OK:      return "ok";
	case HTTP_TIMEOUT: return "timeout";
	case HTTP_NETWORK: return "network";
	case HTTP_4XX:     return "4xx";
	case HTTP_5XX:     return "5xx";
	}
	return "unknown";
}

char *http_path_escape(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '~' || (*p == '.' && !(p[1] == '.' || p[1] == '/' ||
						  p[1] == '\0')))
			sb_addc(&sb, (char)*p);
		else
			sb_addf(&sb, "%%%02X", *p);
	}
	return sb_detach(&sb);
}
