/*
 * migrations: the schema this binary expects, and bringing a database to it.
 *
 * Owns the table of migrations compiled in from sql/ (version, file name,
 * SHA-256 of the file), the schema_migrations table that records what was
 * applied with its checksum, and applying what is missing, each migration
 * in its own transaction under a transaction-scoped advisory lock (safe
 * behind a pooler, and two concurrent `migrate` runs apply each file once).
 * A file edited after it was applied is refused.
 */
#ifndef CHIPCTL_MIGRATIONS_H
#define CHIPCTL_MIGRATIONS_H

struct db;

struct migration {
	int version;
	const char *name;
	const char *sha256;
	const char *sql;
};

extern const struct migration migrations[];
extern const int nmigrations;

enum migration_state { MIG_PENDING, MIG_APPLIED, MIG_EDITED, MIG_UNKNOWN };

struct migration_status {
	int version;
	const char *name;	/* points into migrations[] or into a static buffer */
	enum migration_state state;
};

/*
 * Compare the database with the compiled-in table. Fills *pending and
 * *edited (counts) and, when list is not NULL, up to max entries. Returns
 * 0, or -1 on a database error. A database with no schema_migrations
 * table has every migration pending.
 */
int migrations_check(struct db *db, int *pending, int *edited, int *unknown,
		     struct migration_status *list, int max, int *nlist);

/* Apply every pending migration. Returns the number applied, or -1. The
 * caller must have checked that no applied file was edited. */
int migrations_apply(struct db *db, const char *run_id);

const char *migration_state_name(enum migration_state st);

#endif
