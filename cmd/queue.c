/* chipctl queue: inspect and feed the outbound queue (T01.4). */
#include "builtin.h"
#include "msgtype.h"
#include "db.h"
#include "pgarray.h"
#include "log.h"
#include "strbuf.h"
#include "validate.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXT 10000

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
	"         UTF-8, '-' reads it from stdin; stored verbatim. TIPO: prospeccao,\n"
	"         followup (default), resposta or campanha. TIME: any timestamp\n"
	"         PostgreSQL accepts (default now). Prints the new id.\n"
	"requeue  put messages in 'erro' or 'cancelada' back to 'pendente' with\n"
	"         their attempts reset; --json prints each id, its status and\n"
	"         whether it was requeued.\n"
	"show     one message's story: the message (status, outcome, attempts\n"
	"         spent, waits, due times, last error), every chip selection\n"
	"         (mode, candidates, threshold, why the chip was chosen or why none\n"
	"         was), every send attempt (chip, provider, HTTP status, result,\n"
	"         whose fault, latency, error) and the delivery receipt.\n"
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
			printf("  %-16s %ld\n", PQgetvalue(w, i, 0), db_long(w, i, 1));
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
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
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
	const char *params[8];
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
	if (!*text || strlen(text) > MAX_TEXT || !validate_text(text, strlen(text))) {
		free(owned);
		return bad_value("--text", "must be 1 to 10000 bytes of UTF-8 text");
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
		char *end;
		long long v = strtoll(argv[i], &end, 10);
		if (!*argv[i] || *end || v <= 0) {
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

/* ---- queue show: one message's story ---- */

static const char show_sql[] =
	"SELECT json_build_object("
	"  'message', json_build_object('id', f.id, 'cliente_id', f.cliente_id,"
	"     'telefone', f.telefone, 'tipo', f.tipo, 'prioridade', f.prioridade,"
	"     'status', f.status, 'tentativas', f.tentativas,"
	"     'max_tentativas', f.max_tentativas, 'esperas', f.esperas,"
	"     'created_at', f.created_at, 'first_due_at', coalesce(f.first_due_at, f.agendar_para),"
	"     'agendar_para', f.agendar_para, 'processando_desde', f.processando_desde,"
	"     'worker_id', f.worker_id, 'enviada_em', f.enviada_em, 'chip', c.instance_name,"
	"     'chip_id', f.chip_id, 'conversa_id', f.conversa_id, 'outcome', f.outcome,"
	"     'outcome_reason_code', f.outcome_reason_code, 'ultimo_erro', f.ultimo_erro,"
	"     'correlation_id', f.correlation_id, 'provider_message_id', f.provider_message_id),"
	"  'selections', coalesce((SELECT json_agg(json_build_object('at', s.created_at,"
	"     'chip', sc.instance_name, 'chip_id', s.chip_id, 'mode', s.mode,"
	"     'candidates', s.candidates, 'threshold', s.threshold, 'reason', s.reason,"
	"     'worker_id', s.worker_id) ORDER BY s.created_at, s.id)"
	"     FROM chip_selection_log s LEFT JOIN chips sc ON sc.id = s.chip_id"
	"     WHERE s.message_id = f.id), '[]'),"
	"  'attempts', coalesce((SELECT json_agg(json_build_object('at', a.created_at,"
	"     'attempt', a.attempt, 'chip', ac.instance_name, 'chip_id', a.chip_id,"
	"     'provider', a.provider, 'http_status', a.http_status, 'result', a.result,"
	"     'fault', a.fault, 'uncertain', a.uncertain, 'latency_ms', a.latency_ms,"
	"     'error', a.error) ORDER BY a.id)"
	"     FROM send_attempts a LEFT JOIN chips ac ON ac.id = a.chip_id"
	"     WHERE a.message_id = f.id), '[]'),"
	"  'receipt', (SELECT json_build_object('last_status', r.last_status,"
	"     'server_ack_at', r.server_ack_at, 'delivered_at', r.delivered_at,"
	"     'read_at', r.read_at, 'error_at', r.error_at)"
	"     FROM message_receipts r WHERE r.provider_message_id = f.provider_message_id))"
	" FROM fila_mensagens f LEFT JOIN chips c ON c.id = f.chip_id"
	" WHERE f.id = $1::bigint";

static const char *js(json_object *o, const char *k)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v) || !v)
		return NULL;
	return json_object_get_string(v);
}

static const char *or_dash(const char *s)
{
	return s ? s : "-";
}

static void print_story(json_object *root)
{
	json_object *m, *sel, *att, *rcpt;
	size_t i, n;

	json_object_object_get_ex(root, "message", &m);
	json_object_object_get_ex(root, "selections", &sel);
	json_object_object_get_ex(root, "attempts", &att);
	json_object_object_get_ex(root, "receipt", &rcpt);
	printf("message %s: %s to %s (cliente %s), priority %s\n", js(m, "id"), js(m, "tipo"),
	       js(m, "telefone"), js(m, "cliente_id"), js(m, "prioridade"));
	printf("  status %s, outcome %s%s%s\n", js(m, "status"), or_dash(js(m, "outcome")),
	       js(m, "outcome_reason_code") ? " " : "", js(m, "outcome_reason_code") ?
	       js(m, "outcome_reason_code") : "");
	printf("  created %s, first due %s, due %s\n", js(m, "created_at"),
	       js(m, "first_due_at"), js(m, "agendar_para"));
	printf("  attempts spent %s of %s, waits for a chip %s\n", js(m, "tentativas"),
	       js(m, "max_tentativas"), js(m, "esperas"));
	if (js(m, "processando_desde"))
		printf("  processing since %s by %s\n", js(m, "processando_desde"),
		       or_dash(js(m, "worker_id")));
	if (js(m, "enviada_em"))
		printf("  sent %s on %s, provider message id %s\n", js(m, "enviada_em"),
		       or_dash(js(m, "chip")), or_dash(js(m, "provider_message_id")));
	if (js(m, "ultimo_erro"))
		printf("  last error: %s\n", js(m, "ultimo_erro"));
	printf("  correlation id %s%s%s\n", js(m, "correlation_id"),
	       js(m, "conversa_id") ? ", conversation " : "", js(m, "conversa_id") ?
	       js(m, "conversa_id") : "");
	n = json_object_array_length(sel);
	printf("chip selection:%s\n", n ? "" : " none recorded");
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(sel, i);
		printf("  %s  %-10s %-22s candidates %s, threshold %s: %s\n", js(e, "at"),
		       js(e, "mode"), or_dash(js(e, "chip")), js(e, "candidates"),
		       js(e, "threshold"), js(e, "reason"));
	}
	n = json_object_array_length(att);
	printf("attempts:%s\n", n ? "" : " none");
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(att, i);
		printf("  #%s %s  %s (%s)  HTTP %s %s%s%s%s  %s ms%s%s\n", js(e, "attempt"),
		       js(e, "at"), or_dash(js(e, "chip")), or_dash(js(e, "provider")),
		       or_dash(js(e, "http_status")), js(e, "result"),
		       js(e, "fault") ? ", fault " : "", js(e, "fault") ? js(e, "fault") : "",
		       strcmp(or_dash(js(e, "uncertain")), "true") ? "" : ", uncertain",
		       or_dash(js(e, "latency_ms")), js(e, "error") ? ": " : "",
		       js(e, "error") ? js(e, "error") : "");
	}
	if (rcpt && json_object_is_type(rcpt, json_type_object))
		printf("receipt: %s (acknowledged %s, delivered %s, read %s, error %s)\n",
		       js(rcpt, "last_status"), or_dash(js(rcpt, "server_ack_at")),
		       or_dash(js(rcpt, "delivered_at")), or_dash(js(rcpt, "read_at")),
		       or_dash(js(rcpt, "error_at")));
	else
		printf("receipt: none\n");
}

static int show(struct chipctl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	const char *params[1];
	json_object *root;
	PGresult *res;
	char *end;
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
	v = strtoll(argv[optind], &end, 10);
	if (!*argv[optind] || *end || v <= 0)
		return bad_value("ID", "message ids are positive integers");
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	params[0] = argv[optind];
	if (!(res = db_query(ctx->db, show_sql, 1, params)))
		return db_failure_rc(ctx->db);
	if (PQntuples(res) == 0) {
		PQclear(res);
		log_error("unknown message id", "id=%s", argv[optind]);
		return EX_DATAERR;
	}
	if (ctx->json) {
		puts(PQgetvalue(res, 0, 0));
		PQclear(res);
		return 0;
	}
	root = json_tokener_parse(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (!root)
		return EX_SOFTWARE;
	print_story(root);
	json_object_put(root);
	return 0;
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
