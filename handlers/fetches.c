#include "handlers/fetches.h"

#include <stdlib.h>
#include <string.h>

#include "queue/srclimit.h"

/* One waiter of a shared request. */
struct fetch_wait {
    struct fetch *fetch;
    hclient_cb cb;
    void *arg;
    struct fetch_wait *next;
};

/* One request waiting for its slot or in flight, and the waiters it answers, in the order
 * they came. */
struct fetch {
    struct fetches *owner;
    char *key;
    struct hclient_request req; /* kept until the slot is granted; url owned */
    struct srclimit_slot *slot; /* waiting for it, then held while the request runs */
    struct hclient_call *call;
    struct fetch_wait *waiters, **tail;
    int answering; /* on_done is calling the waiters back: x is no longer in the table */
    struct fetch *prev, *next;
};

struct fetches {
    struct hclient *hc;
    struct srclimit *sl;
    int first;              /* fetches_first */
    struct fetch *inflight; /* few at a time (one per event being fetched): a list will do */
    size_t started, joined;
};

struct fetches *fetches_new(struct hclient *hc, struct srclimit *sl)
{
    struct fetches *f = calloc(1, sizeof(*f));
    if (f) {
        f->hc = hc;
        f->sl = sl;
    }
    return f;
}

void fetches_first(struct fetches *f)
{
    f->first = 1;
}

static void unlink_fetch(struct fetch *x)
{
    struct fetches *f = x->owner;
    if (x->prev)
        x->prev->next = x->next;
    else
        f->inflight = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
}

static void free_fetch(struct fetch *x)
{
    while (x->waiters) {
        struct fetch_wait *w = x->waiters;
        x->waiters = w->next;
        free(w);
    }
    free(x->key);
    free((char *)x->req.url);
    free(x);
}

/* Ends what x has out: the request, and the slot (released, or no longer waited for). */
static void stop_fetch(struct fetch *x)
{
    if (x->call)
        hclient_cancel(x->owner->hc, x->call);
    x->call = NULL;
    srclimit_drop(x->slot);
    x->slot = NULL;
}

void fetches_free(struct fetches *f)
{
    if (f == NULL)
        return;
    while (f->inflight) {
        struct fetch *x = f->inflight;
        unlink_fetch(x);
        stop_fetch(x);
        free_fetch(x);
    }
    free(f);
}

static void on_done(const struct hclient_response *res, void *arg)
{
    struct fetch *x = arg;
    /* Out of the table first: a waiter's callback may start its next fetch, even under the
     * same key (a linked document), and that must be a new request. */
    unlink_fetch(x);
    x->call = NULL;
    srclimit_drop(x->slot); /* the CMS is done with it: the next request may go */
    x->slot = NULL;
    x->answering = 1;
    while (x->waiters) {
        struct fetch_wait *w = x->waiters;
        x->waiters = w->next;
        if (x->waiters == NULL)
            x->tail = &x->waiters;
        w->cb(res, w->arg);
        free(w);
    }
    free_fetch(x);
}

static int start(struct fetch *x)
{
    x->call = hclient_start(x->owner->hc, &x->req, on_done, x);
    return x->call ? 0 : -1;
}

/* The slot came (start the request), or the wait for it ran out (slot NULL). */
static void on_slot(struct srclimit_slot *slot, void *arg)
{
    struct fetch *x = arg;
    x->slot = slot;
    if (slot && start(x) == 0)
        return;
    struct hclient_response res = {
        .error = slot ? HCLIENT_TRANSPORT : FETCHES_NOT_STARTED,
        .error_text = slot ? "could not start the request"
                           : "the source's request limits kept it waiting too long",
        .body = ""};
    on_done(&res, x);
}

static struct fetch *find(const struct fetches *f, const char *key)
{
    for (struct fetch *x = f->inflight; x; x = x->next)
        if (strcmp(x->key, key) == 0)
            return x;
    return NULL;
}

struct fetch_wait *fetches_get(struct fetches *f, const struct source *src, int64_t wait_ms,
                               const char *key, const struct hclient_request *req, hclient_cb cb,
                               void *arg)
{
    struct fetch_wait *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->cb = cb;
    w->arg = arg;
    struct fetch *x = find(f, key);
    if (x) {
        f->joined++;
    } else {
        x = calloc(1, sizeof(*x));
        if (x == NULL || (x->key = strdup(key)) == NULL) {
            free(x);
            free(w);
            return NULL;
        }
        x->owner = f;
        x->tail = &x->waiters;
        x->req = *req;
        x->req.url = strdup(req->url);
        if (x->req.url == NULL)
            goto fail;
        if (f->sl) {
            x->slot = srclimit_acquire(f->sl, src, wait_ms, f->first, on_slot, x);
            if (x->slot == NULL)
                goto fail;
        } else if (start(x) != 0) {
            goto fail;
        }
        x->next = f->inflight;
        if (f->inflight)
            f->inflight->prev = x;
        f->inflight = x;
        f->started++;
    }
    w->fetch = x;
    *x->tail = w;
    x->tail = &w->next;
    return w;
fail:
    free_fetch(x);
    free(w);
    return NULL;
}

void fetches_cancel(struct fetches *f, struct fetch_wait *w)
{
    if (w == NULL)
        return;
    struct fetch *x = w->fetch;
    struct fetch_wait **p = &x->waiters;
    while (*p && *p != w)
        p = &(*p)->next;
    if (*p == NULL)
        return;
    *p = w->next;
    if (x->tail == &w->next)
        x->tail = p;
    free(w);
    if (x->waiters == NULL && !x->answering) {
        unlink_fetch(x);
        stop_fetch(x);
        free_fetch(x);
    }
}

void fetches_counts(const struct fetches *f, size_t *started, size_t *joined)
{
    *started = f->started;
    *joined = f->joined;
}
