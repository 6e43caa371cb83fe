/*
 * db: the PostgreSQL connection and every query chipctl sends.
 *
 * Owns connecting (a libpq URI or conninfo, a connect timeout, the run id in
 * application_name so pg_stat_activity shows which job a session belongs
 * to), parameterised execution only (PQexecParams: unnamed statements, safe
 * behind a transaction-mode pooler), transactions, one reconnect attempt
 * when the server went away, and turning a failure into one log line and an
 * exit code: 75 when the database is unreachable or went away (cron will
 * try again), 78 for refused credentials or a missing database, 70 for any
 * other error (a bug or a schema mismatch). Nothing here sets session
 * state that outlives a transaction.
 */
#ifndef CHIPCTL_DB_H
#define CHIPCTL_DB_H

#include <libpq-fe.h>

struct db;

/* Connect. Returns 0, or an exit code (75 or 78) after logging why. */
int db_open(struct db **out, const char *url, const char *appname,
	    int connect_timeout_s);
void db_close(struct db *db);
PGconn *db_conn(struct db *db);

/*
 * Run one parameterised statement (params may be NULL for SQL NULL).
 * Returns the result (caller PQclear()s it) when it is COMMAND_OK or
 * TUPLES_OK; otherwise logs the error once, remembers its exit code and
 * returns NULL.
 */
PGresult *db_query(struct db *db, const char *sql, int nparams,
		   const char *const *params);
/* Same, for statements whose rows are not wanted: returns the number of
 * rows affected, or -1. */
long db_exec(struct db *db, const char *sql, int nparams,
	     const char *const *params);
/*
 * Pipeline mode (libpq >= 14): statements sent without waiting for their
 * results, each its own implicit transaction, so each commits as soon as
 * the server reads it, whatever happens to this process afterwards. The
 * send path records each sent message this way the moment its answer
 * arrives. on_result sees every row-returning result as it is read.
 * db_query and db_exec leave pipeline mode first (reading what is
 * pending), so a caller can mix them. All return 0 or -1 (logged).
 */
typedef void db_result_fn(void *arg, const PGresult *res);
int db_pipeline_enter(struct db *db, db_result_fn *on_result, void *arg);
int db_pipeline_send(struct db *db, const char *sql, int nparams,
		     const char *const *params);
/* Read the results that have arrived (wait: all of them). */
int db_pipeline_read(struct db *db, int wait);
int db_pipeline_exit(struct db *db);

/* Run a script of several statements without parameters (migrations);
 * an error names the script (name) and the line it points at. */
int db_exec_script(struct db *db, const char *sql, const char *name);

int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

/* The exit code for the last failure: 75, 78 or 70. */
int db_failure_rc(const struct db *db);
/* SQLSTATE of the last failure, or "" */
const char *db_last_sqlstate(const struct db *db);

/* Convenience: the value of row r, column c, or NULL when SQL NULL. */
const char *db_val(const PGresult *res, int r, int c);
long db_long(const PGresult *res, int r, int c);

#endif
