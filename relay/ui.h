#ifndef RELAY_UI_H
#define RELAY_UI_H

/* The operator dashboard, GET /admin/ui: one self-contained HTML page (relay/ui/index.html,
 * embedded at build time). It holds no data, so it is served without the admin token; the
 * page asks the operator for the token and sends it on every admin API call it makes. */

struct http_req;

/* Answers req (path /admin/ui or /admin/ui/): the page for GET and HEAD, 405 otherwise. */
void ui_handle(struct http_req *req);

#endif
