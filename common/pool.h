/*
 * pool: the chip pool at a glance, one row per chip.
 *
 * Owns the one query that `chipctl chips` prints and `chipctl report`
 * draws (status, trust and level, connection, breaker and its override,
 * cooldown left, recovery phase, sent and errors in 24 h, when it may
 * send next and who holds it), and how its
 * connection and breaker cells read, so the two never disagree. Nothing
 * here writes.
 */
#ifndef CHIPCTL_POOL_H
#define CHIPCTL_POOL_H

#include <libpq-fe.h>
#include <stddef.h>

/* $1: a status to keep (NULL for every chip). Production first (active,
 * ready, warming, pending, provisioned, degraded, banned), best trust
 * first. */
extern const char pool_list_sql[];

enum { POOL_ID, POOL_NAME, POOL_PHONE, POOL_STATUS, POOL_TRUST, POOL_LEVEL,
       POOL_PROVIDER, POOL_CONN, POOL_DOWN_MIN, POOL_BREAKER, POOL_OVERRIDE,
       POOL_COOL_MIN, POOL_COOL_REASON, POOL_PHASE, POOL_SENT, POOL_ERRORS,
       POOL_PROSP, POOL_FOLLOW, POOL_RESP, POOL_LHORA, POOL_LDIA, POOL_EVO_CONN,
       POOL_SENT_TOTAL, POOL_RECV_TOTAL,
       /* the last failed send through the chip: whose fault (send_attempts'
        * side), why, the provider's scrubbed words, minutes ago */
       POOL_LAST_FAULT, POOL_LAST_WHY, POOL_LAST_ERROR, POOL_LAST_AGE_MIN,
       /* pacing: seconds until the chip may start its next send (NULL:
        * now), and the worker whose batch holds it (NULL: none) */
       POOL_NEXT_S, POOL_HELD_BY };

/* "connected", "down 12m" or "disconnected", by the chip's own provider
 * (chipctl_chip_now.connected); "zapi " before it for a Z-API chip. */
void pool_connection_text(const PGresult *res, int row, char *buf, size_t n);
/* The effective state (chipctl_breakers: "closed", "open", "half_open"),
 * with "/forced_open" or "/disabled" when an operator set one. */
void pool_breaker_text(const PGresult *res, int row, char *buf, size_t n);

#endif
