-- srclimit: the request limits of one source CMS, shared by every worker (docs/redis.md,
-- "Source limits"). KEYS: none. ARGV: prefix, source, max_in_flight, rate_per_s (0 = none),
-- lease_ms, nrel, then nrel tokens whose requests ended (released), then the tokens asking
-- for a slot, oldest first. A slot is a member of P:srclimit:{source} scored with its
-- expiry: a worker that dies holding slots cannot leak them, they lapse after lease_ms.
-- Returns {granted, retry_ms}: the first `granted` asking tokens hold a slot now; the others
-- ask again after retry_ms (the rate window's end), or, when only the slots are taken, on
-- the caller's poll (0): a slot another worker frees is not announced.
local P, src = ARGV[1], ARGV[2]
local max, rate, lease = tonumber(ARGV[3]), tonumber(ARGV[4]) or 0, tonumber(ARGV[5])
local nrel = tonumber(ARGV[6])
local now = now_ms()
local key = P .. ':srclimit:' .. src
if nrel > 0 then redis.call('ZREM', key, unpack(ARGV, 7, 6 + nrel)) end
local first = 7 + nrel
local want = #ARGV - first + 1
if want <= 0 then return {0, 0} end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
local n = math.max(0, math.min(want, max - redis.call('ZCARD', key)))
local retry = 0
if rate > 0 and n > 0 then
  -- windows of about 100 ms (longer for rates below 10/s) holding `limit` starts each, so a
  -- second never sees much more than rate_per_s, even across a window's edge
  local limit = math.max(1, math.floor(rate / 10))
  local window = math.ceil(1000 * limit / rate)
  local w = math.floor(now / window)
  local rkey = key .. ':rate:' .. w
  local used = tonumber(redis.call('GET', rkey) or '0')
  if used + n > limit then
    n = math.max(0, limit - used)
    retry = (w + 1) * window - now
  end
  if n > 0 then
    redis.call('INCRBY', rkey, n)
    redis.call('PEXPIRE', rkey, window * 2)
  end
end
if n > 0 then
  local args = {}
  for i = first, first + n - 1 do
    table.insert(args, now + lease)
    table.insert(args, ARGV[i])
  end
  redis.call('ZADD', key, unpack(args))
  redis.call('PEXPIRE', key, lease + 1000)
end
return {n, retry}
