-- sync_beat: the lease holder renews its lease while it waits (a CMS retry, a slow page), and
-- counts a failed page attempt. A run an operator asked to cancel ends 'cancelled' here.
-- KEYS: none. ARGV: prefix, sync id, owner token, lease_ms, errors to add, last error message
-- ('' = keep), retention_s. Returns 1, 0 when the lease is no longer ours, or 2 when the run
-- was cancelled (ended now: the caller stops listing).
--#include sync_lib
local P, id, me, lease = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = now_ms()
local key = P .. ':sync:run:' .. id
local r = redis.call('HMGET', key, 'state', 'owner', 'source', 'cancel_requested_at')
if r[1] ~= 'running' or r[2] ~= me then return 0 end
local n = tonumber(ARGV[5]) or 0
if n > 0 then redis.call('HINCRBY', key, 'errors', n) end
if ARGV[6] ~= '' then redis.call('HSET', key, 'last_error', ARGV[6]) end
if (r[4] or '') ~= '' then
  sync_end_cancelled(P, id, r[3] or '', now, tonumber(ARGV[7]))
  return 2
end
redis.call('HSET', key, 'lease_until', now + lease, 'updated_at', now)
return 1
