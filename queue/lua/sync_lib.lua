-- sync_lib: ending a sync run (docs/redis.md, Sync), shared by sync_finish.lua and by the
-- scripts that end a cancelled run (sync_cancel, sync_claim, sync_beat, sync_page). Not run on
-- its own: a script that needs it has a line "--#include sync_lib" (queue/embed_lua.cmake).

-- Ends run id of source src in state st ('done', 'failed' or 'cancelled'): the final fields
-- (the counts and checkpoint stay, so the record says how far the run got), the lease, the
-- source's lock and the active set released, the run's working sets dropped, the record kept
-- retention_s, and the metrics.
local function sync_end(P, id, src, st, code, msg, removed, now, retention)
  local key = P .. ':sync:run:' .. id
  redis.call('HSET', key, 'state', st, 'finished_at', now, 'updated_at', now, 'removed', removed,
             'error_code', code, 'error_message', msg, 'owner', '', 'lease_until', 0)
  local lock = P .. ':sync:lock:' .. src
  if redis.call('GET', lock) == id then redis.call('DEL', lock) end
  redis.call('SREM', P .. ':sync:active', id)
  redis.call('DEL', key .. ':seen', key .. ':todo')
  redis.call('EXPIRE', key, tonumber(retention) or 86400)
  local m = P .. ':metrics'
  redis.call('HINCRBY', m, 'sync_runs_total|' .. src .. '|' .. st, 1)
  if st == 'done' then
    redis.call('HSET', m, 'sync_last_success_timestamp_seconds|' .. src, math.floor(now / 1000))
  end
end

-- A running run an operator asked to cancel (sync_cancel.lua set cancel_requested_at) ends
-- 'cancelled': nothing removed, whatever it already queued stays queued.
local function sync_end_cancelled(P, id, src, now, retention)
  sync_end(P, id, src, 'cancelled', '', '', 0, now, retention)
end
