#include "migrations.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The lock every migration run takes inside its transaction. */
#define LOCK_SQL "SELECT pg_advisory_xact_lock(hashtext('chipctl-migrate'))"

static const char create_numbered_sql[] =
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" version integer PRIMARY KEY, name text NOT NULL,"
	" checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),"
	" run_id uuid)";
static const char create_repeatable_sql[] =
	"CREATE TABLE IF NOT EXISTS schema_repeatables ("
	" name text PRIMARY KEY, checksum text NOT NULL,"
	" applied_at timestamptz NOT NULL DEFAULT now(), run_id uuid)";

const char *migration_state_name(enum migration_state st)
{
	switch (st) {
	case MIG_PENDING: return "pending";
	case MIG_APPLIED: return "applied";
	case MIG_EDITED:  return "edited";
	case MIG_UNKNOWN: return "unknown";
	case MIG_CHANGED: return "changed";
	}
	return "?";
}

static const struct migration *find_numbered(int version)
{
	int i;

	for (i = 0; i < nmigrations; i++)
		if (migrations[i].version == version)
			return &migrations[i];
	return NULL;
}

/* What the database recorded: both tables, or empty results when absent. */
struct recorded {
	PGresult *numbered;	/* version, checksum */
	PGresult *repeatable;	/* name, checksum */
};

static void recorded_free(struct recorded *r)
{
	PQclear(r->numbered);
	PQclear(r->repeatable);
}

static int recorded_read(struct db *db, struct recorded *r)
{
	PGresult *res;
	int has_n, has_r;

	r->numbered = r->repeatable = NULL;
	res = db_query(db, "SELECT to_regclass('schema_migrations') IS NOT NULL,"
		       " to_regclass('schema_repeatables') IS NOT NULL", 0, NULL);
	if (!res)
		return -1;
	has_n = PQgetvalue(res, 0, 0)[0] == 't';
	has_r = PQgetvalue(res, 0, 1)[0] == 't';
	PQclear(res);
	r->numbered = db_query(db, has_n ? "SELECT version, checksum FROM schema_migrations ORDER BY 1"
				     : "SELECT 0, '' WHERE false", 0, NULL);
	r->repeatable = db_query(db, has_r ? "SELECT name, checksum FROM schema_repeatables"
				       : "SELECT '', '' WHERE false", 0, NULL);
	if (!r->numbered || !r->repeatable) {
		recorded_free(r);
		return -1;
	}
	return 0;
}

/* The checksum recorded for a repeatable file, or NULL. */
static const char *recorded_sum(const struct recorded *r, const char *name)
{
	int i;

	for (i = 0; i < PQntuples(r->repeatable); i++)
		if (!strcmp(PQgetvalue(r->repeatable, i, 0), name))
			return PQgetvalue(r->repeatable, i, 1);
	return NULL;
}

static enum migration_state numbered_state(const struct migration *m, const char *sum)
{
	if (!strcmp(m->sha256, sum))
		return MIG_APPLIED;
	if (m->reworked_sha256 && !strcmp(m->reworked_sha256, sum))
		return MIG_APPLIED;	/* as applied before its rework */
	return MIG_EDITED;
}

static enum migration_state repeatable_state(const struct recorded *r, const struct migration *m)
{
	const char *sum = recorded_sum(r, m->name);

	return !sum ? MIG_PENDING : strcmp(sum, m->sha256) ? MIG_CHANGED : MIG_APPLIED;
}

static void add(struct migration_status *list, int max, int *n, int version,
		const char *name, enum migration_state st, int repeatable)
{
	if (!list || *n >= max)
		return;
	list[*n].version = version;
	list[*n].name = name;
	list[*n].state = st;
	list[*n].repeatable = repeatable;
	(*n)++;
}

int migrations_check(struct db *db, int *pending, int *edited, int *unknown,
		     struct migration_status *list, int max, int *nlist)
{
	struct recorded r;
	char *seen;
	int i, n = 0;

	*pending = *edited = *unknown = 0;
	if (recorded_read(db, &r))
		return -1;
	seen = calloc((size_t)nmigrations + 1, 1);
	for (i = 0; i < PQntuples(r.numbered); i++) {
		int version = atoi(PQgetvalue(r.numbered, i, 0));
		const struct migration *m = find_numbered(version);
		enum migration_state st = MIG_UNKNOWN;

		if (m) {
			seen[m - migrations] = 1;
			st = numbered_state(m, PQgetvalue(r.numbered, i, 1));
		}
		*edited += st == MIG_EDITED;
		*unknown += st == MIG_UNKNOWN;
		add(list, max, &n, version, m ? m->name : "(not in this chipctl)", st, 0);
	}
	for (i = 0; i < nmigrations; i++) {
		if (seen[i])
			continue;
		(*pending)++;
		add(list, max, &n, migrations[i].version, migrations[i].name, MIG_PENDING, 0);
	}
	for (i = 0; i < nrepeatables; i++) {
		enum migration_state st = repeatable_state(&r, &repeatables[i]);

		*pending += st != MIG_APPLIED;
		add(list, max, &n, repeatables[i].version, repeatables[i].name, st, 1);
	}
	if (nlist)
		*nlist = n;
	recorded_free(&r);
	free(seen);
	return 0;
}

static int apply_file(struct db *db, const struct migration *m, const char *run_id,
		      int repeatable)
{
	char version[16];
	const char *params[4];

	if (db_exec_script(db, m->sql, m->name))
		return -1;
	snprintf(version, sizeof(version), "%d", m->version);
	params[0] = version;
	params[1] = m->name;
	params[2] = m->sha256;
	params[3] = run_id;
	if (repeatable ?
	    db_exec(db, "INSERT INTO schema_repeatables (name, checksum, run_id)"
		    " VALUES ($1, $2, $3::uuid) ON CONFLICT (name) DO UPDATE"
		    " SET checksum = EXCLUDED.checksum, applied_at = now(),"
		    " run_id = EXCLUDED.run_id", 3, params + 1) < 0 :
	    db_exec(db, "INSERT INTO schema_migrations (version, name, checksum, run_id)"
		    " VALUES ($1::int, $2, $3, $4::uuid)", 4, params) < 0)
		return -1;
	log_info(repeatable ? "repeatable applied" : "migration applied",
		 "name=%s", m->name);
	return 0;
}

/* Inside the run's transaction, under its lock: what is pending now (a
 * concurrent run may have applied it meanwhile), applied in order. */
static int apply_pending(struct db *db, const char *run_id, struct migrate_result *out)
{
	struct recorded r;
	char *done;
	int i, rc = -1;

	if (recorded_read(db, &r))
		return -1;
	done = calloc((size_t)nmigrations + 1, 1);
	for (i = 0; i < PQntuples(r.numbered); i++) {
		const struct migration *m = find_numbered(atoi(PQgetvalue(r.numbered, i, 0)));
		if (m)
			done[m - migrations] = 1;
	}
	for (i = 0; i < nmigrations; i++) {
		if (done[i])
			continue;
		if (apply_file(db, &migrations[i], run_id, 0))
			goto out;
		out->numbered++;
	}
	for (i = 0; i < nrepeatables; i++) {
		if (!out->numbered && repeatable_state(&r, &repeatables[i]) == MIG_APPLIED)
			continue;
		if (apply_file(db, &repeatables[i], run_id, 1))
			goto out;
		out->repeatable++;
	}
	rc = 0;
out:
	free(done);
	recorded_free(&r);
	return rc;
}

int migrations_apply(struct db *db, const char *run_id, struct migrate_result *out)
{
	out->numbered = out->repeatable = 0;
	if (db_begin(db))
		return -1;
	if (db_exec(db, LOCK_SQL, 0, NULL) < 0 ||
	    db_exec(db, create_numbered_sql, 0, NULL) < 0 ||
	    db_exec(db, create_repeatable_sql, 0, NULL) < 0 ||
	    apply_pending(db, run_id, out)) {
		log_error("migrate failed, rolled back: nothing of this run was applied");
		db_rollback(db);
		out->numbered = out->repeatable = 0;
		return -1;
	}
	return db_commit(db);
}
