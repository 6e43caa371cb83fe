/* chipctl send-worker: claim due messages, choose a chip, send, record. */
#include "alert.h"
#include "builtin.h"
#include "db.h"
#include "log.h"
#include "numparse.h"
#include "select.h"
#include "send.h"

#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char usage_send_worker[] =
	"usage: chipctl send-worker [--once] [--max-messages N] [--worker-id ID] [--json]\n"
	"\n"
	"Claim due messages of fila_mensagens in batches (FOR UPDATE SKIP LOCKED:\n"
	"any number of workers on any number of hosts) sized to last about\n"
	"send.batch_seconds at this worker's rate (at most send.batch_size); ask\n"
	"Evolution (findMessages) whether an earlier send that was never answered\n"
	"went out, before sending it again; apply the doctor's guardrails; choose\n"
	"chips for the batch over one snapshot of the pool (their hourly and daily\n"
	"room, their pacing gap and their hold reserved); send through each chip's\n"
	"provider, many at once, one per chip, each asking for \"typing...\" first\n"
	"(Evolution sendText, Z-API send-text); fail over to the next chip up to\n"
	"send.max_chips_per_message, and record every attempt. A message no chip\n"
	"can take now (breakers open, chips cooling off, paced or at their limits,\n"
	"the provider down) waits without spending an attempt. Without --once it\n"
	"loops until SIGTERM or SIGINT, finishing the sends in flight and giving\n"
	"the rest of its batch back to the queue.\n"
	"\n"
	"  --once            drain what is due now, then exit (for cron)\n"
	"  --max-messages N  stop after N messages (tests, benchmarks)\n"
	"  --worker-id ID    name in worker_heartbeats and claims (default host:pid)\n"
	"      --json        print a summary as JSON at the end\n"
	"\n"
	"Exit: 0 done or stopped by a signal, 64 usage, 75 database unreachable\n"
	"(--once; the loop waits and reconnects), 78 configuration error, 70 a\n"
	"database error that is not a lost connection (--once).\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Chips kept from the last batch (select_release) go back to the fleet
 * before this worker waits or stops: a failure here leaves them to expire
 * at their held_until. */
static void let_go(struct sender *s)
{
	if (s->keeping && select_release(s, NULL, 0) < 0)
		log_warn("could not let go of this worker's chips: they are free at their hold's end");
}

static void pause_ms(struct sender *s, long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	let_go(s);
	if (!stop_requested)
		nanosleep(&ts, NULL);	/* a signal ends it early */
}

static void summary(struct sender *s, int json)
{
	const struct send_stats *st = &s->st;

	log_info("send-worker summary", "worker=%s", s->worker_id, "sent=%ld", st->sent,
		 "failed=%ld", st->failed, "rescheduled=%ld", st->rescheduled,
		 "cancelled=%ld", st->cancelled, "invalid_number=%ld", st->invalid,
		 "waited=%ld", st->waited,
		 "uncertain=%ld", st->uncertain, "fallback=%ld", st->fallback,
		 "not_recorded=%ld", st->not_recorded, "reconciled=%ld", st->reconciled,
		 "resent=%ld", st->resent, "lost_claim=%ld", st->lost_claim,
		 "topped_up=%ld", st->topped_up,
		 "mean_in_flight=%.1f", st->flying_turns ? st->flying_sum / st->flying_turns : 0.0);
	if (json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "worker_id", json_object_new_string(s->worker_id));
		json_object_object_add(o, "sent", json_object_new_int64(st->sent));
		json_object_object_add(o, "failed", json_object_new_int64(st->failed));
		json_object_object_add(o, "rescheduled", json_object_new_int64(st->rescheduled));
		json_object_object_add(o, "waited", json_object_new_int64(st->waited));
		json_object_object_add(o, "cancelled", json_object_new_int64(st->cancelled));
		json_object_object_add(o, "invalid_number", json_object_new_int64(st->invalid));
		json_object_object_add(o, "uncertain", json_object_new_int64(st->uncertain));
		json_object_object_add(o, "fallback", json_object_new_int64(st->fallback));
		json_object_object_add(o, "not_recorded", json_object_new_int64(st->not_recorded));
		json_object_object_add(o, "reconciled", json_object_new_int64(st->reconciled));
		json_object_object_add(o, "resent", json_object_new_int64(st->resent));
		json_object_object_add(o, "lost_claim", json_object_new_int64(st->lost_claim));
		json_object_object_add(o, "topped_up", json_object_new_int64(st->topped_up));
		json_object_object_add(o, "mean_in_flight", json_object_new_double(
			st->flying_turns ? st->flying_sum / st->flying_turns : 0.0));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	}
}

int cmd_send_worker(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = {
		{ "once", no_argument, 0, 'o' },
		{ "max-messages", required_argument, 0, 'm' },
		{ "worker-id", required_argument, 0, 'w' },
		CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	struct sigaction sa;
	struct sender s;
	char worker[160], host[128] = "";
	const char *worker_arg = NULL;
	long max_messages = 0, handled = 0;
	int c, rc, once = 0, db_down = 0, failed = 0;
	double last_flush = 0;

	while ((c = cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts)) != -1) {
		switch (c) {
		case 'o': once = 1; break;
		case 'w': worker_arg = optarg; break;
		case 'm': {
			if (num_parse_long(optarg, 1, LONG_MAX, &max_messages) != NUM_OK)
				return cli_usage_error(ctx, "--max-messages takes a positive number:",
						       optarg);
			break;
		}
		}
	}
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;

	gethostname(host, sizeof(host) - 1);
	snprintf(worker, sizeof(worker), "%s", worker_arg ? worker_arg : host);
	if (!worker_arg)
		snprintf(worker + strlen(worker), sizeof(worker) - strlen(worker), ":%d",
			 (int)getpid());
	srand((unsigned)(getpid() ^ time(NULL)));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (sender_init(&s, ctx, worker)) {
		log_error("cannot initialise the HTTP client");
		return EX_SOFTWARE;
	}
	log_info("send-worker started", "worker=%s", worker, "mode=%s", once ? "once" : "loop",
		 "batch_max=%d", ctx->cfg.send_batch_size,
		 "batch_seconds=%d", ctx->cfg.send_batch_seconds, "multi_chip=%d", ctx->cfg.send_multi_chip);

	rc = 0;
	while (!stop_requested) {
		struct outbound *batch = NULL;
		double began = mono_now();
		int n, plan;

		s.unauthorized_evolution = s.unauthorized_zapi = 0;
		plan = claim_heartbeat(&s) ? -1 : claim_plan(&s);
		if (plan > 0) {	/* every chip with room is another worker's now */
			pause_ms(&s, ctx->cfg.send_idle_ms < 200 ? ctx->cfg.send_idle_ms : 200);
			continue;
		}
		n = plan < 0 ? -1 : claim_batch(&s, &batch, max_messages ? max_messages - handled : 0);
		if (n < 0) {
			if (once) {
				rc = db_failure_rc(ctx->db);
				break;
			}
			db_down = db_down ? (db_down * 2 > 30000 ? 30000 : db_down * 2) : 500;
			log_warn("database unavailable, waiting", "retry_in_ms=%d", db_down);
			pause_ms(&s, db_down);
			continue;
		}
		db_down = 0;
		if (n > 0) {
			/* A message that hit a database error stays 'processando'
			 * for the stuck-queue rescue; on a signal the rest go back
			 * at once. */
			if (sender_process_batch(&s, batch, &n, (volatile int *)&stop_requested) < 0)
				failed = 1;
			else
				claim_pace(&s, s.reached, mono_now() - began);
			handled += n;
			claim_free(batch, n);
		}
		if (failed) {
			failed = 0;
			if (once) {
				rc = db_failure_rc(ctx->db);
				break;
			}
			db_down = db_down ? (db_down * 2 > 30000 ? 30000 : db_down * 2) : 500;
			log_warn("database error while sending, waiting", "retry_in_ms=%d", db_down);
			pause_ms(&s, db_down);
			continue;
		}
		if (mono_now() - last_flush >= 10) {
			alert_flush(ctx);
			last_flush = mono_now();
		}
		if (max_messages && handled >= max_messages)
			break;
		/* every chip was held by other workers (the messages went back
		 * due): give them a moment before claiming again */
		if (n > 0 && s.reached == 0 && s.paced > 0)
			pause_ms(&s, ctx->cfg.send_idle_ms < 200 ? ctx->cfg.send_idle_ms : 200);
		if (n == 0) {
			if (once)
				break;
			pause_ms(&s, ctx->cfg.send_idle_ms);
		}
	}
	if (stop_requested)
		log_info("stopping on signal: the message in hand was finished");
	let_go(&s);
	claim_heartbeat(&s);
	alert_flush(ctx);
	summary(&s, ctx->json);
	sender_free(&s);
	return rc;
}
