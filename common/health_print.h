/*
 * health_print: what `chipctl health` prints, in the monitoring-plugin
 * convention.
 *
 * Owns the output of checks already evaluated (health.h): one line
 * "STATUS - summary | performance data" or, with --json, one object; deep's
 * combination of every check (the worst status wins, CRITICAL beating
 * UNKNOWN beating WARNING; each check's performance labels prefixed with
 * its name); the UNKNOWN of a check that cannot start; and query rows as
 * typed JSON for a check's details. The line is terminal-safe (termsafe):
 * whatever a summary holds, no control byte reaches the terminal raw. Each
 * printer returns the exit code, the status (0 OK, 1 WARNING, 2 CRITICAL,
 * 3 UNKNOWN).
 */
#ifndef CHIPCTL_HEALTH_PRINT_H
#define CHIPCTL_HEALTH_PRINT_H

#include "health.h"

#include <json-c/json.h>
#include <libpq-fe.h>

/* Rows as an array of objects, typed by column (bool, integers, floats). */
json_object *health_rows_json(const PGresult *res);

/* One check. */
int health_print_one(const struct health_result *r, int json);

/* All n checks combined; all_ok: the summary after "all N checks OK, ". */
int health_print_deep(const struct health_result *res, int n, const char *all_ok, int json);

/* A check that cannot even start: UNKNOWN, as a line or as JSON. */
int health_print_unknown(const char *why, int json);

#endif
