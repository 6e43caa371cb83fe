#include "story.h"
#include "db.h"
#include "jsonget.h"
#include "termsafe.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static const char story_sql[] =
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
	"     'correlation_id', f.correlation_id, 'provider_message_id', f.provider_message_id,"
	"     'reserva_dia', f.reserva_dia, 'reserva_peso', f.reserva_peso,"
	"     'reserva_chip', (SELECT rc.instance_name FROM chips rc WHERE rc.id = f.reserva_chip_id),"
	"     'reserva_chip_id', f.reserva_chip_id, 'reserva_hora', f.reserva_hora,"
	"     'envio_chip', (SELECT ec.instance_name FROM chips ec WHERE ec.id = f.envio_chip_id),"
	"     'envio_chip_id', f.envio_chip_id, 'envio_iniciado_em', f.envio_iniciado_em),"
	"  'selections', coalesce((SELECT json_agg(json_build_object('at', s.created_at,"
	"     'chip', sc.instance_name, 'chip_id', s.chip_id, 'mode', s.mode,"
	"     'candidates', s.candidates, 'threshold', s.threshold, 'reason', s.reason,"
	"     'worker_id', s.worker_id) ORDER BY s.created_at, s.id)"
	"     FROM chip_selection_log s LEFT JOIN chips sc ON sc.id = s.chip_id"
	"     WHERE s.message_id = f.id), '[]'),"
	"  'attempts', coalesce((SELECT json_agg(json_build_object('at', a.created_at,"
	"     'attempt', a.attempt, 'chip', ac.instance_name, 'chip_id', a.chip_id,"
	"     'provider', a.provider, 'http_status', a.http_status, 'result', a.result,"
	"     'fault', a.fault, 'blame', a.blame, 'uncertain', a.uncertain,"
	"     'latency_ms', a.latency_ms,"
	"     'error', a.error) ORDER BY a.id)"
	"     FROM send_attempts a LEFT JOIN chips ac ON ac.id = a.chip_id"
	"     WHERE a.message_id = f.id), '[]'),"
	"  'receipt', (SELECT json_build_object('last_status', r.last_status,"
	"     'server_ack_at', r.server_ack_at, 'delivered_at', r.delivered_at,"
	"     'read_at', r.read_at, 'error_at', r.error_at)"
	"     FROM message_receipts r WHERE r.provider_message_id = f.provider_message_id))"
	" FROM fila_mensagens f LEFT JOIN chips c ON c.id = f.chip_id"
	" WHERE f.id = $1::bigint";

char *story_fetch(struct db *db, const char *id)
{
	const char *params[1] = { id };
	PGresult *res = db_query(db, story_sql, 1, params);
	char *json;

	if (!res)
		return NULL;
	json = strdup(PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	return json;
}

static const char *js(json_object *o, const char *k)
{
	json_object *v = jget(o, k);

	return v ? tsafe(json_object_get_string(v)) : NULL;	/* printed: terminal-safe */
}

static const char *or_dash(const char *s)
{
	return s ? s : "-";
}

/* What the message holds now (issue 23): its doctor's quota share and its
 * chip's room, given back if it leaves unsent, used if it was sent; and a
 * send that started and was never answered. */
static void print_holds(FILE *out, json_object *m)
{
	const char *used = strcmp(or_dash(js(m, "status")), "enviada") ? "" : " (used)";

	if (!js(m, "reserva_dia") && !js(m, "reserva_chip_id"))
		fprintf(out, "  holds nothing\n");
	if (js(m, "reserva_dia"))
		fprintf(out, "  holds a share of %s of the doctor's quota of %s%s\n",
		        or_dash(js(m, "reserva_peso")), js(m, "reserva_dia"), used);
	if (js(m, "reserva_chip_id"))
		fprintf(out, "  holds one send of chip %s's room in the hour of %s%s\n",
		        js(m, "reserva_chip") ? js(m, "reserva_chip") : js(m, "reserva_chip_id"),
		        or_dash(js(m, "reserva_hora")), used);
	if (js(m, "envio_iniciado_em") && !*used)
		fprintf(out, "  send started %s on %s, not answered: the provider is asked before "
		        "it is sent again\n", js(m, "envio_iniciado_em"),
		        js(m, "envio_chip") ? js(m, "envio_chip") : or_dash(js(m, "envio_chip_id")));
}

int story_print(FILE *out, const char *json)
{
	json_object *root = json_tokener_parse(json);
	json_object *m, *sel, *att, *rcpt;
	size_t i, n;

	if (!root)
		return -1;
	json_object_object_get_ex(root, "message", &m);
	json_object_object_get_ex(root, "selections", &sel);
	json_object_object_get_ex(root, "attempts", &att);
	json_object_object_get_ex(root, "receipt", &rcpt);
	fprintf(out, "message %s: %s to %s (cliente %s), priority %s\n", js(m, "id"), js(m, "tipo"),
	        js(m, "telefone"), js(m, "cliente_id"), js(m, "prioridade"));
	fprintf(out, "  status %s, outcome %s%s%s\n", js(m, "status"), or_dash(js(m, "outcome")),
	        js(m, "outcome_reason_code") ? " " : "", js(m, "outcome_reason_code") ?
	        js(m, "outcome_reason_code") : "");
	fprintf(out, "  created %s, first due %s, due %s\n", js(m, "created_at"),
	        js(m, "first_due_at"), js(m, "agendar_para"));
	fprintf(out, "  attempts spent %s of %s, waits for a chip %s\n", js(m, "tentativas"),
	        js(m, "max_tentativas"), js(m, "esperas"));
	if (js(m, "processando_desde"))
		fprintf(out, "  processing since %s by %s\n", js(m, "processando_desde"),
		        or_dash(js(m, "worker_id")));
	if (js(m, "enviada_em"))
		fprintf(out, "  sent %s on %s, provider message id %s\n", js(m, "enviada_em"),
		        or_dash(js(m, "chip")), or_dash(js(m, "provider_message_id")));
	print_holds(out, m);
	if (js(m, "ultimo_erro"))
		fprintf(out, "  last error: %s\n", js(m, "ultimo_erro"));
	fprintf(out, "  correlation id %s%s%s\n", js(m, "correlation_id"),
	        js(m, "conversa_id") ? ", conversation " : "", js(m, "conversa_id") ?
	        js(m, "conversa_id") : "");
	n = json_object_array_length(sel);
	fprintf(out, "chip selection:%s\n", n ? "" : " none recorded");
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(sel, i);
		fprintf(out, "  %s  %-10s %-22s candidates %s, threshold %s: %s\n", js(e, "at"),
		        js(e, "mode"), or_dash(js(e, "chip")), js(e, "candidates"),
		        js(e, "threshold"), js(e, "reason"));
	}
	n = json_object_array_length(att);
	fprintf(out, "attempts:%s\n", n ? "" : " none");
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(att, i);
		fprintf(out, "  #%s %s  %s (%s)  HTTP %s %s%s%s%s%s%s%s  %s ms%s%s\n",
		        js(e, "attempt"),
		        js(e, "at"), or_dash(js(e, "chip")), or_dash(js(e, "provider")),
		        or_dash(js(e, "http_status")), js(e, "result"),
		        js(e, "fault") ? ", fault " : "", js(e, "fault") ? js(e, "fault") : "",
		        js(e, "blame") ? " (" : "", js(e, "blame") ? js(e, "blame") : "",
		        js(e, "blame") ? ")" : "",
		        strcmp(or_dash(js(e, "uncertain")), "true") ? "" : ", uncertain",
		        or_dash(js(e, "latency_ms")), js(e, "error") ? ": " : "",
		        js(e, "error") ? js(e, "error") : "");
	}
	if (rcpt && json_object_is_type(rcpt, json_type_object))
		fprintf(out, "receipt: %s (acknowledged %s, delivered %s, read %s, error %s)\n",
		        js(rcpt, "last_status"), or_dash(js(rcpt, "server_ack_at")),
		        or_dash(js(rcpt, "delivered_at")), or_dash(js(rcpt, "read_at")),
		        or_dash(js(rcpt, "error_at")));
	else
		fprintf(out, "receipt: none\n");
	json_object_put(root);
	return 0;
}
