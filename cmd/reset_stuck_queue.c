/* chipctl reset-stuck-queue: take back stuck and dead workers' messages,
 * expire old ones (T01.1, T01.2; issues 19 and 23). The work is in
 * common/rescue.c. */
#include "builtin.h"
#include "db.h"
#include "rescue.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

const char usage_reset_stuck_queue[] =
	"usage: chipctl reset-stuck-queue [--expire] [-n|--dry-run] [--json]\n"
	"\n"
	"Without --expire (every minute): takes back the messages of a dead\n"
	"send-worker (its heartbeat older than watchdog.heartbeat_s, 120) at once,\n"
	"and any message in 'processando' for more than queue.stuck_minutes (60).\n"
	"One its worker proved sent (a successful attempt since it was claimed)\n"
	"is recorded 'enviada', never sent again. One whose send started and was\n"
	"never answered goes back to 'pendente' keeping its chip, its start and\n"
	"its reservations: the next claim asks the provider whether it went out.\n"
	"Any other goes back to 'pendente' and gives back its doctor's quota\n"
	"share and its chip's room, once: a dead worker's spends no attempt; the\n"
	"60-minute rule spends one, and one whose attempts are used up becomes\n"
	"'erro' with outcome FAILED_MAX_ATTEMPTS, and an alert is raised. Chips\n"
	"held by a dead worker (or whose hold expired) give back the room it\n"
	"reserved and are free again.\n"
	"\n"
	"With --expire (daily at 03:00): a message 'pendente' more than\n"
	"queue.expire_hours (24) past its first due time (its creation, or the\n"
	"time it was scheduled for; never a later reschedule, so waiting for a\n"
	"chip cannot keep it alive) becomes 'cancelada' with outcome FAILED_EXPIRED.\n"
	"\n"
	"  --expire       cancel expired pending messages instead\n"
	"  -n, --dry-run  decide and count as a run would; change nothing\n"
	"      --json     print the counts as JSON on stdout\n"
	"\n"
	"Exit: 0 done (also when another run holds the lease), 64 usage, 75\n"
	"database unreachable, 78 configuration error or refused credentials,\n"
	"70 internal error.\n";

static void print_rescue(const struct chipctl_ctx *ctx, const struct rescue_counts *c)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "dry_run", json_object_new_boolean(ctx->dry_run));
	json_object_object_add(o, "requeued", json_object_new_int64(c->requeued));
	json_object_object_add(o, "failed_max_attempts", json_object_new_int64(c->failed));
	json_object_object_add(o, "recorded_sent", json_object_new_int64(c->recorded_sent));
	json_object_object_add(o, "requeued_dead_worker", json_object_new_int64(c->requeued_dead));
	json_object_object_add(o, "uncertain", json_object_new_int64(c->uncertain));
	json_object_object_add(o, "given_back", json_object_new_int64(c->given_back));
	json_object_object_add(o, "chips_released", json_object_new_int64(c->chips_released));
	json_object_object_add(o, "chip_room_given_back",
			       json_object_new_int64(c->room_given_back));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void print_expire(const struct chipctl_ctx *ctx, long expired)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "dry_run", json_object_new_boolean(ctx->dry_run));
	json_object_object_add(o, "expired", json_object_new_int64(expired));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

int cmd_reset_stuck_queue(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = {
		{ "expire", no_argument, 0, 'e' }, CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	int c, do_expire = 0, rc;

	while ((c = cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts)) != -1)
		if (c == 'e')
			do_expire = 1;
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	/* The daily expiry has its own lease, so it never skips the rescue
	 * that cron starts in the same minute. */
	if (do_expire)
		ctx->job_name = "reset-stuck-queue-expire";
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	if (do_expire) {
		long expired = 0;

		if (rescue_expire(ctx, &expired) < 0)
			return db_failure_rc(ctx->db);
		if (ctx->json)
			print_expire(ctx, expired);
	} else {
		struct rescue_counts rc_counts;

		if (rescue_stuck(ctx, &rc_counts) < 0)
			return db_failure_rc(ctx->db);
		if (ctx->json)
			print_rescue(ctx, &rc_counts);
	}
	return 0;
}
