-- sync_beat: the lease holder renews its lease while it waits (a CMS retry), and counts a
-- failed page attempt. KEYS: none. ARGV: prefix, sync id, owner token, lease_ms, errors to add,
-- last error message ('' = keep). Returns 1, or 0 when the lease is no longer ours.
local P, id, me, lease = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local key = P .. ':sync:run:' .. id
local r = redis.call('HMGET', key, 'state', 'owner')
if r[1] ~= 'running' or r[2] ~= me then return 0 end
redis.call('HSET', key, 'lease_until', now + lease, 'updated_at', now)
local n = tonumber(ARGV[5]) or 0
if n > 0 then redis.call('HINCRBY', key, 'errors', n) end
if ARGV[6] ~= '' then redis.call('HSET', key, 'last_error', ARGV[6]) end
return 1
