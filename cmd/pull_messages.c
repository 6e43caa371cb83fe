/* chipctl pull-messages: each Evolution chip's traffic read from its server
 * and applied as ingest applies webhook events (issue 20). */
#include "builtin.h"
#include "job.h"
#include "log.h"
#include "pull.h"

#include <json-c/json.h>
#include <stdio.h>

const char usage_pull_messages[] =
	"usage: chipctl pull-messages [--chip CHIP] [-n|--dry-run] [--json]\n"
	"\n"
	"Read each Evolution chip's messages and receipts from its server\n"
	"(POST /chat/findMessages/INSTANCE) and apply them by the rules of\n"
	"`chipctl ingest`, so trust is fed without webhooks or the application:\n"
	"  a message from someone else   a reply: counted for the response rate\n"
	"                                only when it answers a message the chip\n"
	"                                sent; affinity, bidirectional conversation\n"
	"  a fromMe message              chipctl's own send: nothing more; else an\n"
	"                                outbound interaction (warming traffic)\n"
	"  its MessageUpdate receipts    delivery of a message the chip sent\n"
	"  its messageType               media diversity\n"
	"Each record is dated by its own messageTimestamp, and counted once by the\n"
	"provider's message id, whether it came through ingest, a send of\n"
	"chipctl's or an earlier pull.\n"
	"\n"
	"Every Evolution chip with an instance is read (banned and provisioned\n"
	"chips excepted; Z-API keeps no message history, its chips are skipped),\n"
	"pull.max_in_flight at once, from its cursor less pull.overlap_s (600) up\n"
	"to now, at most pull.max_pages pages of pull.page_size records; a chip\n"
	"never read starts pull.first_days (30) back. The cursor moves with the\n"
	"chip's last page, in the same transaction. A chip whose instance is\n"
	"missing (404), refused or slow (evolution.timeout_ms) is logged and\n"
	"counted; its cursor stays, the other chips are read.\n"
	"\n"
	"First, a message known sent is looked up by its id: when the server\n"
	"keeps no messages (DATABASE_SAVE_DATA_NEW_MESSAGE=false), the run says so\n"
	"once, records it for `chipctl health evolution` and reads no chip.\n"
	"\n"
	"      --chip CHIP  read that chip only (id, instance name or phone)\n"
	"  -n, --dry-run    read and apply in transactions rolled back: counts\n"
	"                   only, nothing written\n"
	"      --json       print the counts as JSON on stdout\n"
	"\n"
	"Exit: 0 done (also when some chips could not be read, or another run\n"
	"holds the lease), 64 usage, 65 no Evolution chip CHIP, 70 internal\n"
	"error, 75 the database unreachable or no chip could be read, 78\n"
	"configuration error (evolution.url and evolution.api_key are needed).\n";

static void print_json(const struct chipctl_ctx *ctx, const struct pull_counts *n)
{
	json_object *o = json_object_new_object();
	const struct {
		const char *k;
		long v;
	} f[] = {
		{ "chips", n->chips }, { "chips_read", n->read }, { "pages", n->pages },
		{ "records", n->records }, { "replies", n->replies },
		{ "answered", n->answered }, { "outbound", n->outbound }, { "own", n->own },
		{ "claimed", n->claimed }, { "receipts", n->receipts },
		{ "duplicates", n->duplicates }, { "skipped", n->skipped },
		{ "malformed", n->malformed }, { "failures", n->failures },
	};
	size_t i;

	json_object_object_add(o, "dry_run", json_object_new_boolean(ctx->dry_run));
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		json_object_object_add(o, f[i].k, json_object_new_int64(f[i].v));
	json_object_object_add(o, "keeps_messages", n->keeps_messages < 0 ? NULL :
			       json_object_new_boolean(n->keeps_messages));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

int cmd_pull_messages(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = {
		CLI_COMMON_LONG, { "chip", required_argument, 0, 1100 }, { 0, 0, 0, 0 }
	};
	struct pull_counts n;
	const char *chip = NULL;
	int c, rc;

	while ((c = cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts)) != -1)
		if (c == 1100)
			chip = optarg;
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if (ctx->exit_now < 0 && chip && !*chip)
		return cli_usage_error(ctx, "empty chip", chip);
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	rc = pull_run(ctx, chip, &n);
	if (rc && rc != EX_TEMPFAIL)
		return rc;
	log_info(ctx->dry_run ? "would apply the chips' history" : "applied the chips' history",
		 "chips=%ld", n.chips, "chips_read=%ld", n.read, "pages=%ld", n.pages,
		 "records=%ld", n.records, "replies=%ld", n.replies,
		 "answered=%ld", n.answered, "outbound=%ld", n.outbound, "own=%ld", n.own,
		 "receipts=%ld", n.receipts, "duplicates=%ld", n.duplicates,
		 "skipped=%ld", n.skipped, "failures=%ld", n.failures);
	job_count(ctx, "chips", n.chips);
	job_count(ctx, "records", n.records);
	job_count(ctx, "replies", n.replies);
	job_count(ctx, "outbound", n.outbound);
	job_count(ctx, "receipts", n.receipts);
	job_count(ctx, "duplicates", n.duplicates);
	job_count(ctx, "failures", n.failures);
	if (ctx->json)
		print_json(ctx, &n);
	return rc;
}
