#ifndef RELAY_ADDR_H
#define RELAY_ADDR_H

#include <stddef.h>

/* Splits the n bytes at s, "host:port" or "[v6]:port", into a malloc'd host (caller frees) and
 * a port; with def_port > 0 the port may be left out. Returns 0, or -1 with why set to a
 * static description of the problem (it never quotes s). */
int addr_parse(const char *s, size_t n, int def_port, char **host, int *port, const char **why);

#endif
