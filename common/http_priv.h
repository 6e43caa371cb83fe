/*
 * http_priv: what http.c and http_multi.c share and nobody else needs: one
 * setup of an easy handle (timeouts, TLS, body cap, headers) and one
 * classification of a finished transfer, so a request behaves the same
 * whether it runs alone or among hundreds.
 */
#ifndef CHIPCTL_HTTP_PRIV_H
#define CHIPCTL_HTTP_PRIV_H

#include "http.h"
#include "strbuf.h"

#include <curl/curl.h>

struct http_sink {
	struct strbuf sb;
	size_t max;
	int overflow;
	long retry_after;
};

size_t http_on_body(char *data, size_t size, size_t n, void *arg);
size_t http_on_header(char *data, size_t size, size_t n, void *arg);

/* Reset e and set every option a chipctl request carries. The returned
 * header list must outlive the transfer (free it with curl_slist_free_all);
 * body is not copied by curl, so it must outlive the transfer too. */
struct curl_slist *http_setup_easy(CURL *e, const char *method, const char *url,
				   const char *const *headers, const char *body,
				   long connect_ms, long total_ms,
				   struct http_sink *sink, char *errbuf);

/* Fill resp from a finished transfer (takes the sink's buffer) and
 * classify it; returns resp->cls. */
enum http_class http_finish(CURL *e, CURLcode rc, struct http_sink *sink,
			    const char *errbuf, long total_ms,
			    struct http_response *resp);

#endif
