/*
 * story: one message's story, for `chipctl queue show`.
 *
 * Owns what is told about a message: its queue row (status, outcome and
 * reason, attempts spent of its maximum, waits for a chip, first due time,
 * who holds it, when and through which chip it was sent; what it holds now:
 * its doctor's quota share and its chip's room, used once it was sent; a
 * send started and never answered), every chip choice
 * (chip_selection_log: the chosen chip, mode, candidates and threshold, or
 * why none), every attempt (chip, provider, HTTP status, result, whose fault,
 * uncertain, latency, error) and its delivery receipt, read in one statement
 * as one JSON document, and that document told as text.
 */
#ifndef CHIPCTL_STORY_H
#define CHIPCTL_STORY_H

#include <stdio.h>

struct db;

/* The story of message `id` (a positive integer, as text) as JSON, "" when
 * no such message exists (free it), or NULL after a database error. */
char *story_fetch(struct db *db, const char *id);

/* Tell a story_fetch document as text on out. 0, or -1 if it is not JSON. */
int story_print(FILE *out, const char *json);

#endif
