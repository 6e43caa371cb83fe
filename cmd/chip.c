/* chipctl chip: one chip, for operators (T10.2, T05.4). */
#include "alert.h"
#include "builtin.h"
#include "db.h"
#include "lifecycle.h"
#include "log.h"
#include "termsafe.h"
#include "numparse.h"
#include "provision.h"
#include "trust.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_chip[] =
	"usage: chipctl chip show CHIP [--json]\n"
	"       chipctl chip explain CHIP [--json]\n"
	"       chipctl chip promote CHIP --reason TEXT [--actor NAME] [-n]\n"
	"       chipctl chip demote CHIP --reason TEXT [--actor NAME] [-n]\n"
	"       chipctl chip ban CHIP --reason TEXT [--actor NAME] [-n]\n"
	"       chipctl chip cooldown CHIP --minutes N --reason TEXT [--actor NAME] [-n]\n"
	"\n"
	"CHIP is the chip's id (a uuid), its instance name or its phone number.\n"
	"\n"
	"show      every column of the chip (msgs_enviadas_total and\n"
	"          msgs_recebidas_total among them), its circuit breaker, why it\n"
	"          would be demoted now (pool.demote_* rules; none when nothing\n"
	"          would), its last status transitions and manual actions, and the\n"
	"          conversations migrated off or onto it (chip_migrations).\n"
	"explain   how the stored trust score was reached, factor by factor.\n"
	"promote   one step forward: provisioned -> pending -> warming -> ready ->\n"
	"          active; degraded -> ready through recovery (phase 1, 10 % of\n"
	"          the limits, ramping up over 6 days).\n"
	"demote    to degraded (demovido_em, demovido_motivo = TEXT).\n"
	"ban       to banned, which is final; its Salvy number, if any, is\n"
	"          cancelled with reason whatsapp-ban.\n"
	"cooldown  no sending through the chip for N minutes (0 lifts it).\n"
	"\n"
	"Every change needs --reason and is audited with the actor (--actor, or\n"
	"$USER): a chip_status_transitions row for a status change, and a\n"
	"chip_manual_actions row for every change. A banned chip cannot be\n"
	"changed.\n"
	"\n"
	"  --reason TEXT  why (required for changes)\n"
	"  --minutes N    cooldown length, 0 to 10080\n"
	"  --actor NAME   who (default $USER)\n"
	"  -n, --dry-run  say what would change; change nothing\n"
	"      --json     show: one JSON object on stdout\n"
	"\n"
	"Exit: 0 done, 64 usage, 65 unknown chip or a change the chip's status\n"
	"does not allow (e.g. a banned chip), 75 database unreachable, 78\n"
	"configuration error or refused credentials, 70 internal error.\n";

/* uuid, instance name or phone (separators dropped); an id or instance
 * name match wins over a phone match. */
static const char find_sql[] =
	"SELECT id, instance_name, status,"
	"       id::text = lower($1) OR instance_name = $1 AS exact FROM chips"
	" WHERE id::text = lower($1) OR instance_name = $1"
	"    OR (length(regexp_replace($1, '[^0-9]', '', 'g')) >= 8"
	"        AND $1 ~ '^[-+0-9 ().]+$'"
	"        AND telefone = regexp_replace($1, '[^0-9]', '', 'g'))"
	" ORDER BY 4 DESC LIMIT 2";

struct chip_ref {
	char id[37];
	char name[256];
	char status[16];
};

/* Returns 0, EX_DATAERR for an unknown or ambiguous chip, or a db code. */
static int find_chip(struct chipctl_ctx *ctx, const char *ref, struct chip_ref *out)
{
	const char *params[1] = { ref };
	PGresult *res = db_query(ctx->db, find_sql, 1, params);

	if (!res)
		return db_failure_rc(ctx->db);
	if (PQntuples(res) != 1 && !(PQntuples(res) == 2 &&
				     !strcmp(PQgetvalue(res, 0, 3), "t") &&
				     strcmp(PQgetvalue(res, 1, 3), "t"))) {
		log_error(PQntuples(res) ? "chip reference is ambiguous" : "no such chip",
			  "chip=%s", ref);
		PQclear(res);
		return EX_DATAERR;
	}
	snprintf(out->id, sizeof(out->id), "%s", PQgetvalue(res, 0, 0));
	snprintf(out->name, sizeof(out->name), "%s", PQgetvalue(res, 0, 1));
	snprintf(out->status, sizeof(out->status), "%s", PQgetvalue(res, 0, 2));
	PQclear(res);
	return 0;
}

static const char show_sql[] =
	"SELECT json_build_object("
	"  'chip', to_jsonb(c) - 'zapi_token',"
	"  'breaker', (SELECT json_build_object('state', b.state, 'override', b.override,"
	"     'consecutive_failures', b.consecutive_failures, 'opened_at', b.opened_at,"
	"     'retry_at', b.retry_at, 'last_failure', b.last_failure)"
	"     FROM circuit_breakers b WHERE b.name = 'chip:' || c.id),"
	"  'sent_24h', (SELECT count(*) FROM fila_mensagens f WHERE f.chip_id = c.id"
	"     AND f.enviada_em > now() - interval '24 hours'),"
	"  'transitions', coalesce((SELECT json_agg(t ORDER BY t.id DESC) FROM ("
	"     SELECT id, from_status, to_status, reason, actor, created_at"
	"     FROM chip_status_transitions WHERE chip_id = c.id"
	"     ORDER BY id DESC LIMIT 10) t), '[]'),"
	"  'manual_actions', coalesce((SELECT json_agg(m ORDER BY m.id DESC) FROM ("
	"     SELECT id, action, reason, actor, details, created_at"
	"     FROM chip_manual_actions WHERE chip_id = c.id"
	"     ORDER BY id DESC LIMIT 10) m), '[]'),"
	"  'migrations', coalesce((SELECT json_agg(g ORDER BY g.id DESC) FROM ("
	"     SELECT x.id, x.conversa_id, x.cliente_id,"
	"            CASE WHEN x.chip_origem = c.id THEN 'out' ELSE 'in' END AS direction,"
	"            o.instance_name AS chip_origem, d.instance_name AS chip_destino,"
	"            x.interacoes_count, x.motivo, x.continuidade_agendada, x.mensagem_id,"
	"            x.created_at"
	"     FROM (SELECT * FROM chip_migrations WHERE chip_origem = c.id"
	"           UNION SELECT * FROM chip_migrations WHERE chip_destino = c.id) x"
	"     LEFT JOIN chips o ON o.id = x.chip_origem"
	"     LEFT JOIN chips d ON d.id = x.chip_destino"
	"     ORDER BY x.id DESC LIMIT 20) g), '[]'),"
	"  'demotion_reason', $2::text)"
	" FROM chips c WHERE c.id = $1";

static void print_kv(json_object *o, const char *indent)
{
	json_object_object_foreach(o, k, v) {
		const char *s = v ? json_object_get_string(v) : "-";
		if (v && json_object_is_type(v, json_type_object))
			s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
		printf("%s%-26s %s\n", indent, tsafe(k), tsafe(s));
	}
}

static void print_list(json_object *arr, const char *title, const char *f1,
		       const char *f2, const char *f3)
{
	size_t i, n = json_object_array_length(arr);

	printf("%s:%s\n", title, n ? "" : " none");
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i), *a, *b = NULL, *c, *r, *t;
		json_object_object_get_ex(e, "created_at", &t);
		json_object_object_get_ex(e, f1, &a);
		if (f2)
			json_object_object_get_ex(e, f2, &b);
		json_object_object_get_ex(e, f3, &c);
		json_object_object_get_ex(e, "reason", &r);
		printf("  %s  %s%s%s  by %s: %s\n", tsafe(json_object_get_string(t)),
		       a ? tsafe(json_object_get_string(a)) : "-", b ? " -> " : "",
		       b ? tsafe(json_object_get_string(b)) : "", tsafe(json_object_get_string(c)),
		       tsafe(json_object_get_string(r)));
	}
}

static void print_migrations(json_object *arr)
{
	size_t i, n = json_object_array_length(arr);

	printf("migrations:%s\n", n ? "" : " none");
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i), *v;
		const char *f[6] = { NULL };
		static const char *const k[6] = { "created_at", "conversa_id", "chip_origem",
			"chip_destino", "motivo", "cliente_id" };
		int j, cont;

		for (j = 0; j < 6; j++)
			if (json_object_object_get_ex(e, k[j], &v) && v)
				f[j] = json_object_get_string(v);
		cont = json_object_object_get_ex(e, "continuidade_agendada", &v) &&
		       json_object_get_boolean(v);
		printf("  %s  conversation %s (cliente %s): %s -> %s: %s%s\n", tsafe(f[0]),
		       tsafe(f[1]), f[5] ? tsafe(f[5]) : "-", f[2] ? tsafe(f[2]) : "-",
		       f[3] ? tsafe(f[3]) : "-", tsafe(f[4]),
		       cont ? "; continuity message scheduled" : "");
	}
}

static int show(struct chipctl_ctx *ctx, const struct chip_ref *ch)
{
	char reason[256];
	const char *params[2] = { ch->id, NULL };
	PGresult *res;
	json_object *root, *chip, *brk, *tr, *ma, *sent, *mg;
	int r = lifecycle_demotion_reason(ctx, ch->id, reason, sizeof(reason));

	if (r < 0)
		return db_failure_rc(ctx->db);
	params[1] = r ? reason : NULL;
	if (!(res = db_query(ctx->db, show_sql, 2, params)))
		return db_failure_rc(ctx->db);
	if (ctx->json) {
		puts(PQgetvalue(res, 0, 0));
		PQclear(res);
		return 0;
	}
	root = json_tokener_parse(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (!root)
		return EX_SOFTWARE;
	json_object_object_get_ex(root, "chip", &chip);
	json_object_object_get_ex(root, "breaker", &brk);
	json_object_object_get_ex(root, "sent_24h", &sent);
	json_object_object_get_ex(root, "transitions", &tr);
	json_object_object_get_ex(root, "manual_actions", &ma);
	json_object_object_get_ex(root, "migrations", &mg);
	print_kv(chip, "");
	printf("%-26s %s\n", "sent_24h", tsafe(json_object_get_string(sent)));
	printf("%-26s %s\n", "demotion_reason",
	       r ? tsafe(reason) : "none (nothing would demote it now)");
	if (brk) {
		printf("breaker:\n");
		print_kv(brk, "  ");
	} else {
		printf("%-26s %s\n", "breaker", "closed (no failures recorded)");
	}
	print_list(tr, "transitions", "from_status", "to_status", "actor");
	print_list(ma, "manual actions", "action", NULL, "actor");
	print_migrations(mg);
	json_object_put(root);
	return 0;
}

static const char audit_sql[] =
	"INSERT INTO chip_manual_actions (chip_id, action, reason, actor, details, run_id)"
	" VALUES ($1, $2, $3, $4, $5::jsonb, $6::uuid)";

static int audit(struct chipctl_ctx *ctx, const struct chip_ref *ch,
		 const char *action, const char *reason, const char *actor,
		 const char *details)
{
	const char *p[6] = { ch->id, action, reason, actor, details, ctx->run_id };

	if (ctx->dry_run)
		return 0;
	return db_exec(ctx->db, audit_sql, 6, p) < 0 ? -1 : 0;
}

static const char *promote_target(const char *from)
{
	static const char *const next[][2] = {
		{ "provisioned", "pending" }, { "pending", "warming" },
		{ "warming", "ready" }, { "ready", "active" }, { "degraded", "ready" } };
	size_t i;

	for (i = 0; i < sizeof(next) / sizeof(next[0]); i++)
		if (!strcmp(from, next[i][0]))
			return next[i][1];
	return NULL;
}

static int change_status(struct chipctl_ctx *ctx, const struct chip_ref *ch,
			 const char *action, const char *to, const char *reason,
			 const char *actor)
{
	char details[128];
	int moved;

	if (db_begin(ctx->db))
		return db_failure_rc(ctx->db);
	moved = lifecycle_set_status(ctx, ch->id, to, reason, actor);
	snprintf(details, sizeof(details), "{\"from\":\"%s\",\"to\":\"%s\"}",
		 ch->status, to);
	if (moved < 0 || (moved && audit(ctx, ch, action, reason, actor, details)) ||
	    db_commit(ctx->db)) {
		db_rollback(ctx->db);
		return db_failure_rc(ctx->db);
	}
	if (!moved) {	/* changed under us by another run */
		log_error("chip status changed meanwhile; nothing done", "chip=%s", ch->name);
		return EX_DATAERR;
	}
	printf("%s: %s -> %s%s\n", tsafe(ch->name), ch->status, to,
	       ctx->dry_run ? " (dry run)" : "");
	return 0;
}

static int do_change(struct chipctl_ctx *ctx, const char *sub,
		     const struct chip_ref *ch, const char *reason,
		     const char *actor, int minutes)
{
	const char *to = NULL;

	if (!strcmp(ch->status, "banned")) {
		log_error("chip is banned, and banned is final", "chip=%s", ch->name);
		return EX_DATAERR;
	}
	if (!strcmp(sub, "promote")) {
		if (!(to = promote_target(ch->status))) {
			log_error("chip cannot be promoted from its status",
				  "chip=%s", ch->name, "status=%s", ch->status);
			return EX_DATAERR;
		}
	} else if (!strcmp(sub, "demote")) {
		if (!strcmp(ch->status, "degraded")) {
			log_error("chip is already degraded", "chip=%s", ch->name);
			return EX_DATAERR;
		}
		to = "degraded";
	} else if (!strcmp(sub, "ban")) {
		int rc = change_status(ctx, ch, "ban", "banned", reason, actor);
		char text[600];
		if (rc)
			return rc;
		snprintf(text, sizeof(text), "chip %s banned by %s: %s", ch->name,
			 actor, reason);
		if (alert_raise(ctx, "chip_banned", ch->name, ALERT_WARNING, 0, text) < 0)
			return db_failure_rc(ctx->db);
		if (provision_cancel_banned(ctx, ch->id) < 0)
			return db_failure_rc(ctx->db);
		return 0;
	} else {	/* cooldown */
		char m[16], details[64];
		const char *p[3] = { ch->id, m, reason };
		snprintf(m, sizeof(m), "%d", minutes);
		snprintf(details, sizeof(details), "{\"minutes\":%d}", minutes);
		if (!ctx->dry_run) {
			if (db_begin(ctx->db) ||
			    db_exec(ctx->db, "UPDATE chips SET"
				    " cooldown_until = CASE WHEN $2::int > 0"
				    "   THEN now() + make_interval(mins => $2::int) END,"
				    " cooldown_reason = CASE WHEN $2::int > 0 THEN $3 END,"
				    " updated_at = now() WHERE id = $1", 3, p) < 0 ||
			    audit(ctx, ch, "cooldown", reason, actor, details) ||
			    db_commit(ctx->db)) {
				db_rollback(ctx->db);
				return db_failure_rc(ctx->db);
			}
		}
		log_info(ctx->dry_run ? "would set cooldown" : "cooldown set",
			 "chip=%s", ch->name, "minutes=%d", minutes, "reason=%s", reason,
			 "actor=%s", actor);
		if (minutes)
			printf("%s: cooldown %d min%s\n", tsafe(ch->name), minutes,
			       ctx->dry_run ? " (dry run)" : "");
		else
			printf("%s: cooldown lifted%s\n", tsafe(ch->name),
			       ctx->dry_run ? " (dry run)" : "");
		return 0;
	}
	return change_status(ctx, ch, sub, to, reason, actor);
}

int cmd_chip(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = {
		{ "reason", required_argument, 0, 'r' },
		{ "minutes", required_argument, 0, 'm' },
		{ "actor", required_argument, 0, 'A' },
		CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	static const char *const subs[] = { "show", "explain", "promote", "demote",
					    "ban", "cooldown" };
	const char *sub = NULL, *ref = NULL, *reason = NULL, *actor_s = NULL;
	const char *mins_s = NULL;
	char actor[160];
	struct chip_ref ch;
	int minutes = 0;
	int c, rc, i, known = 0, changes;

	while ((c = cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts)) != -1) {
		if (c == 'r')
			reason = optarg;
		else if (c == 'm')
			mins_s = optarg;
		else if (c == 'A')
			actor_s = optarg;
	}
	if (ctx->exit_now >= 0)
		return ctx_start(ctx);
	if (optind >= argc)
		return cli_usage_error(ctx, "missing subcommand", NULL);
	sub = argv[optind++];
	for (i = 0; i < 6; i++)
		known |= !strcmp(sub, subs[i]);
	if (!known)
		return cli_usage_error(ctx, "unknown subcommand", sub);
	if (optind >= argc)
		return cli_usage_error(ctx, "missing chip (uuid, instance name or phone)", NULL);
	ref = argv[optind++];
	if (optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if ((rc = cli_check_text(ctx, "CHIP", ref)) >= 0)
		return rc;
	changes = strcmp(sub, "show") && strcmp(sub, "explain");
	if (changes && (!reason || !*reason))
		return cli_usage_error(ctx, "--reason is required", sub);
	if (!strcmp(sub, "cooldown")) {
		if (!mins_s)
			return cli_usage_error(ctx, "--minutes is required", sub);
		if (num_parse_int(mins_s, 0, 10080, &minutes) != NUM_OK)
			return cli_usage_error(ctx, "--minutes must be 0 to 10080", mins_s);
	} else if (mins_s) {
		return cli_usage_error(ctx, "--minutes is only for cooldown", mins_s);
	}
	if (!strcmp(sub, "explain")) {
		if ((rc = ctx_start(ctx)) >= 0)
			return rc;
		return trust_explain(ctx, ref);
	}
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	if ((rc = find_chip(ctx, ref, &ch)))
		return rc;
	if (!changes)
		return show(ctx, &ch);
	if (!actor_s)
		actor_s = getenv("USER");
	snprintf(actor, sizeof(actor), "operator:%s",
		 actor_s && *actor_s ? actor_s : "unknown");
	return do_change(ctx, sub, &ch, reason, actor, (int)minutes);
}
