/*
 * outbound: the types the steps of the send path share, so that none of
 * them includes another: a claimed message, and the progress of its walk
 * (claim -> guard -> select -> send -> classify -> record -> breaker), and
 * the worker that walks them.
 */
#ifndef CHIPCTL_OUTBOUND_H
#define CHIPCTL_OUTBOUND_H

#include "msgtype.h"
#include "strbuf.h"

/* Where a message stands in its batch. */
enum walk {
	WALK_SELECT,	/* needs a chip */
	WALK_ASSIGNED,	/* a chip and a reserved send of it are waiting for it */
	WALK_FLYING,	/* its send started (committed) and is in flight */
	WALK_SENT,	/* sent; recorded with the batch's successes */
	WALK_FINISH,	/* leaves unsent: see struct finish */
	WALK_DONE,	/* nothing more to do (written already) */
};

/* How a message leaves the worker unsent (chipctl_finish_batch). */
struct finish {
	const char *status;		/* pendente, erro or cancelada */
	const char *outcome;		/* final outcome, or NULL while pendente */
	const char *final_outcome;	/* if a pendente one used its attempts up */
	const char *reason;		/* outcome_reason_code */
	long next_in_s;
	char next_at[64];		/* absolute time, or "" */
	int spent;			/* attempts it spends: chips that refused it */
	int waits;			/* waiting for capacity: no attempt spent */
	char uncertain_chip[40];	/* an uncertain send: keeps its chip and start */
};

struct progress {
	enum walk walk;
	int chip;		/* pool index while WALK_ASSIGNED, else -1 */
	int probe;		/* this send tests a half-open breaker */
	int normal;		/* chosen in normal mode (else fallback) */
	int candidates;		/* chips it could have gone to */
	int threshold;		/* the trust that admitted the chip */
	int sends;		/* chips it was sent through in this pass */
	double launched;	/* mono_now() when its request left */
	int refusals;		/* of those, refused by the chip */
	int bounced;		/* its chip went to another worker at reservation: it
				 * leaves the batch at once (no later round piles it
				 * onto the chips this batch holds) */
	int spent;		/* refusals by chips that had not refused it before
				 * (probes aside): the attempts it spends */
	char day[16];		/* the doctor's day reserved by guard, or "" */
	const char *wait_hint;	/* why it may have to wait (a provider fault) */
	struct strbuf tried;	/* chips tried in this pass: ids, ',' joined */
	char last_error[300];
	struct finish fin;
};

/* A claimed message. */
struct outbound {
	long id;
	char *cliente;
	char *telefone;
	char *conteudo;
	char tipo[16];
	struct msgtype type;
	int tentativas;
	int max_tentativas;
	int esperas;		/* times it waited for capacity */
	char correlation_id[40];
	/* an earlier send whose answer was never recorded (uncertain): its
	 * chip, that chip's instance and provider, and its start (unix s) */
	char envio_chip[40];
	char envio_instance[160];
	char envio_provider[16];
	long long envio_start;
	struct strbuf refused;	/* chips that ever refused it: ids, ',' joined */
	struct progress pr;
};

struct chipctl_ctx;
struct http_client;
struct http_multi;

struct send_stats {
	long sent, failed, rescheduled, waited, cancelled, invalid, uncertain, fallback,
	     not_recorded, reconciled, resent, lost_claim, topped_up;
	/* sends in flight, sampled once per turn of the loop: the mean */
	double flying_sum;
	long flying_turns;
};

/* One worker. */
struct sender {
	struct chipctl_ctx *ctx;
	struct http_client *http;
	struct http_multi *multi;	/* the sends (and lookups) in flight */
	char worker_id[160];
	struct send_stats st;
	/* providers that refused our credentials this cycle: not tried again
	 * until the next claim, so one bad key does not burn through every chip */
	int unauthorized_evolution, unauthorized_zapi;
	/* batches sized by time (claim_pace) */
	int pace;		/* the next claim's size; 0 before the first */
	int crowded;		/* the last batch met other workers' holds */
	int keeping;		/* it holds its last batch's chips for the next */
	int queue_dry;		/* the batch's last claim got less than it asked */
	long claim_cap;		/* this claim's share of the pace (claim_plan), or 0 */
	int batch_cap;		/* messages the batch in hand has room for */
	long claim_left;	/* messages it may still claim (--max-messages), or -1 */
	double deadline;	/* mono_now() when the batch in hand gives back the rest */
	int given_back;		/* messages the batch in hand gave back (deadline or signal) */
	int reached;		/* messages of the batch that reached a chip (or were
				 * found sent): its real pace, for claim_pace */
	int paced;		/* messages of the batch that only the chips' pace
				 * or other workers' holds kept from a chip */
	/* a provider answered this worker (anything but its own or the
	 * configuration's fault): until then one send at a time goes to it,
	 * so a wrong key or URL costs one request, not one per chip */
	int proven[2];
	int proof_tried[2];	/* its status was asked once (prove.c) */
	double beat_at;		/* mono_now() of its last heartbeat */
	double rtt;		/* a send's time to its answer, smoothed (s), or 0 */
	/* does the Evolution server keep what it sends (findMessages can tell
	 * an uncertain send)? -1 not known yet, 0 no, 1 yes */
	int evo_keeps;
};

#endif
