#include "queue/qargv.h"

#include <stdlib.h>

int qargv_push(struct qargv *a, const char *s, size_t len)
{
    if (a->argc == a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        const char **av = realloc(a->argv, sizeof(*av) * (size_t)cap);
        if (av == NULL)
            return -1;
        a->argv = av;
        size_t *al = realloc(a->argvlen, sizeof(*al) * (size_t)cap);
        if (al == NULL)
            return -1;
        a->argvlen = al;
        a->cap = cap;
    }
    a->argv[a->argc] = s;
    a->argvlen[a->argc] = len;
    a->argc++;
    return 0;
}

void qargv_free(struct qargv *a)
{
    free(a->argv);
    free(a->argvlen);
    a->argv = NULL;
    a->argvlen = NULL;
    a->argc = a->cap = 0;
}
