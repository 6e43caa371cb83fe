/*
 * config_table: every setting of chipctl in one table (config.h says what
 * the configuration owns). One row drives a setting's default, its
 * validation, its environment override, whether it is a secret, and what
 * `chipctl --list-settings` prints; a test holds the table against
 * chipctl.conf(5) and the sample config. Private to config.c.
 */
#ifndef CHIPCTL_CONFIG_TABLE_H
#define CHIPCTL_CONFIG_TABLE_H

#include <stddef.h>

enum cfg_type { T_STR, T_INT };

#define SECRET 1u
#define URL    2u	/* must be http:// or https:// */

#define CONNINFO 4u	/* a libpq conninfo string or URI */

struct setting {
	const char *name;
	enum cfg_type type;
	size_t off;
	const char *env;
	const char *def_str;
	long def_int, min, max;
	unsigned flags;
	const char *choices;	/* "a|b|c": the only values allowed */
};

extern const struct setting settings[];
extern const size_t nsettings;

#endif
