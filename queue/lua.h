#ifndef RELAY_LUA_H
#define RELAY_LUA_H

/* Lua scripts embedded from queue/lua/NAME.lua by queue/embed_lua.cmake, each with
 * queue/lua/prelude.lua in front. Declare each one used here so callers refer to them by
 * name. */
extern const char lua_enqueue[];
extern const char lua_fanout[];
extern const char lua_claim[];
extern const char lua_complete[];
extern const char lua_reclaim[];
extern const char lua_stats[];
/* operator operations (queue/ops) */
extern const char lua_ops_list[];
extern const char lua_ops_show[];
extern const char lua_ops_redeliver[];
extern const char lua_ops_target[];
extern const char lua_ops_targets[];
/* the sources' registration view (queue/sources) */
extern const char lua_sources_note[];
extern const char lua_sources_read[];
/* catalog and pull feeds (queue/catalog) */
extern const char lua_catalog_load[];
extern const char lua_catalog_page[];
extern const char lua_catalog_list[];
extern const char lua_catalog_info[];
extern const char lua_catalog_key[];
extern const char lua_catalog_doc[];
extern const char lua_catalog_migrate[];
/* catalog sync (queue/sync) */
extern const char lua_sync_start[];
extern const char lua_sync_claim[];
extern const char lua_sync_beat[];
extern const char lua_sync_page[];
extern const char lua_sync_finish[];
extern const char lua_sync_release[];
extern const char lua_sync_records[];
extern const char lua_sync_cancel[];
extern const char lua_sync_peek[];
/* CMS request limits per source (queue/srclimit) */
extern const char lua_srclimit[];

/* The EVALSHA digest (40 hex digits) of an embedded script, computed at build time, or NULL
 * when script is not one of the lua_* strings. */
const char *lua_sha(const char *script);

#endif
