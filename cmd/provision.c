/* chipctl provision: new numbers from Salvy, by hand (T11.3). */
#include "builtin.h"
#include "db.h"
#include "lifecycle.h"
#include "log.h"
#include "numparse.h"
#include "provision.h"
#include "salvy.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_provision[] =
	"usage: chipctl provision [--area-code DD] [--count N] [--actor NAME]\n"
	"                         [-n|--dry-run] [--json]\n"
	"\n"
	"Get N (default 1, at most 100) new virtual numbers from Salvy in area\n"
	"code DD (default salvy.area_code), each a new chip in 'provisioned'\n"
	"named chip-PHONE; create its Evolution instance (POST /instance/create,\n"
	"with a QR code) and move it to 'pending', awaiting the QR scan. Numbers\n"
	"provisioned in the last 24 h, by hand or by pool-check, count against\n"
	"salvy.max_per_day. The request is recorded in provisioning_requests.\n"
	"A failed instance creation leaves the chip in 'provisioned'; pool-check\n"
	"retries it.\n"
	"\n"
	"  --area-code DD  Brazilian area code, 11 to 99\n"
	"  --count N       how many numbers\n"
	"  --actor NAME    who asks (default $USER)\n"
	"  -n, --dry-run   show how many the daily bound allows; change nothing\n"
	"      --json      print the outcome as JSON on stdout\n"
	"\n"
	"Exit: 0 every number provisioned, 64 usage, 65 Salvy refused the request\n"
	"(e.g. no stock in that area code), 75 the daily bound allows fewer than\n"
	"asked (those allowed are provisioned; try again later) or Salvy or the\n"
	"database unreachable, or Salvy's answer malformed (the field is named),\n"
	"78 configuration error (salvy.api_key is needed)\n"
	"or refused credentials, 70 internal error.\n";

static int parse_int(const char *s, int lo, int hi, int *out)
{
	return num_parse_int(s, lo, hi, out) == NUM_OK ? 0 : -1;
}

int cmd_provision(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = {
		{ "area-code", required_argument, 0, 'a' },
		{ "count", required_argument, 0, 'N' },
		{ "actor", required_argument, 0, 'A' },
		CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	const char *area_s = NULL, *actor_s = NULL;
	char actor[128];
	int c, area = 0, n = 1, rc;
	struct provision_result pr;

	while ((c = cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts)) != -1) {
		if (c == 'a')
			area_s = optarg;
		else if (c == 'N' && parse_int(optarg, 1, 100, &n))
			return cli_usage_error(ctx, "--count must be 1 to 100", optarg);
		else if (c == 'A')
			actor_s = optarg;
	}
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if (ctx->exit_now < 0 && area_s && parse_int(area_s, 11, 99, &area))
		return cli_usage_error(ctx, "--area-code must be 11 to 99", area_s);
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	if (!salvy_configured(&ctx->cfg)) {
		log_error("salvy.api_key must be set (SALVY_API_KEY)");
		return EX_CONFIG;
	}
	if (!area)
		area = ctx->cfg.salvy_area_code;
	if (!actor_s)
		actor_s = getenv("USER");
	snprintf(actor, sizeof(actor), "operator:%s", actor_s && *actor_s ? actor_s : "unknown");
	if (provision_numbers(ctx, area, n, "manual", actor, &pr))
		return db_failure_rc(ctx->db);
	log_info(ctx->dry_run ? "would provision" : "provisioned", "requested=%d", n,
		 "allowed=%d", pr.allowed, "numbers=%d", pr.numbers,
		 "pending=%d", pr.pending, "area_code=%d", area);
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "dry_run", json_object_new_boolean(ctx->dry_run));
		json_object_object_add(o, "requested", json_object_new_int(n));
		json_object_object_add(o, "allowed", json_object_new_int(pr.allowed));
		json_object_object_add(o, "provisioned", json_object_new_int(pr.numbers));
		json_object_object_add(o, "pending", json_object_new_int(pr.pending));
		if (pr.error[0])
			json_object_object_add(o, "error", json_object_new_string(pr.error));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	}
	if (pr.failed)
		return pr.rc;
	if (pr.allowed < n) {
		log_warn("the daily bound allows fewer numbers than asked",
			 "error=%s", pr.error);
		return EX_TEMPFAIL;
	}
	return 0;
}
