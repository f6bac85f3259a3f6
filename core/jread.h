#ifndef RELAY_JREAD_H
#define RELAY_JREAD_H

#include <stddef.h>

struct json_t;

/* A JSON text (an object or an array at the top, as json_loadb(buf, len, 0, ...) takes) parsed
 * into a Jansson tree, faster: the worker parses every source document it fetches, and
 * Jansson's reader, which takes the text a byte at a time through a stream, was a tenth of a
 * worker's CPU. It accepts exactly what json_loadb() with no flags accepts (strict RFC 8259,
 * UTF-8, no \u0000, integers that fit json_int_t, at most 2048 levels, nothing after the value
 * but white space; and, as Jansson, one NUL byte right after a number or a literal is
 * skipped) and builds the same tree (a repeated key keeps its first place and takes
 * the last value). Returns a new reference, or NULL for a text json_loadb() refuses or out of
 * memory. tests/unit/test_jread.c compares the two readers. */
struct json_t *jread_parse(const char *buf, size_t len);

/* jread_parse() with JREAD_REJECT_DUPLICATES: an object with a repeated key is refused, as
 * json_loadb(..., JSON_REJECT_DUPLICATES, ...) refuses it. */
#define JREAD_REJECT_DUPLICATES 1u
struct json_t *jread_parse_flags(const char *buf, size_t len, unsigned flags);

/* Jansson's allocations in arenas. A delivery builds three trees (the source document, the
 * title, the target's document) of a few hundred small blocks each and frees them all soon
 * after: allocated from an arena, a block costs a pointer bump and its free nothing, and the
 * arena goes at once (malloc and free were a fifth of a worker's instructions).
 *
 * jread_alloc_install() makes Jansson allocate through jread (first thing in main). Outside an
 * arena scope blocks come from malloc as before (json_dumps' text is freed with free()); between
 * jread_arena_enter(a) and jread_arena_leave() they come from a. Every value made in a scope must
 * be released before jread_arena_free(a), and nothing that outlives a may hold one (so a scope
 * holds only work whose values all stay local: parse, normalize, render), and no text from
 * json_dumps() made in a scope may reach free() (fmt_dump leaves the scope for it). Without
 * jread_alloc_install() the arena calls do nothing. */
struct jread_arena;
void jread_alloc_install(void);
/* NULL out of memory (Jansson then allocates from malloc, as outside a scope). */
struct jread_arena *jread_arena_new(void);
void jread_arena_free(struct jread_arena *a);
/* Returns the arena that was current, for jread_arena_leave(). a may be NULL (none). */
struct jread_arena *jread_arena_enter(struct jread_arena *a);
void jread_arena_leave(struct jread_arena *prev);

#endif
