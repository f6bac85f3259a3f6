#ifndef RELAY_TABLE_H
#define RELAY_TABLE_H

#include <stddef.h>
#include <stdio.h>

/* relayctl's human output: a table of text cells printed with aligned columns, header row
 * first, two spaces between columns, the last column not padded. Cells are copied and made
 * safe for a terminal (control bytes, such as escape sequences from a partner's response,
 * become '?'); widths count UTF-8 code points. */

struct table;

/* A table of ncols columns; heads and align (per column 'l' or 'r') must outlive it. NULL when
 * out of memory. Free with table_free(). */
struct table *table_new(int ncols, const char *const *heads, const char *align);
/* Adds a row of exactly ncols strings (NULL prints as empty). An allocation failure is
 * remembered and reported by table_print(). */
void table_row(struct table *t, ...);
/* Prints the table to out. Returns 0, or -1 when a row could not be stored (nothing printed). */
int table_print(const struct table *t, FILE *out);
void table_free(struct table *t);

/* A copy of s (NULL = "") with control bytes replaced by '?'. Caller frees; NULL when out of
 * memory. */
char *table_clean(const char *s);
/* Columns s takes on a terminal: one per UTF-8 code point. */
size_t table_width(const char *s);

#endif
