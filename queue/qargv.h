#ifndef RELAY_QARGV_H
#define RELAY_QARGV_H

#include <stddef.h>

/* The argument vector of one Redis command or script call, as hiredis takes it (argv and
 * argvlen side by side), growing as arguments are appended. Internal to queue/: the command
 * builders (queue/delivery, queue/ops) embed one. It never owns the strings: each builder
 * decides whether they are borrowed or its own copies. A zeroed struct is empty. */
struct qargv {
    const char **argv;
    size_t *argvlen;
    int argc, cap;
};

/* Appends s[0..len) (borrowed). Returns 0, or -1 when the arrays could not grow (nothing is
 * appended then). */
int qargv_push(struct qargv *a, const char *s, size_t len) __attribute__((warn_unused_result));
/* Frees the arrays (not the strings) and empties a. */
void qargv_free(struct qargv *a);

#endif
