#include "pool.h"
#include "db.h"

#include <stdio.h>
#include <string.h>

const char pool_list_sql[] =
	"SELECT c.id, c.instance_name, c.telefone, c.status, c.trust_score,"
	"  c.trust_level, c.provider, n.connected,"
	"  (extract(epoch FROM now() - c.desconectado_desde) / 60)::bigint,"
	"  n.chip_breaker, b.override,"
	"  greatest(0, ceil(extract(epoch FROM greatest(c.cooldown_until,"
	"    c.connection_cooldown_until) - now()) / 60))::bigint,"
	"  c.cooldown_reason, c.recovery_phase,"
	"  (SELECT count(*) FROM fila_mensagens f WHERE f.chip_id = c.id"
	"     AND f.enviada_em > now() - interval '24 hours'),"
	"  c.erros_ultimas_24h, c.pode_prospectar, c.pode_followup, c.pode_responder,"
	"  c.limite_hora, c.limite_dia, c.evolution_connected, c.msgs_enviadas_total,"
	"  c.msgs_recebidas_total, c.last_fault, c.last_fault_why, c.last_fault_error,"
	"  (extract(epoch FROM now() - c.last_fault_at) / 60)::bigint,"
	"  ceil(extract(epoch FROM n.next_send_at - now()))::bigint, n.held_by"
	" FROM chips c JOIN chipctl_chip_now n ON n.id = c.id"
	" LEFT JOIN circuit_breakers b ON b.name = 'chip:' || c.id"
	" WHERE $1::text IS NULL OR c.status = $1"
	" ORDER BY array_position(ARRAY['active','ready','warming','pending',"
	"   'provisioned','degraded','banned'], c.status), c.trust_score DESC,"
	"   c.instance_name";

void pool_connection_text(const PGresult *res, int row, char *buf, size_t n)
{
	/* Z-API chips say so: their connection is Z-API's */
	const char *prov = strcmp(PQgetvalue(res, row, POOL_PROVIDER), "evolution") ? "zapi " : "";

	if (!strcmp(PQgetvalue(res, row, POOL_CONN), "t"))
		snprintf(buf, n, "%sconnected", prov);
	else if (db_val(res, row, POOL_DOWN_MIN))
		snprintf(buf, n, "%sdown %ldm", prov, db_long(res, row, POOL_DOWN_MIN));
	else
		snprintf(buf, n, "%sdisconnected", prov);
}

void pool_breaker_text(const PGresult *res, int row, char *buf, size_t n)
{
	const char *ov = db_val(res, row, POOL_OVERRIDE);

	snprintf(buf, n, "%s%s%s", PQgetvalue(res, row, POOL_BREAKER), ov ? "/" : "",
		 ov ? ov : "");
}
