/*
 * http_multi: many requests in flight from one loop (see http.h). Each
 * request is a small state (its easy handle, header list, body copy, sink)
 * that moves queued -> running -> done -> taken; one curl_multi_poll waits
 * for all of them, so no request can stall the others.
 */
#include "http.h"
#include "http_priv.h"
#include "log.h"
#include "strbuf.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

struct xfer {
	CURL *e;
	struct curl_slist *hl;
	char *body;
	struct http_sink sink;
	char errbuf[CURL_ERROR_SIZE];
	long total_ms;
	void *tag;
	struct http_response resp;
	int running;		/* added to the multi handle */
	struct xfer *next;	/* in queued or done */
	struct xfer *prev_all, *next_all;	/* every live request */
};

struct xlist {
	struct xfer *head, *tail;
	int n;
};

struct http_multi {
	CURLM *m;
	long connect_ms;
	size_t max_body;
	int max_in_flight;
	int running;
	struct xlist queued, done;
	struct xfer *all;
	CURL **spare;		/* easy handles kept for the next requests */
	int nspare;
};

static void push(struct xlist *l, struct xfer *x)
{
	x->next = NULL;
	if (l->tail)
		l->tail->next = x;
	else
		l->head = x;
	l->tail = x;
	l->n++;
}

static struct xfer *pop(struct xlist *l)
{
	struct xfer *x = l->head;

	if (!x)
		return NULL;
	l->head = x->next;
	if (!l->head)
		l->tail = NULL;
	l->n--;
	return x;
}

struct http_multi *http_multi_new(long connect_timeout_ms, size_t max_body,
				  int max_in_flight, int max_per_host)
{
	struct http_multi *m;

	if (max_in_flight < 1)
		max_in_flight = 1;
	m = xmalloc(sizeof(*m));
	memset(m, 0, sizeof(*m));
	m->m = curl_multi_init();
	if (!m->m) {
		free(m);
		return NULL;
	}
	m->connect_ms = connect_timeout_ms;
	m->max_body = max_body;
	m->max_in_flight = max_in_flight;
	m->spare = xmalloc(sizeof(*m->spare) * (size_t)max_in_flight);
	/* Every running request may hold its own connection, and each one is
	 * kept open for the requests that follow (keep-alive). */
	curl_multi_setopt(m->m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)max_in_flight);
	curl_multi_setopt(m->m, CURLMOPT_MAXCONNECTS, (long)max_in_flight);
	curl_multi_setopt(m->m, CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)(max_per_host > 0 ? max_per_host : 0));
	return m;
}

static void xfer_free(struct http_multi *m, struct xfer *x)
{
	if (x->prev_all)
		x->prev_all->next_all = x->next_all;
	else
		m->all = x->next_all;
	if (x->next_all)
		x->next_all->prev_all = x->prev_all;
	if (x->running)
		curl_multi_remove_handle(m->m, x->e);
	if (x->e) {
		if (m->nspare < m->max_in_flight)
			m->spare[m->nspare++] = x->e;
		else
			curl_easy_cleanup(x->e);
	}
	curl_slist_free_all(x->hl);
	free(x->body);
	sb_free(&x->sink.sb);
	free(x);
}

int http_multi_add(struct http_multi *m, const char *method, const char *url,
		   const char *const *headers, const char *body,
		   long total_timeout_ms, void *tag)
{
	struct xfer *x = xmalloc(sizeof(*x));

	memset(x, 0, sizeof(*x));
	x->e = m->nspare ? m->spare[--m->nspare] : curl_easy_init();
	if (!x->e) {
		free(x);
		log_error("cannot create a curl handle");
		return -1;
	}
	x->body = body ? xstrdup(body) : NULL;
	x->sink.max = m->max_body;
	x->sink.retry_after = -1;
	x->total_ms = total_timeout_ms;
	x->tag = tag;
	/* curl copies the URL, method and header strings; the body is ours. */
	x->hl = http_setup_easy(x->e, method, url, headers, x->body, m->connect_ms,
				total_timeout_ms, &x->sink, x->errbuf);
	curl_easy_setopt(x->e, CURLOPT_PRIVATE, (void *)x);
	x->next_all = m->all;
	if (m->all)
		m->all->prev_all = x;
	m->all = x;
	push(&m->queued, x);
	return 0;
}

int http_multi_in_flight(const struct http_multi *m)
{
	return m->queued.n + m->running + m->done.n;
}

/* Move queued requests onto the wire while there is room. */
static int start_queued(struct http_multi *m)
{
	while (m->running < m->max_in_flight && m->queued.head) {
		struct xfer *x = pop(&m->queued);
		CURLMcode mc = curl_multi_add_handle(m->m, x->e);

		if (mc != CURLM_OK) {
			/* Report it as the request's own failure, not the loop's. */
			struct http_sink empty = { STRBUF_INIT, m->max_body, 0, -1 };

			snprintf(x->errbuf, sizeof(x->errbuf), "%s",
				 curl_multi_strerror(mc));
			http_finish(x->e, CURLE_FAILED_INIT, &empty, x->errbuf,
				    x->total_ms, &x->resp);
			push(&m->done, x);
			continue;
		}
		x->running = 1;
		m->running++;
	}
	return 0;
}

static int pump(struct http_multi *m)
{
	CURLMsg *msg;
	CURLMcode mc;
	int still, left;

	start_queued(m);
	mc = curl_multi_perform(m->m, &still);
	if (mc != CURLM_OK) {
		log_error("http multi failed", "error=%s", curl_multi_strerror(mc));
		return -1;
	}
	while ((msg = curl_multi_info_read(m->m, &left))) {
		struct xfer *x = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		curl_multi_remove_handle(m->m, x->e);
		x->running = 0;
		m->running--;
		http_finish(x->e, msg->data.result, &x->sink, x->errbuf, x->total_ms,
			    &x->resp);
		push(&m->done, x);
	}
	start_queued(m);
	return 0;
}

int http_multi_wait_fd(struct http_multi *m, int wait_ms, int fd, int *fd_ready)
{
	struct curl_waitfd extra;
	CURLMcode mc;

	if (fd_ready)
		*fd_ready = 0;
	if (pump(m) < 0)
		return -1;
	if (m->done.n > 0)
		return m->done.n;
	if (!m->running && fd < 0)
		return 0;	/* nothing could ever wake us */
	extra.fd = fd;
	extra.events = CURL_WAIT_POLLIN;
	extra.revents = 0;
	mc = curl_multi_poll(m->m, fd >= 0 ? &extra : NULL, fd >= 0 ? 1 : 0,
			     wait_ms, NULL);
	if (mc != CURLM_OK) {
		log_error("http multi poll failed", "error=%s", curl_multi_strerror(mc));
		return -1;
	}
	if (fd_ready && fd >= 0 && (extra.revents & CURL_WAIT_POLLIN))
		*fd_ready = 1;
	if (pump(m) < 0)
		return -1;
	return m->done.n;
}

int http_multi_wait(struct http_multi *m, int wait_ms)
{
	return http_multi_wait_fd(m, wait_ms, -1, NULL);
}

int http_multi_next(struct http_multi *m, void **tag, struct http_response *resp)
{
	struct xfer *x = pop(&m->done);

	if (!x)
		return 0;
	*tag = x->tag;
	*resp = x->resp;	/* the body moves to the caller */
	x->resp.body = NULL;
	xfer_free(m, x);
	return 1;
}

void http_multi_free(struct http_multi *m)
{
	struct xfer *x, *next;
	int i;

	if (!m)
		return;
	while ((x = pop(&m->done))) {
		http_response_free(&x->resp);
		xfer_free(m, x);
	}
	while ((x = pop(&m->queued)))
		xfer_free(m, x);
	for (x = m->all; x; x = next) {	/* the running ones */
		next = x->next_all;
		xfer_free(m, x);
	}
	for (i = 0; i < m->nspare; i++)
		curl_easy_cleanup(m->spare[i]);
	free(m->spare);
	curl_multi_cleanup(m->m);
	free(m);
}
