/*
 * send: the send path of one worker (SPEC section 8).
 *
 * Owns claiming due messages (FOR UPDATE SKIP LOCKED in a CTE, so the
 * batch size holds and no two workers ever hold one), the guardrails (a
 * blocked doctor is cancelled; the daily and 7-day limits are reserved with
 * a conditional upsert so concurrent workers cannot overshoot them, and an
 * over-limit message is rescheduled with jitter, never dropped), choosing a
 * chip in one query, sending through the chip's provider, failing over to
 * the next chip (up to send.max_chips_per_message), the breakers (through
 * the chipctl_breaker_* SQL functions), chip cooldowns, and recording every
 * attempt and the final state. A result is written to a message only while
 * it is still 'processando' and claimed by this worker.
 */
#ifndef CHIPCTL_SEND_H
#define CHIPCTL_SEND_H

struct chipctl_ctx;
struct http_client;

struct outbound {
	long id;
	char *cliente;
	char *telefone;
	char *conteudo;
	char tipo[16];
	int tentativas;
	int max_tentativas;
	char correlation_id[40];
	char uncertain_chip[40];	/* retry an uncertain send on this chip */
};

struct send_stats {
	long sent, failed, rescheduled, cancelled, invalid, uncertain, fallback,
	     not_recorded;
};

struct sender {
	struct chipctl_ctx *ctx;
	struct http_client *http;
	char worker_id[160];
	struct send_stats st;
	/* providers that answered 401 this cycle: not tried again until the
	 * next claim, so one bad key does not burn through every chip */
	int unauthorized_evolution, unauthorized_zapi;
};

int sender_init(struct sender *s, struct chipctl_ctx *ctx, const char *worker_id);
void sender_free(struct sender *s);

/* Upsert this worker's heartbeat row. 0 or -1. */
int sender_heartbeat(struct sender *s);

/* Claim up to send.batch_size (and at most at_most, when > 0) due
 * messages. Returns how many (0..), or -1 on a database error. *out is an
 * array to free with sender_free_batch. */
int sender_claim(struct sender *s, struct outbound **out, long at_most);
void sender_free_batch(struct outbound *msgs, int n);

/* Guardrails, chip choice, sends and recording for one claimed message.
 * Returns 0, or -1 on a database error (the message stays 'processando'
 * for the stuck-queue rescue). */
int sender_process(struct sender *s, struct outbound *m);

/* The same for a whole claimed batch, with the guardrails, the first chip
 * choices and the recording of successes done in one round trip each.
 * Stops early when *stop becomes true. *processed receives how many
 * messages of the batch were handled (the rest can be released).
 * Returns 0, or -1 on a database error. */
int sender_process_batch(struct sender *s, struct outbound *msgs, int n, int *processed,
			 volatile int *stop);

/* Give claimed, unprocessed messages back (status 'pendente' at once). */
int sender_release(struct sender *s, struct outbound *msgs, int n);

#endif
