-- reclaim: leases past their expiry go back to their target's due queue at now
-- (docs/redis.md, step 5): the worker holding them died or hung.
-- KEYS: none. ARGV: prefix, max ids. Returns the number of deliveries put back.
local P, limit = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', P .. ':lease', '-inf', now, 'LIMIT', 0, limit)
local back = 0
for _, id in ipairs(ids) do
  redis.call('ZREM', P .. ':lease', id)
  local key = P .. ':d:' .. id
  local r = redis.call('HMGET', key, 'status', 'target', 'superseded_by', 'source', 'content_id')
  if r[1] == 'pending' or r[1] == 'retrying' then
    if r[3] and r[3] ~= '' then
      redis.call('HSET', key, 'status', 'superseded', 'lease', '', 'next_retry_at', '',
                 'updated_at', now)
      local tkey = P .. ':title:' .. r[2] .. ':' .. r[4] .. ':' .. r[5]
      if redis.call('HGET', tkey, 'live') == id then redis.call('HSET', tkey, 'live', '') end
      redis.call('HINCRBY', P .. ':stats:' .. r[2], r[1], -1)
      redis.call('HINCRBY', P .. ':stats:' .. r[2], 'superseded', 1)
      redis.call('HINCRBY', P .. ':metrics', 'deliveries_total|' .. r[2] .. '|superseded', 1)
    else
      redis.call('HSET', key, 'lease', '', 'updated_at', now)
      redis.call('ZADD', P .. ':due:' .. r[2], now, id)
      back = back + 1
    end
  end
end
return back
