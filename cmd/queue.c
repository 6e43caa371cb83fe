/* chipctl queue: inspect and feed the outbound queue (T01.4). */
#include "builtin.h"
#include "msgtype.h"
#include "db.h"
#include "pgarray.h"
#include "story.h"
#include "log.h"
#include "termsafe.h"
#include "numparse.h"
#include "strbuf.h"
#include "validate.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXT VALIDATE_TEXT_MAX

const char usage_queue[] =
	"usage: chipctl queue stats [--json]\n"
	"       chipctl queue enqueue --cliente ID --telefone PHONE --text TEXT|-\n"
	"                             [--tipo TIPO] [--at TIME] [--prioridade N]\n"
	"                             [--max-tentativas N] [--conversa ID] [-n] [--json]\n"
	"       chipctl queue requeue ID... [-n] [--json]\n"
	"       chipctl queue show ID [--json]\n"
	"\n"
	"stats    messages by status, due now, oldest pending age, sent and\n"
	"         failed in the last hour, and how many wait for a chip (no attempt\n"
	"         spent) by why: WAIT_CIRCUIT_OPEN, WAIT_LIMIT, WAIT_PROVIDER_DOWN, ...\n"
	"enqueue  add one message. PHONE: 10 to 15 digits, '+', spaces, dots,\n"
	"         dashes and parentheses are dropped. TEXT: 1 to 10000 bytes of\n"
	"         UTF-8, not blank (white space only is refused, as the provider\n"
	"         would), '-' reads it from stdin; stored verbatim. TIPO: prospeccao,\n"
	"         followup (default), resposta or campanha. TIME: any timestamp\n"
	"         PostgreSQL accepts (default now). Prints the new id.\n"
	"requeue  put messages in 'erro' or 'cancelada' back to 'pendente' with\n"
	"         their attempts reset; --json prints each id, its status and\n"
	"         whether it was requeued.\n"
	"show     one message's story: the message (status, outcome, attempts\n"
	"         spent, waits, due times, last error), every chip selection\n"
	"         (mode, candidates, threshold, why the chip was chosen or why none\n"
	"         was), every send attempt (chip, provider, HTTP status, result,\n"
	"         whose fault and why, latency, error) and the delivery receipt.\n"
	"\n"
	"Exit: 0 done, 64 usage, 65 invalid value or unknown id (values are\n"
	"checked before connecting), 75 database unreachable, 78 configuration\n"
	"error or refused credentials, 70 internal error.\n";

/* Pending messages that wait for a chip (no attempt spent), by why:
 * outcome_reason_code WAIT_* and UNCERTAIN_TIMEOUT, as the send path left them. */
static const char waiting_sql[] =
	"SELECT outcome_reason_code, count(*) FROM fila_mensagens"
	" WHERE status = 'pendente'"
	"   AND (outcome_reason_code LIKE 'WAIT\\_%' OR outcome_reason_code = 'UNCERTAIN_TIMEOUT')"
	" GROUP BY 1 ORDER BY 2 DESC, 1";

static int stats(struct chipctl_ctx *ctx)
{
	PGresult *res = db_query(ctx->db,
		"SELECT count(*) FILTER (WHERE status = 'pendente'),"
		"  count(*) FILTER (WHERE status = 'pendente' AND agendar_para <= now()),"
		"  count(*) FILTER (WHERE status = 'processando'),"
		"  count(*) FILTER (WHERE status = 'enviada'),"
		"  count(*) FILTER (WHERE status = 'erro'),"
		"  count(*) FILTER (WHERE status = 'cancelada'),"
		"  (SELECT count(*) FROM fila_mensagens WHERE status = 'enviada'"
		"     AND enviada_em > now() - interval '1 hour'),"
		"  (SELECT count(*) FROM fila_mensagens WHERE status = 'erro'"
		"     AND updated_at > now() - interval '1 hour'),"
		"  coalesce((SELECT extract(epoch FROM now() - min(agendar_para))::bigint"
		"     FROM fila_mensagens WHERE status = 'pendente'"
		"       AND agendar_para <= now()), 0)"
		" FROM fila_mensagens", 0, NULL);
	static const char *names[] = { "pendente", "due", "processando", "enviada",
				       "erro", "cancelada", "sent_last_hour",
				       "errors_last_hour", "oldest_due_age_s" };
	PGresult *w;
	long waiting = 0;
	int i;

	if (!res)
		return db_failure_rc(ctx->db);
	if (!(w = db_query(ctx->db, waiting_sql, 0, NULL))) {
		PQclear(res);
		return db_failure_rc(ctx->db);
	}
	for (i = 0; i < PQntuples(w); i++)
		waiting += db_long(w, i, 1);
	if (ctx->json) {
		json_object *o = json_object_new_object(), *by = json_object_new_object();
		for (i = 0; i < 9; i++)
			json_object_object_add(o, names[i],
					       json_object_new_int64(db_long(res, 0, i)));
		json_object_object_add(o, "waiting", json_object_new_int64(waiting));
		for (i = 0; i < PQntuples(w); i++)
			json_object_object_add(by, PQgetvalue(w, i, 0),
					       json_object_new_int64(db_long(w, i, 1)));
		json_object_object_add(o, "waiting_by_reason", by);
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		for (i = 0; i < 9; i++)
			printf("%-18s %ld\n", names[i], db_long(res, 0, i));
		printf("%-18s %ld\n", "waiting", waiting);
		for (i = 0; i < PQntuples(w); i++)
			printf("  %-16s %ld\n", tsafe(PQgetvalue(w, i, 0)), db_long(w, i, 1));
	}
	PQclear(w);
	PQclear(res);
	return 0;
}

static char *read_stdin_text(void)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	size_t n;

	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
		sb_addn(&sb, buf, n);
		if (sb.len > MAX_TEXT)
			break;
	}
	/* A trailing newline from echo or a heredoc is not part of the text. */
	if (sb.len && sb.buf[sb.len - 1] == '\n')
		sb.buf[--sb.len] = '\0';
	return sb_detach(&sb);
}

static int bad_value(const char *what, const char *detail)
{
	log_error("invalid value", "option=%s", what, "error=%s", detail);
	return EX_DATAERR;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	return num_parse_int(s, lo, hi, out) == NUM_OK ? 0 : -1;
}

static int enqueue(struct chipctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cliente", required_argument, 0, 'C' },
		{ "telefone", required_argument, 0, 'T' },
		{ "text", required_argument, 0, 'x' },
		{ "tipo", required_argument, 0, 't' },
		{ "at", required_argument, 0, 'a' },
		{ "prioridade", required_argument, 0, 'p' },
		{ "max-tentativas", required_argument, 0, 'm' },
		{ "conversa", required_argument, 0, 'k' },
		CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	const char *cliente = NULL, *telefone = NULL, *text = NULL, *tipo = "followup";
	const char *at = NULL, *conversa = NULL, *prio_s = NULL, *max_s = NULL;
	char phone[32], prio[16], maxt[16];
	char *owned = NULL;
	const char *params[8], *why;
	PGresult *res;
	int c, rc, v;

	while ((c = cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts)) != -1) {
		switch (c) {
		case 'C': cliente = optarg; break;
		case 'T': telefone = optarg; break;
		case 'x': text = optarg; break;
		case 't': tipo = optarg; break;
		case 'a': at = optarg; break;
		case 'p': prio_s = optarg; break;
		case 'm': max_s = optarg; break;
		case 'k': conversa = optarg; break;
		}
	}
	if (ctx->exit_now >= 0)
		return ctx->exit_now;
	if (!cliente || !telefone || !text)
		return cli_usage_error(ctx, "enqueue needs --cliente, --telefone and --text", NULL);
	if (optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	/* Values are checked before connecting: bad input is 65 even when
	 * the database is down, and a dry run needs no database for it. */
	if (!*cliente || strlen(cliente) > 200)
		return bad_value("--cliente", "must be 1 to 200 characters");
	if (validate_phone(telefone, phone, sizeof(phone)))
		return bad_value("--telefone", "must have 10 to 15 digits");
	if (!msgtype_known(tipo))
		return bad_value("--tipo", "must be prospeccao, followup, resposta or campanha");
	v = 5;
	if (prio_s && parse_int(prio_s, 0, 9, &v))
		return bad_value("--prioridade", "must be 0 (first) to 9");
	snprintf(prio, sizeof(prio), "%d", v);
	if (max_s && parse_int(max_s, 1, 100, &v))
		return bad_value("--max-tentativas", "must be 1 to 100");
	if (!strcmp(text, "-"))
		text = owned = read_stdin_text();
	if ((why = validate_message_text(text, strlen(text)))) {
		free(owned);
		return bad_value("--text", why);	/* what the provider would refuse */
	}
	if ((rc = ctx_start(ctx)) >= 0) {
		free(owned);
		return rc;
	}
	snprintf(maxt, sizeof(maxt), "%d", max_s ? v : ctx->cfg.queue_max_tentativas);

	params[0] = cliente;
	params[1] = phone;
	params[2] = text;
	params[3] = tipo;
	params[4] = at;
	params[5] = prio;
	params[6] = maxt;
	params[7] = conversa;
	if (ctx->dry_run) {
		const char *p_at[1] = { at };
		res = at ? db_query(ctx->db, "SELECT $1::timestamptz", 1, p_at) : NULL;
		if (at && !res) {
			free(owned);
			return !strncmp(db_last_sqlstate(ctx->db), "22", 2) ?
				bad_value("--at", "not a timestamp PostgreSQL understands") :
				db_failure_rc(ctx->db);
		}
		PQclear(res);
		log_info("would enqueue message", "cliente=%s", cliente,
			 "telefone=%s", phone, "tipo=%s", tipo, "bytes=%zu", strlen(text));
		free(owned);
		return 0;
	}
	res = db_query(ctx->db,
		"INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo,"
		"  agendar_para, prioridade, max_tentativas, conversa_id)"
		" VALUES ($1, $2, $3, $4, coalesce($5::timestamptz, now()),"
		"  $6::smallint, $7::int, $8)"
		" RETURNING id, correlation_id", 8, params);
	free(owned);
	if (!res) {
		/* 22xxx: the server could not read a value (e.g. --at) */
		if (!strncmp(db_last_sqlstate(ctx->db), "22", 2))
			return bad_value("--at", "not a timestamp PostgreSQL understands");
		return db_failure_rc(ctx->db);
	}
	if (ctx->json)
		printf("{\"id\":%s,\"correlation_id\":\"%s\"}\n", PQgetvalue(res, 0, 0),
		       PQgetvalue(res, 0, 1));
	else
		printf("%s\n", PQgetvalue(res, 0, 0));
	log_info("message enqueued", "id=%s", PQgetvalue(res, 0, 0),
		 "correlation_id=%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	return 0;
}

static int requeue(struct chipctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	struct strbuf ids = STRBUF_INIT;
	const char *params[2];
	json_object *arr;
	PGresult *res;
	int i, rc, n, r;

	while (cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts) != -1)
		;
	if (ctx->exit_now >= 0)
		return ctx->exit_now;
	if (optind >= argc)
		return cli_usage_error(ctx, "requeue needs at least one message id", NULL);
	for (i = optind; i < argc; i++) {
		long long v;
		if (num_parse(argv[i], 1, LLONG_MAX, &v) != NUM_OK) {
			sb_free(&ids);
			return bad_value("ID", "message ids are positive integers");
		}
		pga_addl(&ids, (long)v);
	}
	pga_end(&ids);
	if ((rc = ctx_start(ctx)) >= 0) {
		sb_free(&ids);
		return rc;
	}
	params[0] = sb_str(&ids);
	params[1] = ctx->dry_run ? "t" : "f";
	/* One statement: which ids exist, which were requeued. */
	res = db_query(ctx->db,
		"WITH want AS (SELECT unnest($1::bigint[]) AS id),"
		" upd AS ("
		"  UPDATE fila_mensagens f SET status = 'pendente', tentativas = 0,"
		"    outcome = NULL, outcome_reason_code = NULL, agendar_para = now(),"
		"    processando_desde = NULL, worker_id = NULL, updated_at = now()"
		"  WHERE f.id IN (SELECT id FROM want) AND f.status IN ('erro', 'cancelada')"
		"    AND NOT $2::boolean"
		"  RETURNING f.id)"
		" SELECT w.id, f.status, (u.id IS NOT NULL)"
		" FROM want w LEFT JOIN fila_mensagens f ON f.id = w.id"
		" LEFT JOIN upd u ON u.id = w.id ORDER BY w.id", 2, params);
	sb_free(&ids);
	if (!res)
		return db_failure_rc(ctx->db);
	n = PQntuples(res);
	rc = 0;
	arr = ctx->json ? json_object_new_array() : NULL;
	for (r = 0; r < n; r++) {
		const char *id = PQgetvalue(res, r, 0);
		const char *status = db_val(res, r, 1);
		if (arr) {
			json_object *o = json_object_new_object();
			json_object_object_add(o, "id", json_object_new_int64(db_long(res, r, 0)));
			json_object_object_add(o, "status", status ?
					       json_object_new_string(status) : NULL);
			json_object_object_add(o, "requeued", json_object_new_boolean(
					       PQgetvalue(res, r, 2)[0] == 't'));
			json_object_array_add(arr, o);
		}
		if (!status) {
			log_error("unknown message id", "id=%s", id);
			rc = EX_DATAERR;
		} else if (PQgetvalue(res, r, 2)[0] == 't') {
			log_info("message requeued", "id=%s", id, "was=%s", status);
		} else if (ctx->dry_run && (!strcmp(status, "erro") ||
					    !strcmp(status, "cancelada"))) {
			log_info("would requeue message", "id=%s", id, "status=%s", status);
		} else {
			log_warn("message not requeued: not in erro or cancelada",
				 "id=%s", id, "status=%s", status);
		}
	}
	PQclear(res);
	if (arr) {
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
		json_object_put(arr);
	}
	return rc;
}

/* ---- queue show: one message's story (story.h) ---- */

static int show(struct chipctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	char *story;
	long long v;
	int rc;

	while (cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts) != -1)
		;
	if (ctx->exit_now >= 0)
		return ctx->exit_now;
	if (optind >= argc)
		return cli_usage_error(ctx, "show needs a message id", NULL);
	if (optind + 1 < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind + 1]);
	if (num_parse(argv[optind], 1, LLONG_MAX, &v) != NUM_OK)
		return bad_value("ID", "message ids are positive integers");
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	if (!(story = story_fetch(ctx->db, argv[optind])))
		return db_failure_rc(ctx->db);
	if (!*story) {
		free(story);
		log_error("unknown message id", "id=%s", argv[optind]);
		return EX_DATAERR;
	}
	if (ctx->json)
		puts(story);
	else
		rc = story_print(stdout, story) < 0 ? EX_SOFTWARE : 0;
	free(story);
	return ctx->json ? 0 : rc;
}

int cmd_queue(int argc, char **argv, struct chipctl_ctx *ctx)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	int rc;

	if (sub && sub[0] != '-') {
		argc--;
		argv++;
	}
	if (sub && !strcmp(sub, "enqueue"))
		return enqueue(ctx, argc, argv);
	if (sub && !strcmp(sub, "requeue"))
		return requeue(ctx, argc, argv);
	if (sub && !strcmp(sub, "show"))
		return show(ctx, argc, argv);
	if (sub && strcmp(sub, "stats") && sub[0] != '-')
		return cli_usage_error(ctx, "unknown subcommand", sub);
	{
		static const struct option opts[] = { CLI_COMMON_LONG, { 0, 0, 0, 0 } };

		while (cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts) != -1)
			;
		if (ctx->exit_now < 0 && !sub)
			return cli_usage_error(ctx, "missing subcommand (stats, show, enqueue or requeue)", NULL);
		if (ctx->exit_now < 0 && optind < argc)
			return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	}
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	return stats(ctx);
}
