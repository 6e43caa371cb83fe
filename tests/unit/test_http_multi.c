/*
 * Unit tests of common/http_multi.c against a small HTTP/1.1 server run in
 * this process (one thread per connection, keep-alive):
 *   /barrier/N   answers only once N requests are held at once (504 after
 *                5 s): proof that N were in flight together
 *   /sleep/MS    answers after MS ms
 *   /status/N    answers with status N
 *   /big         a 64 KiB body
 *   /hang        never answers (until the client goes away)
 * Every answer's body is "METHOD PATH BODY X-Test-header".
 */
#include "http.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int held, max_held, accepted;
static int port;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void reply(int fd, int status, const char *body, size_t len)
{
	char head[200];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d X\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %zu\r\n\r\n", status, len);

	if (write(fd, head, (size_t)n) < 0 || write(fd, body, len) < 0)
		return;
}

/* Wait until n requests are held at once; 1 when that happened. */
static int barrier(int n)
{
	struct timespec until;
	int reached;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&mu);
	held++;
	if (held > max_held)
		max_held = held;
	pthread_cond_broadcast(&cv);
	while (max_held < n && pthread_cond_timedwait(&cv, &mu, &until) == 0)
		;
	reached = max_held >= n;
	held--;
	pthread_mutex_unlock(&mu);
	return reached;
}

static void hold(int ms)
{
	pthread_mutex_lock(&mu);
	if (++held > max_held)
		max_held = held;
	pthread_mutex_unlock(&mu);
	sleep_ms(ms);
	pthread_mutex_lock(&mu);
	held--;
	pthread_mutex_unlock(&mu);
}

static void *conn_main(void *arg)
{
	int fd = (int)(long)arg;
	static char buf[65536 + 1];	/* /big's body (read-only after start) */
	char req[8192];
	size_t have = 0;

	for (;;) {
		char method[16], path[256], xtest[64] = "", out[9000];
		char *end, *p;
		long clen = 0;
		ssize_t r;
		size_t hlen;
		int n;

		while (!(end = memmem(req, have, "\r\n\r\n", 4))) {
			if (have == sizeof(req) ||
			    (r = read(fd, req + have, sizeof(req) - have)) <= 0)
				goto out;
			have += (size_t)r;
		}
		hlen = (size_t)(end - req) + 4;
		*end = '\0';
		if (sscanf(req, "%15s %255s", method, path) != 2)
			goto out;
		if ((p = strcasestr(req, "\r\ncontent-length:")))
			clen = strtol(p + 17, NULL, 10);
		if ((p = strcasestr(req, "\r\nx-test:")))
			sscanf(p + 9, " %63[^\r]", xtest);
		while (have < hlen + (size_t)clen) {
			if ((r = read(fd, req + have, sizeof(req) - have)) <= 0)
				goto out;
			have += (size_t)r;
		}
		n = snprintf(out, sizeof(out), "%s %s %.*s %s", method, path,
			     (int)clen, req + hlen, xtest);
		memmove(req, req + hlen + clen, have - hlen - (size_t)clen);
		have -= hlen + (size_t)clen;

		if (!strncmp(path, "/barrier/", 9)) {
			reply(fd, barrier(atoi(path + 9)) ? 200 : 504, out, (size_t)n);
		} else if (!strncmp(path, "/sleep/", 7)) {
			hold(atoi(path + 7));
			reply(fd, 200, out, (size_t)n);
		} else if (!strncmp(path, "/status/", 8)) {
			reply(fd, atoi(path + 8), out, (size_t)n);
		} else if (!strcmp(path, "/big")) {
			memset(buf, 'x', sizeof(buf) - 1);
			reply(fd, 200, buf, sizeof(buf) - 1);
		} else if (!strcmp(path, "/hang")) {
			struct pollfd pf = { fd, POLLIN, 0 };
			poll(&pf, 1, 10000);	/* until the client closes */
			goto out;
		} else {
			reply(fd, 404, out, (size_t)n);
		}
	}
out:
	close(fd);
	return NULL;
}

static void *accept_main(void *arg)
{
	int lfd = (int)(long)arg;

	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pthread_t t;

		if (fd < 0)
			continue;
		pthread_mutex_lock(&mu);
		accepted++;
		pthread_mutex_unlock(&mu);
		pthread_create(&t, NULL, conn_main, (void *)(long)fd);
		pthread_detach(t);
	}
	return NULL;
}

static int start_server(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	pthread_t t;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 1024) < 0 || getsockname(lfd, (struct sockaddr *)&a, &alen) < 0)
		return -1;
	port = ntohs(a.sin_port);
	return pthread_create(&t, NULL, accept_main, (void *)(long)lfd);
}

static char *url(const char *path)
{
	static char u[8][128];
	static int i;

	i = (i + 1) % 8;
	snprintf(u[i], sizeof(u[i]), "http://127.0.0.1:%d%s", port, path);
	return u[i];
}

/* Drive m until nothing is in flight; results land in statuses[tag]. */
static int drain(struct http_multi *m, long *statuses, enum http_class *cls,
		 char **bodies, int n)
{
	int got = 0;

	while (http_multi_in_flight(m) > 0) {
		void *tag;
		struct http_response r;

		if (http_multi_wait(m, 1000) < 0)
			return -1;
		while (http_multi_next(m, &tag, &r)) {
			long i = (long)tag;

			if (i >= 0 && i < n) {
				statuses[i] = r.status;
				cls[i] = r.cls;
				if (bodies)
					bodies[i] = strdup(r.body);
			}
			got++;
			http_response_free(&r);
		}
	}
	return got;
}

static int all_status(const long *s, int n, long want)
{
	int i;

	for (i = 0; i < n; i++)
		if (s[i] != want)
			return 0;
	return 1;
}

int main(void)
{
	static long st[256];
	static enum http_class cls[256];
	char *bodies[6] = { NULL };
	const char *hdrs[] = { "X-Test: hello", "Content-Type: text/plain", NULL };
	struct http_multi *m;
	int i, conns, fd_ready, p[2];

	if (http_global_init() < 0 || start_server() < 0) {
		printf("Bail out! cannot start the test server\n");
		return 1;
	}

	/* 256 requests to one host all held by the server at once. */
	m = http_multi_new(2000, 1 << 20, 256, 0);
	ok(m != NULL, "a multi handle");
	for (i = 0; i < 256; i++)
		http_multi_add(m, "GET", url("/barrier/256"), NULL, NULL, 10000,
			       (void *)(long)i);
	ok(http_multi_in_flight(m) == 256, "256 queued count as in flight");
	ok(drain(m, st, cls, NULL, 256) == 256, "256 results came back");
	ok(all_status(st, 256, 200), "all 256 were in flight at once (the server saw 256 held)");
	pthread_mutex_lock(&mu);
	conns = accepted;
	pthread_mutex_unlock(&mu);
	ok(conns == 256, "one connection each (%d)", conns);

	/* The next round reuses those connections. */
	max_held = 0;
	for (i = 0; i < 256; i++)
		http_multi_add(m, "GET", url("/barrier/256"), NULL, NULL, 10000,
			       (void *)(long)i);
	ok(drain(m, st, cls, NULL, 256) == 256 && all_status(st, 256, 200),
	   "a second round of 256 at once");
	pthread_mutex_lock(&mu);
	ok(accepted == conns, "kept-alive connections were reused (%d new)", accepted - conns);
	pthread_mutex_unlock(&mu);
	http_multi_free(m);

	/* max_in_flight caps what runs; the rest wait their turn. */
	max_held = 0;
	m = http_multi_new(2000, 1 << 20, 4, 0);
	for (i = 0; i < 12; i++)
		http_multi_add(m, "GET", url("/sleep/30"), NULL, NULL, 5000,
			       (void *)(long)i);
	ok(drain(m, st, cls, NULL, 12) == 12 && all_status(st, 12, 200),
	   "12 requests through 4 slots all answered");
	ok(max_held <= 4 && max_held >= 1, "never more than 4 at once (%d)", max_held);
	http_multi_free(m);

	/* Method, body and headers go out; classes as http_request's. */
	m = http_multi_new(2000, 4096, 8, 0);
	http_multi_add(m, "POST", url("/echo"), hdrs, "{\"a\":1}", 5000, (void *)0L);
	http_multi_add(m, "GET", url("/status/503"), NULL, NULL, 5000, (void *)1L);
	http_multi_add(m, "GET", url("/status/404"), NULL, NULL, 5000, (void *)2L);
	http_multi_add(m, "GET", url("/big"), NULL, NULL, 5000, (void *)3L);
	http_multi_add(m, "GET", url("/hang"), NULL, NULL, 300, (void *)4L);
	http_multi_add(m, "GET", "http://127.0.0.1:1/", NULL, NULL, 2000, (void *)5L);
	ok(drain(m, st, cls, bodies, 6) == 6, "six results");
	is_str(bodies[0], "POST /echo {\"a\":1} hello", "method, body and header arrive");
	ok(st[0] == 404 && cls[0] == HTTP_4XX, "unknown route: 404, HTTP_4XX");
	ok(st[1] == 503 && cls[1] == HTTP_5XX, "503 is HTTP_5XX");
	ok(st[2] == 404 && cls[2] == HTTP_4XX, "404 is HTTP_4XX");
	ok(cls[3] == HTTP_NETWORK, "a body over the cap is HTTP_NETWORK");
	ok(cls[4] == HTTP_TIMEOUT, "a hung server is HTTP_TIMEOUT");
	ok(cls[5] == HTTP_NETWORK && st[5] == 0, "a refused connection is HTTP_NETWORK, status 0");
	for (i = 0; i < 6; i++)
		free(bodies[i]);
	http_multi_free(m);

	/* A hung request times out alone; a fast one beside it is not held. */
	m = http_multi_new(2000, 4096, 8, 0);
	http_multi_add(m, "GET", url("/hang"), NULL, NULL, 400, (void *)0L);
	http_multi_add(m, "GET", url("/sleep/1"), NULL, NULL, 5000, (void *)1L);
	{
		void *tag = NULL;
		struct http_response r;

		while (http_multi_wait(m, 1000) == 0)
			;
		ok(http_multi_next(m, &tag, &r) == 1 && (long)tag == 1 &&
		   r.cls == HTTP_OK, "the fast request finishes first");
		http_response_free(&r);
		while (http_multi_wait(m, 1000) == 0)
			;
		ok(http_multi_next(m, &tag, &r) == 1 && (long)tag == 0 &&
		   r.cls == HTTP_TIMEOUT, "the hung one is HTTP_TIMEOUT: %s", r.error);
		http_response_free(&r);
		ok(http_multi_next(m, &tag, &r) == 0, "nothing more");
	}
	ok(http_multi_in_flight(m) == 0, "nothing in flight");
	ok(http_multi_wait(m, 5000) == 0, "waiting with nothing in flight returns at once");

	/* Waking on a second descriptor (the libpq socket in the sender). */
	http_multi_add(m, "GET", url("/sleep/3000"), NULL, NULL, 5000, (void *)0L);
	if (pipe(p) == 0) {
		if (write(p[1], "x", 1) != 1)
			return 1;
		ok(http_multi_wait_fd(m, 5000, p[0], &fd_ready) == 0 && fd_ready == 1,
		   "a readable extra descriptor wakes the wait");
		close(p[0]);
		close(p[1]);
	}
	/* Freed with a request still running: aborted, nothing leaks. */
	http_multi_add(m, "GET", url("/hang"), NULL, NULL, 5000, (void *)1L);
	http_multi_free(m);
	ok(1, "freed with requests queued and running");
	http_global_cleanup();
	return done_testing();
}
