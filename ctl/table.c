#include "ctl/table.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct table {
    int ncols;
    const char *const *heads;
    const char *align;
    char **cells; /* nrows * ncols, row-major */
    size_t nrows, cap;
    int oom;
};

struct table *table_new(int ncols, const char *const *heads, const char *align)
{
    if (ncols <= 0)
        return NULL;
    struct table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->ncols = ncols;
    t->heads = heads;
    t->align = align;
    return t;
}

char *table_clean(const char *s)
{
    char *out = strdup(s ? s : "");
    if (out == NULL)
        return NULL;
    for (unsigned char *p = (unsigned char *)out; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
    return out;
}

size_t table_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

void table_row(struct table *t, ...)
{
    va_list ap;
    if (t == NULL || t->oom)
        return;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, sizeof(*c) * cap * (size_t)t->ncols);
        if (c == NULL) {
            t->oom = 1;
            return;
        }
        t->cells = c;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * (size_t)t->ncols;
    va_start(ap, t);
    for (int i = 0; i < t->ncols; i++) {
        row[i] = table_clean(va_arg(ap, const char *));
        if (row[i] == NULL)
            t->oom = 1;
    }
    va_end(ap);
    if (t->oom) {
        for (int i = 0; i < t->ncols; i++)
            free(row[i]);
        return;
    }
    t->nrows++;
}

static void print_cell(FILE *out, const char *s, size_t w, char align, int last)
{
    size_t pad = w - table_width(s);
    if (align == 'r')
        fprintf(out, "%*s%s", (int)pad, "", s);
    else if (last)
        fputs(s, out);
    else
        fprintf(out, "%s%*s", s, (int)pad, "");
    fputs(last ? "\n" : "  ", out);
}

int table_print(const struct table *t, FILE *out)
{
    if (t == NULL || t->oom)
        return -1;
    size_t nc = (size_t)t->ncols;
    size_t *w = calloc(nc, sizeof(*w));
    if (w == NULL)
        return -1;
    for (size_t c = 0; c < nc; c++) {
        w[c] = table_width(t->heads[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t x = table_width(t->cells[r * nc + c]);
            if (x > w[c])
                w[c] = x;
        }
    }
    for (size_t c = 0; c < nc; c++)
        print_cell(out, t->heads[c], w[c], t->align[c], c == nc - 1);
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < nc; c++)
            print_cell(out, t->cells[r * nc + c], w[c], t->align[c], c == nc - 1);
    free(w);
    return 0;
}

void table_free(struct table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}
