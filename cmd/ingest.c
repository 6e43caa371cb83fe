/* chipctl ingest: apply Evolution and Z-API webhook events (T08.2, T07.3,
 * T08.5, T07.4). */
#include "alert.h"
#include "builtin.h"
#include "db.h"
#include "events.h"
#include "log.h"
#include "trust.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LINE (1024L * 1024)

const char usage_ingest[] =
	"usage: chipctl ingest [FILE|-] [-n|--dry-run] [--json]\n"
	"\n"
	"Apply webhook events, one JSON object per line, from FILE or stdin:\n"
	"Evolution API envelopes (the chip is the one whose instance_name is the\n"
	"envelope's instance) and Z-API callbacks (the Z-API chip whose\n"
	"zapi_instance_id is the callback's instanceId).\n"
	"  messages.upsert, ReceivedCallback\n"
	"                     a message to the chip: a response registered for it:\n"
	"                     the chip's messages it answers, the doctor's\n"
	"                     affinity, bidirectional conversation;\n"
	"                     with fromMe, a message the chip sent outside\n"
	"                     chipctl: an outbound interaction (recipient, media\n"
	"                     type, time), so warming chips earn their score\n"
	"  send.message       a message sent through the API: the same, once per\n"
	"                     message id; chipctl's own sends are not counted twice\n"
	"  messages.update, MessageStatusCallback\n"
	"                     a receipt of a message the chip sent: delivery rate\n"
	"  connection.update, DisconnectedCallback\n"
	"                     the chip's connection state; an Evolution close with\n"
	"                     403 (block) or 401, 402, 406 (ban signal) is a\n"
	"                     critical event: the chip's trust is recomputed at\n"
	"                     once, with an alert if it falls to vermelho/critico\n"
	"Messages and receipts go through the rules pull-messages uses, once per\n"
	"provider message id (one pulled already is a duplicate), each dated by\n"
	"the event's own messageTimestamp or momment (none, or later than now:\n"
	"now).\n"
	"Other events are skipped. The same event twice is applied once. A\n"
	"malformed line is reported with its number and skipped; an event for an\n"
	"unknown instance is skipped with a warning.\n"
	"\n"
	"  -n, --dry-run  parse and apply each event in a transaction rolled back\n"
	"      --json     print the counts as JSON on stdout\n"
	"\n"
	"Exit: 0 done, 64 usage, 65 some line was malformed (the others were\n"
	"applied), 66 cannot open FILE, 70 internal error, 75 database\n"
	"unreachable, 78 configuration error or refused credentials.\n";

struct counts {
	long lines, applied, own, duplicates, ignored, unknown, malformed, failed, urgent,
		alerts;
};

static const char apply_sql[] =
	"SELECT result, chip_id FROM chipctl_ingest_event(p_key => $1, p_kind => $2,"
	" p_event => $3, p_instance => $4, p_provider => $5, p_phone => $6,"
	" p_message_id => $7, p_media => $8, p_status => $9, p_reason => $10::int,"
	" p_critical => $11, p_run_id => $12::uuid,"
	" p_at => to_timestamp($13::bigint))";

static const char *nz(const char *s)
{
	return s && *s ? s : NULL;
}

/* Apply one event (one receipt of it: id). Returns the result row, or NULL
 * after a database error. */
static PGresult *apply_one(struct chipctl_ctx *ctx, const struct webhook_event *ev,
			   const char *key, const char *id)
{
	char reason[16], at[24];
	const char *params[13];
	PGresult *res;

	snprintf(reason, sizeof(reason), "%d", ev->reason);
	params[0] = key;
	params[1] = event_kind_name(ev->kind);
	params[2] = ev->event;
	params[3] = ev->instance;
	params[4] = ev->provider;
	params[5] = nz(ev->phone);
	params[6] = nz(id);
	params[7] = nz(ev->media);
	params[8] = nz(ev->status);
	params[9] = reason;
	params[10] = ev->critical;
	params[11] = ctx->run_id;
	/* the event's own time dates what it records; none: now */
	snprintf(at, sizeof(at), "%lld", ev->at);
	params[12] = ev->at > 0 ? at : NULL;
	if (ctx->dry_run && db_begin(ctx->db))
		return NULL;
	res = db_query(ctx->db, apply_sql, 13, params);
	if (ctx->dry_run)
		db_rollback(ctx->db);
	return res;
}

/* A block or ban signal: the chip's trust recomputed at once. */
static int urgent(struct chipctl_ctx *ctx, const struct webhook_event *ev, long lineno,
		  const char *chip_id, struct counts *n)
{
	struct trust_run run;
	char motivo[128];
	int rc = 0;

	snprintf(motivo, sizeof(motivo), "ingest: %s %s %d (%s)", ev->event,
		 ev->status, ev->reason, ev->critical);
	log_warn(ctx->dry_run ? "critical event, would recompute trust" :
		 "critical event, recomputing trust",
		 "line=%ld", lineno, "instance=%s", ev->instance,
		 "kind=%s", ev->critical, "status_reason=%d", ev->reason);
	n->urgent++;
	if (!ctx->dry_run) {
		memset(&run, 0, sizeof(run));
		rc = trust_recalc(ctx, chip_id, motivo, &run);
		n->alerts += run.alerts;
		if (rc == 70) {
			n->failed++;
			rc = 0;
		}
	}
	return rc;
}

/* Apply one parsed event. Returns 0, or a database exit code. */
static int apply(struct chipctl_ctx *ctx, const struct webhook_event *ev, long lineno,
		 struct counts *n)
{
	char key[640];
	const char *result = "";
	PGresult *res = NULL;
	int i, times = ev->kind == EV_RECEIPT ? ev->nids : 1, applied = 0, rc = 0;

	if (times < 1)	/* a receipt without ids is never parsed as one */
		return 0;
	for (i = 0; i < times; i++) {
		if (ev->kind == EV_RECEIPT)
			event_receipt_key(ev, i, key, sizeof(key));
		else
			snprintf(key, sizeof(key), "%s", ev->key);
		PQclear(res);
		res = apply_one(ctx, ev, key, ev->kind == EV_RECEIPT ? ev->ids[i] : ev->message_id);
		if (!res) {
			rc = db_failure_rc(ctx->db);
			log_error("cannot apply event", "line=%ld", lineno, "event=%s", ev->event,
				  "instance=%s", ev->instance);
			n->failed++;
			return rc == 70 ? 0 : rc;
		}
		result = PQgetvalue(res, 0, 0);
		applied += !strcmp(result, "applied");
	}
	if (!strcmp(result, "unknown_instance")) {
		n->unknown++;
		log_warn("event for an unknown instance skipped", "line=%ld", lineno,
			 "event=%s", ev->event, "instance=%s", ev->instance);
	} else if (!applied && !strcmp(result, "duplicate")) {
		n->duplicates++;
		log_debug("duplicate event skipped", "line=%ld", lineno, "key=%s", ev->key);
	} else if (!applied && !strcmp(result, "own")) {
		n->own++;
		log_debug("a send of chipctl's own, already counted", "line=%ld", lineno,
			  "instance=%s", ev->instance, "message_id=%s", ev->message_id);
	} else {
		n->applied++;
		log_debug("event applied", "line=%ld", lineno, "event=%s", ev->event,
			  "instance=%s", ev->instance);
		if (ev->critical)
			rc = urgent(ctx, ev, lineno, PQgetvalue(res, 0, 1), n);
	}
	PQclear(res);
	return rc;
}

static void print_json(struct chipctl_ctx *ctx, const struct counts *n)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "dry_run", json_object_new_boolean(ctx->dry_run));
	json_object_object_add(o, "lines", json_object_new_int64(n->lines));
	json_object_object_add(o, "applied", json_object_new_int64(n->applied));
	json_object_object_add(o, "duplicates", json_object_new_int64(n->duplicates));
	json_object_object_add(o, "ignored", json_object_new_int64(n->ignored));
	json_object_object_add(o, "unknown_instance", json_object_new_int64(n->unknown));
	json_object_object_add(o, "malformed", json_object_new_int64(n->malformed));
	json_object_object_add(o, "failed", json_object_new_int64(n->failed));
	json_object_object_add(o, "urgent_recomputations", json_object_new_int64(n->urgent));
	json_object_object_add(o, "alerts", json_object_new_int64(n->alerts));
	json_object_object_add(o, "own_sends", json_object_new_int64(n->own));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static int ingest(struct chipctl_ctx *ctx, FILE *in, const char *name,
		  struct counts *n)
{
	char *line = NULL, err[256];
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int rc = 0;

	while (!rc && (len = getline(&line, &cap, in)) >= 0) {
		struct webhook_event ev;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		/* a blank line is no event: in no count, lines included */
		if (strspn(line, " \t") == (size_t)len)
			continue;
		n->lines++;
		if (len > MAX_LINE) {
			snprintf(err, sizeof(err), "line longer than %ld bytes", MAX_LINE);
		} else if (event_parse(line, (size_t)len, (long long)time(NULL), &ev, err,
				       sizeof(err)) == 0) {
			if (ev.kind == EV_IGNORED) {
				n->ignored++;
				log_debug("event skipped", "line=%ld", lineno,
					  "event=%s", ev.event, "why=%s", ev.why);
				continue;
			}
			rc = apply(ctx, &ev, lineno, n);
			continue;
		}
		n->malformed++;
		log_error("malformed event skipped", "file=%s", name, "line=%ld", lineno,
			  "error=%s", err);
	}
	if (!rc && ferror(in)) {
		log_error("cannot read events", "file=%s", name, "error=%s", strerror(errno));
		rc = 74;
	}
	free(line);
	return rc;
}

int cmd_ingest(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = { CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	struct counts n;
	const char *path = "-";
	FILE *in = stdin;
	int rc;

	while (cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts) != -1)
		;
	if (ctx->exit_now < 0 && optind < argc)
		path = argv[optind++];
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if (ctx->exit_now < 0 && strcmp(path, "-") && !(in = fopen(path, "r"))) {
		log_error("cannot open events file", "file=%s", path,
			  "error=%s", strerror(errno));
		return 66;
	}
	if ((rc = ctx_start(ctx)) >= 0) {
		if (in != stdin)
			fclose(in);
		return rc;
	}
	memset(&n, 0, sizeof(n));
	rc = ingest(ctx, in, strcmp(path, "-") ? path : "stdin", &n);
	if (in != stdin)
		fclose(in);
	log_info(ctx->dry_run ? "would ingest events" : "ingested events",
		 "lines=%ld", n.lines, "applied=%ld", n.applied, "own_sends=%ld", n.own,
		 "duplicates=%ld", n.duplicates, "ignored=%ld", n.ignored,
		 "unknown_instance=%ld", n.unknown, "malformed=%ld", n.malformed,
		 "failed=%ld", n.failed, "urgent=%ld", n.urgent);
	/* ingest is not a job run: deliver its alerts now rather than at the
	 * next job's end. */
	if (!rc && n.alerts > 0 && alert_flush(ctx) < 0)
		rc = db_failure_rc(ctx->db);
	if (ctx->json)
		print_json(ctx, &n);
	if (rc)
		return rc;
	if (n.failed)
		return 70;
	return n.malformed ? 65 : 0;
}
