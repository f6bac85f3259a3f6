/* The operators' GET /admin/feeds and GET /admin/catalog/{target}. */
#include "relay/feeds_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "queue/lua.h"
#include "queue/rconn.h"
#include "relay/http.h"

/* One admin request waiting for Redis. */
struct areq {
    struct http_req *req;
    const struct config *cfg;
    int list;
};

static void on_admin(struct redisReply *reply, void *arg)
{
    struct areq *a = arg;
    struct http_req *req = a->req;
    const struct config *cfg = a->cfg;
    int list = a->list;
    free(a);
    if (reply == NULL) {
        http_add_header(req, "Retry-After", "1");
        http_reply_error(req, 503, "queue_unavailable", "redis is not reachable");
        return;
    }
    json_t *doc = list ? catalog_list_json(reply) : catalog_info_json(cfg, reply);
    if (doc == NULL) {
        LOG_ERROR("admin catalog: unexpected reply", "error",
                  catalog_feed_reply_error(reply) ? catalog_feed_reply_error(reply) : "shape",
                  NULL);
        http_reply_error(req, 500, "internal", "could not read the catalog");
        return;
    }
    http_reply_json(req, 200, doc);
}

/* Runs script for an admin request; answers 503 when Redis cannot take it. */
static void admin_run(struct feeds *f, struct http_req *req, int list, const char *script, int argc,
                      const char **argv)
{
    struct areq *a = malloc(sizeof(*a));
    if (a == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    *a = (struct areq){req, f->cfg, list};
    if (rconn_script(f->rc, script, on_admin, a, 0, argc, argv, NULL) != 0) {
        free(a);
        http_add_header(req, "Retry-After", "1");
        http_reply_error(req, 503, "queue_unavailable", "redis is not reachable");
    }
}

static void admin_catalog(struct feeds *f, struct http_req *req, const char *name)
{
    char vals[4][128];
    static const char *const params[] = {"status", "source", "limit", "cursor"};
    static const char *const allowed[] = {"status", "source", "limit", "cursor", NULL};
    for (size_t i = 0; i < 4; i++)
        if (http_query_param(req, params[i], vals[i], sizeof(vals[i])) < 0)
            vals[i][0] = '\0';
    /* unknown parameters are refused, as everywhere in the admin API */
    for (const char *p = http_query(req); p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq ? (size_t)(eq - p) : len;
        int ok = nlen == 0;
        for (size_t i = 0; allowed[i]; i++)
            ok |= strlen(allowed[i]) == nlen && strncmp(allowed[i], p, nlen) == 0;
        if (!ok) {
            http_reply_error(req, 400, "invalid_parameter",
                             "unknown parameter (allowed: status, source, limit, cursor)");
            return;
        }
        p = amp ? amp + 1 : NULL;
    }
    struct catalog_list_params lp = {name, vals[0], vals[1], vals[2], vals[3]};
    char buf[2][24], msg[128];
    const char *argv[CATALOG_LIST_ARGC], *code;
    int status;
    if (catalog_list_args(f->cfg, &lp, buf, argv, &status, &code, msg, sizeof(msg)) != 0) {
        http_reply_error(req, status, code, msg);
        return;
    }
    admin_run(f, req, 1, lua_catalog_list, CATALOG_LIST_ARGC, argv);
}

int feeds_admin_handle(struct feeds *f, struct http_req *req)
{
    static const char cprefix[] = "/admin/catalog/";
    const char *path = http_path(req);
    int info = strcmp(path, "/admin/feeds") == 0;
    int list = strncmp(path, cprefix, sizeof(cprefix) - 1) == 0;

    if (!info && !list)
        return 0;
    if (strcmp(http_method(req), "GET") != 0 && strcmp(http_method(req), "HEAD") != 0) {
        http_add_header(req, "Allow", "GET");
        http_reply_error(req, 405, "method_not_allowed", "use GET");
        return 1;
    }
    if (list) {
        const char *name = path + sizeof(cprefix) - 1;
        if (*name == '\0' || strchr(name, '/') != NULL) {
            http_reply_error(req, 404, "not_found", "no such endpoint");
            return 1;
        }
        admin_catalog(f, req, name);
        return 1;
    }
    const char **argv = calloc(f->cfg->n_targets + 1, sizeof(*argv));
    if (argv == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        return 1;
    }
    int argc = catalog_info_args(f->cfg, argv);
    admin_run(f, req, 0, lua_catalog_info, argc, argv);
    free(argv);
    return 1;
}
