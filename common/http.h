/*
 * http: every outbound HTTP request, through libcurl.
 *
 * Owns the connect and total timeouts on every request, a cap on the size
 * of a response body (a provider answering 64 MB of garbage costs at most
 * the cap), TLS verification that is always on (there is no switch to turn
 * it off), connection reuse within a process, and the classification of
 * every result into ok, timeout, network, 4xx or 5xx: the one vocabulary
 * the senders, breakers and alert delivery share.
 */
#ifndef CHIPCTL_HTTP_H
#define CHIPCTL_HTTP_H

#include <stddef.h>

enum http_class {
	HTTP_OK,	/* 2xx */
	HTTP_TIMEOUT,	/* connect or total timeout: the outcome is unknown */
	HTTP_NETWORK,	/* refused, reset, DNS, TLS, body too large, ... */
	HTTP_4XX,
	HTTP_5XX,
};

struct http_response {
	long status;		/* 0 when no HTTP answer was read */
	char *body;		/* NUL-terminated, never NULL after a request */
	size_t len;
	enum http_class cls;
	long retry_after_s;	/* from Retry-After (seconds form), or -1 */
	double elapsed_ms;
	char error[256];	/* why, for anything but HTTP_OK */
};

struct http_client;

/* Call once per process before any client is made. */
int http_global_init(void);
void http_global_cleanup(void);

struct http_client *http_client_new(long connect_timeout_ms,
				    long total_timeout_ms, size_t max_body);
void http_client_free(struct http_client *c);
/* Change the total timeout of the requests that follow (one client can
 * serve providers with different timeouts). */
void http_client_set_timeout(struct http_client *c, long total_timeout_ms);

/*
 * Send one request. headers is a NULL-terminated list of "Name: value"
 * strings (may be NULL); body may be NULL. Always fills resp (free it with
 * http_response_free) and returns resp->cls.
 */
enum http_class http_request(struct http_client *c, const char *method,
			     const char *url, const char *const *headers,
			     const char *body, struct http_response *resp);
void http_response_free(struct http_response *resp);

const char *http_class_name(enum http_class cls);

/* Percent-encode s for use as one URL path segment ("../" included). */
char *http_path_escape(const char *s);

#endif
