/* chipctl migrate: bring the database to the schema this binary expects. */
#include "builtin.h"
#include "db.h"
#include "log.h"
#include "migrations.h"

#include <json-c/json.h>
#include <stdio.h>

const char usage_migrate[] =
	"usage: chipctl migrate [--status] [-n|--dry-run] [--json]\n"
	"\n"
	"Apply the SQL compiled into chipctl: first the numbered migrations of\n"
	"sql/ that are pending (tables, columns, indexes, data), then every\n"
	"repeatable file of sql/functions/ (functions, views, triggers) whose\n"
	"checksum differs from the one recorded, in their order; all in one\n"
	"transaction, so an error leaves nothing of the run applied. Checksums are\n"
	"recorded in schema_migrations and schema_repeatables. Re-running applies\n"
	"nothing. A numbered migration edited after it was applied is refused\n"
	"(exit 65).\n"
	"\n"
	"  --status       list every file, both kinds, and its state; apply nothing\n"
	"  -n, --dry-run  say what would be applied; apply nothing\n"
	"      --json     print the list as JSON\n"
	"\n"
	"Exit: 0 done, 65 an applied migration was edited, 75 database\n"
	"unreachable, 78 configuration error, 70 a migration failed.\n";

static void print_list(struct chipctl_ctx *ctx, struct migration_status *list,
		       int n)
{
	int i;

	if (ctx->json) {
		json_object *arr = json_object_new_array();
		for (i = 0; i < n; i++) {
			json_object *o = json_object_new_object();
			json_object_object_add(o, "kind", json_object_new_string(
				list[i].repeatable ? "repeatable" : "numbered"));
			json_object_object_add(o, "version", json_object_new_int(list[i].version));
			json_object_object_add(o, "name", json_object_new_string(list[i].name));
			json_object_object_add(o, "state", json_object_new_string(
				migration_state_name(list[i].state)));
			json_object_array_add(arr, o);
		}
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
		json_object_put(arr);
		return;
	}
	for (i = 0; i < n; i++)
		if (list[i].repeatable)
			printf("R%02d  %-8s %s\n", list[i].version,
			       migration_state_name(list[i].state), list[i].name);
		else
			printf("%03d  %-8s %s\n", list[i].version,
			       migration_state_name(list[i].state), list[i].name);
}

int cmd_migrate(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = {
		{ "status", no_argument, 0, 's' }, CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	struct migration_status list[256];
	struct migrate_result done;
	int c, status_only = 0, pending, edited, unknown, n, i, rc;

	while ((c = cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts)) != -1) {
		if (c == 's')
			status_only = 1;
	}
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;

	if (migrations_check(ctx->db, &pending, &edited, &unknown, list, 256, &n))
		return db_failure_rc(ctx->db);
	for (i = 0; i < n; i++)
		if (list[i].state == MIG_EDITED)
			log_error("migration was edited after it was applied",
				  "name=%s", list[i].name);
	if (unknown)
		log_warn("the database has migrations this chipctl does not know",
			 "count=%d", unknown);
	if (status_only || ctx->dry_run) {
		if (ctx->dry_run && !ctx->json)
			for (i = 0; i < n; i++)
				if (list[i].state == MIG_PENDING ||
				    list[i].state == MIG_CHANGED)
					log_info("would apply migration", "name=%s",
						 list[i].name);
		print_list(ctx, list, n);
		return edited ? EX_DATAERR : 0;
	}
	if (edited)
		return EX_DATAERR;
	if (migrations_apply(ctx->db, ctx->run_id, &done))
		return db_failure_rc(ctx->db);
	log_info("database is up to date", "applied=%d", done.numbered,
		 "repeatable=%d", done.repeatable, "total=%d", nmigrations,
		 "repeatables=%d", nrepeatables);
	if (ctx->json) {
		if (migrations_check(ctx->db, &pending, &edited, &unknown, list, 256, &n))
			return db_failure_rc(ctx->db);
		print_list(ctx, list, n);
	}
	return 0;
}
