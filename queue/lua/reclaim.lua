-- reclaim: housekeeping every worker runs every second (docs/redis.md, step 5).
-- 1. Leases past their expiry go back to their target's due queue at now: the worker holding
--    them died or hung. One marked superseded_by while in flight ends superseded instead.
-- 2. P:failed entries older than retention_s are trimmed, with their records and the
--    per-target `failed` counts (failed records are kept a grace period past retention_s by
--    complete.lua so that their target is still known here).
-- KEYS: none. ARGV: prefix, max ids per part, retention_s.
-- Returns {put back, ended superseded, failed trimmed}.
local P, limit, retention = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local C = counters()

local ids = redis.call('ZRANGEBYSCORE', P .. ':lease', '-inf', now, 'LIMIT', 0, limit)
local back, superseded = 0, 0
for _, id in ipairs(ids) do
  redis.call('ZREM', P .. ':lease', id)
  local key = P .. ':d:' .. id
  local r = redis.call('HMGET', key, 'status', 'target', 'superseded_by', 'source', 'content_id')
  if r[1] == 'pending' or r[1] == 'retrying' then
    if r[3] and r[3] ~= '' then
      supersede(C, P, id, {target = r[2], source = r[4], content_id = r[5], status = r[1],
                           superseded_by = r[3]}, nil, now, retention)
      superseded = superseded + 1
    else
      redis.call('HSET', key, 'lease', '', 'updated_at', now)
      redis.call('ZADD', P .. ':due:' .. r[2], now, id)
      back = back + 1
    end
  end
end

local trimmed = 0
if retention then
  local old = redis.call('ZRANGEBYSCORE', P .. ':failed', '-inf', now - retention * 1000,
                         'LIMIT', 0, limit)
  for _, id in ipairs(old) do
    local key = P .. ':d:' .. id
    local r = redis.call('HMGET', key, 'status', 'target')
    if r[1] == 'failed' and r[2] then
      stat_move(C, P, r[2], 'failed', nil)
      redis.call('DEL', key, key .. ':attempts')
    end
    trimmed = trimmed + 1
  end
  if #old > 0 then redis.call('ZREM', P .. ':failed', unpack(old)) end
end
C.flush()
return {back, superseded, trimmed}
