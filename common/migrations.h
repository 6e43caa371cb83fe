/*
 * migrations: the schema this binary expects, and bringing a database to it.
 *
 * Owns the two tables of SQL compiled in from sql/ (scripts/embed-sql.sh):
 * the numbered migrations (tables, columns, indexes, data changes; applied
 * once each, in order, append-only) and the repeatable files of
 * sql/functions/ (every function, view and trigger, one current definition
 * each; re-applied whenever its checksum differs from the one recorded, in
 * the order of their names, dependencies first). It owns the tables that
 * record both (schema_migrations, schema_repeatables) and one `migrate`
 * run: everything pending, numbered files first, then the repeatable files
 * that changed (all of them when a numbered file was applied: a table
 * change may have dropped what reads it), in ONE transaction under a
 * transaction-scoped advisory lock (safe behind a pooler; two concurrent
 * runs apply each file once; an error anywhere leaves nothing half done).
 * A numbered file edited after it was applied is refused, unless its
 * recorded checksum is the one it had before a rework (sql/reworked.txt).
 */
#ifndef CHIPCTL_MIGRATIONS_H
#define CHIPCTL_MIGRATIONS_H

struct db;

struct migration {
	int version;		/* numbered: NNN; repeatable: its place in the order */
	const char *name;	/* "001_core.sql", "functions/01_rules.sql" */
	const char *sha256;
	const char *sql;
	const char *reworked_sha256;	/* the checksum before a rework, or NULL */
};

extern const struct migration migrations[];
extern const int nmigrations;
extern const struct migration repeatables[];
extern const int nrepeatables;

enum migration_state {
	MIG_PENDING,	/* never applied */
	MIG_APPLIED,	/* applied, as this binary has it */
	MIG_EDITED,	/* numbered, changed after it was applied: refused */
	MIG_UNKNOWN,	/* recorded, but not in this binary */
	MIG_CHANGED,	/* repeatable, changed since it was applied: re-applied */
};

struct migration_status {
	int version;
	const char *name;	/* points into the tables, or a constant */
	enum migration_state state;
	int repeatable;
};

/*
 * Compare the database with the compiled-in tables. Fills *pending (files
 * a run would apply: numbered pending, repeatable pending or changed),
 * *edited and *unknown (numbered files only) and, when list is not NULL,
 * up to max entries, numbered files first. Returns 0, or -1 on a database
 * error. A database with no tables of its own has everything pending.
 */
int migrations_check(struct db *db, int *pending, int *edited, int *unknown,
		     struct migration_status *list, int max, int *nlist);

/* One run's count of what it applied. */
struct migrate_result {
	int numbered;
	int repeatable;
};

/* Apply everything pending in one transaction. 0, or -1 (rolled back, the
 * file and line named in the log). The caller must have checked that no
 * applied file was edited. */
int migrations_apply(struct db *db, const char *run_id, struct migrate_result *out);

const char *migration_state_name(enum migration_state st);

#endif
