/*
 * http: every outbound HTTP request, through libcurl.
 *
 * Owns the connect and total timeouts on every request, a cap on the size
 * of a response body (a provider answering 64 MB of garbage costs at most
 * the cap), TLS verification that is always on (there is no switch to turn
 * it off), connection reuse within a process, and the classification of
 * every result into ok, timeout, network, 4xx or 5xx: the one vocabulary
 * the senders, breakers and alert delivery share.
 *
 * Two ways to send: http_request, one request at a time on one reused
 * connection; and http_multi (http_multi.c), many requests in flight from
 * one loop, with the same options and the same classification, so a sender
 * can keep a whole pool of chips busy against a provider that takes
 * seconds per answer.
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
	int request_sent;	/* the request left (a timeout or a cut after it
				 * may have been acted on: uncertain) */
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

/*
 * Many requests in flight from one thread (libcurl's multi interface).
 *
 * At most max_in_flight transfers run at once; further ones wait in a FIFO
 * inside the handle and start as running ones finish (their total timeout
 * counts from when they start running). max_per_host caps the connections
 * to one host (0 = no cap beyond max_in_flight): with the default, 256
 * requests to one Evolution server really run at once, on 256 kept-alive
 * connections reused by the requests that follow. Nothing blocks: a hung
 * server costs its own requests their timeout, never the others.
 */
struct http_multi;

/* NULL when libcurl cannot make a multi handle. max_in_flight >= 1. */
struct http_multi *http_multi_new(long connect_timeout_ms, size_t max_body,
				  int max_in_flight, int max_per_host);
/*
 * Queue one request. method, url, headers (NULL-terminated "Name: value"
 * list, may be NULL) and body (may be NULL) are copied. total_timeout_ms
 * bounds the transfer once it runs. tag comes back with its result.
 * Returns 0, or -1 when libcurl refused the handle.
 */
int http_multi_add(struct http_multi *m, const char *method, const char *url,
		   const char *const *headers, const char *body,
		   long total_timeout_ms, void *tag);
/* Requests added and not yet taken by http_multi_next (queued, running or
 * finished). */
int http_multi_in_flight(const struct http_multi *m);
/*
 * Drive the transfers, waiting at most wait_ms for network activity when no
 * result is ready yet. Returns the number of finished results ready for
 * http_multi_next, or -1 on a libcurl error (the message goes to the log).
 */
int http_multi_wait(struct http_multi *m, int wait_ms);
/* The same, also waking when fd becomes readable (e.g. the libpq socket):
 * *fd_ready is set to 1 then, else 0. fd < 0 waits on nothing extra. */
int http_multi_wait_fd(struct http_multi *m, int wait_ms, int fd, int *fd_ready);
/* Take one finished result, in the order they finished: returns 1 and fills
 * *tag and *resp (free it with http_response_free), or 0 when none is
 * ready. */
int http_multi_next(struct http_multi *m, void **tag, struct http_response *resp);
/* Abort whatever is still queued or running; results not taken are lost. */
void http_multi_free(struct http_multi *m);

/* Percent-encode s for use as one URL path segment ("../" included). */
char *http_path_escape(const char *s);

#endif
