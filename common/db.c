#include "db.h"
#include "log.h"
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

struct db {
	PGconn *conn;
	int failure_rc;
	int in_tx;
	char sqlstate[6];
	/* pipeline mode: statements sent, results not read yet */
	int pipeline;
	int pending;
	int pipeline_failed;
	db_result_fn *on_result;
	void *arg;
};

/* libpq messages end in a newline and may span lines: keep the first. */
static void one_line(char *buf, size_t n, const char *msg)
{
	char *nl;

	snprintf(buf, n, "%s", msg ? msg : "");
	if ((nl = strchr(buf, '\n')))
		*nl = '\0';
}

/* Exit code for a connection that could not be made. */
static int connect_failure_rc(const char *msg)
{
	if (strstr(msg, "password authentication failed") ||
	    strstr(msg, "no password supplied") ||
	    (strstr(msg, "database \"") && strstr(msg, "does not exist")) ||
	    (strstr(msg, "role \"") && strstr(msg, "does not exist")) ||
	    strstr(msg, "invalid connection option") ||
	    strstr(msg, "invalid URI"))
		return EX_CONFIG;
	return EX_TEMPFAIL;
}

/* Server notices ("relation already exists, skipping") are not errors:
 * they go to the log at debug level instead of raw to stderr. */
static void on_notice(void *arg, const char *message)
{
	char line[512];

	(void)arg;
	one_line(line, sizeof(line), message);
	log_debug("database notice", "notice=%s", line);
}

int db_open(struct db **out, const char *url, const char *appname,
	    int connect_timeout_s)
{
	const char *keys[] = { "dbname", "application_name", "connect_timeout",
			       "fallback_application_name", NULL };
	char timeout[16], err[512];
	const char *vals[5];
	struct db *db;

	*out = NULL;
	if (!url || !*url) {
		log_error("database.url is not set (config file or DATABASE_URL)");
		return EX_CONFIG;
	}
	snprintf(timeout, sizeof(timeout), "%d", connect_timeout_s);
	vals[0] = url;
	vals[1] = appname;
	vals[2] = timeout;
	vals[3] = "chipctl";
	vals[4] = NULL;
	db = xmalloc(sizeof(*db));
	memset(db, 0, sizeof(*db));
	/* expand_dbname=1: dbname may be a whole URI or conninfo; the keys
	 * after it override what it says, so our timeout and name hold. */
	db->conn = PQconnectdbParams(keys, vals, 1);
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
		int rc;
		one_line(err, sizeof(err),
			 db->conn ? PQerrorMessage(db->conn) : "out of memory");
		rc = connect_failure_rc(err);
		log_error("cannot connect to database", "error=%s", err);
		PQfinish(db->conn);
		free(db);
		return rc;
	}
	PQsetNoticeProcessor(db->conn, on_notice, NULL);
	*out = db;
	return 0;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	PQfinish(db->conn);
	free(db);
}

PGconn *db_conn(struct db *db)
{
	return db->conn;
}

static int classify(struct db *db, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
	if (PQstatus(db->conn) != CONNECTION_OK)
		return EX_TEMPFAIL;
	if (!state)
		return EX_TEMPFAIL;	/* no server answer: connection trouble */
	if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) ||
	    !strcmp(state, "53300") || !strcmp(state, "40001") ||
	    !strcmp(state, "40P01") || !strcmp(state, "55P03") ||
	    !strcmp(state, "57014"))
		return EX_TEMPFAIL;
	if (!strncmp(state, "28", 2))
		return EX_CONFIG;
	return EX_SOFTWARE;
}

/* Outside a transaction a lost connection can be re-made once: the
 * statement never ran, so running it on the new session is safe. */
static void reconnect_if_lost(struct db *db)
{
	if (PQstatus(db->conn) == CONNECTION_OK || db->in_tx)
		return;
	log_warn("database connection lost, reconnecting");
	PQreset(db->conn);
	if (PQstatus(db->conn) == CONNECTION_OK)
		log_info("database connection re-established");
}

static void query_failed(struct db *db, PGresult *res, const char *what)
{
	char err[512];

	one_line(err, sizeof(err), res && PQresultErrorMessage(res)[0] ?
		 PQresultErrorMessage(res) : PQerrorMessage(db->conn));
	db->failure_rc = classify(db, res);
	log_error(what, "sqlstate=%s", db->sqlstate[0] ? db->sqlstate : "-", "error=%s", err);
}

int db_pipeline_enter(struct db *db, db_result_fn *on_result, void *arg)
{
	if (db->pipeline)
		return 0;
	reconnect_if_lost(db);
	if (!PQenterPipelineMode(db->conn)) {
		query_failed(db, NULL, "cannot enter pipeline mode");
		return -1;
	}
	db->pipeline = 1;
	db->pending = 0;
	db->pipeline_failed = 0;
	db->on_result = on_result;
	db->arg = arg;
	return 0;
}

int db_pipeline_send(struct db *db, const char *sql, int nparams,
		     const char *const *params)
{
	if (!db->pipeline || db->pipeline_failed)
		return -1;
	/* Each statement is its own implicit transaction (a sync after it):
	 * it commits however the ones around it end, even if we die next. */
	if (!PQsendQueryParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0) ||
	    !PQpipelineSync(db->conn)) {
		query_failed(db, NULL, "database pipeline send failed");
		db->pipeline_failed = 1;
		return -1;
	}
	db->pending++;
	return 0;
}

int db_pipeline_read(struct db *db, int wait)
{
	while (db->pipeline && db->pending > 0) {
		PGresult *res;
		ExecStatusType st;

		if (!wait) {
			if (!PQconsumeInput(db->conn)) {
				query_failed(db, NULL, "database pipeline read failed");
				db->pipeline_failed = 1;
				return -1;
			}
			if (PQisBusy(db->conn))
				return db->pipeline_failed ? -1 : 0;
		}
		res = PQgetResult(db->conn);
		if (!res) {
			if (PQstatus(db->conn) != CONNECTION_OK) {
				query_failed(db, NULL, "database pipeline read failed");
				db->pipeline_failed = 1;
				db->pending = 0;
			}
			continue;	/* the end of one statement's results */
		}
		st = PQresultStatus(res);
		if (st == PGRES_PIPELINE_SYNC) {
			db->pending--;
		} else if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
			if (db->on_result)
				db->on_result(db->arg, res);
		} else if (st != PGRES_PIPELINE_ABORTED) {
			query_failed(db, res, "database query failed");
			db->pipeline_failed = 1;
		}
		PQclear(res);
	}
	return db->pipeline_failed ? -1 : 0;
}

int db_pipeline_exit(struct db *db)
{
	int rc;

	if (!db->pipeline)
		return 0;
	rc = db_pipeline_read(db, 1);
	if (!PQexitPipelineMode(db->conn) && rc == 0) {
		query_failed(db, NULL, "cannot leave pipeline mode");
		rc = -1;
	}
	db->pipeline = 0;
	db->pending = 0;
	return rc;
}

PGresult *db_query(struct db *db, const char *sql, int nparams,
		   const char *const *params)
{
	PGresult *res;
	ExecStatusType st;
	int attempt;

	/* A statement waits for the pipeline's to be read first. */
	if (db->pipeline && db_pipeline_exit(db) < 0)
		return NULL;
	for (attempt = 0; attempt < 2; attempt++) {
		reconnect_if_lost(db);
		res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL,
				   NULL, 0);
		st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			db->sqlstate[0] = '\0';
			return res;
		}
		/* Retry only a statement that never reached a live server. */
		if (attempt == 0 && !db->in_tx &&
		    PQstatus(db->conn) != CONNECTION_OK) {
			PQclear(res);
			continue;
		}
		break;
	}
	query_failed(db, res, "database query failed");
	PQclear(res);
	return NULL;
}

long db_exec(struct db *db, const char *sql, int nparams,
	     const char *const *params)
{
	PGresult *res = db_query(db, sql, nparams, params);
	long n;

	if (!res)
		return -1;
	n = atol(PQcmdTuples(res));	/* libpq's count of rows: our server's digits */
	PQclear(res);
	return n;
}

/* The line of the script at the error's position (characters, 1-based, as
 * the server counts them in the statement it was sent), or 0 if unknown. */
static int script_line(const char *sql, const PGresult *res)
{
	const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
	/* our server's error field, digits by the protocol: no outside text */
	long chars = pos ? strtol(pos, NULL, 10) : 0;
	int line = 1;

	if (chars <= 0)
		return 0;
	for (; *sql && chars > 1; sql++) {
		if ((*sql & 0xC0) != 0x80)	/* the first byte of a character */
			chars--;
		if (*sql == '\n')
			line++;
	}
	return line;
}

int db_exec_script(struct db *db, const char *sql, const char *name)
{
	PGresult *res;
	ExecStatusType st;

	res = PQexec(db->conn, sql);
	st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ||
	    st == PGRES_EMPTY_QUERY) {
		PQclear(res);
		return 0;
	}
	{
		char err[512];
		int line = script_line(sql, res);

		one_line(err, sizeof(err), res ? PQresultErrorMessage(res) :
			 PQerrorMessage(db->conn));
		db->failure_rc = classify(db, res);
		if (line)
			log_error("database script failed", "file=%s", name, "line=%d", line,
				  "sqlstate=%s", db->sqlstate[0] ? db->sqlstate : "-",
				  "error=%s", err);
		else
			log_error("database script failed", "file=%s", name,
				  "sqlstate=%s", db->sqlstate[0] ? db->sqlstate : "-",
				  "error=%s", err);
	}
	PQclear(res);
	return -1;
}

int db_begin(struct db *db)
{
	if (db_exec(db, "BEGIN", 0, NULL) < 0)
		return -1;
	db->in_tx = 1;
	return 0;
}

int db_commit(struct db *db)
{
	long rc = db_exec(db, "COMMIT", 0, NULL);

	db->in_tx = 0;
	return rc < 0 ? -1 : 0;
}

void db_rollback(struct db *db)
{
	if (PQstatus(db->conn) == CONNECTION_OK &&
	    PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
		PGresult *res = PQexec(db->conn, "ROLLBACK");
		PQclear(res);
	}
	db->in_tx = 0;
}

int db_failure_rc(const struct db *db)
{
	return db && db->failure_rc ? db->failure_rc : EX_SOFTWARE;
}

const char *db_last_sqlstate(const struct db *db)
{
	return db->sqlstate;
}

const char *db_val(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
}

long db_long(const PGresult *res, int r, int c)
{
	/* an integer column of our own database, typed by SQL: no outside text */
	return PQgetisnull(res, r, c) ? 0 : atol(PQgetvalue(res, r, c));
}
