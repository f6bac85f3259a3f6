-- Adds one relay process's ingest tallies (a second's worth, batched) to the per-source
-- registration view that GET /admin/sources and `relayctl sources` read.
-- ARGV: prefix, hour (unix ms / 3600000), then per source: name, last_received_ms,
-- last_ping_ms, last_rejection_ms, last_rejection_code (empty strings when none in this
-- batch), n, then n field/count pairs ("accepted", "rej:<code>") for the hour's bucket.
-- Keys: P:src:<name> (hash: last_* fields, newest wins across processes) and
-- P:src:<name>:<hour> (hash of counts, expires after 25 hours).
local prefix, hour = ARGV[1], ARGV[2]
local i = 3
while i <= #ARGV do
  local name = ARGV[i]
  local key = prefix .. ':src:' .. name
  local function newer(field, v)
    if v == '' then
      return false
    end
    local cur = tonumber(redis.call('HGET', key, field) or '0') or 0
    if tonumber(v) > cur then
      redis.call('HSET', key, field, v)
      return true
    end
    return false
  end
  newer('last_received_at', ARGV[i + 1])
  newer('last_ping_at', ARGV[i + 2])
  if newer('last_rejection_at', ARGV[i + 3]) then
    redis.call('HSET', key, 'last_rejection_code', ARGV[i + 4])
  end
  local n = tonumber(ARGV[i + 5])
  local bucket = key .. ':' .. hour
  for k = 0, n - 1 do
    redis.call('HINCRBY', bucket, ARGV[i + 6 + 2 * k], ARGV[i + 7 + 2 * k])
  end
  if n > 0 then
    redis.call('EXPIRE', bucket, 90000)
  end
  i = i + 6 + 2 * n
end
return 1
