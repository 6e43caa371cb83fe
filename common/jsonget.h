/*
 * jsonget: reading a member of a JSON document that may be absent, null, or
 * not an object at all (webhook bodies, the trust explanation, a message's
 * story): the one lookup the readers of json-c documents share.
 */
#ifndef CHIPCTL_JSONGET_H
#define CHIPCTL_JSONGET_H

#include <json-c/json.h>

/* Member k of o, or NULL when o is not an object, k is absent or null. */
json_object *jget(json_object *o, const char *k);

#endif
