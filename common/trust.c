#include "trust.h"
#include "jsonget.h"
#include "termsafe.h"
#include "alert.h"
#include "ctx.h"
#include "db.h"
#include "job.h"
#include "log.h"
#include "strbuf.h"

#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The trust.* settings, by the key chip_trust_recalcular() reads. */
static const struct { const char *key; size_t off; } weights[] = {
#define W(k) { #k, offsetof(struct config, trust_##k) }
	W(base), W(weight_age), W(age_full_days), W(weight_delivery),
	W(delivery_pivot_pct), W(weight_response), W(response_target_pct),
	W(weight_bidirectional), W(bidirectional_full), W(weight_media),
	W(media_full), W(error_penalty), W(weight_errors), W(weight_clean_days),
	W(clean_days_full), W(weight_block), W(block_full_pct), W(phase_warming),
	W(phase_ready), W(phase_active), W(phase_degraded), W(window_days),
	W(min_sample), W(level_verde), W(level_amarelo), W(level_laranja),
	W(level_vermelho), W(perm_prospect), W(perm_followup), W(perm_reply),
#undef W
};

char *trust_config_json(const struct config *cfg)
{
	json_object *o = json_object_new_object();
	char *s;
	size_t i;

	for (i = 0; i < sizeof(weights) / sizeof(weights[0]); i++)
		json_object_object_add(o, weights[i].key, json_object_new_int(
			*(const int *)((const char *)cfg + weights[i].off)));
	s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static const char *const levels[] = { "verde", "amarelo", "laranja", "vermelho", "critico" };

static int level_index(const char *l)
{
	int i;

	for (i = 0; i < 5; i++)
		if (l && !strcmp(l, levels[i]))
			return i;
	return -1;
}

static int is_low(const char *l)
{
	return level_index(l) >= 3;
}

static const char recalc_sql[] =
	"SELECT chip_id, instance_name, score_anterior, nivel_anterior, trust_score,"
	"       trust_level"
	" FROM chip_trust_recalcular($1::uuid[], $2::jsonb, $3::uuid, $4)";

/* Log the level changes and raise or resolve the trust_low alerts. */
static int report_rows(struct chipctl_ctx *ctx, PGresult *res, const char *motivo,
		       struct trust_run *run)
{
	int r, n = PQntuples(res);

	for (r = 0; r < n; r++) {
		const char *inst = PQgetvalue(res, r, 1);
		const char *old_score = PQgetvalue(res, r, 2);
		const char *old = PQgetvalue(res, r, 3);
		const char *score = PQgetvalue(res, r, 4);
		const char *lvl = PQgetvalue(res, r, 5);
		char text[512];
		int k;

		run->updated++;
		if ((k = level_index(lvl)) >= 0)
			run->by_level[k]++;
		if (!strcmp(old, lvl))
			continue;
		run->level_changes++;
		log_info(ctx->dry_run ? "would change trust level" : "trust level changed",
			 "chip=%s", inst, "from=%s", old, "to=%s", lvl,
			 "score=%s", score, "previous_score=%s", old_score);
		if (is_low(lvl)) {
			snprintf(text, sizeof(text),
				 "chip %s fell to trust level %s (score %s, was %s at %s) after %s",
				 inst, lvl, score, old, old_score, motivo);
			k = alert_raise(ctx, "trust_low", inst, ALERT_CRITICAL,
					ctx->cfg.trust_alert_cooldown_s, text);
			if (k < 0)
				return db_failure_rc(ctx->db);
			run->alerts += k;
		} else if (is_low(old)) {
			snprintf(text, sizeof(text),
				 "chip %s is back to trust level %s (score %s)", inst, lvl, score);
			if (alert_resolve(ctx, "trust_low", inst, text) < 0)
				return db_failure_rc(ctx->db);
		}
	}
	return 0;
}

/* One recomputation statement; in a dry run inside a rolled-back
 * transaction. Returns the result or NULL (the error is logged). */
static PGresult *recalc_once(struct chipctl_ctx *ctx, const char *ids,
			     const char *cfg, const char *motivo)
{
	const char *params[4] = { ids, cfg, ctx->run_id, motivo };
	PGresult *res;

	if (ctx->dry_run && db_begin(ctx->db))
		return NULL;
	res = db_query(ctx->db, recalc_sql, 4, params);
	if (ctx->dry_run)
		db_rollback(ctx->db);
	return res;
}

/* The statement for every chip failed: go chip by chip. */
static int recalc_each(struct chipctl_ctx *ctx, const char *cfg,
		       const char *motivo, struct trust_run *run)
{
	PGresult *ids, *res;
	int r, n, rc = 0;

	ids = db_query(ctx->db, "SELECT id, instance_name FROM chips"
		       " WHERE status IN ('warming', 'ready', 'active', 'degraded')"
		       " ORDER BY id", 0, NULL);
	if (!ids)
		return db_failure_rc(ctx->db);
	n = PQntuples(ids);
	log_warn("recomputing chip by chip after a failure", "chips=%d", n);
	for (r = 0; r < n && !rc; r++) {
		char one[64];

		if (job_renew_if_due(ctx)) {	/* the run outlives its lease */
			rc = EX_TEMPFAIL;
			break;
		}
		snprintf(one, sizeof(one), "{%s}", PQgetvalue(ids, r, 0));
		res = recalc_once(ctx, one, cfg, motivo);
		if (!res) {
			int frc = db_failure_rc(ctx->db);

			if (frc != 70) {	/* the database went away */
				rc = frc;
				break;
			}
			run->failed++;
			log_error("cannot update trust of chip",
				  "chip=%s", PQgetvalue(ids, r, 1));
			continue;
		}
		rc = report_rows(ctx, res, motivo, run);
		PQclear(res);
	}
	PQclear(ids);
	return rc;
}

int trust_recalc(struct chipctl_ctx *ctx, const char *chip_id,
		 const char *motivo, struct trust_run *run)
{
	char *cfg = trust_config_json(&ctx->cfg);
	char one[64];
	PGresult *res;
	int rc;

	if (chip_id)
		snprintf(one, sizeof(one), "{%s}", chip_id);
	res = recalc_once(ctx, chip_id ? one : NULL, cfg, motivo);
	if (res) {
		rc = report_rows(ctx, res, motivo, run);
		PQclear(res);
	} else if ((rc = db_failure_rc(ctx->db)) != 70 || chip_id) {
		if (chip_id)
			run->failed++;
	} else {
		rc = recalc_each(ctx, cfg, motivo, run);
	}
	free(cfg);
	run->chips = run->updated + run->failed;
	if (rc)
		return rc;
	if (!chip_id && run->failed > 0 &&
	    run->failed * 100 > (long)ctx->cfg.trust_failure_alert_pct * run->chips) {
		char text[256];

		snprintf(text, sizeof(text),
			 "trust-update could not update %ld of %ld chips", run->failed,
			 run->chips);
		if (alert_raise(ctx, "trust_update_failed", NULL, ALERT_CRITICAL,
				ctx->cfg.alerts_cooldown_s, text) < 0)
			return db_failure_rc(ctx->db);
	}
	return run->failed ? 70 : 0;
}

/* ---- chip explain ---- */

static const char explain_sql[] =
	"SELECT id, instance_name, telefone, status, trust_score, trust_level,"
	"       pode_prospectar, pode_followup, pode_responder,"
	"       to_char(trust_updated_at AT TIME ZONE 'UTC',"
	"               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	"       trust_factors::text"
	" FROM chips"
	" WHERE id::text = lower($1) OR instance_name = $1"
	"    OR (chip_normalizar_telefone($1) <> ''"
	"        AND telefone = chip_normalizar_telefone($1))"
	" ORDER BY (id::text = lower($1)) DESC, (instance_name = $1) DESC, created_at"
	" LIMIT 1";

static const char *yes(const char *v)
{
	return v && *v == 't' ? "yes" : "no";
}

static void print_explain(PGresult *res, json_object *f)
{
	json_object *factors = jget(f, "factors"), *raw = jget(f, "raw");
	double sum;
	size_t i, n;

	printf("chip %s (%s), telefone %s, status %s\n", tsafe(PQgetvalue(res, 0, 1)),
	       PQgetvalue(res, 0, 0), tsafe(PQgetvalue(res, 0, 2)), PQgetvalue(res, 0, 3));
	printf("trust score %s, level %s; prospect %s, follow-up %s, reply %s\n",
	       PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5), yes(PQgetvalue(res, 0, 6)),
	       yes(PQgetvalue(res, 0, 7)), yes(PQgetvalue(res, 0, 8)));
	if (!f || !json_object_is_type(factors, json_type_array)) {
		puts("never computed: the score is the initial one (run chipctl trust-update)");
		return;
	}
	printf("computed %s (%s), window %s days, min sample %s\n\n",
	       PQgetvalue(res, 0, 9), tsafe(json_object_get_string(jget(f, "motivo"))),
	       json_object_get_string(jget(f, "window_days")),
	       json_object_get_string(jget(f, "min_sample")));
	sum = json_object_get_double(jget(f, "base"));
	printf("  %-14s %8s  %s\n", "factor", "points", "inputs / rule");
	printf("  %-14s %8.2f\n", "base", sum);
	n = json_object_array_length(factors);
	for (i = 0; i < n; i++) {
		json_object *x = json_object_array_get_idx(factors, i);
		json_object *in = jget(x, "inputs");
		struct strbuf sb = STRBUF_INIT;

		if (json_object_is_type(in, json_type_object)) {
			json_object_object_foreach(in, k, v) {
				sb_addf(&sb, "%s%s=%s", sb.len ? " " : "", k,
					v ? json_object_get_string(v) : "none");
			}
		}
		printf("  %-14s %+8.2f  %s\n", json_object_get_string(jget(x, "name")),
		       json_object_get_double(jget(x, "points")), sb_str(&sb));
		printf("  %-14s %8s  %s\n", "", "", json_object_get_string(jget(x, "rule")));
		sb_free(&sb);
	}
	printf("  %-14s %8s\n", "", "--------");
	printf("  %-14s %8s\n", "sum", json_object_get_string(raw));
	if (strcmp(json_object_get_string(raw), PQgetvalue(res, 0, 4)) &&
	    json_object_get_double(raw) != atof(PQgetvalue(res, 0, 4)))
		printf("  %-14s %8s  (clamped to 0..100)\n", "score", PQgetvalue(res, 0, 4));
	else
		printf("  %-14s %8s\n", "score", PQgetvalue(res, 0, 4));
}

static void print_explain_json(PGresult *res, json_object *f)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "chip_id", json_object_new_string(PQgetvalue(res, 0, 0)));
	json_object_object_add(o, "instance_name", json_object_new_string(PQgetvalue(res, 0, 1)));
	json_object_object_add(o, "telefone", json_object_new_string(PQgetvalue(res, 0, 2)));
	json_object_object_add(o, "status", json_object_new_string(PQgetvalue(res, 0, 3)));
	json_object_object_add(o, "trust_score", json_object_new_double_s(
		atof(PQgetvalue(res, 0, 4)), PQgetvalue(res, 0, 4)));
	json_object_object_add(o, "trust_level", json_object_new_string(PQgetvalue(res, 0, 5)));
	json_object_object_add(o, "pode_prospectar",
			       json_object_new_boolean(*PQgetvalue(res, 0, 6) == 't'));
	json_object_object_add(o, "pode_followup",
			       json_object_new_boolean(*PQgetvalue(res, 0, 7) == 't'));
	json_object_object_add(o, "pode_responder",
			       json_object_new_boolean(*PQgetvalue(res, 0, 8) == 't'));
	json_object_object_add(o, "computed_at", PQgetisnull(res, 0, 9) ? NULL :
			       json_object_new_string(PQgetvalue(res, 0, 9)));
	json_object_object_add(o, "explanation", json_object_get(f));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

int trust_explain(struct chipctl_ctx *ctx, const char *chip_ref)
{
	const char *params[1] = { chip_ref };
	json_object *f = NULL;
	PGresult *res;

	res = db_query(ctx->db, explain_sql, 1, params);
	if (!res)
		return db_failure_rc(ctx->db);
	if (PQntuples(res) == 0) {
		PQclear(res);
		log_error("unknown chip", "chip=%s", chip_ref);
		return 65;
	}
	if (!PQgetisnull(res, 0, 10))
		f = json_tokener_parse(PQgetvalue(res, 0, 10));
	if (ctx->json)
		print_explain_json(res, f);
	else
		print_explain(res, f);
	json_object_put(f);
	PQclear(res);
	return 0;
}
