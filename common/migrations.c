#include "migrations.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The lock every migration run takes inside its transaction. */
#define LOCK_SQL "SELECT pg_advisory_xact_lock(hashtext('chipctl-migrate'))"

static const char create_sql[] =
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" version integer PRIMARY KEY, name text NOT NULL,"
	" checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),"
	" run_id uuid)";

const char *migration_state_name(enum migration_state st)
{
	switch (st) {
	case MIG_PENDING: return "pending";
	case MIG_APPLIED: return "applied";
	case MIG_EDITED:  return "edited";
	case MIG_UNKNOWN: return "unknown";
	}
	return "?";
}

static const struct migration *find(int version)
{
	int i;

	for (i = 0; i < nmigrations; i++)
		if (migrations[i].version == version)
			return &migrations[i];
	return NULL;
}

int migrations_check(struct db *db, int *pending, int *edited, int *unknown,
		     struct migration_status *list, int max, int *nlist)
{
	PGresult *res;
	int i, r, n = 0;
	char *seen = calloc((size_t)nmigrations + 1, 1);

	*pending = *edited = *unknown = 0;
	res = db_query(db, "SELECT to_regclass('schema_migrations') IS NOT NULL",
		       0, NULL);
	if (!res) {
		free(seen);
		return -1;
	}
	r = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	res = NULL;
	if (r && !(res = db_query(db, "SELECT version, name, checksum"
				  " FROM schema_migrations ORDER BY 1", 0, NULL))) {
		free(seen);
		return -1;
	}
	for (r = 0; res && r < PQntuples(res); r++) {
		int version = atoi(PQgetvalue(res, r, 0));
		const struct migration *m = find(version);
		enum migration_state st;

		if (!m) {
			st = MIG_UNKNOWN;
			(*unknown)++;
		} else {
			seen[m - migrations] = 1;
			st = strcmp(m->sha256, PQgetvalue(res, r, 2)) ? MIG_EDITED :
								       MIG_APPLIED;
			if (st == MIG_EDITED)
				(*edited)++;
		}
		if (list && n < max) {
			list[n].version = version;
			list[n].name = m ? m->name : "(not in this chipctl)";
			list[n].state = st;
			n++;
		}
	}
	for (i = 0; i < nmigrations; i++) {
		if (seen[i])
			continue;
		(*pending)++;
		if (list && n < max) {
			list[n].version = migrations[i].version;
			list[n].name = migrations[i].name;
			list[n].state = MIG_PENDING;
			n++;
		}
	}
	if (nlist)
		*nlist = n;
	PQclear(res);
	free(seen);
	return 0;
}

static int apply_one(struct db *db, const struct migration *m, const char *run_id)
{
	char version[16];
	const char *params[4];
	PGresult *res;
	int already;

	snprintf(version, sizeof(version), "%d", m->version);
	if (db_begin(db))
		return -1;
	if (db_exec(db, LOCK_SQL, 0, NULL) < 0 || db_exec(db, create_sql, 0, NULL) < 0)
		goto fail;
	params[0] = version;
	res = db_query(db, "SELECT 1 FROM schema_migrations WHERE version = $1::int",
		       1, params);
	if (!res)
		goto fail;
	already = PQntuples(res) > 0;
	PQclear(res);
	if (already) {	/* another migrate run applied it meanwhile */
		db_rollback(db);
		return 0;
	}
	if (db_exec_script(db, m->sql))
		goto fail;
	params[1] = m->name;
	params[2] = m->sha256;
	params[3] = run_id;
	if (db_exec(db, "INSERT INTO schema_migrations (version, name, checksum, run_id)"
		    " VALUES ($1::int, $2, $3, $4::uuid)", 4, params) < 0)
		goto fail;
	if (db_commit(db))
		return -1;
	log_info("migration applied", "version=%d", m->version, "name=%s", m->name);
	return 1;
fail:
	log_error("migration failed, rolled back", "name=%s", m->name);
	db_rollback(db);
	return -1;
}

int migrations_apply(struct db *db, const char *run_id)
{
	struct migration_status list[256];
	int pending, edited, unknown, n, i, applied = 0;

	if (migrations_check(db, &pending, &edited, &unknown, list, 256, &n))
		return -1;
	for (i = 0; i < n; i++) {
		int rc;
		if (list[i].state != MIG_PENDING)
			continue;
		rc = apply_one(db, find(list[i].version), run_id);
		if (rc < 0)
			return -1;
		applied += rc;
	}
	return applied;
}
