/*
 * breaker: the circuit breakers' side of a failed send (SPEC section 8).
 *
 * Owns which breaker a failure counts against (only the side at fault: a
 * chip's fault its chip's breaker, a provider's fault its provider's; a
 * timeout counts against neither, but a run of them opens both), the call
 * to chipctl_breaker_failure (state held in PostgreSQL, so every worker on
 * every host sees the same breaker), and the alert when one opens. Closing
 * on success is recorded with the batch (record); probes are taken with the
 * reservation (select). The effective state is chipctl_breakers' (006).
 */
#ifndef CHIPCTL_BREAKER_H
#define CHIPCTL_BREAKER_H

#include "outbound.h"

struct send_result;

enum { BREAKER_CHIP_OPENED = 1, BREAKER_PROVIDER_OPENED = 2 };

/* Count a failed send through chip chip_id (provider, instance) against
 * the breakers at fault. Returns the BREAKER_*_OPENED bits of the breakers
 * this failure opened (0: none), or -1 on a database error. */
int breaker_after_failure(struct sender *s, const char *chip_id, const char *provider,
			  const char *instance, const struct send_result *r);

#endif
