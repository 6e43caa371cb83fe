/* chipctl pool-check: keep the chip pool able to send (T11.1, T11.3,
 * T10.3, T11.4). */
#include "alert.h"
#include "builtin.h"
#include "db.h"
#include "job.h"
#include "lifecycle.h"
#include "log.h"
#include "salvy.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

const char usage_pool_check[] =
	"usage: chipctl pool-check [-n|--dry-run] [--json]\n"
	"\n"
	"Every minute, in this order:\n"
	"  1. demote each active chip meeting a demotion rule to degraded: trust\n"
	"     below pool.demote_trust_below (40), more than pool.demote_errors_24h\n"
	"     (10) errors in 24 h, disconnected from Evolution for more than\n"
	"     pool.demote_disconnected_min (30) minutes, block rate above\n"
	"     pool.demote_block_rate_permille (20, i.e. 2 %); one alert per chip;\n"
	"  2. return degraded chips that meet no rule any more, after\n"
	"     pool.recover_after_min (60), to ready through recovery (phase 1);\n"
	"  3. graduate warming chips with pool.graduate_days (21) days and trust of\n"
	"     at least pool.graduate_trust (85) to ready;\n"
	"  4. promote ready chips (connected, best trust first) to active until\n"
	"     pool.min_active (5) holds;\n"
	"  5. advance recovery phases: 1 (10 % of the limits) on day 1, 2 (25 %)\n"
	"     on days 2-3, 3 (50 %) on days 4-6, then none (100 %);\n"
	"  6. move the active conversations of degraded and banned chips to active\n"
	"     chips (the doctor's affinity chip first), with the affinity, a\n"
	"     chip_migrations row each, and a continuity message\n"
	"     pool.continuity_delay_hours (24) later when the conversation had an\n"
	"     interaction in the last pool.migration_recent_hours (48);\n"
	"  7. pool alerts, pool.alert_cooldown_s (1800) per type, recorded in\n"
	"     pool_alerts: active below pool.min_active (critical), ready below\n"
	"     pool.min_ready or warming below pool.min_warming (warning), no active\n"
	"     chip may prospect (critical);\n"
	"  8. when ready, warming, pending and provisioned chips cannot cover the\n"
	"     active deficit: a provisioning request and an alert, and with Salvy\n"
	"     configured new numbers (salvy.area_code, at most salvy.max_per_day a\n"
	"     day) whose Evolution instances are created (chip pending);\n"
	"     instances that failed to be created are retried, and the Salvy\n"
	"     numbers of banned chips are cancelled (reason whatsapp-ban).\n"
	"\n"
	"  -n, --dry-run  decide and log what would change; change nothing\n"
	"      --json     print what was done as JSON on stdout\n"
	"\n"
	"Exit: 0 done (also when another run holds the lease), 64 usage, 75\n"
	"database unreachable or Salvy failed, 78 configuration error or refused\n"
	"credentials, 70 internal error.\n";

struct pool {
	long active, ready, warming, pending, provisioned, degraded, banned;
	long prospect;
};

static const char demote_sql[] =
	"SELECT id, reason FROM ("
	"  SELECT id, CASE"
	"    WHEN trust_score < $1::int THEN 'trust_score_critico:' || trust_score"
	"    WHEN erros_ultimas_24h > $2::int THEN 'muitos_erros:' || erros_ultimas_24h"
	"    WHEN provider = 'evolution' AND NOT evolution_connected"
	"         AND desconectado_desde < now() - make_interval(mins => $3::int)"
	"      THEN 'desconectado_prolongado:' ||"
	"           (extract(epoch FROM now() - desconectado_desde) / 60)::bigint || 'min'"
	"    WHEN taxa_block > $4::numeric / 1000 THEN 'taxa_block_alta:' || taxa_block"
	"  END AS reason FROM chips WHERE status = 'active'"
	") d WHERE reason IS NOT NULL";

static const char recover_sql[] =
	"SELECT id, 'recovered:' || coalesce((extract(epoch FROM now() - demovido_em)"
	"  / 60)::bigint || 'min_after_demotion', 'no_demotion_time') FROM chips"
	" WHERE status = 'degraded'"
	"   AND coalesce(demovido_em, '-infinity') < now() - make_interval(mins => $5::int)"
	"   AND trust_score >= $1::int AND erros_ultimas_24h <= $2::int"
	"   AND (provider <> 'evolution' OR evolution_connected)"
	"   AND coalesce(taxa_block, 0) <= $4::numeric / 1000"
	"   AND coalesce(cooldown_until, '-infinity') <= now()"
	"   AND $3::int IS NOT NULL";

static const char graduate_sql[] =
	"SELECT id, 'graduated:' || (extract(epoch FROM now() - warming_started_at)"
	"  / 86400)::int || 'd_trust_' || trust_score FROM chips"
	" WHERE status = 'warming'"
	"   AND warming_started_at <= now() - make_interval(days => $1::int)"
	"   AND trust_score >= $2::int";

static const char promote_sql[] =
	"SELECT id, 'pool_below_minimum:' ||"
	"  (SELECT count(*) FROM chips WHERE status = 'active') || '/' || $1::int"
	" FROM chips WHERE status = 'ready'"
	"   AND (provider <> 'evolution' OR evolution_connected)"
	" ORDER BY trust_score DESC, id"
	" LIMIT greatest(0, $1::int - (SELECT count(*) FROM chips WHERE status = 'active'))";

/* T10.3: day 1 -> 1 (10 %), days 2-3 -> 2 (25 %), days 4-6 -> 3 (50 %),
 * then NULL (100 %). The send-worker scales the limits by the phase. */
static const char recovery_sql[] =
	"WITH p AS ("
	"  SELECT id, CASE"
	"    WHEN coalesce(recovery_started_at, now()) > now() - interval '1 day' THEN 1"
	"    WHEN recovery_started_at > now() - interval '3 days' THEN 2"
	"    WHEN recovery_started_at > now() - interval '6 days' THEN 3 END AS phase"
	"  FROM chips WHERE recovery_phase IS NOT NULL AND status IN ('ready', 'active')"
	"), upd AS ("
	"  UPDATE chips c SET recovery_phase = p.phase,"
	"    recovery_started_at = coalesce(c.recovery_started_at, now()), updated_at = now()"
	"  FROM p WHERE c.id = p.id AND $1::bool"
	"    AND (c.recovery_phase IS DISTINCT FROM p.phase OR c.recovery_started_at IS NULL)"
	"  RETURNING c.instance_name, p.phase"
	")"
	" SELECT count(*) FILTER (WHERE p.phase IS DISTINCT FROM c.recovery_phase),"
	"        count(*) FILTER (WHERE p.phase IS NULL)"
	" FROM p JOIN chips c ON c.id = p.id";

/*
 * The targets are an array, so the round-robin pick is an index into it,
 * and the affinity lookup probes the primary keys: per conversation the
 * cost stays constant, which also keeps the plan under jit_above_cost
 * (JIT compilation alone would cost more than the whole statement).
 */
#define MIGRATE_CTES \
	"WITH conv AS (" \
	"  SELECT cv.id, cv.cliente_id, cv.telefone, cv.chip_id AS origem," \
	"    (coalesce(cv.ultima_interacao_em, '-infinity')" \
	"        > now() - make_interval(hours => $1::int)" \
	"     OR EXISTS (SELECT 1 FROM chip_interactions i WHERE i.chip_id = cv.chip_id" \
	"        AND i.cliente_id = cv.cliente_id" \
	"        AND i.created_at > now() - make_interval(hours => $1::int))) AS recent," \
	"    (SELECT count(*) FROM chip_interactions i WHERE i.chip_id = cv.chip_id" \
	"        AND i.cliente_id = cv.cliente_id) AS n_inter" \
	"  FROM chips c JOIN conversations cv ON cv.chip_id = c.id AND cv.status = 'active'" \
	"  WHERE c.status IN ('degraded', 'banned')" \
	"  FOR UPDATE OF cv SKIP LOCKED" \
	"), numbered AS (" \
	"  SELECT conv.*, row_number() OVER (ORDER BY id) - 1 AS rn FROM conv" \
	"), targets AS MATERIALIZED (" \
	"  SELECT array_agg(id ORDER BY trust_score DESC, id) AS ids FROM chips" \
	"  WHERE status = 'active' AND (provider <> 'evolution' OR evolution_connected)" \
	"), pick AS (" \
	"  SELECT numbered.*, coalesce(" \
	"    (SELECT a.chip_id FROM medico_chip_affinity a JOIN chips t ON t.id = a.chip_id" \
	"     WHERE a.cliente_id = numbered.cliente_id AND t.status = 'active'" \
	"       AND (t.provider <> 'evolution' OR t.evolution_connected)" \
	"     ORDER BY a.respostas DESC, a.msgs_enviadas DESC, a.ultima_interacao_em DESC" \
	"     LIMIT 1)," \
	"    (SELECT ids[1 + numbered.rn % cardinality(ids)] FROM targets)) AS destino" \
	"  FROM numbered" \
	")"

/* Most runs have nothing to migrate: a cheap probe spares them the plan
 * (and its JIT compilation) of the statement below. */
static const char migrate_probe_sql[] =
	"SELECT EXISTS (SELECT 1 FROM chips c JOIN conversations cv"
	"  ON cv.chip_id = c.id AND cv.status = 'active'"
	"  WHERE c.status IN ('degraded', 'banned'))";

static const char migrate_dry_sql[] =
	MIGRATE_CTES
	" SELECT count(*), count(destino), count(*) FILTER (WHERE destino IS NOT NULL"
	"   AND recent) FROM pick WHERE $2::text IS NOT NULL AND $3::int IS NOT NULL"
	"   AND $4::uuid IS NOT NULL";

static const char migrate_sql[] =
	MIGRATE_CTES
	", mv AS ("
	"  UPDATE conversations cv SET chip_id = p.destino, chip_migrado_de = p.origem,"
	"    chip_migrado_em = now(), updated_at = now()"
	"  FROM pick p WHERE cv.id = p.id AND p.destino IS NOT NULL"
	"  RETURNING cv.id, p.cliente_id, p.telefone, p.origem, p.destino, p.recent, p.n_inter"
	"), pairs AS (SELECT DISTINCT cliente_id, origem, destino FROM mv"
	"), aff AS ("
	"  INSERT INTO medico_chip_affinity AS a"
	"    (cliente_id, chip_id, msgs_enviadas, respostas, ultima_interacao_em)"
	"  SELECT o.cliente_id, pairs.destino, o.msgs_enviadas, o.respostas,"
	"         o.ultima_interacao_em"
	"  FROM pairs JOIN medico_chip_affinity o"
	"    ON o.cliente_id = pairs.cliente_id AND o.chip_id = pairs.origem"
	"  ON CONFLICT (cliente_id, chip_id) DO UPDATE SET"
	"    msgs_enviadas = a.msgs_enviadas + excluded.msgs_enviadas,"
	"    respostas = a.respostas + excluded.respostas,"
	"    ultima_interacao_em = greatest(a.ultima_interacao_em, excluded.ultima_interacao_em)"
	"), affdel AS ("
	"  DELETE FROM medico_chip_affinity a USING pairs"
	"  WHERE a.cliente_id = pairs.cliente_id AND a.chip_id = pairs.origem"
	"), cont AS ("
	"  INSERT INTO fila_mensagens (cliente_id, telefone, conteudo, tipo, agendar_para,"
	"                              chip_id, conversa_id)"
	"  SELECT cliente_id, telefone, $2, 'followup',"
	"         now() + make_interval(hours => $3::int), destino, id FROM mv WHERE recent"
	"  RETURNING id, conversa_id"
	"), audit AS ("
	"  INSERT INTO chip_migrations (conversa_id, cliente_id, chip_origem, chip_destino,"
	"    interacoes_count, motivo, continuidade_agendada, mensagem_id, run_id)"
	"  SELECT mv.id, mv.cliente_id, mv.origem, mv.destino, mv.n_inter,"
	"    'chip_' || c.status || coalesce(':' || c.demovido_motivo, ''),"
	"    cont.id IS NOT NULL, cont.id, $4::uuid"
	"  FROM mv JOIN chips c ON c.id = mv.origem"
	"  LEFT JOIN cont ON cont.conversa_id = mv.id"
	")"
	" SELECT (SELECT count(*) FROM conv), (SELECT count(*) FROM mv),"
	"        (SELECT count(*) FROM cont)";

static const char counts_sql[] =
	"SELECT count(*) FILTER (WHERE status = 'active'),"
	"  count(*) FILTER (WHERE status = 'ready'),"
	"  count(*) FILTER (WHERE status = 'warming'),"
	"  count(*) FILTER (WHERE status = 'pending'),"
	"  count(*) FILTER (WHERE status = 'provisioned'),"
	"  count(*) FILTER (WHERE status = 'degraded'),"
	"  count(*) FILTER (WHERE status = 'banned'),"
	"  (SELECT may_prospect FROM chipctl_pool_permissions)"
	" FROM chips";

static const char pool_alert_sql[] =
	"INSERT INTO pool_alerts (tipo, severidade, mensagem, counts, run_id)"
	" VALUES ($1, $2, $3, $4::jsonb, $5::uuid)";

/* An open request is kept up to date, not repeated every minute. */
static const char open_request_sql[] =
	"WITH upd AS ("
	"  UPDATE provisioning_requests SET requested = $1::int, updated_at = now()"
	"  WHERE status = 'open' RETURNING id"
	")"
	" INSERT INTO provisioning_requests (requested, area_code, reason, actor, run_id)"
	" SELECT $1::int, $2::int, $3, $4, $5::uuid WHERE NOT EXISTS (SELECT 1 FROM upd)"
	" RETURNING id";

static const char close_requests_sql[] =
	"UPDATE provisioning_requests SET status = 'fulfilled', updated_at = now()"
	" WHERE status = 'open'";

struct run {
	struct chipctl_ctx *ctx;
	char actor[64];
	int rc;			/* first failure, kept while the steps go on */
	json_object *out;
};

static void fail(struct run *r, int rc)
{
	if (!r->rc)
		r->rc = rc;
}

static void count(struct run *r, const char *key, long n)
{
	job_count(r->ctx, key, n);
	json_object_object_add(r->out, key, json_object_new_int64(n));
}

/* Move the chips a rule selects; returns the moved rows or NULL. */
static PGresult *move(struct run *r, const char *sql, int n, const char *const *p,
		      const char *to, const char *key)
{
	PGresult *res = lifecycle_move(r->ctx, sql, n, p, to, r->actor);

	if (!res) {
		fail(r, db_failure_rc(r->ctx->db));
		return NULL;
	}
	count(r, key, PQntuples(res));
	return res;
}

static void step_status(struct run *r)
{
	struct chipctl_ctx *ctx = r->ctx;
	const struct config *cfg = &ctx->cfg;
	char trust[16], errs[16], mins[16], block[16], after[16], days[16], gtrust[16];
	char minact[16], text[300];
	const char *p[5] = { trust, errs, mins, block, after };
	PGresult *res;
	int i;

	snprintf(trust, sizeof(trust), "%d", cfg->pool_demote_trust_below);
	snprintf(errs, sizeof(errs), "%d", cfg->pool_demote_errors_24h);
	snprintf(mins, sizeof(mins), "%d", cfg->pool_demote_disconnected_min);
	snprintf(block, sizeof(block), "%d", cfg->pool_demote_block_rate_permille);
	snprintf(after, sizeof(after), "%d", cfg->pool_recover_after_min);
	if ((res = move(r, demote_sql, 4, p, "degraded", "demoted"))) {
		for (i = 0; i < PQntuples(res); i++) {
			snprintf(text, sizeof(text), "chip %s demoted to degraded: %s",
				 PQgetvalue(res, i, LC_INSTANCE),
				 PQgetvalue(res, i, LC_REASON));
			if (alert_raise(ctx, "chip_demoted", PQgetvalue(res, i, LC_INSTANCE),
					ALERT_WARNING, cfg->alerts_cooldown_s, text) < 0)
				fail(r, db_failure_rc(ctx->db));
		}
		PQclear(res);
	}
	if ((res = move(r, recover_sql, 5, p, "ready", "recovered")))
		PQclear(res);
	snprintf(days, sizeof(days), "%d", cfg->pool_graduate_days);
	snprintf(gtrust, sizeof(gtrust), "%d", cfg->pool_graduate_trust);
	p[0] = days;
	p[1] = gtrust;
	if ((res = move(r, graduate_sql, 2, p, "ready", "graduated")))
		PQclear(res);
	snprintf(minact, sizeof(minact), "%d", cfg->pool_min_active);
	p[0] = minact;
	if ((res = move(r, promote_sql, 1, p, "active", "promoted")))
		PQclear(res);
}

static void step_recovery(struct run *r)
{
	const char *p[1] = { r->ctx->dry_run ? "false" : "true" };
	PGresult *res = db_query(r->ctx->db, recovery_sql, 1, p);

	if (!res) {
		fail(r, db_failure_rc(r->ctx->db));
		return;
	}
	count(r, "recovery_advanced", db_long(res, 0, 0));
	count(r, "recovery_completed", db_long(res, 0, 1));
	if (db_long(res, 0, 0))
		log_info(r->ctx->dry_run ? "would advance recovery phases" :
			 "advanced recovery phases", "chips=%ld", db_long(res, 0, 0),
			 "completed=%ld", db_long(res, 0, 1));
	PQclear(res);
}

static void step_migrate(struct run *r)
{
	struct chipctl_ctx *ctx = r->ctx;
	char recent[16], delay[16];
	const char *p[4] = { recent, ctx->cfg.pool_continuity_text, delay, ctx->run_id };
	PGresult *res;
	long found, moved;

	res = db_query(ctx->db, migrate_probe_sql, 0, NULL);
	if (!res) {
		fail(r, db_failure_rc(ctx->db));
		return;
	}
	found = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!found) {
		count(r, "conversations_migrated", 0);
		count(r, "continuity_scheduled", 0);
		return;
	}
	snprintf(recent, sizeof(recent), "%d", ctx->cfg.pool_migration_recent_hours);
	snprintf(delay, sizeof(delay), "%d", ctx->cfg.pool_continuity_delay_hours);
	res = db_query(ctx->db, ctx->dry_run ? migrate_dry_sql : migrate_sql, 4, p);
	if (!res) {
		fail(r, db_failure_rc(ctx->db));
		return;
	}
	found = db_long(res, 0, 0);
	moved = db_long(res, 0, 1);
	count(r, "conversations_migrated", moved);
	count(r, "continuity_scheduled", db_long(res, 0, 2));
	if (found)
		log_info(ctx->dry_run ? "would migrate conversations" :
			 "migrated conversations", "found=%ld", found, "moved=%ld", moved,
			 "continuity=%ld", db_long(res, 0, 2));
	if (found > moved)
		log_warn("conversations of degraded chips wait: no active chip to take them",
			 "waiting=%ld", found - moved);
	PQclear(res);
}

static int read_pool(struct run *r, struct pool *pl)
{
	PGresult *res = db_query(r->ctx->db, counts_sql, 0, NULL);

	if (!res) {
		fail(r, db_failure_rc(r->ctx->db));
		return -1;
	}
	pl->active = db_long(res, 0, 0);
	pl->ready = db_long(res, 0, 1);
	pl->warming = db_long(res, 0, 2);
	pl->pending = db_long(res, 0, 3);
	pl->provisioned = db_long(res, 0, 4);
	pl->degraded = db_long(res, 0, 5);
	pl->banned = db_long(res, 0, 6);
	pl->prospect = db_long(res, 0, 7);
	PQclear(res);
	return 0;
}

static char *pool_json(const struct pool *pl)
{
	static char buf[300];

	snprintf(buf, sizeof(buf), "{\"active\":%ld,\"ready\":%ld,\"warming\":%ld,"
		 "\"pending\":%ld,\"provisioned\":%ld,\"degraded\":%ld,\"banned\":%ld,"
		 "\"prospect\":%ld}", pl->active, pl->ready, pl->warming, pl->pending,
		 pl->provisioned, pl->degraded, pl->banned, pl->prospect);
	return buf;
}

/* Raise (or clear) one pool alert; a raised one is recorded in pool_alerts. */
static void pool_alert(struct run *r, const struct pool *pl, int on,
		       const char *type, enum alert_severity sev, const char *text)
{
	struct chipctl_ctx *ctx = r->ctx;
	const char *p[5];
	int q;

	if (!on) {
		if (!ctx->dry_run)
			alert_resolve(ctx, type, NULL, "pool back above its minimum");
		return;
	}
	q = alert_raise(ctx, type, NULL, sev, ctx->cfg.pool_alert_cooldown_s, text);
	if (q < 0) {
		fail(r, db_failure_rc(ctx->db));
		return;
	}
	if (q == 0)
		return;
	p[0] = type;
	p[1] = alert_severity_name(sev);
	p[2] = text;
	p[3] = pool_json(pl);
	p[4] = ctx->run_id;
	if (db_exec(ctx->db, pool_alert_sql, 5, p) < 0)
		fail(r, db_failure_rc(ctx->db));
	else
		count(r, "pool_alerts", 1);
}

static void step_alerts(struct run *r, const struct pool *pl)
{
	const struct config *cfg = &r->ctx->cfg;
	char t[200];

	snprintf(t, sizeof(t), "Pool de produção crítico: %ld/%d chips ativos",
		 pl->active, cfg->pool_min_active);
	pool_alert(r, pl, pl->active < cfg->pool_min_active, "pool_producao_critico",
		   ALERT_CRITICAL, t);
	snprintf(t, sizeof(t), "Reserve baixo: %ld/%d chips ready", pl->ready,
		 cfg->pool_min_ready);
	pool_alert(r, pl, pl->ready < cfg->pool_min_ready, "pool_ready_baixo",
		   ALERT_WARNING, t);
	snprintf(t, sizeof(t), "Warming insuficiente: %ld/%d chips em aquecimento",
		 pl->warming, cfg->pool_min_warming);
	pool_alert(r, pl, pl->warming < cfg->pool_min_warming, "warming_insuficiente",
		   ALERT_WARNING, t);
	pool_alert(r, pl, pl->prospect == 0, "nenhum_chip_prospeccao", ALERT_CRITICAL,
		   "CRÍTICO: Nenhum chip disponível para prospecção!");
}

static void step_provision(struct run *r, const struct pool *pl)
{
	struct chipctl_ctx *ctx = r->ctx;
	const struct config *cfg = &ctx->cfg;
	long deficit = cfg->pool_min_active - pl->active;
	long pipeline = pl->ready + pl->warming + pl->pending + pl->provisioned;
	long need = deficit - pipeline;
	char text[700], sneed[16], sarea[16];
	struct provision_result pr;

	if (!ctx->dry_run) {
		int n = salvy_create_instances(ctx, r->actor);
		if (n < 0)
			fail(r, db_failure_rc(ctx->db));
		else if (n)
			count(r, "instances_created", n);
		n = salvy_cancel_banned(ctx, NULL);
		if (n < 0)
			fail(r, db_failure_rc(ctx->db));
		else if (n)
			count(r, "salvy_cancelled", n);
	}
	if (need <= 0) {
		if (ctx->dry_run)
			return;
		if (db_exec(ctx->db, close_requests_sql, 0, NULL) < 0)
			fail(r, db_failure_rc(ctx->db));
		alert_resolve(ctx, "pool_provisioning_needed", NULL,
			      "the pool can refill itself again");
		return;
	}
	count(r, "provision_needed", need);
	if (!salvy_configured(cfg)) {
		const char *p[5] = { sneed, sarea, "pool_deficit", r->actor, ctx->run_id };
		snprintf(sneed, sizeof(sneed), "%ld", need);
		snprintf(sarea, sizeof(sarea), "%d", cfg->salvy_area_code);
		if (!ctx->dry_run && db_exec(ctx->db, open_request_sql, 5, p) < 0)
			fail(r, db_failure_rc(ctx->db));
		snprintf(text, sizeof(text), "Provisioning needed: %ld new number(s) "
			 "(active %ld/%d, nothing in ready, warming, pending or "
			 "provisioned to cover it); Salvy is not configured", need,
			 pl->active, cfg->pool_min_active);
		if (alert_raise(ctx, "pool_provisioning_needed", NULL, ALERT_CRITICAL,
				cfg->pool_alert_cooldown_s, text) < 0)
			fail(r, db_failure_rc(ctx->db));
		return;
	}
	if (salvy_provision(ctx, cfg->salvy_area_code, (int)need, "pool_deficit",
			    r->actor, &pr)) {
		fail(r, db_failure_rc(ctx->db));
		return;
	}
	count(r, "provisioned", pr.numbers);
	count(r, "provisioned_pending", pr.pending);
	if (pr.numbers < need) {
		snprintf(text, sizeof(text), "Provisioning short: %d of %ld new number(s) "
			 "(active %ld/%d): %s", pr.numbers, need, pl->active,
			 cfg->pool_min_active, pr.error);
		if (alert_raise(ctx, "pool_provisioning_failed", NULL, ALERT_CRITICAL,
				cfg->pool_alert_cooldown_s, text) < 0)
			fail(r, db_failure_rc(ctx->db));
	}
	if (pr.failed) {
		job_set_error(ctx, pr.error);
		fail(r, pr.rc == EX_CONFIG ? EX_CONFIG : EX_TEMPFAIL);
	}
}

int cmd_pool_check(int argc, char **argv, struct chipctl_ctx *ctx)
{
	static const struct option opts[] = { CLI_COMMON_LONG, { 0, 0, 0, 0 } };
	struct run r;
	struct pool pl;
	int rc;

	while (cli_getopt(ctx, argc, argv, CLI_SHORT(""), opts) != -1)
		;
	if (ctx->exit_now < 0 && optind < argc)
		return cli_usage_error(ctx, "unexpected argument", argv[optind]);
	if ((rc = ctx_start(ctx)) >= 0)
		return rc;
	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	r.out = json_object_new_object();
	lifecycle_job_actor(ctx, r.actor, sizeof(r.actor));
	json_object_object_add(r.out, "dry_run", json_object_new_boolean(ctx->dry_run));
	step_status(&r);
	step_recovery(&r);
	step_migrate(&r);
	if (!read_pool(&r, &pl)) {
		json_object_object_add(r.out, "pool", json_tokener_parse(pool_json(&pl)));
		step_alerts(&r, &pl);
		step_provision(&r, &pl);
		log_info("pool checked", "active=%ld", pl.active, "ready=%ld", pl.ready,
			 "warming=%ld", pl.warming, "pending=%ld", pl.pending,
			 "degraded=%ld", pl.degraded, "prospect=%ld", pl.prospect);
	}
	if (ctx->json)
		puts(json_object_to_json_string_ext(r.out, JSON_C_TO_STRING_PLAIN));
	json_object_put(r.out);
	return r.rc;
}
