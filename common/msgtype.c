#include "msgtype.h"
#include "config.h"

#include <stddef.h>
#include <string.h>

/* One row per message type; the numbers come from the settings named. */
static const struct {
	const char *tipo;
	int exempt;
	enum chip_permission permission;
	size_t weight_setting;		/* 0: weight 1 */
	size_t normal_setting;
	size_t fallback_setting;
} types[] = {
#define T(field) offsetof(struct config, field)
	{ "followup", 0, PERM_FOLLOWUP, 0, T(trust_perm_followup),
	  T(send_fallback_trust_followup) },
	{ "prospeccao", 0, PERM_PROSPECT, 0, T(trust_perm_prospect),
	  T(send_fallback_trust_prospeccao) },
	{ "campanha", 0, PERM_PROSPECT, T(guardrail_campaign_weight), T(trust_perm_prospect),
	  T(send_fallback_trust_prospeccao) },
	{ "resposta", 1, PERM_REPLY, 0, T(trust_perm_reply), T(send_fallback_trust_resposta) },
#undef T
};

static int setting(const struct config *cfg, size_t off)
{
	return *(const int *)(const void *)((const char *)cfg + off);
}

struct msgtype msgtype_of(const struct config *cfg, const char *tipo)
{
	struct msgtype t;
	size_t i, k = 0;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (tipo && !strcmp(tipo, types[i].tipo))
			k = i;
	t.tipo = types[k].tipo;
	t.guardrail_exempt = types[k].exempt;
	t.permission = types[k].permission;
	t.weight = types[k].weight_setting ? setting(cfg, types[k].weight_setting) : 1;
	t.normal_trust = setting(cfg, types[k].normal_setting);
	t.fallback_trust = setting(cfg, types[k].fallback_setting);
	return t;
}

int msgtype_known(const char *tipo)
{
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (tipo && !strcmp(tipo, types[i].tipo))
			return 1;
	return 0;
}
