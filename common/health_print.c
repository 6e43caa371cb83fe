#include "health_print.h"
#include "db.h"
#include "termsafe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows as an array of objects, typed by column (bool, integers, floats). */
json_object *health_rows_json(const PGresult *res)
{
	json_object *arr = json_object_new_array();
	int r, c;

	for (r = 0; r < PQntuples(res); r++) {
		json_object *o = json_object_new_object();
		for (c = 0; c < PQnfields(res); c++) {
			const char *v = db_val(res, r, c);
			json_object *j = NULL;
			Oid t = PQftype(res, c);

			if (!v)
				j = NULL;
			else if (t == 16)
				j = json_object_new_boolean(v[0] == 't');
			else if (t == 20 || t == 21 || t == 23)
				/* an int column of our database: typed by SQL */
				j = json_object_new_int64(strtoll(v, NULL, 10));
			else if (t == 700 || t == 701 || t == 1700)
				j = json_object_new_double(strtod(v, NULL));
			else
				j = json_object_new_string(v);
			json_object_object_add(o, PQfname(res, c), j);
		}
		json_object_array_add(arr, o);
	}
	return arr;
}

static json_object *result_json(const struct health_result *r)
{
	json_object *o = json_object_new_object();
	json_object_iter it;

	json_object_object_add(o, "status", json_object_new_string(health_status_name(r->status)));
	json_object_object_add(o, "summary", json_object_new_string(sb_str(&r->text)));
	json_object_object_add(o, "score", json_object_new_int(r->score));
	json_object_object_foreachC(r->json, it)
		json_object_object_add(o, it.key, json_object_get(it.val));
	return o;
}

/* Prefix every label of a check's performance data with its name. */
static void add_prefixed_perf(struct strbuf *out, const struct health_result *r)
{
	const char *p = sb_str(&r->perf);

	while (*p) {
		const char *sp = strchr(p, ' ');
		size_t n = sp ? (size_t)(sp - p) : strlen(p);

		if (out->len)
			sb_addc(out, ' ');
		sb_addf(out, "%s_", r->name);
		sb_addn(out, p, n);
		p += n;
		while (*p == ' ')
			p++;
	}
}

int health_print_one(const struct health_result *r, int json)
{
	if (json) {
		json_object *o = result_json(r);
		json_object_object_add(o, "check", json_object_new_string(r->name));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else if (r->perf.len) {
		printf("%s - %s | %s\n", health_status_name(r->status), tsafe(sb_str(&r->text)),
		       tsafe(sb_str(&r->perf)));
	} else {
		printf("%s - %s\n", health_status_name(r->status), tsafe(sb_str(&r->text)));
	}
	return (int)r->status;
}

int health_print_deep(const struct health_result *res, int n, const char *all_ok, int json)
{
	struct strbuf text = STRBUF_INIT, perf = STRBUF_INIT;
	enum health_status worst = HEALTH_OK;
	int i, bad = 0, crit = 0, warn = 0, unk = 0;

	for (i = 0; i < n; i++) {
		enum health_status st = res[i].status;
		crit += st == HEALTH_CRITICAL;
		warn += st == HEALTH_WARNING;
		unk += st == HEALTH_UNKNOWN;
	}
	/* CRITICAL beats UNKNOWN beats WARNING */
	worst = crit ? HEALTH_CRITICAL : unk ? HEALTH_UNKNOWN : warn ? HEALTH_WARNING : HEALTH_OK;
	for (i = 0; i < n; i++) {
		const struct health_result *r = &res[i];
		if (r->status != HEALTH_OK) {
			sb_addf(&text, "%s%s %s (%s)", bad ? "; " : "", r->name,
				health_status_name(r->status), sb_str(&r->text));
			bad++;
		}
		add_prefixed_perf(&perf, r);
	}
	if (!bad)
		sb_addf(&text, "all %d checks OK, %s", n, all_ok);
	if (json) {
		json_object *o = json_object_new_object(), *checks = json_object_new_object();

		json_object_object_add(o, "status", json_object_new_string(health_status_name(worst)));
		json_object_object_add(o, "summary", json_object_new_string(sb_str(&text)));
		for (i = 0; i < n; i++)
			json_object_object_add(checks, res[i].name, result_json(&res[i]));
		json_object_object_add(o, "checks", checks);
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		printf("%s - %s | %s\n", health_status_name(worst), tsafe(sb_str(&text)),
		       tsafe(sb_str(&perf)));
	}
	sb_free(&text);
	sb_free(&perf);
	return (int)worst;
}

int health_print_unknown(const char *why, int json)
{
	if (json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "status", json_object_new_string("UNKNOWN"));
		json_object_object_add(o, "summary", json_object_new_string(why));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		printf("UNKNOWN - %s\n", tsafe(why));
	}
	return HEALTH_UNKNOWN;
}
