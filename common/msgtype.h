/*
 * msgtype: the message-type policy, in one table.
 *
 * Owns, for each fila_mensagens.tipo, the guardrail weight (a campaign
 * counts guardrail.campaign_weight), whether the doctor's limits apply
 * (replies are exempt: a doctor who wrote to us gets an answer), the chip
 * permission that sends it in normal mode (pode_prospectar, pode_followup,
 * pode_responder, which trust-update sets from trust.perm_*), and the trust
 * that is enough in fallback mode (send.fallback_trust_*). Guard, select
 * and health read it here and nowhere else.
 */
#ifndef CHIPCTL_MSGTYPE_H
#define CHIPCTL_MSGTYPE_H

struct config;

enum chip_permission { PERM_PROSPECT, PERM_FOLLOWUP, PERM_REPLY };

struct msgtype {
	const char *tipo;
	int guardrail_exempt;
	enum chip_permission permission;
	int weight;		/* against the doctor's daily limit */
	int normal_trust;	/* the trust behind the permission (trust.perm_*) */
	int fallback_trust;	/* enough in fallback mode */
};

/* The policy of tipo under cfg (an unknown tipo is treated as a follow-up,
 * the queue's default type). */
struct msgtype msgtype_of(const struct config *cfg, const char *tipo);

/* Is tipo one of the table's types? */
int msgtype_known(const char *tipo);

#endif
