#include "prove.h"
#include "ctx.h"
#include "evolution_admin.h"
#include "http.h"
#include "log.h"
#include "select.h"
#include "zapi.h"

#include <string.h>

int prove_provider(struct sender *s, const struct pool_chip *c)
{
	int pi = select_provider_index(c->provider), ok = 0, connected;
	char err[512] = "";

	if (s->proven[pi] || s->proof_tried[pi])
		return s->proven[pi];
	s->proof_tried[pi] = 1;
	if (pi == 0) {
		const char *name = c->instance;
		struct evo_instances st;

		memset(&st, 0, sizeof(st));
		/* the instance is known to the server: the key and URL are right
		 * (a wrong URL's 404 leaves the state missing) */
		ok = evo_connection_states(&s->ctx->cfg, &name, 1, 1, &st, err, sizeof(err)) ==
			     EVO_OK && st.n == 1 && st.v[0].state;
		evo_instances_free(&st);
	} else {
		ok = zapi_status(s->http, &s->ctx->cfg, c->zapi_id, c->zapi_token, &connected, err,
				 sizeof(err)) == ZAPI_OK;
	}
	/* zapi_status set the shared client's timeout to Z-API's */
	http_client_set_timeout(s->http, config_send_timeout_ms(&s->ctx->cfg));
	s->proven[pi] = ok;
	if (!ok)
		log_info("provider not proven by its status: its first send goes alone",
			 "provider=%s", c->provider, "chip=%s", c->instance, "why=%s", err);
	return ok;
}
