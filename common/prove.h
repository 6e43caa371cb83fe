/*
 * prove: is a provider this worker has not heard from yet configured right?
 *
 * Owns the one cheap authenticated call made before a worker's first send
 * through a provider: Evolution's GET /instance/connectionState/{instance}
 * of a chip about to send (api-contracts section 4), Z-API's GET .../status
 * (section 8). An answer naming the instance proves the key and the URL, so
 * every chip may send at once. Anything else proves nothing and decides
 * nothing: the worker then sends through that provider one message at a
 * time until one answers (flight.c), and that send's answer says whose
 * fault it was (provider_fault.c), as if no proof had been tried.
 */
#ifndef CHIPCTL_PROVE_H
#define CHIPCTL_PROVE_H

#include "outbound.h"

struct pool_chip;

/* Try once per worker and provider to prove c's provider (sets
 * s->proven[] on success). Returns 1 when it is proven. */
int prove_provider(struct sender *s, const struct pool_chip *c);

#endif
