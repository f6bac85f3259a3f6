#include "handlers/fmt.h"

#include <stdio.h>

#include <jansson.h>

json_t *fmt_render(const struct target *t, const json_t *title, int unpublish, char *err,
                   size_t errlen)
{
    if (t == NULL) {
        snprintf(err, errlen, "no target");
        return NULL;
    }
    switch (t->format) {
    case FORMAT_CANONICAL:
        return fmt_canonical_render(t, title, unpublish, err, errlen);
    case FORMAT_GWI_JSON_1_1:
        return fmt_gwi_render(t, title, unpublish, err, errlen);
    case FORMAT_TITANOS:
        return fmt_titanos_render(t, title, unpublish, err, errlen);
    }
    snprintf(err, errlen, "unknown format");
    return NULL;
}
